//! The live room over WebSocket: `GET /api/shows/{id}/ws`.
//!
//! One task per connection reads the client, answers it, pings, and closes with a documented
//! code when something is wrong (docs/protocol.md). The room's broadcast frames do not pass
//! through that task: they are serialised once by the sequencer, encoded once per writer
//! shard, and written straight to the connection's socket through its outlet
//! (`hub::outlet`), which is also where this task's own frames go, so the order on the wire
//! is the order of the writes. A connection that falls a whole room queue behind, or whose
//! writes stall, is disconnected as a slow consumer so it never holds the room back.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf};
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role as WsRole, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{Caller, ClientIp, TokenProblem};
use crate::domain::limits::{Budget, BudgetKey};
use crate::domain::room::{
    Audience, Author, ChatMessage, ChatRules, ClientMsg, PROTOCOL_VERSIONS, RateLimit, may_chat,
    reaction_kind,
};
use crate::domain::{DomainError, Principal, Role, Show, ShowId};
use crate::hub::outlet::{Ending, Outlet, encode_text};
use crate::hub::{Frame, Membership, Replay};
use crate::limits::{CapExceeded, ConnSlot};
use crate::services::moderation::{ModError, Screened};

/// Close codes (also documented in docs/protocol.md).
pub mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const INVALID_DATA: u16 = 1007;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    pub const UNAUTHORIZED: u16 = 4001;
    pub const FORBIDDEN: u16 = 4003;
    pub const NOT_FOUND: u16 = 4004;
    pub const UNSUPPORTED_VERSION: u16 = 4006;
    pub const SLOW_CONSUMER: u16 = 4008;
    pub const IDLE: u16 = 4010;
    pub const TOO_MANY: u16 = 4029;
}

/// Initial read buffer of a connection (see `upgrade`).
const WS_READ_BUFFER: usize = 4096;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/shows/{id}/ws", get(upgrade))
}

#[derive(Debug, serde::Deserialize)]
struct WsParams {
    /// Protocol version; 1 when absent.
    v: Option<String>,
    /// Resume from this seq instead of receiving a `welcome`.
    last_seq: Option<u64>,
}

/// Why a connection ended, for logs and metrics.
#[derive(Debug, Clone, Copy)]
enum End {
    ClientClosed,
    SlowConsumer,
    Idle,
    Shutdown,
    Binary,
    TooBig,
    ProtocolError,
    InvalidUtf8,
    Refused,
    Error,
}

impl End {
    fn label(self) -> &'static str {
        match self {
            End::ClientClosed => "client_closed",
            End::SlowConsumer => "slow_consumer",
            End::Idle => "idle",
            End::Shutdown => "shutdown",
            End::Binary => "binary_frame",
            End::TooBig => "frame_too_big",
            End::ProtocolError => "protocol_error",
            End::InvalidUtf8 => "invalid_utf8",
            End::Refused => "refused",
            End::Error => "error",
        }
    }
}

async fn upgrade(
    State(state): State<AppState>,
    caller: Caller,
    token_problem: Option<Extension<TokenProblem>>,
    ClientIp(ip): ClientIp,
    Path(raw_id): Path<String>,
    params: Result<Query<WsParams>, axum::extract::rejection::QueryRejection>,
    ws: Result<Upgrade, NotUpgrade>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(not) => return not.into_response(),
    };
    // tungstenite zero-fills its whole read buffer before every read of the socket, and its
    // default buffer is 128 KiB: that was 128 KiB of RSS per connection and a 128 KiB memset
    // each time a connection task polled its socket, i.e. for every frame it forwarded (40 %
    // of the server's CPU under load, docs/benchmarks.md). Client frames are small; the
    // buffer still grows for a frame that needs more.
    let config = WebSocketConfig::default()
        .max_message_size(Some(state.config.ws_max_frame_bytes))
        .max_frame_size(Some(state.config.ws_max_frame_bytes))
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0);
    // Refusals come after the upgrade: browsers cannot read an HTTP status from a failed
    // handshake, but they do see a close code and reason.
    match admit(&state, caller, token_problem, ip, &raw_id, params).await {
        Ok((show, who, last_seq, slot)) => {
            let tracker = state.connections.token();
            ws.on_upgrade(move |io| async move {
                let _tracked = tracker;
                // The connection's places under the caps are held until it ends.
                let _slot = slot;
                run(state, show, who, last_seq, io, config).await;
            })
        }
        Err(refusal) => refusal.into_ws(ws, config),
    }
}

