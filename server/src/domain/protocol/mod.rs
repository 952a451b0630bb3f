//! The wire vocabulary of the live room (protocol v1, docs/protocol.md): what a client sends
//! ([`ClientMsg`], moderation's [`ModCommand`]), what the server sends to one connection
//! ([`ServerMsg`]: `welcome`, `error`, `pong`, `chat.pending`) and to the room through the
//! sequencer ([`Broadcast`], with its [`Audience`]), the codes of `error` frames
//! ([`ErrorFrame`], its codes in [`Code`]) and the actions of personal notices ([`NoticeAction`]). Every frame is a
//! type here, serialised by serde; this is the one place a message type is spelt. Pure: what
//! a frame means to the room is the chat service's and the hub's business.

use std::collections::BTreeMap;

mod welcome;

pub use welcome::{HeldView, ShowSummary, StandingView, Welcome, You, role_name};

use super::auction::{AuctionId, AuctionView, Bidder, LogEntry};
use super::chat::{ChatMessage, MessageId};
use super::commerce::PinView;
use super::moderation::HoldReason;
use super::{Code, DomainError, Role, ShowStatus, Timestamp};

/// The protocol version this server speaks (`welcome.protocol`).
pub const PROTOCOL_VERSION: u32 = 1;

/// Protocol versions this server accepts (`?v=` on the WebSocket URL).
pub const PROTOCOL_VERSIONS: &[u32] = &[PROTOCOL_VERSION];

/// Messages a client sends (text frames of JSON with a `type`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ClientMsg {
    #[serde(rename = "chat.send")]
    ChatSend { text: String },
    #[serde(rename = "reaction.send")]
    ReactionSend { kind: String },
    #[serde(rename = "resume")]
    Resume { last_seq: u64 },
    #[serde(rename = "ping")]
    Ping {},
    /// A bid on an auction lot: `amount` or `max_amount` (a proxy bid), minor units; `key`
    /// makes a retry safe (as the HTTP `Idempotency-Key`).
    #[serde(rename = "auction.bid")]
    AuctionBid {
        auction_id: String,
        #[serde(default, deserialize_with = "crate::domain::whole::opt_i64")]
        amount: Option<i64>,
        #[serde(default, deserialize_with = "crate::domain::whole::opt_i64")]
        max_amount: Option<i64>,
        #[serde(default)]
        key: Option<String>,
    },
    /// A moderation command (`mod.*`), also accepted over HTTP.
    #[serde(skip)]
    Mod(ModCommand),
}

/// Moderation commands, the same over the WebSocket (`{"type":"mod.ban",…}`) and HTTP
/// (`POST /api/shows/{id}/moderation` with the same body). Creator and moderators only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", deny_unknown_fields)]
pub enum ModCommand {
    #[serde(rename = "mod.delete")]
    Delete { message_id: String },
    #[serde(rename = "mod.timeout")]
    Timeout {
        viewer_id: String,
        /// 10 s to a day.
        #[schema(minimum = 10, maximum = 86_400)]
        #[serde(deserialize_with = "crate::domain::whole::u64")]
        seconds: u64,
        #[serde(default)]
        reason: Option<String>,
    },
    #[serde(rename = "mod.ban")]
    Ban {
        viewer_id: String,
        #[serde(default)]
        reason: Option<String>,
        /// `show` (default) or `creator`: every show of this creator.
        #[serde(default)]
        scope: BanScope,
    },
    #[serde(rename = "mod.unban")]
    Unban {
        viewer_id: String,
        #[serde(default)]
        scope: BanScope,
    },
    #[serde(rename = "mod.slow")]
    Slow {
        /// 0 turns slow mode off.
        #[schema(minimum = 0, maximum = 3600)]
        #[serde(deserialize_with = "crate::domain::whole::u64")]
        seconds: u64,
    },
    #[serde(rename = "mod.terms")]
    Terms {
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    },
    #[serde(rename = "mod.links")]
    Links {
        policy: super::moderation::LinkPolicy,
    },
    #[serde(rename = "mod.approve")]
    Approve { message_id: String },
    #[serde(rename = "mod.reject")]
    Reject {
        message_id: String,
        #[serde(default)]
        reason: Option<String>,
    },
    #[serde(rename = "mod.clear")]
    Clear {},
    #[serde(rename = "mod.pause")]
    Pause { paused: bool },
    /// Pin a chat message above the chat (e.g. shipping info).
    #[serde(rename = "mod.pin")]
    PinMessage { message_id: String },
    #[serde(rename = "mod.unpin")]
    UnpinMessage {},
    /// A message in the moderators-only channel.
    #[serde(rename = "mod.chat")]
    Chat { text: String },
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BanScope {
    #[default]
    Show,
    Creator,
}

impl ModCommand {
    pub fn type_name(&self) -> &'static str {
        match self {
            ModCommand::Delete { .. } => "mod.delete",
            ModCommand::Timeout { .. } => "mod.timeout",
            ModCommand::Ban { .. } => "mod.ban",
            ModCommand::Unban { .. } => "mod.unban",
            ModCommand::Slow { .. } => "mod.slow",
            ModCommand::Terms { .. } => "mod.terms",
            ModCommand::Links { .. } => "mod.links",
            ModCommand::Approve { .. } => "mod.approve",
            ModCommand::Reject { .. } => "mod.reject",
            ModCommand::Clear {} => "mod.clear",
            ModCommand::Pause { .. } => "mod.pause",
            ModCommand::PinMessage { .. } => "mod.pin",
            ModCommand::UnpinMessage {} => "mod.unpin",
            ModCommand::Chat { .. } => "mod.chat",
        }
    }
}

