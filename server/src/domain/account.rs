//! Accounts as records and rules, without I/O: a creator's passkeys, the short-lived state of a
//! passkey ceremony, a node's heartbeat, sign-in links, and when a creator token was signed out.
//!
//! A creator token carries the creator's token generation at the time it was minted; signing
//! out everywhere moves the stored generation on, so every older token is refused on every
//! node while a token minted afterwards (the same second included) works. Times come in as
//! arguments; the WebAuthn checks themselves live in `crate::passkeys`.

use super::{Code, CreatorId, DomainError, Timestamp, names};

/// The longest passkey label ("Maya's phone").
pub const MAX_PASSKEY_LABEL: usize = 40;
/// The label a passkey gets when the creator names none.
pub const DEFAULT_PASSKEY_LABEL: &str = "Passkey";
/// Passkeys one creator may keep (each is listed on every registration as one to exclude).
pub const MAX_PASSKEYS: usize = 20;

/// A passkey a creator registered: its credential id (base64url, as the browser reports it),
/// a label, and the credential as the WebAuthn library keeps it (public key and counters).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Passkey {
    pub id: String,
    pub creator_id: CreatorId,
    pub label: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// What `crate::passkeys` needs to check the next assertion, opaque here.
    pub credential: String,
}

/// The label of a new passkey: the creator's, trimmed and checked, or [`DEFAULT_PASSKEY_LABEL`].
pub fn passkey_label(raw: Option<&str>) -> Result<String, DomainError> {
    match raw.map(str::trim).filter(|l| !l.is_empty()) {
        Some(label) => names::required(label, "label", MAX_PASSKEY_LABEL, Code::InvalidLabel),
        None => Ok(DEFAULT_PASSKEY_LABEL.to_string()),
    }
}

/// What a passkey ceremony waits for between its options and its answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CeremonyKind {
    /// A signed-in creator adding a passkey.
    Registration { creator_id: CreatorId },
    /// Anyone signing in with a passkey of their own (discoverable: no name typed).
    Authentication,
}

/// A ceremony's server-side state, kept in the store under its id until its answer comes or
/// it expires, and taken out (once) when the answer comes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ceremony {
    #[serde(flatten)]
    pub kind: CeremonyKind,
    /// The WebAuthn library's state of the ceremony (its challenge), opaque here.
    pub state: String,
    pub expires_at: Timestamp,
}

impl Ceremony {
    /// Whether the ceremony still takes its answer at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// The refusal of a ceremony id that names nothing open: unknown, already used, or expired.
pub fn ceremony_gone() -> DomainError {
    DomainError::invalid(
        Code::InvalidCeremony,
        "this passkey request is unknown, was already used or has expired; start again",
    )
}

/// One node as its last heartbeat described it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct NodeInfo {
    /// `--node-id`, or host and port.
    pub id: String,
    /// The node's public URL.
    pub url: String,
    /// The livesale version it runs.
    pub version: String,
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// Its last heartbeat.
    #[schema(value_type = String, format = DateTime)]
    pub seen_at: Timestamp,
}

/// A heartbeat as stored: the node and when it stops counting as alive.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Heartbeat {
    #[serde(flatten)]
    pub node: NodeInfo,
    pub expires_at: Timestamp,
}

impl Heartbeat {
    pub fn is_alive(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// Whether a creator token minted at `token_generation` was signed out: the creator has since
/// signed out everywhere (the stored generation moved past it).
pub fn signed_out(token_generation: u64, current: u64) -> bool {
    token_generation < current
}

/// The page a sign-in link opens. The token travels in the fragment, which browsers never send
/// to servers, so it reaches no log and no `Referer`.
pub fn signin_url(base: &str, token: &str) -> String {
    format!("{base}/signin#token={token}")
}

/// The refusal of a signed-out creator token.
pub fn token_signed_out() -> DomainError {
    DomainError::unauthenticated(
        Code::TokenRevoked,
        "this sign-in was ended by signing out everywhere; sign in again",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn labels_are_trimmed_checked_or_defaulted() {
        assert_eq!(
            passkey_label(Some("  Maya's phone ")).unwrap(),
            "Maya's phone"
        );
        assert_eq!(passkey_label(None).unwrap(), DEFAULT_PASSKEY_LABEL);
        assert_eq!(passkey_label(Some("   ")).unwrap(), DEFAULT_PASSKEY_LABEL);
        let long = "x".repeat(MAX_PASSKEY_LABEL + 1);
        assert_eq!(
            passkey_label(Some(&long)).unwrap_err().code,
            "invalid_label"
        );
        assert_eq!(
            passkey_label(Some("bad\u{7}bell")).unwrap_err().code,
            "invalid_label"
        );
    }

    #[test]
    fn a_ceremony_and_a_heartbeat_lapse_at_their_deadline() {
        let now = chrono::Utc::now();
        let c = Ceremony {
            kind: CeremonyKind::Authentication,
            state: "s".into(),
            expires_at: now + Duration::seconds(60),
        };
        assert!(c.is_open(now));
        assert!(!c.is_open(now + Duration::seconds(60)));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["kind"], "authentication");
        assert_eq!(serde_json::from_value::<Ceremony>(json).unwrap(), c);
        let beat = Heartbeat {
            node: NodeInfo {
                id: "n1".into(),
                url: "http://a".into(),
                version: "0".into(),
                started_at: now,
                seen_at: now,
            },
            expires_at: now + Duration::seconds(30),
        };
        assert!(beat.is_alive(now + Duration::seconds(29)));
        assert!(!beat.is_alive(now + Duration::seconds(30)));
    }

    #[test]
    fn only_older_generations_are_signed_out() {
        assert!(!signed_out(0, 0));
        assert!(signed_out(0, 1));
        assert!(!signed_out(1, 1));
        assert!(
            !signed_out(2, 1),
            "a newer token than the store knows is not refused"
        );
        assert_eq!(
            signin_url("https://shop.test", "abc"),
            "https://shop.test/signin#token=abc"
        );
    }
}
