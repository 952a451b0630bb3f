if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {'not_in_lineup'} end
local current = redis.call('LRANGE', KEYS[2], 0, -1)
local kept = {}
for _, raw in ipairs(current) do
  if decode(raw, 'a pin').product_id ~= ARGV[1] then kept[#kept + 1] = raw end
end
if #kept >= tonumber(ARGV[4]) then
  local out = {'too_many_pins'}
  for _, raw in ipairs(current) do out[#out + 1] = raw end
  return out
end
kept[#kept + 1] = ARGV[2]
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], unpack(kept))
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('DEL', KEYS[4])
else
  redis.call('HSET', KEYS[3], ARGV[1], '0')
end
return pin_states(KEYS[2], KEYS[3])