const MOD_TYPES: &[&str] = &[
    "mod.delete",
    "mod.timeout",
    "mod.ban",
    "mod.unban",
    "mod.slow",
    "mod.terms",
    "mod.links",
    "mod.approve",
    "mod.reject",
    "mod.clear",
    "mod.pause",
    "mod.pin",
    "mod.unpin",
    "mod.chat",
];

impl ClientMsg {
    /// Parses a frame; unknown types and malformed fields are a `DomainError` with code
    /// `unknown_type` or `bad_message`, answered with an `error` frame.
    pub fn parse(text: &str) -> Result<ClientMsg, DomainError> {
        let is_mod = text.contains("\"mod.")
            && serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| {
                    v.get("type")
                        .and_then(|t| t.as_str())
                        .map(|t| MOD_TYPES.contains(&t))
                })
                .unwrap_or(false);
        if is_mod {
            return serde_json::from_str::<ModCommand>(text)
                .map(ClientMsg::Mod)
                .map_err(|e| {
                    DomainError::invalid(Code::BadMessage, format!("malformed message: {e}"))
                });
        }
        match serde_json::from_str::<ClientMsg>(text) {
            Ok(m) => Ok(m),
            Err(e) => {
                let ty = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string));
                match ty {
                    Some(t) if !KNOWN_TYPES.contains(&t.as_str()) => Err(DomainError::invalid(
                        Code::UnknownType,
                        format!("unknown message type '{t}'"),
                    )),
                    _ => Err(DomainError::invalid(
                        Code::BadMessage,
                        format!("malformed message: {e}"),
                    )),
                }
            }
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMsg::ChatSend { .. } => "chat.send",
            ClientMsg::ReactionSend { .. } => "reaction.send",
            ClientMsg::Resume { .. } => "resume",
            ClientMsg::Ping {} => "ping",
            ClientMsg::AuctionBid { .. } => "auction.bid",
            ClientMsg::Mod(m) => m.type_name(),
        }
    }
}

const KNOWN_TYPES: &[&str] = &[
    "chat.send",
    "reaction.send",
    "resume",
    "ping",
    "auction.bid",
];