/// An HTTP/1.1 WebSocket handshake (RFC 6455 section 4.2), checked like axum's
/// `WebSocketUpgrade`; the connection's raw stream is ours afterwards, so the room's writers
/// can write to it directly (module docs).
struct Upgrade {
    key: HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotUpgrade> {
        fn has(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
            headers.get_all(name).iter().any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            })
        }
        let h = &parts.headers;
        if parts.version != Version::HTTP_11
            || parts.method != Method::GET
            || !has(h, header::CONNECTION, "upgrade")
            || !has(h, header::UPGRADE, "websocket")
            || !has(h, header::SEC_WEBSOCKET_VERSION, "13")
        {
            return Err(NotUpgrade);
        }
        let key = h.get(header::SEC_WEBSOCKET_KEY).ok_or(NotUpgrade)?.clone();
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or(NotUpgrade)?;
        Ok(Upgrade { key, on_upgrade })
    }
}

/// Not a WebSocket handshake.
struct NotUpgrade;

impl IntoResponse for NotUpgrade {
    fn into_response(self) -> Response {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            "this address speaks WebSocket only",
        )
        .into_response()
    }
}

type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

impl Upgrade {
    /// The 101 answer; `then` runs with the connection's stream once hyper hands it over.
    fn on_upgrade<F, Fut>(self, then: F) -> Response
    where
        F: FnOnce(Upgraded) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => then(TokioIo::new(upgraded)).await,
                Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
            }
        });
        let accept = tungstenite::handshake::derive_accept_key(self.key.as_bytes());
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .body(axum::body::Body::empty())
            .unwrap_or_default()
    }
}

