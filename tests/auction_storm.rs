//! The final-seconds storm of issue 18, on both stores: 1,000 bidders (viewers of the test
//! payment provider, which counts as a saved card) send 5,000 bids, plain and proxy, over
//! HTTP in the last ~2 s of a soft-close lot; on the memory store through one node, on Redis
//! spread over two server processes sharing one Redis. Then: every accepted bid in the log is
//! strictly above the one before; the log replayed through the pure rules (`open`,
//! `place_bid`, `close`) gives every logged entry back and the final lot, so the end moved
//! exactly as the rule says; the winner is the highest bid or proxy maximum (the earliest on a
//! tie); and every node's room announced the same final `auction.ended`, the replay's.
//!
//! No timing is asserted: the bids are aimed at the last 2 s, but a slow machine only moves
//! the end further (the soft close), which the replay checks like any other extension.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::server::{Backend, ServerProcess, TestServer, s};
use common::ws::{Incoming, WsClient};
use livesale::domain::auction::{
    Auction, AuctionId, AuctionMode, AuctionSpec, BidRequest, Bidder, IncrementBand,
    IncrementTable, LogEntry, close, open, place_bid,
};
use livesale::domain::{Money, ProductId, ViewerId};
use serde_json::{Value, json};
use uuid::Uuid;

const BIDDERS: usize = 1000;
const BIDS: usize = 5000;
const WINDOW_MS: i64 = 2000;
const DURATION_S: i64 = 10;
const EXTEND_S: i64 = 5;
const ADMIN: &str = "storm-admin";
const SECRET: &str = "storm-secret-0123456789abcdef";

/// The nodes a storm runs on, kept alive for the test, and how to reach them.
struct Nodes {
    net: Net,
    _memory: Option<TestServer>,
    _processes: Vec<ServerProcess>,
}

/// The nodes' base URLs, their admin token and one HTTP client.
#[derive(Clone)]
struct Net {
    bases: Vec<String>,
    admin: String,
    http: reqwest::Client,
}

async fn memory_node() -> Nodes {
    let srv = TestServer::start(Backend::Memory).await;
    Nodes {
        net: Net {
            bases: vec![srv.base.clone()],
            admin: common::server::ADMIN.into(),
            http: client(),
        },
        _memory: Some(srv),
        _processes: Vec::new(),
    }
}

