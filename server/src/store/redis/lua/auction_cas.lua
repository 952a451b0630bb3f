-- Writes an open or a close computed in Rust by the rule functions (domain::auction::open or
-- close) from the lot as read at `version`: 'retry' (nothing written) when a bid, an open or a
-- close changed the lot since, or when opening while the show's other lot is open. Every
-- state change bumps `version` (a refused bid only lengthens the log, which this never
-- writes), so a close is written once: the second one reads the closed lot and the rule
-- refuses it. The lot's state fields follow the named arguments; the pre-bids go (an open
-- resolved them, a close drops them).
local v = redis.call('HGET', k.lot, 'version')
if not v then return 'missing' end
if v ~= a.version then return 'retry' end
local other = redis.call('GET', k.show_open)
if a.opening == '1' then
  if other and other ~= a.id then return 'retry' end
  redis.call('SET', k.show_open, a.id)
  redis.call('SADD', k.open_index, a.member)
else
  if other == a.id then redis.call('DEL', k.show_open) end
  redis.call('SREM', k.open_index, a.member)
end
redis.call('DEL', k.prebids)
redis.call('HSET', k.lot, unpack(ARGV, #arg_names + 1))
return 'ok'
