//! The live room end to end, with real WebSocket clients (tokio-tungstenite) and at least two
//! viewers per test, on both stores: chat, the one seq order, `welcome`, `show.status`,
//! reaction aggregation, presence, resume and resync, every limit with its exact close code or
//! error code, slow consumers, idle reaping, graceful shutdown and hostile text.
//! The protocol itself is described in docs/protocol.md.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::server::{Backend, TestServer, s, test_config};
use common::ws::{Ending, Incoming, WAIT, WsClient};
use futures::{SinkExt, StreamExt};
use livesale::config::Config;
use livesale::domain::{CreatorId, InviteId, Principal, ShowId, ViewerId};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use uuid::Uuid;

on_both_stores!(
    chat_round_trip_in_one_order_for_everyone,
    every_broadcast_carries_one_increasing_seq,
    welcome_describes_the_room,
    show_status_is_broadcast,
    reactions_are_aggregated_into_counts,
    reaction_rate_is_capped,
    presence_follows_joins_and_leaves,
    resume_at_connect_replays_without_welcome,
    resume_message_fills_the_gap_before_welcome,
    resync_when_the_gap_is_too_long,
    resync_when_the_gap_is_too_old,
    chat_text_limits,
    chat_rate_is_limited_per_person,
    malformed_and_unknown_messages_get_error_frames,
    oversized_frames_close_1009,
    binary_frames_close_1003,
    tokens_and_versions_are_checked_at_connect,
    cameras_cannot_chat_or_react,
    slow_consumer_is_dropped_while_others_keep_their_latency,
    idle_connections_are_pinged_and_dead_ones_reaped,
    shutdown_closes_with_1001,
    a_client_close_is_answered,
    hostile_text_is_plain_text,
    a_room_left_empty_still_delivers_to_new_joiners,
    protocol_violations_close_1002_and_bad_utf8_1007,
    a_silent_upgrade_is_dropped_after_the_handshake_timeout,
    commerce_news_carries_pts_on_the_servers_clock,
);

// ---------------------------------------------------------------------------------------------
// Fixture and helpers

/// A server with one creator and one scheduled show.
struct Room {
    srv: TestServer,
    /// The creator's token.
    creator: String,
    show: String,
}

const CREATOR_NAME: &str = "Ann's Studio";
const TITLE: &str = "Friday drop";

async fn room(config: Config) -> Room {
    let srv = TestServer::start_with(config).await;
    let (_, creator) = srv.creator(CREATOR_NAME).await;
    let show = srv.show(&creator, TITLE).await;
    Room { srv, creator, show }
}

impl Room {
    /// A guest viewer identity; (viewer_id, token).
    async fn viewer(&self, name: &str) -> (String, String) {
        self.srv.viewer(&self.show, name).await
    }

    /// A new viewer connected to the room, past its `welcome`.
    async fn join(&self, name: &str) -> (WsClient, Value) {
        let (_, token) = self.viewer(name).await;
        WsClient::join(&self.srv, &self.show, Some(&token)).await
    }

    async fn join_with(&self, token: Option<&str>) -> (WsClient, Value) {
        WsClient::join(&self.srv, &self.show, token).await
    }

    async fn connect(&self, token: Option<&str>, query: &str) -> WsClient {
        WsClient::connect(&self.srv, &self.show, token, query).await
    }

    async fn lifecycle(&self, action: &str) {
        let (status, body) = self
            .srv
            .post(
                &format!("/api/shows/{}/{action}", self.show),
                Some(&self.creator),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{action}: {body}");
    }
}

/// A config with chat limits out of the way (for tests about something else).
fn roomy(backend: Backend) -> Config {
    let mut config = test_config(backend);
    config.chat_rate = 10_000;
    config.chat_rate_period_s = 1;
    config
}

fn ty(v: &Value) -> &str {
    v["type"].as_str().unwrap_or("")
}

fn seq(v: &Value) -> u64 {
    v["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("frame without a seq: {v}"))
}

/// Frames that go through the show's sequencer (everything but the per-connection ones).
fn is_broadcast(v: &Value) -> bool {
    !matches!(ty(v), "welcome" | "error" | "pong")
}

/// The highest seq among `frames` (broadcasts and welcomes), or `floor`.
fn last_seq(floor: u64, frames: &[Value]) -> u64 {
    frames
        .iter()
        .filter(|f| is_broadcast(f) || ty(f) == "welcome")
        .map(seq)
        .fold(floor, u64::max)
}

/// Every broadcast in `frames` carries a seq, and together they are exactly after+1, after+2,
/// ... (a connection sees each frame of its show once, in order, with no gap).
fn assert_contiguous(after: u64, frames: &[Value], who: &str) {
    for (expect, f) in (after + 1..).zip(frames.iter().filter(|f| is_broadcast(f))) {
        assert_eq!(seq(f), expect, "{who}: expected seq {expect}, got {f}");
    }
}

fn chats(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| ty(f) == "chat.message")
        .map(|f| s(&f["text"]))
        .collect()
}

/// The texts of a welcome's chat history (entries have no `type`).
fn history(welcome: &Value) -> Vec<String> {
    welcome["chat"]
        .as_array()
        .unwrap_or_else(|| panic!("welcome without chat: {welcome}"))
        .iter()
        .map(|m| s(&m["text"]))
        .collect()
}

fn errors(frames: &[Value]) -> Vec<&Value> {
    frames.iter().filter(|f| ty(f) == "error").collect()
}

/// The answer to a `chat.send`: the next `error` or `chat.message` (presence etc. skipped).
async fn chat_reply(c: &mut WsClient) -> Value {
    let mut frames = c
        .collect_until(|v| matches!(ty(v), "error" | "chat.message"), WAIT)
        .await;
    frames.pop().unwrap()
}

/// The next `error` frame; asserts its code and shape.
async fn expect_error(c: &mut WsClient, code: &str, what: &str) -> Value {
    let frames = c.collect_until(|v| ty(v) == "error", WAIT).await;
    let e = frames.last().unwrap().clone();
    assert_eq!(e["code"], code, "{what}: {e}");
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: an error has a message: {e}"
    );
    assert!(
        e.get("seq").is_none(),
        "{what}: errors are not broadcasts: {e}"
    );
    e
}

/// Connects and expects to be refused with a close frame before any other frame.
async fn refused(room: &Room, token: Option<&str>, query: &str) -> (u16, String) {
    let mut c = room.connect(token, query).await;
    match c.expect_end(WAIT).await {
        (Ending::Close(code, reason), 0) => (code, reason),
        other => panic!(
            "expected a refusal (close frame first) for {}: got {other:?}",
            c.url
        ),
    }
}

fn reaction(kind: &str) -> Message {
    Message::Text(
        json!({ "type": "reaction.send", "kind": kind })
            .to_string()
            .into(),
    )
}

