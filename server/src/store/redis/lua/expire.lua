local now = tkey(ARGV[1])
local due, gone = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])) do
  local raw = redis.call('HGET', KEYS[1], id)
  if not raw then
    gone[#gone + 1] = id
  else
    local o = decode(raw, 'an order')
    if o.status ~= 'pending_payment' then
      gone[#gone + 1] = id
    elseif not before(now, tkey(o.reserved_until)) then
      due[#due + 1] = {order = o, seq = tonumber(redis.call('ZSCORE', KEYS[2], id)) or 0}
    end
  end
end
local events = tonumber(ARGV[4])
local buyers = declared(5 + events, 8)
if #due > events then return {'retry'} end
for _, d in ipairs(due) do
  if not covers(buyers, d.order) then return {'retry'} end
end
table.sort(due, function(a, b) return a.seq < b.seq end)
for _, id in ipairs(gone) do redis.call('ZREM', KEYS[3], id) end
local out = {'expired'}
for i, d in ipairs(due) do
  local o = d.order
  release(o, KEYS[4], KEYS[5], KEYS[6], buyers)
  o.status = 'expired'
  o.failure = ARGV[3]
  local json = order_json(o)
  redis.call('HSET', KEYS[1], o.id, json)
  redis.call('ZREM', KEYS[3], o.id)
  append_event(KEYS[7], KEYS[8], ARGV[4 + i], 'order.expired', ARGV[1], json)
  out[#out + 1] = json
end
return out