/// Events that go through the show's sequencer: each gets the next `seq`, is kept in the
/// resume log, and reaches every viewer on every node in the same order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type")]
pub enum Broadcast {
    #[serde(rename = "chat.message")]
    Chat(ChatMessage),
    #[serde(rename = "reactions")]
    Reactions { counts: BTreeMap<String, u64> },
    #[serde(rename = "presence")]
    Presence { viewers: u64 },
    #[serde(rename = "show.status")]
    ShowStatus { status: ShowStatus },
    #[serde(rename = "pin.updated")]
    PinUpdated { pins: Vec<PinView> },
    #[serde(rename = "purchase")]
    Purchase {
        buyer: String,
        product_id: super::ProductId,
        title: String,
        quantity: i64,
    },
    #[serde(rename = "chat.deleted")]
    ChatDeleted { id: String },
    #[serde(rename = "chat.cleared")]
    ChatCleared {},
    /// The chat's public settings (blocked terms are for moderators' eyes only).
    #[serde(rename = "chat.mode")]
    ChatMode {
        slow_mode_s: u64,
        paused: bool,
        links: super::moderation::LinkPolicy,
    },
    /// The message pinned above the chat, or none.
    #[serde(rename = "chat.pinned")]
    ChatPinned { message: Option<ChatMessage> },
    /// Moderators only: a message held for review.
    #[serde(rename = "chat.held")]
    ChatHeld {
        message: ChatMessage,
        reason: HoldReason,
    },
    /// Moderators only: a held message was approved or rejected.
    #[serde(rename = "chat.resolved")]
    ChatResolved {
        id: String,
        approved: bool,
        by: String,
    },
    /// Moderators only: the blocked terms changed.
    #[serde(rename = "mod.terms")]
    ModTerms { terms: Vec<String> },
    /// Moderators only: a message of the moderators' channel.
    #[serde(rename = "mod.message")]
    ModMessage(ChatMessage),
    /// Moderators only: an audit entry, as it is recorded.
    #[serde(rename = "mod.audit")]
    ModAudit {
        entry: super::moderation::AuditEntry,
    },
    /// The camera on air changed (`None`: nothing is, "we'll be right back").
    #[serde(rename = "program.changed")]
    ProgramChanged { camera: Option<String> },
    /// One member only: a moderation action that concerns them (timeout, ban, revocation).
    #[serde(rename = "mod.notice")]
    ModNotice {
        to: String,
        action: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<Timestamp>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// One buyer only: their order changed (paid, expired, refunded) after the checkout
    /// answered (a card payment settled by the processor's webhook).
    #[serde(rename = "order.updated")]
    OrderUpdated {
        #[serde(skip)]
        to: String,
        order: Box<super::commerce::Order>,
    },
    /// A scheduled auction lot was created (it takes pre-bids until it opens).
    #[serde(rename = "auction.scheduled")]
    AuctionScheduled { auction: Box<AuctionView> },
    /// An auction lot opened.
    #[serde(rename = "auction.started")]
    AuctionStarted { auction: Box<AuctionView> },
    /// A bid was accepted: the new `current`, `leader` and `ends_at`.
    #[serde(rename = "auction.bid")]
    AuctionBid { auction: Box<AuctionView> },
    /// A lot closed: `sold` (with the winner and their order, if one was made),
    /// `reserve_not_met` or `unsold`.
    #[serde(rename = "auction.ended")]
    AuctionEnded {
        auction: Box<AuctionView>,
        result: AuctionEnd,
        #[serde(skip_serializing_if = "Option::is_none")]
        winner: Option<Bidder>,
        #[serde(skip_serializing_if = "Option::is_none")]
        order_id: Option<super::OrderId>,
    },
    /// One viewer only: they lost the lead (or a rival's proxy answered their bid at once).
    #[serde(rename = "auction.outbid")]
    AuctionOutbid {
        #[serde(skip)]
        to: String,
        auction: Box<AuctionView>,
    },
    /// Moderators only: a handled bid, as the lot's log keeps it (the studio's bid log).
    #[serde(rename = "auction.log")]
    AuctionLog {
        auction_id: AuctionId,
        entry: Box<LogEntry>,
        /// The bidder's display name when they bid.
        name: String,
    },
    /// One buyer only: the off-session charge of their auction order needs 3-D Secure; the
    /// page finishes it with Stripe.js (`confirmCardPayment(client_secret)`).
    #[serde(rename = "auction.payment")]
    AuctionPayment {
        #[serde(skip)]
        to: String,
        auction_id: super::auction::AuctionId,
        order_id: super::OrderId,
        status: String,
        client_secret: String,
        publishable_key: String,
    },
    /// One runner-up only: the lot is theirs at `price` if they pay before `expires_at`
    /// (`POST …/auctions/{aid}/offer`).
    #[serde(rename = "auction.offer")]
    AuctionOffer {
        #[serde(skip)]
        to: String,
        auction_id: super::auction::AuctionId,
        order_id: super::OrderId,
        price: super::Money,
        expires_at: Timestamp,
    },
    /// Moderators only: a sold lot's payment failed or lapsed, went to the runner-up, or
    /// nobody paid.
    #[serde(rename = "auction.alert")]
    AuctionAlert {
        auction_id: super::auction::AuctionId,
        text: String,
    },
}

/// How a lot ended, as `auction.ended` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuctionEnd {
    Sold,
    ReserveNotMet,
    Unsold,
}

/// Who a broadcast is for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Audience {
    #[default]
    Everyone,
    /// The creator and moderators.
    Moderators,
    /// One member (viewer id or invite id).
    Member(String),
}

impl Audience {
    /// Whether a connection with this role and member id receives it.
    pub fn admits(&self, role: Option<Role>, member: Option<&str>) -> bool {
        match self {
            Audience::Everyone => true,
            Audience::Moderators => super::moderation::is_moderator(role),
            Audience::Member(id) => member == Some(id.as_str()),
        }
    }

    /// A compact tag for transports: "" (everyone), "m" (moderators), "v:<id>" (a member).
    pub fn tag(&self) -> String {
        match self {
            Audience::Everyone => String::new(),
            Audience::Moderators => "m".into(),
            Audience::Member(id) => format!("v:{id}"),
        }
    }

    pub fn from_tag(tag: &str) -> Audience {
        match tag {
            "" => Audience::Everyone,
            "m" => Audience::Moderators,
            t => t
                .strip_prefix("v:")
                .map(|id| Audience::Member(id.to_string()))
                .unwrap_or(Audience::Moderators),
        }
    }
}

