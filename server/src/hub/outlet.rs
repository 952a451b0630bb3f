//! Writing a room's frames to one connection: its outlet.
//!
//! Each live-room connection has an [`Outlet`]: the write side of its socket, the bytes the
//! socket has not taken yet, and the highest seq handed to it (its cursor). A room's frames
//! are not forwarded by the connection tasks: the room's writer shards (`hub::writer`)
//! encode each frame once as a WebSocket text frame and write those bytes straight to every
//! outlet, where it used to wake every connection task (its select, its socket read, the
//! split stream's lock, its timers). Measured in docs/benchmarks.md ("What limits the live
//! room at 10,000 viewers").
//!
//! A write never waits. What a socket does not take is kept in the outlet and written by the
//! connection's own task when the socket becomes writable (the outlet's waker notifies it).
//! An outlet that has `limit` frames waiting, or a writer shard that falls a whole ring
//! behind, ends as a slow consumer; the connection task closes it (4008) and the client
//! resumes with its last seq. Everything else the connection sends (its `welcome`, errors,
//! pongs, pings, close frames) goes through the same outlet, so the order on the wire is the
//! order the writes were made in.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::AsyncWrite;
use tokio::sync::Notify;

use super::Frame;
use crate::domain::Role;

/// The write side of a connection's socket.
pub type Sink = Pin<Box<dyn AsyncWrite + Send>>;

/// Why an outlet stopped taking frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The connection is this many frames behind (its socket does not take them, or its
    /// writer shard fell a whole ring behind).
    Behind(u64),
    /// A frame that ends this member's membership was delivered; close with this code and
    /// reason after it.
    Notice(u16, &'static str),
    /// The socket failed or was closed.
    Failed,
}

/// Decides whether a delivered frame ends the connection (a ban, a revoked invite).
pub type EndsMembership = fn(&Frame) -> Option<(u16, &'static str)>;

/// One connection's write side (module docs).
pub struct Outlet {
    role: Option<Role>,
    member: Option<String>,
    /// Frames that may wait for the socket before the connection is a slow consumer.
    limit: usize,
    ends: EndsMembership,
    notify: Arc<Notify>,
    waker: Waker,
    inner: Mutex<Inner>,
}

struct Inner {
    sink: Option<Sink>,
    /// Bytes the socket has not taken yet (whole frames, except that the first may have been
    /// written in part).
    pending: BytesMut,
    /// Writes waiting in `pending`.
    waiting: usize,
    /// When `pending` last became non-empty.
    since: Option<Instant>,
    /// While paused (before the `welcome`, during a `resume`), the frames the writer shard
    /// saw, delivered by [`Outlet::go_live`].
    held: Option<Vec<Frame>>,
    cursor: u64,
    ending: Option<Ending>,
}

/// Notifies the connection task when its socket can take more.
struct Notifier(Arc<Notify>);

impl Wake for Notifier {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.notify_one();
    }
}

/// A text frame as a server sends it (unmasked, final).
pub fn encode_text(text: &str) -> Bytes {
    let len = text.len();
    let mut out = BytesMut::with_capacity(len + 10);
    out.put_u8(0x81);
    if len < 126 {
        out.put_u8(len as u8);
    } else if len <= u16::MAX as usize {
        out.put_u8(126);
        out.put_u16(len as u16);
    } else {
        out.put_u8(127);
        out.put_u64(len as u64);
    }
    out.put_slice(text.as_bytes());
    out.freeze()
}

