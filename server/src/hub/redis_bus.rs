//! The several-node bus: every node's rooms share one sequencer, resume log and presence sum
//! in Redis, with the observable behaviour of [`super::MemoryBus`] (tests/bus_contract.rs runs
//! one suite against both).
//!
//! Keys, all under the show's creator hash tag like the rest of the creator's data in
//! [`crate::store::RedisStore`], so every script touches one Cluster slot:
//!
//! ```text
//! {prefix}:{c:<creator>}:show:<show>:seq            INCR counter, the show's last seq
//!                                      :log            stream, id = <seq>-0, fields f=frame t=ms
//!                                      :chat           list of recent chat frames, newest first
//!                                      :presence       hash node -> local viewer count
//!                                      :presence_at    hash node -> last report (ms, Redis TIME)
//!                                      :presence_sent  hash sum, at: the last presence broadcast
//!                                      :room           the pub/sub channel (not a key)
//! ```
//!
//! Every key gets a 24 h TTL, refreshed on each publish (and on each presence report for the
//! presence keys), so an idle show's keys go away by themselves.
//!
//! Sequencing: `publish` is one Lua script (INCR, XADD with the seq as the entry id and
//! `MAXLEN ~`, LPUSH+LTRIM for chat, PUBLISH of `seq|ms|frame`). Scripts run one at a time and
//! pub/sub keeps publish order, so every node receives a show's frames in seq order. The time
//! of a frame is Redis's `TIME`, one clock for all nodes. `report_presence` is one script too:
//! it records the node's count, drops stale nodes, sums, and publishes a `presence` frame the
//! same way when the sum changed (throttled), so the broadcast happens once per change however
//! many nodes report. `since` and `snapshot` read the seq and the log, chat list or presence
//! hashes in one script, so what they return is consistent with the seq.
//!
//! Delivery: one dedicated pub/sub connection per `RedisBus` (per node), shared by all of its
//! shows, owned by a single listener task. It uses the crate's RESP2 [`redis::aio::PubSub`],
//! `split()` into a sink (SUBSCRIBE, UNSUBSCRIBE, PING, each awaiting its acknowledgement) and
//! a stream of messages; the stream ends when the connection dies. The listener serialises all
//! per-show state (no locks): `subscribe`/`unsubscribe` are commands sent to it over a channel
//! and answered when done. A subscribe returns only after Redis acknowledged the SUBSCRIBE and
//! the show's current seq was read afterwards; that seq is where delivery starts, so a joiner's
//! snapshot taken after `subscribe` returns cannot miss anything later. Per frame, the listener
//! looks up the channel, splits the payload at the first two `|` (the frame itself may contain
//! `|`) and sends the frame text to the show's senders: no JSON parsing on the hot path.
//!
//! Per show it keeps the last delivered seq:
//! - a frame at `last + 1` is delivered;
//! - a frame beyond `last + 1` means messages were missed: the gap is read from the log first
//!   (regardless of `max_age`, at most `max_frames`), delivered in order, then the frame;
//! - a frame at or below `last` is a duplicate (the gap fill already delivered it) and dropped,
//!   unless the show's current seq in Redis is below `last`: then Redis lost the show's data
//!   (a restart without persistence, FLUSH, expiry) and its count restarted, so `last` is reset
//!   to 0 and delivery continues from the new count (gap-filled from the log).
//!
//! Reconnect: when the stream ends or a PING (every 5 s) or SUBSCRIBE is not answered in time,
//! the listener reconnects with exponential backoff (50 ms doubling to 1 s, with jitter),
//! re-SUBSCRIBEs every channel and then checks every show against the log — also shows with no
//! new publishes — delivering what was published meanwhile (or resetting, as above). Commands
//! keep being served while Redis is away: `unsubscribe` at once, `subscribe` once the
//! connection is back (or it times out as `Unavailable`).
//!
//! What is lost, and when: frames trimmed from the log (more than `max_frames` behind) or
//! expired with it during an outage cannot be filled; the listener logs how many it skipped.
//! After a Redis data loss, seqs start again at 1 and clients see them go backwards; a client
//! resuming with an older, higher seq gets `TooOld` and resyncs. A data loss that is followed
//! by more publishes than the old seq before this node notices (it checks on reconnect and on
//! every duplicate) goes unnoticed: the frames below the old seq are then not delivered here.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;
use futures::StreamExt;
use redis::aio::{ConnectionManager, PubSub, PubSubSink, PubSubStream};
use redis::{ErrorKind, Msg, RedisError, RedisResult, Script};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::bus::{Bus, Frame, LogLimits, Replay, Snapshot};
use crate::domain::Show;
use crate::domain::chat::ChatMessage;
use crate::domain::protocol::{Audience, Broadcast, seal};
use crate::store::StoreError;

