//! The auction storm (issue 18): bidders with a token and a keep-alive connection each send
//! their bids (plain, every fifth a proxy maximum) spread evenly over the last seconds of a
//! soft-close lot; latency from each bid's scheduled send to its acknowledgement (the 201, or
//! the refusal). Afterwards the creator's bid log is read back: every answered bid is in it
//! once, accepted bids rise strictly in log order, and every accepted answer is an accepted
//! entry (no accepted bid lost or reordered).
//!
//! `auction-ceiling` is the peer: the same bid Lua script on the same Redis with no server,
//! called through the store (`EVALSHA`) from many connections at once.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::counts::Counts;
use super::hist::{self, Hist, Percentiles};
use super::http1::Http;
use super::sys;

#[derive(Debug, Clone, clap::Args)]
pub struct AuctionArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's `--admin-token` (a creator, a live show and the lot's product are made).
    #[arg(long, env = "LIVESALE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    #[arg(long, default_value_t = 1000)]
    pub bidders: usize,
    #[arg(long, default_value_t = 5000)]
    pub bids: usize,
    /// The bids are spread evenly over this many milliseconds before the lot's first end.
    #[arg(long, default_value_t = 2000)]
    pub window_ms: u64,
    /// Source addresses for the bidders' connections, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub source_ips: Vec<IpAddr>,
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Another process whose CPU time to report (Redis).
    #[arg(long)]
    pub other_pid: Option<u32>,
    #[arg(long, default_value = "auction")]
    pub label: String,
    #[arg(long)]
    pub allow_remote: bool,
}

/// What an `auction` run prints as its last line.
#[derive(Debug, serde::Serialize)]
pub struct AuctionSummary {
    pub kind: String,
    pub label: String,
    pub bidders: u64,
    pub bids: u64,
    pub window_ms: u64,
    pub fired: u64,
    pub answers: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub burst_s: f64,
    pub throughput_per_s: f64,
    pub latency: Percentiles,
    pub server_cores_burst: Option<f64>,
    pub other_cores_burst: Option<f64>,
    pub log_entries: u64,
    pub log_accepted: u64,
    /// Accepted answers with no accepted log entry (bidder, kind, amount).
    pub lost: u64,
    /// Accepted log entries whose `current` is not above the previous one's.
    pub reordered: u64,
    /// Log entries minus answered bids (a bid logged twice, or never answered).
    pub log_surplus: i64,
    pub ends_moved_s: f64,
}

#[derive(Default)]
struct Shared {
    fired: AtomicU64,
    last_answer_us: AtomicU64,
    latency: Hist,
    answers: Counts,
    errors: Counts,
    /// (bidder, kind, amount) of each accepted answer.
    accepted: std::sync::Mutex<Vec<(String, &'static str, i64)>>,
}

async fn call(
    http: &mut Http,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let auth = format!("Bearer {token}");
    let body = body.map(|b| b.to_string());
    let r = http
        .request(
            method,
            path,
            &[("Authorization", &auth)],
            body.as_deref().map(str::as_bytes),
            true,
        )
        .await
        .map_err(|e| format!("{method} {path}: {e}"))?;
    if !(200..300).contains(&r.status) {
        return Err(format!("{method} {path}: {}", r.code()));
    }
    Ok(r.json())
}

fn rfc3339_ms(v: &Value) -> Result<i64, String> {
    let text = v.as_str().ok_or("no ends_at")?;
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("ends_at {text}: {e}"))
}

/// Bid `j`: every fifth a proxy maximum, the rest plain amounts rising with `j`.
fn bid_body(j: usize) -> (&'static str, i64) {
    let amount = 1000 + j as i64 * 10;
    if j % 5 == 0 {
        ("max", amount + 300)
    } else {
        ("amount", amount)
    }
}

