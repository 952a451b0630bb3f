//! [`MediaError`]: why the media service refused a request. `http/media.rs` maps each variant
//! to its status and problem `code`.

use crate::domain::media_ids::CameraId;
use crate::store::StoreError;

/// Why a media request was refused.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("bad SDP: {0}")]
    BadSdp(String),
    #[error("{0}")]
    Tracks(String),
    #[error("{0}")]
    CodecMismatch(String),
    #[error("this node is at its viewer capacity")]
    AtCapacity,
    #[error("every media port of this node is in use")]
    PortsExhausted,
    #[error("no camera {0} in this show")]
    CameraNotFound(CameraId),
    #[error("camera {0} sends no video")]
    NoVideo(CameraId),
    #[error("no such session")]
    SessionNotFound,
    #[error("this show has ended")]
    ShowEnded,
    /// A program change that names neither the camera nor the audio.
    #[error("nothing to change")]
    NothingToDirect,
    /// Who may end or change a session (`domain::access::may_control_session`) said no.
    #[error(transparent)]
    Refused(#[from] crate::domain::DomainError),
    /// The store (media-home leases) could not be asked.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl MediaError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        MediaError::Internal(e.to_string())
    }
}