/// Idle shows' keys expire after this; every publish refreshes it.
const SHOW_TTL_SECS: u64 = 24 * 3600;

/// Pub/sub reconnect backoff: doubles from the first to the last, plus up to 100 % jitter.
const PUBSUB_MIN_DELAY: Duration = Duration::from_millis(50);
const PUBSUB_MAX_DELAY: Duration = Duration::from_secs(1);

/// How often the listener checks that its pub/sub connection still answers.
const PING_EVERY: Duration = Duration::from_secs(5);

/// Shared by the scripts that publish: `now_ms()` from Redis TIME, and `append(...)`, which
/// sequences a frame, logs it and publishes `seq|ms|frame`. Returns seq.
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
const PUBLISH: &str = concat!(
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
const REPORT_PRESENCE: &str = concat!(
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
const RANGE: &str = r"
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
const SNAPSHOT: &str = r"
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

/// The show's key names (module doc).
struct ShowKeys {
    base: String,
}

impl ShowKeys {
    fn new(prefix: &str, show: &Show) -> Self {
        ShowKeys {
            base: format!("{prefix}:{{c:{}}}:show:{}", show.creator_id, show.id),
        }
    }
    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.base)
    }
}

/// What the range script read: the current seq, Redis's clock, and the frames.
struct Range {
    current: u64,
    now_ms: u64,
    frames: Vec<Frame>,
}

/// What both the bus and its listener use.
struct Inner {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    limits: LogLimits,
    publish: Script,
    presence: Script,
    range: Script,
    snapshot: Script,
}

impl Inner {
    /// Runs one call under the outer deadline (as `RedisStore::guard` does).
    async fn guard<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                tracing::debug!(op, error = %e, "redis bus call failed");
                Err(redis_error(e))
            }
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis did not answer {op} within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    async fn current_seq(&self, seq_key: &str) -> Result<u64, StoreError> {
        let seq: Option<u64> = self
            .guard(
                "seq",
                redis::cmd("GET")
                    .arg(seq_key)
                    .query_async(&mut self.conn.clone()),
            )
            .await?;
        Ok(seq.unwrap_or(0))
    }

    /// Frames after `after` up to `upto` (0: the current seq), at most `count`; see [`RANGE`].
    async fn range(
        &self,
        keys: (&str, &str),
        after: u64,
        upto: u64,
        count: usize,
        strict: bool,
    ) -> Result<Range, StoreError> {
        let (current, now_ms, flat): (u64, u64, Vec<String>) = self
            .guard(
                "range",
                self.range
                    .key(keys.0)
                    .key(keys.1)
                    .arg(after)
                    .arg(upto)
                    .arg(count)
                    .arg(if strict { "1" } else { "0" })
                    .invoke_async(&mut self.conn.clone()),
            )
            .await?;
        if flat.len() % 4 != 0 {
            return Err(StoreError::Corrupt(
                "redis bus range is not seq/ms/audience/frame quads".into(),
            ));
        }
        let mut frames = Vec::with_capacity(flat.len() / 4);
        let mut items = flat.into_iter();
        while let (Some(seq), Some(ms), Some(aud), Some(text)) =
            (items.next(), items.next(), items.next(), items.next())
        {
            frames.push(Frame {
                seq: parse_number(&seq, "log entry id")?,
                published_ms: parse_number(&ms, "log entry time")?,
                text: Utf8Bytes::from(text),
                audience: Audience::from_tag(&aud),
            });
        }
        Ok(Range {
            current,
            now_ms,
            frames,
        })
    }
}

/// A subscription waiting for the listener.
struct SubscribeRequest {
    channel: String,
    seq_key: String,
    log_key: String,
    tx: broadcast::Sender<Frame>,
    ack: oneshot::Sender<Result<(), StoreError>>,
}

