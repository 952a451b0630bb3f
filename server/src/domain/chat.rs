//! Chat as the domain sees it: a message and its id ([`MessageId`], [`ChatMessage`]), the
//! rules of chat text ([`ChatRules`]), who may chat ([`may_chat`]), the reaction kinds
//! ([`reaction_kind`]), and the token bucket a connection keeps for its own pace
//! ([`RateLimit`]). Pure: the chat service (`crate::services::chat`) feeds in time and ids and
//! performs the effects; how these travel on the wire is `domain::protocol`.

use std::fmt;
use std::time::Duration;

use super::{Code, DomainError, Role, Timestamp, names};

/// Reactions viewers can send; anything else is refused, so tallies stay small and bounded.
pub const REACTION_KINDS: &[&str] = &["heart", "fire", "clap", "laugh", "wow", "cart"];

/// A chat message's id: a string on the wire (a uuid v7 for messages this server made; a
/// moderator may name any string, which then matches nothing).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// Wraps a fresh uuid produced by the caller (the domain never makes randomness).
    pub fn from_uuid(id: uuid::Uuid) -> Self {
        MessageId(id.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for MessageId {
    fn from(id: String) -> Self {
        MessageId(id)
    }
}

impl From<&str> for MessageId {
    fn from(id: &str) -> Self {
        MessageId(id.to_string())
    }
}

impl From<MessageId> for String {
    fn from(id: MessageId) -> Self {
        id.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for MessageId {
    type Target = str;
    /// Stores and the bus key messages by the id's text.
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for MessageId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for MessageId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for MessageId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

/// Who wrote a chat message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Author {
    pub id: String,
    pub name: String,
}

/// A published chat message, as broadcast and as kept in the recent-history snapshot; the
/// message pinned above the chat is one too.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub id: MessageId,
    pub author: Author,
    pub role: Role,
    pub text: String,
    pub at: Timestamp,
    /// Set when the message is broadcast; the history keeps it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// The chat message a moderator pinned above the chat (`mod.pin`; `pinned_message` on the
/// wire): a chat message like any other.
pub type PinnedMessage = ChatMessage;

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
                names::ShortTextError::Empty | names::ShortTextError::Invisible => {
                    Code::EmptyMessage
                }
                names::ShortTextError::TooLong => Code::MessageTooLong,
                names::ShortTextError::ForbiddenChar | names::ShortTextError::StackedMarks => {
                    Code::ForbiddenCharacters
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
                Code::UnknownReaction,
                format!("reactions are one of {}", REACTION_KINDS.join(", ")),
            )
        })
}

/// Who may send chat: everyone with an identity except cameras; anonymous watchers must join.
pub fn may_chat(role: Option<Role>) -> Result<(), DomainError> {
    match role {
        None => Err(DomainError::unauthenticated(
            Code::JoinRequired,
            "pick a display name to chat",
        )),
        Some(Role::Camera) => Err(DomainError::forbidden(
            Code::ForbiddenRole,
            "a camera cannot chat",
        )),
        Some(_) => Ok(()),
    }
}

/// Who may react: everyone but cameras (guests included).
pub fn may_react(role: Option<Role>) -> Result<(), DomainError> {
    match role {
        Some(Role::Camera) => Err(DomainError::forbidden(
            Code::ForbiddenRole,
            "a camera cannot react",
        )),
        _ => Ok(()),
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(may_react(None).is_ok());
        assert_eq!(
            may_react(Some(Role::Camera)).unwrap_err().code,
            "forbidden_role"
        );
        assert!(reaction_kind("heart").is_ok());
        assert_eq!(
            reaction_kind("<script>").unwrap_err().code,
            "unknown_reaction"
        );
    }

    #[test]
    fn message_ids_are_plain_strings_on_the_wire() {
        let id = MessageId::from("0196c1f8-abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""0196c1f8-abc""#);
        let back: MessageId = serde_json::from_str(r#""anything""#).unwrap();
        assert_eq!(back, "anything");
        assert_eq!(&*back, "anything");
    }
}