/// Decides whether the caller may join the show's room: protocol version, token, show,
/// scope, bans, and the connection caps, in that order (docs/protocol.md).
async fn admit(
    state: &AppState,
    caller: Caller,
    token_problem: Option<Extension<TokenProblem>>,
    ip: std::net::IpAddr,
    raw_id: &str,
    params: Result<Query<WsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<(Show, Who, Option<u64>, ConnSlot), Refusal> {
    let Query(params) = params.map_err(|e| {
        Refusal::new(
            close::UNSUPPORTED_VERSION,
            format!("bad query: {}", e.body_text()),
        )
    })?;
    let version = params.v.as_deref().unwrap_or("1");
    if !version
        .parse::<u32>()
        .is_ok_and(|v| PROTOCOL_VERSIONS.contains(&v))
    {
        return Err(Refusal::new(
            close::UNSUPPORTED_VERSION,
            format!("unsupported protocol version '{version}'; this server speaks v=1"),
        ));
    }
    if let Some(Extension(TokenProblem(e))) = token_problem {
        return Err(Refusal::new(
            close::UNAUTHORIZED,
            format!("{}: {}", e.code, e.message),
        ));
    }
    let not_found = || Refusal::new(close::NOT_FOUND, "show_not_found");
    let show_id = raw_id.parse::<ShowId>().map_err(|_| not_found())?;
    let show = state
        .store
        .show(show_id)
        .await
        .map_err(Refusal::unavailable)?
        .ok_or_else(not_found)?;
    if let Some(p) = caller.principal()
        && !p.is_scoped_to(&show)
    {
        return Err(Refusal::new(
            close::FORBIDDEN,
            "wrong_show: this token is for another show",
        ));
    }
    let who = identify(state, caller.0)
        .await
        .map_err(Refusal::unavailable)?;
    if let Some(member) = &who.id
        && !crate::services::moderation::admitted(state.store.as_ref(), &show, member)
            .await
            .map_err(Refusal::unavailable)?
    {
        return Err(Refusal::new(
            close::FORBIDDEN,
            "banned: you are banned from this show",
        ));
    }
    let slot = state
        .conn_caps
        .admit(show.id, who.id.as_deref(), ip)
        .map_err(|cap| {
            metrics::counter!("livesale_limits_refused_total", "limit" => match cap {
                CapExceeded::Member => "ws_per_member",
                CapExceeded::Address => "ws_per_address",
            })
            .increment(1);
            let reason = match cap {
                CapExceeded::Member => format!(
                    "rate_limited: at most {} connections per person to a show; close one",
                    state.config.ws_max_per_member
                ),
                CapExceeded::Address => format!(
                    "rate_limited: at most {} connections from one address",
                    state.config.ws_max_per_address
                ),
            };
            Refusal::new(close::TOO_MANY, reason)
        })?;
    Ok((show, who, params.last_seq, slot))
}

/// A refusal to deliver after the handshake.
struct Refusal {
    code: u16,
    reason: String,
}

impl Refusal {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Refusal {
            code,
            reason: reason.into(),
        }
    }

    fn unavailable(e: crate::store::StoreError) -> Self {
        tracing::warn!(error = %e, "store unavailable for a WebSocket join");
        Refusal::new(close::INTERNAL, "store_unavailable: try again shortly")
    }

    fn into_ws(self, ws: Upgrade, config: WebSocketConfig) -> Response {
        metrics::counter!("livesale_ws_disconnects_total", "reason" => End::Refused.label())
            .increment(1);
        ws.on_upgrade(move |io| async move {
            let mut socket =
                WebSocketStream::from_raw_socket(io, WsRole::Server, Some(config)).await;
            let _ = close_with(&mut socket, self.code, &self.reason).await;
        })
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

/// The caller as the room sees them.
#[derive(Debug, Clone)]
struct Who {
    principal: Option<Principal>,
    /// `None` for an anonymous watcher.
    role: Option<Role>,
    id: Option<String>,
    name: Option<String>,
}

async fn identify(
    state: &AppState,
    principal: Option<Principal>,
) -> Result<Who, crate::store::StoreError> {
    let Some(p) = principal else {
        return Ok(Who {
            principal: None,
            role: None,
            id: None,
            name: None,
        });
    };
    let (id, name) = match &p {
        Principal::Creator { creator_id } => {
            let name = state
                .store
                .creator(*creator_id)
                .await?
                .map(|c| c.name)
                .unwrap_or_else(|| "Host".to_string());
            (creator_id.to_string(), name)
        }
        Principal::Moderator {
            invite_id, label, ..
        } => (
            invite_id.to_string(),
            label.clone().unwrap_or_else(|| "Moderator".into()),
        ),
        Principal::Camera {
            invite_id, label, ..
        } => (
            invite_id.to_string(),
            label.clone().unwrap_or_else(|| "Camera".into()),
        ),
        Principal::Viewer {
            viewer_id, name, ..
        } => (viewer_id.to_string(), name.clone()),
    };
    Ok(Who {
        role: Some(p.role()),
        principal: Some(p),
        id: Some(id),
        name: Some(name),
    })
}

/// The connection's stream as the WebSocket library sees it: it reads the socket, and what it
/// writes goes through the outlet, behind the room's frames already written.
struct ConnIo {
    read: ReadHalf<Upgraded>,
    outlet: Arc<Outlet>,
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

type Socket = WebSocketStream<ConnIo>;

struct Conn {
    state: AppState,
    show: Show,
    who: Who,
    membership: Membership,
    ws: Socket,
    outlet: Arc<Outlet>,
    /// The seq of the last `welcome` (what a `resume` must fill up to).
    welcome_seq: u64,
    /// This connection's own buckets: a cheap first check, so that a flood from one
    /// connection is refused here and never reaches the store.
    chat_limit: RateLimit,
    reaction_limit: RateLimit,
    /// Until when (ms on `started`'s clock) the person's shared budget is known to be spent,
    /// so refusals do not ask the store again.
    chat_spent_until_ms: u64,
    reaction_spent_until_ms: u64,
    /// When the last "too many reactions" error was sent, so refusals are not a flood too.
    reaction_refused_ms: u64,
    write_timeout: Duration,
    out: metrics::Counter,
    started: std::time::Instant,
}

fn mono_ms(started: std::time::Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

async fn run(
    state: AppState,
    show: Show,
    who: Who,
    last_seq: Option<u64>,
    io: Upgraded,
    config: WebSocketConfig,
) {
    let (read, write) = tokio::io::split(io);
    let outlet = Outlet::new(
        Box::pin(write),
        who.role,
        who.id.clone(),
        state.config.ws_queue,
        ends_membership,
    );
    let ws = WebSocketStream::from_raw_socket(
        ConnIo {
            read,
            outlet: outlet.clone(),
        },
        WsRole::Server,
        Some(config),
    )
    .await;
    let (end, mut ws) = serve(state, show, who, last_seq, ws, outlet.clone()).await;
    // What is still queued (a close frame, the last frames) gets a bounded chance to leave.
    outlet.finish(Duration::from_secs(2)).await;
    if matches!(
        end,
        End::ProtocolError | End::InvalidUtf8 | End::TooBig | End::Binary
    ) {
        // The client's frame may be partly unread: closing now would reset the connection,
        // and a reset can destroy the close frame before the client reads it. Read on
        // (bounded) until the client closes its side, as RFC 6455 section 7.1.1 asks.
        linger(&mut ws.get_mut().read).await;
    }
    metrics::counter!("livesale_ws_disconnects_total", "reason" => end.label()).increment(1);
}

async fn serve(
    state: AppState,
    show: Show,
    who: Who,
    last_seq: Option<u64>,
    mut ws: Socket,
    outlet: Arc<Outlet>,
) -> (End, Socket) {
    let membership = match state.hub.join(&show).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(show = %show.id, error = %e, "cannot join the room");
            let _ = close_with(
                &mut ws,
                close::INTERNAL,
                "store_unavailable: try again shortly",
            )
            .await;
            return (End::Error, ws);
        }
    };
    let config = &state.config;
    let mut conn = Conn {
        chat_limit: RateLimit::new(
            config.chat_rate,
            Duration::from_secs(config.chat_rate_period_s),
            0,
        ),
        reaction_limit: RateLimit::new(config.reaction_rate, Duration::from_secs(1), 0),
        chat_spent_until_ms: 0,
        reaction_spent_until_ms: 0,
        reaction_refused_ms: 0,
        write_timeout: Duration::from_millis(config.ws_write_timeout_ms),
        out: metrics::counter!("livesale_ws_messages_out_total"),
        started: std::time::Instant::now(),
        welcome_seq: 0,
        state: state.clone(),
        show,
        who,
        membership,
        ws,
        outlet,
    };
    let end = conn.serve(last_seq).await;
    tracing::debug!(show = %conn.show.id, reason = end.label(), "WebSocket closed");
    (end, conn.ws)
}

/// Reads and discards what the client still sends until it closes, for at most a second
/// and 64 KiB.
async fn linger(read: &mut ReadHalf<Upgraded>) {
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
fn violation(e: &tungstenite::Error, max_frame: usize) -> Option<(u16, String, End)> {
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

/// Sends a close frame (bounded in time: a stalled peer must not hold the task).
async fn close_with<S>(sink: &mut S, code: u16, reason: &str) -> Result<(), ()>
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
fn ends_membership(frame: &Frame) -> Option<(u16, &'static str)> {
    if !matches!(frame.audience, Audience::Member(_)) {
        return None;
    }
    let notice: serde_json::Value = serde_json::from_str(frame.text.as_str()).ok()?;
    match notice.get("action").and_then(|a| a.as_str()) {
        Some("ban") => Some((
            close::FORBIDDEN,
            "banned: a moderator banned you from this show",
        )),
        Some("revoked") => Some((
            close::UNAUTHORIZED,
            "token_revoked: this invitation was revoked",
        )),
        _ => None,
    }
}

impl Conn {
    async fn serve(&mut self, last_seq: Option<u64>) -> End {
        // Attach before the snapshot, so nothing after it can be missed; the outlet holds
        // the room's frames until the welcome is out and skips those up to its seq.
        self.membership.room.attach(self.outlet.clone());
        // A ping first, so that even a client with nothing to say answers within the
        // handshake timeout (a pong counts); one that never does is a half-open upgrade.
        // It goes before the welcome so a client that reads the welcome has answered it.
        let first_word = tokio::time::sleep(Duration::from_millis(
            self.state.config.ws_handshake_timeout_ms.max(1),
        ));
        tokio::pin!(first_word);
        let mut heard_any = false;
        if let Err(end) = self.send_now(Message::Ping(Default::default())).await {
            return end;
        }
        let opened = match last_seq {
            Some(last) => self.resume(last).await,
            None => self.welcome(false).await,
        };
        if let Err(end) = opened {
            return end;
        }
        let ping_every = Duration::from_secs(self.state.config.ws_ping_interval_s.max(1));
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let mut heard_since_ping = true;
        let shutdown = self.state.shutdown.clone();
        let shutdown = shutdown.cancelled();
        tokio::pin!(shutdown);
        // Armed while bytes wait for the socket: past the write timeout, a slow consumer.
        let stall = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(stall);
        let mut stalled = false;
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => {
                    let _ = close_with(&mut self.ws, close::GOING_AWAY, "server shutting down; reconnect with last_seq").await;
                    return End::Shutdown;
                }
                _ = self.outlet.notified() => {
                    match self.outlet.service() {
                        Ok(Some(since)) => {
                            let deadline = since + self.write_timeout;
                            stall.as_mut().reset(deadline.into());
                            stalled = true;
                        }
                        Ok(None) => stalled = false,
                        Err(ending) => return self.ended(ending).await,
                    }
                }
                _ = &mut stall, if stalled => {
                    match self.outlet.service() {
                        Ok(Some(since)) if since.elapsed() >= self.write_timeout => {
                            return self.ended(Ending::Behind(0)).await;
                        }
                        Ok(Some(since)) => stall.as_mut().reset((since + self.write_timeout).into()),
                        Ok(None) => stalled = false,
                        Err(ending) => return self.ended(ending).await,
                    }
                }
                _ = &mut first_word, if !heard_any => {
                    let _ = close_with(&mut self.ws, close::IDLE, "nothing received since the upgrade (not even a pong)").await;
                    return End::Idle;
                }
                incoming = self.ws.next() => {
                    heard_since_ping = true;
                    heard_any = true;
                    match incoming {
                        Some(Ok(Message::Text(text))) => {
                            if let Err(end) = self.on_text(&text).await {
                                return end;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            let _ = close_with(&mut self.ws, close::UNSUPPORTED_DATA, "binary frames are not part of the protocol; send JSON text").await;
                            return End::Binary;
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                        Some(Ok(Message::Close(_))) => {
                            // The library queued the close reply; send it, so the client's
                            // close completes cleanly (browsers report 1006 otherwise).
                            let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.flush()).await;
                            return End::ClientClosed;
                        }
                        None => return End::ClientClosed,
                        Some(Err(e)) => {
                            let Some((code, reason, end)) = violation(&e, self.state.config.ws_max_frame_bytes) else {
                                return End::Error;
                            };
                            let _ = close_with(&mut self.ws, code, &reason).await;
                            return end;
                        }
                    }
                }
                _ = ping.tick() => {
                    if !heard_since_ping {
                        let _ = close_with(&mut self.ws, close::IDLE, "no answer to pings").await;
                        return End::Idle;
                    }
                    heard_since_ping = false;
                    if self.send_now(Message::Ping(Default::default())).await.is_err() {
                        return End::SlowConsumer;
                    }
                }
            }
        }
    }

    /// Closes the connection the way the writer's ending asks for.
    async fn ended(&mut self, ending: Ending) -> End {
        match ending {
            Ending::Behind(n) => {
                let behind = if n > 0 {
                    format!("{n} frames behind")
                } else {
                    "writes stalled".to_string()
                };
                let reason = format!(
                    "slow consumer: {behind}; reconnect with last_seq={}",
                    self.outlet.cursor()
                );
                let _ = close_with(&mut self.ws, close::SLOW_CONSUMER, &reason).await;
                End::SlowConsumer
            }
            Ending::Notice(code, reason) => {
                let _ = close_with(&mut self.ws, code, reason).await;
                End::Refused
            }
            Ending::Failed => End::Error,
        }
    }

    /// Whether this connection receives a frame (moderator-only and personal frames are not
    /// for everyone).
    fn admits(&self, frame: &Frame) -> bool {
        frame.audience.admits(self.who.role, self.who.id.as_deref())
    }

    async fn feed(&mut self, msg: Message) -> Result<(), End> {
        match tokio::time::timeout(self.write_timeout, self.ws.feed(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Error),
            Err(_) => Err(End::SlowConsumer),
        }
    }

    async fn flush(&mut self) -> Result<(), End> {
        match tokio::time::timeout(self.write_timeout, self.ws.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Error),
            Err(_) => Err(End::SlowConsumer),
        }
    }

    async fn send_now(&mut self, msg: Message) -> Result<(), End> {
        self.feed(msg).await?;
        self.flush().await
    }

    async fn send_json(&mut self, value: &serde_json::Value) -> Result<(), End> {
        let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
        self.send_now(Message::Text(Utf8Bytes::from(text))).await
    }

    async fn error(
        &mut self,
        e: &DomainError,
        extra: Option<(&str, serde_json::Value)>,
    ) -> Result<(), End> {
        metrics::counter!("livesale_ws_dropped_total", "reason" => e.code).increment(1);
        let mut v = serde_json::json!({ "type": "error", "code": e.code, "message": e.message });
        if let Some((k, x)) = extra {
            v[k] = x;
        }
        self.send_json(&v).await
    }

    /// Sends a fresh snapshot.
    async fn welcome(&mut self, resync: bool) -> Result<(), End> {
        let snapshot = match self.state.hub.bus.snapshot(&self.show).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(show = %self.show.id, error = %e, "no snapshot for welcome");
                let _ = close_with(
                    &mut self.ws,
                    close::INTERNAL,
                    "store_unavailable: try again shortly",
                )
                .await;
                return Err(End::Error);
            }
        };
        // The show may have changed since the connection was accepted (a status broadcast
        // is in the log too, but the snapshot should be current on its own).
        if let Ok(Some(show)) = self.state.store.show(self.show.id).await {
            self.show = show;
        }
        let pins =
            crate::commerce::pin_views(self.state.store.as_ref(), &self.show, self.state.now())
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(show = %self.show.id, error = %e, "welcome without pins");
                    Vec::new()
                });
        let program = self.state.media.program_anywhere(self.show.id).await;
        let mut welcome = serde_json::json!({
            "type": "welcome",
            "protocol": 1,
            "seq": snapshot.seq,
            "show": {
                "id": self.show.id,
                "title": self.show.title,
                "description": self.show.description,
                "status": self.show.status,
                "scheduled_at": self.show.scheduled_at,
                "started_at": self.show.started_at,
                "ended_at": self.show.ended_at,
            },
            "role": self.who.role.map(Role::as_str).unwrap_or("guest"),
            "you": {
                "id": self.who.id,
                "viewer_id": match &self.who.principal {
                    Some(Principal::Viewer { viewer_id, .. }) => Some(viewer_id.to_string()),
                    _ => None,
                },
                "name": self.who.name,
            },
            "viewers": snapshot.viewers.max(self.membership.room.members()),
            "pins": pins,
            "chat": snapshot.chat,
            "program": program,
        });
        let store = self.state.store.as_ref();
        if let Ok(policy) = store.chat_policy(&self.show).await {
            welcome["chat_mode"] =
                serde_json::to_value(crate::services::moderation::mode_of(&policy))
                    .unwrap_or_default();
            if crate::domain::moderation::is_moderator(self.who.role) {
                welcome["terms"] = serde_json::json!(policy.blocked_terms);
                if let Ok(held) = store.held_messages(&self.show).await {
                    welcome["held"] =
                        serde_json::json!(held
                        .iter()
                        .map(|h| serde_json::json!({ "message": h.message, "reason": h.reason }))
                        .collect::<Vec<_>>());
                }
            }
        }
        if let Ok(pinned) = store.pinned_message(&self.show).await {
            welcome["pinned_message"] = serde_json::json!(pinned);
        }
        if let Some(member) = &self.who.id
            && let Ok(standing) = store.standing(&self.show, member).await
        {
            welcome["standing"] =
                crate::services::moderation::standing_view(&standing, self.state.now());
        }
        if resync {
            welcome["resync"] = serde_json::Value::Bool(true);
        }
        self.welcome_seq = snapshot.seq;
        let sent = self.send_json(&welcome).await;
        // The room's frames after the snapshot follow it.
        self.outlet.go_live(snapshot.seq);
        sent
    }

    /// Replays what the client missed after `last_seq`, or resyncs when that is gone. The
    /// room's frames wait meanwhile and follow the replay.
    async fn resume(&mut self, last_seq: u64) -> Result<(), End> {
        self.outlet.pause();
        match self.state.hub.bus.since(&self.show, last_seq).await {
            Ok(Replay::Frames(frames)) => {
                let (welcome_seq, cursor) = (self.welcome_seq, self.outlet.cursor());
                let mut upto = cursor;
                let mut n = 0;
                for f in frames {
                    // Skip what this connection already delivered after its welcome.
                    if f.seq <= last_seq
                        || (f.seq > welcome_seq && f.seq <= cursor)
                        || !self.admits(&f)
                    {
                        continue;
                    }
                    upto = upto.max(f.seq);
                    n += 1;
                    if self.outlet.write(&encode_text(f.text.as_str())).is_err() {
                        return Err(End::Error);
                    }
                }
                if self.welcome_seq == 0 {
                    // Resumed at connect: this connection's view starts at last_seq.
                    upto = upto.max(last_seq);
                    self.welcome_seq = upto;
                }
                self.out.increment(n);
                self.outlet.go_live(upto);
                Ok(())
            }
            Ok(Replay::TooOld) => self.welcome(true).await,
            Err(e) => {
                self.outlet.go_live(0);
                tracing::warn!(show = %self.show.id, error = %e, "resume failed");
                self.error(
                    &DomainError::conflict("unavailable", "cannot resume right now; try again"),
                    None,
                )
                .await
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        let msg = match ClientMsg::parse(text) {
            Ok(m) => m,
            Err(e) => return self.error(&e, None).await,
        };
        metrics::counter!("livesale_ws_messages_in_total", "type" => msg.type_name()).increment(1);
        match msg {
            ClientMsg::Ping {} => self.send_json(&serde_json::json!({ "type": "pong" })).await,
            ClientMsg::Resume { last_seq } => self.resume(last_seq).await,
            ClientMsg::ReactionSend { kind } => self.react(&kind).await,
            ClientMsg::ChatSend { text } => self.chat(&text).await,
            ClientMsg::Mod(command) => self.moderate(command).await,
        }
    }

    async fn moderate(&mut self, command: crate::domain::room::ModCommand) -> Result<(), End> {
        if !crate::domain::moderation::is_moderator(self.who.role) {
            let e = DomainError::forbidden(
                "forbidden_role",
                "only the creator and moderators moderate",
            );
            return self.error(&e, None).await;
        }
        let actor = crate::domain::moderation::Actor {
            id: self.who.id.clone().unwrap_or_default(),
            name: self.who.name.clone().unwrap_or_default(),
            role: self.who.role.unwrap_or(Role::Moderator),
        };
        match self
            .state
            .moderation
            .apply(&self.show, &actor, command)
            .await
        {
            Ok(_) => Ok(()),
            Err(ModError::Rule(e)) => self.error(&e, None).await,
            Err(ModError::Store(e)) => {
                tracing::warn!(show = %self.show.id, error = %e, "moderation action failed");
                let e = DomainError::conflict(
                    "unavailable",
                    "the action could not be applied; try again",
                );
                self.error(&e, None).await
            }
        }
    }

    async fn react(&mut self, kind: &str) -> Result<(), End> {
        if self.who.role == Some(Role::Camera) {
            return self
                .error(
                    &DomainError::forbidden("forbidden_role", "a camera cannot react"),
                    None,
                )
                .await;
        }
        let kind = match reaction_kind(kind) {
            Ok(k) => k,
            Err(e) => return self.error(&e, None).await,
        };
        let now = mono_ms(self.started);
        let taken = match self.reaction_limit.take(now) {
            Ok(()) => self.take_shared(false, now).await,
            Err(wait) => Err(wait),
        };
        if let Err(wait) = taken {
            // Refuse loudly but not once per tap: one error per second at most.
            if now.saturating_sub(self.reaction_refused_ms) >= 1000 || self.reaction_refused_ms == 0
            {
                self.reaction_refused_ms = now.max(1);
                let e = DomainError::invalid("rate_limited", "too many reactions; slow down");
                return self
                    .error(
                        &e,
                        Some(("retry_after_ms", (wait.as_millis() as u64).into())),
                    )
                    .await;
            }
            metrics::counter!("livesale_ws_dropped_total", "reason" => "rate_limited").increment(1);
            return Ok(());
        }
        self.membership.room.react(kind);
        Ok(())
    }

    /// Takes one unit of the person's chat (`chat`) or reaction budget in this show, which
    /// all their connections on every node share. Anonymous watchers have no identity to
    /// share a budget with: their connection's own bucket (and the per-address connection
    /// cap) is their limit. A store that cannot be reached does not silence the room: the
    /// connection's own bucket still holds.
    async fn take_shared(&mut self, chat: bool, now: u64) -> Result<(), Duration> {
        let Some(member) = self.who.id.clone() else {
            return Ok(());
        };
        let config = &self.state.config;
        let (creator, show) = (self.show.creator_id, self.show.id);
        let (key, budget, spent_until) = if chat {
            (
                BudgetKey::Chat {
                    creator,
                    show,
                    member,
                },
                Budget::new(
                    config.chat_rate,
                    Duration::from_secs(config.chat_rate_period_s),
                ),
                &mut self.chat_spent_until_ms,
            )
        } else {
            (
                BudgetKey::Reaction {
                    creator,
                    show,
                    member,
                },
                Budget::new(config.reaction_rate, Duration::from_secs(1)),
                &mut self.reaction_spent_until_ms,
            )
        };
        if now < *spent_until {
            return Err(Duration::from_millis(*spent_until - now));
        }
        let wall_ms = self.state.now().timestamp_millis().max(0) as u64;
        match self.state.store.take_budget(&key, budget, wall_ms).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(wait)) => {
                *spent_until = now + wait.as_millis() as u64;
                Err(wait)
            }
            Err(e) => {
                tracing::warn!(show = %self.show.id, error = %e, "budget not checked");
                Ok(())
            }
        }
    }

    async fn chat(&mut self, raw: &str) -> Result<(), End> {
        if let Err(e) = may_chat(self.who.role) {
            return self.error(&e, None).await;
        }
        let rules = ChatRules {
            max_chars: self.state.config.chat_max_chars,
        };
        let text = match rules.text(raw) {
            Ok(t) => t,
            Err(e) => return self.error(&e, None).await,
        };
        let now = mono_ms(self.started);
        let taken = match self.chat_limit.take(now) {
            Ok(()) => self.take_shared(true, now).await,
            Err(wait) => Err(wait),
        };
        if let Err(wait) = taken {
            let e = DomainError::invalid("rate_limited", "you are sending messages too fast");
            return self
                .error(
                    &e,
                    Some(("retry_after_ms", (wait.as_millis() as u64).into())),
                )
                .await;
        }
        let message = ChatMessage {
            id: Uuid::now_v7().to_string(),
            author: Author {
                id: self.who.id.clone().unwrap_or_default(),
                name: self.who.name.clone().unwrap_or_default(),
            },
            role: self.who.role.unwrap_or(Role::Viewer),
            text,
            at: self.state.now(),
            seq: None,
        };
        let now = message.at;
        let store = self.state.store.as_ref();
        match crate::services::moderation::screen(
            store,
            &self.state.hub,
            &self.show,
            self.who.role,
            message,
            now,
        )
        .await
        {
            Ok(Screened::Published) => Ok(()),
            Ok(Screened::Held { id }) => {
                // The sender learns it waits for a moderator, not which rule held it.
                self.send_json(&serde_json::json!({ "type": "chat.pending", "id": id }))
                    .await
            }
            Err(ModError::Rule(e)) => self.error(&e, None).await,
            Err(ModError::Store(e)) => {
                tracing::warn!(show = %self.show.id, error = %e, "chat not published");
                let e = DomainError::conflict(
                    "unavailable",
                    "your message could not be sent; try again",
                );
                self.error(&e, None).await
            }
        }
    }
}
