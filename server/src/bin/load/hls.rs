//! LL-HLS viewers: N simulated clients that follow a show's live playlist the way hls.js does in
//! low-latency mode, usually through a cache (nginx, a CDN) in front of livesale.
//!
//! Each client fetches the playlist, its init segment(s) once, the parts within the playlist's
//! `PART-HOLD-BACK` of the live edge, then loops: a blocking reload of the next part
//! (`_HLS_msn`/`_HLS_part`) while it requests the part named by `EXT-X-PRELOAD-HINT` ahead
//! (held by the server until it exists), then any listed part it does not have yet. Clients
//! are tasks sharing one HTTP/1.1 keep-alive pool per source address (`--source-ips`), as
//! browsers on different machines would each hold their own connections.
//!
//! An observer follows the same playlist with blocking reloads, straight from the origin when
//! `--origin-url` is given, and notes when each part first appeared: the parts that appeared
//! in the measured window are what every client is expected to have fetched by the end of the
//! drain. The origin's `/metrics` are read at both ends of the window
//! (`livesale_hls_requests_total{kind}`, `livesale_hls_parts_total`), so the report shows how
//! many requests reached livesale per published part, the observer's own requests taken out.
//!
//! Timeline: clients start spread over `--ramp-s` → warm-up → window (`--duration-s`) →
//! drain (`--drain-s`, clients keep fetching so the window's last parts arrive) → stop.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use super::counts::Counts;
use super::hist::{self, Hist, Percentiles};
use super::m3u8::{PartId, Playlist};
use super::report::{CpuUse, ToolStats, cpus_line, errors_line, ms, render};
use super::sys;

#[derive(Debug, Clone, clap::Args)]
pub struct HlsArgs {
    /// Base URL the clients play from: the cache in front of livesale (or livesale itself).
    /// Loopback unless --allow-remote.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The show whose program the clients play (`/api/shows/{show}/hls/live.m3u8`).
    #[arg(long)]
    pub show: String,
    /// livesale itself, behind the cache: the observer reads its playlists there, and its
    /// /metrics give the origin's requests by kind during the window.
    #[arg(long)]
    pub origin_url: Option<String>,
    /// Clients this process runs.
    #[arg(long, default_value_t = 2000)]
    pub clients: usize,
    /// The clients start spread over this many seconds.
    #[arg(long, default_value_t = 2.0)]
    pub ramp_s: f64,
    /// Playing before the measured window (not counted).
    #[arg(long, default_value_t = 5.0)]
    pub warmup_s: f64,
    /// Length of the measured window.
    #[arg(long, default_value_t = 20.0)]
    pub duration_s: f64,
    /// Time the clients keep playing after the window, so its last parts arrive.
    #[arg(long, default_value_t = 3.0)]
    pub drain_s: f64,
    /// Wall-clock time (Unix ms) at which the window starts, so several processes measure the
    /// same one; default: ramp and warm-up after this process starts.
    #[arg(long)]
    pub start_at: Option<u64>,
    /// Source addresses for the clients' connections, comma-separated (e.g.
    /// 127.0.0.2,127.0.0.3); clients are spread over them, each address with its own pool.
    #[arg(long, value_delimiter = ',')]
    pub source_ips: Vec<IpAddr>,
    /// Longest any one request may take (a blocking reload is held at most about three
    /// target durations).
    #[arg(long, default_value_t = 15.0)]
    pub request_timeout_s: f64,
    /// livesale's pid, to read its CPU time from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// The cache's pids (nginx master and workers), comma-separated, for its CPU time.
    #[arg(long, value_delimiter = ',')]
    pub cache_pids: Vec<u32>,
    /// A name for this run in the report.
    #[arg(long, default_value = "hls")]
    pub label: String,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    pub json_out: Option<std::path::PathBuf>,
    /// Allow a server that is not on a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
}

/// Request kinds, as livesale's `livesale_hls_requests_total{kind}` names them.
pub const KINDS: [&str; 5] = ["playlist", "blocking_playlist", "part", "segment", "init"];
const PLAYLIST: usize = 0;
const BLOCKING: usize = 1;
const PART: usize = 2;
const INIT: usize = 4;

#[derive(Default)]
struct Shared {
    started: AtomicU64,
    requests_total: [AtomicU64; 5],
    requests_window: [AtomicU64; 5],
    bytes_window: AtomicU64,
    /// Blocking reloads answered without the part asked for (the server's hold timed out).
    reloads_without_part: AtomicU64,
    /// Hinted parts answered 404: the server never produced them (the segment closed on a
    /// keyframe first). Not errors: a part that does appear later is fetched from the
    /// playlist, and one that never does is not expected.
    hints_not_produced: AtomicU64,
    /// Blocking reload latency (request sent → playlist read), requests sent in the window.
    blocking: Hist,
    errors: Counts,
}

