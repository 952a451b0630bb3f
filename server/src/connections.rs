//! Connections: the accept loop, the caps on open connections, their timeouts, and serving
//! each one with hyper (HTTP/1.1, with upgrades for the live room's WebSocket).
//!
//! A connection is *active* while a request is in flight (from its head to the end of its
//! response body) and once it is upgraded to a WebSocket; otherwise it is *idle* (new and not
//! done sending a head, or kept alive between requests). Idle connections are what an
//! attacker holds for free, so they are what gives way: at a cap (in total, or per client
//! address) a new connection takes the place of the one that has been idle longest, and only
//! when none is idle is it refused (503 problem+json, or closed before the handshake with
//! TLS) and counted. Accepting never waits: the total cap stays below the open file limit, and
//! if the process runs out of descriptors anyway, an idle connection is closed to make room.
//! So a health check or the operator always gets in, even from the address of the attacker.
//! Each connection watches its own deadlines: a request head must arrive within
//! `--http-header-timeout-ms` of its first byte, a body within `--http-body-timeout-ms` of its
//! head, and an idle connection lives `--http-idle-timeout-s`. This module knows no routes:
//! it serves the router it is given, with `ConnectInfo<SocketAddr>` on every request.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The caps and timeouts (from `Config::connection_limits`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections open at once.
    pub max_total: usize,
    /// Connections one client address may hold at once.
    pub max_per_ip: usize,
    /// From the first byte of a request head to its end.
    pub header_timeout: Duration,
    /// From the end of a request head to the end of its body.
    pub body_timeout: Duration,
    /// A connection with no request in flight and no byte of a new one.
    pub idle_timeout: Duration,
}

/// The total cap when `--max-connections` is 0: three quarters of the open file limit. The
/// quarter left over is for what else holds descriptors (Redis connections, a UDP socket per
/// media session, static files, refusals being answered, the runtime's own).
pub fn derived_cap(file_limit: Option<u64>) -> usize {
    match file_limit {
        Some(n) => usize::try_from(n / 4 * 3).unwrap_or(usize::MAX).max(16),
        None => 1024,
    }
}

/// The process's soft limit on open files, from `/proc/self/limits` (Linux); `None` where
/// that cannot be read or says "unlimited".
pub fn file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Answers to refused connections being written at once; beyond it they are just closed
/// (each holds a descriptor for up to a second or two).
const MAX_REFUSALS: usize = 64;
/// How long a refusal waits for the request head before answering, and for the answer to go.
const REFUSAL_WAIT: Duration = Duration::from_secs(1);
/// Time a client has to finish its TLS handshake (an idle connection meanwhile).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// What a route gets past the body timeout to answer 408 before the connection is closed
/// under it (for a handler that does not read its body).
const BODY_GRACE: Duration = Duration::from_secs(1);

/// The state word of a connection: requests in flight in the low bits, plus flags.
const UPGRADED: u32 = 1 << 30;
const EVICTED: u32 = 1 << 31;
const IN_FLIGHT: u32 = UPGRADED - 1;

/// One open connection, as the registry and its own task see it.
struct Slot {
    id: u64,
    ip: IpAddr,
    /// Requests in flight, [`UPGRADED`], [`EVICTED`].
    state: AtomicU32,
    /// Registry time (ms) when it last became idle (opened, or a response ended).
    idle_since: AtomicU64,
    /// Registry time of the first byte of the head being read; 0 when none.
    head_since: AtomicU64,
    /// Registry time when the body being read started; 0 when none.
    body_since: AtomicU64,
    /// Wakes the connection's task: it was evicted, or a deadline moved.
    notify: Notify,
}

impl Slot {
    fn is_idle(&self) -> bool {
        self.state.load(Ordering::Acquire) == 0
    }

    fn evicted(&self) -> bool {
        self.state.load(Ordering::Acquire) & EVICTED != 0
    }
}

/// Why a connection was closed or refused, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    Total,
    PerIp,
}

impl Cap {
    fn label(self) -> &'static str {
        match self {
            Cap::Total => "total",
            Cap::PerIp => "per_ip",
        }
    }
}

struct Table {
    next_id: u64,
    open: HashMap<u64, Arc<Slot>>,
    per_ip: HashMap<IpAddr, usize>,
}

/// Every open connection of the listener (HTTP, TLS and upgraded).
struct Registry {
    limits: Limits,
    epoch: Instant,
    table: Mutex<Table>,
    open: metrics::Gauge,
}