pub async fn run(args: AuctionArgs) -> Result<AuctionSummary, String> {
    let server = super::setup::server_addr(&args.url, args.allow_remote).await?;
    let made = super::setup::setup(server, &args.admin_token, 1, 5000).await?;
    let (show, creator) = (made.show_id.clone(), made.creator_token.clone());
    let (tokens, errors) =
        super::setup::viewer_tokens(server, &args.source_ips, &show, args.bidders, 32, "bidder")
            .await;
    let sh = Arc::new(Shared::default());
    sh.errors.merge(errors);
    let mut conns = Vec::new();
    for (i, t) in tokens.into_iter().enumerate() {
        let Some((token, viewer)) = t else { continue };
        let src = (!args.source_ips.is_empty()).then(|| args.source_ips[i % args.source_ips.len()]);
        let mut http = Http::new(server, src);
        http.connect().await.map_err(|e| format!("connect: {e}"))?;
        conns.push((http, token, viewer));
    }
    eprintln!("{} bidders ready", conns.len());
    let mut admin = Http::new(server, None);
    let lot = call(
        &mut admin,
        "POST",
        &format!("/api/shows/{show}/auctions"),
        &creator,
        Some(json!({
            "product_id": made.product_id,
            "start_price": { "amount": 1000, "currency": "USD" },
            "duration_s": 10, "mode": "soft_close", "extend_s": 5,
            "increments": [{ "from": 0, "step": 1 }],
        })),
    )
    .await?;
    let lot_id = lot["id"].as_str().ok_or("no lot id")?.to_string();
    let first_end = rfc3339_ms(&lot["ends_at"])?;
    let fire_in = first_end - args.window_ms as i64 - sys::now_ms() as i64;
    let fire = Instant::now() + Duration::from_millis(fire_in.max(0) as u64);
    let spacing_us = args.window_ms as f64 * 1000.0 / args.bids.max(1) as f64;
    let n = conns.len().max(1);
    let path = Arc::new(format!("/api/shows/{show}/auctions/{lot_id}/bids"));
    tokio::time::sleep_until(fire - Duration::from_millis(100)).await;
    let server_cpu0 = args.server_pid.and_then(sys::cpu_s);
    let other_cpu0 = args.other_pid.and_then(sys::cpu_s);
    let fire_us = sys::now_us() + 100_000;
    let mut tasks = Vec::new();
    for (b, (mut http, token, viewer)) in conns.into_iter().enumerate() {
        let (sh, path, total) = (sh.clone(), path.clone(), args.bids);
        tasks.push(tokio::spawn(async move {
            let auth = format!("Bearer {token}");
            for j in (b..total).step_by(n) {
                let due = fire + Duration::from_micros((j as f64 * spacing_us) as u64);
                tokio::time::sleep_until(due).await;
                let (kind, amount) = bid_body(j);
                let field = if kind == "max" {
                    "max_amount"
                } else {
                    "amount"
                };
                let body = json!({ field: amount }).to_string();
                let key = format!("bench-{j}");
                sh.fired.fetch_add(1, Ordering::Relaxed);
                let r = http
                    .request(
                        "POST",
                        &path,
                        &[("Authorization", &auth), ("Idempotency-Key", &key)],
                        Some(body.as_bytes()),
                        false,
                    )
                    .await;
                sh.latency
                    .record(Instant::now().saturating_duration_since(due).as_micros() as u64);
                sh.last_answer_us
                    .fetch_max(sys::now_us(), Ordering::Relaxed);
                match r {
                    Ok(r) if r.status == 201 => {
                        let outcome = r.json()["outcome"].as_str().unwrap_or("?").to_string();
                        if outcome == "accepted" {
                            let mut acc = sh.accepted.lock().unwrap_or_else(|p| p.into_inner());
                            acc.push((viewer.clone(), kind, amount));
                        }
                        sh.answers.bump(format!("201:{outcome}"));
                    }
                    Ok(r) => sh.answers.bump(r.code()),
                    Err(e) => sh.errors.bump(format!("bid:{:?}", e.kind())),
                }
            }
        }));
    }
    for t in tasks {
        if tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .is_err()
        {
            sh.errors.bump("bid:timeout_120s");
        }
    }
    let burst_s = (sh
        .last_answer_us
        .load(Ordering::Relaxed)
        .saturating_sub(fire_us) as f64
        / 1e6)
        .max(1e-9);
    let server_cpu1 = args.server_pid.and_then(sys::cpu_s);
    let other_cpu1 = args.other_pid.and_then(sys::cpu_s);
    let log = call(
        &mut admin,
        "GET",
        &format!("/api/shows/{show}/auctions/{lot_id}/log"),
        &creator,
        None,
    )
    .await?;
    let entries = log["entries"].as_array().cloned().unwrap_or_default();
    let (mut reordered, mut last, mut in_log) = (
        0u64,
        None::<i64>,
        HashMap::<(String, String, i64), u64>::new(),
    );
    for e in entries.iter().filter(|e| e["outcome"] == "accepted") {
        let current = e["current"].as_i64();
        if current <= last {
            reordered += 1;
        }
        last = current.max(last);
        let id = (
            e["bidder"].as_str().unwrap_or("").to_string(),
            e["kind"].as_str().unwrap_or("").to_string(),
            e["amount"].as_i64().unwrap_or(0),
        );
        *in_log.entry(id).or_default() += 1;
    }
    let log_accepted = in_log.values().sum();
    let accepted = std::mem::take(&mut *sh.accepted.lock().unwrap_or_else(|p| p.into_inner()));
    let mut lost = 0;
    for (viewer, kind, amount) in accepted {
        match in_log.get_mut(&(viewer, kind.to_string(), amount)) {
            Some(n) if *n > 0 => *n -= 1,
            _ => lost += 1,
        }
    }
    let answered: u64 = sh.answers.snapshot().values().sum();
    let final_end = rfc3339_ms(&log["auction"]["ends_at"]).unwrap_or(first_end);
    let cores = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a) / burst_s);
    let fired = sh.fired.load(Ordering::Relaxed);
    Ok(AuctionSummary {
        kind: "auction".into(),
        label: args.label,
        bidders: args.bidders as u64,
        bids: args.bids as u64,
        window_ms: args.window_ms,
        fired,
        answers: sh.answers.snapshot(),
        errors: sh.errors.snapshot(),
        burst_s,
        throughput_per_s: fired as f64 / burst_s,
        latency: hist::percentiles(&sh.latency.sparse()),
        server_cores_burst: cores(server_cpu0, server_cpu1),
        other_cores_burst: cores(other_cpu0, other_cpu1),
        log_entries: entries.len() as u64,
        log_accepted,
        lost,
        reordered,
        log_surplus: entries.len() as i64 - answered as i64,
        ends_moved_s: (final_end - first_end) as f64 / 1000.0,
    })
}

