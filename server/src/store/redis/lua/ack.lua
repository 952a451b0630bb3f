local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then return 0 end
redis.pcall('XACK', KEYS[1], ARGV[2], entry)
redis.call('XDEL', KEYS[1], entry)
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
