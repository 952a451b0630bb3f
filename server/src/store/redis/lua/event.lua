-- Records a processor event as handled at `now_ms` unless it was recorded less than
-- `memory_ms` before: the key holds the time it was recorded, and its expiry only cleans up.
local at = redis.call('GET', k.event)
if at and tonumber(at) and tonumber(at) + tonumber(a.memory_ms) > tonumber(a.now_ms) then
  return 0
end
redis.call('SET', k.event, a.now_ms, 'PX', a.cleanup_ms)
return 1
