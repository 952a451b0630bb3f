//! The live room's rules and wire vocabulary: client and server messages (protocol v1), chat
//! text validation, reaction kinds, and per-connection rate limits. Pure: the hub and the
//! WebSocket adapter feed in time and perform the effects.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{DomainError, Role, ShowId, Timestamp, ViewerId, names};

/// Protocol versions this server speaks (`?v=` on the WebSocket URL).
pub const PROTOCOL_VERSIONS: &[u32] = &[1];

/// Reactions viewers can send; anything else is refused, so tallies stay small and bounded.
pub const REACTION_KINDS: &[&str] = &["heart", "fire", "clap", "laugh", "wow", "cart"];

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
                    DomainError::invalid("bad_message", format!("malformed message: {e}"))
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
                        "unknown_type",
                        format!("unknown message type '{t}'"),
                    )),
                    _ => Err(DomainError::invalid(
                        "bad_message",
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
            ClientMsg::Mod(m) => m.type_name(),
        }
    }
}

const KNOWN_TYPES: &[&str] = &["chat.send", "reaction.send", "resume", "ping"];

/// Who wrote a chat message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Author {
    pub id: String,
    pub name: String,
}

/// A published chat message, as broadcast and as kept in the recent-history snapshot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub author: Author,
    pub role: Role,
    pub text: String,
    pub at: Timestamp,
    /// Set when the message is broadcast; the history keeps it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

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
    ShowStatus { status: super::ShowStatus },
    #[serde(rename = "pin.updated")]
    PinUpdated { pins: Vec<super::commerce::PinView> },
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
        reason: super::moderation::HoldReason,
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
    /// The event's JSON without its closing brace, ready for `,"seq":N}` to be appended by
    /// whoever assigns the sequence number (the memory bus, or a Lua script in Redis).
    pub fn json_prefix(&self) -> String {
        let mut json = serde_json::to_string(self).expect("broadcasts always serialise");
        json.pop(); // the closing brace of the object
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
            | Broadcast::ModAudit { .. } => Audience::Moderators,
            Broadcast::ModNotice { to, .. } => Audience::Member(to.clone()),
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

/// Limits of chat text, configurable by the operator.
#[derive(Debug, Clone, Copy)]
pub struct ChatRules {
    pub max_chars: usize,
}

impl ChatRules {
    /// Trims and checks a chat message: not empty, at most `max_chars` characters, no control,
    /// line-separator or bidi-override characters (newlines included: chat is one line).
    /// Text made only of invisible characters is `empty_message`; a character stacking more
    /// than [`names::MAX_MARKS_PER_CHAR`] combining marks is `forbidden_characters`.
    pub fn text(&self, raw: &str) -> Result<String, DomainError> {
        names::short_text(raw, self.max_chars).map_err(|e| {
            let code = match e {
                names::ShortTextError::Empty | names::ShortTextError::Invisible => "empty_message",
                names::ShortTextError::TooLong => "message_too_long",
                names::ShortTextError::ForbiddenChar | names::ShortTextError::StackedMarks => {
                    "forbidden_characters"
                }
            };
            DomainError::invalid(code, e.describe("chat text", self.max_chars))
        })
    }
}

/// Whether a reaction kind is one of [`REACTION_KINDS`].
pub fn reaction_kind(kind: &str) -> Result<&'static str, DomainError> {
    REACTION_KINDS
        .iter()
        .find(|k| **k == kind)
        .copied()
        .ok_or_else(|| {
            DomainError::invalid(
                "unknown_reaction",
                format!("reactions are one of {}", REACTION_KINDS.join(", ")),
            )
        })
}

/// Who may send chat: everyone with an identity except cameras; anonymous watchers must join.
pub fn may_chat(role: Option<Role>) -> Result<(), DomainError> {
    match role {
        None => Err(DomainError::unauthenticated(
            "join_required",
            "pick a display name to chat",
        )),
        Some(Role::Camera) => Err(DomainError::forbidden(
            "forbidden_role",
            "a camera cannot chat",
        )),
        Some(_) => Ok(()),
    }
}

/// A token bucket: `capacity` actions, refilled evenly over `period`. Time comes in as an
/// argument (milliseconds on any monotonic clock).
#[derive(Debug, Clone)]
pub struct RateLimit {
    capacity: f64,
    per_ms: f64,
    tokens: f64,
    last_ms: u64,
}

impl RateLimit {
    pub fn new(capacity: u32, period: Duration, now_ms: u64) -> Self {
        let capacity = f64::from(capacity.max(1));
        RateLimit {
            capacity,
            per_ms: capacity / (period.as_millis().max(1) as f64),
            tokens: capacity,
            last_ms: now_ms,
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn take(&mut self, now_ms: u64) -> Result<(), Duration> {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64;
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + elapsed * self.per_ms).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = ((1.0 - self.tokens) / self.per_ms).ceil() as u64;
            Err(Duration::from_millis(wait_ms))
        }
    }
}

/// How the viewer on the other end is known in the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub show_id: ShowId,
    /// `None` for an anonymous watcher (no token).
    pub role: Option<Role>,
    pub id: Option<String>,
    pub name: Option<String>,
}

