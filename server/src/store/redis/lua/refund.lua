-- Refunds a paid order: its stock, deal units and buyer counts go back as a failure's would.
local raw = redis.call('HGET', k.orders, a.order_id)
if not raw then return {'none'} end
local o = decode(raw, 'an order')
if o.status ~= 'paid' then return {'refused', raw} end
local buyers = declared(tonumber(a.declared), #arg_names, #key_names)
if not covers(buyers, o) then return {'retry'} end
release(o, k.stock, k.pins, k.deal_remaining, buyers)
o.status = 'refunded'
o.refunded_at = a.at
local json = order_json(o)
redis.call('HSET', k.orders, a.order_id, json)
append_event(k.outbox, k.outbox_ids, a.event_id, 'order.refunded', a.at, json)
return {'order', json}
