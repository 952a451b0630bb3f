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
//!
//! This file is the accept loop and the refusal; the caps are `caps`, the deadlines
//! `timeouts`, and serving one connection is `connection`.

mod caps;
mod connection;
mod timeouts;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use caps::{Cap, derived_cap, file_limit};
pub use timeouts::BodyTimeout;

use caps::{Registry, Slot};
use connection::{ConnCtx, serve_http};
use timeouts::Tracked;

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

/// Answers to refused connections being written at once; beyond it they are just closed
/// (each holds a descriptor for up to a second or two).
const MAX_REFUSALS: usize = 64;
/// How long a refusal waits for the request head before answering, and for the answer to go.
const REFUSAL_WAIT: Duration = Duration::from_secs(1);
/// Time a client has to finish its TLS handshake (an idle connection meanwhile).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    let acceptor = Acceptor {
        registry: Registry::new(limits),
        tls: tls.map(TlsAcceptor::from),
        refusals: Arc::new(Semaphore::new(MAX_REFUSALS)),
        tasks: TaskTracker::new(),
        router,
        shutdown,
    };
    loop {
        let accepted = tokio::select! {
            _ = acceptor.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, peer)) => acceptor.take(tcp, peer),
            Err(e) => acceptor.failed(e).await,
        }
    }
    drop(listener);
    acceptor.tasks.close();
    acceptor.tasks.wait().await;
    Ok(())
}

/// What the accept loop hands each new connection.
struct Acceptor {
    registry: Arc<Registry>,
    tls: Option<TlsAcceptor>,
    /// Refusals being answered.
    refusals: Arc<Semaphore>,
    /// The HTTP connections' tasks, waited for at shutdown.
    tasks: TaskTracker,
    router: Router,
    shutdown: CancellationToken,
}

impl Acceptor {
    /// A new connection: served in its own task within the caps, or refused.
    fn take(&self, tcp: TcpStream, peer: SocketAddr) {
        // Room frames are small and latency-bound: no Nagle delays.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        match self.registry.admit(peer.ip()) {
            Ok(guard) => self.spawn(Tracked { io: tcp, guard }, peer),
            Err(cap) => self.refuse(tcp, peer, cap),
        }
    }

    fn spawn(&self, io: Tracked<TcpStream>, peer: SocketAddr) {
        let ctx = Arc::new(ConnCtx {
            router: self.router.clone(),
            peer,
            slot: io.guard.slot.clone(),
            registry: self.registry.clone(),
        });
        let shutdown = self.shutdown.clone();
        match &self.tls {
            None => self.tasks.spawn(serve_http(io, ctx, shutdown)),
            Some(tls) => self.tasks.spawn(serve_tls(tls.clone(), io, ctx, shutdown)),
        };
    }

    /// At a cap with nothing idle: answered 503 (when not too many answers are under way),
    /// or just closed.
    fn refuse(&self, tcp: TcpStream, peer: SocketAddr, cap: Cap) {
        metrics::counter!("livesale_connections_refused_total", "cap" => cap.label()).increment(1);
        tracing::debug!(%peer, cap = cap.label(), "connection refused: at the cap, none idle");
        // With TLS, closing before the handshake is the only answer there is.
        if self.tls.is_none()
            && let Ok(permit) = self.refusals.clone().try_acquire_owned()
        {
            tokio::spawn(async move {
                refuse(tcp, cap).await;
                drop(permit);
            });
        }
    }

    /// An accept that failed. Out of descriptors, the kernel holds the connection in the
    /// backlog: make room and take it at once rather than sleeping (a sleep is what let idle
    /// sockets starve health checks). Anything else: the peer gave up before we took it
    /// (ECONNABORTED and the like).
    async fn failed(&self, e: io::Error) {
        if !out_of_descriptors(&e) {
            tracing::debug!(error = %e, "accept failed");
            return;
        }
        metrics::counter!("livesale_connections_accept_errors_total", "reason" => "out_of_descriptors")
            .increment(1);
        let pause = if self.registry.evict_any_idle() {
            // Long enough for the evicted connection's task to close its socket, so one
            // shortage does not evict a burst of them.
            Duration::from_millis(1)
        } else {
            tracing::warn!(error = %e, "out of file descriptors and no idle connection to close");
            Duration::from_millis(10)
        };
        tokio::time::sleep(pause).await;
    }
}

/// Finishes the TLS handshake (unless it takes too long, the connection is evicted or the
/// server shuts down meanwhile), then serves HTTP on it.
async fn serve_tls(
    tls: TlsAcceptor,
    io: Tracked<TcpStream>,
    ctx: Arc<ConnCtx>,
    shutdown: CancellationToken,
) {
    let (slot, peer) = (ctx.slot.clone(), ctx.peer);
    let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(io));
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
        next_minimum: None,
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
