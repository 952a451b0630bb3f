//! Serving one accepted connection with hyper (HTTP/1.1, with upgrades for the live room's
//! WebSocket): each request marks the connection active until its response is sent, gets
//! `ConnectInfo<SocketAddr>` and a body under its deadline, and the connection's task ends it
//! when it is evicted, passes a deadline, or the server shuts down.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::caps::{IN_FLIGHT, Registry, Slot, UPGRADED};
use super::timeouts::{TimedBody, next_deadline};

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
pub(super) struct ConnCtx {
    pub(super) router: Router,
    pub(super) peer: SocketAddr,
    pub(super) slot: Arc<Slot>,
    pub(super) registry: Arc<Registry>,
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
        Body::new(TimedBody::start(incoming, slot, &ctx.registry))
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

/// Serves HTTP/1.1 on one connection until it ends, is evicted, passes a deadline, or the
/// server shuts down (then it finishes the request in flight and closes).
pub(super) async fn serve_http<I>(io: I, ctx: Arc<ConnCtx>, shutdown: CancellationToken)
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
