//! WHIP and WHEP sessions: their peer connections, event handlers and tasks.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription,
};

use super::codec::Codec;
use super::forwarder::{Incoming, Rewriter, SourceKey, Verdict};
use super::{CameraEntry, Media, MediaError, Publisher, ShowMedia, Source, Watch, peer};

/// A packet on its way to one viewer.
#[derive(Clone)]
pub struct Item {
    pub source: Arc<Source>,
    /// It starts a keyframe (video) / any audio packet.
    pub sync: bool,
    /// Packets of this kind were dropped for this viewer just before it.
    pub after_gap: bool,
    /// When it arrived, in the node's monotonic milliseconds.
    pub at_ms: u64,
    pub packet: rtc::rtp::Packet,
}

pub fn parse_offer(offer: &str) -> Result<RTCSessionDescription, MediaError> {
    RTCSessionDescription::offer(offer.to_string())
        .map_err(|e| MediaError::BadSdp(format!("the offer does not parse: {e}")))
}

/// What a started session hands back.
pub struct Started {
    pub pc: Arc<dyn PeerConnection>,
    pub sdp: String,
    /// The earlier session of the same camera, now replaced.
    pub replaced: Option<String>,
}

/// Connection events of any session: gathering for the answer, and the end of the session.
struct Events {
    media: Weak<Media>,
    show: Weak<ShowMedia>,
    session: String,
    key: u64,
    whip: bool,
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
        if self.whip
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
            let session = self.session.clone();
            let reason = if state == RTCPeerConnectionState::Failed {
                "connection_failed"
            } else {
                "connection_closed"
            };
            // Not from inside the driver's callback: ending closes this very connection.
            tokio::spawn(async move {
                media.end_session(&session, reason).await;
            });
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if let Some(tracks) = &self.tracks {
            let _ = tracks.send(track);
        }
    }
}

/// Ends a session whose connection does not come up in time.
fn watch_connect(
    media: &Arc<Media>,
    session: String,
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
            media.end_session(&session, "connect_timeout").await;
        }
    });
}

pub struct PublisherStart {
    pub key: u64,
    pub session_id: String,
    pub publisher: Publisher,
    pub family: Option<Codec>,
    pub has_video: bool,
    pub has_audio: bool,
    pub offer: RTCSessionDescription,
}

