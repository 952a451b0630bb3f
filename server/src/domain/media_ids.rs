//! The ids of media sessions and cameras, newtyped like the others in `ids.rs` so that a
//! camera id is never passed where a session id (or any other string) is expected.
//!
//! A camera id is text: a camera invite's id, or a fresh uuid for a creator's camera, but
//! clients name cameras in queries and bodies, and an id that names no camera must still be
//! answered "no camera <id>" with the text they sent.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::InviteId;

/// One WHIP or WHEP session (the last segment of its session URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub Uuid);

impl SessionId {
    /// Wraps a fresh uuid produced by the caller (the domain never makes randomness).
    pub fn from_uuid(id: Uuid) -> Self {
        SessionId(id)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for SessionId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(SessionId)
    }
}

/// One camera of a show: stable across its reconnects when it is a camera invite's.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct CameraId(String);

impl CameraId {
    /// The id as clients name it.
    pub fn new(id: impl Into<String>) -> Self {
        CameraId(id.into())
    }

    /// A camera invite's camera: a phone that publishes again is the same camera.
    pub fn of_invite(invite: InviteId) -> Self {
        CameraId(invite.to_string())
    }

    /// A creator's camera, with a fresh uuid produced by the caller.
    pub fn from_uuid(id: Uuid) -> Self {
        CameraId(id.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for CameraId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_id_reads_back_what_it_prints_and_refuses_other_text() {
        let id = SessionId::from_uuid(Uuid::from_u128(7));
        assert_eq!(id.to_string().parse::<SessionId>().unwrap(), id);
        assert!("not-a-session".parse::<SessionId>().is_err());
    }

    #[test]
    fn a_camera_id_is_the_text_clients_send_and_serializes_as_it() {
        let invite = InviteId(Uuid::from_u128(9));
        let id = CameraId::of_invite(invite);
        assert_eq!(id.as_str(), invite.to_string());
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{invite}\""));
        let named = CameraId::new("front");
        assert!(named == *"front");
        assert_eq!(named.to_string(), "front");
    }
}