impl Broadcast {
    /// Whether viewers see this event in step with the picture: it carries `pts`, and a page
    /// holds it until its playhead reaches that time (docs/protocol.md, "pts"). Commerce news
    /// (a pin, a deal starting or ending, stock, a purchase) and cuts; never chat.
    pub fn in_step(&self) -> bool {
        matches!(
            self,
            Broadcast::PinUpdated { .. }
                | Broadcast::Purchase { .. }
                | Broadcast::ProgramChanged { .. }
        )
    }

    /// The event's JSON without its closing brace, ready for `,"seq":N}` to be appended by
    /// whoever assigns the sequence number (the memory bus, or a Lua script in Redis).
    /// `now_ms` is the server's wall clock (Unix ms) as the event is sequenced: an event seen
    /// [in step](Self::in_step) with the picture carries it as `"pts"`, so every such event
    /// is stamped here, once, whoever published it.
    pub fn json_prefix(&self, now_ms: u64) -> String {
        let mut json = serde_json::to_string(self).expect("broadcasts always serialise");
        json.pop(); // the closing brace of the object
        if self.in_step() {
            json.push_str(",\"pts\":");
            json.push_str(&now_ms.to_string());
        }
        json.push_str(",\"seq\":");
        json
    }

    /// Who receives it.
    pub fn audience(&self) -> Audience {
        match self {
            Broadcast::ChatHeld { .. }
            | Broadcast::ChatResolved { .. }
            | Broadcast::ModTerms { .. }
            | Broadcast::ModMessage(_)
            | Broadcast::ModAudit { .. }
            | Broadcast::AuctionLog { .. }
            | Broadcast::AuctionAlert { .. } => Audience::Moderators,
            Broadcast::ModNotice { to, .. }
            | Broadcast::OrderUpdated { to, .. }
            | Broadcast::AuctionOutbid { to, .. }
            | Broadcast::AuctionPayment { to, .. }
            | Broadcast::AuctionOffer { to, .. } => Audience::Member(to.clone()),
            _ => Audience::Everyone,
        }
    }

    /// Chat messages are kept in the recent-history snapshot sent in `welcome`.
    pub fn chat(&self) -> Option<&ChatMessage> {
        match self {
            Broadcast::Chat(m) => Some(m),
            _ => None,
        }
    }
}

/// Completes a frame: prefix from [`Broadcast::json_prefix`] plus the assigned seq.
pub fn seal(prefix: &str, seq: u64) -> String {
    format!("{prefix}{seq}}}")
}

/// Frames for one connection only, outside the show's sequence (they carry no `seq`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type")]
pub enum ServerMsg {
    /// The room as it is: the first frame of a connection that did not resume, and the
    /// answer to a resume that is too old to replay.
    #[serde(rename = "welcome")]
    Welcome(Box<Welcome>),
    /// An answer to one of the connection's messages; the connection stays open.
    #[serde(rename = "error")]
    Error(ErrorFrame),
    #[serde(rename = "pong")]
    Pong,
    /// The sender's message waits for a moderator (not which rule held it).
    #[serde(rename = "chat.pending")]
    ChatPending { id: MessageId },
    /// The sender's `auction.bid` was handled: `accepted`, `max_raised` or `pre_bid`.
    #[serde(rename = "auction.ack")]
    AuctionAck {
        auction_id: AuctionId,
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        outcome: &'static str,
        auction: Box<AuctionView>,
    },
}

impl ServerMsg {
    /// The frame's JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialise")
    }
}

/// The body of an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorFrame {
    pub code: Code,
    pub message: String,
    /// When the next message of this kind is accepted (`rate_limited`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The `key` of the `auction.bid` this answers, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// With `bid_too_low`: the smallest acceptable bid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_minimum: Option<super::Money>,
}

impl ErrorFrame {
    pub fn of(e: &DomainError) -> Self {
        ErrorFrame {
            code: e.code,
            message: e.message.clone(),
            retry_after_ms: None,
            key: None,
            next_minimum: None,
        }
    }

    pub fn retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after_ms = Some(wait.as_millis() as u64);
        self
    }
}

/// What a personal `mod.notice` tells its member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeAction {
    Timeout,
    /// Then the connection is closed with 4003.
    Ban,
    /// An invitation was revoked; then the connection is closed with 4001.
    Revoked,
}

impl NoticeAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            NoticeAction::Timeout => "timeout",
            NoticeAction::Ban => "ban",
            NoticeAction::Revoked => "revoked",
        }
    }

    /// The action of a sealed `mod.notice` frame; `None` for any other frame.
    pub fn of_frame(text: &str) -> Option<NoticeAction> {
        #[derive(serde::Deserialize)]
        struct Notice {
            action: NoticeAction,
        }
        serde_json::from_str::<Notice>(text).ok().map(|n| n.action)
    }
}

#[cfg(test)]
mod tests;