/// Starts a WHIP session: the camera joins the show (reserving the show's codec), the offer
/// is answered, and its tracks are read as they arrive.
pub async fn start_publisher(
    media: &Arc<Media>,
    show: &Arc<ShowMedia>,
    start: PublisherStart,
) -> Result<Started, MediaError> {
    let (gathered_tx, mut gathered) = watch::channel(false);
    let (state_tx, state_rx) = watch::channel(RTCPeerConnectionState::New);
    let (tracks_tx, mut tracks_rx) = mpsc::unbounded_channel();
    let events = Arc::new(Events {
        media: Arc::downgrade(media),
        show: Arc::downgrade(show),
        session: start.session_id.clone(),
        key: start.key,
        whip: true,
        gathered: gathered_tx,
        state: state_tx,
        tracks: Some(tracks_tx),
    });
    let video: Vec<Codec> = start.family.into_iter().collect();
    let built = peer::build(
        &media.config,
        &media.ports,
        &video,
        peer::Leg::Receive,
        events,
    )
    .await?;
    let pc = built.pc.clone();
    let (keyframes_tx, keyframes_rx) = mpsc::channel::<()>(1);
    let replaced = show.add_camera(CameraEntry {
        id: start.publisher.camera_id.clone(),
        label: start.publisher.label.clone(),
        key: start.key,
        session: start.session_id.clone(),
        family: start.family,
        offered_video: start.has_video,
        offered_audio: start.has_audio,
        video: None,
        audio: None,
        connected: false,
        since: chrono::Utc::now(),
    });
    let answered = async {
        for (present, kind) in [
            (start.has_audio, RtpCodecKind::Audio),
            (start.has_video, RtpCodecKind::Video),
        ] {
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
        peer::answer(&pc, start.offer, &mut gathered).await
    }
    .await;
    let sdp = match answered {
        Ok(sdp) => sdp,
        Err(e) => {
            show.camera_gone(start.key, media.now_ms());
            let _ = tokio::time::timeout(Duration::from_secs(2), pc.close()).await;
            return Err(e);
        }
    };
    watch_connect(media, start.session_id.clone(), state_rx);

    // The camera's keyframe task: one PLI per interval at most, however many ask.
    let pli_interval = media.config.pli_interval;
    let video_track: CameraVideo = Arc::new(Mutex::new(None));
    tokio::spawn(keyframe_task(
        keyframes_rx,
        video_track.clone(),
        pli_interval,
    ));

    // Tracks: read each one's packets into the show's router.
    let show_weak = Arc::downgrade(show);
    let camera_id = start.publisher.camera_id.clone();
    let key = start.key;
    let _port = built.port;
    tokio::spawn(async move {
        // The port stays held as long as the session's tracks can arrive.
        let _port = _port;
        let mut readers = Vec::new();
        while let Some(track) = tracks_rx.recv().await {
            let Some(ssrc) = track.ssrcs().await.first().copied() else {
                continue;
            };
            let mime = track
                .codec(ssrc)
                .await
                .map(|c| c.mime_type)
                .unwrap_or_default();
            let Some(codec) = Codec::from_mime(&mime) else {
                tracing::warn!(camera = %camera_id, mime, "a track with a codec we do not forward");
                continue;
            };
            if codec.is_video() {
                *video_track.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((track.clone(), ssrc));
            }
            let source = Arc::new(Source {
                key: SourceKey { session: key, ssrc },
                codec,
                camera: camera_id.clone(),
                keyframes: keyframes_tx.clone(),
            });
            let Some(show) = show_weak.upgrade() else {
                break;
            };
            show.track_ready(key, source.clone());
            tracing::info!(camera = %camera_id, codec = codec.name(), ssrc, "camera track");
            readers.push(tokio::spawn(read_track(track, source, show_weak.clone())));
        }
        for r in readers {
            let _ = r.await;
        }
    });
    Ok(Started {
        pc: built.pc,
        sdp,
        replaced,
    })
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

pub struct ViewerStart {
    pub key: u64,
    pub session_id: String,
    pub watch: Watch,
    pub video_families: Vec<Codec>,
    pub has_video: bool,
    pub has_audio: bool,
    pub offer: RTCSessionDescription,
}

/// One outgoing track of a viewer leg.
struct Leg {
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn webrtc::rtp_transceiver::RtpSender>,
    ssrc: u32,
    /// Negotiated payload type per codec family.
    pts: Vec<(Codec, u8)>,
    rewriter: Rewriter,
}

impl Leg {
    fn pt(&self, codec: Codec) -> Option<u8> {
        self.pts
            .iter()
            .find(|(c, _)| *c == codec)
            .map(|(_, pt)| *pt)
    }

    async fn learn_payload_types(&mut self) {
        if let Ok(params) = self.sender.get_parameters().await {
            let mut pts = Vec::new();
            for c in &params.rtp_parameters.codecs {
                if let Some(family) = Codec::from_mime(&c.rtp_codec.mime_type)
                    && !pts.iter().any(|(f, _)| *f == family)
                {
                    pts.push((family, c.payload_type));
                }
            }
            self.pts = pts;
        }
    }
}

fn local_track(
    kind: RtpCodecKind,
    family: Codec,
    ssrc: u32,
    stream: &str,
) -> Arc<TrackLocalStaticRTP> {
    let params = peer::codec_parameters(family);
    let codec = params
        .first()
        .map(|p| p.rtp_codec.clone())
        .unwrap_or_default();
    let label = if kind == RtpCodecKind::Video {
        "video"
    } else {
        "audio"
    };
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        stream.to_string(),
        format!("{label}-{ssrc:08x}"),
        label.to_string(),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )))
}

