//! The live-room load: N viewers join one show over WebSocket, some of them chat, all of them
//! react, for a bounded time; every `chat.message` is timed against the wall-clock send time
//! its sender wrote into the text.
//!
//! Timeline (wall clock, shared by every load process on the machine):
//! tokens → `connect_at` (server RSS baseline) → connects → `start_at` (RSS with idle
//! connections; traffic starts) → warm-up → measured window → drain → close.
//!
//! Two protocols: livesale's (docs/protocol.md) and Socket.IO's (Engine.IO v4 over a
//! WebSocket: `0` open, `40` connect, `2`/`3` ping/pong, `42[event, data]` events).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::counts::Counts;
use super::hist::Hist;
use super::rawws::{self, Reader, Writer};
use super::report::{Fanout, ServerStats, ToolStats};
use super::sys;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// livesale's WebSocket protocol (`/api/shows/{id}/ws`).
    Livesale,
    /// Socket.IO 4 (Engine.IO v4, WebSocket transport) against scripts/bench/socketio.
    Socketio,
}

#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    /// Server base URL (loopback unless --allow-remote).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[arg(long, value_enum, default_value_t = Protocol::Livesale)]
    pub protocol: Protocol,
    /// The show to join (livesale); see the `setup` command.
    #[arg(long)]
    pub show: Option<String>,
    /// Viewers this process opens.
    #[arg(long, default_value_t = 2000)]
    pub viewers: usize,
    /// How many of this process's viewers chat (the first ones).
    #[arg(long, default_value_t = 100)]
    pub chatters: usize,
    /// Chat messages per second this process sends, spread evenly over its chatters.
    #[arg(long, default_value_t = 20.0)]
    pub chat_rate: f64,
    /// Reaction taps per second this process sends, spread evenly over all its viewers.
    #[arg(long, default_value_t = 2000.0)]
    pub reaction_rate: f64,
    /// Length of the measured window.
    #[arg(long, default_value_t = 30.0)]
    pub duration_s: f64,
    /// Traffic before the measured window (not counted).
    #[arg(long, default_value_t = 5.0)]
    pub warmup_s: f64,
    /// Time to keep reading after the last send, so messages in flight arrive.
    #[arg(long, default_value_t = 3.0)]
    pub drain_s: f64,
    /// Source addresses for the client sockets, comma-separated (e.g. 127.0.0.2,127.0.0.3),
    /// used in turn; each address pair has its own ephemeral ports.
    #[arg(long, value_delimiter = ',')]
    pub source_ips: Vec<IpAddr>,
    /// New connections per second.
    #[arg(long, default_value_t = 2000.0)]
    pub connect_rate: f64,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// HTTP requests in flight while creating viewer tokens.
    #[arg(long, default_value_t = 32)]
    pub http_concurrency: usize,
    /// The server's pid, to read its memory and CPU time from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Wall-clock time (Unix ms) to start connecting; several processes share it.
    #[arg(long)]
    pub connect_at: Option<u64>,
    /// Wall-clock time (Unix ms) at which traffic starts; default: 1 s after this process's
    /// viewers are connected.
    #[arg(long)]
    pub start_at: Option<u64>,
    /// Longest the connect phase may take before traffic starts anyway.
    #[arg(long, default_value_t = 120.0)]
    pub connect_budget_s: f64,
    /// A name for this run in the report.
    #[arg(long, default_value = "fanout")]
    pub label: String,
    /// This process's number among several (names and chat tags).
    #[arg(long, default_value_t = 0)]
    pub process: usize,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    pub json_out: Option<std::path::PathBuf>,
    /// Allow a server that is not on a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
}

/// Counters shared by every viewer task of the process.
#[derive(Default)]
struct Shared {
    connected: AtomicU64,
    failed: AtomicU64,
    attempts_done: AtomicU64,
    lost: AtomicU64,
    chat_sent: AtomicU64,
    chat_sent_total: AtomicU64,
    reactions_sent: AtomicU64,
    reactions_sent_total: AtomicU64,
    chat_delivered: AtomicU64,
    frames_total: AtomicU64,
    frames_window: AtomicU64,
    chat_frames_window: AtomicU64,
    reaction_frames_window: AtomicU64,
    presence_frames_window: AtomicU64,
    other_frames_window: AtomicU64,
    bytes_window: AtomicU64,
    taps_counted: AtomicU64,
    late_sends: AtomicU64,
    max_lateness_ms: AtomicU64,
    hist: Hist,
    errors: Counts,
}

