local kept, found = {}, false
for _, raw in ipairs(redis.call('LRANGE', k.pins, 0, -1)) do
  if decode(raw, 'a pin').product_id == a.product then found = true else kept[#kept + 1] = raw end
end
if not found then return {'none'} end
redis.call('DEL', k.pins)
if #kept > 0 then redis.call('RPUSH', k.pins, unpack(kept)) end
redis.call('HDEL', k.deal_remaining, a.product)
return pin_states(k.pins, k.deal_remaining)