enum Command {
    Subscribe(SubscribeRequest),
    Unsubscribe {
        channel: String,
        ack: oneshot::Sender<()>,
    },
}

pub struct RedisBus {
    inner: Arc<Inner>,
    commands: mpsc::UnboundedSender<Command>,
    listener: tokio::task::AbortHandle,
}

impl RedisBus {
    /// The stored frame and message of a recent chat message, by id.
    async fn chat_entry(
        &self,
        show: &Show,
        id: &str,
    ) -> Result<Option<(String, ChatMessage)>, StoreError> {
        let inner = &self.inner;
        let key = self.keys(show).key("chat");
        let frames: Vec<String> = inner
            .guard(
                "chat_entry",
                redis::cmd("LRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut inner.conn.clone()),
            )
            .await?;
        Ok(frames.into_iter().find_map(|raw| {
            let message = serde_json::from_str::<ChatMessage>(&raw).ok()?;
            (message.id == id).then_some((raw, message))
        }))
    }

    /// Connects to `url` (a command connection and the pub/sub connection), namespacing every
    /// key under `prefix`; each call fails as `Unavailable` after `timeout`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
        limits: LogLimits,
    ) -> Result<RedisBus, StoreError> {
        let (client, conn) = crate::store::connect_manager(url, prefix, timeout, "the bus").await?;
        let pubsub = open_pubsub(&client, timeout).await?;
        let inner = Arc::new(Inner {
            conn,
            prefix: prefix.to_string(),
            timeout,
            limits,
            publish: Script::new(PUBLISH),
            presence: Script::new(REPORT_PRESENCE),
            range: Script::new(RANGE),
            snapshot: Script::new(SNAPSHOT),
        });
        let (commands, receiver) = mpsc::unbounded_channel();
        let listener = Listener {
            inner: inner.clone(),
            client,
            commands: receiver,
            subs: HashMap::new(),
            pending: Vec::new(),
        };
        let listener = tokio::spawn(listener.run(pubsub)).abort_handle();
        Ok(RedisBus {
            inner,
            commands,
            listener,
        })
    }

    fn keys(&self, show: &Show) -> ShowKeys {
        ShowKeys::new(&self.inner.prefix, show)
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, show: &Show, event: &Broadcast) -> Result<Frame, StoreError> {
        let inner = &self.inner;
        let keys = self.keys(show);
        let prefix = event.json_prefix();
        let audience = event.audience();
        let (seq, published_ms): (u64, u64) = inner
            .guard(
                "publish",
                inner
                    .publish
                    .key(keys.key("seq"))
                    .key(keys.key("log"))
                    .key(keys.key("chat"))
                    .arg(&prefix)
                    .arg(if event.chat().is_some() { "1" } else { "0" })
                    .arg(inner.limits.max_frames)
                    .arg(inner.limits.chat_history)
                    .arg(keys.key("room"))
                    .arg(SHOW_TTL_SECS)
                    .arg(audience.tag())
                    .invoke_async(&mut inner.conn.clone()),
            )
            .await?;
        Ok(Frame {
            seq,
            text: Utf8Bytes::from(seal(&prefix, seq)),
            published_ms,
            audience,
        })
    }

    async fn since(&self, show: &Show, last_seq: u64) -> Result<Replay, StoreError> {
        let limits = &self.inner.limits;
        let keys = self.keys(show);
        let (seq_key, log_key) = (keys.key("seq"), keys.key("log"));
        let range = self
            .inner
            .range(
                (seq_key.as_str(), log_key.as_str()),
                last_seq,
                0,
                limits.max_frames,
                true,
            )
            .await?;
        if last_seq > range.current {
            return Ok(Replay::TooOld);
        }
        let missing = range.current - last_seq;
        if missing == 0 {
            return Ok(Replay::Frames(Vec::new()));
        }
        let oldest_allowed = range
            .now_ms
            .saturating_sub(limits.max_age.as_millis() as u64);
        let complete = missing <= limits.max_frames as u64
            && range.frames.len() as u64 == missing
            && range.frames.first().map(|f| f.seq) == Some(last_seq + 1);
        match range.frames.first() {
            Some(first) if complete && first.published_ms >= oldest_allowed => {
                Ok(Replay::Frames(range.frames))
            }
            _ => Ok(Replay::TooOld),
        }
    }

