-- A closed lot's sale (auction_sales.rs): settles waiting offer `a.settle` with `a.outcome`
-- (when `a.settle` is not ''), then makes offer `a.number` with its order (when `a.number` is
-- not '' and, with a settlement, only when this call settled). The sale hash holds, per offer
-- n: `offer:n` (the Offer JSON as Rust wrote it), `outcome:n` (its outcome now), `order:n`
-- (its order id); and `count`, the offers made. Answers {settled ('0'/'1'/'none'), what
-- ('created' order | 'existing' order | 'refused' code message | 'none'), then the sale hash}.
local settled = '0'
if a.settle ~= '' then
  if redis.call('HEXISTS', k.sale, 'offer:' .. a.settle) == 0 then return {'none', 'none'} end
  if redis.call('HGET', k.sale, 'outcome:' .. a.settle) == 'waiting' then
    redis.call('HSET', k.sale, 'outcome:' .. a.settle, a.outcome)
    settled = '1'
  end
end

local function answer(...)
  local out = {settled, ...}
  for _, v in ipairs(redis.call('HGETALL', k.sale)) do out[#out + 1] = v end
  return out
end

if a.number == '' or (a.settle ~= '' and settled == '0') then return answer('none') end

local made = redis.call('HGET', k.sale, 'order:' .. a.number)
if made then
  local order = redis.call('HGET', k.orders, made)
  if order then return answer('existing', order) end
end
local count = tonumber(redis.call('HGET', k.sale, 'count') or '0')
local in_turn = count == tonumber(a.number)
if in_turn and count > 0 and redis.call('HGET', k.sale, 'outcome:' .. int(count - 1)) == 'waiting' then
  in_turn = false
end
if not in_turn then
  return answer('refused', 'illegal_transition',
    'offer ' .. a.number .. ' cannot be made: the offer before it is not settled')
end

-- SalesChannel::of: a cancelled show sells nothing; an ended one sells from its replay.
local show_raw = redis.call('GET', k.show)
local show_status = show_raw and decode(show_raw, 'a show').status
if show_status == 'cancelled' then
  return answer('refused', 'show_cancelled', 'this show was cancelled')
end
local channel = 'live'
if show_status == 'ended' then channel = 'replay' end

local rec = redis.call('GET', k.product)
local p = rec and decode(rec, 'a product')
if not p or p.creator_id ~= a.creator_id then
  return answer('refused', 'product_not_found', "the lot's product is gone")
end
local stock = tonumber(redis.call('HGET', k.stock, a.product))
if not stock then corrupt('product ' .. a.product .. ' has no stock entry') end
if stock < 1 then return answer('refused', 'sold_out', p.title .. ' is sold out') end

redis.call('SET', k.reservations_indexed, '1')
redis.call('HINCRBY', k.stock, a.product, -1)
local price = {amount = tonumber(a.amount), currency = a.currency}
local json = order_json({id = a.order_id, show_id = a.show_id, viewer_id = a.viewer,
  buyer_name = a.buyer_name, status = 'pending_payment',
  items = {{product_id = a.product, title = p.title, quantity = 1, unit_price = price,
    deal = false}},
  total = price, created_at = a.now, reserved_until = a.reserved_until, channel = channel})
redis.call('HSET', k.orders, a.order_id, json)
redis.call('ZADD', k.order_ids, int(redis.call('ZCARD', k.order_ids) + 1), a.order_id)
redis.call('RPUSH', k.viewer_orders, a.order_id)
redis.call('ZADD', k.reservations, a.reserved_until_ms, a.order_id)
append_event(k.outbox, k.outbox_ids, a.event_id, 'order.created', a.now, json)
redis.call('HSET', k.sale, 'offer:' .. a.number, a.offer, 'outcome:' .. a.number, 'waiting',
  'order:' .. a.number, a.order_id, 'count', int(count + 1))
return answer('created', json)