impl Member {
    pub fn viewer_id(&self) -> Option<ViewerId> {
        self.id.as_deref().and_then(|s| s.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_and_unknowns_are_named() {
        assert_eq!(
            ClientMsg::parse(r#"{"type":"chat.send","text":"hi"}"#).unwrap(),
            ClientMsg::ChatSend { text: "hi".into() }
        );
        assert_eq!(
            ClientMsg::parse(r#"{"type":"ping"}"#).unwrap(),
            ClientMsg::Ping {}
        );
        assert_eq!(
            ClientMsg::parse(r#"{"type":"resume","last_seq":7}"#).unwrap(),
            ClientMsg::Resume { last_seq: 7 }
        );
        assert_eq!(
            ClientMsg::parse(r#"{"type":"dance"}"#).unwrap_err().code,
            "unknown_type"
        );
        assert_eq!(
            ClientMsg::parse(r#"{"type":"mod.ban","viewer_id":"v"}"#).unwrap(),
            ClientMsg::Mod(ModCommand::Ban {
                viewer_id: "v".into(),
                reason: None,
                scope: BanScope::Show
            })
        );
        assert_eq!(
            ClientMsg::parse(r#"{"type":"mod.ban"}"#).unwrap_err().code,
            "bad_message"
        );
        assert_eq!(
            ClientMsg::parse(r#"{"type":"mod.nope"}"#).unwrap_err().code,
            "unknown_type"
        );
        for bad in [
            "not json",
            "{}",
            r#"{"type":"chat.send"}"#,
            r#"{"type":"chat.send","text":5}"#,
            r#"{"type":"chat.send","text":"x","extra":1}"#,
            r#"{"type":"resume","last_seq":-1}"#,
        ] {
            assert_eq!(
                ClientMsg::parse(bad).unwrap_err().code,
                "bad_message",
                "{bad}"
            );
        }
    }

    #[test]
    fn chat_text_is_trimmed_bounded_and_plain() {
        let rules = ChatRules { max_chars: 10 };
        assert_eq!(rules.text("  hi  ").unwrap(), "hi");
        assert_eq!(rules.text("   ").unwrap_err().code, "empty_message");
        assert_eq!(
            rules.text(&"x".repeat(11)).unwrap_err().code,
            "message_too_long"
        );
        assert_eq!(
            rules.text("a\u{202E}b").unwrap_err().code,
            "forbidden_characters"
        );
        assert_eq!(rules.text("a\nb").unwrap_err().code, "forbidden_characters");
        // Markup is just text; escaping is the renderer's job.
        assert_eq!(rules.text("<b>x</b>").unwrap(), "<b>x</b>");
        // Text that shows nothing is empty; text that breaks lines or stacks marks is refused.
        #[rustfmt::skip]
        let cases = [
            ("\u{200B}", "empty_message"), ("\u{2060}\u{FEFF}", "empty_message"),
            ("\u{3164}", "empty_message"), ("\u{E0041}\u{E007F}", "empty_message"),
            ("\u{00AD}", "empty_message"), ("\u{FE0F}", "empty_message"),
            ("a\u{2028}b", "forbidden_characters"), ("a\u{2029}b", "forbidden_characters"),
            ("a\u{0301}\u{0302}\u{0303}\u{0304}\u{0305}", "forbidden_characters"),
        ];
        for (text, code) in cases {
            assert_eq!(rules.text(text).unwrap_err().code, code, "{text:?}");
        }
        assert_eq!(rules.text("\u{2764}\u{FE0F}").unwrap(), "\u{2764}\u{FE0F}");
    }

    #[test]
    fn frames_get_their_seq_appended() {
        let b = Broadcast::Presence { viewers: 3 };
        let frame = seal(&b.json_prefix(), 42);
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"presence","viewers":3,"seq":42})
        );
    }

    #[test]
    fn audiences_round_trip_and_admit() {
        for a in [
            Audience::Everyone,
            Audience::Moderators,
            Audience::Member("v1".into()),
        ] {
            assert_eq!(Audience::from_tag(&a.tag()), a);
        }
        assert!(Audience::Moderators.admits(Some(Role::Creator), None));
        assert!(!Audience::Moderators.admits(Some(Role::Viewer), Some("v1")));
        assert!(Audience::Member("v1".into()).admits(Some(Role::Viewer), Some("v1")));
        assert!(!Audience::Member("v1".into()).admits(Some(Role::Moderator), Some("m")));
        let held = Broadcast::ModNotice {
            to: "v1".into(),
            action: "ban".into(),
            until: None,
            reason: None,
        };
        assert_eq!(held.audience(), Audience::Member("v1".into()));
    }

    #[test]
    fn rate_limit_refills_over_time() {
        let mut rl = RateLimit::new(2, Duration::from_secs(10), 0);
        assert!(rl.take(0).is_ok());
        assert!(rl.take(0).is_ok());
        let wait = rl.take(0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(5));
        assert!(rl.take(4_999).is_err());
        assert!(rl.take(5_000).is_ok());
    }

    #[test]
    fn cameras_and_guests_cannot_chat() {
        assert_eq!(may_chat(None).unwrap_err().code, "join_required");
        assert_eq!(
            may_chat(Some(Role::Camera)).unwrap_err().code,
            "forbidden_role"
        );
        assert!(may_chat(Some(Role::Viewer)).is_ok());
        assert!(reaction_kind("heart").is_ok());
        assert_eq!(
            reaction_kind("<script>").unwrap_err().code,
            "unknown_reaction"
        );
    }
}
