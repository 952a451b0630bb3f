-- One bid as one atomic step: domain::auction::place_bid on the stored lot, line for line
-- (check, then the pre-bid or the resolution with note_best and the soft-close extension),
-- the log line appended, and the answer kept under the bidder's Idempotency-Key.
-- Replies {'missing'}, {'reused'}, {'replayed', answer} or {'handled', answer}, where the
-- answer is a JSON array of strings that auctions.rs decodes (answer_fields there).

local function int(x) return string.format('%d', x) end
local function opt(x) if x == nil then return '' end return int(x) end
local function num(s) if s == nil or s == '' then return nil end return tonumber(s) end

local f = redis.call('HMGET', k.lot, 'status', 'ends_at', 'current', 'leader', 'leader_name',
  'leader_max', 'bids', 'log_len', 'currency', 'start', 'mode', 'extend_ms', 'steps',
  'winner', 'winner_name', 'product', 'version')
if not f[1] then return {'missing'} end

local slot = nil
if a.key ~= '' then
  slot = a.bidder .. ' ' .. a.key
  local kept = redis.call('HGET', k.keys, slot)
  if kept then
    local nl = string.find(kept, '\n', 1, true)
    if string.sub(kept, 1, nl - 1) == a.fingerprint then
      return {'replayed', string.sub(kept, nl + 1)}
    end
    return {'reused'}
  end
end

local status, ends, current = f[1], num(f[2]), num(f[3])
local leader, leader_name, leader_max = f[4], f[5], num(f[6])
local bids, seq, currency, start = tonumber(f[7]), tonumber(f[8]), f[9], tonumber(f[10])
local mode, extend_ms, steps = f[11], tonumber(f[12]), f[13]
local amount, received = tonumber(a.amount), tonumber(a.received)
local bidder, kind = a.bidder, a.kind

-- The increment table: the step of the band with the largest `from` <= price (1 if none).
local function step(price)
  local s = 1
  for from, st in string.gmatch(steps, '(%-?%d+):(%d+)') do
    if tonumber(from) > price then break end
    s = tonumber(st)
  end
  return s
end
local function next_minimum()
  if current == nil then return start end
  return current + step(current)
end

local function check()
  if amount <= 0 or amount > tonumber(a.max_amount) then return 'invalid_bid' end
  if a.currency ~= '' and a.currency ~= currency then return 'wrong_currency' end
  if status == 'closed' then return 'auction_closed' end
  if status == 'open' and (ends == nil or received >= ends) then return 'auction_closed' end
  if status == 'scheduled' then
    if kind == 'amount' then return 'auction_not_open' end
    local earlier = redis.call('HGET', k.prebids, bidder)
    if earlier and amount <= tonumber(string.match(earlier, '^(%-?%d+)|')) then
      return 'max_below_current'
    end
    if amount < start then return 'bid_too_low' end
    return nil
  end
  if leader == bidder and kind == 'max' and amount <= leader_max then
    return 'max_below_current'
  end
  if amount < next_minimum() then return 'bid_too_low' end
  return nil
end

-- Records the bidder's accepted value at seq if it is their best (first seen: their place).
local function note_best(value)
  local had = redis.call('HGET', k.bests, bidder)
  if had then
    local best, _, first, name = string.match(had, '^(%-?%d+)|(%d+)|(%d+)|(.*)$')
    if tonumber(best) >= value then return end
    redis.call('HSET', k.bests, bidder, int(value) .. '|' .. int(seq) .. '|' .. first .. '|' .. name)
  else
    redis.call('HSET', k.bests, bidder, int(value) .. '|' .. int(seq) .. '|' .. int(seq) .. '|' .. a.name)
  end
end

local outcome, code, outbid, changed, moved = nil, '', '', '0', '0'
local refusal = check()
if refusal then
  outcome, code = 'refused', refusal
elseif status == 'scheduled' then
  redis.call('HSET', k.prebids, bidder, int(amount) .. '|' .. int(seq) .. '|' .. a.name)
  note_best(amount)
  outcome = 'pre_bid'
else
  local value, nm = amount, next_minimum()
  note_best(value)
  local price
  if leader == bidder then
    leader_max = math.max(leader_max, value)
    if kind == 'max' then outcome = 'max_raised' else price = value end
  elseif leader ~= '' and value <= leader_max then
    -- The leader's proxy answers at once; a tie stays with the earlier bid (the leader's).
    price = math.min(leader_max, value + step(value))
    outbid = bidder
  else
    if kind == 'amount' then
      price = value
    elseif leader == '' then
      price = nm
    else
      price = math.min(value, math.max(leader_max + step(leader_max), nm))
    end
    outbid, changed = leader, '1'
    leader, leader_name, leader_max = bidder, a.name, value
  end
  if outcome == nil then
    outcome = 'accepted'
    current, bids = price, bids + 1
    if mode == 'soft_close' then
      local pushed = received + extend_ms
      if ends ~= nil and pushed > ends then ends, moved = pushed, '1' end
    end
  end
end

local after = {'log_len', int(seq + 1)}
if outcome ~= 'refused' then
  after = {'log_len', int(seq + 1), 'version', int(tonumber(f[17]) + 1), 'ends_at', opt(ends),
    'current', opt(current), 'leader', leader, 'leader_name', leader_name,
    'leader_max', opt(leader_max), 'bids', int(bids)}
end
redis.call('HSET', k.lot, unpack(after))

local logged = outcome
if outcome == 'refused' then logged = code end
local line = table.concat({int(seq), int(received), bidder, kind, int(amount), logged,
  opt(current), leader, opt(ends)}, '|')
redis.call('RPUSH', k.log, line)

local answer = cjson.encode({outcome, outbid, changed, moved, code, status, opt(current),
  leader, leader_name, int(bids), opt(ends), int(next_minimum()), currency, f[14] or '',
  f[15] or '', f[16], line})
if slot then redis.call('HSET', k.keys, slot, a.fingerprint .. '\n' .. answer) end
return {'handled', answer}