impl Registry {
    fn new(limits: Limits) -> Arc<Registry> {
        crate::metrics::install();
        metrics::gauge!("livesale_connections_max").set(limits.max_total as f64);
        metrics::gauge!("livesale_connections_max_per_ip").set(limits.max_per_ip as f64);
        Arc::new(Registry {
            limits,
            epoch: Instant::now(),
            table: Mutex::new(Table {
                next_id: 1,
                open: HashMap::new(),
                per_ip: HashMap::new(),
            }),
            open: metrics::gauge!("livesale_connections_open"),
        })
    }

    /// Milliseconds since the registry began, never 0 (0 means "not set" in a slot).
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn at(&self, ms: u64) -> tokio::time::Instant {
        (self.epoch + Duration::from_millis(ms.saturating_sub(1))).into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a new connection from `ip`, making room by evicting the longest-idle
    /// connection when a cap is reached; refuses when nothing is idle.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Guard, Cap> {
        let mut table = self.lock();
        if table.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.max_per_ip
            && !self.evict_idle(&mut table, Some(ip), Cap::PerIp)
        {
            return Err(Cap::PerIp);
        }
        if table.open.len() >= self.limits.max_total
            && !self.evict_idle(&mut table, None, Cap::Total)
        {
            return Err(Cap::Total);
        }
        let id = table.next_id;
        table.next_id += 1;
        let slot = Arc::new(Slot {
            id,
            ip,
            state: AtomicU32::new(0),
            idle_since: AtomicU64::new(self.now_ms()),
            head_since: AtomicU64::new(0),
            body_since: AtomicU64::new(0),
            notify: Notify::new(),
        });
        table.open.insert(id, slot.clone());
        *table.per_ip.entry(ip).or_default() += 1;
        self.open.set(table.open.len() as f64);
        Ok(Guard {
            registry: self.clone(),
            slot,
        })
    }

    /// Evicts the connection (of `ip`, when given) idle for longest; false when none is idle.
    fn evict_idle(&self, table: &mut Table, ip: Option<IpAddr>, why: Cap) -> bool {
        loop {
            let oldest = table
                .open
                .values()
                .filter(|s| s.is_idle() && ip.is_none_or(|ip| s.ip == ip))
                .min_by_key(|s| s.idle_since.load(Ordering::Relaxed))
                .cloned();
            let Some(slot) = oldest else { return false };
            // A request may have begun since the look: then it is not idle any more.
            if slot
                .state
                .compare_exchange(0, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                Self::forget(table, &slot);
                self.open.set(table.open.len() as f64);
                slot.notify.notify_one();
                metrics::counter!("livesale_connections_evicted_total", "cap" => why.label())
                    .increment(1);
                return true;
            }
        }
    }

    /// Evicts the longest-idle connection anywhere (out of file descriptors).
    fn evict_any_idle(&self) -> bool {
        let mut table = self.lock();
        self.evict_idle(&mut table, None, Cap::Total)
    }

    fn forget(table: &mut Table, slot: &Slot) {
        if table.open.remove(&slot.id).is_some()
            && let Some(n) = table.per_ip.get_mut(&slot.ip)
        {
            *n -= 1;
            if *n == 0 {
                table.per_ip.remove(&slot.ip);
            }
        }
    }
}

/// A connection's place; dropping it (the socket closed, upgraded or not) frees the place.
struct Guard {
    registry: Arc<Registry>,
    slot: Arc<Slot>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut table = self.registry.lock();
        Registry::forget(&mut table, &self.slot);
        self.registry.open.set(table.open.len() as f64);
    }
}

