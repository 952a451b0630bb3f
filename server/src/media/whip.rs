//! A WHIP session: one camera of a show. Who the camera is ([`Publisher`]), its peer
//! connection (receive only), the readers that hand each RTP packet to the show's router,
//! and its keyframe task (at most one PLI per interval, however many ask).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

use super::codec::Codec;
use super::forwarder::SourceKey;
use super::offer::Offer;
use super::router::Source;
use super::session::{self, Opening, Started};
use super::show::{CameraEntry, ShowMedia};
use super::{Media, MediaError, SessionKind, peer};
use crate::domain::Principal;
use crate::domain::media_ids::{CameraId, SessionId};

/// A camera's identity for a WHIP session.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// Stable per camera invite (a reconnect replaces the old session); fresh for creators.
    pub camera_id: CameraId,
    pub label: String,
}

impl Publisher {
    /// The camera `who` publishes: a camera invite is always the same camera, named by its
    /// invite (else `label`, else "Camera"); a creator's is a new camera each time, named
    /// `label` or "Studio camera". `label` is trimmed and cut to 40 characters.
    pub fn of(who: &Principal, label: Option<&str>) -> Publisher {
        let label = label
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| l.chars().take(40).collect::<String>());
        match who {
            Principal::Camera {
                invite_id,
                label: invite_label,
                ..
            } => Publisher {
                camera_id: CameraId::of_invite(*invite_id),
                label: invite_label
                    .clone()
                    .or(label)
                    .unwrap_or_else(|| "Camera".into()),
            },
            _ => Publisher {
                camera_id: CameraId::from_uuid(uuid::Uuid::now_v7()),
                label: label.unwrap_or_else(|| "Studio camera".into()),
            },
        }
    }
}

pub struct PublisherStart {
    pub key: u64,
    pub session: SessionId,
    pub publisher: Publisher,
    pub family: Option<Codec>,
    pub offer: Offer,
}

/// Starts a WHIP session: the camera joins the show (reserving the show's codec), the offer
/// is answered, and its tracks are read as they arrive.
pub async fn start(
    media: &Arc<Media>,
    show: &Arc<ShowMedia>,
    start: PublisherStart,
) -> Result<Started, MediaError> {
    let PublisherStart {
        key,
        session,
        publisher,
        family,
        offer,
    } = start;
    let (has_video, has_audio) = (offer.has_video, offer.has_audio);
    let (tracks_tx, tracks_rx) = mpsc::unbounded_channel();
    let video: Vec<Codec> = family.into_iter().collect();
    let opening = Opening {
        media,
        show,
        session,
        key,
        kind: SessionKind::Whip,
        video: &video,
    };
    let mut opened = session::open(opening, Some(tracks_tx)).await?;
    let pc = opened.built.pc.clone();
    let replaced = show.add_camera(CameraEntry {
        id: publisher.camera_id.clone(),
        label: publisher.label,
        key,
        session,
        family,
        offered_video: has_video,
        offered_audio: has_audio,
        video: None,
        audio: None,
        connected: false,
        since: media.clock.now(),
    });
    let tracks = [
        (has_audio, RtpCodecKind::Audio),
        (has_video, RtpCodecKind::Video),
    ];
    let sdp = match answer(&pc, tracks, offer.description, &mut opened.gathered).await {
        Ok(sdp) => sdp,
        Err(e) => {
            show.camera_gone(key, media.now_ms());
            session::abandon(&pc).await;
            return Err(e);
        }
    };
    session::watch_connect(media, session, opened.state);

    // The camera's keyframe task: one PLI per interval at most, however many ask.
    let (keyframes_tx, keyframes_rx) = mpsc::channel::<()>(1);
    let video_track: CameraVideo = Arc::new(Mutex::new(None));
    let pli_interval = media.config.pli_interval;
    tokio::spawn(keyframe_task(
        keyframes_rx,
        video_track.clone(),
        pli_interval,
    ));
    let intake = Intake {
        show: Arc::downgrade(show),
        camera: publisher.camera_id,
        key,
        keyframes: keyframes_tx,
        video: video_track,
    };
    tokio::spawn(intake.run(tracks_rx, opened.built.port));
    Ok(Started { pc, sdp, replaced })
}

/// Receives the kinds the camera sends, and answers its offer.
async fn answer(
    pc: &Arc<dyn PeerConnection>,
    tracks: [(bool, RtpCodecKind); 2],
    offer: RTCSessionDescription,
    gathered: &mut watch::Receiver<bool>,
) -> Result<String, MediaError> {
    for (present, kind) in tracks {
        if present {
            pc.add_transceiver_from_kind(
                kind,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Recvonly,
                    ..Default::default()
                }),
            )
            .await
            .map_err(MediaError::internal)?;
        }
    }
    peer::answer(pc, offer, gathered).await
}

