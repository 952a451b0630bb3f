if not redis.call('ZSCORE', k.lineup, a.product) then return {'not_in_lineup'} end
local current = redis.call('LRANGE', k.pins, 0, -1)
local kept = {}
for _, raw in ipairs(current) do
  if decode(raw, 'a pin').product_id ~= a.product then kept[#kept + 1] = raw end
end
if #kept >= tonumber(a.max_pins) then
  local out = {'too_many_pins'}
  for _, raw in ipairs(current) do out[#out + 1] = raw end
  return out
end
kept[#kept + 1] = a.pin
redis.call('DEL', k.pins)
redis.call('RPUSH', k.pins, unpack(kept))
if a.deal_quantity ~= '' then
  redis.call('HSET', k.deal_remaining, a.product, a.deal_quantity)
  redis.call('DEL', k.deal_buyers)
else
  redis.call('HSET', k.deal_remaining, a.product, '0')
end
return pin_states(k.pins, k.deal_remaining)
