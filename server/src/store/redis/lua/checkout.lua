local viewer = a.viewer
local show_raw = redis.call('GET', k.show)
local show_status = show_raw and decode(show_raw, 'a show').status
-- SalesChannel::of: a cancelled show sells nothing; an ended one sells from its replay.
if show_status == 'cancelled' then
  return {'refused', 'show_cancelled', 'this show was cancelled'}
end
local channel = 'live'
if show_status == 'ended' then channel = 'replay' end
local raw = redis.call('HGETALL', k.cart)
local ids, lines = {}, {}
for i = 1, #raw, 2 do
  local line = decode(raw[i + 1], 'a cart line')
  if type(line.quantity) ~= 'number' then corrupt('a cart line has no quantity') end
  ids[#ids + 1] = raw[i]
  lines[raw[i]] = line
end
-- A BTreeMap<ProductId, _> iterates in the uuids' byte order, which is their text's.
table.sort(ids, before)

-- What cart_fingerprint digests: product, quantity, deal end to the millisecond.
local parts = {}
for i, id in ipairs(ids) do
  local ends = 'None'
  if present(lines[id].deal_ends_at) then ends = string.sub(tkey(lines[id].deal_ends_at), 1, 17) end
  parts[i] = id .. ':' .. int(lines[id].quantity) .. ':' .. ends .. ';'
end
local fingerprint = redis.sha1hex(table.concat(parts))

local used = redis.call('HGET', k.idempotency, a.idempotency_field)
if used then
  local u = decode(used, 'an idempotency record')
  if (#ids > 0 and u.cart ~= fingerprint) or u.body ~= a.body then return {'key_reused'} end
  local order = redis.call('HGET', k.orders, u.order)
  if not order then return {'key_reused'} end
  return {'replayed', order}
end

local slot = {}
for i = 1, tonumber(a.declared) do
  slot[ARGV[#arg_names + i]] = {record = KEYS[#key_names + 2 * i - 1], buyers = KEYS[#key_names + 2 * i]}
end
for _, id in ipairs(ids) do
  if not slot[id] then return {'retry', unpack(ids)} end
end

local function refuse(code, message) return {'refused', code, message} end

local products = {}
for _, id in ipairs(ids) do
  local rec = redis.call('GET', slot[id].record)
  local p = rec and decode(rec, 'a product')
  if not p or p.creator_id ~= a.creator_id then
    return refuse('product_not_found', 'product ' .. id .. ' is not sold in this show')
  end
  p.stock = tonumber(redis.call('HGET', k.stock, id))
  if not p.stock then corrupt('product ' .. id .. ' has no stock entry') end
  products[id] = p
end
if #ids == 0 then return refuse('empty_cart', 'the cart is empty') end

local pins = read_pins(k.pins)
local now = tkey(a.now)
local currency = products[ids[1]].price.currency
local exact = 9007199254740991
local total, items = 0, {}
for i, id in ipairs(ids) do
  local line, p = lines[id], products[id]
  local pin = nil
  for _, candidate in ipairs(pins) do
    if candidate.product_id == id then pin = candidate break end
  end
  local deal = nil
  if pin and present(pin.deal) then deal = pin.deal end
  local remaining = 0
  if pin then remaining = tonumber(redis.call('HGET', k.deal_remaining, id)) or 0 end
  local bought = tonumber(redis.call('HGET', slot[id].buyers, viewer)) or 0
  -- price_in_effect: Deal::is_open
  local open = deal ~= nil and not before(now, tkey(deal.starts_at))
    and before(now, tkey(deal.ends_at)) and remaining > 0
  local unit = p.price
  if open then unit = deal.price end
  if unit.currency ~= currency then
    return refuse('currency_mismatch', 'a cart holds products of one currency')
  end
  if present(line.deal_ends_at) and not open then
    if deal == nil or not before(now, tkey(deal.ends_at)) then
      return refuse('deal_ended', 'the deal on ' .. p.title .. ' has ended')
    end
    return refuse('sold_out', 'the deal on ' .. p.title .. ' is sold out')
  end
  if line.quantity > p.stock then return refuse('sold_out', p.title .. ' is sold out') end
  if open then
    if line.quantity > remaining then
      return refuse('sold_out', 'the deal on ' .. p.title .. ' is sold out')
    end
    if bought + line.quantity > deal.per_buyer_limit then
      return refuse('over_limit', 'the deal allows ' .. int(deal.per_buyer_limit) .. ' per buyer')
    end
  end
  local amount = unit.amount * line.quantity
  total = total + amount
  if math.abs(amount) > exact or math.abs(total) > exact then
    return refuse('invalid_quantity', 'the total is too large')
  end
  items[i] = {product_id = id, title = p.title, quantity = line.quantity, unit_price = unit,
    deal = open}
end

-- check_address_allowance: a client address shares `share` buyers' allowances of each deal.
local address, share = a.address, tonumber(a.address_buyers) or 0
if address == nil or share <= 0 then address = '' end
if address ~= '' then
  for _, it in ipairs(items) do
    if it.deal then
      local limit = nil
      for _, candidate in ipairs(pins) do
        if candidate.product_id == it.product_id and present(candidate.deal) then
          limit = candidate.deal.per_buyer_limit
        end
      end
      local had = tonumber(redis.call('HGET', slot[it.product_id].buyers, address)) or 0
      if limit and had + it.quantity > limit * share then
        return refuse('over_limit', 'the deal allows ' .. int(limit)
          .. ' per buyer, and buyers from one address share ' .. int(limit * share))
      end
    end
  end
end

if redis.call('EXISTS', k.reservations_indexed) == 0 then
  if a.indexed ~= '1' then return {'unindexed'} end
  redis.call('SET', k.reservations_indexed, '1')
end
for _, it in ipairs(items) do
  redis.call('HINCRBY', k.stock, it.product_id, int(-it.quantity))
  if it.deal then
    redis.call('HINCRBY', k.deal_remaining, it.product_id, int(-it.quantity))
    redis.call('HINCRBY', slot[it.product_id].buyers, viewer, int(it.quantity))
    if address ~= '' then
      redis.call('HINCRBY', slot[it.product_id].buyers, address, int(it.quantity))
    end
  end
end
local json = order_json({id = a.order_id, show_id = a.show_id, viewer_id = viewer,
  buyer_name = a.buyer_name, status = 'pending_payment', items = items,
  total = {amount = total, currency = currency}, created_at = a.now,
  reserved_until = a.reserved_until, buyer_address = address,
  email = a.email ~= '' and a.email or nil,
  shipping = a.shipping ~= '' and decode(a.shipping, 'the shipping address') or nil,
  channel = channel})
redis.call('HSET', k.orders, a.order_id, json)
redis.call('ZADD', k.order_ids, int(redis.call('ZCARD', k.order_ids) + 1), a.order_id)
redis.call('RPUSH', k.viewer_orders, a.order_id)
redis.call('HSET', k.idempotency, a.idempotency_field,
  cjson.encode({order = a.order_id, cart = fingerprint, body = a.body}))
redis.call('ZADD', k.reservations, a.reserved_until_ms, a.order_id)
redis.call('DEL', k.cart)
append_event(k.outbox, k.outbox_ids, a.event_id, 'order.created', a.now, json)
return {'created', json}
