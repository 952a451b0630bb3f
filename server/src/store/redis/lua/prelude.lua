local function corrupt(what) error({err = 'CORRUPT ' .. what}) end

local function decode(raw, what)
  local ok, v = pcall(cjson.decode, raw)
  if not ok or type(v) ~= 'table' then corrupt(what .. ' is not JSON') end
  return v
end

local function present(v) return v ~= nil and v ~= cjson.null end

-- Byte order whatever the server's locale (Lua compares strings with strcoll).
local function before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- chrono's RFC 3339 UTC ('2026-11-22T15:52:40.442510407Z', 0 to 9 decimals) as 23 digits
-- that sort like the instants they name.
local function tkey(s)
  if type(s) ~= 'string' then corrupt('a timestamp is not a string') end
  local y, mo, d, h, mi, se, frac = string.match(s,
    '^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)%.?(%d*)Z$')
  if not y or #frac > 9 then corrupt('timestamp ' .. s) end
  return y .. mo .. d .. h .. mi .. se .. frac .. string.rep('0', 9 - #frac)
end

-- An integer as digits (tostring and cjson write 10^14 as 1e+14).
local function int(n)
  if type(n) ~= 'number' then corrupt('expected a number') end
  return string.format('%d', n)
end

-- A JSON string as serde_json writes it (cjson also escapes '/').
local function str(s)
  if type(s) ~= 'string' then corrupt('expected a string') end
  return (string.gsub(cjson.encode(s), '\\/', '/'))
end

local function money(m)
  if type(m) ~= 'table' then corrupt('expected money') end
  return '{"amount":' .. int(m.amount) .. ',"currency":' .. str(m.currency) .. '}'
end

local function opt(v)
  if present(v) then return str(v) end
  return 'null'
end

-- The address key an order's deal units count under, kept with the order for its release;
-- `Order` has no such field, so serde reads past it and the API never shows it.
local function address_json(a)
  if type(a) ~= 'string' or a == '' then return '' end
  return ',"buyer_address":' .. str(a)
end

-- `,"name":"text"` for a present string, nothing for an absent one (serde's
-- skip_serializing_if = "Option::is_none").
local function opt_field(name, v)
  if present(v) then return ',"' .. name .. '":' .. str(v) end
  return ''
end

-- The order's shipping address, field for field as serde_json writes domain's Shipping.
local function shipping_json(s)
  if not present(s) then return '' end
  if type(s) ~= 'table' then corrupt('shipping is not an object') end
  return ',"shipping":{"name":' .. str(s.name) .. ',"line1":' .. str(s.line1)
    .. opt_field('line2', s.line2) .. ',"city":' .. str(s.city)
    .. ',"postal_code":' .. str(s.postal_code) .. ',"country":' .. str(s.country)
    .. opt_field('state', s.state) .. '}'
end

local function payment_json(p)
  if not present(p) then return '' end
  if type(p) ~= 'table' then corrupt('payment is not an object') end
  return ',"payment":{"provider":' .. str(p.provider) .. ',"intent_id":' .. str(p.intent_id) .. '}'
end

-- An order's sales channel; an order stored before channels existed is 'live' (serde's default).
local function channel_of(o)
  if present(o.channel) then return o.channel end
  return 'live'
end

-- An order, field for field as serde_json writes domain::commerce::Order.
local function order_json(o)
  local items = {}
  for i, l in ipairs(o.items) do
    items[i] = '{"product_id":' .. str(l.product_id) .. ',"title":' .. str(l.title)
      .. ',"quantity":' .. int(l.quantity) .. ',"unit_price":' .. money(l.unit_price)
      .. ',"deal":' .. (l.deal == true and 'true' or 'false') .. '}'
  end
  return '{"id":' .. str(o.id) .. ',"show_id":' .. str(o.show_id)
    .. ',"viewer_id":' .. str(o.viewer_id) .. ',"buyer_name":' .. str(o.buyer_name)
    .. ',"status":' .. str(o.status) .. ',"items":[' .. table.concat(items, ',') .. ']'
    .. ',"total":' .. money(o.total) .. ',"created_at":' .. str(o.created_at)
    .. ',"reserved_until":' .. str(o.reserved_until) .. ',"paid_at":' .. opt(o.paid_at)
    .. ',"failure":' .. opt(o.failure) .. opt_field('email', o.email)
    .. shipping_json(o.shipping) .. payment_json(o.payment) .. opt_field('refunded_at', o.refunded_at)
    .. ',"channel":' .. str(channel_of(o)) .. address_json(o.buyer_address) .. '}'
end

local function read_pins(key)
  local pins = {}
  for _, raw in ipairs(redis.call('LRANGE', key, 0, -1)) do
    pins[#pins + 1] = decode(raw, 'a pin')
  end
  return pins
end

-- {'ok', pin JSON, remaining, pin JSON, remaining, ...}
local function pin_states(pins_key, remaining_key)
  local out = {'ok'}
  for _, raw in ipairs(redis.call('LRANGE', pins_key, 0, -1)) do
    local p = decode(raw, 'a pin')
    out[#out + 1] = raw
    out[#out + 1] = redis.call('HGET', remaining_key, p.product_id) or '0'
  end
  return out
end

-- n product ids follow ARGV[args], and their deal-buyer keys follow KEYS[keys].
local function declared(n, args, keys)
  local map = {}
  for i = 1, n do map[ARGV[args + i]] = KEYS[keys + i] end
  return map
end

-- Whether every deal line's buyers key was declared.
local function covers(buyers, o)
  for _, l in ipairs(o.items) do
    if l.deal == true and not buyers[l.product_id] then return false end
  end
  return true
end

local function append_event(stream, ids, event_id, kind, at, json)
  local entry = redis.call('XADD', stream, '*', 'id', event_id, 'kind', kind, 'at', at,
    'order', json)
  redis.call('HSET', ids, event_id, entry)
end

-- Gives a pending order's stock back, and its deal units and buyer counts when the pinned
-- deal is the one they came from (it started no later than the order): State::release.
local function release(o, stock, pins_key, remaining, buyers)
  local pins = nil
  for _, l in ipairs(o.items) do
    if redis.call('HEXISTS', stock, l.product_id) == 1 then
      redis.call('HINCRBY', stock, l.product_id, int(l.quantity))
    end
    if l.deal == true then
      pins = pins or read_pins(pins_key)
      local created = tkey(o.created_at)
      local same = false
      for _, p in ipairs(pins) do
        if p.product_id == l.product_id and present(p.deal)
            and not before(created, tkey(p.deal.starts_at)) then
          same = true
          break
        end
      end
      if same then
        redis.call('HINCRBY', remaining, l.product_id, int(l.quantity))
        local key = buyers[l.product_id]
        for _, who in ipairs({o.viewer_id, o.buyer_address}) do
          if type(who) == 'string' and who ~= '' then
            local n = redis.call('HGET', key, who)
            if n then
              redis.call('HSET', key, who, int(math.max(tonumber(n) - l.quantity, 0)))
            end
          end
        end
      end
    end
  end
end
