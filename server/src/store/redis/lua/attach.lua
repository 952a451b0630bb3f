-- Attaches a payment (and the buyer's email and address) to a pending order; a settled order
-- stays as it is.
local raw = redis.call('HGET', k.orders, a.order_id)
if not raw then return {'none'} end
local o = decode(raw, 'an order')
if o.status ~= 'pending_payment' then return {'not_pending', raw} end
o.email = nil
if a.email ~= '' then o.email = a.email end
o.shipping = nil
if a.shipping ~= '' then o.shipping = decode(a.shipping, 'the shipping address') end
o.payment = decode(a.payment, 'the payment reference')
local json = order_json(o)
redis.call('HSET', k.orders, a.order_id, json)
return {'attached', json}
