local now = tkey(a.now)
local due, gone = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', k.reservations, '-inf', a.now_ms)) do
  local raw = redis.call('HGET', k.orders, id)
  if not raw then
    gone[#gone + 1] = id
  else
    local o = decode(raw, 'an order')
    if o.status ~= 'pending_payment' then
      gone[#gone + 1] = id
    elseif not before(now, tkey(o.reserved_until)) then
      due[#due + 1] = {order = o, seq = tonumber(redis.call('ZSCORE', k.order_ids, id)) or 0}
    end
  end
end
-- After the named arguments: the event ids, then the declared product ids.
local events = tonumber(a.events)
local buyers = declared(tonumber(a.declared), #arg_names + events, #key_names)
if #due > events then return {'retry'} end
for _, d in ipairs(due) do
  if not covers(buyers, d.order) then return {'retry'} end
end
table.sort(due, function(x, y) return x.seq < y.seq end)
for _, id in ipairs(gone) do redis.call('ZREM', k.reservations, id) end
local out = {'expired'}
for i, d in ipairs(due) do
  local o = d.order
  release(o, k.stock, k.pins, k.deal_remaining, buyers)
  o.status = 'expired'
  o.failure = a.failure
  local json = order_json(o)
  redis.call('HSET', k.orders, o.id, json)
  redis.call('ZREM', k.reservations, o.id)
  append_event(k.outbox, k.outbox_ids, ARGV[#arg_names + i], 'order.expired', a.now, json)
  out[#out + 1] = json
end
return out
