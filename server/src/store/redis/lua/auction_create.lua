-- Adds a lot to its show: refused ('full') when the show has max_lots; otherwise the lot's id
-- goes to the show's list (creation order) and its fields (after the named arguments) to its
-- hash.
if redis.call('LLEN', k.lots) >= tonumber(a.max_lots) then return 'full' end
redis.call('RPUSH', k.lots, a.id)
redis.call('HSET', k.lot, unpack(ARGV, #arg_names + 1))
return 'ok'