struct Ctx {
    playlist: Url,
    window: (u64, u64),
    shared: Shared,
}

impl Ctx {
    fn in_window(&self, us: u64) -> bool {
        us >= self.window.0 && us < self.window.1
    }

    fn count(&self, kind: usize, sent_us: u64) {
        self.shared.requests_total[kind].fetch_add(1, Ordering::Relaxed);
        if self.in_window(sent_us) {
            self.shared.requests_window[kind].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What one GET brought back.
enum Got {
    Body(Vec<u8>),
    /// The body's length only (media, not kept).
    Len(u64),
}

/// One GET of `url`: the body (kept when `keep`), or an error kind such as `part:404:hls_gone`
/// or `blocking_playlist:timeout`, with the server's Retry-After if any.
async fn get(
    http: &reqwest::Client,
    url: Url,
    kind: usize,
    keep: bool,
) -> Result<Got, (String, Option<u64>)> {
    let name = KINDS[kind];
    let fail = |e: reqwest::Error| {
        let why = if e.is_timeout() {
            "timeout"
        } else if e.is_connect() {
            "connect"
        } else {
            "io"
        };
        (format!("{name}:{why}"), None)
    };
    let mut resp = http.get(url).send().await.map_err(fail)?;
    let status = resp.status().as_u16();
    if status != 200 {
        let retry = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = resp.bytes().await.unwrap_or_default();
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(String::from));
        return Err(match code {
            Some(code) => (format!("{name}:{status}:{code}"), retry),
            None => (format!("{name}:{status}"), retry),
        });
    }
    if keep {
        return resp
            .bytes()
            .await
            .map(|b| Got::Body(b.to_vec()))
            .map_err(fail);
    }
    let mut n = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(fail)? {
        n += chunk.len() as u64;
    }
    Ok(Got::Len(n))
}

impl Got {
    fn len(&self) -> u64 {
        match self {
            Got::Body(b) => b.len() as u64,
            Got::Len(n) => *n,
        }
    }
}

/// The playlist URL with a blocking-reload query for `next`, as hls.js writes it.
fn blocking_url(playlist: &Url, next: PartId) -> Url {
    let mut u = playlist.clone();
    u.set_query(Some(&format!(
        "_HLS_msn={}&_HLS_part={}",
        next.msn, next.part
    )));
    u
}

/// One client's state: the parts it has (with the time each arrived), the init segments
/// fetched, and the highest part it has reached.
#[derive(Default)]
struct Client {
    got: BTreeMap<PartId, u64>,
    maps: BTreeSet<String>,
}

impl Ctx {
    /// Fetches and parses a playlist (`next` None: the plain one); counts and times it.
    async fn playlist(
        &self,
        http: &reqwest::Client,
        next: Option<PartId>,
    ) -> Result<Playlist, (String, Option<u64>)> {
        let (url, kind) = match next {
            Some(n) => (blocking_url(&self.playlist, n), BLOCKING),
            None => (self.playlist.clone(), PLAYLIST),
        };
        let sent = sys::now_us();
        let t0 = Instant::now();
        self.count(kind, sent);
        let got = get(http, url, kind, true).await?;
        let Got::Body(body) = got else {
            unreachable!("kept bodies come back whole")
        };
        if self.in_window(sent) {
            self.shared
                .bytes_window
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            if kind == BLOCKING {
                self.shared.blocking.record(t0.elapsed().as_micros() as u64);
            }
        }
        let pl = Playlist::parse(&String::from_utf8_lossy(&body))
            .map_err(|_| (format!("{}:parse", KINDS[kind]), None))?;
        if let Some(n) = next {
            let listed = pl.parts.iter().any(|p| p.id >= n)
                || pl.segments.last().is_some_and(|s| s.msn >= n.msn);
            if !listed && !pl.ended && self.in_window(sent) {
                self.shared
                    .reloads_without_part
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(pl)
    }

    /// Fetches a media file (part or init) by its playlist URI; returns whether it came.
    async fn file(&self, http: &reqwest::Client, uri: &str, kind: usize) -> bool {
        self.file_or_hint(http, uri, kind, false).await
    }

    /// [`Ctx::file`]; for a hinted part (`hinted`), a 404 is counted apart, not as an error.
    async fn file_or_hint(
        &self,
        http: &reqwest::Client,
        uri: &str,
        kind: usize,
        hinted: bool,
    ) -> bool {
        let Ok(url) = self.playlist.join(uri) else {
            self.shared.errors.bump(format!("{}:bad_uri", KINDS[kind]));
            return false;
        };
        let sent = sys::now_us();
        self.count(kind, sent);
        match get(http, url, kind, false).await {
            Ok(got) => {
                if self.in_window(sent) {
                    self.shared
                        .bytes_window
                        .fetch_add(got.len(), Ordering::Relaxed);
                }
                true
            }
            Err((e, _)) if hinted && e.starts_with("part:404") => {
                self.shared
                    .hints_not_produced
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
            Err((e, _)) => {
                self.shared.errors.bump(e);
                false
            }
        }
    }

    async fn part(
        &self,
        http: &reqwest::Client,
        c: &Mutex<Client>,
        id: PartId,
        uri: &str,
        hinted: bool,
    ) {
        if self.file_or_hint(http, uri, PART, hinted).await {
            lock(c).got.entry(id).or_insert_with(sys::now_us);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits after a failed playlist request: the server's Retry-After, else half a second.
async fn back_off(e: &(String, Option<u64>), shared: &Shared) {
    shared.errors.bump(e.0.clone());
    let wait = e.1.map_or(500, |s| s.clamp(1, 5) * 1000);
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// One client, until it is dropped at the end of the run (or the stream ends).
async fn client(ctx: &Ctx, http: &reqwest::Client, c: &Mutex<Client>) {
    let mut pl = loop {
        match ctx.playlist(http, None).await {
            Ok(pl) => break pl,
            Err(e) => back_off(&e, &ctx.shared).await,
        }
    };
    ctx.shared.started.fetch_add(1, Ordering::Relaxed);
    // Start within PART-HOLD-BACK of the live edge (three parts when the playlist says
    // nothing), as hls.js's low-latency start does.
    let hold = match (pl.part_hold_back_s, pl.part_target_s) {
        (Some(h), Some(t)) if t > 0.0 => (h / t).ceil() as usize,
        _ => 3,
    };
    let mut cursor: Option<PartId> = pl
        .parts
        .len()
        .checked_sub(hold.max(1) + 1)
        .map(|i| pl.parts[i].id);
    loop {
        for m in &pl.maps {
            if lock(c).maps.contains(m) {
                continue;
            }
            if ctx.file(http, m, INIT).await {
                lock(c).maps.insert(m.clone());
            }
        }
        if pl.ended {
            return;
        }
        let todo: Vec<(PartId, String)> = pl
            .parts
            .iter()
            .filter(|p| !p.gap && cursor.is_none_or(|cur| p.id > cur))
            .filter(|p| !lock(c).got.contains_key(&p.id))
            .map(|p| (p.id, p.uri.clone()))
            .collect();
        let hint = pl
            .hint
            .as_ref()
            .filter(|h| !lock(c).got.contains_key(&h.id))
            .map(|h| (h.id, h.uri.clone()));
        if let Some(last) = pl.last_part() {
            cursor = Some(cursor.map_or(last, |cur| cur.max(last)));
        }
        let next = pl.next_part();
        let fetch_parts = async {
            for (id, uri) in &todo {
                ctx.part(http, c, *id, uri, false).await;
            }
            if let Some((id, uri)) = &hint {
                ctx.part(http, c, *id, uri, true).await;
            }
        };
        let reload = async {
            if pl.can_block_reload {
                ctx.playlist(http, Some(next)).await
            } else {
                // No blocking reload: poll at the part target (or a second).
                let wait = pl.part_target_s.unwrap_or(1.0).clamp(0.1, 10.0);
                tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                ctx.playlist(http, None).await
            }
        };
        let (_, reloaded) = tokio::join!(fetch_parts, reload);
        match reloaded {
            Ok(new) => pl = new,
            Err(e) => back_off(&e, &ctx.shared).await,
        }
    }
}

/// The observer: follows the playlist with blocking reloads and notes when each part first
/// appeared (µs). Its requests by kind during the window are counted apart.
async fn observe(
    playlist: Url,
    window: (u64, u64),
    seen: &Mutex<BTreeMap<PartId, u64>>,
    requests: &[AtomicU64; 5],
    errors: &Counts,
) {
    let http = reqwest::Client::builder()
        .http1_only()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("a plain HTTP client builds");
    let ctx = Ctx {
        playlist,
        window,
        shared: Shared::default(),
    };
    let mut next = None;
    loop {
        let sent = sys::now_us();
        let r = ctx.playlist(&http, next).await;
        if sent >= window.0 && sent < window.1 {
            requests[if next.is_some() { BLOCKING } else { PLAYLIST }]
                .fetch_add(1, Ordering::Relaxed);
        }
        match r {
            Ok(pl) => {
                let now = sys::now_us();
                {
                    let mut s = lock(seen);
                    for p in &pl.parts {
                        s.entry(p.id).or_insert(now);
                    }
                }
                if pl.ended {
                    return;
                }
                next = pl.can_block_reload.then(|| pl.next_part());
                if next.is_none() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Err(e) => {
                errors.bump(format!("observer:{}", e.0));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The origin's counters at one moment.
#[derive(Debug, Clone, Default)]
struct OriginAt {
    requests: BTreeMap<String, f64>,
    parts: f64,
    segments: f64,
}

async fn origin_metrics(origin: &Url) -> Option<OriginAt> {
    let url = origin.join("/metrics").ok()?;
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    let sum = |m: &str| {
        super::media::prometheus_sum(&text, m, "", "")
            .values()
            .sum::<f64>()
    };
    Some(OriginAt {
        requests: super::media::prometheus_sum(&text, "livesale_hls_requests_total", "kind", ""),
        parts: sum("livesale_hls_parts_total"),
        segments: sum("livesale_hls_segments_total"),
    })
}

/// Everything read at one end of the window.
struct Mark {
    origin: Option<OriginAt>,
    server_cpu_s: Option<f64>,
    cache_cpu_s: Option<f64>,
    tool_cpu_s: f64,
    jiffies: Vec<(String, u64, u64, u64)>,
}

async fn mark(origin: Option<&Url>, server_pid: Option<u32>, cache_pids: &[u32]) -> Mark {
    let cache_cpu_s =
        (!cache_pids.is_empty()).then(|| cache_pids.iter().filter_map(|p| sys::cpu_s(*p)).sum());
    Mark {
        origin: match origin {
            Some(o) => origin_metrics(o).await,
            None => None,
        },
        server_cpu_s: server_pid.and_then(sys::cpu_s),
        cache_cpu_s,
        tool_cpu_s: sys::self_cpu_s(),
        jiffies: sys::cpu_jiffies(),
    }
}

fn loopback_url(url: &str, allow_remote: bool, what: &str) -> Result<Url, String> {
    let u = Url::parse(url).map_err(|e| format!("{what} {url}: {e}"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!("{what} must be http(s): {url}"));
    }
    let local = match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if !local && !allow_remote {
        return Err(format!(
            "{what} {url} is not a loopback address; this tool generates heavy load, pass --allow-remote if you mean it"
        ));
    }
    Ok(u)
}

fn playlist_url(base: &Url, show: &str) -> Result<Url, String> {
    base.join(&format!("/api/shows/{show}/hls/live.m3u8"))
        .map_err(|e| format!("playlist URL: {e}"))
}

pub async fn run(args: HlsArgs) -> Result<HlsReport, String> {
    if args.clients == 0 {
        return Err("--clients must be at least 1".into());
    }
    let base = loopback_url(&args.url, args.allow_remote, "--url")?;
    let origin = args
        .origin_url
        .as_deref()
        .map(|o| loopback_url(o, args.allow_remote, "--origin-url"))
        .transpose()?;
    let playlist = playlist_url(&base, &args.show)?;
    let observed = playlist_url(origin.as_ref().unwrap_or(&base), &args.show)?;

    let wall_start = std::time::Instant::now();
    let tool_cpu_start = sys::self_cpu_s();
    let now = sys::now_ms();
    let window_start_ms = args
        .start_at
        .unwrap_or(now + ((args.ramp_s + args.warmup_s) * 1000.0) as u64);
    let window_end_ms = window_start_ms + (args.duration_s * 1000.0) as u64;
    let stop_ms = window_end_ms + (args.drain_s * 1000.0) as u64;
    let window = (window_start_ms * 1000, window_end_ms * 1000);

    // One keep-alive pool per source address.
    let timeout = Duration::from_secs_f64(args.request_timeout_s.max(0.1));
    let srcs: Vec<Option<IpAddr>> = if args.source_ips.is_empty() {
        vec![None]
    } else {
        args.source_ips.iter().copied().map(Some).collect()
    };
    let mut pools = Vec::new();
    for src in &srcs {
        let b = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .local_address(*src);
        pools.push(b.build().map_err(|e| format!("HTTP client: {e}"))?);
    }

    let ctx = Arc::new(Ctx {
        playlist,
        window,
        shared: Shared::default(),
    });
    let seen: Arc<Mutex<BTreeMap<PartId, u64>>> = Arc::default();
    let observer_requests: Arc<[AtomicU64; 5]> = Arc::default();
    let observer = {
        let (seen, requests, ctx) = (seen.clone(), observer_requests.clone(), ctx.clone());
        tokio::spawn(async move {
            observe(observed, window, &seen, &requests, &ctx.shared.errors).await;
        })
    };

    let stop_at = sys::instant_at_ms(stop_ms);
    let ramp = Duration::from_secs_f64(args.ramp_s.max(0.0));
    let mut tasks = Vec::with_capacity(args.clients);
    for i in 0..args.clients {
        let ctx = ctx.clone();
        let http = pools[i % pools.len()].clone();
        let delay = ramp.mul_f64(i as f64 / args.clients as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let c = Mutex::new(Client::default());
            let _ = tokio::time::timeout_at(stop_at, client(&ctx, &http, &c)).await;
            c.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .got
                .into_iter()
                .collect::<Vec<_>>()
        }));
    }

    tokio::time::sleep_until(sys::instant_at_ms(window_start_ms)).await;
    let a = mark(origin.as_ref(), args.server_pid, &args.cache_pids).await;
    eprintln!(
        "[hls] window starts: {} of {} clients playing",
        ctx.shared.started.load(Ordering::Relaxed),
        args.clients
    );
    tokio::time::sleep_until(sys::instant_at_ms(window_end_ms)).await;
    let b = mark(origin.as_ref(), args.server_pid, &args.cache_pids).await;
    eprintln!("[hls] window over; draining");
    let mut results = Vec::with_capacity(tasks.len());
    for t in tasks {
        results.push(t.await.unwrap_or_default());
    }
    observer.abort();

    // The parts that first appeared in the window, and how many of them each client got.
    let seen = lock(&seen).clone();
    let expected: BTreeMap<PartId, u64> = seen
        .into_iter()
        .filter(|(_, t)| *t >= window.0 && *t < window.1)
        .collect();
    let delay = Hist::default();
    let mut got_by_count: BTreeMap<u64, u64> = BTreeMap::new();
    let mut missing_total = 0u64;
    for got in &results {
        let mut n = 0u64;
        let mut i = 0usize;
        for (id, first) in &expected {
            // Both sorted by part: walk them together.
            while i < got.len() && got[i].0 < *id {
                i += 1;
            }
            if i < got.len() && got[i].0 == *id {
                n += 1;
                delay.record(got[i].1.saturating_sub(*first));
            }
        }
        missing_total += expected.len() as u64 - n;
        *got_by_count.entry(n).or_default() += 1;
    }

    let load = |arr: &[AtomicU64; 5]| -> BTreeMap<String, u64> {
        KINDS
            .iter()
            .zip(arr.iter())
            .map(|(k, v)| (k.to_string(), v.load(Ordering::Relaxed)))
            .filter(|(_, v)| *v > 0)
            .collect()
    };
    let origin_window = match (&a.origin, &b.origin) {
        (Some(x), Some(y)) => Some(OriginWindow {
            requests: y
                .requests
                .iter()
                .map(|(k, v)| (k.clone(), v - x.requests.get(k).copied().unwrap_or(0.0)))
                .collect(),
            parts: y.parts - x.parts,
            segments: y.segments - x.segments,
        }),
        _ => None,
    };
    let diff = |x: Option<f64>, y: Option<f64>| Some(y? - x?);
    let mut report = HlsReport {
        kind: "hls".into(),
        label: args.label,
        url: args.url,
        show: args.show,
        processes: 1,
        clients: args.clients as u64,
        started: ctx.shared.started.load(Ordering::Relaxed),
        ramp_s: args.ramp_s,
        // With --start-at, the warm-up is whatever time was left after the ramp.
        warmup_s: match args.start_at {
            Some(_) => (window_start_ms.saturating_sub(now) as f64 / 1000.0 - args.ramp_s).max(0.0),
            None => args.warmup_s,
        },
        duration_s: args.duration_s,
        drain_s: args.drain_s,
        window_s: (window.1 - window.0) as f64 / 1e6,
        observer: if origin.is_some() { "origin" } else { "cache" }.into(),
        expected_parts: expected.len() as u64,
        got: got_by_count.into_iter().map(|(g, c)| [g, c]).collect(),
        missing_total,
        requests_window: load(&ctx.shared.requests_window),
        requests_total: load(&ctx.shared.requests_total),
        bytes_window: ctx.shared.bytes_window.load(Ordering::Relaxed),
        reloads_without_part: ctx.shared.reloads_without_part.load(Ordering::Relaxed),
        hints_not_produced: ctx.shared.hints_not_produced.load(Ordering::Relaxed),
        blocking_hist: ctx.shared.blocking.sparse(),
        part_delay_hist: delay.sparse(),
        observer_requests_window: load(&observer_requests),
        origin: origin_window,
        server_pid: args.server_pid,
        server_cpu_s_window: diff(a.server_cpu_s, b.server_cpu_s),
        cache_cpu_s_window: diff(a.cache_cpu_s, b.cache_cpu_s),
        tool: ToolStats {
            cpu_s_total: sys::self_cpu_s() - tool_cpu_start,
            wall_s_total: wall_start.elapsed().as_secs_f64(),
            cpu_s_window: b.tool_cpu_s - a.tool_cpu_s,
            threads: sys::self_threads(),
            cores: std::thread::available_parallelism()
                .map(|n| n.get() as u64)
                .unwrap_or(1),
        },
        cpus: sys::cpu_use(&a.jiffies, &b.jiffies),
        errors: ctx.shared.errors.snapshot(),
        derived: HlsDerived::default(),
    };
    report.derive();
    Ok(report)
}

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

/// The origin's counters over the window (every observer's requests included).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct OriginWindow {
    /// `livesale_hls_requests_total` increase by kind.
    pub requests: BTreeMap<String, f64>,
    /// `livesale_hls_parts_total` increase: parts published in the window.
    pub parts: f64,
    pub segments: f64,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct HlsReport {
    pub kind: String,
    pub label: String,
    pub url: String,
    pub show: String,
    pub processes: u64,
    pub clients: u64,
    /// Clients that got their first playlist.
    pub started: u64,
    pub ramp_s: f64,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub drain_s: f64,
    pub window_s: f64,
    /// Where the observer read the playlists: "origin" or "cache".
    pub observer: String,
    /// Parts that first appeared in the window (the observer's view).
    pub expected_parts: u64,
    /// `[parts got of the expected ones, clients]`.
    pub got: Vec<[u64; 2]>,
    pub missing_total: u64,
    /// The clients' requests by kind (sent in the window, and over the whole run).
    pub requests_window: BTreeMap<String, u64>,
    pub requests_total: BTreeMap<String, u64>,
    pub bytes_window: u64,
    pub reloads_without_part: u64,
    /// Hinted parts the server answered 404 (never produced), over the whole run.
    #[serde(default)]
    pub hints_not_produced: u64,
    /// Blocking reloads, request sent → playlist read, µs.
    pub blocking_hist: Vec<[u64; 2]>,
    /// A part's arrival at a client after the observer first saw it listed, µs.
    pub part_delay_hist: Vec<[u64; 2]>,
    /// The observer's requests in the window (taken out of the origin's counts when the
    /// observer reads the origin).
    pub observer_requests_window: BTreeMap<String, u64>,
    pub origin: Option<OriginWindow>,
    pub server_pid: Option<u32>,
    pub server_cpu_s_window: Option<f64>,
    pub cache_cpu_s_window: Option<f64>,
    pub tool: ToolStats,
    pub cpus: Vec<CpuUse>,
    pub errors: BTreeMap<String, u64>,
    pub derived: HlsDerived,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct HlsDerived {
    pub got_min: u64,
    pub got_median: u64,
    pub got_max: u64,
    /// Clients that got every expected part.
    pub clients_complete: u64,
    pub blocking: Percentiles,
    pub part_delay: Percentiles,
    pub requests_per_s: f64,
    pub mbit_per_s: f64,
    /// Origin requests by kind that came from the clients (through the cache).
    pub origin_from_clients: BTreeMap<String, f64>,
    /// Those per part published: the number a cache should keep near 2 (one blocking
    /// playlist and one part) however many clients play.
    pub origin_per_part: Option<f64>,
    pub origin_per_part_by_kind: BTreeMap<String, f64>,
    pub server_cores: Option<f64>,
    pub cache_cores: Option<f64>,
    pub tool_cores: f64,
}

/// The value at quantile `q` of a `[value, count]` list sorted by value.
fn quantile(counts: &[[u64; 2]], q: f64) -> u64 {
    let total: u64 = counts.iter().map(|[_, c]| c).sum();
    if total == 0 {
        return 0;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for [v, c] in counts {
        seen += c;
        if seen >= rank {
            return *v;
        }
    }
    counts.last().map_or(0, |x| x[0])
}

impl HlsReport {
    pub fn derive(&mut self) {
        let w = self.window_s.max(1e-9);
        self.got.sort_unstable();
        let d = &mut self.derived;
        d.got_min = quantile(&self.got, 0.0);
        d.got_median = quantile(&self.got, 0.5);
        d.got_max = self.got.last().map_or(0, |x| x[0]);
        d.clients_complete = self
            .got
            .iter()
            .filter(|[g, _]| *g >= self.expected_parts)
            .map(|[_, c]| c)
            .sum();
        d.blocking = hist::percentiles(&self.blocking_hist);
        d.part_delay = hist::percentiles(&self.part_delay_hist);
        d.requests_per_s = self.requests_window.values().sum::<u64>() as f64 / w;
        d.mbit_per_s = self.bytes_window as f64 * 8.0 / 1e6 / w;
        d.origin_from_clients.clear();
        d.origin_per_part = None;
        d.origin_per_part_by_kind.clear();
        if let Some(o) = &self.origin {
            let observer_at_origin = self.observer == "origin";
            for (k, v) in &o.requests {
                let own = if observer_at_origin {
                    self.observer_requests_window.get(k).copied().unwrap_or(0) as f64
                } else {
                    0.0
                };
                d.origin_from_clients.insert(k.clone(), (v - own).max(0.0));
            }
            let parts = if o.parts > 0.0 {
                o.parts
            } else {
                self.expected_parts as f64
            };
            if parts > 0.0 {
                d.origin_per_part = Some(d.origin_from_clients.values().sum::<f64>() / parts);
                d.origin_per_part_by_kind = d
                    .origin_from_clients
                    .iter()
                    .map(|(k, v)| (k.clone(), v / parts))
                    .collect();
            }
        }
        d.server_cores = self.server_cpu_s_window.map(|c| c / w);
        d.cache_cores = self.cache_cpu_s_window.map(|c| c / w);
        d.tool_cores = self.tool.cpu_s_window / w;
    }

    /// Several processes' summaries as one run (same window, same origin).
    pub fn merge(parts: &[HlsReport]) -> HlsReport {
        let mut m = parts.first().cloned().unwrap_or_default();
        m.processes = 0;
        m.clients = 0;
        m.started = 0;
        m.missing_total = 0;
        m.bytes_window = 0;
        m.reloads_without_part = 0;
        m.hints_not_produced = 0;
        m.expected_parts = 0;
        m.got.clear();
        m.requests_window.clear();
        m.requests_total.clear();
        m.observer_requests_window.clear();
        m.blocking_hist.clear();
        m.part_delay_hist.clear();
        m.errors.clear();
        m.tool = ToolStats::default();
        let add = |into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>| {
            for (k, v) in from {
                *into.entry(k.clone()).or_default() += v;
            }
        };
        let mut got: BTreeMap<u64, u64> = BTreeMap::new();
        for p in parts {
            m.processes += p.processes.max(1);
            m.clients += p.clients;
            m.started += p.started;
            m.missing_total += p.missing_total;
            m.bytes_window += p.bytes_window;
            m.reloads_without_part += p.reloads_without_part;
            m.hints_not_produced += p.hints_not_produced;
            m.expected_parts = m.expected_parts.max(p.expected_parts);
            m.window_s = m.window_s.max(p.window_s);
            for [g, c] in &p.got {
                *got.entry(*g).or_default() += c;
            }
            add(&mut m.requests_window, &p.requests_window);
            add(&mut m.requests_total, &p.requests_total);
            add(&mut m.observer_requests_window, &p.observer_requests_window);
            add(&mut m.errors, &p.errors);
            hist::merge(&mut m.blocking_hist, &p.blocking_hist);
            hist::merge(&mut m.part_delay_hist, &p.part_delay_hist);
            m.tool.cpu_s_total += p.tool.cpu_s_total;
            m.tool.cpu_s_window += p.tool.cpu_s_window;
            m.tool.wall_s_total = m.tool.wall_s_total.max(p.tool.wall_s_total);
            m.tool.threads += p.tool.threads;
            m.tool.cores = m.tool.cores.max(p.tool.cores);
        }
        m.got = got.into_iter().map(|(g, c)| [g, c]).collect();
        m.derive();
        m
    }

    pub fn table(&self) -> String {
        let d = &self.derived;
        let lat = |p: &Percentiles| {
            format!(
                "p50 {} · p90 {} · p99 {} · max {} (n={})",
                ms(p.p50_us),
                ms(p.p90_us),
                ms(p.p99_us),
                ms(p.max_us),
                p.count
            )
        };
        let kinds = |m: &BTreeMap<String, f64>, digits: usize| {
            if m.is_empty() {
                return "none".to_string();
            }
            m.iter()
                .map(|(k, v)| format!("{k} {v:.digits$}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let as_f64 =
            |m: &BTreeMap<String, u64>| m.iter().map(|(k, v)| (k.clone(), *v as f64)).collect();
        let mut rows: Vec<(String, String)> = vec![
            (
                "run".into(),
                format!(
                    "{} (show {} via {}), {} process(es)",
                    self.label, self.show, self.url, self.processes
                ),
            ),
            (
                "clients".into(),
                format!(
                    "{} of {} playing; window {:.1} s after {:.0} s ramp and {:.0} s warm-up, {:.0} s drain",
                    self.started,
                    self.clients,
                    self.window_s,
                    self.ramp_s,
                    self.warmup_s,
                    self.drain_s
                ),
            ),
            (
                "parts".into(),
                format!(
                    "{} published in the window ({} observer); per client got min {} · median {} · max {}; {} of {} clients got every one; {} missing in all",
                    self.expected_parts,
                    self.observer,
                    d.got_min,
                    d.got_median,
                    d.got_max,
                    d.clients_complete,
                    self.clients,
                    self.missing_total
                ),
            ),
            ("blocking reload".into(), lat(&d.blocking)),
            ("part after origin".into(), lat(&d.part_delay)),
            (
                "client requests".into(),
                format!(
                    "{} in the window ({:.0}/s, {:.1} Mbit/s); {} reloads answered without the part; {} hinted parts never produced (404)",
                    kinds(&as_f64(&self.requests_window), 0),
                    d.requests_per_s,
                    d.mbit_per_s,
                    self.reloads_without_part,
                    self.hints_not_produced
                ),
            ),
        ];
        if let Some(o) = &self.origin {
            rows.push((
                "origin requests".into(),
                format!(
                    "{} from the clients ({} parts, {} segments published); per part: {} = {}",
                    kinds(&d.origin_from_clients, 0),
                    o.parts,
                    o.segments,
                    kinds(&d.origin_per_part_by_kind, 3),
                    d.origin_per_part
                        .map_or("?".to_string(), |v| format!("{v:.3}"))
                ),
            ));
        }
        let cores = |c: Option<f64>| c.map_or("?".to_string(), |c| format!("{c:.2}"));
        rows.push((
            "CPU".into(),
            format!(
                "livesale {} cores, cache {} cores, load tool {:.2} cores ({} threads) in the window",
                cores(d.server_cores),
                cores(d.cache_cores),
                d.tool_cores,
                self.tool.threads
            ),
        ));
        if !self.cpus.is_empty() {
            rows.push(("machine CPUs".into(), cpus_line(&self.cpus)));
        }
        rows.push(("errors".into(), errors_line(&self.errors)));
        render(&rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_urls_name_the_next_part() {
        let pl = Url::parse("http://127.0.0.1:8080/api/shows/s1/hls/live.m3u8").expect("url");
        let u = blocking_url(&pl, PartId { msn: 12, part: 3 });
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8080/api/shows/s1/hls/live.m3u8?_HLS_msn=12&_HLS_part=3"
        );
        assert_eq!(
            pl.join("part-12.3.m4s").expect("join").as_str(),
            "http://127.0.0.1:8080/api/shows/s1/hls/part-12.3.m4s"
        );
    }

    #[test]
    fn quantiles_of_counts() {
        let c = [[10, 1], [12, 3], [13, 6]];
        assert_eq!(quantile(&c, 0.0), 10);
        assert_eq!(quantile(&c, 0.5), 13);
        assert_eq!(quantile(&c, 0.4), 12);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    fn report(clients: u64, got: Vec<[u64; 2]>, origin_parts: f64) -> HlsReport {
        let mut r = HlsReport {
            kind: "hls".into(),
            processes: 1,
            clients,
            window_s: 10.0,
            observer: "origin".into(),
            expected_parts: 20,
            got,
            observer_requests_window: [("blocking_playlist".to_string(), 20)].into(),
            origin: Some(OriginWindow {
                requests: [
                    ("blocking_playlist".to_string(), 42.0),
                    ("part".to_string(), 21.0),
                ]
                .into(),
                parts: origin_parts,
                segments: 5.0,
            }),
            ..Default::default()
        };
        r.derive();
        r
    }

    #[test]
    fn origin_requests_per_part_leave_the_observer_out() {
        let r = report(10, vec![[20, 9], [19, 1]], 20.0);
        assert_eq!(r.derived.origin_from_clients["blocking_playlist"], 22.0);
        assert_eq!(r.derived.origin_per_part, Some((22.0 + 21.0) / 20.0));
        assert_eq!(r.derived.got_min, 19);
        assert_eq!(r.derived.got_median, 20);
        assert_eq!(r.derived.clients_complete, 9);
    }

    #[test]
    fn merged_processes_add_clients_and_keep_one_origin() {
        let a = report(10, vec![[20, 10]], 20.0);
        let mut b = report(5, vec![[18, 5]], 20.0);
        b.missing_total = 10;
        let m = HlsReport::merge(&[a, b]);
        assert_eq!(m.processes, 2);
        assert_eq!(m.clients, 15);
        assert_eq!(m.got, vec![[18, 5], [20, 10]]);
        assert_eq!(m.derived.got_min, 18);
        assert_eq!(m.derived.clients_complete, 10);
        assert_eq!(m.missing_total, 10);
        // Two observers read the origin: both taken out.
        assert_eq!(m.derived.origin_from_clients["blocking_playlist"], 2.0);
    }
}