/// The run's timeline once the connect phase is over.
#[derive(Debug, Clone, Copy)]
struct Plan {
    start: Instant,
    /// The measured window, in wall-clock µs.
    window_start_us: u64,
    window_end_us: u64,
    /// When sending stops (the end of the window).
    send_end: Instant,
    close_at: Instant,
}

struct Ctx {
    server: SocketAddr,
    protocol: Protocol,
    path: String,
    srcs: Vec<IpAddr>,
    viewers: usize,
    chatters: usize,
    chat_rate: f64,
    reaction_rate: f64,
    process: usize,
    connect_start: Instant,
    connect_rate: f64,
    sem: Semaphore,
}

const KINDS: [&str; 6] = ["heart", "fire", "clap", "laugh", "wow", "cart"];

pub async fn run(args: FanoutArgs) -> Result<Fanout, String> {
    let wall_start = std::time::Instant::now();
    let cpu_start = sys::self_cpu_s();
    let server = super::setup::server_addr(&args.url, args.allow_remote).await?;
    if args.protocol == Protocol::Livesale && args.show.is_none() {
        return Err(
            "--show is required with --protocol livesale (see `livesale-load setup`)".into(),
        );
    }
    let n = args.viewers;
    let shared = Arc::new(Shared::default());

    // Tokens (livesale only: the Socket.IO peer has no identities).
    let tokens_started = std::time::Instant::now();
    let tokens: Vec<Option<String>> = match args.protocol {
        Protocol::Livesale => {
            let show = args.show.as_deref().unwrap_or_default();
            let (tokens, errors) = super::setup::viewer_tokens(
                server,
                &args.source_ips,
                show,
                n,
                args.http_concurrency,
                &format!("p{}", args.process),
            )
            .await;
            shared.errors.merge(errors);
            tokens.into_iter().map(|t| t.map(|(t, _)| t)).collect()
        }
        Protocol::Socketio => vec![None; n],
    };
    let tokens_s = tokens_started.elapsed().as_secs_f64();
    eprintln!(
        "[p{}] {} tokens in {:.1} s",
        args.process,
        tokens.iter().filter(|t| t.is_some()).count(),
        tokens_s
    );

    if let Some(at) = args.connect_at {
        if sys::now_ms() > at + 1000 {
            shared.errors.bump("late_connect_phase");
        }
        tokio::time::sleep_until(sys::instant_at_ms(at)).await;
    }
    let rss_before = args.server_pid.and_then(sys::rss_kib);
    let (overflows_before, _) = sys::listen_drops();

    let path = match args.protocol {
        Protocol::Livesale => format!("/api/shows/{}/ws", args.show.as_deref().unwrap_or("")),
        Protocol::Socketio => "/socket.io/?EIO=4&transport=websocket".to_string(),
    };
    let ctx = Arc::new(Ctx {
        server,
        protocol: args.protocol,
        path,
        srcs: args.source_ips.clone(),
        viewers: n,
        chatters: args.chatters.min(n),
        chat_rate: args.chat_rate,
        reaction_rate: args.reaction_rate,
        process: args.process,
        connect_start: Instant::now(),
        connect_rate: args.connect_rate.max(1.0),
        sem: Semaphore::new(args.connect_concurrency.max(1)),
    });
    let (plan_tx, plan_rx) = watch::channel(None::<Plan>);
    let mut tasks = Vec::with_capacity(n);
    for (i, token) in tokens.into_iter().enumerate() {
        let (ctx, shared, plan_rx) = (ctx.clone(), shared.clone(), plan_rx.clone());
        tasks.push(tokio::spawn(viewer(i, ctx, shared, token, plan_rx)));
    }
    drop(plan_rx);

    // The connect phase ends when every viewer connected or failed, or at the budget.
    let budget_end = match args.start_at {
        Some(at) => sys::instant_at_ms(at),
        None => Instant::now() + Duration::from_secs_f64(args.connect_budget_s),
    };
    let mut last_report = Instant::now();
    while (shared.attempts_done.load(Ordering::Relaxed) as usize) < n && Instant::now() < budget_end
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!(
                "[p{}] connecting: {} connected, {} failed of {n}",
                args.process,
                shared.connected.load(Ordering::Relaxed),
                shared.failed.load(Ordering::Relaxed)
            );
        }
    }
    let connect_s = ctx.connect_start.elapsed().as_secs_f64();
    let connected_now = shared.connected.load(Ordering::Relaxed);
    eprintln!(
        "[p{}] {connected_now} of {n} connected in {connect_s:.1} s",
        args.process
    );
    if (shared.attempts_done.load(Ordering::Relaxed) as usize) < n {
        shared.errors.bump("connect_phase_over_budget");
    }

    let start = match args.start_at {
        Some(at) => {
            if sys::now_ms() > at + 200 {
                shared.errors.bump("late_start");
            }
            sys::instant_at_ms(at)
        }
        None => Instant::now() + Duration::from_secs(1),
    };
    // Idle memory with every connection open, just before traffic.
    tokio::time::sleep_until(start - Duration::from_millis(150).min(start - Instant::now())).await;
    let rss_idle = args.server_pid.and_then(sys::rss_kib);
    let start_us =
        sys::now_us() + start.saturating_duration_since(Instant::now()).as_micros() as u64;
    let warmup = Duration::from_secs_f64(args.warmup_s.max(0.0));
    let window = Duration::from_secs_f64(args.duration_s.max(0.1));
    let drain = Duration::from_secs_f64(args.drain_s.max(0.0));
    let plan = Plan {
        start,
        window_start_us: start_us + warmup.as_micros() as u64,
        window_end_us: start_us + (warmup + window).as_micros() as u64,
        send_end: start + warmup + window,
        close_at: start + warmup + window + drain,
    };
    let _ = plan_tx.send(Some(plan));

    tokio::time::sleep_until(start + warmup).await;
    let server_cpu0 = args.server_pid.and_then(sys::cpu_s);
    let tool_cpu0 = sys::self_cpu_s();
    let jiffies0 = sys::cpu_jiffies();
    let window_started = Instant::now();
    let progress = {
        let shared = shared.clone();
        let process = args.process;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.tick().await;
            let mut last = shared.frames_window.load(Ordering::Relaxed);
            loop {
                tick.tick().await;
                let now = shared.frames_window.load(Ordering::Relaxed);
                eprintln!(
                    "[p{process}] {} frames/s, {} connected, {} lost, chat sent {}",
                    (now - last) / 5,
                    shared.connected.load(Ordering::Relaxed),
                    shared.lost.load(Ordering::Relaxed),
                    shared.chat_sent.load(Ordering::Relaxed),
                );
                last = now;
            }
        })
    };
    tokio::time::sleep_until(plan.send_end).await;
    let server_cpu1 = args.server_pid.and_then(sys::cpu_s);
    let tool_cpu1 = sys::self_cpu_s();
    let cpus = sys::cpu_use(&jiffies0, &sys::cpu_jiffies());
    let window_s = window_started.elapsed().as_secs_f64();
    progress.abort();
    let rss_end = args.server_pid.and_then(sys::rss_kib);

    // Viewers close by themselves at close_at; give them a little more, then stop waiting.
    let deadline = plan.close_at + Duration::from_secs(5);
    for t in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, t).await.is_err() {
            shared.errors.bump("close_timeout");
        }
    }
    let (overflows_after, _) = sys::listen_drops();

    let errors = shared.errors.snapshot();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let server_stats = args.server_pid.map(|pid| ServerStats {
        pid,
        rss_kib_before: rss_before.unwrap_or(0),
        rss_kib_idle: rss_idle.unwrap_or(0),
        rss_kib_end: rss_end.unwrap_or(0),
        cpu_s_window: match (server_cpu0, server_cpu1) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        },
        other_pid: None,
        other_cpu_s_window: None,
    });
    let mut summary = Fanout {
        kind: "fanout".into(),
        protocol: match args.protocol {
            Protocol::Livesale => "livesale".into(),
            Protocol::Socketio => "socketio".into(),
        },
        label: args.label.clone(),
        processes: 1,
        viewers: n as u64,
        chatters: ctx.chatters as u64,
        chat_rate: args.chat_rate,
        reaction_rate: args.reaction_rate,
        warmup_s: args.warmup_s,
        duration_s: args.duration_s,
        window_s,
        tokens_s,
        connect_s,
        connected: load(&shared.connected),
        failed: load(&shared.failed),
        lost: load(&shared.lost),
        chat_sent: load(&shared.chat_sent),
        chat_sent_total: load(&shared.chat_sent_total),
        reactions_sent: load(&shared.reactions_sent),
        reactions_sent_total: load(&shared.reactions_sent_total),
        chat_delivered: load(&shared.chat_delivered),
        frames_window: load(&shared.frames_window),
        chat_frames_window: load(&shared.chat_frames_window),
        reaction_frames_window: load(&shared.reaction_frames_window),
        presence_frames_window: load(&shared.presence_frames_window),
        other_frames_window: load(&shared.other_frames_window),
        bytes_window: load(&shared.bytes_window),
        taps_counted: load(&shared.taps_counted),
        late_sends: load(&shared.late_sends),
        max_send_lateness_ms: load(&shared.max_lateness_ms),
        hist: shared.hist.sparse(),
        errors,
        server: server_stats,
        tool: ToolStats {
            cpu_s_total: sys::self_cpu_s() - cpu_start,
            wall_s_total: wall_start.elapsed().as_secs_f64(),
            cpu_s_window: tool_cpu1 - tool_cpu0,
            threads: sys::self_threads(),
            cores: std::thread::available_parallelism()
                .map(|n| n.get() as u64)
                .unwrap_or(1),
        },
        listen_overflows: overflows_after.saturating_sub(overflows_before),
        cpus,
        derived: Default::default(),
    };
    summary.derive();
    Ok(summary)
}