/// The socket, noting when an idle connection starts sending a new request head. It carries
/// the connection's place, so the place lives exactly as long as the socket, through an
/// upgrade to a WebSocket too.
struct Tracked<T> {
    io: T,
    guard: Guard,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let slot = &self.guard.slot;
            if slot.is_idle() && slot.head_since.load(Ordering::Relaxed) == 0 {
                let now = self.guard.registry.now_ms();
                slot.head_since.store(now, Ordering::Relaxed);
                slot.notify.notify_one();
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A request body that must arrive before its deadline; past it, reading fails with
/// [`BodyTimeout`] (which the extractors answer 408 `body_timeout`).
struct TimedBody {
    inner: Incoming,
    deadline: tokio::time::Instant,
    limit: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    slot: Arc<Slot>,
    done: bool,
}

/// A request body did not arrive within `--http-body-timeout-ms`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(pub Duration);

impl TimedBody {
    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.slot.body_since.store(0, Ordering::Relaxed);
            self.slot.notify.notify_one();
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish();
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                let deadline = this.deadline;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if sleep.as_mut().poll(cx).is_ready() {
                    this.finish();
                    metrics::counter!("livesale_connections_closed_total", "reason" => "body_timeout")
                        .increment(1);
                    return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A response body that keeps its connection counted as active until it has been sent.
struct ActiveBody {
    inner: Body,
    _active: Active,
}

impl HttpBody for ActiveBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One request in flight; dropped when its response is sent (or abandoned).
struct Active {
    slot: Arc<Slot>,
    registry: Arc<Registry>,
}

impl Drop for Active {
    fn drop(&mut self) {
        let now = self.registry.now_ms();
        self.slot.idle_since.store(now, Ordering::Relaxed);
        let before = self.slot.state.fetch_sub(1, Ordering::AcqRel);
        if before & IN_FLIGHT == 1 {
            self.slot.notify.notify_one();
        }
    }
}

/// What every request of one connection shares.
struct ConnCtx {
    router: Router,
    peer: SocketAddr,
    slot: Arc<Slot>,
    registry: Arc<Registry>,
}

async fn handle(
    ctx: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<ActiveBody>, Infallible> {
    let slot = &ctx.slot;
    slot.state.fetch_add(1, Ordering::AcqRel);
    slot.head_since.store(0, Ordering::Relaxed);
    let active = Active {
        slot: slot.clone(),
        registry: ctx.registry.clone(),
    };
    let (mut parts, incoming) = req.into_parts();
    let body = if incoming.is_end_stream() {
        Body::new(incoming)
    } else {
        let limit = ctx.registry.limits.body_timeout;
        slot.body_since
            .store(ctx.registry.now_ms(), Ordering::Relaxed);
        slot.notify.notify_one();
        Body::new(TimedBody {
            inner: incoming,
            deadline: tokio::time::Instant::now() + limit,
            limit,
            sleep: None,
            slot: slot.clone(),
            done: false,
        })
    };
    parts.extensions.insert(ConnectInfo(ctx.peer));
    let response = match ctx
        .router
        .clone()
        .oneshot(Request::from_parts(parts, body))
        .await
    {
        Ok(r) => r,
        Err(never) => match never {},
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        // The connection becomes a WebSocket: active for good, never evicted.
        slot.state.fetch_or(UPGRADED, Ordering::AcqRel);
    }
    Ok(response.map(|inner| ActiveBody {
        inner,
        _active: active,
    }))
}

/// What a connection's deadline is about, for the metric of the ones that pass.
#[derive(Debug, Clone, Copy)]
enum Deadline {
    Header,
    Body,
    Idle,
}

impl Deadline {
    fn label(self) -> &'static str {
        match self {
            Deadline::Header => "header_timeout",
            Deadline::Body => "body_timeout",
            Deadline::Idle => "idle_timeout",
        }
    }
}

/// The connection's next deadline (registry ms), if it has one now.
fn next_deadline(slot: &Slot, limits: &Limits) -> Option<(u64, Deadline)> {
    let ms = |d: Duration| d.as_millis() as u64;
    let state = slot.state.load(Ordering::Acquire);
    if state & UPGRADED != 0 {
        return None;
    }
    if state & IN_FLIGHT > 0 {
        let body = slot.body_since.load(Ordering::Relaxed);
        return (body != 0).then(|| {
            (
                body + ms(limits.body_timeout) + ms(BODY_GRACE),
                Deadline::Body,
            )
        });
    }
    let head = slot.head_since.load(Ordering::Relaxed);
    if head != 0 {
        return Some((head + ms(limits.header_timeout), Deadline::Header));
    }
    Some((
        slot.idle_since.load(Ordering::Relaxed) + ms(limits.idle_timeout),
        Deadline::Idle,
    ))
}

/// Serves HTTP/1.1 on one connection until it ends, is evicted, passes a deadline, or the
/// server shuts down (then it finishes the request in flight and closes).
async fn serve_http<I>(io: I, ctx: Arc<ConnCtx>, shutdown: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot = ctx.slot.clone();
    let registry = ctx.registry.clone();
    let service = hyper::service::service_fn(move |req| handle(ctx.clone(), req));
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our own deadlines replace hyper's header timeout, whose clock also runs while a
    // kept-alive connection waits for its next request.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let sleep = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(sleep);
    let mut shutting_down = false;
    loop {
        let deadline = next_deadline(&slot, &registry.limits);
        if let Some((at, _)) = deadline {
            sleep.as_mut().reset(registry.at(at));
        }
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(peer = %slot.ip, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = slot.notify.notified() => {
                if slot.evicted() {
                    return;
                }
            }
            _ = shutdown.cancelled(), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = &mut sleep, if deadline.is_some() => {
                if let Some((at, why)) = next_deadline(&slot, &registry.limits)
                    && registry.now_ms() >= at
                {
                    tracing::debug!(peer = %slot.ip, reason = why.label(), "closing a connection");
                    metrics::counter!("livesale_connections_closed_total", "reason" => why.label())
                        .increment(1);
                    return;
                }
            }
        }
    }
}

/// Accepts connections on `listener` and serves `router` on them (over TLS when `tls` is
/// given) until `shutdown` is cancelled; then stops accepting and waits for the HTTP
/// connections to finish their requests (upgraded ones are not waited for here).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: CancellationToken,
) -> io::Result<()> {
    tracing::info!(
        max_connections = limits.max_total,
        max_per_ip = limits.max_per_ip,
        "accepting connections"
    );
    let registry = Registry::new(limits);
    let acceptor = tls.map(TlsAcceptor::from);
    let tasks = TaskTracker::new();
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) if out_of_descriptors(&e) => {
                // The kernel holds the connection in the backlog; make room and take it at
                // once rather than sleeping (a sleep is what let idle sockets starve health
                // checks).
                metrics::counter!("livesale_connections_accept_errors_total", "reason" => "out_of_descriptors")
                    .increment(1);
                let pause = if registry.evict_any_idle() {
                    // Long enough for the evicted connection's task to close its socket,
                    // so one shortage does not evict a burst of them.
                    Duration::from_millis(1)
                } else {
                    tracing::warn!(error = %e, "out of file descriptors and no idle connection to close");
                    Duration::from_millis(10)
                };
                tokio::time::sleep(pause).await;
                continue;
            }
            Err(e) => {
                // The peer gave up before we took it (ECONNABORTED and the like).
                tracing::debug!(error = %e, "accept failed");
                continue;
            }
        };
        // Room frames are small and latency-bound: no Nagle delays.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let guard = match registry.admit(peer.ip()) {
            Ok(g) => g,
            Err(cap) => {
                metrics::counter!("livesale_connections_refused_total", "cap" => cap.label())
                    .increment(1);
                tracing::debug!(%peer, cap = cap.label(), "connection refused: at the cap, none idle");
                // With TLS, closing before the handshake is the only answer there is.
                if acceptor.is_none()
                    && let Ok(permit) = refusals.clone().try_acquire_owned()
                {
                    tokio::spawn(async move {
                        refuse(tcp, cap).await;
                        drop(permit);
                    });
                }
                continue;
            }
        };
        let ctx = Arc::new(ConnCtx {
            router: router.clone(),
            peer,
            slot: guard.slot.clone(),
            registry: registry.clone(),
        });
        let io = Tracked { io: tcp, guard };
        let shutdown = shutdown.clone();
        match &acceptor {
            None => {
                tasks.spawn(serve_http(io, ctx, shutdown));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tasks.spawn(async move {
                    let slot = ctx.slot.clone();
                    let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(io));
                    let stream = tokio::select! {
                        done = handshake => match done {
                            Ok(Ok(stream)) => stream,
                            // Browsers that do not (yet) trust a self-signed certificate end here.
                            Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                        },
                        _ = evicted(&slot) => return,
                        _ = shutdown.cancelled() => return,
                    };
                    serve_http(stream, ctx, shutdown).await;
                });
            }
        }
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
    Ok(())
}

