//! A WHEP session: one viewer. Its peer connection (one video and one audio track with SSRCs
//! of its own), the task that pops its bounded queue and rewrites each packet for this leg
//! (the forwarding hot path: no allocation or lock per packet beyond the queue's), and the
//! relay of its player's keyframe requests to the camera it follows.

use std::sync::{Arc, Mutex};

use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

use super::codec::Codec;
use super::forwarder::{Rewriter, Verdict};
use super::offer::Offer;
use super::router::{Item, Source, Watch};
use super::session::{self, Opening, Started};
use super::show::ShowMedia;
use super::{Media, MediaError, SessionKind, peer};
use crate::domain::media_ids::SessionId;

pub struct ViewerStart {
    pub key: u64,
    pub session: SessionId,
    pub watch: Watch,
    pub video_families: Vec<Codec>,
    pub offer: Offer,
}

/// The camera source a viewer's video follows now (where its player's PLIs go).
type Following = Arc<Mutex<Option<Arc<Source>>>>;

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
    /// Adds a track of `kind` in `family` to the connection.
    async fn add(
        pc: &Arc<dyn PeerConnection>,
        kind: RtpCodecKind,
        family: Codec,
        stream: &str,
    ) -> Result<Leg, MediaError> {
        let ssrc = rand::random::<u32>();
        let track = local_track(kind, family, ssrc, stream);
        let sender = pc
            .add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(MediaError::internal)?;
        let clock_rate = if kind == RtpCodecKind::Video {
            90_000
        } else {
            48_000
        };
        Ok(Leg {
            track,
            sender,
            ssrc,
            pts: Vec::new(),
            rewriter: Rewriter::new(clock_rate),
        })
    }

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

/// A viewer's tracks: a video and an audio one, as its offer asked.
#[derive(Default)]
struct Legs {
    video: Option<Leg>,
    audio: Option<Leg>,
}

impl Legs {
    /// Adds the tracks, answers the offer, and learns the payload types the answer chose.
    async fn answer(
        pc: &Arc<dyn PeerConnection>,
        start: &mut ViewerStart,
        stream: &str,
        gathered: &mut watch::Receiver<bool>,
    ) -> Result<(String, Legs), MediaError> {
        let mut legs = Legs::default();
        if start.offer.has_video {
            let family = *start.video_families.first().unwrap_or(&Codec::Vp8);
            legs.video = Some(Leg::add(pc, RtpCodecKind::Video, family, stream).await?);
        }
        if start.offer.has_audio {
            legs.audio = Some(Leg::add(pc, RtpCodecKind::Audio, Codec::Opus, stream).await?);
        }
        let offer = std::mem::take(&mut start.offer.description);
        let sdp = peer::answer(pc, offer, gathered).await?;
        for leg in [&mut legs.video, &mut legs.audio].into_iter().flatten() {
            leg.learn_payload_types().await;
        }
        Ok((sdp, legs))
    }
}

/// Starts a WHEP session: one video and one audio track, fed from a bounded queue.
pub async fn start(
    media: &Arc<Media>,
    show: &Arc<ShowMedia>,
    mut start: ViewerStart,
) -> Result<Started, MediaError> {
    let opening = Opening {
        media,
        show,
        session: start.session,
        key: start.key,
        kind: SessionKind::Whep,
        video: &start.video_families,
    };
    let mut opened = session::open(opening, None).await?;
    let pc = opened.built.pc.clone();
    let stream = format!("livesale-{}", show.show().id);
    let (sdp, legs) = match Legs::answer(&pc, &mut start, &stream, &mut opened.gathered).await {
        Ok(x) => x,
        Err(e) => {
            session::abandon(&pc).await;
            return Err(e);
        }
    };
    let (tx, rx) = mpsc::channel::<Item>(media.config.viewer_queue.max(8));
    show.add_viewer(start.key, start.watch.clone(), tx);
    session::watch_connect(media, start.session, opened.state.clone());
    let following: Following = Arc::new(Mutex::new(None));
    if let Some(v) = &legs.video {
        tokio::spawn(viewer_feedback(v.track.clone(), following.clone()));
    }
    if let Some(a) = &legs.audio {
        // Nothing to relay for audio, but the feedback queue must be drained.
        tokio::spawn(viewer_feedback(a.track.clone(), Arc::new(Mutex::new(None))));
    }
    let writer = Writer {
        legs,
        following,
        counters: Counters::new(show.show().id.to_string()),
    };
    tokio::spawn(writer.run(rx, opened.state, opened.built.port));
    Ok(Started {
        pc,
        sdp,
        replaced: None,
    })
}