fn chat_msg(text: &str) -> Message {
    Message::Text(
        json!({ "type": "chat.send", "text": text })
            .to_string()
            .into(),
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------------
// Chat and ordering

async fn chat_round_trip_in_one_order_for_everyone(backend: Backend) {
    let room = room(test_config(backend)).await;
    let (ada_id, ada) = room.viewer("Ada").await;
    let (_, bob) = room.viewer("Bob").await;
    let (_, cy) = room.viewer("Cy").await;
    let (mut a, wa) = room.join_with(Some(&ada)).await;
    let (mut b, wb) = room.join_with(Some(&bob)).await;
    let (mut c, wc) = room.join_with(Some(&cy)).await;

    // Two senders interleaved, neither waiting for the other.
    for i in 0..10 {
        a.chat(&format!("a{i}")).await;
        b.chat(&format!("b{i}")).await;
    }
    let mut views = Vec::new();
    for (who, client, welcome) in [
        ("Ada", &mut a, &wa),
        ("Bob", &mut b, &wb),
        ("Cy", &mut c, &wc),
    ] {
        let mut n = 0;
        let frames = client
            .collect_until(
                |v| {
                    n += usize::from(ty(v) == "chat.message");
                    n == 20
                },
                WAIT,
            )
            .await;
        assert!(errors(&frames).is_empty(), "{who}: {frames:?}");
        assert_contiguous(seq(welcome), &frames, who);
        let messages: Vec<Value> = frames
            .into_iter()
            .filter(|f| ty(f) == "chat.message")
            .collect();
        views.push(messages);
    }
    assert_eq!(views[0], views[1], "Ada and Bob saw different chats");
    assert_eq!(views[0], views[2], "Ada and Cy saw different chats");

    let texts = chats(&views[0]);
    let from = |p: char| {
        texts
            .iter()
            .filter(|t| t.starts_with(p))
            .cloned()
            .collect::<Vec<_>>()
    };
    let expect = |p: char| (0..10).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
    assert_eq!(
        from('a'),
        expect('a'),
        "one sender's messages keep their order"
    );
    assert_eq!(
        from('b'),
        expect('b'),
        "one sender's messages keep their order"
    );

    let seqs: Vec<u64> = views[0].iter().map(seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs increase: {seqs:?}"
    );
    let ids: HashSet<&str> = views[0].iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 20, "every message has its own id");

    let m = views[0].iter().find(|m| m["text"] == "a0").unwrap();
    assert_eq!(m["type"], "chat.message");
    assert_eq!(m["author"]["id"], ada_id.as_str(), "{m}");
    assert_eq!(m["author"]["name"], "Ada", "{m}");
    assert_eq!(m["role"], "viewer", "{m}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(m["at"].as_str().unwrap()).is_ok(),
        "at is RFC 3339: {m}"
    );
}

async fn every_broadcast_carries_one_increasing_seq(backend: Backend) {
    let mut config = roomy(backend);
    config.reaction_window_ms = 100;
    let room = room(config).await;
    let (mut a, wa) = room.join("Ada").await;
    let (mut b, wb) = room.join("Bob").await;
    let mut seen_a = Vec::new();

    room.lifecycle("start").await;
    a.chat("hello").await;
    b.send(reaction("heart")).await;
    b.send(reaction("fire")).await;
    seen_a.extend(a.collect_until(|v| ty(v) == "reactions", WAIT).await);
    // Presence moves up and down with a third connection (a guest).
    let (g, wg) = room.join_with(None).await;
    seen_a.extend(
        a.collect_until(
            |v| ty(v) == "presence" && v["viewers"] == 3 && seq(v) > seq(&wg),
            WAIT,
        )
        .await,
    );
    drop(g);
    seen_a.extend(
        a.collect_until(|v| ty(v) == "presence" && v["viewers"] == 2, WAIT)
            .await,
    );
    room.lifecycle("end").await;
    let ended = |v: &Value| ty(v) == "show.status" && v["status"] == "ended";
    seen_a.extend(a.collect_until(ended, WAIT).await);
    let seen_b = b.collect_until(ended, WAIT).await;

    assert_contiguous(seq(&wa), &seen_a, "Ada");
    assert_contiguous(seq(&wb), &seen_b, "Bob");
    let kinds: HashSet<&str> = seen_a.iter().map(ty).collect();
    for kind in ["chat.message", "reactions", "presence", "show.status"] {
        assert!(kinds.contains(kind), "no {kind} among {kinds:?}");
    }
    let statuses: Vec<&Value> = seen_a
        .iter()
        .filter(|v| ty(v) == "show.status")
        .map(|v| &v["status"])
        .collect();
    assert_eq!(statuses, [&json!("live"), &json!("ended")]);
    // Both connections saw the very same frames under the same seqs.
    let from = seq(&wa).max(seq(&wb));
    let tail = |frames: &[Value]| -> Vec<Value> {
        frames
            .iter()
            .filter(|f| is_broadcast(f) && seq(f) > from)
            .cloned()
            .collect()
    };
    assert_eq!(tail(&seen_a), tail(&seen_b));
}

async fn welcome_describes_the_room(backend: Backend) {
    let room = room(roomy(backend)).await;
    let (ada_id, ada) = room.viewer("Ada").await;
    let (mut a, wa) = room.join_with(Some(&ada)).await;
    assert_eq!(wa["protocol"], 1, "{wa}");
    assert_eq!(wa["role"], "viewer", "{wa}");
    assert_eq!(wa["you"]["viewer_id"], ada_id.as_str(), "{wa}");
    assert_eq!(wa["you"]["name"], "Ada", "{wa}");
    assert_eq!(wa["show"]["id"], room.show.as_str(), "{wa}");
    assert_eq!(wa["show"]["title"], TITLE, "{wa}");
    assert_eq!(wa["show"]["status"], "scheduled", "{wa}");
    assert_eq!(wa["chat"], json!([]), "{wa}");
    assert_eq!(wa["pins"], json!([]), "{wa}");
    assert_eq!(wa["viewers"], 1, "{wa}");
    assert!(wa.get("program").is_some(), "{wa}");
    assert!(wa["seq"].is_u64(), "{wa}");
    assert!(wa.get("resync").is_none(), "{wa}");

    for i in 1..=60 {
        a.chat(&format!("message {i:02}")).await;
    }
    let frames = a.collect_until(|v| v["text"] == "message 60", WAIT).await;
    assert_eq!(chats(&frames).len(), 60);
    let last = frames.last().map(seq).unwrap();

    let (lucy_id, lucy) = room.viewer("Late Lucy").await;
    let (_l, wl) = room.join_with(Some(&lucy)).await;
    assert_eq!(wl["role"], "viewer", "{wl}");
    assert_eq!(wl["you"]["name"], "Late Lucy", "{wl}");
    assert_eq!(wl["you"]["viewer_id"], lucy_id.as_str(), "{wl}");
    assert_eq!(wl["viewers"], 2, "{wl}");
    assert!(
        seq(&wl) >= last,
        "welcome seq {} is before the last message {last}",
        seq(&wl)
    );
    let history = wl["chat"].as_array().expect("chat is an array");
    assert_eq!(history.len(), 50, "the last 50 messages only");
    let texts: Vec<String> = history.iter().map(|m| s(&m["text"])).collect();
    let expect: Vec<String> = (11..=60).map(|i| format!("message {i:02}")).collect();
    assert_eq!(texts, expect, "oldest first");
    let seqs: Vec<u64> = history.iter().map(seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(seqs.last(), Some(&last));
    for m in history {
        assert_eq!(m["author"], json!({ "id": ada_id, "name": "Ada" }), "{m}");
        assert_eq!(m["role"], "viewer", "{m}");
        assert!(m["id"].is_string() && m["at"].is_string(), "{m}");
    }

    // Every role is named, and a guest has no identity.
    let (_g, wg) = room.join_with(None).await;
    assert_eq!(wg["role"], "guest", "{wg}");
    assert_eq!(wg["you"]["name"], Value::Null, "{wg}");
    assert_eq!(wg["you"]["viewer_id"], Value::Null, "{wg}");
    assert_eq!(
        wg["chat"].as_array().map(Vec::len),
        Some(50),
        "guests see the chat too"
    );
    let (_c, wc) = room.join_with(Some(&room.creator)).await;
    assert_eq!(wc["role"], "creator", "{wc}");
    assert_eq!(wc["you"]["name"], CREATOR_NAME, "{wc}");
    assert_eq!(wc["you"]["viewer_id"], Value::Null, "{wc}");
    let moderator = room
        .srv
        .invite(&room.creator, &room.show, "moderator")
        .await;
    let (_m, wm) = room.join_with(Some(&moderator)).await;
    assert_eq!(wm["role"], "moderator", "{wm}");
    let camera = room.srv.invite(&room.creator, &room.show, "camera").await;
    let (_k, wk) = room.join_with(Some(&camera)).await;
    assert_eq!(wk["role"], "camera", "{wk}");
}

/// The wall clock in Unix ms (the test server's clock is the wall clock: nothing advances it).
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `pin.updated` and `purchase` carry `pts`, the server's wall clock (Unix ms) when the change
/// happened, so a page behind live holds them until its picture gets there; chat does not;
/// `welcome.now_ms` gives a page the server's clock (docs/protocol.md, "pts").
async fn commerce_news_carries_pts_on_the_servers_clock(backend: Backend) {
    let room = room(roomy(backend)).await;
    room.lifecycle("start").await;
    let mug = room.srv.product(&room.creator, "MUG", 1500, 5).await;
    let (status, body) = room
        .srv
        .post(
            &format!("/api/shows/{}/lineup", room.show),
            Some(&room.creator),
            json!({ "product_id": mug }),
        )
        .await;
    assert_eq!(status, 200, "lineup: {body}");
    let before_welcome = wall_ms();
    let (mut a, wa) = room.join("Ada").await;
    let now_ms = wa["now_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("now_ms: {wa}"));
    assert!(
        now_ms + 1_000 >= before_welcome && now_ms <= wall_ms() + 1_000,
        "welcome.now_ms {now_ms} is not the server's clock ({before_welcome}): {wa}"
    );

    let pinned_at = wall_ms();
    let (status, body) = room
        .srv
        .post(
            &format!("/api/shows/{}/pins", room.show),
            Some(&room.creator),
            json!({ "product_id": mug }),
        )
        .await;
    assert_eq!(status, 200, "pin: {body}");
    let (_, buyer) = room.viewer("Bea").await;
    let put = room
        .srv
        .http
        .put(
            room.srv
                .url(&format!("/api/shows/{}/cart/items/{mug}", room.show)),
        )
        .bearer_auth(&buyer)
        .json(&json!({ "quantity": 2 }))
        .send()
        .await
        .expect("cart request");
    assert_eq!(put.status(), 200, "cart");
    let paid_at = wall_ms();
    let order = room
        .srv
        .http
        .post(room.srv.url(&format!("/api/shows/{}/checkout", room.show)))
        .bearer_auth(&buyer)
        .header("Idempotency-Key", "pts-1")
        .send()
        .await
        .expect("checkout request");
    assert_eq!(order.status(), 201, "checkout");
    let mut frames = a
        .collect_until(
            |v| ty(v) == "pin.updated" && v["pins"][0]["stock_left"] == 3,
            WAIT,
        )
        .await;
    let after = wall_ms();
    a.chat("and chat has no pts").await;
    frames.extend(
        a.collect_until(|v| v["text"] == "and chat has no pts", WAIT)
            .await,
    );

    let pts = |v: &Value| -> u64 {
        v["pts"]
            .as_u64()
            .unwrap_or_else(|| panic!("{} without a numeric pts: {v}", ty(v)))
    };
    let pins: Vec<&Value> = frames.iter().filter(|v| ty(v) == "pin.updated").collect();
    assert!(
        pins.len() >= 2,
        "a pin, then the stock after the sale: {frames:?}"
    );
    let first = pts(pins[0]);
    assert!(
        first + 1_000 >= pinned_at && first <= paid_at + 1_000,
        "the pin's pts {first} is not when it was pinned ({pinned_at}..{paid_at})"
    );
    let purchase = frames
        .iter()
        .find(|v| ty(v) == "purchase")
        .unwrap_or_else(|| panic!("no purchase among {frames:?}"));
    let bought = pts(purchase);
    assert!(
        bought + 1_000 >= paid_at && bought <= after + 1_000,
        "the purchase's pts {bought} is not when it was paid ({paid_at}..{after})"
    );
    let sold = pts(pins.last().unwrap());
    // One clock, in the order things happened.
    assert!(first <= bought && bought <= sold, "{first} {bought} {sold}");
    let chat = frames.last().unwrap();
    assert_eq!(ty(chat), "chat.message", "{chat}");
    assert!(chat.get("pts").is_none(), "chat is never held: {chat}");
}

async fn show_status_is_broadcast(backend: Backend) {
    let room = room(test_config(backend)).await;
    let (mut a, _) = room.join("Ada").await;
    let (mut g, _) = room.join_with(None).await;
    room.lifecycle("start").await;
    for c in [&mut a, &mut g] {
        let f = c.next_of_type("show.status", WAIT).await;
        assert_eq!(f["status"], "live", "{f}");
        assert!(f["seq"].is_u64(), "{f}");
    }
    let (mut late, wl) = room.join("Late").await;
    assert_eq!(wl["show"]["status"], "live", "{wl}");
    assert!(wl["show"]["started_at"].is_string(), "{wl}");
    room.lifecycle("end").await;
    for c in [&mut a, &mut g, &mut late] {
        let f = c.next_of_type("show.status", WAIT).await;
        assert_eq!(f["status"], "ended", "{f}");
    }
}

// ---------------------------------------------------------------------------------------------
// Reactions and presence

async fn reactions_are_aggregated_into_counts(backend: Backend) {
    let mut config = test_config(backend);
    config.reaction_rate = 100_000;
    let room = room(config).await;
    let (mut watcher, _) = room.join_with(None).await;
    let mut senders = Vec::new();
    for i in 0..4 {
        senders.push(room.join(&format!("Tapper {i}")).await.0);
    }
    // 4 clients x 250 taps of each kind, all at once: 1,000 hearts and 1,000 fires.
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                for i in 0..250 {
                    for kind in ["heart", "fire"] {
                        c.ws.feed(reaction(kind)).await.expect("send a reaction");
                    }
                    if i % 25 == 24 {
                        c.ws.flush().await.expect("flush");
                    }
                }
                c.ws.flush().await.expect("flush");
                c
            })
        })
        .collect();
    let mut senders = Vec::new();
    for t in tasks {
        senders.push(
            tokio::time::timeout(WAIT, t)
                .await
                .expect("taps sent in time")
                .unwrap(),
        );
    }

    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    let frames = watcher
        .collect_until(
            |v| {
                if ty(v) == "reactions" {
                    for (kind, n) in v["counts"].as_object().expect("counts is an object") {
                        *totals.entry(kind.clone()).or_default() += n.as_u64().expect("a count");
                    }
                }
                totals.get("heart") >= Some(&1000) && totals.get("fire") >= Some(&1000)
            },
            Duration::from_secs(15),
        )
        .await;
    // Nothing more comes after the last window.
    let late = watcher.drain(Duration::from_millis(800)).await;
    let late_reactions: Vec<&Value> = late.iter().filter(|v| ty(v) == "reactions").collect();
    assert!(
        late_reactions.is_empty(),
        "more reactions than taps: {late_reactions:?}"
    );
    let expect: BTreeMap<String, u64> =
        [("fire".to_string(), 1000), ("heart".to_string(), 1000)].into();
    assert_eq!(totals, expect);
    let windows: Vec<Value> = frames
        .into_iter()
        .filter(|v| ty(v) == "reactions")
        .collect();
    assert!(
        !windows.is_empty() && windows.len() < 40,
        "2,000 taps should come as a few frames, got {}",
        windows.len()
    );
    for w in &windows {
        assert!(w["seq"].is_u64(), "{w}");
        assert!(
            w["counts"]
                .as_object()
                .unwrap()
                .values()
                .all(|n| n.as_u64() > Some(0)),
            "{w}"
        );
    }
    // Every tapper saw the very same reaction frames.
    let last = seq(windows.last().unwrap());
    for (i, c) in senders.iter_mut().enumerate() {
        let got: Vec<Value> = c
            .collect_until(|v| is_broadcast(v) && seq(v) >= last, WAIT)
            .await
            .into_iter()
            .filter(|v| ty(v) == "reactions")
            .collect();
        assert_eq!(got, windows, "tapper {i}");
    }
}

