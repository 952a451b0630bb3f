local kept, found = {}, false
for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if decode(raw, 'a pin').product_id == ARGV[1] then found = true else kept[#kept + 1] = raw end
end
if not found then return {'none'} end
redis.call('DEL', KEYS[1])
if #kept > 0 then redis.call('RPUSH', KEYS[1], unpack(kept)) end
redis.call('HDEL', KEYS[2], ARGV[1])
return pin_states(KEYS[1], KEYS[2])
