//! The `Bus` contract, written once and run against both implementations: each contract is an
//! async function over a [`Backend`] (which builds a bus with the limits the contract needs),
//! and `contracts!` turns it into `memory::<name>` and `redis::<name>` tests. The Redis runs
//! use the Redis from `LIVESALE_TEST_REDIS_URL` under a unique key prefix per test. A contract
//! about time (the log's age, presence throttling and staleness) lets it pass with
//! `Backend::elapse`: the memory bus's `TestClock` is advanced, Redis's clock waited for.
//!
//! Tests at the bottom check what only Redis has: several nodes (two `RedisBus` on one Redis
//! and prefix), the pub/sub connection being killed, Redis restarting without its data, and
//! the key layout. Every wait for a frame is bounded (`WAIT`).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use livesale::clock::{Clock, SystemClock, TestClock};
use livesale::domain::chat::{Author, ChatMessage};
use livesale::domain::protocol::Broadcast;
use livesale::domain::{CreatorId, NewShow, Role, Show, ShowId};
use livesale::hub::{Bus, Frame, LogLimits, MemoryBus, RedisBus, Replay};
use livesale::store::StoreError;
use tokio::sync::broadcast;
use uuid::Uuid;

use common::redis::{PrivateRedis, redis_url, unique_prefix};

/// Per Redis call.
const TIMEOUT: Duration = Duration::from_secs(2);
/// The longest wait for one frame.
const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing more arrives" is watched.
const QUIET: Duration = Duration::from_millis(300);

/// Which bus a contract runs against; each `bus()` of `Memory` is a separate bus (all on the
/// backend's clock), each `bus()` of `Redis` is another node on the same Redis and prefix.
#[derive(Clone)]
enum Backend {
    Memory { clock: Arc<TestClock> },
    Redis { url: String, prefix: String },
}

impl Backend {
    fn memory() -> Backend {
        Backend::Memory {
            clock: TestClock::new(),
        }
    }

    fn redis(test: &str) -> Backend {
        Backend::Redis {
            url: redis_url(),
            prefix: unique_prefix(test),
        }
    }

    async fn bus(&self, limits: LogLimits) -> Arc<dyn Bus> {
        match self {
            Backend::Memory { clock } => Arc::new(MemoryBus::new(limits, clock.clone())),
            Backend::Redis { url, prefix } => Arc::new(
                RedisBus::connect(url, prefix, TIMEOUT, limits)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect the bus to {url}: {e}")),
            ),
        }
    }

    /// Lets `by` pass for the bus's timers: the memory bus's clock is moved ahead; Redis's
    /// clock (`TIME`) can only be waited for.
    async fn elapse(&self, by: Duration) {
        match self {
            Backend::Memory { clock } => clock.advance(by),
            Backend::Redis { .. } => tokio::time::sleep(by).await,
        }
    }
}

macro_rules! contracts {
    ($($name:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::memory()).await;
                }
            )+
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::redis(stringify!($name))).await;
                }
            )+
        }
    };
}

contracts!(
    seq_starts_at_one_and_frames_are_sealed,
    subscriber_receives_frames_in_order,
    unsubscribe_stops_delivery,
    shows_are_separate,
    since_returns_exactly_the_missed_frames,
    since_is_too_old_when_trimmed,
    since_is_too_old_when_expired,
    since_is_too_old_when_ahead,
    snapshot_has_recent_chat_oldest_first,
    presence_sums_nodes_and_broadcasts_once_per_change,
    presence_is_throttled,
    stale_nodes_drop_out,
    concurrent_publishes_are_contiguous,
);

// ---- fixtures -------------------------------------------------------------------------------

fn limits() -> LogLimits {
    LogLimits {
        max_frames: 100,
        max_age: Duration::from_secs(60),
        chat_history: 3,
        presence_every: Duration::ZERO,
        presence_stale: Duration::from_secs(60),
    }
}

fn new_show() -> Show {
    show_of(CreatorId(Uuid::now_v7()))
}

