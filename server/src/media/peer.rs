//! Building peer connections: codecs, interceptors, ICE settings, the UDP port range, and
//! answering an offer with every candidate in the answer (WHIP/WHEP do not trickle here).

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::interceptor::{
    Attribute, Interceptor, NackResponderBuilder, Packet, SenderReportBuilder, Slot, StreamInfo,
    TaggedPacket,
};
use rtc::peer_connection::transport::RTCIceCandidateType;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::rtp_sender::{RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters};
use rtc::sansio::Protocol;
use tokio::sync::watch;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCIceServer, RTCSessionDescription, Registry,
    SettingEngineBuilder, register_default_interceptors,
};

use super::codec::Codec;
use super::{IceServer, MediaConfig, MediaError};

/// Payload types we register. An answer follows the offerer's numbering; these only matter
/// when a peer offers a codec without a number we know.
const PT_VP8: u8 = 96;
const PT_H264_42E01F: u8 = 102;
const PT_H264_42001F: u8 = 103;
const PT_H264_42C01F: u8 = 104;
const PT_OPUS: u8 = 111;

fn video_feedback() -> Vec<RTCPFeedback> {
    [
        ("nack", ""),
        ("nack", "pli"),
        ("ccm", "fir"),
        ("goog-remb", ""),
    ]
    .iter()
    .map(|(typ, parameter)| RTCPFeedback {
        typ: (*typ).into(),
        parameter: (*parameter).into(),
    })
    .collect()
}

fn codec(mime: &str, clock_rate: u32, channels: u16, fmtp: &str, pt: u8) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.into(),
            clock_rate,
            channels,
            sdp_fmtp_line: fmtp.into(),
            rtcp_feedback: if mime.starts_with("video/") {
                video_feedback()
            } else {
                vec![]
            },
        },
        payload_type: pt,
    }
}

/// The codec parameters of a family, as registered in a media engine.
pub fn codec_parameters(family: Codec) -> Vec<RTCRtpCodecParameters> {
    match family {
        Codec::Vp8 => vec![codec("video/VP8", 90_000, 0, "", PT_VP8)],
        Codec::H264 => ["42e01f", "42001f", "42c01f"]
            .iter()
            .zip([PT_H264_42E01F, PT_H264_42001F, PT_H264_42C01F])
            .map(|(profile, pt)| {
                codec(
                    "video/H264",
                    90_000,
                    0,
                    &format!(
                        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={profile}"
                    ),
                    pt,
                )
            })
            .collect(),
        Codec::Opus => vec![codec(
            "audio/opus",
            48_000,
            2,
            "minptime=10;useinbandfec=1",
            PT_OPUS,
        )],
    }
}

/// Which way a connection's media goes, for its interceptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// A camera: the server receives.
    Receive,
    /// A viewer: the server only sends.
    Send,
}

/// A media engine with these video families (and Opus), the interceptors the leg needs, and
/// the keyframe-request relay.
///
/// A camera leg gets the default set (NACK both ways, RTCP reports, TWCC feedback). A viewer
/// leg only sends, so it gets only what a sender uses: the NACK responder (retransmissions
/// from its send buffer) and sender reports. Every interceptor in the chain handles every
/// packet (each one queues and dequeues it), and a viewer leg carries a copy of every packet
/// of the show, so the receive-side ones (NACK generator, receiver reports, TWCC receiver)
/// cost CPU per forwarded packet for nothing; see docs/benchmarks.md (media).
fn engine(video: &[Codec], leg: Leg) -> Result<(MediaEngine, Registry), MediaError> {
    let mut engine = MediaEngine::default();
    for family in video {
        for params in codec_parameters(*family) {
            engine
                .register_codec(params, RtpCodecKind::Video)
                .map_err(MediaError::internal)?;
        }
    }
    for params in codec_parameters(Codec::Opus) {
        engine
            .register_codec(params, RtpCodecKind::Audio)
            .map_err(MediaError::internal)?;
    }
    let registry = match leg {
        Leg::Receive => register_default_interceptors(Registry::new(), &mut engine)
            .map_err(MediaError::internal)?,
        // The codecs already carry the nack, nack pli and ccm fir feedback (video_feedback).
        Leg::Send => Registry::new()
            .with(Slot::NackResponder, NackResponderBuilder::new().build())
            .with(Slot::SenderReport, SenderReportBuilder::new().build()),
    };
    let registry = registry.with(Slot::from(14_000), KeyframeRequests::default());
    Ok((engine, registry))
}

/// Hands inbound keyframe requests (PLI, FIR) to the application, which relays them to the
/// camera on air; every other inbound RTCP packet stays with the interceptors. Without it the
/// 0.21 core never delivers RTCP about a sent track to the application. Clients built on
/// webrtc-rs need the same to answer keyframe requests (the load tool's and the tests'
/// publishers use this one).
#[derive(Default)]
pub struct KeyframeRequests {
    reads: VecDeque<TaggedPacket>,
    writes: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let wanted: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| {
                    let any = p.as_any();
                    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
                })
                .cloned()
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(wanted);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.writes.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

/// The UDP (and ICE-TCP) ports of the configured range that sessions of this node hold.
pub struct PortPool {
    range: Option<(u16, u16)>,
    state: Mutex<(BTreeSet<u16>, u16)>,
}

/// A port held by a session; it goes back to the pool when dropped.
pub struct PortLease {
    pool: Arc<PortPool>,
    pub port: u16,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        if self.pool.range.is_some() {
            let mut state = self.pool.state.lock().unwrap_or_else(|p| p.into_inner());
            state.0.remove(&self.port);
        }
    }
}