#[derive(Debug, Clone, clap::Args)]
pub struct CeilingArgs {
    #[arg(long)]
    pub redis_url: String,
    /// Connections (one store each) calling the script at once.
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    #[arg(long, default_value_t = 100_000)]
    pub bids: u64,
    #[arg(long, default_value_t = 1000)]
    pub bidders: u64,
    #[arg(long, default_value = "auction-ceiling")]
    pub label: String,
}

/// What an `auction-ceiling` run prints as its last line.
#[derive(Debug, serde::Serialize)]
pub struct CeilingSummary {
    pub kind: String,
    pub label: String,
    pub connections: u64,
    pub bids: u64,
    pub seconds: f64,
    pub scripts_per_s: f64,
    pub latency: Percentiles,
    pub accepted: u64,
}

/// The bid script's ceiling: `bids` bids on one open lot from `connections` stores at once.
pub async fn ceiling(args: CeilingArgs) -> Result<CeilingSummary, String> {
    use livesale::domain::auction::{
        Auction, AuctionId, AuctionMode, AuctionSpec, BidKind, BidRequest, Bidder,
    };
    use livesale::domain::{CreatorId, Money, NewShow, ProductId, Show, ShowId, ViewerId};
    use livesale::store::RedisStore;
    use livesale::store::auctions::{AuctionStore, BidStored, KeyedBid};
    let prefix = format!("bench-auction-{:x}", sys::now_us());
    let timeout = Duration::from_secs(10);
    let mut stores = Vec::new();
    for _ in 0..args.connections.max(1) {
        stores.push(Arc::new(
            RedisStore::connect(&args.redis_url, &prefix, timeout)
                .await
                .map_err(|e| e.to_string())?,
        ));
    }
    let now = chrono::Utc::now();
    let show = Show::schedule(
        ShowId(uuid::Uuid::now_v7()),
        CreatorId(uuid::Uuid::now_v7()),
        NewShow {
            title: "Ceiling".into(),
            description: None,
            scheduled_at: None,
            cover_url: None,
        },
        now,
    )
    .map_err(|e| e.to_string())?;
    let spec = AuctionSpec {
        start_price: Money::price(1000, "USD").map_err(|e| e.to_string())?,
        duration_s: 3600,
        mode: AuctionMode::SoftClose,
        extend_s: Some(10),
        reserve_price: None,
        increments: None,
    };
    let lot = Auction::new(
        AuctionId(uuid::Uuid::now_v7()),
        ProductId(uuid::Uuid::now_v7()),
        spec.validate().map_err(|e| e.to_string())?,
    );
    let store = &stores[0];
    let err = |e: livesale::store::StoreError| e.to_string();
    store
        .create_auction(&show, &lot)
        .await
        .map_err(err)?
        .map_err(|e| e.to_string())?;
    let opened_ms = now.timestamp_millis();
    store
        .open_auction(&show, lot.id, opened_ms)
        .await
        .map_err(err)?
        .map_err(|e| e.to_string())?;
    let next = Arc::new(AtomicU64::new(0));
    let latency = Arc::new(Hist::default());
    let accepted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for store in stores {
        let (next, latency, accepted, show, total, bidders) = (
            next.clone(),
            latency.clone(),
            accepted.clone(),
            show.clone(),
            args.bids,
            args.bidders.max(1),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                if j >= total {
                    return Ok::<(), String>(());
                }
                let b = j % bidders;
                let bid = KeyedBid {
                    request: BidRequest {
                        bidder: Bidder {
                            viewer_id: ViewerId(uuid::Uuid::from_u128(u128::from(b) + 1)),
                            name: format!("Bidder {b}"),
                        },
                        kind: if j % 5 == 0 {
                            BidKind::Max
                        } else {
                            BidKind::Amount
                        },
                        amount: 1000 + j as i64 * 100,
                        currency: None,
                        received_ms: opened_ms + 1000,
                    },
                    key: Some(format!("k{j}")),
                };
                let t = Instant::now();
                let stored = store
                    .bid(&show, lot.id, &bid)
                    .await
                    .map_err(|e| e.to_string())?;
                latency.record(t.elapsed().as_micros() as u64);
                if let Ok(BidStored::Handled { answer, .. }) = stored
                    && matches!(
                        answer.outcome,
                        livesale::domain::auction::BidOutcome::Accepted { .. }
                    )
                {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(CeilingSummary {
        kind: "auction-ceiling".into(),
        label: args.label,
        connections: args.connections as u64,
        bids: args.bids,
        seconds,
        scripts_per_s: args.bids as f64 / seconds,
        latency: hist::percentiles(&latency.sparse()),
        accepted: accepted.load(Ordering::Relaxed),
    })
}