fn show_of(creator: CreatorId) -> Show {
    Show::schedule(
        ShowId(Uuid::now_v7()),
        creator,
        NewShow {
            title: "t".into(),
            ..Default::default()
        },
        Utc::now(),
    )
    .expect("valid show")
}

fn chat(text: &str) -> ChatMessage {
    ChatMessage {
        id: Uuid::now_v7().to_string().into(),
        author: Author {
            id: "v-1".into(),
            name: "Ann | the tester".into(),
        },
        role: Role::Viewer,
        text: text.into(),
        at: Utc::now(),
        seq: None,
    }
}

fn reactions(n: u64) -> Broadcast {
    Broadcast::Reactions {
        counts: BTreeMap::from([("heart".to_string(), n)]),
    }
}

fn presence_frame(viewers: u64, seq: u64) -> String {
    format!(r#"{{"type":"presence","viewers":{viewers},"seq":{seq}}}"#)
}

async fn subscribed(bus: &Arc<dyn Bus>, show: &Show) -> broadcast::Receiver<Frame> {
    let (tx, rx) = broadcast::channel(1024);
    bus.subscribe(show, tx).await.expect("subscribe");
    rx
}

async fn recv(rx: &mut broadcast::Receiver<Frame>) -> Frame {
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Ok(frame)) => frame,
        Ok(Err(e)) => panic!("receiving a frame: {e}"),
        Err(_) => panic!("no frame within {WAIT:?}"),
    }
}

async fn recv_n(rx: &mut broadcast::Receiver<Frame>, n: usize) -> Vec<Frame> {
    let mut frames = Vec::with_capacity(n);
    for _ in 0..n {
        frames.push(recv(rx).await);
    }
    frames
}

/// Nothing more arrives for a while (a closed channel counts as nothing: the bus dropped the
/// sender at `unsubscribe`).
async fn quiet(rx: &mut broadcast::Receiver<Frame>) {
    match tokio::time::timeout(QUIET, rx.recv()).await {
        Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => {}
        Ok(other) => panic!("expected no more frames, got {other:?}"),
    }
}

fn seqs(frames: &[Frame]) -> Vec<u64> {
    frames.iter().map(|f| f.seq).collect()
}

fn same(a: &Frame, b: &Frame) {
    assert_eq!(
        (a.seq, a.text.as_str(), a.published_ms),
        (b.seq, b.text.as_str(), b.published_ms)
    );
}

fn missed(replay: Replay) -> Vec<Frame> {
    match replay {
        Replay::Frames(frames) => frames,
        Replay::TooOld => panic!("expected frames, got TooOld"),
    }
}

fn too_old(replay: Replay) {
    if let Replay::Frames(frames) = replay {
        panic!("expected TooOld, got frames {:?}", seqs(&frames));
    }
}

async fn publish(bus: &Arc<dyn Bus>, show: &Show, event: &Broadcast) -> Frame {
    bus.publish(show, event).await.expect("publish")
}

