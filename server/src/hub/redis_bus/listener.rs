//! Delivery: one dedicated pub/sub connection per `RedisBus` (per node), shared by all of its
//! shows, owned by a single listener task. It uses the crate's RESP2 [`redis::aio::PubSub`],
//! `split()` into a sink (SUBSCRIBE, UNSUBSCRIBE, PING, each awaiting its acknowledgement) and
//! a stream of messages; the stream ends when the connection dies. The listener serialises all
//! per-show state (no locks): `subscribe`/`unsubscribe` are commands sent to it over a channel
//! and answered when done. A subscribe returns only after Redis acknowledged the SUBSCRIBE and
//! the show's current seq was read afterwards; that seq is where delivery starts, so a joiner's
//! snapshot taken after `subscribe` returns cannot miss anything later. Per frame, the listener
//! looks up the channel, splits the payload at the first three `|` (the frame itself may
//! contain `|`) and sends the frame text to the show's senders: no JSON parsing on the hot path.
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

use axum::extract::ws::Utf8Bytes;
use futures::StreamExt;
use redis::aio::{PubSub, PubSubSink, PubSubStream};
use redis::{Msg, RedisResult};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::conn::Inner;
use crate::domain::protocol::Audience;
use crate::hub::bus::Frame;
use crate::store::StoreError;

/// Pub/sub reconnect backoff: doubles from the first to the last, plus up to 100 % jitter.
const PUBSUB_MIN_DELAY: Duration = Duration::from_millis(50);
const PUBSUB_MAX_DELAY: Duration = Duration::from_secs(1);

/// How often the listener checks that its pub/sub connection still answers.
const PING_EVERY: Duration = Duration::from_secs(5);

/// A subscription waiting for the listener.
pub(super) struct SubscribeRequest {
    pub(super) channel: String,
    pub(super) seq_key: String,
    pub(super) log_key: String,
    pub(super) tx: broadcast::Sender<Frame>,
    pub(super) ack: oneshot::Sender<Result<(), StoreError>>,
}

/// What the bus asks of its listener.
pub(super) enum Command {
    Subscribe(SubscribeRequest),
    Unsubscribe {
        channel: String,
        ack: oneshot::Sender<()>,
    },
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
pub(super) struct Listener {
    inner: Arc<Inner>,
    client: redis::Client,
    commands: mpsc::UnboundedReceiver<Command>,
    subs: HashMap<String, Subscription>,
    /// Subscriptions asked for while disconnected, done once connected.
    pending: Vec<SubscribeRequest>,
}

impl Listener {
    /// Starts the listener on `first`, reconnecting through `client` when it breaks; it runs
    /// until the returned sender is dropped or the task is aborted.
    pub(super) fn spawn(
        inner: Arc<Inner>,
        client: redis::Client,
        first: PubSub,
    ) -> (mpsc::UnboundedSender<Command>, tokio::task::AbortHandle) {
        let (commands, receiver) = mpsc::unbounded_channel();
        let listener = Listener {
            inner,
            client,
            commands: receiver,
            subs: HashMap::new(),
            pending: Vec::new(),
        };
        (commands, tokio::spawn(listener.run(first)).abort_handle())
    }

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

pub(super) async fn open_pubsub(
    client: &redis::Client,
    timeout: Duration,
) -> Result<PubSub, StoreError> {
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