/// Relays a viewer's keyframe requests (PLI/FIR from its player) to the camera it follows.
async fn viewer_feedback(track: Arc<TrackLocalStaticRTP>, following: Following) {
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

/// The counters of one viewer's writer task.
struct Counters {
    video_packets: metrics::Counter,
    video_bytes: metrics::Counter,
    audio_packets: metrics::Counter,
    audio_bytes: metrics::Counter,
    unsupported: metrics::Counter,
    waiting: metrics::Counter,
    write_errors: metrics::Counter,
}

impl Counters {
    fn new(show: String) -> Counters {
        Counters {
            video_packets: metrics::counter!("livesale_media_forwarded_packets_total", "show" => show.clone(), "kind" => "video"),
            video_bytes: metrics::counter!("livesale_media_forwarded_bytes_total", "show" => show.clone(), "kind" => "video"),
            audio_packets: metrics::counter!("livesale_media_forwarded_packets_total", "show" => show.clone(), "kind" => "audio"),
            audio_bytes: metrics::counter!("livesale_media_forwarded_bytes_total", "show" => show.clone(), "kind" => "audio"),
            unsupported: metrics::counter!("livesale_media_dropped_packets_total", "reason" => "codec_not_negotiated"),
            waiting: metrics::counter!("livesale_media_dropped_packets_total", "reason" => "viewer_waits_for_keyframe"),
            write_errors: metrics::counter!("livesale_media_dropped_packets_total", "reason" => "write_error"),
        }
    }
}

/// A write to the viewer's leg failed (the packet is lost; the connection may be gone).
struct WriteFailed;

/// A viewer's writer task: pops its queue, rewrites each packet for its leg and writes it.
struct Writer {
    legs: Legs,
    following: Following,
    counters: Counters,
}

impl Writer {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Item>,
        mut state: watch::Receiver<RTCPeerConnectionState>,
        _port: peer::PortLease,
    ) {
        if !connected(&mut state, &mut rx).await {
            return;
        }
        // Anything queued while connecting is stale; start from a keyframe.
        while rx.try_recv().is_ok() {}
        if let Some(v) = self.legs.video.as_mut() {
            v.learn_payload_types().await;
        }
        while let Some(item) = rx.recv().await {
            if self.forward(item).await.is_err()
                && matches!(
                    *state.borrow(),
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                )
            {
                return;
            }
        }
    }

    /// Rewrites one packet for its leg and writes it (or drops it, and says why in the
    /// counters).
    async fn forward(&mut self, item: Item) -> Result<(), WriteFailed> {
        let is_video = item.source.codec.is_video();
        let Some(leg) = (if is_video {
            self.legs.video.as_mut()
        } else {
            self.legs.audio.as_mut()
        }) else {
            return Ok(());
        };
        let Some(pt) = leg.pt(item.source.codec) else {
            self.counters.unsupported.increment(1);
            return Ok(());
        };
        let verdict = leg.rewriter.push(item.incoming());
        let (seq, ts) = match verdict {
            Verdict::Send { seq, ts } => (seq, ts),
            Verdict::WantKeyframe => {
                self.counters.waiting.increment(1);
                item.source.want_keyframe();
                return Ok(());
            }
            Verdict::Drop => return Ok(()),
        };
        if is_video {
            let mut f = self.following.lock().unwrap_or_else(|p| p.into_inner());
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
                let (packets, sent) = if is_video {
                    (&self.counters.video_packets, &self.counters.video_bytes)
                } else {
                    (&self.counters.audio_packets, &self.counters.audio_bytes)
                };
                packets.increment(1);
                sent.increment(bytes);
                Ok(())
            }
            Err(e) => {
                self.counters.write_errors.increment(1);
                tracing::debug!(error = %e, "write to a viewer failed");
                Err(WriteFailed)
            }
        }
    }
}

/// Waits for the connection: packets before it would be lost on the way, and the numbering
/// a player sees must start with a keyframe. False if the session ended first.
async fn connected(
    state: &mut watch::Receiver<RTCPeerConnectionState>,
    rx: &mut mpsc::Receiver<Item>,
) -> bool {
    loop {
        let current = *state.borrow_and_update();
        match current {
            RTCPeerConnectionState::Connected => return true,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => return false,
            _ => {}
        }
        tokio::select! {
            changed = state.changed() => if changed.is_err() { return false },
            item = rx.recv() => if item.is_none() { return false },
        }
    }
}
