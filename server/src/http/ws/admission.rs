//! Who may join a show's room: the protocol version, the token, the show, the token's scope,
//! bans, and this node's connection caps, in that order (docs/protocol.md, "Connecting").
//! A refusal is delivered after the handshake, as a close frame with a code and a reason.

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::response::Response;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role as WsRole, WebSocketConfig};

use super::handshake::Upgrade;
use super::socket::close_with;
use super::{End, STORE_UNAVAILABLE, close};
use crate::domain::protocol::PROTOCOL_VERSIONS;
use crate::domain::{Code, Principal, Show, ShowId};
use crate::http::AppState;
use crate::http::extract::{Caller, TokenProblem};
use crate::limits::ConnSlot;
use crate::services::chat::Speaker;
use crate::store::StoreError;

#[derive(Debug, serde::Deserialize)]
pub(super) struct WsParams {
    /// Protocol version; 1 when absent.
    v: Option<String>,
    /// Resume from this seq instead of receiving a `welcome`.
    last_seq: Option<u64>,
}

/// The caller as the room sees them.
#[derive(Debug, Clone)]
pub(super) struct Who {
    pub(super) principal: Option<Principal>,
    pub(super) speaker: Speaker,
}

/// A connection let into a show's room.
pub(super) struct Admitted {
    pub(super) show: Show,
    pub(super) who: Who,
    /// Resume after this seq instead of a `welcome`.
    pub(super) last_seq: Option<u64>,
    /// The connection's places under the caps, held until it ends.
    pub(super) slot: ConnSlot,
}

/// Decides whether the caller may join the show's room.
pub(super) async fn admit(
    state: &AppState,
    caller: Caller,
    token_problem: Option<TokenProblem>,
    ip: std::net::IpAddr,
    raw_id: &str,
    params: Result<Query<WsParams>, QueryRejection>,
) -> Result<Admitted, Refusal> {
    let last_seq = resume_point(params)?;
    if let Some(TokenProblem(e)) = token_problem {
        return Err(Refusal::new(
            close::UNAUTHORIZED,
            format!("{}: {}", e.code, e.message),
        ));
    }
    let show = find_show(state, raw_id).await?;
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
    if let Some(member) = &who.speaker.id
        && !crate::services::moderation::admitted(state.store.as_ref(), &show, member, state.now())
            .await
            .map_err(Refusal::unavailable)?
    {
        return Err(Refusal::new(
            close::FORBIDDEN,
            "banned: you are banned from this show",
        ));
    }
    let caps = &state.conn_caps;
    let slot = caps
        .admit(show.id, who.speaker.id.as_deref(), ip)
        .map_err(|cap| {
            metrics::counter!("livesale_limits_refused_total", "limit" => cap.label()).increment(1);
            Refusal::new(close::TOO_MANY, caps.refusal(cap))
        })?;
    Ok(Admitted {
        show,
        who,
        last_seq,
        slot,
    })
}

/// The query's protocol version, checked, and the seq to resume after (if any).
fn resume_point(params: Result<Query<WsParams>, QueryRejection>) -> Result<Option<u64>, Refusal> {
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
    Ok(params.last_seq)
}

async fn find_show(state: &AppState, raw_id: &str) -> Result<Show, Refusal> {
    let not_found = || Refusal::new(close::NOT_FOUND, Code::ShowNotFound.as_str());
    let show_id = raw_id.parse::<ShowId>().map_err(|_| not_found())?;
    state
        .store
        .show(show_id)
        .await
        .map_err(Refusal::unavailable)?
        .ok_or_else(not_found)
}

/// A refusal to deliver after the handshake.
pub(super) struct Refusal {
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

    fn unavailable(e: StoreError) -> Self {
        tracing::warn!(error = %e, "store unavailable for a WebSocket join");
        Refusal::new(close::INTERNAL, STORE_UNAVAILABLE)
    }

    /// Completes the handshake, only to close with the refusal's code and reason.
    pub(super) fn into_ws(self, ws: Upgrade, config: WebSocketConfig) -> Response {
        metrics::counter!("livesale_ws_disconnects_total", "reason" => End::Refused.label())
            .increment(1);
        ws.on_upgrade(move |io| async move {
            let mut socket =
                WebSocketStream::from_raw_socket(io, WsRole::Server, Some(config)).await;
            let _ = close_with(&mut socket, self.code, &self.reason).await;
        })
    }
}

async fn identify(state: &AppState, principal: Option<Principal>) -> Result<Who, StoreError> {
    let Some(p) = principal else {
        return Ok(Who {
            principal: None,
            speaker: Speaker::default(),
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
        }
        | Principal::CreatorModerator {
            moderator_id: invite_id,
            label,
            ..
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
        speaker: Speaker {
            role: Some(p.role()),
            id: Some(id),
            name: Some(name),
        },
        principal: Some(p),
    })
}
