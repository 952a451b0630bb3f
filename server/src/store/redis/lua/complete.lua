local raw = redis.call('HGET', k.orders, a.order_id)
if not raw then return {'none'} end
local o = decode(raw, 'an order')
if o.status ~= 'pending_payment' then return {'order', raw} end
local buyers = declared(tonumber(a.declared), #arg_names, #key_names)
if not covers(buyers, o) then return {'retry'} end
local kind
if a.outcome == 'paid' then
  o.status = 'paid'
  o.paid_at = a.at
  kind = 'order.paid'
else
  release(o, k.stock, k.pins, k.deal_remaining, buyers)
  o.status = 'failed'
  o.failure = a.failure
  kind = 'order.failed'
end
local json = order_json(o)
redis.call('HSET', k.orders, a.order_id, json)
redis.call('ZREM', k.reservations, a.order_id)
append_event(k.outbox, k.outbox_ids, a.event_id, kind, a.at, json)
return {'order', json}
