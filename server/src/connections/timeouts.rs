//! The per-connection deadlines: a request head must arrive within `--http-header-timeout-ms`
//! of its first byte ([`Tracked`] notes that byte), a body within `--http-body-timeout-ms` of
//! its head ([`TimedBody`]), and an idle connection lives `--http-idle-timeout-s`
//! ([`next_deadline`] says which applies now).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Limits;
use super::caps::{Guard, IN_FLIGHT, Registry, Slot, UPGRADED};
use crate::domain::Code;

/// What a route gets past the body timeout to answer 408 before the connection is closed
/// under it (for a handler that does not read its body).
const BODY_GRACE: Duration = Duration::from_secs(1);

/// The socket, noting when an idle connection starts sending a new request head. It carries
/// the connection's place, so the place lives exactly as long as the socket, through an
/// upgrade to a WebSocket too.
pub(super) struct Tracked<T> {
    pub(super) io: T,
    pub(super) guard: Guard,
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
pub(super) struct TimedBody {
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
    /// The body of the request that began now on `slot`; its deadline starts counting.
    pub(super) fn start(inner: Incoming, slot: &Arc<Slot>, registry: &Registry) -> TimedBody {
        let limit = registry.limits.body_timeout;
        slot.body_since.store(registry.now_ms(), Ordering::Relaxed);
        slot.notify.notify_one();
        TimedBody {
            inner,
            deadline: tokio::time::Instant::now() + limit,
            limit,
            sleep: None,
            slot: slot.clone(),
            done: false,
        }
    }

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
                    metrics::counter!("livesale_connections_closed_total", "reason" => Deadline::Body.label())
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

/// What a connection's deadline is about, for the metric of the ones that pass.
#[derive(Debug, Clone, Copy)]
pub(super) enum Deadline {
    Header,
    Body,
    Idle,
}

impl Deadline {
    pub(super) fn label(self) -> &'static str {
        match self {
            Deadline::Header => "header_timeout",
            Deadline::Body => Code::BodyTimeout.as_str(),
            Deadline::Idle => "idle_timeout",
        }
    }
}

/// The connection's next deadline (registry ms), if it has one now.
pub(super) fn next_deadline(slot: &Slot, limits: &Limits) -> Option<(u64, Deadline)> {
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
