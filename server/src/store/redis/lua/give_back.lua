local max = tonumber(a.max_products)
-- After the named arguments: product and line pairs.
for i = #arg_names + 1, #ARGV, 2 do
  if redis.call('HEXISTS', k.cart, ARGV[i]) == 0 then
    if redis.call('HLEN', k.cart) >= max then break end
    redis.call('HSET', k.cart, ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', k.cart, a.ttl_seconds)
return 1