/// The presence frames in the show's log, as text.
async fn presence_log(bus: &Arc<dyn Bus>, show: &Show) -> Vec<String> {
    missed(bus.since(show, 0).await.expect("since"))
        .iter()
        .map(|f| f.text.to_string())
        .filter(|t| t.starts_with(r#"{"type":"presence""#))
        .collect()
}

// ---- contracts ------------------------------------------------------------------------------

async fn seq_starts_at_one_and_frames_are_sealed(backend: Backend) {
    let bus = backend.bus(limits()).await;
    let show = new_show();
    let events = [
        Broadcast::Chat(chat("hello | world")),
        reactions(3),
        Broadcast::Presence { viewers: 9 },
        Broadcast::ShowStatus {
            status: livesale::domain::ShowStatus::Live,
        },
    ];
    let before = SystemClock.now_ms();
    for (i, event) in events.iter().enumerate() {
        let frame = publish(&bus, &show, event).await;
        let seq = i as u64 + 1;
        assert_eq!(frame.seq, seq);
        assert_eq!(
            frame.text.as_str(),
            format!("{}{seq}}}", event.json_prefix(0))
        );
        let json: serde_json::Value = serde_json::from_str(frame.text.as_str()).expect("JSON");
        assert_eq!(json["seq"], seq);
        let mut expected = serde_json::to_value(event).unwrap();
        expected["seq"] = seq.into();
        assert_eq!(json, expected);
        // Redis's clock and ours may differ by a little.
        assert!(frame.published_ms + 1_000 >= before, "{frame:?}");
        assert!(
            frame.published_ms <= SystemClock.now_ms() + 1_000,
            "{frame:?}"
        );
    }
    assert_eq!(bus.snapshot(&show).await.unwrap().seq, 4);
}

async fn subscriber_receives_frames_in_order(backend: Backend) {
    let bus = backend.bus(limits()).await;
    let show = new_show();
    let mut rx = subscribed(&bus, &show).await;
    let mut published = Vec::new();
    for i in 0..20 {
        let event = if i % 3 == 0 {
            Broadcast::Chat(chat(&format!("message {i}")))
        } else {
            reactions(i)
        };
        published.push(publish(&bus, &show, &event).await);
    }
    let received = recv_n(&mut rx, 20).await;
    for (got, sent) in received.iter().zip(&published) {
        same(got, sent);
    }
    assert_eq!(seqs(&received), (1..=20).collect::<Vec<_>>());
    quiet(&mut rx).await;
}

async fn unsubscribe_stops_delivery(backend: Backend) {
    let bus = backend.bus(limits()).await;
    let show = new_show();
    let mut rx = subscribed(&bus, &show).await;
    publish(&bus, &show, &reactions(1)).await;
    assert_eq!(recv(&mut rx).await.seq, 1);
    bus.unsubscribe(&show).await;
    publish(&bus, &show, &reactions(2)).await;
    quiet(&mut rx).await;
    // Subscribing again starts from the show's current seq.
    let mut again = subscribed(&bus, &show).await;
    publish(&bus, &show, &reactions(3)).await;
    assert_eq!(recv(&mut again).await.seq, 3);
}

async fn shows_are_separate(backend: Backend) {
    let bus = backend.bus(limits()).await;
    let a = new_show();
    let b = show_of(a.creator_id); // same creator: same Redis slot, still separate
    let mut rx_a = subscribed(&bus, &a).await;
    let mut rx_b = subscribed(&bus, &b).await;
    assert_eq!(publish(&bus, &a, &reactions(1)).await.seq, 1);
    assert_eq!(publish(&bus, &b, &reactions(1)).await.seq, 1);
    assert_eq!(publish(&bus, &b, &reactions(2)).await.seq, 2);
    assert_eq!(seqs(&recv_n(&mut rx_a, 1).await), [1]);
    assert_eq!(seqs(&recv_n(&mut rx_b, 2).await), [1, 2]);
    quiet(&mut rx_a).await;
    assert_eq!(bus.snapshot(&a).await.unwrap().seq, 1);
    assert_eq!(bus.snapshot(&b).await.unwrap().seq, 2);
}

async fn since_returns_exactly_the_missed_frames(backend: Backend) {
    let bus = backend.bus(limits()).await;
    let show = new_show();
    // A show nobody published to yet.
    assert!(missed(bus.since(&show, 0).await.unwrap()).is_empty());
    let mut published = Vec::new();
    for i in 0..10 {
        published.push(publish(&bus, &show, &reactions(i)).await);
    }
    for last in [0, 4, 9] {
        let frames = missed(bus.since(&show, last).await.unwrap());
        assert_eq!(seqs(&frames), (last + 1..=10).collect::<Vec<_>>());
        for (got, sent) in frames.iter().zip(&published[last as usize..]) {
            same(got, sent);
        }
    }
    assert!(missed(bus.since(&show, 10).await.unwrap()).is_empty());
}

async fn since_is_too_old_when_trimmed(backend: Backend) {
    let bus = backend
        .bus(LogLimits {
            max_frames: 3,
            ..limits()
        })
        .await;
    let show = new_show();
    for i in 0..10 {
        publish(&bus, &show, &reactions(i)).await;
    }
    assert_eq!(
        seqs(&missed(bus.since(&show, 7).await.unwrap())),
        [8, 9, 10]
    );
    assert_eq!(seqs(&missed(bus.since(&show, 9).await.unwrap())), [10]);
    too_old(bus.since(&show, 6).await.unwrap());
    too_old(bus.since(&show, 0).await.unwrap());
    assert!(missed(bus.since(&show, 10).await.unwrap()).is_empty());
}

async fn since_is_too_old_when_expired(backend: Backend) {
    let bus = backend
        .bus(LogLimits {
            max_age: Duration::from_millis(1_000),
            ..limits()
        })
        .await;
    let show = new_show();
    publish(&bus, &show, &reactions(1)).await;
    publish(&bus, &show, &reactions(2)).await;
    assert_eq!(seqs(&missed(bus.since(&show, 0).await.unwrap())), [1, 2]);
    backend.elapse(Duration::from_millis(1_300)).await;
    too_old(bus.since(&show, 0).await.unwrap());
    too_old(bus.since(&show, 1).await.unwrap());
    // Being current is never too old.
    assert!(missed(bus.since(&show, 2).await.unwrap()).is_empty());
    // A fresh frame is replayable again, on its own.
    publish(&bus, &show, &reactions(3)).await;
    assert_eq!(seqs(&missed(bus.since(&show, 2).await.unwrap())), [3]);
}

async fn since_is_too_old_when_ahead(backend: Backend) {
    let bus = backend.bus(limits()).await;
    let show = new_show();
    too_old(bus.since(&show, 1).await.unwrap());
    publish(&bus, &show, &reactions(1)).await;
    publish(&bus, &show, &reactions(2)).await;
    too_old(bus.since(&show, 3).await.unwrap());
    too_old(bus.since(&show, 1_000_000).await.unwrap());
    assert!(missed(bus.since(&show, 2).await.unwrap()).is_empty());
}

async fn snapshot_has_recent_chat_oldest_first(backend: Backend) {
    let bus = backend.bus(limits()).await; // chat_history: 3
    let show = new_show();
    let empty = bus.snapshot(&show).await.unwrap();
    assert_eq!((empty.seq, empty.chat.len(), empty.viewers), (0, 0, 0));

    let mut sent = Vec::new();
    for i in 0..5 {
        let message = chat(&format!("message {i} with \"quotes\" and | bars"));
        let frame = publish(&bus, &show, &Broadcast::Chat(message.clone())).await;
        sent.push(ChatMessage {
            seq: Some(frame.seq),
            ..message
        });
        publish(&bus, &show, &reactions(i)).await;
    }
    let snapshot = bus.snapshot(&show).await.unwrap();
    assert_eq!(snapshot.seq, 10);
    assert_eq!(snapshot.chat, sent[2..].to_vec());
    assert_eq!(
        snapshot
            .chat
            .iter()
            .map(|c| c.seq.unwrap())
            .collect::<Vec<_>>(),
        [5, 7, 9]
    );
    assert_eq!(snapshot.viewers, 0);
}

async fn presence_sums_nodes_and_broadcasts_once_per_change(backend: Backend) {
    let bus = backend.bus(limits()).await;
    let show = new_show();
    let mut rx = subscribed(&bus, &show).await;
    assert_eq!(bus.report_presence(&show, "a", 3).await.unwrap(), 3);
    assert_eq!(bus.report_presence(&show, "b", 4).await.unwrap(), 7);
    // Both nodes keep reporting the same counts: the sum is unchanged, nothing is sent.
    for _ in 0..3 {
        assert_eq!(bus.report_presence(&show, "a", 3).await.unwrap(), 7);
        assert_eq!(bus.report_presence(&show, "b", 4).await.unwrap(), 7);
    }
    let frames = recv_n(&mut rx, 2).await;
    assert_eq!(frames[0].text.as_str(), presence_frame(3, 1));
    assert_eq!(frames[1].text.as_str(), presence_frame(7, 2));
    quiet(&mut rx).await;
    assert_eq!(bus.snapshot(&show).await.unwrap().viewers, 7);

    // One change, reported by both nodes at once: one broadcast.
    let (x, y) = tokio::join!(
        bus.report_presence(&show, "a", 10),
        bus.report_presence(&show, "b", 4)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert!(x == 14 && (y == 14 || y == 7), "{x} {y}");
    assert_eq!(bus.report_presence(&show, "b", 4).await.unwrap(), 14);
    assert_eq!(recv(&mut rx).await.text.as_str(), presence_frame(14, 3));
    quiet(&mut rx).await;
    assert_eq!(presence_log(&bus, &show).await.len(), 3);
}

async fn presence_is_throttled(backend: Backend) {
    let bus = backend
        .bus(LogLimits {
            presence_every: Duration::from_millis(1_000),
            ..limits()
        })
        .await;
    let show = new_show();
    assert_eq!(bus.report_presence(&show, "a", 1).await.unwrap(), 1);
    // Changes within the window are summed but not broadcast; viewers stays what was sent.
    assert_eq!(bus.report_presence(&show, "a", 2).await.unwrap(), 2);
    assert_eq!(bus.report_presence(&show, "b", 1).await.unwrap(), 3);
    assert_eq!(bus.snapshot(&show).await.unwrap().viewers, 1);
    assert_eq!(presence_log(&bus, &show).await, [presence_frame(1, 1)]);
    backend.elapse(Duration::from_millis(1_200)).await;
    assert_eq!(bus.report_presence(&show, "a", 2).await.unwrap(), 3);
    assert_eq!(bus.report_presence(&show, "b", 1).await.unwrap(), 3);
    assert_eq!(bus.snapshot(&show).await.unwrap().viewers, 3);
    assert_eq!(
        presence_log(&bus, &show).await,
        [presence_frame(1, 1), presence_frame(3, 2)]
    );
}

async fn stale_nodes_drop_out(backend: Backend) {
    let bus = backend
        .bus(LogLimits {
            presence_stale: Duration::from_millis(1_000),
            ..limits()
        })
        .await;
    let show = new_show();
    assert_eq!(bus.report_presence(&show, "a", 3).await.unwrap(), 3);
    assert_eq!(bus.report_presence(&show, "b", 4).await.unwrap(), 7);
    backend.elapse(Duration::from_millis(600)).await;
    assert_eq!(bus.report_presence(&show, "a", 3).await.unwrap(), 7);
    backend.elapse(Duration::from_millis(600)).await;
    // b last reported 1.2 s ago, a 0.6 s ago.
    assert_eq!(bus.report_presence(&show, "a", 3).await.unwrap(), 3);
    assert_eq!(bus.snapshot(&show).await.unwrap().viewers, 3);
    assert_eq!(
        presence_log(&bus, &show).await,
        [
            presence_frame(3, 1),
            presence_frame(7, 2),
            presence_frame(3, 3)
        ]
    );
    // A node that reports again counts again.
    assert_eq!(bus.report_presence(&show, "b", 1).await.unwrap(), 4);
}

async fn concurrent_publishes_are_contiguous(backend: Backend) {
    let bus = backend.bus(limits()).await;
    let show = new_show();
    let mut rx = subscribed(&bus, &show).await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (bus, show) = (bus.clone(), show.clone());
        tasks.push(tokio::spawn(async move {
            let mut frames = Vec::new();
            for i in 0..25 {
                frames.push(publish(&bus, &show, &reactions(t * 100 + i)).await);
            }
            frames
        }));
    }
    let mut published = Vec::new();
    for task in tasks {
        published.extend(task.await.expect("publisher task"));
    }
    published.sort_by_key(|f| f.seq);
    assert_eq!(seqs(&published), (1..=200).collect::<Vec<_>>());
    let received = recv_n(&mut rx, 200).await;
    assert_eq!(seqs(&received), (1..=200).collect::<Vec<_>>());
    for (got, sent) in received.iter().zip(&published) {
        same(got, sent);
    }
    quiet(&mut rx).await;
}

// ---- Redis only -----------------------------------------------------------------------------

async fn redis_bus(url: &str, prefix: &str, limits: LogLimits) -> Arc<dyn Bus> {
    Arc::new(
        RedisBus::connect(url, prefix, TIMEOUT, limits)
            .await
            .unwrap_or_else(|e| panic!("cannot connect the bus to {url}: {e}")),
    )
}

async fn plain(url: &str) -> ::redis::aio::MultiplexedConnection {
    ::redis::Client::open(url)
        .expect("redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("a plain redis connection")
}

async fn kill_pubsub(url: &str) {
    let killed: u64 = ::redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut plain(url).await)
        .await
        .expect("CLIENT KILL");
    assert!(killed >= 1, "no pub/sub connection was killed");
}

/// Receives until `n` frames arrived and checks they are 1..=n in order, then that no more
/// (duplicates) follow.
async fn expect_exactly(rx: &mut broadcast::Receiver<Frame>, n: u64) -> Vec<Frame> {
    let frames = recv_n(rx, n as usize).await;
    assert_eq!(seqs(&frames), (1..=n).collect::<Vec<_>>());
    quiet(rx).await;
    frames
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_a_frame_crosses_nodes() {
    let (url, prefix) = (redis_url(), unique_prefix("crosses"));
    let a = redis_bus(&url, &prefix, limits()).await;
    let b = redis_bus(&url, &prefix, limits()).await;
    let show = new_show();
    let mut rx_b = subscribed(&b, &show).await;
    let sent = publish(&a, &show, &Broadcast::Chat(chat("from a"))).await;
    same(&recv(&mut rx_b).await, &sent);
    // B's view of the log and the snapshot agree with A's.
    same(&missed(b.since(&show, 0).await.unwrap())[0], &sent);
    let snapshot = b.snapshot(&show).await.unwrap();
    assert_eq!((snapshot.seq, snapshot.chat.len()), (1, 1));
    assert_eq!(snapshot.chat[0].text, "from a");
    quiet(&mut rx_b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_concurrent_nodes_agree() {
    let (url, prefix) = (redis_url(), unique_prefix("agree"));
    let a = redis_bus(&url, &prefix, limits()).await;
    let b = redis_bus(&url, &prefix, limits()).await;
    let show = new_show();
    let mut rx_a = subscribed(&a, &show).await;
    let mut rx_b = subscribed(&b, &show).await;
    let mut tasks = Vec::new();
    for (t, bus) in [&a, &b, &a, &b].into_iter().enumerate() {
        let (bus, show) = (bus.clone(), show.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                publish(&bus, &show, &reactions(t as u64 * 1000 + i)).await;
            }
        }));
    }
    // Both nodes report presence meanwhile: one frame for the change, whoever reports.
    let (x, y) = tokio::join!(
        a.report_presence(&show, "node-a", 2),
        b.report_presence(&show, "node-b", 2)
    );
    assert!(x.is_ok() && y.is_ok());
    for task in tasks {
        task.await.expect("publisher task");
    }
    let seen_a = expect_exactly(&mut rx_a, 202).await;
    let seen_b = expect_exactly(&mut rx_b, 202).await;
    for (x, y) in seen_a.iter().zip(&seen_b) {
        same(x, y);
    }
    let presence: Vec<_> = seen_a
        .iter()
        .filter(|f| f.text.as_str().starts_with(r#"{"type":"presence""#))
        .collect();
    assert_eq!(presence.len(), 2, "one presence frame per distinct sum");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_pubsub_connection_is_gap_filled() {
    // A private Redis, so killing pub/sub connections disturbs no other test.
    let redis = PrivateRedis::start();
    let url = redis.url.clone();
    let publisher = redis_bus(&url, "t-kill", limits()).await;
    let subscriber = redis_bus(&url, "t-kill", limits()).await;
    let show = new_show();
    let mut rx = subscribed(&subscriber, &show).await;
    for i in 0..5 {
        publish(&publisher, &show, &reactions(i)).await;
    }
    assert_eq!(seqs(&recv_n(&mut rx, 5).await), [1, 2, 3, 4, 5]);

    // Published while the subscriber reconnects, then nothing: the reconnect check fills it.
    kill_pubsub(&url).await;
    for i in 5..15 {
        publish(&publisher, &show, &reactions(i)).await;
    }
    assert_eq!(
        seqs(&recv_n(&mut rx, 10).await),
        (6..=15).collect::<Vec<_>>()
    );
    quiet(&mut rx).await;

    // Publishing on through two kills: gaps are filled when the next frame shows them, and
    // the frames both filled and delivered by pub/sub arrive once.
    let publishing = {
        let (publisher, show) = (publisher.clone(), show.clone());
        tokio::spawn(async move {
            for i in 15..75 {
                publish(&publisher, &show, &reactions(i)).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(80)).await;
    kill_pubsub(&url).await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    kill_pubsub(&url).await;
    publishing.await.expect("publisher task");
    let rest = recv_n(&mut rx, 60).await;
    assert_eq!(seqs(&rest), (16..=75).collect::<Vec<_>>());
    quiet(&mut rx).await;
    let log = missed(subscriber.since(&show, 15).await.unwrap());
    for (got, logged) in rest.iter().zip(&log) {
        same(got, logged);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restart_resumes_delivery() {
    let mut redis = PrivateRedis::start();
    let url = redis.url.clone();
    let bus = redis_bus(&url, "t-restart", limits()).await;
    let show = new_show();
    let mut rx = subscribed(&bus, &show).await;
    for i in 0..3 {
        publish(&bus, &show, &reactions(i)).await;
    }
    assert_eq!(seqs(&recv_n(&mut rx, 3).await), [1, 2, 3]);

    redis.stop();
    let down = tokio::time::timeout(WAIT, bus.publish(&show, &reactions(9)))
        .await
        .expect("publish hung while Redis was down");
    assert!(matches!(down, Err(StoreError::Unavailable(_))), "{down:?}");

    // The private Redis has no persistence: the show starts again at seq 1, and the listener
    // treats the lower seq as a reset, not as a duplicate.
    redis.restart();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let first = loop {
        match bus.publish(&show, &reactions(1)).await {
            Ok(frame) => break frame,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("waiting for redis after the restart: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the bus did not come back after the restart: {e}"),
        }
    };
    assert_eq!(first.seq, 1);
    same(&recv(&mut rx).await, &first);
    let second = publish(&bus, &show, &reactions(2)).await;
    same(&recv(&mut rx).await, &second);
    quiet(&mut rx).await;
    // A client that resumes from before the loss is told to resync.
    too_old(bus.since(&show, 3).await.unwrap());
    assert_eq!(bus.snapshot(&show).await.unwrap().seq, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_data_loss_without_reconnect_restarts_delivery() {
    let (url, prefix) = (redis_url(), unique_prefix("loss"));
    let bus = redis_bus(&url, &prefix, limits()).await;
    let show = new_show();
    let mut rx = subscribed(&bus, &show).await;
    for i in 0..3 {
        publish(&bus, &show, &reactions(i)).await;
    }
    assert_eq!(seqs(&recv_n(&mut rx, 3).await), [1, 2, 3]);
    // The show's keys vanish (expiry, eviction, FLUSHDB) while the connection stays up.
    let base = format!("{prefix}:{{c:{}}}:show:{}", show.creator_id, show.id);
    let _: () = ::redis::cmd("DEL")
        .arg(format!("{base}:seq"))
        .arg(format!("{base}:log"))
        .query_async(&mut plain(&url).await)
        .await
        .unwrap();
    let first = publish(&bus, &show, &reactions(1)).await;
    assert_eq!(first.seq, 1);
    same(&recv(&mut rx).await, &first);
    let second = publish(&bus, &show, &reactions(2)).await;
    same(&recv(&mut rx).await, &second);
    quiet(&mut rx).await;
}

/// The listener's own rules, driven by writing to Redis directly: a frame whose pub/sub message
/// was lost is filled from the log when the next one arrives; a repeated message and a
/// malformed one are dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_lost_message_is_filled_and_duplicates_dropped() {
    let (url, prefix) = (redis_url(), unique_prefix("lost"));
    let bus = redis_bus(&url, &prefix, limits()).await;
    let show = new_show();
    let mut rx = subscribed(&bus, &show).await;
    let first = publish(&bus, &show, &reactions(1)).await;
    same(&recv(&mut rx).await, &first);

    // Sequence and log seq 2 the way the publish script does, but never PUBLISH it.
    let base = format!("{prefix}:{{c:{}}}:show:{}", show.creator_id, show.id);
    let lost = format!("{}2}}", reactions(2).json_prefix(0));
    let mut con = plain(&url).await;
    let seq: u64 = ::redis::cmd("INCR")
        .arg(format!("{base}:seq"))
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(seq, 2);
    let _: String = ::redis::cmd("XADD")
        .arg(format!("{base}:log"))
        .arg("2-0")
        .arg("f")
        .arg(&lost)
        .arg("t")
        .arg(first.published_ms + 1)
        .query_async(&mut con)
        .await
        .unwrap();
    let third = publish(&bus, &show, &reactions(3)).await;
    assert_eq!(third.seq, 3);
    let filled = recv(&mut rx).await;
    assert_eq!((filled.seq, filled.text.as_str()), (2, lost.as_str()));
    same(&recv(&mut rx).await, &third);

    // The same message again, and one that is not seq|ms|frame.
    for payload in [
        format!("3|{}|{}", third.published_ms, third.text.as_str()),
        "nonsense".to_string(),
    ] {
        let _: u64 = ::redis::cmd("PUBLISH")
            .arg(format!("{base}:room"))
            .arg(payload)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    quiet(&mut rx).await;
    let fourth = publish(&bus, &show, &reactions(4)).await;
    same(&recv(&mut rx).await, &fourth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_keys_share_the_creator_slot_and_expire() {
    let (url, prefix) = (redis_url(), unique_prefix("keys"));
    let bus = redis_bus(&url, &prefix, limits()).await;
    let show = new_show();
    publish(&bus, &show, &Broadcast::Chat(chat("hi"))).await;
    bus.report_presence(&show, "a", 1).await.unwrap();
    let base = format!("{prefix}:{{c:{}}}:show:{}", show.creator_id, show.id);
    let mut con = plain(&url).await;
    for (name, kind) in [
        ("seq", "string"),
        ("log", "stream"),
        ("chat", "list"),
        ("presence", "hash"),
        ("presence_at", "hash"),
        ("presence_sent", "hash"),
    ] {
        let key = format!("{base}:{name}");
        let found: String = ::redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(found, kind, "{key}");
        let ttl: i64 = ::redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(ttl > 0 && ttl <= 24 * 3600, "{key} has TTL {ttl}");
    }
}

/// A subscribed sender that has no receivers at the moment of a publish (no local viewers
/// yet, or all gone while the room lingers) must keep receiving later frames. Redis only for
/// now: `MemoryBus::append` drops such senders for good (`retain` keeps a sender only if its
/// send succeeded or it has receivers), which contradicts its own comment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_subscriber_without_receivers_stays_subscribed() {
    let bus = Backend::redis("no-receivers").bus(limits()).await;
    let show = new_show();
    let (tx, rx) = broadcast::channel(16);
    drop(rx);
    bus.subscribe(&show, tx.clone()).await.unwrap();
    publish(&bus, &show, &reactions(1)).await; // nobody listening
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut rx = tx.subscribe();
    publish(&bus, &show, &reactions(2)).await;
    assert_eq!(recv(&mut rx).await.seq, 2);
}

#[tokio::test]
async fn redis_bad_prefix_and_unreachable_redis_fail_promptly() {
    for prefix in ["", "a{b", "a}b"] {
        let result = RedisBus::connect(&redis_url(), prefix, TIMEOUT, limits()).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{prefix:?}"
        );
    }
    // Nothing listens on port 1.
    let started = std::time::Instant::now();
    let result = RedisBus::connect("redis://127.0.0.1:1/", "t", TIMEOUT, limits()).await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_secs(10));
}