    async fn snapshot(&self, show: &Show) -> Result<Snapshot, StoreError> {
        let inner = &self.inner;
        let keys = self.keys(show);
        let (seq, viewers, chat): (u64, u64, Vec<String>) = inner
            .guard(
                "snapshot",
                inner
                    .snapshot
                    .key(keys.key("seq"))
                    .key(keys.key("chat"))
                    .key(keys.key("presence_sent"))
                    .key(keys.key("presence"))
                    .arg(inner.limits.chat_history)
                    .invoke_async(&mut inner.conn.clone()),
            )
            .await?;
        // Stored newest first; the frame's extra `type` field is ignored, its `seq` is kept.
        let chat = chat
            .iter()
            .rev()
            .map(|frame| {
                serde_json::from_str::<ChatMessage>(frame)
                    .map_err(|e| StoreError::Corrupt(format!("stored chat frame: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Snapshot { seq, chat, viewers })
    }

    async fn report_presence(
        &self,
        show: &Show,
        node: &str,
        local: u64,
    ) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let limits = &inner.limits;
        let keys = self.keys(show);
        inner
            .guard(
                "report_presence",
                inner
                    .presence
                    .key(keys.key("presence"))
                    .key(keys.key("presence_at"))
                    .key(keys.key("presence_sent"))
                    .key(keys.key("seq"))
                    .key(keys.key("log"))
                    .arg(node)
                    .arg(local)
                    .arg(limits.presence_stale.as_millis() as u64)
                    .arg(limits.presence_every.as_millis() as u64)
                    .arg(limits.max_frames)
                    .arg(keys.key("room"))
                    .arg(SHOW_TTL_SECS)
                    .invoke_async(&mut inner.conn.clone()),
            )
            .await
    }

    async fn subscribe(&self, show: &Show, tx: broadcast::Sender<Frame>) -> Result<(), StoreError> {
        let keys = self.keys(show);
        let (ack, answer) = oneshot::channel();
        let request = SubscribeRequest {
            channel: keys.key("room"),
            seq_key: keys.key("seq"),
            log_key: keys.key("log"),
            tx,
            ack,
        };
        let stopped = || StoreError::Unavailable("the redis bus listener has stopped".into());
        self.commands
            .send(Command::Subscribe(request))
            .map_err(|_| stopped())?;
        // SUBSCRIBE and the seq read each have the timeout; allow for work queued before.
        let within = self.inner.timeout * 3;
        match tokio::time::timeout(within, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(stopped()),
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis pub/sub did not subscribe within {} ms",
                within.as_millis()
            ))),
        }
    }

    async fn unsubscribe(&self, show: &Show) {
        let (ack, done) = oneshot::channel();
        let channel = self.keys(show).key("room");
        if self
            .commands
            .send(Command::Unsubscribe { channel, ack })
            .is_ok()
        {
            // Answered as soon as the listener stops delivering, before Redis is told.
            let _ = tokio::time::timeout(self.inner.timeout, done).await;
        }
    }

    async fn find_chat(&self, show: &Show, id: &str) -> Result<Option<ChatMessage>, StoreError> {
        Ok(self.chat_entry(show, id).await?.map(|(_, m)| m))
    }

    async fn delete_chat(&self, show: &Show, id: &str) -> Result<bool, StoreError> {
        let Some((raw, _)) = self.chat_entry(show, id).await? else {
            return Ok(false);
        };
        let inner = &self.inner;
        let key = self.keys(show).key("chat");
        let removed: u64 = inner
            .guard(
                "delete_chat",
                redis::cmd("LREM")
                    .arg(key)
                    .arg(1)
                    .arg(raw)
                    .query_async(&mut inner.conn.clone()),
            )
            .await?;
        Ok(removed > 0)
    }

    async fn clear_chat(&self, show: &Show) -> Result<(), StoreError> {
        let inner = &self.inner;
        let key = self.keys(show).key("chat");
        let _: u64 = inner
            .guard(
                "clear_chat",
                redis::cmd("DEL")
                    .arg(key)
                    .query_async(&mut inner.conn.clone()),
            )
            .await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}

/// One show's delivery state in the listener.
struct Subscription {
    seq_key: String,
    log_key: String,
    senders: Vec<broadcast::Sender<Frame>>,
    /// The seq of the last frame handed to `senders` (or skipped as lost).
    last: u64,
}

impl Subscription {
    fn deliver(&mut self, frame: Frame) {
        self.last = frame.seq;
        // No receivers right now (no local viewers) is fine.
        for tx in &self.senders {
            let _ = tx.send(frame.clone());
        }
    }
}

/// Why `serve` returned.
enum Exit {
    /// The bus was dropped.
    Closed,
    /// The connection is gone or not answering: reconnect.
    Broken(String),
}

/// The pub/sub connection's owner (module doc).
struct Listener {
    inner: Arc<Inner>,
    client: redis::Client,
    commands: mpsc::UnboundedReceiver<Command>,
    subs: HashMap<String, Subscription>,
    /// Subscriptions asked for while disconnected, done once connected.
    pending: Vec<SubscribeRequest>,
}

impl Listener {
    async fn run(mut self, first: PubSub) {
        let mut pubsub = Some(first);
        loop {
            let connection = match pubsub.take() {
                Some(p) => p,
                None => match self.reconnect().await {
                    Some(p) => p,
                    None => return,
                },
            };
            let (mut sink, mut stream) = connection.split();
            match self.serve(&mut sink, &mut stream).await {
                Exit::Closed => return,
                Exit::Broken(why) => {
                    tracing::warn!(reason = %why, "redis bus pub/sub connection lost; reconnecting");
                }
            }
        }
    }

    /// Opens a new pub/sub connection with backoff, serving commands meanwhile; `None` when
    /// the bus was dropped.
    async fn reconnect(&mut self) -> Option<PubSub> {
        let mut delay = PUBSUB_MIN_DELAY;
        loop {
            let jitter = rand::random_range(0..=delay.as_millis() as u64);
            let sleep = tokio::time::sleep(delay + Duration::from_millis(jitter));
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    command = self.commands.recv() => match command {
                        None => return None,
                        Some(command) => self.offline(command),
                    },
                }
            }
            match open_pubsub(&self.client, self.inner.timeout).await {
                Ok(pubsub) => return Some(pubsub),
                Err(e) => {
                    tracing::debug!(error = %e, "redis bus pub/sub reconnect failed");
                    delay = (delay * 2).min(PUBSUB_MAX_DELAY);
                }
            }
        }
    }

