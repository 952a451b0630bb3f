//! The flash drop: many buyers with a prepared cart (and, like a browser tab, a keep-alive
//! connection each) check out within about a second; exactly the stock must sell.
//!
//! Latency is measured from each checkout's *scheduled* send time to its complete answer, so
//! a server that falls behind cannot hide it (no coordinated omission).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::counts::Counts;
use super::hist::{self, Hist};
use super::http1::Http;
use super::report::{Checkout, ServerStats, ToolStats};
use super::sys;
use livesale::domain::Code;

#[derive(Debug, Clone, clap::Args)]
pub struct CheckoutArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[arg(long)]
    pub show: String,
    /// The pinned product every buyer puts in the cart.
    #[arg(long)]
    pub product: String,
    /// The creator's token, to read the order list afterwards.
    #[arg(long)]
    pub creator_token: Option<String>,
    #[arg(long, default_value_t = 10_000)]
    pub buyers: usize,
    /// The checkouts are spread evenly over this many milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub fire_window_ms: u64,
    /// Source addresses for the buyers' connections, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub source_ips: Vec<IpAddr>,
    /// HTTP requests in flight while creating tokens.
    #[arg(long, default_value_t = 32)]
    pub http_concurrency: usize,
    /// Buyers preparing (connect + cart) at once.
    #[arg(long, default_value_t = 128)]
    pub prepare_concurrency: usize,
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Another process whose CPU time to report (Redis).
    #[arg(long)]
    pub other_pid: Option<u32>,
    #[arg(long, default_value = "checkout")]
    pub label: String,
    #[arg(long)]
    pub json_out: Option<std::path::PathBuf>,
    #[arg(long)]
    pub allow_remote: bool,
}

#[derive(Default)]
struct Shared {
    prepared: AtomicU64,
    prepare_done: AtomicU64,
    fired: AtomicU64,
    orders: AtomicU64,
    sold_out: AtomicU64,
    last_answer_us: AtomicU64,
    all: Hist,
    placed: Hist,
    other: Counts,
    errors: Counts,
}

