//! The connection's socket as its task uses it: reads from the socket, writes through the
//! outlet ([`ConnIo`]), close frames bounded in time ([`close_with`]), which client mistakes
//! close the connection with which code ([`violation`]), lingering after such a close
//! ([`linger`]), and which personal notice ends a membership ([`ends_membership`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, Utf8Bytes};

use super::handshake::Upgraded;
use super::{End, close};
use crate::domain::protocol::{Audience, NoticeAction};
use crate::hub::Frame;
use crate::hub::outlet::Outlet;

/// The connection's stream as the WebSocket library sees it: it reads the socket, and what it
/// writes goes through the outlet, behind the room's frames already written.
pub(super) struct ConnIo {
    pub(super) read: ReadHalf<Upgraded>,
    pub(super) outlet: Arc<Outlet>,
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // Taken whole: what the socket cannot take now waits in the outlet.
        Poll::Ready(self.outlet.write(buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // The connection task drains the outlet when the socket can take more.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

pub(super) type Socket = WebSocketStream<ConnIo>;

/// Reads and discards what the client still sends until it closes, for at most a second
/// and 64 KiB.
pub(super) async fn linger(read: &mut ReadHalf<Upgraded>) {
    use tokio::io::AsyncReadExt;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut buf = [0u8; 4096];
        let mut left = 64 * 1024usize;
        while left > 0 {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// The close code and reason for a frame the client should not have sent; `None` when the
/// connection simply failed (reset, closed under us).
pub(super) fn violation(e: &tungstenite::Error, max_frame: usize) -> Option<(u16, String, End)> {
    use tungstenite::error::ProtocolError as P;
    match e {
        tungstenite::Error::Capacity(_) => Some((
            close::TOO_BIG,
            format!("frames are limited to {max_frame} bytes"),
            End::TooBig,
        )),
        tungstenite::Error::Utf8(_) => Some((
            close::INVALID_DATA,
            "invalid UTF-8 in a text frame".to_string(),
            End::InvalidUtf8,
        )),
        tungstenite::Error::Protocol(
            P::ResetWithoutClosingHandshake | P::SendAfterClosing | P::ReceivedAfterClosing,
        ) => None,
        // Unmasked frames, RSV bits, unknown opcodes, a continuation with nothing to
        // continue, oversized or fragmented control frames, a malformed close frame.
        tungstenite::Error::Protocol(p) => Some((
            close::PROTOCOL_ERROR,
            format!("protocol error: {p}"),
            End::ProtocolError,
        )),
        _ => None,
    }
}

/// Close reasons are limited to 123 bytes by the protocol.
fn truncate_reason(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

/// Sends a close frame (bounded in time: a stalled peer must not hold the task).
pub(super) async fn close_with<S>(sink: &mut S, code: u16, reason: &str) -> Result<(), ()>
where
    S: futures::Sink<Message> + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from(truncate_reason(reason)),
    };
    match tokio::time::timeout(
        Duration::from_secs(2),
        sink.send(Message::Close(Some(frame))),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// A personal notice that ends the member's membership (a ban, a revoked invite): the close
/// code and reason to send after it.
pub(super) fn ends_membership(frame: &Frame) -> Option<(u16, &'static str)> {
    if !matches!(frame.audience, Audience::Member(_)) {
        return None;
    }
    match NoticeAction::of_frame(frame.text.as_str())? {
        NoticeAction::Ban => Some((
            close::FORBIDDEN,
            "banned: a moderator banned you from this show",
        )),
        NoticeAction::Revoked => Some((
            close::UNAUTHORIZED,
            "token_revoked: this token was revoked or signed out",
        )),
        NoticeAction::Timeout => None,
    }
}
