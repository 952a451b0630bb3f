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
    /// LL-HLS is off on this node (`--hls false`).
    #[error("LL-HLS is off on this node")]
    HlsDisabled,
    /// Nothing of the show has been packaged yet (scheduled, or live without a camera).
    #[error("the program has not started yet")]
    HlsNotStarted,
    /// The show's cameras send a codec HLS cannot carry.
    #[error("{0}")]
    NotPackageable(String),
    /// `_HLS_msn` more than two segments ahead of the playlist.
    #[error("_HLS_msn is more than two segments ahead of the playlist")]
    HlsTooFar,
    /// A file the live window no longer holds.
    #[error("this file has rolled out of the live window")]
    HlsGone,
    /// No such file in the live window.
    #[error("no such file in the live window")]
    HlsFileNotFound,
    /// Too many blocking requests held on this node.
    #[error("too many blocking requests are held on this node")]
    HlsBusy,
    /// The show is not over, or nothing of it was recorded.
    #[error("the replay is not ready")]
    ReplayNotReady,
    /// Not a file of the show's recording.
    #[error("no such file in the recording")]
    ReplayFileNotFound,
    /// The node that recorded the file did not answer (or answered an error).
    #[error("the node that recorded this file did not answer")]
    RecordingNodeUnreachable,
}

impl From<super::hls::HlsError> for MediaError {
    fn from(e: super::hls::HlsError) -> Self {
        use super::hls::HlsError;
        match e {
            HlsError::NotStarted => MediaError::HlsNotStarted,
            HlsError::TooFar => MediaError::HlsTooFar,
            HlsError::Gone => MediaError::HlsGone,
            HlsError::NotFound => MediaError::HlsFileNotFound,
            HlsError::Busy => MediaError::HlsBusy,
        }
    }
}

impl MediaError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        MediaError::Internal(e.to_string())
    }
}