impl Outlet {
    /// A paused outlet: frames are held until [`Outlet::go_live`].
    pub fn new(
        sink: Sink,
        role: Option<Role>,
        member: Option<String>,
        limit: usize,
        ends: EndsMembership,
    ) -> Arc<Outlet> {
        let notify = Arc::new(Notify::new());
        Arc::new(Outlet {
            role,
            member,
            limit: limit.max(1),
            ends,
            waker: Waker::from(Arc::new(Notifier(notify.clone()))),
            notify,
            inner: Mutex::new(Inner {
                sink: Some(sink),
                pending: BytesMut::new(),
                waiting: 0,
                since: None,
                held: Some(Vec::new()),
                cursor: 0,
                ending: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn admits(&self, frame: &Frame) -> bool {
        frame.audience.admits(self.role, self.member.as_deref())
    }

    /// Resolves when the socket may take more, or the writer ended the outlet: call
    /// [`Outlet::service`] then.
    pub async fn notified(&self) {
        self.notify.notified().await
    }

    /// Writes bytes the connection task made (its own frames), after everything before them.
    pub fn write(&self, bytes: &[u8]) -> io::Result<()> {
        let mut inner = self.lock();
        let notify = inner.push(bytes, &self.waker);
        let open = inner.sink.is_some();
        drop(inner);
        if notify {
            self.notify.notify_one();
        }
        if open {
            Ok(())
        } else {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    /// Delivers a batch of at most [`BATCH`] of the room's frames (each with its encoding):
    /// the ones after the cursor that this connection may see. `all` is the whole batch's
    /// encoding in one buffer, written at once when every frame is for this connection.
    /// Returns how many frames were written (or queued for the socket), `None` once the
    /// outlet takes no more.
    pub fn deliver(&self, batch: &[(Frame, Bytes)], all: &Bytes) -> Option<usize> {
        let mut inner = self.lock();
        let (taken, notify) = self.take(&mut inner, batch, all);
        drop(inner);
        if notify {
            self.notify.notify_one();
        }
        taken
    }

    /// [`Outlet::deliver`] under the lock; also says whether the connection task must be told
    /// (bytes wait for the socket, or the outlet ended).
    fn take(
        &self,
        inner: &mut Inner,
        batch: &[(Frame, Bytes)],
        all: &Bytes,
    ) -> (Option<usize>, bool) {
        debug_assert!(batch.len() <= BATCH);
        if inner.sink.is_none() {
            return (None, false);
        }
        if inner.ending.is_some() {
            return (Some(0), false);
        }
        if let Some(held) = &mut inner.held {
            held.extend(batch.iter().map(|(f, _)| f.clone()));
            if held.len() > self.limit {
                let behind = held.len() as u64;
                inner.stop(Ending::Behind(behind));
                return (Some(0), true);
            }
            return (Some(0), false);
        }
        let mut admitted = 0u64;
        let mut taken = 0usize;
        let mut notice = None;
        for (i, (frame, _)) in batch.iter().enumerate() {
            if frame.seq <= inner.cursor {
                continue;
            }
            inner.cursor = frame.seq;
            if self.admits(frame) {
                admitted |= 1 << i;
                taken += 1;
                notice = notice.or_else(|| (self.ends)(frame));
            }
        }
        if taken == 0 {
            return (Some(0), false);
        }
        if inner.waiting + taken > self.limit {
            let behind = (inner.waiting + taken) as u64;
            inner.stop(Ending::Behind(behind));
            return (Some(0), true);
        }
        let waits = if taken == batch.len() {
            inner.push(all, &self.waker)
        } else {
            let mut some = BytesMut::new();
            for (i, (_, bytes)) in batch.iter().enumerate() {
                if admitted & (1 << i) != 0 {
                    some.put_slice(bytes);
                }
            }
            inner.push(&some, &self.waker)
        };
        if let Some((code, reason)) = notice {
            inner.ending.get_or_insert(Ending::Notice(code, reason));
        }
        (Some(taken), waits || notice.is_some())
    }

    /// Marks the outlet as a whole ring behind (its writer shard lagged).
    pub(super) fn lagged(&self, n: u64) {
        let mut inner = self.lock();
        if inner.ending.is_none() && inner.sink.is_some() {
            inner.stop(Ending::Behind(n));
            drop(inner);
            self.notify.notify_one();
        }
    }

    /// Holds the room's frames until [`Outlet::go_live`] (a `resume` in progress).
    pub fn pause(&self) {
        let mut inner = self.lock();
        if inner.held.is_none() && inner.ending.is_none() {
            inner.held = Some(Vec::new());
        }
    }

    /// The highest seq handed to this connection.
    pub fn cursor(&self) -> u64 {
        self.lock().cursor
    }

    /// Ends a pause: the cursor moves to at least `cursor`, and the held frames after it
    /// that this connection may see are written, in order.
    pub fn go_live(&self, cursor: u64) {
        let mut inner = self.lock();
        inner.cursor = inner.cursor.max(cursor);
        let Some(held) = inner.held.take() else {
            return;
        };
        // Under the same lock: a writer's next batch (newer frames) must not get in first, or
        // these would be behind the cursor and lost.
        let frames: Vec<(Frame, Bytes)> = held.into_iter().map(encoded).collect();
        let mut notify = false;
        for chunk in frames.chunks(BATCH) {
            notify |= self.take(&mut inner, chunk, &concat(chunk)).1;
        }
        drop(inner);
        if notify {
            self.notify.notify_one();
        }
    }

    /// Writes what the socket can take now. `Ok(Some(t))`: bytes still wait since `t`;
    /// `Err`: the writer ended the outlet (what is queued stays queued for [`Outlet::finish`]).
    pub fn service(&self) -> Result<Option<Instant>, Ending> {
        let mut inner = self.lock();
        inner.drain(&self.waker);
        if let Some(ending) = inner.ending {
            return Err(ending);
        }
        if inner.sink.is_none() {
            return Err(Ending::Failed);
        }
        Ok(inner.since)
    }

    /// Writes what is still queued (at most for `limit`), then closes the socket and stops
    /// taking frames.
    pub async fn finish(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.notify.notified();
            {
                let mut inner = self.lock();
                inner.drain(&self.waker);
                if inner.pending.is_empty() || inner.sink.is_none() {
                    break;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let mut inner = self.lock();
        inner.ending.get_or_insert(Ending::Failed);
        inner.held = None;
        inner.pending = BytesMut::new();
        if let Some(mut sink) = inner.sink.take() {
            let mut cx = Context::from_waker(Waker::noop());
            let _ = sink.as_mut().poll_shutdown(&mut cx);
        }
    }
}

impl Inner {
    /// Writes `bytes` after whatever waits; returns true when bytes now wait (the connection
    /// task should be told, to watch the write timeout).
    fn push(&mut self, bytes: &[u8], waker: &Waker) -> bool {
        if bytes.is_empty() || self.sink.is_none() {
            return false;
        }
        let was_waiting = !self.pending.is_empty();
        if was_waiting {
            self.pending.put_slice(bytes);
            self.waiting += 1;
            return false;
        }
        let written = self.write_some(bytes, waker);
        if written < bytes.len() && self.sink.is_some() {
            metrics::counter!("livesale_ws_write_waits_total").increment(1);
            self.pending.put_slice(&bytes[written..]);
            self.waiting = 1;
            self.since = Some(Instant::now());
            return true;
        }
        false
    }

    /// Writes as much of `bytes` as the socket takes now.
    fn write_some(&mut self, bytes: &[u8], waker: &Waker) -> usize {
        let Some(sink) = self.sink.as_mut() else {
            return 0;
        };
        let mut cx = Context::from_waker(waker);
        let mut written = 0;
        while written < bytes.len() {
            match sink.as_mut().poll_write(&mut cx, &bytes[written..]) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    self.fail();
                    return written;
                }
                Poll::Ready(Ok(n)) => written += n,
                Poll::Pending => return written,
            }
        }
        // A TLS stream may keep encrypted bytes back until flushed; TCP flushes at once.
        if let Poll::Ready(Err(_)) = sink.as_mut().poll_flush(&mut cx) {
            self.fail();
        }
        written
    }

    fn drain(&mut self, waker: &Waker) {
        if self.pending.is_empty() {
            if let Some(sink) = self.sink.as_mut() {
                let mut cx = Context::from_waker(waker);
                if let Poll::Ready(Err(_)) = sink.as_mut().poll_flush(&mut cx) {
                    self.fail();
                }
            }
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let written = self.write_some(&pending, waker);
        let mut rest = pending;
        rest.advance(written.min(rest.len()));
        if rest.is_empty() {
            self.waiting = 0;
            self.since = None;
        } else if self.sink.is_some() {
            self.pending = rest;
        }
    }

    /// Takes no more frames: the connection task closes the connection as `ending` says.
    fn stop(&mut self, ending: Ending) {
        self.ending.get_or_insert(ending);
        self.held = None;
    }

    fn fail(&mut self) {
        self.sink = None;
        self.pending = BytesMut::new();
        self.held = None;
        self.ending.get_or_insert(Ending::Failed);
    }
}

/// Frames one writer pass takes from the ring at most.
pub(super) const BATCH: usize = 64;

/// Every frame's encoding of a batch, in one buffer.
pub(super) fn concat(batch: &[(Frame, Bytes)]) -> Bytes {
    match batch {
        [] => Bytes::new(),
        [(_, one)] => one.clone(),
        _ => {
            let mut all = BytesMut::with_capacity(batch.iter().map(|(_, b)| b.len()).sum());
            for (_, bytes) in batch {
                all.put_slice(bytes);
            }
            all.freeze()
        }
    }
}

pub(super) fn encoded(frame: Frame) -> (Frame, Bytes) {
    let bytes = encode_text(frame.text.as_str());
    (frame, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::protocol::Audience;

    /// A socket that takes every byte at once.
    struct Wire(Arc<Mutex<Vec<u8>>>);

    impl AsyncWrite for Wire {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn numbered(seq: u64) -> Vec<(Frame, Bytes)> {
        let frame = Frame {
            seq,
            text: seq.to_string().into(),
            published_ms: 0,
            audience: Audience::Everyone,
        };
        vec![encoded(frame)]
    }

    /// The seqs of the short text frames on the wire.
    fn on_wire(mut bytes: &[u8]) -> Vec<u64> {
        let mut seqs = Vec::new();
        while let [0x81, len, rest @ ..] = bytes {
            let (text, next) = rest.split_at(*len as usize);
            seqs.push(std::str::from_utf8(text).unwrap().parse().unwrap());
            bytes = next;
        }
        assert!(bytes.is_empty(), "not whole text frames: {bytes:?}");
        seqs
    }

    #[test]
    fn frames_held_until_going_live_are_not_overtaken_by_newer_ones() {
        // A writer keeps delivering while the connection goes live: whatever the interleaving,
        // the wire carries every frame once, in order.
        for _ in 0..500 {
            let wire = Arc::new(Mutex::new(Vec::new()));
            let outlet = Outlet::new(Box::pin(Wire(wire.clone())), None, None, 1000, |_| None);
            for seq in 1..=8 {
                let batch = numbered(seq);
                outlet.deliver(&batch, &concat(&batch));
            }
            let start = Arc::new(std::sync::Barrier::new(2));
            let writer = std::thread::spawn({
                let (outlet, start) = (outlet.clone(), start.clone());
                move || {
                    start.wait();
                    for seq in 9..=60 {
                        let batch = numbered(seq);
                        outlet.deliver(&batch, &concat(&batch));
                    }
                }
            });
            start.wait();
            outlet.go_live(0);
            writer.join().unwrap();
            assert_eq!(
                on_wire(&wire.lock().unwrap()),
                (1..=60).collect::<Vec<u64>>()
            );
        }
    }

    #[test]
    fn text_frames_have_the_length_forms_of_rfc_6455() {
        let short = encode_text("hi");
        assert_eq!(&short[..], &[0x81, 2, b'h', b'i']);
        let medium = encode_text(&"a".repeat(300));
        assert_eq!(&medium[..4], &[0x81, 126, 0x01, 0x2c]);
        assert_eq!(medium.len(), 304);
        let long = encode_text(&"a".repeat(70_000));
        assert_eq!(&long[..2], &[0x81, 127]);
        assert_eq!(u64::from_be_bytes(long[2..10].try_into().unwrap()), 70_000);
        assert_eq!(long.len(), 70_010);
    }
}