/// Resolves once the connection has been evicted.
async fn evicted(slot: &Slot) {
    loop {
        let notified = slot.notify.notified();
        if slot.evicted() {
            return;
        }
        notified.await;
    }
}

fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
        || e.kind() == io::ErrorKind::OutOfMemory
}

/// Answers a refused connection 503 problem+json and closes it. The request head is read
/// first (briefly), so the client is not reset before it reads the answer.
async fn refuse(mut tcp: TcpStream, cap: Cap) {
    let detail = match cap {
        Cap::Total => "the server holds as many connections as it may; try again shortly",
        Cap::PerIp => {
            "your address holds as many connections as it may; close some or try again shortly"
        }
    };
    let body = serde_json::to_vec(&crate::http::error::Problem {
        type_: "about:blank".into(),
        title: "Service Unavailable".into(),
        status: 503,
        detail: detail.into(),
        code: "too_many_connections".into(),
    })
    .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_WAIT, async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 2048];
        while seen.len() < 16 * 1024 && !seen.windows(4).any(|w| w == b"\r\n\r\n") {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(REFUSAL_WAIT, async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(&body).await?;
        tcp.shutdown().await
    })
    .await;
    // Read what else comes until the client closes, so closing does not reset the answer.
    let _ = tokio::time::timeout(REFUSAL_WAIT, async {
        let mut buf = [0u8; 2048];
        while let Ok(n) = tcp.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_cap_leaves_a_quarter_of_the_file_limit() {
        assert_eq!(derived_cap(Some(256)), 192);
        assert_eq!(derived_cap(Some(1024)), 768);
        assert_eq!(derived_cap(Some(8)), 16);
        assert_eq!(derived_cap(None), 1024);
    }

    #[test]
    fn the_file_limit_is_read() {
        assert!(file_limit().is_some_and(|n| n > 0));
    }
}
