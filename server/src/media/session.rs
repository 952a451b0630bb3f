//! What WHIP and WHEP sessions share: the peer connection's event handler (gathering for the
//! answer, connection state, a camera's tracks), building the connection, and ending a
//! session whose connection fails, closes or does not come up in time.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
};

use super::codec::Codec;
use super::show::ShowMedia;
use super::{Media, MediaError, SessionKind, peer};
use crate::domain::media_ids::SessionId;

/// What a started session hands back.
pub struct Started {
    pub pc: Arc<dyn PeerConnection>,
    pub sdp: String,
    /// The earlier session of the same camera, now replaced.
    pub replaced: Option<SessionId>,
}

/// Connection events of any session: gathering for the answer, and the end of the session.
struct Events {
    media: Weak<Media>,
    show: Weak<ShowMedia>,
    session: SessionId,
    key: u64,
    kind: SessionKind,
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    /// WHIP: new tracks go here.
    tracks: Option<mpsc::UnboundedSender<Arc<dyn TrackRemote>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        peer::gathering_done(&self.gathered, state);
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(session = %self.session, ?state, "media connection state");
        let _ = self.state.send(state);
        if self.kind == SessionKind::Whip
            && let Some(show) = self.show.upgrade()
        {
            match state {
                RTCPeerConnectionState::Connected => show.camera_connected(self.key, true),
                RTCPeerConnectionState::Disconnected | RTCPeerConnectionState::Failed => {
                    show.camera_connected(self.key, false)
                }
                _ => {}
            }
        }
        if matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) && let Some(media) = self.media.upgrade()
        {
            let session = self.session;
            let reason = if state == RTCPeerConnectionState::Failed {
                "connection_failed"
            } else {
                "connection_closed"
            };
            // Not from inside the driver's callback: ending closes this very connection.
            tokio::spawn(async move {
                media.end_session(session, reason).await;
            });
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if let Some(tracks) = &self.tracks {
            let _ = tracks.send(track);
        }
    }
}

/// The session a connection is built for.
pub struct Opening<'a> {
    pub media: &'a Arc<Media>,
    pub show: &'a Arc<ShowMedia>,
    pub session: SessionId,
    pub key: u64,
    pub kind: SessionKind,
    /// Its video codec families.
    pub video: &'a [Codec],
}

/// A built connection with the watches of its events.
pub struct Opened {
    pub built: peer::Built,
    /// Turns true when ICE gathering completes (the answer waits for it).
    pub gathered: watch::Receiver<bool>,
    pub state: watch::Receiver<RTCPeerConnectionState>,
}

/// Builds the session's peer connection (a WHIP one hands its tracks to `tracks`).
pub async fn open(
    opening: Opening<'_>,
    tracks: Option<mpsc::UnboundedSender<Arc<dyn TrackRemote>>>,
) -> Result<Opened, MediaError> {
    let (gathered_tx, gathered) = watch::channel(false);
    let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
    let events = Arc::new(Events {
        media: Arc::downgrade(opening.media),
        show: Arc::downgrade(opening.show),
        session: opening.session,
        key: opening.key,
        kind: opening.kind,
        gathered: gathered_tx,
        state: state_tx,
        tracks,
    });
    let leg = match opening.kind {
        SessionKind::Whip => peer::Leg::Receive,
        SessionKind::Whep => peer::Leg::Send,
    };
    let media = opening.media;
    let built = peer::build(&media.config, &media.ports, opening.video, leg, events).await?;
    Ok(Opened {
        built,
        gathered,
        state,
    })
}

/// Closes a connection whose session did not start; never for long.
pub async fn abandon(pc: &Arc<dyn PeerConnection>) {
    let _ = tokio::time::timeout(Duration::from_secs(2), pc.close()).await;
}

/// Ends a session whose connection does not come up in time.
pub fn watch_connect(
    media: &Arc<Media>,
    session: SessionId,
    mut state: watch::Receiver<RTCPeerConnectionState>,
) {
    let timeout = media.config.connect_timeout;
    let media = Arc::downgrade(media);
    tokio::spawn(async move {
        let up = tokio::time::timeout(
            timeout,
            state.wait_for(|s| *s == RTCPeerConnectionState::Connected),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        if !up && let Some(media) = media.upgrade() {
            media.end_session(session, "connect_timeout").await;
        }
    });
}
