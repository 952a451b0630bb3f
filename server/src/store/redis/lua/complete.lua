local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'none'} end
local o = decode(raw, 'an order')
if o.status ~= 'pending_payment' then return {'order', raw} end
local buyers = declared(6, 7)
if not covers(buyers, o) then return {'retry'} end
local kind
if ARGV[2] == 'paid' then
  o.status = 'paid'
  o.paid_at = ARGV[3]
  kind = 'order.paid'
else
  release(o, KEYS[3], KEYS[4], KEYS[5], buyers)
  o.status = 'failed'
  o.failure = ARGV[4]
  kind = 'order.failed'
end
local json = order_json(o)
redis.call('HSET', KEYS[1], ARGV[1], json)
redis.call('ZREM', KEYS[2], ARGV[1])
append_event(KEYS[6], KEYS[7], ARGV[5], kind, ARGV[3], json)
return {'order', json}
