//! Several nodes behind one Redis: two real `livesale` processes sharing a Redis key prefix
//! and a signing secret. Chat sent on either node reaches viewers on both in one order under
//! the same seqs, presence is the sum over nodes (and forgets a dead node), and a viewer of a
//! crashed node resumes on the other without losing a message.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::redis::{redis_url, unique_prefix};
use common::server::{ServerProcess, s};
use common::ws::{Ending, WAIT, WsClient};
use serde_json::{Value, json};

const SECRET: &str = "multi-node-secret-0123456789";
const ADMIN: &str = "adm";

/// Two nodes (`a` and `b`) on one Redis prefix, plus an HTTP client.
struct Cluster {
    a: ServerProcess,
    b: ServerProcess,
    http: reqwest::Client,
}

fn node(id: &str, url: &str, prefix: &str) -> ServerProcess {
    ServerProcess::spawn(
        &["--no-demo"],
        &[
            ("REDIS_URL", url),
            ("LIVESALE_REDIS_PREFIX", prefix),
            ("LIVESALE_SECRET", SECRET),
            ("LIVESALE_ADMIN_TOKEN", ADMIN),
            ("LIVESALE_NODE_ID", id),
            ("LIVESALE_CHAT_RATE", "1000"),
            ("LIVESALE_CHAT_RATE_PERIOD", "1"),
            ("RUST_LOG", "warn"),
        ],
    )
}

fn cluster() -> Cluster {
    let url = redis_url();
    let prefix = unique_prefix("multi");
    Cluster {
        a: node("a", &url, &prefix),
        b: node("b", &url, &prefix),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    }
}

impl Cluster {
    async fn post(&self, base: &str, path: &str, token: Option<&str>, body: Value) -> Value {
        let mut req = self.http.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!((200..300).contains(&status), "POST {path}: {status} {body}");
        body
    }

    /// A creator and a show created through node A; (creator token, show id).
    async fn show(&self) -> (String, String) {
        let creator = self
            .post(
                &self.a.base,
                "/api/creators",
                Some(ADMIN),
                json!({ "name": "Ann" }),
            )
            .await;
        let token = s(&creator["token"]);
        let show = self
            .post(
                &self.a.base,
                "/api/shows",
                Some(&token),
                json!({ "title": "Two nodes" }),
            )
            .await;
        (token, s(&show["id"]))
    }

    /// A viewer identity made through `base`, joined to the show on `base`.
    async fn join(&self, base: &str, show: &str, name: &str) -> (WsClient, Value, String) {
        let viewer = self
            .post(
                base,
                &format!("/api/shows/{show}/viewers"),
                None,
                json!({ "display_name": name }),
            )
            .await;
        let token = s(&viewer["token"]);
        let mut c = WsClient::connect_base(base, show, Some(&token), "").await;
        let w = c.next_json(WAIT).await;
        assert_eq!(w["type"], "welcome", "{w}");
        (c, w, token)
    }
}

fn ty(v: &Value) -> &str {
    v["type"].as_str().unwrap_or("")
}