async fn reaction_rate_is_capped(backend: Backend) {
    let mut config = test_config(backend);
    config.reaction_rate = 5;
    let room = room(config).await;
    let (mut a, _) = room.join("Ada").await;
    let (mut w, _) = room.join("Watcher").await;

    let t0 = Instant::now();
    for _ in 0..30 {
        a.ws.feed(reaction("heart")).await.unwrap();
    }
    a.ws.flush().await.unwrap();
    let before_pong = a.roundtrip().await;
    let elapsed = t0.elapsed();
    let errs = errors(&before_pong);
    assert_eq!(
        errs.len(),
        1,
        "one refusal per second at most, not one per tap: {errs:?}"
    );
    assert_eq!(errs[0]["code"], "rate_limited", "{}", errs[0]);
    let retry = errs[0]["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!(
        (1..=200).contains(&retry),
        "one token comes every 200 ms; got {retry}"
    );

    let count = |frames: &[Value]| -> u64 {
        frames
            .iter()
            .filter(|v| ty(v) == "reactions")
            .map(|v| v["counts"]["heart"].as_u64().unwrap_or(0))
            .sum()
    };
    let mut seen = w.collect_until(|v| ty(v) == "reactions", WAIT).await;
    seen.extend(w.drain(Duration::from_millis(700)).await);
    let counted = count(&seen);
    let most = 5 + (elapsed.as_secs_f64() * 5.0).ceil() as u64;
    assert!(
        (5..=most).contains(&counted),
        "a burst of 30 taps at 5/s counts the bucket (5) plus what refilled in {elapsed:?}; got {counted}"
    );

    // The bucket refills: after a quiet second (on the server's clock), 5 taps all count.
    room.srv.clock.advance(Duration::from_millis(1100));
    for _ in 0..5 {
        a.ws.feed(reaction("heart")).await.unwrap();
    }
    a.ws.flush().await.unwrap();
    assert!(errors(&a.roundtrip().await).is_empty());
    let mut seen = w.collect_until(|v| ty(v) == "reactions", WAIT).await;
    seen.extend(w.drain(Duration::from_millis(700)).await);
    assert_eq!(count(&seen), 5);

    a.send(reaction("poop")).await;
    expect_error(&mut a, "unknown_reaction", "unknown kind").await;
    a.send(reaction("<script>")).await;
    expect_error(&mut a, "unknown_reaction", "markup kind").await;
}