/// Starts a WHEP session: one video and one audio track, fed from a bounded queue.
pub async fn start_viewer(
    media: &Arc<Media>,
    show: &Arc<ShowMedia>,
    start: ViewerStart,
) -> Result<Started, MediaError> {
    let (gathered_tx, mut gathered) = watch::channel(false);
    let (state_tx, state_rx) = watch::channel(RTCPeerConnectionState::New);
    let events = Arc::new(Events {
        media: Arc::downgrade(media),
        show: Arc::downgrade(show),
        session: start.session_id.clone(),
        key: start.key,
        whip: false,
        gathered: gathered_tx,
        state: state_tx,
        tracks: None,
    });
    let built = peer::build(
        &media.config,
        &media.ports,
        &start.video_families,
        peer::Leg::Send,
        events,
    )
    .await?;
    let pc = built.pc.clone();
    let stream = format!("livesale-{}", show.show().id);
    let answered = async {
        let mut video = None;
        let mut audio = None;
        if start.has_video {
            let family = *start.video_families.first().unwrap_or(&Codec::Vp8);
            let ssrc = rand::random::<u32>();
            let track = local_track(RtpCodecKind::Video, family, ssrc, &stream);
            let sender = pc
                .add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(MediaError::internal)?;
            video = Some(Leg {
                track,
                sender,
                ssrc,
                pts: Vec::new(),
                rewriter: Rewriter::new(90_000),
            });
        }
        if start.has_audio {
            let ssrc = rand::random::<u32>();
            let track = local_track(RtpCodecKind::Audio, Codec::Opus, ssrc, &stream);
            let sender = pc
                .add_track(track.clone() as Arc<dyn TrackLocal>)
                .await
                .map_err(MediaError::internal)?;
            audio = Some(Leg {
                track,
                sender,
                ssrc,
                pts: Vec::new(),
                rewriter: Rewriter::new(48_000),
            });
        }
        let sdp = peer::answer(&pc, start.offer, &mut gathered).await?;
        for leg in [&mut video, &mut audio].into_iter().flatten() {
            leg.learn_payload_types().await;
        }
        Ok::<_, MediaError>((sdp, video, audio))
    }
    .await;
    let (sdp, video, audio) = match answered {
        Ok(x) => x,
        Err(e) => {
            let _ = tokio::time::timeout(Duration::from_secs(2), pc.close()).await;
            return Err(e);
        }
    };
    let (tx, rx) = mpsc::channel::<Item>(media.config.viewer_queue.max(8));
    show.add_viewer(start.key, start.watch.clone(), tx);
    watch_connect(media, start.session_id.clone(), state_rx.clone());
    let following: Arc<Mutex<Option<Arc<Source>>>> = Arc::new(Mutex::new(None));
    if let Some(v) = &video {
        tokio::spawn(viewer_feedback(v.track.clone(), following.clone()));
    }
    if let Some(a) = &audio {
        // Nothing to relay for audio, but the feedback queue must be drained.
        tokio::spawn(viewer_feedback(a.track.clone(), Arc::new(Mutex::new(None))));
    }
    let show_id = show.show().id.to_string();
    tokio::spawn(viewer_task(
        rx, video, audio, state_rx, following, show_id, built.port,
    ));
    Ok(Started {
        pc: built.pc,
        sdp,
        replaced: None,
    })
}

/// Relays a viewer's keyframe requests (PLI/FIR from its player) to the camera it follows.
async fn viewer_feedback(
    track: Arc<TrackLocalStaticRTP>,
    following: Arc<Mutex<Option<Arc<Source>>>>,
) {
    let relayed = metrics::counter!("livesale_media_viewer_keyframe_requests_total");
    while let Some(event) = track.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        let wants = packets.iter().any(|p| {
            let any = p.as_any();
            any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
        });
        if wants {
            relayed.increment(1);
            let source = following.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(source) = source {
                source.want_keyframe();
            }
        }
    }
}