impl PortPool {
    pub fn new(range: Option<(u16, u16)>) -> Arc<PortPool> {
        let start = range.map(|(lo, _)| lo).unwrap_or(0);
        Arc::new(PortPool {
            range,
            state: Mutex::new((BTreeSet::new(), start)),
        })
    }

    /// Ports to try for one session, in order: the next free ones of the range (a few, in
    /// case something else on the host holds one), or the ephemeral port 0 without a range.
    fn candidates(self: &Arc<Self>) -> Vec<PortLease> {
        let Some((lo, hi)) = self.range else {
            return vec![PortLease {
                pool: self.clone(),
                port: 0,
            }];
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let size = u32::from(hi - lo) + 1;
        let mut out = Vec::new();
        let mut port = state.1;
        for _ in 0..size {
            if port < lo || port > hi {
                port = lo;
            }
            if !state.0.contains(&port) {
                state.0.insert(port);
                out.push(PortLease {
                    pool: self.clone(),
                    port,
                });
                if out.len() == 4 {
                    port = port.wrapping_add(1);
                    break;
                }
            }
            port = port.wrapping_add(1);
        }
        state.1 = port;
        out
    }
}

/// What a built connection needs from its owner.
pub struct Built {
    pub pc: Arc<dyn PeerConnection>,
    pub port: PortLease,
}

/// Builds a peer connection bound to one port of the range (trying the next on a bind
/// failure), with `video` as its video codec families.
pub async fn build(
    config: &MediaConfig,
    ports: &Arc<PortPool>,
    video: &[Codec],
    leg: Leg,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<Built, MediaError> {
    let mut last_error = None;
    let candidates = ports.candidates();
    if candidates.is_empty() {
        return Err(MediaError::PortsExhausted);
    }
    for lease in candidates {
        let (engine, registry) = engine(video, leg)?;
        let mut settings = SettingEngineBuilder::new()
            // A camera that vanishes is noticed within seconds, so the program falls back fast.
            .with_ice_timeouts(
                Some(Duration::from_secs(3)),
                Some(Duration::from_secs(6)),
                Some(Duration::from_secs(1)),
            )
            .with_include_loopback_candidate(true);
        if !config.public_ips.is_empty() {
            settings =
                settings.with_nat_1to1_ips(config.public_ips.clone(), RTCIceCandidateType::Host);
        }
        // The server's own agent uses the STUN servers (to learn its public address when no
        // --media-public-ips is given). TURN servers are only advertised: they relay for
        // clients behind strict firewalls, while the server itself must be reachable anyway,
        // and an allocation it cannot make would only delay every answer.
        let stun: Vec<_> = config
            .ice_servers
            .iter()
            .filter(|s| s.url.starts_with("stun:"))
            .map(IceServer::to_rtc)
            .collect();
        let rtc_config = RTCConfigurationBuilder::new()
            .with_ice_servers(stun)
            .build();
        let addr = SocketAddr::new(config.ip, lease.port);
        let tcp = if config.ice_tcp {
            vec![addr.to_string()]
        } else {
            Vec::new()
        };
        let built = PeerConnectionBuilder::new()
            .with_configuration(rtc_config)
            .with_media_engine(engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings.build())
            .with_handler(handler.clone())
            .with_udp_addrs(vec![addr.to_string()])
            .with_tcp_addrs(tcp)
            .build()
            .await;
        match built {
            Ok(pc) => {
                return Ok(Built {
                    pc: Arc::new(pc),
                    port: lease,
                });
            }
            Err(e) => {
                tracing::warn!(port = lease.port, error = %e, "cannot bind a media socket");
                last_error = Some(e);
            }
        }
    }
    Err(MediaError::internal(format!(
        "no media port could be bound: {}",
        last_error.map(|e| e.to_string()).unwrap_or_default()
    )))
}

/// Applies the offer, answers it, and waits (bounded) until every local candidate is in the
/// answer.
pub async fn answer(
    pc: &Arc<dyn PeerConnection>,
    offer: RTCSessionDescription,
    gathered: &mut watch::Receiver<bool>,
) -> Result<String, MediaError> {
    pc.set_remote_description(offer)
        .await
        .map_err(|e| MediaError::BadSdp(format!("the offer cannot be applied: {e}")))?;
    let answer = pc
        .create_answer(None)
        .await
        .map_err(|e| MediaError::BadSdp(format!("the offer cannot be answered: {e}")))?;
    pc.set_local_description(answer)
        .await
        .map_err(MediaError::internal)?;
    // Host candidates are immediate; a STUN answer takes a round trip. An unreachable STUN
    // server delays answers by this much at most.
    let _ = tokio::time::timeout(Duration::from_secs(2), gathered.wait_for(|done| *done)).await;
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| MediaError::internal("no local description after answering"))
}

/// Reports the end of ICE gathering to a waiting [`answer`].
pub fn gathering_done(tx: &watch::Sender<bool>, state: RTCIceGatheringState) {
    if state == RTCIceGatheringState::Complete {
        let _ = tx.send(true);
    }
}

impl IceServer {
    fn to_rtc(&self) -> RTCIceServer {
        RTCIceServer {
            urls: vec![self.url.clone()],
            username: self.username.clone().unwrap_or_default(),
            credential: self.credential.clone().unwrap_or_default(),
        }
    }
}
