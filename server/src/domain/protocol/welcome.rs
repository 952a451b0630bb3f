//! The `welcome` frame: the room as one connection first sees it (or again after a resume
//! that could not be replayed), built by the WebSocket from the chat service's snapshot.

use super::Broadcast;
use crate::domain::auction::AuctionView;
use crate::domain::chat::{ChatMessage, PinnedMessage};
use crate::domain::commerce::PinView;
use crate::domain::moderation::{HoldReason, Standing};
use crate::domain::{Role, Show, ShowId, ShowStatus, Timestamp};

/// `welcome.role` of a connection without a token.
pub const GUEST_ROLE: &str = "guest";

/// The `welcome` frame (docs/protocol.md lists what each field means).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Welcome {
    pub protocol: u32,
    /// The show's seq at the snapshot.
    pub seq: u64,
    pub show: ShowSummary,
    /// A [`Role`]'s name, or [`GUEST_ROLE`].
    pub role: &'static str,
    pub you: You,
    pub viewers: u64,
    pub pins: Vec<PinView>,
    pub chat: Vec<ChatMessage>,
    /// The camera on air (or being switched to).
    pub program: Option<crate::domain::media_ids::CameraId>,
    /// The chat's public settings, as the `chat.mode` broadcast (`type` included).
    pub chat_mode: Broadcast,
    /// Moderators and the creator only: the blocked terms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms: Option<Vec<String>>,
    /// Moderators and the creator only: the terms the creator blocks in all their shows,
    /// refused here besides `terms` (changed on the dashboard, read at each welcome).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creator_terms: Option<Vec<String>>,
    /// Moderators and the creator only: messages waiting for review.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<Vec<HeldView>>,
    pub pinned_message: Option<PinnedMessage>,
    /// Members only: their own standing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standing: Option<StandingView>,
    /// The show's auction lot: the open one, else the newest scheduled one, else the one that
    /// closed last, else `null`.
    pub auction: Option<AuctionView>,
    /// The server's wall clock (Unix ms) as the welcome was sent: the clock of events' `pts`,
    /// so a WebRTC viewer maps `pts` to its own clock.
    pub now_ms: u64,
    /// Present (true) only when this welcome answers a resume that could not be replayed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub resync: bool,
}

/// `welcome.show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShowSummary {
    pub id: ShowId,
    pub title: String,
    pub description: Option<String>,
    pub status: ShowStatus,
    pub scheduled_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
}

impl From<&Show> for ShowSummary {
    fn from(show: &Show) -> Self {
        ShowSummary {
            id: show.id,
            title: show.title.clone(),
            description: show.description.clone(),
            status: show.status,
            scheduled_at: show.scheduled_at,
            started_at: show.started_at,
            ended_at: show.ended_at,
        }
    }
}

/// `welcome.you`: all `null` for a guest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct You {
    /// Viewer id, creator id or invite id.
    pub id: Option<String>,
    /// Set for viewers only.
    pub viewer_id: Option<String>,
    pub name: Option<String>,
}

/// A held message as moderators see it in `welcome.held`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeldView {
    pub message: ChatMessage,
    pub reason: HoldReason,
}

/// A member's standing as shown to them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StandingView {
    /// Set while they are timed out.
    pub timed_out_until: Option<Timestamp>,
}

impl StandingView {
    pub fn of(standing: &Standing, now: Timestamp) -> Self {
        StandingView {
            timed_out_until: standing.timed_out_until.filter(|t| *t > now),
        }
    }
}

/// The name of a role as `welcome.role` spells it.
pub fn role_name(role: Option<Role>) -> &'static str {
    role.map(Role::as_str).unwrap_or(GUEST_ROLE)
}
