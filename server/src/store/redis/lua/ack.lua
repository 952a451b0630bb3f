local entry = redis.call('HGET', k.outbox_ids, a.event_id)
if not entry then return 0 end
redis.pcall('XACK', k.outbox, a.group, entry)
redis.call('XDEL', k.outbox, entry)
redis.call('HDEL', k.outbox_ids, a.event_id)
return 1