    /// A command while disconnected: unsubscribe now, subscribe once connected.
    fn offline(&mut self, command: Command) {
        match command {
            Command::Subscribe(request) => self.pending.push(request),
            Command::Unsubscribe { channel, ack } => {
                self.subs.remove(&channel);
                self.pending.retain(|p| p.channel != channel);
                let _ = ack.send(());
            }
        }
    }

    /// Runs one connection: resubscribe, catch up, then deliver until it breaks.
    async fn serve(&mut self, sink: &mut PubSubSink, stream: &mut PubSubStream) -> Exit {
        let timeout = self.inner.timeout;
        let channels: Vec<String> = self.subs.keys().cloned().collect();
        for channel in &channels {
            if let Err(why) = bounded(timeout, "SUBSCRIBE", sink.subscribe(channel)).await {
                return Exit::Broken(why);
            }
        }
        // Whatever was published while we were away (or nothing, or a reset).
        for channel in &channels {
            self.catch_up(channel).await;
        }
        for request in std::mem::take(&mut self.pending) {
            if let Err(why) = self.add(sink, request).await {
                return Exit::Broken(why);
            }
        }
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => self.on_message(message).await,
                    None => return Exit::Broken("the connection closed".into()),
                },
                command = self.commands.recv() => match command {
                    None => return Exit::Closed,
                    Some(Command::Subscribe(request)) => {
                        if let Err(why) = self.add(sink, request).await {
                            return Exit::Broken(why);
                        }
                    }
                    Some(Command::Unsubscribe { channel, ack }) => {
                        self.subs.remove(&channel);
                        let _ = ack.send(());
                        if let Err(why) =
                            bounded(timeout, "UNSUBSCRIBE", sink.unsubscribe(&channel)).await
                        {
                            return Exit::Broken(why);
                        }
                    }
                },
                _ = ping.tick() => {
                    let pong = sink.ping::<redis::Value>();
                    if let Err(why) = bounded(timeout, "PING", pong).await {
                        return Exit::Broken(why);
                    }
                }
            }
        }
    }

    /// Subscribes a show (or adds a sender to a subscribed one) and answers the request. An
    /// error means the connection is broken; the request has been answered either way.
    async fn add(
        &mut self,
        sink: &mut PubSubSink,
        request: SubscribeRequest,
    ) -> Result<(), String> {
        if request.ack.is_closed() {
            return Ok(()); // the caller gave up
        }
        if let Some(sub) = self.subs.get_mut(&request.channel) {
            sub.senders.push(request.tx);
            let _ = request.ack.send(Ok(()));
            return Ok(());
        }
        let timeout = self.inner.timeout;
        if let Err(why) = bounded(timeout, "SUBSCRIBE", sink.subscribe(&request.channel)).await {
            let _ = request.ack.send(Err(StoreError::Unavailable(format!(
                "redis pub/sub: {why}"
            ))));
            return Err(why);
        }
        // Read after the SUBSCRIBE is acknowledged: every later frame reaches us.
        let last = match self.inner.current_seq(&request.seq_key).await {
            Ok(seq) => seq,
            Err(e) => {
                let _ = request.ack.send(Err(e));
                let _ = bounded(timeout, "UNSUBSCRIBE", sink.unsubscribe(&request.channel)).await;
                return Ok(());
            }
        };
        let channel = request.channel.clone();
        self.subs.insert(
            request.channel,
            Subscription {
                seq_key: request.seq_key,
                log_key: request.log_key,
                senders: vec![request.tx],
                last,
            },
        );
        if request.ack.send(Ok(())).is_err() {
            // The caller timed out meanwhile; nobody will unsubscribe this.
            self.subs.remove(&channel);
            bounded(timeout, "UNSUBSCRIBE", sink.unsubscribe(&channel)).await?;
        }
        Ok(())
    }

    /// One published frame: deliver it in order, filling a gap first, dropping duplicates.
    async fn on_message(&mut self, message: Msg) {
        let Some(sub) = self.subs.get_mut(message.get_channel_name()) else {
            return; // unsubscribed meanwhile
        };
        let Some(frame) = parse_message(message.get_payload_bytes()) else {
            tracing::warn!(
                channel = message.get_channel_name(),
                "redis bus message is not seq|ms|frame; dropped"
            );
            return;
        };
        if frame.seq <= sub.last {
            // A duplicate of a gap-filled frame, unless Redis lost the show and counts anew.
            match self.inner.current_seq(&sub.seq_key).await {
                Ok(current) if current < sub.last => {
                    tracing::warn!(
                        channel = message.get_channel_name(),
                        last = sub.last,
                        current,
                        "the show's seq went backwards (redis lost its data); restarting delivery"
                    );
                    sub.last = 0;
                }
                _ => return,
            }
        }
        if frame.seq > sub.last + 1 {
            fill(&self.inner, sub, frame.seq - 1).await;
        }
        if frame.seq > sub.last {
            sub.deliver(frame);
        }
    }

    /// After a reconnect: deliver what the log has beyond the last delivered frame.
    async fn catch_up(&mut self, channel: &str) {
        let Some(sub) = self.subs.get_mut(channel) else {
            return;
        };
        let current = match self.inner.current_seq(&sub.seq_key).await {
            Ok(current) => current,
            Err(e) => {
                // The next frame fills the gap instead.
                tracing::warn!(channel, error = %e, "cannot check the show after a reconnect");
                return;
            }
        };
        if current < sub.last {
            tracing::warn!(
                channel,
                last = sub.last,
                current,
                "the show's seq went backwards (redis lost its data); restarting delivery"
            );
            sub.last = 0;
        }
        if current > sub.last {
            fill(&self.inner, sub, current).await;
            if sub.last < current {
                tracing::warn!(
                    channel,
                    lost = current - sub.last,
                    "frames gone from the log"
                );
                sub.last = current;
            }
        }
    }
}