fn redis_nodes() -> Nodes {
    let url = common::redis::redis_url();
    let prefix = common::redis::unique_prefix("storm");
    let node = |id: &str| {
        ServerProcess::spawn(
            &["--no-demo"],
            &[
                ("REDIS_URL", url.as_str()),
                ("LIVESALE_REDIS_PREFIX", prefix.as_str()),
                ("LIVESALE_SECRET", SECRET),
                ("LIVESALE_ADMIN_TOKEN", ADMIN),
                ("LIVESALE_NODE_ID", id),
                ("LIVESALE_JOIN_RATE", "0"),
                ("LIVESALE_WS_MAX_PER_ADDRESS", "0"),
                ("RUST_LOG", "warn"),
            ],
        )
    };
    let processes = vec![node("a"), node("b")];
    Nodes {
        net: Net {
            bases: processes.iter().map(|p| p.base.clone()).collect(),
            admin: ADMIN.into(),
            http: client(),
        },
        _memory: None,
        _processes: processes,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .build()
        .unwrap()
}

impl Net {
    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        TestServer::finish(req.send().await.expect("request sent")).await
    }

    async fn post(&self, node: usize, path: &str, token: &str, body: Value) -> (u16, Value) {
        let base = &self.bases[node % self.bases.len()];
        let req = self
            .http
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body);
        self.send(req).await
    }

    async fn ok(&self, path: &str, token: &str, body: Value) -> Value {
        let (status, body) = self.post(0, path, token, body).await;
        assert!((200..300).contains(&status), "POST {path}: {status} {body}");
        body
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let req = self
            .http
            .get(format!("{}{path}", self.bases[0]))
            .bearer_auth(token);
        let (status, body) = self.send(req).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// What a storm's lot is made of: the creator's token, the show and the product.
async fn live_show(nodes: &Net) -> (String, String, String) {
    let creator = nodes
        .ok("/api/creators", &nodes.admin, json!({ "name": "Storm" }))
        .await;
    let token = s(&creator["token"]);
    let show = s(&nodes
        .ok("/api/shows", &token, json!({ "title": "Storm" }))
        .await["id"]);
    nodes
        .ok(&format!("/api/shows/{show}/start"), &token, json!({}))
        .await;
    let product = nodes
        .ok(
            "/api/products",
            &token,
            json!({ "sku": "STORM-1", "title": "The lot",
                    "price": { "amount": 5000, "currency": "USD" }, "stock": 1 }),
        )
        .await;
    let product = s(&product["id"]);
    let lineup = json!({ "product_id": product });
    nodes
        .ok(&format!("/api/shows/{show}/lineup"), &token, lineup)
        .await;
    (token, show, product)
}

/// The lot's spec, as sent and as the replay validates it: 10 s, soft close by 5 s, a
/// one-cent increment so most plain bids that arrive in order are accepted.
fn spec() -> AuctionSpec {
    AuctionSpec {
        start_price: Money::price(1000, "USD").unwrap(),
        duration_s: DURATION_S,
        mode: AuctionMode::SoftClose,
        extend_s: Some(EXTEND_S),
        reserve_price: None,
        increments: Some(IncrementTable {
            bands: vec![IncrementBand { from: 0, step: 1 }],
        }),
    }
}

/// `BIDDERS` viewers joined through the nodes in turn: (viewer id, token, name).
async fn bidders(nodes: &Arc<Net>, show: &str) -> Vec<(ViewerId, String, String)> {
    let limit = Arc::new(tokio::sync::Semaphore::new(32));
    let joins: Vec<_> = (0..BIDDERS)
        .map(|i| {
            let (nodes, limit, show) = (nodes.clone(), limit.clone(), show.to_string());
            tokio::spawn(async move {
                let _permit = limit.acquire().await.unwrap();
                let name = format!("Bidder {i}");
                let base = &nodes.bases[i % nodes.bases.len()];
                let req = nodes
                    .http
                    .post(format!("{base}/api/shows/{show}/viewers"))
                    .json(&json!({ "display_name": name }));
                let (status, body) = nodes.send(req).await;
                assert_eq!(status, 201, "join: {body}");
                (
                    s(&body["viewer_id"]).parse().unwrap(),
                    s(&body["token"]),
                    name,
                )
            })
        })
        .collect();
    let mut out = Vec::new();
    for j in joins {
        out.push(j.await.unwrap());
    }
    out
}

/// Bid `j`: every fifth a proxy maximum, the rest plain amounts rising with `j`.
fn bid_body(j: usize) -> Value {
    let amount = 1000 + j as i64 * 10;
    if j % 5 == 0 {
        json!({ "max_amount": amount + 300 })
    } else {
        json!({ "amount": amount })
    }
}

/// Fires the storm: bid `j` by bidder `j % BIDDERS` through node `j % nodes`, due at
/// `start + j * WINDOW_MS / BIDS`. Returns each bid's status and answer.
async fn fire(
    nodes: &Arc<Net>,
    show: &str,
    lot: &str,
    bidders: &[(ViewerId, String, String)],
    start: tokio::time::Instant,
) -> Vec<(usize, u16, Value)> {
    let tasks: Vec<_> = bidders
        .iter()
        .enumerate()
        .map(|(b, (_, token, _))| {
            let (nodes, token) = (nodes.clone(), token.clone());
            let path = format!("/api/shows/{show}/auctions/{lot}/bids");
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for j in (b..BIDS).step_by(BIDDERS) {
                    let due = start
                        + Duration::from_micros((j as i64 * WINDOW_MS * 1000 / BIDS as i64) as u64);
                    tokio::time::sleep_until(due).await;
                    let base = &nodes.bases[j % nodes.bases.len()];
                    let req = nodes
                        .http
                        .post(format!("{base}{path}"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", format!("storm-{j}"))
                        .json(&bid_body(j));
                    let (status, body) = nodes.send(req).await;
                    answers.push((j, status, body));
                }
                answers
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

/// A WebSocket viewer on every node, each reading until its room announces `auction.ended`
/// (a viewer the storm left behind is dropped as a slow consumer: it resumes from its last
/// seq, as the page does).
async fn watchers(nodes: &Net, show: &str) -> Vec<tokio::task::JoinHandle<Value>> {
    let mut out = Vec::new();
    for (n, base) in nodes.bases.iter().enumerate() {
        let req = nodes
            .http
            .post(format!("{base}/api/shows/{show}/viewers"))
            .json(&json!({ "display_name": format!("Watcher {n}") }));
        let (_, joined) = nodes.send(req).await;
        let (base, show, token) = (base.clone(), show.to_string(), s(&joined["token"]));
        let mut ws = WsClient::connect_base(&base, &show, Some(&token), "").await;
        let welcome = ws.next_json(common::ws::WAIT).await;
        assert_eq!(welcome["type"], "welcome");
        out.push(tokio::spawn(async move {
            let mut last = 0;
            loop {
                match ws.next_incoming(Duration::from_secs(120)).await {
                    Some(Incoming::Text(text)) => {
                        let frame: Value = serde_json::from_str(&text).unwrap();
                        last = frame["seq"].as_u64().unwrap_or(last);
                        if frame["type"] == "auction.ended" {
                            return frame;
                        }
                    }
                    Some(Incoming::Binary(_)) => {}
                    Some(Incoming::End(_)) => {
                        let resume = format!("last_seq={last}");
                        ws = WsClient::connect_base(&base, &show, Some(&token), &resume).await;
                    }
                    None => panic!("no auction.ended on {base} within 120 s"),
                }
            }
        }));
    }
    out
}

async fn storm(running: Nodes) {
    let nodes = Arc::new(running.net.clone());
    let (creator, show, product) = live_show(&nodes).await;
    let bidders = bidders(&nodes, &show).await;
    let names: HashMap<ViewerId, String> = bidders
        .iter()
        .map(|(id, _, name)| (*id, name.clone()))
        .collect();
    let ended = watchers(&nodes, &show).await;
    let body = json!({
        "product_id": product,
        "start_price": { "amount": 1000, "currency": "USD" },
        "duration_s": DURATION_S, "mode": "soft_close", "extend_s": EXTEND_S,
        "increments": [{ "from": 0, "step": 1 }],
    });
    let created = nodes
        .ok(&format!("/api/shows/{show}/auctions"), &creator, body)
        .await;
    let lot = s(&created["id"]);
    let first_end = chrono::DateTime::parse_from_rfc3339(&s(&created["ends_at"]))
        .unwrap()
        .timestamp_millis();
    // Aim the storm at the last WINDOW_MS of the lot, on this machine's clock (the nodes').
    let wait_ms = first_end - WINDOW_MS - chrono::Utc::now().timestamp_millis();
    let start = tokio::time::Instant::now() + Duration::from_millis(wait_ms.max(0) as u64);
    let answers = fire(&nodes, &show, &lot, &bidders, start).await;
    assert_eq!(answers.len(), BIDS);
    let accepted = answers
        .iter()
        .filter(|(_, status, body)| *status == 201 && body["outcome"] == "accepted")
        .count();
    for (j, status, body) in &answers {
        let refused = ["bid_too_low", "max_below_current", "auction_closed"];
        assert!(
            *status == 201 || (*status == 409 && refused.iter().any(|c| body["code"] == *c)),
            "bid {j}: {status} {body}"
        );
    }
    let frames: Vec<Value> = futures::future::join_all(ended)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let read = nodes
        .get(&format!("/api/shows/{show}/auctions/{lot}/log"), &creator)
        .await;
    let log: Vec<LogEntry> = serde_json::from_value(read["entries"].clone()).unwrap();
    assert_eq!(log.len(), BIDS, "every bid is in the log once");
    assert_eq!(
        log.iter().filter(|e| e.outcome == "accepted").count(),
        accepted
    );
    let mut last = None;
    for e in log.iter().filter(|e| e.outcome == "accepted") {
        assert!(
            e.current > last,
            "accepted bids rise strictly: {e:?} after {last:?}"
        );
        last = e.current;
    }

    // The replay: the lot as opened, every entry through the rules, then the close.
    let mut replayed = open(
        Auction::new(
            AuctionId(lot.parse::<Uuid>().unwrap()),
            ProductId(product.parse::<Uuid>().unwrap()),
            spec().validate().unwrap(),
        ),
        first_end - DURATION_S * 1000,
    )
    .unwrap()
    .auction;
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
        let req = BidRequest {
            bidder: Bidder {
                viewer_id: e.bidder,
                name: names[&e.bidder].clone(),
            },
            kind: e.kind,
            amount: e.amount,
            currency: None,
            received_ms: e.received_ms,
        };
        let step = place_bid(replayed, &req);
        assert_eq!(&step.entry, e, "the log replays through the rules");
        replayed = step.auction;
    }
    let end = replayed.ends_at_ms.unwrap();
    assert!(end > first_end, "the storm moved the soft close");
    let closed = close(replayed, end, false).unwrap().auction;

    // The winner: the highest accepted amount or maximum, the earliest on a tie.
    let best = log
        .iter()
        .filter(|e| e.outcome == "accepted" || e.outcome == "max_raised")
        .min_by_key(|e| (-e.amount, e.seq))
        .unwrap();
    let view = serde_json::to_value(closed.view()).unwrap();
    assert_eq!(view["winner"]["viewer_id"], json!(best.bidder));
    for frame in &frames {
        assert_eq!(
            frame["auction"], view,
            "every node announced the replay's end"
        );
        assert_eq!(frame["result"], "sold");
        assert_eq!(frame["winner"], view["winner"]);
    }
    let stored = nodes
        .get(&format!("/api/shows/{show}/auctions/{lot}"), &creator)
        .await;
    assert_eq!(stored, view);
    one_paid_order(&nodes, &show, &creator, &frames).await;
}

/// Exactly one order for the lot (the one every node's `auction.ended` named), and it is
/// paid: the test provider approves the winner's saved card (the charge may settle after
/// the announcement, so its status is read until it leaves pending_payment).
async fn one_paid_order(nodes: &Net, show: &str, creator: &str, frames: &[Value]) {
    let order_id = frames[0]["order_id"].clone();
    assert!(
        order_id.is_string(),
        "a sold lot names its order: {}",
        frames[0]
    );
    assert!(frames.iter().all(|f| f["order_id"] == order_id));
    for _ in 0..300 {
        let listed = nodes
            .get(&format!("/api/shows/{show}/orders"), creator)
            .await;
        let orders = listed["orders"].as_array().cloned().unwrap_or_default();
        assert_eq!(orders.len(), 1, "one order for the lot: {listed}");
        assert_eq!(orders[0]["id"], order_id);
        if orders[0]["status"] != "pending_payment" {
            assert_eq!(orders[0]["status"], "paid", "{}", orders[0]);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the winner's order was never paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_final_seconds_storm_on_the_memory_store() {
    storm(memory_node().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_final_seconds_storm_across_two_nodes_on_redis() {
    storm(redis_nodes()).await;
}