/// Where a camera's tracks go as they arrive: each becomes a [`Source`] of the show, read
/// into its router.
struct Intake {
    show: Weak<ShowMedia>,
    camera: CameraId,
    key: u64,
    keyframes: mpsc::Sender<()>,
    video: CameraVideo,
}

impl Intake {
    /// Reads each track the camera sends until the session ends. The port stays held as long
    /// as the session's tracks can arrive.
    async fn run(
        self,
        mut tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
        _port: peer::PortLease,
    ) {
        let mut readers = Vec::new();
        while let Some(track) = tracks.recv().await {
            let Some((source, ssrc)) = self.source(&track).await else {
                continue;
            };
            let Some(show) = self.show.upgrade() else {
                break;
            };
            show.track_ready(self.key, source.clone());
            let codec = source.codec;
            tracing::info!(camera = %self.camera, codec = codec.name(), ssrc, "camera track");
            readers.push(tokio::spawn(read_track(track, source, self.show.clone())));
        }
        for r in readers {
            let _ = r.await;
        }
    }

    /// The source a track feeds, if it has an SSRC and a codec we forward.
    async fn source(&self, track: &Arc<dyn TrackRemote>) -> Option<(Arc<Source>, u32)> {
        let ssrc = track.ssrcs().await.first().copied()?;
        let mime = track
            .codec(ssrc)
            .await
            .map(|c| c.mime_type)
            .unwrap_or_default();
        let Some(codec) = Codec::from_mime(&mime) else {
            tracing::warn!(camera = %self.camera, mime, "a track with a codec we do not forward");
            return None;
        };
        if codec.is_video() {
            *self.video.lock().unwrap_or_else(|p| p.into_inner()) = Some((track.clone(), ssrc));
        }
        let source = Arc::new(Source {
            key: SourceKey {
                session: self.key,
                ssrc,
            },
            codec,
            camera: self.camera.clone(),
            keyframes: self.keyframes.clone(),
        });
        Some((source, ssrc))
    }
}

/// Reads a camera track until it ends, handing each packet to the router.
async fn read_track(track: Arc<dyn TrackRemote>, source: Arc<Source>, show: Weak<ShowMedia>) {
    let kind = if source.codec.is_video() {
        "video"
    } else {
        "audio"
    };
    let received = metrics::counter!("livesale_media_received_packets_total", "kind" => kind);
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                received.increment(1);
                let Some(show) = show.upgrade() else {
                    break;
                };
                show.route(&source, packet);
            }
            TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
            _ => {}
        }
    }
}

/// A camera's video track and SSRC, once it arrived (where its keyframe requests go).
type CameraVideo = Arc<Mutex<Option<(Arc<dyn TrackRemote>, u32)>>>;

/// Sends PLIs to a camera: every request is answered, but at most one per interval (requests
/// that arrive meanwhile are coalesced into the next one).
async fn keyframe_task(mut requests: mpsc::Receiver<()>, video: CameraVideo, interval: Duration) {
    let sent = metrics::counter!("livesale_media_keyframe_requests_total");
    let mut last: Option<std::time::Instant> = None;
    while requests.recv().await.is_some() {
        if let Some(last) = last {
            let since = last.elapsed();
            if since < interval {
                tokio::time::sleep(interval - since).await;
            }
        }
        let _ = requests.try_recv();
        let target = video.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some((track, ssrc)) = target else {
            continue;
        };
        last = Some(std::time::Instant::now());
        sent.increment(1);
        let pli: Box<dyn rtc::rtcp::Packet> = Box::new(PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc: ssrc,
        });
        if track.write_rtcp(vec![pli]).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CreatorId, InviteId, ShowId};
    use uuid::Uuid;

    #[test]
    fn a_camera_invite_is_always_the_same_camera_and_keeps_its_own_label() {
        let invite = InviteId(Uuid::from_u128(5));
        let camera = |label: Option<&str>| Principal::Camera {
            show_id: ShowId(Uuid::from_u128(1)),
            invite_id: invite,
            label: label.map(str::to_string),
        };
        let p = Publisher::of(&camera(Some("Phone")), Some("ignored"));
        assert_eq!(p.camera_id, CameraId::of_invite(invite));
        assert_eq!(p.label, "Phone");
        let p = Publisher::of(&camera(None), Some("  Side  "));
        assert_eq!(p.label, "Side");
        assert_eq!(Publisher::of(&camera(None), Some("   ")).label, "Camera");
    }

    #[test]
    fn a_creator_gets_a_new_studio_camera_each_time_with_a_short_label() {
        let creator = Principal::Creator {
            creator_id: CreatorId(Uuid::from_u128(2)),
        };
        let a = Publisher::of(&creator, None);
        let b = Publisher::of(&creator, Some(&"x".repeat(50)));
        assert_ne!(a.camera_id, b.camera_id);
        assert_eq!(a.label, "Studio camera");
        assert_eq!(b.label, "x".repeat(40));
    }
}
