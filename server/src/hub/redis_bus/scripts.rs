//! The bus's Lua scripts, one per step that must be atomic in Redis: sequencing a frame
//! (`PUBLISH`, built on the shared `append`), reporting presence (which may sequence a
//! `presence` frame the same way), reading a range of the resume log, and the `welcome`
//! snapshot. Each script's keys and arguments are listed above it; the key names are in the
//! parent module's doc.

/// Shared by the scripts that publish: `now_ms()` from Redis TIME, and `append(...)`, which
/// sequences a frame, logs it and publishes `seq|ms|audience|frame`.
/// Returns seq.
macro_rules! lua_append {
    () => {
        r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function append(k_seq, k_log, prefix, max_frames, channel, ttl, now, aud)
  local seq = redis.call('INCR', k_seq)
  local s = string.format('%d', seq)
  local frame = prefix .. s .. '}'
  local at = string.format('%d', now)
  local r = redis.pcall('XADD', k_log, 'MAXLEN', '~', max_frames, s .. '-0', 'f', frame, 't', at, 'a', aud)
  if type(r) == 'table' and r.err then
    -- The log outlived its counter (only a foreign writer or eviction can do that): restart it.
    redis.call('DEL', k_log)
    redis.call('XADD', k_log, 'MAXLEN', '~', max_frames, s .. '-0', 'f', frame, 't', at, 'a', aud)
  end
  redis.call('EXPIRE', k_seq, ttl)
  redis.call('EXPIRE', k_log, ttl)
  redis.call('PUBLISH', channel, s .. '|' .. at .. '|' .. aud .. '|' .. frame)
  return seq, frame
end
"
    };
}

/// KEYS: seq, log, chat. ARGV: frame prefix, chat ('1' or '0'), max_frames, chat_history,
/// channel, ttl seconds, audience tag. Returns {seq, ms}.
pub(super) const PUBLISH: &str = concat!(
    lua_append!(),
    r"
local now = now_ms()
local seq, frame = append(KEYS[1], KEYS[2], ARGV[1], ARGV[3], ARGV[5], ARGV[6], now, ARGV[7])
if ARGV[2] == '1' then
  local keep = tonumber(ARGV[4])
  if keep > 0 then
    redis.call('LPUSH', KEYS[3], frame)
    redis.call('LTRIM', KEYS[3], 0, keep - 1)
  else
    redis.call('DEL', KEYS[3])
  end
end
redis.call('EXPIRE', KEYS[3], ARGV[6])
return {seq, now}
"
);

/// KEYS: presence, presence_at, presence_sent, seq, log. ARGV: node, local count, stale ms,
/// every ms, max_frames, channel, ttl seconds. Returns the sum over live nodes.
pub(super) const REPORT_PRESENCE: &str = concat!(
    lua_append!(),
    r#"
local now = now_ms()
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], string.format('%d', now))
local stale = tonumber(ARGV[3])
local ats = redis.call('HGETALL', KEYS[2])
local sum = 0
for i = 1, #ats, 2 do
  local node = ats[i]
  local at = tonumber(ats[i + 1]) or 0
  if now - at > stale then
    redis.call('HDEL', KEYS[1], node)
    redis.call('HDEL', KEYS[2], node)
  else
    sum = sum + (tonumber(redis.call('HGET', KEYS[1], node)) or 0)
  end
end
local sent = redis.call('HMGET', KEYS[3], 'sum', 'at')
local due = not sent[1]
if not due then
  due = tonumber(sent[1]) ~= sum and now - (tonumber(sent[2]) or 0) >= tonumber(ARGV[4])
end
if due then
  redis.call('HSET', KEYS[3], 'sum', string.format('%d', sum), 'at', string.format('%d', now))
  local prefix = '{"type":"presence","viewers":' .. string.format('%d', sum) .. ',"seq":'
  append(KEYS[4], KEYS[5], prefix, ARGV[5], ARGV[6], ARGV[7], now, '')
end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[7]) end
return sum
"#
);

/// KEYS: seq, log. ARGV: after (exclusive), upto (inclusive; 0 = the current seq), count,
/// strict ('1': return no frames when more than `count` are missing; '0': the newest `count`).
/// Returns {current seq, now ms, {seq, ms, audience, frame, seq, ms, audience, frame, ...}}.
pub(super) const RANGE: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local after = tonumber(ARGV[1])
local upto = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
if upto == 0 or upto > cur then upto = cur end
if after < upto and count > 0 then
  if upto - after > count then
    if ARGV[4] == '1' then return {cur, now, out} end
    after = upto - count
  end
  local entries = redis.call('XRANGE', KEYS[2], '(' .. string.format('%d', after) .. '-0',
    string.format('%d', upto) .. '-0', 'COUNT', count)
  for _, e in ipairs(entries) do
    local frame, at, aud = nil, nil, ''
    local fields = e[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'f' then frame = fields[i + 1]
      elseif fields[i] == 't' then at = fields[i + 1]
      elseif fields[i] == 'a' then aud = fields[i + 1] end
    end
    local seq = string.match(e[1], '^%d+')
    if frame and at and seq then
      out[#out + 1] = seq
      out[#out + 1] = at
      out[#out + 1] = aud
      out[#out + 1] = frame
    end
  end
end
return {cur, now, out}
";

/// KEYS: seq, chat, presence_sent, presence. ARGV: chat_history.
/// Returns {seq, viewers, {chat frames, newest first}}.
pub(super) const SNAPSHOT: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local keep = tonumber(ARGV[1])
local chat = {}
if keep > 0 then chat = redis.call('LRANGE', KEYS[2], 0, keep - 1) end
local sum = tonumber(redis.call('HGET', KEYS[3], 'sum') or '')
if not sum then
  sum = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[4])) do sum = sum + (tonumber(v) or 0) end
end
return {cur, sum, chat}
";