/// Delivers the logged frames after `sub.last` up to `upto`, in order. Frames the log no
/// longer has are skipped (and logged); on a Redis error the gap stays a gap.
async fn fill(inner: &Inner, sub: &mut Subscription, upto: u64) {
    let from = sub.last;
    let keys = (sub.seq_key.as_str(), sub.log_key.as_str());
    match inner
        .range(keys, from, upto, inner.limits.max_frames, false)
        .await
    {
        Ok(range) => {
            let got = range.frames.len();
            let first = range.frames.first().map(|f| f.seq);
            for frame in range.frames {
                if frame.seq > sub.last {
                    sub.deliver(frame);
                }
            }
            if first != Some(from + 1) {
                tracing::warn!(
                    key = %sub.log_key,
                    after = from,
                    upto,
                    got,
                    "redis bus gap only partly in the log"
                );
            } else {
                tracing::debug!(key = %sub.log_key, after = from, got, "redis bus gap filled");
            }
        }
        Err(e) => {
            tracing::warn!(key = %sub.log_key, after = from, upto, error = %e, "redis bus gap not filled");
        }
    }
}

/// `seq|ms|audience|frame`, split at the first three `|` (the frame may contain more; an
/// audience tag never does).
fn parse_message(payload: &[u8]) -> Option<Frame> {
    let mut parts = payload.splitn(4, |b| *b == b'|');
    let seq = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let published_ms = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
    let audience = Audience::from_tag(std::str::from_utf8(parts.next()?).ok()?);
    let text = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some(Frame {
        seq,
        text: Utf8Bytes::from(text),
        published_ms,
        audience,
    })
}

