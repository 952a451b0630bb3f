//! The live room over WebSocket: `GET /api/shows/{id}/ws` (docs/protocol.md).
//!
//! One task per connection reads the client, answers it, pings, and closes with a documented
//! code when something is wrong. The room's broadcast frames do not pass through that task:
//! they are serialised once by the sequencer, encoded once per writer shard, and written
//! straight to the connection's socket through its outlet (`hub::outlet`), which is also where
//! this task's own frames go, so the order on the wire is the order of the writes. A
//! connection that falls a whole room queue behind, or whose writes stall, is disconnected as
//! a slow consumer so it never holds the room back.
//!
//! The parts: the RFC 6455 handshake ([`handshake`]), who may join ([`admission`]), the
//! socket as the connection task uses it ([`socket`]), the connection's loop
//! ([`connection`]), its answers to client messages ([`commands`]: each one call of a
//! service, mapped to a frame) and the `welcome` and resume answers ([`welcome`]). The
//! vocabulary is `domain::protocol`; chat and reactions are the chat service's.

mod admission;
mod commands;
mod connection;
mod handshake;
mod socket;
mod welcome;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use tungstenite::protocol::WebSocketConfig;

use super::AppState;
use super::extract::{Caller, ClientIp, TokenProblem};

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

/// The close reason when the store cannot be reached (with [`close::INTERNAL`]).
const STORE_UNAVAILABLE: &str = "store_unavailable: try again shortly";

/// Initial read buffer of a connection (see `upgrade`).
const WS_READ_BUFFER: usize = 4096;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/shows/{id}/ws", get(upgrade))
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
    params: Result<Query<admission::WsParams>, axum::extract::rejection::QueryRejection>,
    ws: Result<handshake::Upgrade, handshake::NotUpgrade>,
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
    let token_problem = token_problem.map(|Extension(problem)| problem);
    match admission::admit(&state, caller, token_problem, ip, &raw_id, params).await {
        Ok(admitted) => {
            let tracker = state.connections.token();
            ws.on_upgrade(move |io| async move {
                let _tracked = tracker;
                connection::run(state, admitted, io, config).await;
            })
        }
        Err(refusal) => refusal.into_ws(ws, config),
    }
}