/// Pops the viewer's queue, rewrites each packet for this leg and writes it.
async fn viewer_task(
    mut rx: mpsc::Receiver<Item>,
    mut video: Option<Leg>,
    mut audio: Option<Leg>,
    mut state: watch::Receiver<RTCPeerConnectionState>,
    following: Arc<Mutex<Option<Arc<Source>>>>,
    show: String,
    _port: peer::PortLease,
) {
    let video_packets = metrics::counter!("livesale_media_forwarded_packets_total", "show" => show.clone(), "kind" => "video");
    let video_bytes = metrics::counter!("livesale_media_forwarded_bytes_total", "show" => show.clone(), "kind" => "video");
    let audio_packets = metrics::counter!("livesale_media_forwarded_packets_total", "show" => show.clone(), "kind" => "audio");
    let audio_bytes = metrics::counter!("livesale_media_forwarded_bytes_total", "show" => show.clone(), "kind" => "audio");
    let unsupported = metrics::counter!("livesale_media_dropped_packets_total", "reason" => "codec_not_negotiated");
    let waiting = metrics::counter!("livesale_media_dropped_packets_total", "reason" => "viewer_waits_for_keyframe");
    let write_errors =
        metrics::counter!("livesale_media_dropped_packets_total", "reason" => "write_error");
    // Wait for the connection: packets before it would be lost on the way, and the numbering
    // a player sees must start with a keyframe.
    loop {
        let current = *state.borrow_and_update();
        match current {
            RTCPeerConnectionState::Connected => break,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => return,
            _ => {}
        }
        tokio::select! {
            changed = state.changed() => if changed.is_err() { return },
            item = rx.recv() => if item.is_none() { return },
        }
    }
    // Anything queued while connecting is stale; start from a keyframe.
    while rx.try_recv().is_ok() {}
    if let Some(v) = video.as_mut() {
        v.learn_payload_types().await;
    }
    while let Some(item) = rx.recv().await {
        let is_video = item.source.codec.is_video();
        let Some(leg) = (if is_video {
            video.as_mut()
        } else {
            audio.as_mut()
        }) else {
            continue;
        };
        let Some(pt) = leg.pt(item.source.codec) else {
            unsupported.increment(1);
            continue;
        };
        let verdict = leg.rewriter.push(Incoming {
            source: item.source.key,
            seq: item.packet.header.sequence_number,
            ts: item.packet.header.timestamp,
            sync_point: item.sync,
            after_gap: item.after_gap,
            now_ms: item.at_ms,
        });
        let (seq, ts) = match verdict {
            Verdict::Send { seq, ts } => (seq, ts),
            Verdict::WantKeyframe => {
                waiting.increment(1);
                item.source.want_keyframe();
                continue;
            }
            Verdict::Drop => continue,
        };
        if is_video {
            let mut f = following.lock().unwrap_or_else(|p| p.into_inner());
            if f.as_ref().map(|s| s.key) != Some(item.source.key) {
                *f = Some(item.source.clone());
            }
        }
        let mut packet = item.packet;
        packet.header.ssrc = leg.ssrc;
        packet.header.sequence_number = seq;
        packet.header.timestamp = ts;
        packet.header.payload_type = pt;
        let bytes = packet.payload.len() as u64;
        match leg.track.write_rtp(packet).await {
            Ok(()) => {
                if is_video {
                    video_packets.increment(1);
                    video_bytes.increment(bytes);
                } else {
                    audio_packets.increment(1);
                    audio_bytes.increment(bytes);
                }
            }
            Err(e) => {
                write_errors.increment(1);
                tracing::debug!(error = %e, "write to a viewer failed");
                if matches!(
                    *state.borrow(),
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                ) {
                    return;
                }
            }
        }
    }
}