async fn open_pubsub(client: &redis::Client, timeout: Duration) -> Result<PubSub, StoreError> {
    match tokio::time::timeout(timeout, client.get_async_pubsub()).await {
        Ok(Ok(pubsub)) => Ok(pubsub),
        Ok(Err(e)) => Err(StoreError::Unavailable(format!(
            "the bus cannot open a redis pub/sub connection: {e}"
        ))),
        Err(_) => Err(StoreError::Unavailable(format!(
            "the bus cannot open a redis pub/sub connection: no answer within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// A pub/sub request under a deadline; the error says what failed.
async fn bounded<T>(
    timeout: Duration,
    what: &str,
    call: impl Future<Output = RedisResult<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{what} failed: {e}")),
        Err(_) => Err(format!(
            "{what} not answered within {} ms",
            timeout.as_millis()
        )),
    }
}

/// As in the store: wrong types are `Corrupt`, everything else `Unavailable`.
fn redis_error(e: RedisError) -> StoreError {
    let wrong_type =
        matches!(e.kind(), ErrorKind::UnexpectedReturnType) || e.code() == Some("WRONGTYPE");
    if wrong_type {
        StoreError::Corrupt(format!("redis: {e}"))
    } else {
        StoreError::Unavailable(format!("redis: {e}"))
    }
}

fn parse_number(raw: &str, what: &str) -> Result<u64, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("redis bus {what} is {raw:?}, not a number")))
}

#[cfg(test)]
mod tests {
    use super::{Audience, parse_message};

    #[test]
    fn messages_split_at_the_first_three_bars() {
        let frame = parse_message(br#"7|1700000000123||{"text":"a|b","seq":7}"#).unwrap();
        assert_eq!(frame.seq, 7);
        assert_eq!(frame.published_ms, 1_700_000_000_123);
        assert_eq!(frame.audience, Audience::Everyone);
        assert_eq!(frame.text.as_str(), r#"{"text":"a|b","seq":7}"#);
        let mods = parse_message(br#"8|1|m|{"seq":8}"#).unwrap();
        assert_eq!(mods.audience, Audience::Moderators);
        let one = parse_message(br#"9|1|v:abc|{"seq":9}"#).unwrap();
        assert_eq!(one.audience, Audience::Member("abc".into()));
        for bad in [
            &b""[..],
            b"7",
            b"7|8",
            b"7|8|",
            b"x|8||{}",
            b"7|y||{}",
            b"7|8||\xff",
        ] {
            assert!(parse_message(bad).is_none(), "{bad:?}");
        }
    }
}