pub async fn run(args: CheckoutArgs) -> Result<Checkout, String> {
    let wall_start = std::time::Instant::now();
    let cpu_start = sys::self_cpu_s();
    let server = super::setup::server_addr(&args.url, args.allow_remote).await?;
    let n = args.buyers;
    let sh = Arc::new(Shared::default());

    let prep_started = std::time::Instant::now();
    let (tokens, errors) = super::setup::viewer_tokens(
        server,
        &args.source_ips,
        &args.show,
        n,
        args.http_concurrency,
        "buyer",
    )
    .await;
    sh.errors.merge(errors);
    eprintln!(
        "{} buyer tokens in {:.1} s",
        tokens.iter().filter(|t| t.is_some()).count(),
        prep_started.elapsed().as_secs_f64()
    );

    let (fire_tx, fire_rx) = watch::channel(None::<Instant>);
    let sem = Arc::new(Semaphore::new(args.prepare_concurrency.max(1)));
    let spacing = Duration::from_secs_f64(args.fire_window_ms as f64 / 1000.0 / n.max(1) as f64);
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let Some((token, _)) = token else {
            sh.prepare_done.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let src = (!args.source_ips.is_empty()).then(|| args.source_ips[i % args.source_ips.len()]);
        let (sh, sem, mut fire_rx) = (sh.clone(), sem.clone(), fire_rx.clone());
        let cart_path = format!("/api/shows/{}/cart/items/{}", args.show, args.product);
        let checkout_path = format!("/api/shows/{}/checkout", args.show);
        tasks.push(tokio::spawn(async move {
            let auth = format!("Bearer {token}");
            let mut http = Http::new(server, src);
            {
                let _permit = sem.acquire().await;
                let r = http
                    .request(
                        "PUT",
                        &cart_path,
                        &[("Authorization", &auth)],
                        Some(br#"{"quantity":1}"#),
                        true,
                    )
                    .await;
                sh.prepare_done.fetch_add(1, Ordering::Relaxed);
                match r {
                    Ok(r) if r.status == 200 => {
                        sh.prepared.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => {
                        sh.errors.bump(format!("cart:{}", r.code()));
                        return;
                    }
                    Err(e) => {
                        sh.errors.bump(format!("cart:{:?}", e.kind()));
                        return;
                    }
                }
            }
            let fire = loop {
                if let Some(t) = *fire_rx.borrow() {
                    break t;
                }
                if fire_rx.changed().await.is_err() {
                    return;
                }
            };
            let due = fire + spacing * i as u32;
            tokio::time::sleep_until(due).await;
            let key = uuid::Uuid::new_v4().to_string();
            sh.fired.fetch_add(1, Ordering::Relaxed);
            let r = http
                .request(
                    "POST",
                    &checkout_path,
                    &[("Authorization", &auth), ("Idempotency-Key", &key)],
                    Some(b"{}"),
                    false,
                )
                .await;
            let took = Instant::now().saturating_duration_since(due).as_micros() as u64;
            sh.last_answer_us
                .fetch_max(sys::now_us(), Ordering::Relaxed);
            sh.all.record(took);
            match r {
                Ok(r) if r.status == 201 => {
                    sh.orders.fetch_add(1, Ordering::Relaxed);
                    sh.placed.record(took);
                }
                Ok(r) if r.status == 409 && r.code().ends_with(Code::SoldOut.as_str()) => {
                    sh.sold_out.fetch_add(1, Ordering::Relaxed);
                }
                Ok(r) => sh.other.bump(r.code()),
                Err(e) => sh.errors.bump(format!("checkout:{:?}", e.kind())),
            }
        }));
    }
    let mut last = Instant::now();
    while (sh.prepare_done.load(Ordering::Relaxed) as usize) < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            eprintln!(
                "preparing carts: {} of {n}",
                sh.prepared.load(Ordering::Relaxed)
            );
        }
    }
    let prepare_s = prep_started.elapsed().as_secs_f64();
    let prepared = sh.prepared.load(Ordering::Relaxed);
    eprintln!("{prepared} carts ready in {prepare_s:.1} s; firing");

    let fire = Instant::now() + Duration::from_millis(500);
    tokio::time::sleep_until(fire - Duration::from_millis(100)).await;
    let server_cpu0 = args.server_pid.and_then(sys::cpu_s);
    let other_cpu0 = args.other_pid.and_then(sys::cpu_s);
    let tool_cpu0 = sys::self_cpu_s();
    let jiffies0 = sys::cpu_jiffies();
    let (overflows_before, _) = sys::listen_drops();
    let rss_before = args.server_pid.and_then(sys::rss_kib);
    let fire_us = sys::now_us() + 100_000;
    let _ = fire_tx.send(Some(fire));
    let deadline = fire + Duration::from_millis(args.fire_window_ms) + Duration::from_secs(60);
    for t in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, t).await.is_err() {
            sh.errors.bump("checkout:timeout_60s");
        }
    }
    let server_cpu1 = args.server_pid.and_then(sys::cpu_s);
    let other_cpu1 = args.other_pid.and_then(sys::cpu_s);
    let tool_cpu1 = sys::self_cpu_s();
    let cpus = sys::cpu_use(&jiffies0, &sys::cpu_jiffies());
    let (overflows_after, _) = sys::listen_drops();
    let last_us = sh.last_answer_us.load(Ordering::Relaxed);
    let burst_s = last_us.saturating_sub(fire_us) as f64 / 1e6;
    let fired = sh.fired.load(Ordering::Relaxed);

    // What the creator's order list says afterwards.
    let (mut orders_listed, mut paid_listed, mut stock_left) = (None, None, None);
    let mut http = Http::new(server, None);
    if let Some(token) = &args.creator_token {
        let auth = format!("Bearer {token}");
        if let Ok(r) = http
            .request(
                "GET",
                &format!("/api/shows/{}/orders", args.show),
                &[("Authorization", &auth)],
                None,
                true,
            )
            .await
            && r.status == 200
        {
            let v = r.json();
            orders_listed = v["orders"].as_array().map(|a| a.len() as u64);
            paid_listed = v["paid"].as_u64();
        }
    }
    if let Ok(r) = http
        .request(
            "GET",
            &format!("/api/shows/{}/pins", args.show),
            &[],
            None,
            true,
        )
        .await
        && r.status == 200
    {
        stock_left = r.json()["pins"].as_array().and_then(|pins| {
            pins.iter()
                .find(|p| p["product_id"].as_str() == Some(args.product.as_str()))
                .and_then(|p| p["stock_left"].as_i64())
        });
    }

    let burst = burst_s.max(1e-9);
    Ok(Checkout {
        kind: "checkout".into(),
        label: args.label.clone(),
        buyers: n as u64,
        prepared,
        prepare_s,
        fire_window_ms: args.fire_window_ms,
        fired,
        orders: sh.orders.load(Ordering::Relaxed),
        sold_out: sh.sold_out.load(Ordering::Relaxed),
        other: sh.other.snapshot(),
        burst_s,
        throughput_per_s: fired as f64 / burst,
        latency_all: hist::percentiles(&sh.all.sparse()),
        latency_orders: hist::percentiles(&sh.placed.sparse()),
        orders_listed,
        paid_listed,
        stock_left,
        server: args.server_pid.map(|pid| ServerStats {
            pid,
            rss_kib_before: rss_before.unwrap_or(0),
            rss_kib_idle: rss_before.unwrap_or(0),
            rss_kib_end: sys::rss_kib(pid).unwrap_or(0),
            cpu_s_window: match (server_cpu0, server_cpu1) {
                (Some(a), Some(b)) => b - a,
                _ => 0.0,
            },
            other_pid: args.other_pid,
            other_cpu_s_window: match (other_cpu0, other_cpu1) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            },
        }),
        server_cores_burst: match (server_cpu0, server_cpu1) {
            (Some(a), Some(b)) => Some((b - a) / burst),
            _ => None,
        },
        other_cores_burst: match (other_cpu0, other_cpu1) {
            (Some(a), Some(b)) => Some((b - a) / burst),
            _ => None,
        },
        tool: ToolStats {
            cpu_s_total: sys::self_cpu_s() - cpu_start,
            wall_s_total: wall_start.elapsed().as_secs_f64(),
            cpu_s_window: tool_cpu1 - tool_cpu0,
            threads: sys::self_threads(),
            cores: std::thread::available_parallelism()
                .map(|n| n.get() as u64)
                .unwrap_or(1),
        },
        tool_cores_burst: (tool_cpu1 - tool_cpu0) / burst,
        errors: sh.errors.snapshot(),
        listen_overflows: overflows_after.saturating_sub(overflows_before),
        cpus,
    })
}