fn first_word(s: &str) -> String {
    s.split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())
        .unwrap_or("error")
        .to_lowercase()
}

async fn open(ctx: &Ctx, i: usize, token: Option<&str>) -> Result<(Reader, Writer), String> {
    let src = (!ctx.srcs.is_empty()).then(|| ctx.srcs[i % ctx.srcs.len()]);
    let stream = tokio::time::timeout(Duration::from_secs(10), sys::connect_from(src, ctx.server))
        .await
        .map_err(|_| "connect:timeout".to_string())?
        .map_err(|e| format!("connect:{:?}", e.kind()))?;
    let path = match (ctx.protocol, token) {
        (Protocol::Livesale, Some(t)) => format!("{}?token={t}", ctx.path),
        _ => ctx.path.clone(),
    };
    tokio::time::timeout(
        Duration::from_secs(10),
        rawws::connect(stream, &ctx.server.to_string(), &path),
    )
    .await
    .map_err(|_| "handshake:timeout".to_string())?
}

/// The message type of a livesale frame (`"type":"…"`), or of a Socket.IO event.
fn frame_type(protocol: Protocol, s: &str) -> &str {
    match protocol {
        Protocol::Livesale => {
            // The server writes `type` first; other layouts take the slower search.
            let rest = match s.strip_prefix("{\"type\":\"") {
                Some(rest) => rest,
                None => match s.find("\"type\":\"") {
                    Some(at) => &s[at + 8..],
                    None => return "",
                },
            };
            &rest[..rest.find('"').unwrap_or(0)]
        }
        Protocol::Socketio => {
            if let Some(rest) = s.strip_prefix("42[\"") {
                &rest[..rest.find('"').unwrap_or(0)]
            } else {
                ""
            }
        }
    }
}