fn seq(v: &Value) -> u64 {
    v["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("frame without a seq: {v}"))
}

fn is_broadcast(v: &Value) -> bool {
    !matches!(ty(v), "welcome" | "error" | "pong")
}

fn assert_contiguous(after: u64, frames: &[Value], who: &str) {
    for (expect, f) in (after + 1..).zip(frames.iter().filter(|f| is_broadcast(f))) {
        assert_eq!(seq(f), expect, "{who}: expected seq {expect}, got {f}");
    }
}

fn chats(frames: &[Value]) -> Vec<(u64, String)> {
    frames
        .iter()
        .filter(|f| ty(f) == "chat.message")
        .map(|f| (seq(f), s(&f["text"])))
        .collect()
}

/// Reads `c` until a presence frame says `viewers`; panics after `within`.
async fn await_presence(c: &mut WsClient, viewers: u64, within: Duration, who: &str) -> Vec<Value> {
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let left = within.saturating_sub(started.elapsed());
        let Some(v) = c.try_next_json(left).await else {
            let counts: Vec<&Value> = seen
                .iter()
                .filter(|v: &&Value| ty(v) == "presence")
                .map(|v| &v["viewers"])
                .collect();
            panic!("{who}: no presence of {viewers} within {within:?}; presence seen: {counts:?}");
        };
        let done = ty(&v) == "presence" && v["viewers"] == viewers;
        seen.push(v);
        if done {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_crosses_nodes_in_one_order() {
    let cluster = cluster();
    let (_, show) = cluster.show().await;
    let (a, b) = (cluster.a.base.clone(), cluster.b.base.clone());
    let mut clients = Vec::new();
    for (base, name) in [(&a, "a1"), (&a, "a2"), (&b, "b1"), (&b, "b2")] {
        let (c, w, _) = cluster.join(base, &show, name).await;
        clients.push((name, c, w));
    }
    // Interleaved senders, one on each node, neither waiting for the other.
    for i in 0..25 {
        clients[0].1.chat(&format!("from A {i}")).await;
        clients[2].1.chat(&format!("from B {i}")).await;
    }
    let mut views = Vec::new();
    for (name, c, w) in clients.iter_mut() {
        let mut n = 0;
        let frames = c
            .collect_until(
                |v| {
                    n += usize::from(ty(v) == "chat.message");
                    n == 50
                },
                Duration::from_secs(10),
            )
            .await;
        assert_contiguous(seq(w), &frames, name);
        views.push((*name, frames));
    }
    let reference = chats(&views[0].1);
    assert_eq!(reference.len(), 50);
    for (name, frames) in &views[1..] {
        assert_eq!(chats(frames), reference, "{name} saw another order than a1");
    }
    let seqs: Vec<u64> = reference.iter().map(|(seq, _)| *seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for node in ["A", "B"] {
        let mine: Vec<&str> = reference
            .iter()
            .map(|(_, t)| t.as_str())
            .filter(|t| t.starts_with(&format!("from {node} ")))
            .collect();
        let expect: Vec<String> = (0..25).map(|i| format!("from {node} {i}")).collect();
        assert_eq!(mine, expect, "node {node}'s sender keeps its order");
    }
    // Every broadcast (presence included) is the same frame under the same seq everywhere.
    let from = views
        .iter()
        .map(|(_, f)| f.first().map(seq).unwrap_or(0))
        .max()
        .unwrap();
    let tail = |frames: &[Value]| -> Vec<Value> {
        frames
            .iter()
            .filter(|f| is_broadcast(f) && seq(f) >= from)
            .cloned()
            .collect()
    };
    let last = views
        .iter()
        .map(|(_, f)| seq(f.last().unwrap()))
        .min()
        .unwrap();
    let cut = |frames: Vec<Value>| -> Vec<Value> {
        frames.into_iter().filter(|f| seq(f) <= last).collect()
    };
    let reference = cut(tail(&views[0].1));
    for (name, frames) in &views[1..] {
        assert_eq!(
            cut(tail(frames)),
            reference,
            "{name}'s frames differ from a1's"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_summed_over_nodes_and_forgets_a_dead_one() {
    let mut cluster = cluster();
    let (_, show) = cluster.show().await;
    let (a, b) = (cluster.a.base.clone(), cluster.b.base.clone());
    let mut on_a = Vec::new();
    let mut on_b = Vec::new();
    for i in 0..2 {
        on_a.push(cluster.join(&a, &show, &format!("a{i}")).await.0);
    }
    for i in 0..3 {
        on_b.push(cluster.join(&b, &show, &format!("b{i}")).await.0);
    }
    for (i, c) in on_a.iter_mut().enumerate() {
        await_presence(c, 5, Duration::from_secs(8), &format!("a{i}")).await;
    }
    for (i, c) in on_b.iter_mut().enumerate() {
        await_presence(c, 5, Duration::from_secs(8), &format!("b{i}")).await;
    }
    // A late joiner's welcome counts both nodes too.
    let (_late, w, _) = cluster.join(&b, &show, "late").await;
    let counted = w["viewers"].as_u64().expect("viewers");
    assert!(
        (5..=6).contains(&counted),
        "both nodes' viewers are counted: {w}"
    );

    // Node A crashes: its viewers lose the connection, and once A's report is stale (~5 s)
    // the others see only B's viewers.
    cluster.a.kill();
    for c in on_a.iter_mut() {
        let (end, _) = c.expect_end(WAIT).await;
        assert!(
            matches!(end, Ending::Dropped(_)),
            "a killed node sends no close frame: {end:?}"
        );
    }
    let killed = Instant::now();
    await_presence(&mut on_b[0], 4, Duration::from_secs(12), "b0").await;
    let forgotten = killed.elapsed();
    assert!(
        forgotten >= Duration::from_secs(3),
        "A's viewers were forgotten after {forgotten:?}, before its report went stale"
    );
    for (i, c) in on_b.iter_mut().enumerate().skip(1) {
        await_presence(c, 4, Duration::from_secs(5), &format!("b{i}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_on_the_other_node_after_a_crash() {
    let mut cluster = cluster();
    let (_, show) = cluster.show().await;
    let (a, b) = (cluster.a.base.clone(), cluster.b.base.clone());
    let (mut v, wv, v_token) = cluster.join(&a, &show, "Vera").await;
    let (mut w, ww, _) = cluster.join(&b, &show, "Walt").await;
    // Something happened before the crash, and Vera saw it.
    w.chat("before").await;
    let seen_v_w = w.collect_until(|f| f["text"] == "before", WAIT).await;
    let seen_v = v.collect_until(|f| f["text"] == "before", WAIT).await;
    assert_contiguous(seq(&wv), &seen_v, "Vera");
    let applied = v.roundtrip().await;
    let last = seen_v
        .iter()
        .chain(applied.iter())
        .filter(|f| is_broadcast(f))
        .map(seq)
        .fold(seq(&wv), u64::max);

    cluster.a.kill();
    let (end, _) = v.expect_end(WAIT).await;
    assert!(matches!(end, Ending::Dropped(_)), "{end:?}");
    for i in 0..10 {
        w.chat(&format!("missed {i}")).await;
    }
    let seen_w = w.collect_until(|f| f["text"] == "missed 9", WAIT).await;
    assert_contiguous(seq(&ww), &[seen_v_w, seen_w.clone()].concat(), "Walt");

    let mut v2 =
        WsClient::connect_base(&b, &show, Some(&v_token), &format!("last_seq={last}")).await;
    let got = v2.collect_until(|f| f["text"] == "missed 9", WAIT).await;
    assert!(
        got.iter().all(|f| ty(f) != "welcome"),
        "resumed, not welcomed: {got:?}"
    );
    assert_contiguous(last, &got, "Vera on B");
    let texts: Vec<String> = chats(&got).into_iter().map(|(_, t)| t).collect();
    let expect: Vec<String> = (0..10).map(|i| format!("missed {i}")).collect();
    assert_eq!(texts, expect, "exactly the missed messages, in order");
    // The replayed chat frames are the ones Walt saw live on B, seq for seq.
    let live: HashSet<(u64, String)> = chats(&seen_w).into_iter().collect();
    for m in chats(&got) {
        assert!(live.contains(&m), "{m:?} was not what Walt saw");
    }
    // And Vera is live on B from there.
    w.chat("after").await;
    let more = v2.collect_until(|f| f["text"] == "after", WAIT).await;
    let resumed_to = got
        .iter()
        .filter(|f| is_broadcast(f))
        .map(seq)
        .max()
        .unwrap();
    assert_contiguous(resumed_to, &more, "Vera live on B");
}