async fn presence_follows_joins_and_leaves(backend: Backend) {
    let room = room(test_config(backend)).await;
    let (mut a, wa) = room.join("Ada").await;
    assert_eq!(wa["viewers"], 1, "{wa}");
    let (b, _) = room.join("Bob").await;
    let (c, wc) = room.join_with(None).await; // guests count too
    assert_eq!(wc["viewers"], 3, "{wc}");

    let mut arrivals: Vec<(Instant, u64)> = Vec::new();
    let mut wait_for = async |a: &mut WsClient, viewers: u64, after: u64| {
        let deadline = Instant::now() + Duration::from_secs(6);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(v) = a.try_next_json(left).await else {
                panic!("presence never reached {viewers}; saw {arrivals:?}");
            };
            if ty(&v) == "presence" {
                let n = v["viewers"].as_u64().expect("viewers is a number");
                arrivals.push((Instant::now(), n));
                if n == viewers && seq(&v) > after {
                    return;
                }
            }
        }
    };
    wait_for(&mut a, 3, seq(&wc)).await;
    c.close().await;
    wait_for(&mut a, 2, 0).await;
    drop(b); // gone without a close frame
    wait_for(&mut a, 1, 0).await;

    // Throttled: presence frames come about once a second at most.
    for pair in arrivals.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_millis(500),
            "presence frames {gap:?} apart: {arrivals:?}"
        );
    }
    // Nothing changes, nothing is sent.
    let quiet = a.drain(Duration::from_millis(2200)).await;
    assert!(
        quiet.iter().all(|v| ty(v) != "presence"),
        "presence repeated without a change: {quiet:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Resume and resync

/// Ada's and Bob's connections; Ada leaves after noting the last seq she applied.
async fn leave_and_miss(room: &Room, missed: usize) -> (String, u64, WsClient, Vec<Value>) {
    let (_, ada) = room.viewer("Ada").await;
    let (mut a, wa) = room.join_with(Some(&ada)).await;
    let (mut b, _) = room.join("Bob").await;
    let applied = a.roundtrip().await;
    let last = last_seq(seq(&wa), &applied);
    a.close().await;
    for i in 0..missed {
        b.chat(&format!("missed {i}")).await;
    }
    let seen_b = if missed > 0 {
        let final_text = format!("missed {}", missed - 1);
        b.collect_until(|v| v["text"] == final_text.as_str(), WAIT)
            .await
    } else {
        Vec::new()
    };
    (ada, last, b, seen_b)
}

async fn resume_at_connect_replays_without_welcome(backend: Backend) {
    let room = room(roomy(backend)).await;
    let (ada, last, mut b, seen_b) = leave_and_miss(&room, 10).await;

    let mut a = room.connect(Some(&ada), &format!("last_seq={last}")).await;
    let got = a.collect_until(|v| v["text"] == "missed 9", WAIT).await;
    assert!(
        got.iter().all(|v| ty(v) != "welcome"),
        "a resume is not a welcome: {got:?}"
    );
    assert_contiguous(last, &got, "Ada resumed");
    let expect: Vec<String> = (0..10).map(|i| format!("missed {i}")).collect();
    assert_eq!(chats(&got), expect);
    // The replay is the very frames Bob saw live.
    for f in &got {
        if let Some(live) = seen_b.iter().find(|x| is_broadcast(x) && seq(x) == seq(f)) {
            assert_eq!(live, f, "replayed frame differs from the live one");
        } else {
            assert_ne!(ty(f), "chat.message", "Bob never saw {f}");
        }
    }
    // And it goes on live from there, without a gap.
    b.chat("after").await;
    let more = a.collect_until(|v| v["text"] == "after", WAIT).await;
    assert_contiguous(last_seq(last, &got), &more, "Ada live again");

    // Resuming at the current seq replays nothing and sends no welcome.
    let now = last_seq(0, &more);
    let mut c = room.connect(Some(&ada), &format!("last_seq={now}")).await;
    b.chat("next").await;
    let got = c.collect_until(|v| v["text"] == "next", WAIT).await;
    assert_contiguous(now, &got, "resumed at the head");
    assert_eq!(chats(&got), ["next"]);
}

async fn resume_message_fills_the_gap_before_welcome(backend: Backend) {
    let room = room(roomy(backend)).await;
    let (ada, last, mut b, _) = leave_and_miss(&room, 10).await;

    let (mut a, w) = room.join_with(Some(&ada)).await;
    let head = seq(&w);
    assert!(head > last + 9, "the welcome follows the missed messages");
    a.send_json(json!({ "type": "resume", "last_seq": last }))
        .await;
    let mut wanted: HashSet<u64> = (last + 1..=head).collect();
    let mut got = a
        .collect_until(
            |v| {
                if is_broadcast(v) {
                    wanted.remove(&seq(v));
                }
                wanted.is_empty()
            },
            WAIT,
        )
        .await;
    assert!(
        got.iter().all(|v| ty(v) != "welcome" && ty(v) != "error"),
        "{got:?}"
    );
    let replayed: Vec<Value> = got.iter().filter(|v| seq(v) <= head).cloned().collect();
    let expect: Vec<String> = (0..10).map(|i| format!("missed {i}")).collect();
    assert_eq!(chats(&replayed), expect, "the replay is in order");
    let replay_seqs: Vec<u64> = replayed.iter().map(seq).collect();
    assert_eq!(replay_seqs, (last + 1..=head).collect::<Vec<_>>());

    // Live frames go on; nothing is delivered twice.
    b.chat("after").await;
    got.extend(a.collect_until(|v| v["text"] == "after", WAIT).await);
    got.extend(a.roundtrip().await);
    let mut seen = HashSet::new();
    for f in got.iter().filter(|f| is_broadcast(f)) {
        assert!(
            seen.insert(seq(f)),
            "seq {} delivered twice: {got:?}",
            seq(f)
        );
    }
    let top = seen.iter().copied().max().unwrap();
    assert_eq!(
        seen.len() as u64,
        top - last,
        "every seq after {last} exactly once"
    );
}

async fn resync_when_the_gap_is_too_long(backend: Backend) {
    let mut config = roomy(backend);
    config.resume_log_size = 5;
    let room = room(config).await;
    let (ada, last, mut b, _) = leave_and_miss(&room, 20).await;

    // At connect: a fresh welcome marked resync.
    let mut a = room.connect(Some(&ada), &format!("last_seq={last}")).await;
    let w = a.next_json(WAIT).await;
    assert_eq!(w["type"], "welcome", "{w}");
    assert_eq!(w["resync"], true, "{w}");
    let expect: Vec<String> = (0..20).map(|i| format!("missed {i}")).collect();
    assert_eq!(history(&w), expect);
    // With a `resume` message after a normal welcome: a second welcome, marked resync.
    let (mut a2, w2) = room.join_with(Some(&ada)).await;
    assert!(w2.get("resync").is_none(), "{w2}");
    a2.send_json(json!({ "type": "resume", "last_seq": last }))
        .await;
    let w3 = a2.next_of_type("welcome", WAIT).await;
    assert_eq!(w3["resync"], true, "{w3}");
    // A seq from the future (another show, a restarted store) resyncs too.
    let mut a3 = room.connect(Some(&ada), "last_seq=999999999").await;
    let w4 = a3.next_json(WAIT).await;
    assert_eq!(
        (w4["type"].as_str(), &w4["resync"]),
        (Some("welcome"), &json!(true)),
        "{w4}"
    );

    // A short gap still fits in the log of 5 and is replayed.
    let head = last_seq(0, &a3.roundtrip().await).max(seq(&w4));
    a3.close().await;
    b.chat("short 0").await;
    b.chat("short 1").await;
    b.collect_until(|v| v["text"] == "short 1", WAIT).await;
    let mut a4 = room.connect(Some(&ada), &format!("last_seq={head}")).await;
    let got = a4.collect_until(|v| v["text"] == "short 1", WAIT).await;
    assert!(got.iter().all(|v| ty(v) != "welcome"), "{got:?}");
    assert_contiguous(head, &got, "short gap");
    assert_eq!(chats(&got), ["short 0", "short 1"]);
}

async fn resync_when_the_gap_is_too_old(backend: Backend) {
    let mut config = roomy(backend);
    config.resume_log_age_s = 1;
    let room = room(config).await;
    let (ada, last, _b, _) = leave_and_miss(&room, 1).await;
    // The memory bus dates its log by the server's clock; the Redis bus by Redis TIME, which
    // no test clock moves (docs/architecture.md, "Timers that stay real").
    match backend {
        Backend::Memory => room.srv.clock.advance(Duration::from_millis(1600)),
        Backend::Redis => tokio::time::sleep(Duration::from_millis(1600)).await,
    }
    let mut a = room.connect(Some(&ada), &format!("last_seq={last}")).await;
    let w = a.next_json(WAIT).await;
    assert_eq!(w["type"], "welcome", "{w}");
    assert_eq!(w["resync"], true, "{w}");
    assert_eq!(history(&w), ["missed 0"]);
}

// ---------------------------------------------------------------------------------------------
// Limits

async fn chat_text_limits(backend: Backend) {
    let mut config = roomy(backend);
    config.chat_max_chars = 20;
    let room = room(config).await;
    let (mut a, _) = room.join("Ada").await;
    let (mut b, _) = room.join("Bob").await;

    let (long_ascii, long_accented) = ("x".repeat(21), "é".repeat(21));
    let refusals = [
        ("", "empty_message"),
        ("     ", "empty_message"),
        (" \t \n \r ", "empty_message"),
        (long_ascii.as_str(), "message_too_long"),
        (long_accented.as_str(), "message_too_long"),
        ("bell \u{7}", "forbidden_characters"),
        ("nul \u{0} byte", "forbidden_characters"),
        ("two\nlines", "forbidden_characters"),
        ("tab\tinside", "forbidden_characters"),
        ("esc \u{1b}[31m", "forbidden_characters"),
        ("\u{202E}gpj.exe", "forbidden_characters"),
        ("a \u{2066}b\u{2069}", "forbidden_characters"),
        // Text that shows nothing (issue 13, item 6).
        ("\u{200B}\u{200B}", "empty_message"),
        ("\u{2060} \u{FEFF}", "empty_message"),
        ("\u{3164}", "empty_message"),
        ("\u{E0041}\u{E0042}\u{E007F}", "empty_message"),
        ("\u{00AD}\u{00AD}", "empty_message"),
        ("\u{FE0F}\u{FE0E}", "empty_message"),
        ("\u{0301}", "empty_message"),
        // Line separators and stacked combining marks.
        ("one\u{2028}two", "forbidden_characters"),
        ("one\u{2029}two", "forbidden_characters"),
        (
            "Z\u{0336}\u{0351}\u{0352}\u{0357}\u{035B}algo",
            "forbidden_characters",
        ),
    ];
    for (text, code) in refusals {
        a.chat(text).await;
        expect_error(&mut a, code, &format!("{text:?}")).await;
    }
    let accepted = [
        ("x".repeat(20), "x".repeat(20)),
        ("é".repeat(20), "é".repeat(20)),
        (format!("  {}  ", "y".repeat(20)), "y".repeat(20)),
        ("\t padded \t".to_string(), "padded".to_string()),
        // Emoji sequences keep their joiners and variation selectors.
        (
            "\u{2764}\u{FE0F}\u{1F469}\u{200D}\u{1F4BB}".into(),
            "\u{2764}\u{FE0F}\u{1F469}\u{200D}\u{1F4BB}".into(),
        ),
    ];
    for (text, delivered) in &accepted {
        a.chat(text).await;
        let m = chat_reply(&mut a).await;
        assert_eq!(m["type"], "chat.message", "{text:?} was refused: {m}");
        assert_eq!(&s(&m["text"]), delivered);
    }
    let last = &accepted[accepted.len() - 1].1;
    let frames = b.collect_until(|v| v["text"] == last.as_str(), WAIT).await;
    assert!(
        errors(&frames).is_empty(),
        "others never see refusals: {frames:?}"
    );
    let expect: Vec<String> = accepted.iter().map(|(_, d)| d.clone()).collect();
    assert_eq!(chats(&frames), expect);
}

async fn chat_rate_is_limited_per_person(backend: Backend) {
    let mut config = test_config(backend);
    config.chat_rate = 3;
    config.chat_rate_period_s = 10;
    let room = room(config).await;
    let (_, ada) = room.viewer("Ada").await;
    let (mut a, _) = room.join_with(Some(&ada)).await;
    let (mut b, _) = room.join("Bob").await;

    // A refused message does not use up the allowance.
    a.chat("   ").await;
    expect_error(&mut a, "empty_message", "blank").await;
    for i in 0..5 {
        a.chat(&format!("r{i}")).await;
    }
    let mut n = 0;
    let frames = a
        .collect_until(
            |v| {
                n += usize::from(matches!(ty(v), "error" | "chat.message"));
                n == 5
            },
            WAIT,
        )
        .await;
    assert_eq!(chats(&frames), ["r0", "r1", "r2"]);
    let errs = errors(&frames);
    assert_eq!(errs.len(), 2, "{frames:?}");
    for e in errs {
        assert_eq!(e["code"], "rate_limited", "{e}");
        let retry = e["retry_after_ms"].as_u64().expect("retry_after_ms");
        assert!(
            (1..=3334).contains(&retry),
            "3 per 10 s: a token every 3.3 s; got {retry}"
        );
    }
    let seen_b = b.collect_until(|v| v["text"] == "r2", WAIT).await;
    assert_eq!(chats(&seen_b), ["r0", "r1", "r2"]);
    let quiet = b.drain(Duration::from_millis(300)).await;
    assert!(
        chats(&quiet).is_empty(),
        "refused messages were published: {quiet:?}"
    );

    // The allowance is per person: Bob still chats, a second connection of Ada's does not
    // (tests/limits.rs has more).
    b.chat("bob ok").await;
    assert_eq!(chat_reply(&mut b).await["text"], "bob ok");
    let (mut a2, _) = room.join_with(Some(&ada)).await;
    a2.chat("ada again").await;
    expect_error(&mut a2, "rate_limited", "Ada's second connection").await;
    // ...and the first is still refused.
    a.chat("r5").await;
    let e = expect_error(&mut a, "rate_limited", "still limited").await;
    assert!(e["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{e}");
}

async fn malformed_and_unknown_messages_get_error_frames(backend: Backend) {
    let room = room(test_config(backend)).await;
    let (mut a, _) = room.join("Ada").await;
    let (mut b, _) = room.join("Bob").await;
    let cases = [
        ("not json", "bad_message"),
        ("{}", "bad_message"),
        ("[]", "bad_message"),
        ("\"chat.send\"", "bad_message"),
        (r#"{"type":5}"#, "bad_message"),
        (r#"{"type":"dance"}"#, "unknown_type"),
        (
            r#"{"type":"chat.message","text":"spoof","seq":1}"#,
            "unknown_type",
        ),
        (r#"{"type":"chat.send"}"#, "bad_message"),
        (r#"{"type":"chat.send","text":5}"#, "bad_message"),
        (
            r#"{"type":"chat.send","text":"x","extra":1}"#,
            "bad_message",
        ),
        (r#"{"type":"reaction.send"}"#, "bad_message"),
        (
            r#"{"type":"reaction.send","kind":"poop"}"#,
            "unknown_reaction",
        ),
        (r#"{"type":"resume"}"#, "bad_message"),
        (r#"{"type":"resume","last_seq":-1}"#, "bad_message"),
        (r#"{"type":"resume","last_seq":"7"}"#, "bad_message"),
    ];
    for (text, code) in cases {
        a.send_text(text).await;
        expect_error(&mut a, code, text).await;
    }
    // Still connected, and nobody else heard a thing.
    a.send_json(json!({ "type": "ping" })).await;
    let pong = a.next_of_type("pong", WAIT).await;
    assert_eq!(pong, json!({ "type": "pong" }));
    let frames = b.roundtrip().await;
    assert!(frames.iter().all(|v| ty(v) == "presence"), "{frames:?}");
}

async fn oversized_frames_close_1009(backend: Backend) {
    let room = room(test_config(backend)).await;
    let max = room.srv.config.ws_max_frame_bytes;
    assert_eq!(max, 4096, "the default limit");
    let (mut a, _) = room.join("Ada").await;
    let (mut b, _) = room.join("Bob").await;
    // Exactly at the limit is fine (the padding is trimmed away).
    let head = r#"{"type":"chat.send","text":"edge"#;
    let tail = r#""}"#;
    let at_limit = format!("{head}{}{tail}", " ".repeat(max - head.len() - tail.len()));
    assert_eq!(at_limit.len(), max);
    a.send_text(&at_limit).await;
    assert_eq!(chat_reply(&mut a).await["text"], "edge");
    // One byte more closes the connection with 1009.
    let over = format!(
        "{head}{}{tail}",
        " ".repeat(max + 1 - head.len() - tail.len())
    );
    a.send_text(&over).await;
    let (code, reason) = a.expect_close(WAIT).await;
    assert_eq!(code, 1009, "{reason}");
    assert!(
        reason.contains("4096"),
        "the reason names the limit: {reason}"
    );
    // Others are unaffected.
    b.chat("still here").await;
    let frames = b.collect_until(|v| v["text"] == "still here", WAIT).await;
    assert_eq!(chats(&frames), ["edge", "still here"]);
}

async fn binary_frames_close_1003(backend: Backend) {
    let room = room(test_config(backend)).await;
    let (mut a, _) = room.join("Ada").await;
    let (mut b, _) = room.join("Bob").await;
    let payload = json!({ "type": "chat.send", "text": "in binary" }).to_string();
    a.send(Message::Binary(payload.into_bytes().into())).await;
    let (code, reason) = a.expect_close(WAIT).await;
    assert_eq!(code, 1003, "{reason}");
    let frames = b.roundtrip().await;
    assert!(
        chats(&frames).is_empty(),
        "a binary frame was published: {frames:?}"
    );
}

async fn tokens_and_versions_are_checked_at_connect(backend: Backend) {
    let room = room(test_config(backend)).await;
    let show_id: ShowId = room.show.parse().unwrap();
    let other_show = room.srv.show(&room.creator, "Another show").await;
    let other_show_id: ShowId = other_show.parse().unwrap();

    // No token: a guest who may watch, not chat.
    let (mut guest, w) = room.join_with(None).await;
    assert_eq!(w["role"], "guest");
    let (mut bob, _) = room.join("Bob").await;
    guest.chat("hello?").await;
    expect_error(&mut guest, "join_required", "guest chat").await;
    bob.chat("hi").await;
    assert_eq!(
        guest.next_of_type("chat.message", WAIT).await["text"],
        "hi",
        "guests watch"
    );

    // Expired, forged, garbage: 4001.
    let viewer = Principal::Viewer {
        show_id,
        viewer_id: ViewerId(Uuid::new_v4()),
        name: "Eve".into(),
    };
    let expired = room.srv.mint(&viewer, 0);
    let (code, reason) = refused(&room, Some(&expired), "").await;
    assert_eq!(code, 4001, "{reason}");
    assert!(reason.contains("token_expired"), "{reason}");
    let forged = livesale::auth::TokenSigner::new("some-other-secret-0123456789").mint(
        &viewer,
        chrono::Utc::now(),
        600,
    );
    let (code, reason) = refused(&room, Some(&forged), "").await;
    assert_eq!(code, 4001, "{reason}");
    assert!(reason.contains("invalid_token"), "{reason}");
    assert_eq!(refused(&room, Some("garbage"), "").await.0, 4001);

    // Tokens of another show, or of another creator: 4003.
    let (_, other_viewer) = room.srv.viewer(&other_show, "Mallory").await;
    let (code, reason) = refused(&room, Some(&other_viewer), "").await;
    assert_eq!(code, 4003, "{reason}");
    let other_mod = room.srv.mint(
        &Principal::Moderator {
            show_id: other_show_id,
            invite_id: InviteId(Uuid::new_v4()),
            label: None,
        },
        600,
    );
    assert_eq!(refused(&room, Some(&other_mod), "").await.0, 4003);
    let stranger = room.srv.mint(
        &Principal::Creator {
            creator_id: CreatorId(Uuid::new_v4()),
        },
        600,
    );
    assert_eq!(refused(&room, Some(&stranger), "").await.0, 4003);
    let (_, rival) = room.srv.creator("Rival").await;
    assert_eq!(refused(&room, Some(&rival), "").await.0, 4003);

    // Unknown shows: 4004.
    let ghost = Uuid::new_v4().to_string();
    let mut c = WsClient::connect(&room.srv, &ghost, None, "").await;
    assert_eq!(
        c.expect_end(WAIT).await,
        (Ending::Close(4004, "show_not_found".into()), 0)
    );
    let mut c = WsClient::connect(&room.srv, "not-a-show", None, "").await;
    assert_eq!(
        c.expect_end(WAIT).await.0,
        Ending::Close(4004, "show_not_found".into())
    );

    // Protocol versions: 1 (the default) only.
    for v in ["2", "0", "abc", "1.0", ""] {
        let (code, reason) = refused(&room, None, &format!("v={v}")).await;
        assert_eq!(code, 4006, "v={v}: {reason}");
    }
    let (_, token) = room.viewer("Versioned").await;
    let mut c = room.connect(Some(&token), "v=1").await;
    assert_eq!(c.next_json(WAIT).await["type"], "welcome");
}

async fn cameras_cannot_chat_or_react(backend: Backend) {
    let room = room(test_config(backend)).await;
    let camera = room.srv.invite(&room.creator, &room.show, "camera").await;
    let moderator = room
        .srv
        .invite(&room.creator, &room.show, "moderator")
        .await;
    let (mut cam, w) = room.join_with(Some(&camera)).await;
    assert_eq!(w["role"], "camera");
    let (mut watcher, _) = room.join("Watcher").await;
    cam.chat("I am a camera").await;
    expect_error(&mut cam, "forbidden_role", "camera chat").await;
    cam.send(reaction("heart")).await;
    expect_error(&mut cam, "forbidden_role", "camera reaction").await;

    // The creator and moderators chat under their role.
    let (mut host, _) = room.join_with(Some(&room.creator)).await;
    let (mut m, _) = room.join_with(Some(&moderator)).await;
    host.chat("welcome everyone").await;
    assert_eq!(chat_reply(&mut host).await["text"], "welcome everyone");
    m.chat("be nice").await;
    let frames = watcher
        .collect_until(|v| v["text"] == "be nice", WAIT)
        .await;
    let roles: Vec<(String, String)> = frames
        .iter()
        .filter(|v| ty(v) == "chat.message")
        .map(|v| (s(&v["text"]), s(&v["role"])))
        .collect();
    assert_eq!(
        roles,
        [
            ("welcome everyone".to_string(), "creator".to_string()),
            ("be nice".to_string(), "moderator".to_string())
        ]
    );
    let host_msg = frames
        .iter()
        .find(|v| v["text"] == "welcome everyone")
        .unwrap();
    assert_eq!(host_msg["author"]["name"], CREATOR_NAME);
}

// ---------------------------------------------------------------------------------------------
// Backpressure, liveness, shutdown

/// A chat text carrying its index and send time (µs since `base`), padded to ~1.9 kB.
fn flood_text(i: u64, base: Instant) -> String {
    format!("{i} {} {}", base.elapsed().as_micros(), "x".repeat(1900))
}

struct HealthyReport {
    latencies_ms: Vec<f64>,
    received: u64,
    ended: Option<Ending>,
}

async fn slow_consumer_is_dropped_while_others_keep_their_latency(backend: Backend) {
    let mut config = test_config(backend);
    config.ws_queue = 32;
    config.ws_write_timeout_ms = 500;
    config.chat_rate = 1_000_000;
    config.chat_rate_period_s = 1;
    config.chat_max_chars = 2000;
    config.ws_max_frame_bytes = 8192;
    let room = room(config).await;
    let (mut healthy, wh) = room.join("Healthy").await;
    // The slow viewer reads its welcome and then never reads again.
    let (mut slow, _) = room.join("Slow").await;
    let (sender, _) = room.join("Sender").await;
    let seen = healthy
        .collect_until(
            |v| ty(v) == "presence" && v["viewers"] == 3,
            Duration::from_secs(6),
        )
        .await;
    let mut next_seq = last_seq(seq(&wh), &seen) + 1;
    assert_contiguous(seq(&wh), &seen, "Healthy before the flood");

    let base = Instant::now();
    let slow_gone = Arc::new(AtomicBool::new(false));
    let echoed = Arc::new(AtomicU64::new(0));
    let healthy_seen = Arc::new(AtomicU64::new(0));

    // The sender reads its own echoes (it is a well-behaved client too).
    let (mut sink, mut stream) = sender.ws.split();
    let sender_reader = {
        let echoed = echoed.clone();
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                if let Message::Text(t) = msg
                    && t.starts_with(r#"{"type":"chat.message""#)
                {
                    echoed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    // The healthy reader: every frame, in order, with its latency.
    let healthy_task = {
        let slow_gone = slow_gone.clone();
        let healthy_seen = healthy_seen.clone();
        tokio::spawn(async move {
            let mut report = HealthyReport {
                latencies_ms: Vec::new(),
                received: 0,
                ended: None,
            };
            loop {
                match healthy.next_incoming(Duration::from_secs(10)).await {
                    Some(Incoming::Text(t)) => {
                        let v: Value = serde_json::from_str(&t).expect("JSON");
                        assert_eq!(
                            seq(&v),
                            next_seq,
                            "Healthy lost or reordered a frame: {}",
                            &t[..t.len().min(120)]
                        );
                        next_seq += 1;
                        match ty(&v) {
                            "presence" if v["viewers"] == 2 => {
                                slow_gone.store(true, Ordering::Relaxed)
                            }
                            "chat.message" => {
                                let text = s(&v["text"]);
                                if text == "END" {
                                    return report;
                                }
                                let mut parts = text.split(' ');
                                let i: u64 = parts.next().unwrap().parse().unwrap();
                                let sent_us: u128 = parts.next().unwrap().parse().unwrap();
                                assert_eq!(i, report.received, "Healthy missed a message");
                                report.received += 1;
                                healthy_seen.store(report.received, Ordering::Relaxed);
                                let now_us = base.elapsed().as_micros();
                                report.latencies_ms.push((now_us - sent_us) as f64 / 1000.0);
                            }
                            _ => {}
                        }
                    }
                    Some(Incoming::End(e)) => {
                        report.ended = Some(e);
                        return report;
                    }
                    Some(Incoming::Binary(_)) => panic!("binary frame"),
                    None => return report,
                }
            }
        })
    };

    // Flood as fast as the well-behaved readers (the sender itself and the healthy viewer) take
    // it, at most 16 messages ahead of either, until the server has dropped the slow viewer
    // (presence falls to 2), then a little more; bounded either way.
    let flood_started = Instant::now();
    let mut sent = 0u64;
    let mut extra_after_drop = None;
    while flood_started.elapsed() < Duration::from_secs(25) && sent < 40_000 {
        if slow_gone.load(Ordering::Relaxed) {
            let stop_at = *extra_after_drop.get_or_insert(sent + 200);
            if sent >= stop_at {
                break;
            }
        }
        let taken = || {
            echoed
                .load(Ordering::Relaxed)
                .min(healthy_seen.load(Ordering::Relaxed))
        };
        while sent.saturating_sub(taken()) >= 16 {
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert!(
                flood_started.elapsed() < Duration::from_secs(30),
                "the readers stalled at {} of {sent}",
                taken()
            );
        }
        sink.send(chat_msg(&flood_text(sent, base)))
            .await
            .expect("flood send");
        sent += 1;
    }
    let dropped_after = flood_started.elapsed();
    sink.send(chat_msg("END")).await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(20), healthy_task)
        .await
        .expect("the healthy reader finished")
        .expect("the healthy reader did not panic");
    assert_eq!(report.ended, None, "the healthy viewer was disconnected");
    assert!(
        slow_gone.load(Ordering::Relaxed),
        "the slow viewer was still counted after {sent} messages ({dropped_after:?})"
    );
    assert_eq!(
        report.received, sent,
        "the healthy viewer got every message"
    );
    let mut lat = report.latencies_ms.clone();
    lat.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&lat, 0.50), percentile(&lat, 0.99));
    eprintln!(
        "{backend:?}: {sent} messages, slow viewer dropped within {dropped_after:?}; healthy latency p50 {p50:.1} ms, p99 {p99:.1} ms"
    );
    assert!(
        p99 < 200.0,
        "healthy p99 latency {p99:.1} ms (p50 {p50:.1} ms)"
    );

    // The slow viewer finds its connection closed (4008) or dropped, short of the flood.
    let (ending, frames) = slow.expect_end(Duration::from_secs(20)).await;
    match &ending {
        Ending::Close(code, reason) => assert_eq!(*code, 4008, "{reason}"),
        Ending::Dropped(_) => {}
    }
    assert!(
        (frames as u64) < sent,
        "the slow viewer got all {sent} messages: never dropped ({ending:?})"
    );
    let _ = sink.close().await;
    sender_reader.abort();
}

async fn idle_connections_are_pinged_and_dead_ones_reaped(backend: Backend) {
    let mut config = test_config(backend);
    config.ws_ping_interval_s = 1;
    let room = room(config).await;
    let (mut live, _) = room.join("Live").await;
    let (mut dead, _) = room.join("Dead").await;
    // From here on `dead` is never polled, so its pings go unanswered.
    let quiet_since = Instant::now();
    let mut frames = Vec::new();
    loop {
        let Some(v) = live.try_next_json(Duration::from_secs(6)).await else {
            panic!("the dead connection was not reaped: {frames:?}");
        };
        let settled = quiet_since.elapsed() > Duration::from_millis(500);
        let reaped = ty(&v) == "presence" && v["viewers"] == 1 && settled;
        frames.push(v);
        if reaped {
            break;
        }
    }
    let reaped_after = quiet_since.elapsed();
    assert!(
        reaped_after < Duration::from_secs(5),
        "reaped {reaped_after:?} after going quiet, with pings every second"
    );
    let (code, reason) = dead.expect_close(WAIT).await;
    assert_eq!(code, 4010, "{reason}");
    // The live one kept answering pings (it kept reading) and is still here.
    let alive_until = quiet_since + Duration::from_millis(3500);
    while let Some(left) = alive_until.checked_duration_since(Instant::now()) {
        live.try_next_json(left).await;
    }
    live.chat("still alive").await;
    assert_eq!(chat_reply(&mut live).await["text"], "still alive");
}

async fn shutdown_closes_with_1001(backend: Backend) {
    let room = room(test_config(backend)).await;
    let (mut a, _) = room.join("Ada").await;
    let (mut g, _) = room.join_with(None).await;
    let Room { srv, .. } = room;
    tokio::time::timeout(Duration::from_secs(20), srv.stop())
        .await
        .expect("the server stops in time");
    for c in [&mut a, &mut g] {
        let (code, reason) = c.expect_close(WAIT).await;
        assert_eq!(code, 1001, "{reason}");
    }
}

async fn a_client_close_is_answered(backend: Backend) {
    let room = room(test_config(backend)).await;
    let (mut a, _) = room.join("Ada").await;
    let (mut b, _) = room.join("Bob").await;
    let bye = CloseFrame {
        code: 1000.into(),
        reason: "bye".into(),
    };
    tokio::time::timeout(WAIT, a.ws.close(Some(bye)))
        .await
        .expect("close sent in time")
        .expect("close sent");
    // The server answers the close handshake (else browsers report 1006, not a clean close).
    let (end, frames) = a.expect_end(WAIT).await;
    assert_eq!(
        end,
        Ending::Close(1000, "bye".into()),
        "after {frames} frames"
    );
    // The others carry on.
    b.chat("still here").await;
    assert_eq!(chat_reply(&mut b).await["text"], "still here");
}

async fn hostile_text_is_plain_text(backend: Backend) {
    let room = room(roomy(backend)).await;
    let (mut a, _) = room.join("Ada").await;
    let (mut b, _) = room.join("Bob").await;
    let texts = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        r#""quoted" & 'single' \ back\slash"#,
        r#"{"type":"chat.message","seq":1}"#,
        "</script><!-- &amp; &lt;",
        "🙂 مرحبا 你好 ñ",
    ];
    for t in texts {
        a.chat(t).await;
    }
    let mut got = Vec::new();
    while got.len() < texts.len() {
        let raw = b.next_text(WAIT).await;
        let v: Value = serde_json::from_str(&raw).unwrap();
        if ty(&v) != "chat.message" {
            continue;
        }
        if got.len() < 2 {
            assert!(
                raw.contains(texts[got.len()]),
                "markup is not escaped on the wire: {raw}"
            );
        }
        got.push(s(&v["text"]));
    }
    assert_eq!(got, texts, "delivered verbatim");
    // Bidi overrides would disguise text; they are refused, not delivered.
    a.chat("invoice\u{202E}fdp.exe").await;
    expect_error(&mut a, "forbidden_characters", "bidi override").await;
    let frames = b.roundtrip().await;
    assert!(chats(&frames).is_empty(), "{frames:?}");
}

async fn a_room_left_empty_still_delivers_to_new_joiners(backend: Backend) {
    let room = room(test_config(backend)).await;
    let (a, _) = room.join("Ada").await;
    a.close().await;
    // Long enough for the room's ticker to report it empty (presence 0 is broadcast to a
    // room with no connection), short of the 10 s after which an empty room is retired.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (mut b, _) = room.join("Bob").await;
    let (mut c, _) = room.join("Cy").await;
    b.chat("anyone here?").await;
    for (who, client) in [("Bob", &mut b), ("Cy", &mut c)] {
        let frames = client.drain(Duration::from_millis(1500)).await;
        assert_eq!(chats(&frames), ["anyone here?"], "{who} got {frames:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Protocol violations, with frames written byte by byte (no client library would send them)

/// A WebSocket to the show over a raw socket, past the 101 answer.
async fn raw_ws(room: &Room) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(room.srv.addr).await.unwrap();
    let head = format!(
        "GET /api/shows/{}/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        room.show
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    // Byte by byte up to the end of the head, so no frame after it is swallowed.
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, sock.read(&mut byte))
            .await
            .expect("an answer to the upgrade")
            .unwrap();
        assert_eq!(
            n,
            1,
            "closed during the upgrade: {}",
            String::from_utf8_lossy(&got)
        );
        got.push(byte[0]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    sock
}

/// A client frame: FIN and opcode in `first`, masked (unless `masked` is false) `payload`.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let bit = if masked { 0x80 } else { 0 };
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Reads server frames until a close frame; its code (`None` if the connection ends first).
/// Text frames are collected into `texts`; pings are not answered.
async fn close_code(sock: &mut tokio::net::TcpStream, texts: &mut Vec<String>) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut data: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + WAIT;
    loop {
        // Parse every whole frame in `data`.
        while data.len() >= 2 {
            let opcode = data[0] & 0x0f;
            let (len, at) = match data[1] & 0x7f {
                126 if data.len() >= 4 => (u16::from_be_bytes([data[2], data[3]]) as usize, 4),
                127 if data.len() >= 10 => (
                    u64::from_be_bytes(data[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if data.len() < at + len {
                break;
            }
            let payload: Vec<u8> = data[at..at + len].to_vec();
            data.drain(..at + len);
            match opcode {
                0x8 if payload.len() >= 2 => {
                    return Some(u16::from_be_bytes([payload[0], payload[1]]));
                }
                0x8 => return Some(1005),
                0x1 => texts.push(String::from_utf8_lossy(&payload).to_string()),
                _ => {}
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, sock.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => data.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no close frame within {WAIT:?}"),
        }
    }
}

async fn protocol_violations_close_1002_and_bad_utf8_1007(backend: Backend) {
    use tokio::io::AsyncWriteExt;
    let room = room(test_config(backend)).await;
    // The harness itself: a well-formed frame is answered, and a close is echoed.
    let mut sock = raw_ws(&room).await;
    sock.write_all(&frame(0x81, br#"{"type":"ping"}"#, true))
        .await
        .unwrap();
    sock.write_all(&frame(0x88, &1000u16.to_be_bytes(), true))
        .await
        .unwrap();
    let mut texts = Vec::new();
    assert_eq!(close_code(&mut sock, &mut texts).await, Some(1000));
    assert!(texts.iter().any(|t| t.contains("\"pong\"")), "{texts:?}");

    let cases: [(&str, Vec<u8>, u16); 8] = [
        ("an unmasked frame", frame(0x81, b"hello", false), 1002),
        ("RSV1 set", frame(0xc1, b"hello", true), 1002),
        ("RSV3 set", frame(0x91, b"hello", true), 1002),
        ("reserved data opcode 3", frame(0x83, b"", true), 1002),
        (
            "a continuation with nothing to continue",
            frame(0x80, b"x", true),
            1002,
        ),
        ("a 200-byte ping", frame(0x89, &[b'p'; 200], true), 1002),
        ("a fragmented ping", frame(0x09, b"p", true), 1002),
        (
            "invalid UTF-8 in a text frame",
            frame(0x81, &[b'{', 0xc3, 0x28, b'}'], true),
            1007,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut sock = raw_ws(&room).await;
        sock.write_all(&bytes).await.unwrap();
        let mut texts = Vec::new();
        assert_eq!(
            close_code(&mut sock, &mut texts).await,
            Some(code),
            "{what}"
        );
    }
    // Fragments of a text message whose UTF-8 only breaks across them: still 1007.
    let mut sock = raw_ws(&room).await;
    sock.write_all(&frame(0x01, &[b'{', 0xe2, 0x82], true))
        .await
        .unwrap();
    sock.write_all(&frame(0x80, &[0x28, b'}'], true))
        .await
        .unwrap();
    assert_eq!(close_code(&mut sock, &mut Vec::new()).await, Some(1007));
    // The room carries on for everyone else.
    let (mut a, _) = room.join("Ada").await;
    a.chat("after").await;
    let frames = a.collect_until(|v| v["text"] == "after", WAIT).await;
    assert_eq!(chats(&frames), ["after"]);
}

async fn a_silent_upgrade_is_dropped_after_the_handshake_timeout(backend: Backend) {
    let mut config = test_config(backend);
    config.ws_handshake_timeout_ms = 800;
    let room = room(config).await;
    // Never answers the server's first ping, never sends anything.
    let mut silent = raw_ws(&room).await;
    let started = Instant::now();
    let mut texts = Vec::new();
    assert_eq!(close_code(&mut silent, &mut texts).await, Some(4010));
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert!(texts.iter().any(|t| t.contains("\"welcome\"")), "{texts:?}");
    // A client that reads (and so answers the ping) stays, past the timeout.
    let (mut a, _) = room.join("Ada").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.chat("still here").await;
    let frames = a.collect_until(|v| v["text"] == "still here", WAIT).await;
    assert_eq!(chats(&frames), ["still here"]);
}