/// The send time a load-tool chat text carries (`lt <µs> …`).
fn sent_us(s: &str) -> Option<u64> {
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("\"text\":\"lt "));
    let at = FINDER.find(s.as_bytes())?;
    let digits = &s[at + 11..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The sum of a `reactions` frame's counts.
fn taps(s: &str) -> u64 {
    let Some(at) = s.find("\"counts\":{") else {
        return 0;
    };
    let rest = &s[at + 10..];
    let body = &rest[..rest.find('}').unwrap_or(0)];
    body.split(',')
        .filter_map(|kv| kv.rsplit(':').next()?.trim().parse::<u64>().ok())
        .sum()
}

fn error_code(s: &str) -> &str {
    let Some(at) = s.find("\"code\":\"") else {
        return "unknown";
    };
    let rest = &s[at + 8..];
    &rest[..rest.find('"').unwrap_or(0)]
}

fn at(start: Instant, secs: f64) -> Instant {
    start + Duration::from_secs_f64(secs.max(0.0))
}

async fn viewer(
    i: usize,
    ctx: Arc<Ctx>,
    sh: Arc<Shared>,
    token: Option<String>,
    plan_rx: watch::Receiver<Option<Plan>>,
) {
    let p = ctx.protocol;
    if p == Protocol::Livesale && token.is_none() {
        sh.failed.fetch_add(1, Ordering::Relaxed);
        sh.attempts_done.fetch_add(1, Ordering::Relaxed);
        return;
    }
    tokio::time::sleep_until(at(ctx.connect_start, i as f64 / ctx.connect_rate)).await;
    let permit = ctx.sem.acquire().await;
    let opened = open(&ctx, i, token.as_deref()).await;
    drop(permit);
    let (mut reader, writer) = match opened {
        Ok(ws) => ws,
        Err(kind) => {
            sh.errors.bump(kind);
            sh.failed.fetch_add(1, Ordering::Relaxed);
            sh.attempts_done.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    sh.connected.fetch_add(1, Ordering::Relaxed);
    sh.attempts_done.fetch_add(1, Ordering::Relaxed);

    // The schedule (chat, reactions, the close) runs in a task of its own, so that reading a
    // frame wakes only the reader.
    let writer = Arc::new(writer);
    let closing = tokio_util::sync::CancellationToken::new();
    let sender = tokio::spawn(send_on_schedule(
        i,
        ctx.clone(),
        sh.clone(),
        writer.clone(),
        plan_rx.clone(),
        closing.clone(),
    ));
    let ended_by_us = read_frames(i, &ctx, &sh, &mut reader, &writer, &plan_rx, &closing).await;
    sender.abort();
    if !ended_by_us {
        sh.lost.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads and tallies frames until the connection ends; true when it ended because this tool
/// closed it (a close sent by `send_on_schedule`, then the server's answer or 3 s).
async fn read_frames(
    i: usize,
    ctx: &Ctx,
    sh: &Shared,
    reader: &mut Reader,
    writer: &Writer,
    plan_rx: &watch::Receiver<Option<Plan>>,
    closing: &tokio_util::sync::CancellationToken,
) -> bool {
    let p = ctx.protocol;
    let tally = i == 0;
    let mut plan: Option<Plan> = *plan_rx.borrow();
    let closed = closing.cancelled();
    let give_up = tokio::time::sleep(Duration::from_secs(365 * 24 * 3600));
    tokio::pin!(closed, give_up);
    let mut is_closing = false;
    loop {
        let frame = match reader.frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                tokio::select! {
                    biased;
                    read = reader.fill() => match read {
                        Ok(0) => {
                            if !is_closing {
                                sh.errors.bump("read:eof");
                            }
                            return is_closing;
                        }
                        Ok(_) => continue,
                        Err(e) => {
                            if !is_closing {
                                sh.errors.bump(format!("read:{}", first_word(&e.to_string())));
                            }
                            return is_closing;
                        }
                    },
                    _ = &mut closed, if !is_closing => {
                        is_closing = true;
                        give_up.as_mut().reset(Instant::now() + Duration::from_secs(3));
                        continue;
                    }
                    _ = &mut give_up, if is_closing => return true,
                }
            }
            Err(kind) => {
                sh.errors.bump(format!("read:{kind}"));
                return false;
            }
        };
        let range = match frame {
            rawws::Frame::Text(range) => range,
            rawws::Frame::Close(code) => {
                if !closing.is_cancelled() {
                    sh.errors.bump(format!("closed_by_server:{code}"));
                    return false;
                }
                return true;
            }
            rawws::Frame::Ping(payload) => {
                if writer.send(rawws::PONG, &payload).await.is_err() && !is_closing {
                    sh.errors.bump("send:pong");
                    return false;
                }
                continue;
            }
            rawws::Frame::Other => continue,
        };
        let Some(s) = reader.text(range) else {
            sh.errors.bump("read:invalid_utf8");
            return false;
        };
        if plan.is_none() {
            plan = *plan_rx.borrow();
        }
        sh.frames_total.fetch_add(1, Ordering::Relaxed);
        let now = sys::now_us();
        let in_window = plan.is_some_and(|pl| now >= pl.window_start_us && now < pl.window_end_us);
        match frame_type(p, s) {
            "chat.message" => {
                if let (Some(pl), Some(sent_at)) = (plan, sent_us(s))
                    && sent_at >= pl.window_start_us
                    && sent_at < pl.window_end_us
                {
                    sh.chat_delivered.fetch_add(1, Ordering::Relaxed);
                    sh.hist.record(now.saturating_sub(sent_at));
                }
                if in_window {
                    sh.chat_frames_window.fetch_add(1, Ordering::Relaxed);
                }
            }
            "reactions" => {
                if in_window {
                    sh.reaction_frames_window.fetch_add(1, Ordering::Relaxed);
                    if tally {
                        sh.taps_counted.fetch_add(taps(s), Ordering::Relaxed);
                    }
                }
            }
            "presence" => {
                if in_window {
                    sh.presence_frames_window.fetch_add(1, Ordering::Relaxed);
                }
            }
            "error" => {
                sh.errors.bump(format!("server_error:{}", error_code(s)));
                continue;
            }
            "welcome" | "pong" => continue,
            "" if p == Protocol::Socketio => {
                // Engine.IO control packets.
                let reply = if s == "2" {
                    Some(("3".to_string(), "send:pong"))
                } else if s.starts_with('0') {
                    let hello = format!("40{{\"name\":\"Viewer p{}-{i}\"}}", ctx.process);
                    Some((hello, "send:connect"))
                } else {
                    if s.starts_with("44") {
                        sh.errors.bump("socketio:connect_error");
                    } else if s.starts_with("41") {
                        sh.errors.bump("socketio:disconnected");
                        return false;
                    }
                    None
                };
                if let Some((text, kind)) = reply
                    && writer.text(&text).await.is_err()
                {
                    sh.errors.bump(kind);
                    return false;
                }
                continue;
            }
            _ => {
                if in_window {
                    sh.other_frames_window.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if in_window {
            sh.frames_window.fetch_add(1, Ordering::Relaxed);
            sh.bytes_window.fetch_add(s.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Chats (if this viewer is a chatter) and reacts at the planned times, then closes the
/// connection at the end (telling the reader first).
async fn send_on_schedule(
    i: usize,
    ctx: Arc<Ctx>,
    sh: Arc<Shared>,
    writer: Arc<Writer>,
    mut plan_rx: watch::Receiver<Option<Plan>>,
    closing: tokio_util::sync::CancellationToken,
) {
    let p = ctx.protocol;
    let plan = loop {
        if let Some(plan) = *plan_rx.borrow_and_update() {
            break plan;
        }
        if plan_rx.changed().await.is_err() {
            return;
        }
    };
    let is_chatter = i < ctx.chatters && ctx.chat_rate > 0.0;
    let reacts = ctx.reaction_rate > 0.0;
    let chat_period = ctx.chatters as f64 / ctx.chat_rate.max(1e-9);
    let react_period = ctx.viewers as f64 / ctx.reaction_rate.max(1e-9);
    let kind = KINDS[i % KINDS.len()];
    let mut chat_next = is_chatter.then(|| at(plan.start, i as f64 / ctx.chat_rate));
    let mut react_next = reacts.then(|| at(plan.start, i as f64 / ctx.reaction_rate));
    let mut sent = 0u64;
    loop {
        // The next thing to do: a chat, a reaction, or the close.
        let next = [chat_next, react_next]
            .into_iter()
            .flatten()
            .filter(|t| *t < plan.send_end)
            .min();
        let Some(due) = next.filter(|t| *t < plan.close_at) else {
            tokio::time::sleep_until(plan.close_at).await;
            break;
        };
        tokio::time::sleep_until(due).await;
        late(&sh, due);
        let now = sys::now_us();
        let in_window = now >= plan.window_start_us && now < plan.window_end_us;
        let chat = chat_next == Some(due);
        let (frame, kind_of_send, total, in_window_count) = if chat {
            sent += 1;
            let text = format!(
                "lt {now} p{}v{i}n{sent} love this! how much is shipping?",
                ctx.process
            );
            let frame = match p {
                Protocol::Livesale => format!("{{\"type\":\"chat.send\",\"text\":\"{text}\"}}"),
                Protocol::Socketio => format!("42[\"chat\",{{\"text\":\"{text}\"}}]"),
            };
            chat_next = Some(due + Duration::from_secs_f64(chat_period));
            (frame, "send:chat", &sh.chat_sent_total, &sh.chat_sent)
        } else {
            let frame = match p {
                Protocol::Livesale => format!("{{\"type\":\"reaction.send\",\"kind\":\"{kind}\"}}"),
                Protocol::Socketio => format!("42[\"reaction\",{{\"kind\":\"{kind}\"}}]"),
            };
            react_next = Some(due + Duration::from_secs_f64(react_period));
            (
                frame,
                "send:reaction",
                &sh.reactions_sent_total,
                &sh.reactions_sent,
            )
        };
        if writer.text(&frame).await.is_err() {
            sh.errors.bump(kind_of_send);
            return;
        }
        total.fetch_add(1, Ordering::Relaxed);
        if in_window {
            in_window_count.fetch_add(1, Ordering::Relaxed);
        }
    }
    closing.cancel();
    if p == Protocol::Socketio {
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.text("41")).await;
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        writer.send(rawws::CLOSE, &1000u16.to_be_bytes()),
    )
    .await;
}

/// Notes a send that left late (the tool could not keep its schedule).
fn late(sh: &Shared, due: Instant) {
    let late = Instant::now().saturating_duration_since(due);
    if late > Duration::from_millis(50) {
        sh.late_sends.fetch_add(1, Ordering::Relaxed);
        sh.max_lateness_ms
            .fetch_max(late.as_millis() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_frames_without_parsing_json() {
        let chat = r#"{"type":"chat.message","id":"x","author":{"id":"a","name":"n"},"role":"viewer","text":"lt 1712345678901234 p0v1n1 hi","at":"t","seq":5}"#;
        assert_eq!(frame_type(Protocol::Livesale, chat), "chat.message");
        assert_eq!(sent_us(chat), Some(1712345678901234));
        let sio = r#"42["chat.message",{"id":"x","text":"lt 99 p0v1n1 hi","seq":1}]"#;
        assert_eq!(frame_type(Protocol::Socketio, sio), "chat.message");
        assert_eq!(sent_us(sio), Some(99));
        assert_eq!(
            taps(r#"{"type":"reactions","counts":{"fire":3,"heart":12},"seq":9}"#),
            15
        );
        assert_eq!(
            error_code(r#"{"code":"rate_limited","message":"m","type":"error"}"#),
            "rate_limited"
        );
        assert_eq!(frame_type(Protocol::Socketio, "2"), "");
        assert_eq!(
            frame_type(Protocol::Livesale, r#"{"seq":3,"type":"presence"}"#),
            "presence"
        );
        assert_eq!(frame_type(Protocol::Livesale, r#"{"seq":3}"#), "");
    }
}
