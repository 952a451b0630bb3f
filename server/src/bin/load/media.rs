//! The media load: one camera publishes a synthetic program feed over WHIP, N in-process
//! webrtc-rs viewers watch it over WHEP, and every packet is counted and timed.
//!
//! The camera sends VP8-shaped RTP at a set bitrate: `--fps` frames a second, a keyframe every
//! `--keyframe-interval-s` (and whenever a PLI arrives), a keyframe `--keyframe-size` times as
//! big as a delta frame, each frame cut into packets of at most `--packet-bytes`, sent as a
//! burst (an encoder without a pacer). The payload starts like VP8 (payload descriptor, then
//! the frame header's keyframe bit) so the server's keyframe logic sees real keyframes, then
//! carries the camera's wall-clock send time and its own packet counter. Opus-shaped audio
//! (20 ms packets) goes alongside unless `--no-audio`.
//!
//! The server rewrites sequence numbers per viewer (a viewer that lost packets in the server's
//! queue resumes at the next keyframe with its numbering closed), so loss is counted end to
//! end: a packet is expected by every viewer once for each packet the camera sent in a
//! measured phase (by its send time), and delivered when a viewer reads it. RTP sequence gaps
//! (what a player's jitter buffer sees) are counted too.
//!
//! Timeline: camera → tokens → viewers connect → warm-up → phase "full" (everyone reads) →
//! phase "stall" (`--stall-fraction` of the viewers stop reading their tracks; the others go
//! on) → drain → viewers close → the server's memory after they left. The server's RSS is
//! sampled all along (`--server-pid`), its CPU time and its forwarded-packet counter
//! (`/metrics`) are read at each phase boundary.
//!
//! Each viewer peer is kept cheap: no interceptors at all (no NACK generator, no receiver
//! reports, no TWCC), one task per viewer reading both tracks. Its offer still advertises NACK
//! and PLI feedback like a browser's, so the server's side of every leg is what a browser
//! would get.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rtc::interceptor::Slot;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, Registry,
    register_default_interceptors,
};

use livesale::media::KeyframeRequests;

use super::counts::Counts;
use super::hist::Hist;
use super::http1::Http;
use super::report::{MediaReport, MediaServer, Snapshot, ToolStats};
use super::sys;

#[derive(Debug, Clone, clap::Args)]
pub struct MediaArgs {
    /// Server base URL (loopback unless --allow-remote).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's `--admin-token` (to create the creator and the show).
    #[arg(long, env = "LIVESALE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// WHEP viewers to connect.
    #[arg(long, default_value_t = 300)]
    pub viewers: usize,
    /// Video bitrate of the camera, kbit/s (averaged over a keyframe interval).
    #[arg(long, default_value_t = 1500.0)]
    pub video_kbps: f64,
    /// Video frames per second.
    #[arg(long, default_value_t = 30.0)]
    pub fps: f64,
    /// Seconds between scheduled keyframes (a PLI brings one forward).
    #[arg(long, default_value_t = 2.0)]
    pub keyframe_interval_s: f64,
    /// How many times bigger than a delta frame a keyframe is.
    #[arg(long, default_value_t = 5.0)]
    pub keyframe_size: f64,
    /// Largest RTP payload, bytes.
    #[arg(long, default_value_t = 1200)]
    pub packet_bytes: usize,
    /// Audio bitrate, kbit/s (20 ms packets).
    #[arg(long, default_value_t = 64.0)]
    pub audio_kbps: f64,
    /// Video only.
    #[arg(long)]
    pub no_audio: bool,
    /// Traffic to everyone before the measured phases (not counted).
    #[arg(long, default_value_t = 5.0)]
    pub warmup_s: f64,
    /// Length of the "full" phase: every viewer reads.
    #[arg(long, default_value_t = 20.0)]
    pub duration_s: f64,
    /// Fraction of the viewers that stop reading their tracks after the full phase
    /// (0: no stall phase).
    #[arg(long, default_value_t = 0.0)]
    pub stall_fraction: f64,
    /// Length of the stall phase.
    #[arg(long, default_value_t = 30.0)]
    pub stall_s: f64,
    /// Time to keep reading after the last measured packet was sent.
    #[arg(long, default_value_t = 2.0)]
    pub drain_s: f64,
    /// Viewer handshakes (offer, WHEP, ICE, DTLS) in flight at once.
    #[arg(long, default_value_t = 8)]
    pub connect_concurrency: usize,
    /// Longest the connect phase may take before traffic is measured anyway.
    #[arg(long, default_value_t = 180.0)]
    pub connect_budget_s: f64,
    /// The server's pid, to read its memory and CPU time from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// How often the server's RSS is sampled.
    #[arg(long, default_value_t = 1000)]
    pub rss_interval_ms: u64,
    /// A name for this run in the report.
    #[arg(long, default_value = "media")]
    pub label: String,
    /// Also write the JSON summary to this file.
    #[arg(long)]
    pub json_out: Option<std::path::PathBuf>,
    /// Allow a server that is not on a loopback address.
    #[arg(long)]
    pub allow_remote: bool,
}

const VIDEO: usize = 0;
const AUDIO: usize = 1;
const FULL: usize = 0;
const STALL: usize = 1;
const READERS: usize = 0;
const STALLED: usize = 1;

type Counters2 = [AtomicU64; 2];

/// Counters shared by the camera and every viewer task.
#[derive(Default)]
struct Shared {
    attempts_done: AtomicU64,
    /// Connected viewers by group (readers, stallers).
    connected: Counters2,
    failed: AtomicU64,
    /// Viewers whose connection failed or closed before the end.
    lost: AtomicU64,
    /// Packets the camera sent, by phase and kind.
    sent: [Counters2; 2],
    sent_bytes: [Counters2; 2],
    sent_total: Counters2,
    /// Packets delivered, by group, phase and kind (send time decides the phase).
    delivered: [[Counters2; 2]; 2],
    delivered_bytes: [[Counters2; 2]; 2],
    /// Every packet any viewer read (progress lines).
    read_total: AtomicU64,
    rtp_gaps: AtomicU64,
    keyframes: AtomicU64,
    plis: AtomicU64,
    late_frames: AtomicU64,
    hist: Hist,
    errors: Counts,
}

/// The measured phases, on the wall clock (send times), and the tokio instants that end them.
#[derive(Debug, Clone, Copy)]
struct Plan {
    window_start_us: u64,
    full_end_us: u64,
    /// The stall phase starts a little after the full one ends: the stalling viewers read
    /// the full phase's packets still in flight first, then stop (`stall_at`).
    stall_start_us: u64,
    stall_end_us: u64,
    stall_at: Instant,
    close_at: Instant,
}

impl Plan {
    fn phase(&self, send_us: u64) -> Option<usize> {
        if send_us < self.window_start_us {
            None
        } else if send_us < self.full_end_us {
            Some(FULL)
        } else if send_us < self.stall_start_us {
            None
        } else if send_us < self.stall_end_us {
            Some(STALL)
        } else {
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// Peers
// ---------------------------------------------------------------------------------------

fn codec(mime: &str, clock: u32, channels: u16, fmtp: &str, pt: u8) -> RTCRtpCodecParameters {
    let rtcp_feedback = if mime.starts_with("video") {
        [("nack", ""), ("nack", "pli"), ("ccm", "fir")]
            .iter()
            .map(|(t, p)| RTCPFeedback {
                typ: (*t).into(),
                parameter: (*p).into(),
            })
            .collect()
    } else {
        Vec::new()
    };
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.into(),
            clock_rate: clock,
            channels,
            sdp_fmtp_line: fmtp.into(),
            rtcp_feedback,
        },
        payload_type: pt,
    }
}

fn vp8() -> RTCRtpCodecParameters {
    codec("video/VP8", 90_000, 0, "", 96)
}

fn opus() -> RTCRtpCodecParameters {
    codec("audio/opus", 48_000, 2, "minptime=10;useinbandfec=1", 111)
}

struct Events {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    tracks: mpsc::UnboundedSender<Arc<dyn TrackRemote>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.send(true);
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tracks.send(track);
    }
}

struct Peer {
    pc: Arc<dyn PeerConnection>,
    gathered: watch::Receiver<bool>,
    state: watch::Receiver<RTCPeerConnectionState>,
    tracks: mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
}

/// A peer on loopback. The camera gets the default interceptors (it is one, like a browser
/// publishing); viewers get none.
async fn peer(camera: bool, ip: std::net::IpAddr) -> Result<Peer, String> {
    let mut engine = MediaEngine::default();
    engine
        .register_codec(vp8(), RtpCodecKind::Video)
        .map_err(|e| format!("codec: {e}"))?;
    engine
        .register_codec(opus(), RtpCodecKind::Audio)
        .map_err(|e| format!("codec: {e}"))?;
    let registry = if camera {
        register_default_interceptors(Registry::new(), &mut engine)
            .map_err(|e| format!("interceptors: {e}"))?
            .with(Slot::from(14_000), KeyframeRequests::default())
    } else {
        Registry::new()
    };
    let (gathered_tx, gathered) = watch::channel(false);
    let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
    let (tracks_tx, tracks) = mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Events {
            gathered: gathered_tx,
            state: state_tx,
            tracks: tracks_tx,
        }))
        .with_udp_addrs(vec![SocketAddr::new(ip, 0).to_string()])
        .build()
        .await
        .map_err(|e| format!("peer: {e}"))?;
    Ok(Peer {
        pc: Arc::new(pc),
        gathered,
        state,
        tracks,
    })
}

impl Peer {
    /// Offers (every candidate in the offer), POSTs it, applies the answer and waits for the
    /// connection. Returns the session URL.
    async fn negotiate(
        &mut self,
        server: SocketAddr,
        path: &str,
        token: &str,
    ) -> Result<String, String> {
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(|e| format!("offer:{e}"))?;
        self.pc
            .set_local_description(offer)
            .await
            .map_err(|e| format!("offer:{e}"))?;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.gathered.wait_for(|g| *g)).await;
        let sdp = self
            .pc
            .local_description()
            .await
            .ok_or("offer:no_local_description")?
            .sdp;
        let mut http = Http::new(server, None);
        let auth = format!("Bearer {token}");
        let r = http
            .request(
                "POST",
                path,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/sdp"),
                ],
                Some(sdp.as_bytes()),
                false,
            )
            .await
            .map_err(|e| format!("post:{:?}", e.kind()))?;
        if r.status != 201 {
            return Err(format!("post:{}", r.code()));
        }
        let answer = String::from_utf8_lossy(&r.body).to_string();
        let answer = RTCSessionDescription::answer(answer).map_err(|_| "answer:parse")?;
        self.pc
            .set_remote_description(answer)
            .await
            .map_err(|_| "answer:apply")?;
        tokio::time::timeout(
            Duration::from_secs(20),
            self.state.wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Connected
                        | RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Closed
                )
            }),
        )
        .await
        .map_err(|_| "connect:timeout")?
        .map_err(|_| "connect:gone")?;
        if *self.state.borrow() != RTCPeerConnectionState::Connected {
            return Err(format!("connect:{:?}", *self.state.borrow()).to_lowercase());
        }
        Ok(r.location.unwrap_or_default())
    }
}

// ---------------------------------------------------------------------------------------
// The camera
// ---------------------------------------------------------------------------------------

/// Where the camera's payload carries its send time and counter.
const VIDEO_META_AT: usize = 2;
const AUDIO_META_AT: usize = 1;

/// A video payload: VP8 payload descriptor (S=1, PID=0 on a frame's first packet), the frame
/// header's first byte (P=0: keyframe), then send time (µs) and counter, zero-filled to `len`.
fn video_payload(first: bool, key: bool, send_us: u64, counter: u32, len: usize) -> Bytes {
    let mut b = vec![0u8; len.max(VIDEO_META_AT + 12)];
    b[0] = if first { 0x10 } else { 0x00 };
    b[1] = if first && key { 0x00 } else { 0x01 };
    b[VIDEO_META_AT..VIDEO_META_AT + 8].copy_from_slice(&send_us.to_be_bytes());
    b[VIDEO_META_AT + 8..VIDEO_META_AT + 12].copy_from_slice(&counter.to_be_bytes());
    Bytes::from(b)
}

fn audio_payload(send_us: u64, counter: u32, len: usize) -> Bytes {
    let mut b = vec![0u8; len.max(AUDIO_META_AT + 12)];
    b[0] = 0xFC; // an Opus TOC byte (CELT FB 20 ms)
    b[AUDIO_META_AT..AUDIO_META_AT + 8].copy_from_slice(&send_us.to_be_bytes());
    b[AUDIO_META_AT + 8..AUDIO_META_AT + 12].copy_from_slice(&counter.to_be_bytes());
    Bytes::from(b)
}

/// The camera's send time in a payload it made.
fn send_time(kind: usize, payload: &[u8]) -> Option<u64> {
    let at = if kind == VIDEO {
        VIDEO_META_AT
    } else {
        AUDIO_META_AT
    };
    let bytes: [u8; 8] = payload.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// Frame sizes that average `kbps` over a keyframe interval: (keyframe bytes, delta bytes,
/// frames per interval).
fn frame_sizes(kbps: f64, fps: f64, interval_s: f64, key_factor: f64) -> (usize, usize, u64) {
    let gop = (fps * interval_s).round().max(1.0);
    let bytes = kbps * 1000.0 / 8.0 * gop / fps;
    let delta = bytes / (gop - 1.0 + key_factor.max(1.0));
    (
        (delta * key_factor.max(1.0)).round() as usize,
        delta.round().max(1.0) as usize,
        gop as u64,
    )
}

struct Camera {
    peer: Peer,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn start_camera(
    server: SocketAddr,
    show: &str,
    token: &str,
    args: &MediaArgs,
    shared: Arc<Shared>,
    plan_rx: watch::Receiver<Option<Plan>>,
) -> Result<Camera, String> {
    let mut peer = peer(true, server.ip()).await?;
    let video_ssrc = rand::random::<u32>();
    let audio_ssrc = video_ssrc.wrapping_add(1);
    let track = |kind: RtpCodecKind, params: &RTCRtpCodecParameters, ssrc: u32| {
        let label = if kind == RtpCodecKind::Video {
            "video"
        } else {
            "audio"
        };
        Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "bench-camera".into(),
            format!("{label}-{ssrc:08x}"),
            label.into(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: params.rtp_codec.clone(),
                ..Default::default()
            }],
        )))
    };
    let video = track(RtpCodecKind::Video, &vp8(), video_ssrc);
    let video_sender = peer
        .pc
        .add_track(video.clone() as Arc<dyn TrackLocal>)
        .await
        .map_err(|e| format!("camera track: {e}"))?;
    let audio = if args.no_audio {
        None
    } else {
        let audio = track(RtpCodecKind::Audio, &opus(), audio_ssrc);
        let sender = peer
            .pc
            .add_track(audio.clone() as Arc<dyn TrackLocal>)
            .await
            .map_err(|e| format!("camera track: {e}"))?;
        Some((audio, sender))
    };
    peer.negotiate(server, &format!("/api/shows/{show}/whip"), token)
        .await
        .map_err(|e| format!("the camera could not publish: {e}"))?;
    let pt = |params: rtc::rtp_transceiver::rtp_sender::RTCRtpSendParameters, mime: &str| {
        params
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
            .map(|c| c.payload_type)
    };
    let video_pt = video_sender
        .get_parameters()
        .await
        .ok()
        .and_then(|p| pt(p, "video/VP8"))
        .ok_or("the camera's answer has no VP8")?;
    let stop = Arc::new(AtomicBool::new(false));
    let want_key = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    {
        // Keyframe requests from the server.
        let (video, want_key, shared) = (video.clone(), want_key.clone(), shared.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(event) = video.poll().await {
                if let TrackLocalEvent::OnRtcpPacket(packets) = event
                    && packets.iter().any(|p| {
                        let any = p.as_any();
                        any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
                    })
                {
                    shared.plis.fetch_add(1, Ordering::Relaxed);
                    want_key.store(true, Ordering::Relaxed);
                }
            }
        }));
    }
    let (key_bytes, delta_bytes, gop) = frame_sizes(
        args.video_kbps,
        args.fps,
        args.keyframe_interval_s,
        args.keyframe_size,
    );
    let max_payload = args.packet_bytes.max(64);
    let fps = args.fps.max(1.0);
    {
        let (stop, shared, plan_rx) = (stop.clone(), shared.clone(), plan_rx.clone());
        tasks.push(tokio::spawn(async move {
            let period = Duration::from_secs_f64(1.0 / fps);
            let mut tick = tokio::time::interval(period);
            let mut seq: u16 = rand::random();
            let ts0: u32 = rand::random();
            let mut counter: u32 = 0;
            let mut frame: u64 = 0;
            let mut since_key: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let due = tick.tick().await;
                if due.elapsed() > period {
                    shared.late_frames.fetch_add(1, Ordering::Relaxed);
                }
                let key = want_key.swap(false, Ordering::Relaxed) || since_key >= gop;
                if key {
                    since_key = 0;
                    shared.keyframes.fetch_add(1, Ordering::Relaxed);
                }
                since_key += 1;
                let size = if key { key_bytes } else { delta_bytes };
                let packets = size.div_ceil(max_payload).max(1);
                let ts = ts0.wrapping_add((frame as f64 * 90_000.0 / fps) as u32);
                let plan = *plan_rx.borrow();
                for i in 0..packets {
                    let len = if i + 1 == packets {
                        size - max_payload * (packets - 1)
                    } else {
                        max_payload
                    };
                    let now = sys::now_us();
                    let packet = rtc::rtp::Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            marker: i + 1 == packets,
                            payload_type: video_pt,
                            sequence_number: seq,
                            timestamp: ts,
                            ssrc: video_ssrc,
                            ..Default::default()
                        },
                        payload: video_payload(i == 0, key, now, counter, len),
                    };
                    let bytes = packet.payload.len() as u64;
                    seq = seq.wrapping_add(1);
                    counter = counter.wrapping_add(1);
                    if video.write_rtp(packet).await.is_err() {
                        shared.errors.bump("camera:write");
                        return;
                    }
                    shared.sent_total[VIDEO].fetch_add(1, Ordering::Relaxed);
                    if let Some(p) = plan.and_then(|pl| pl.phase(now)) {
                        shared.sent[p][VIDEO].fetch_add(1, Ordering::Relaxed);
                        shared.sent_bytes[p][VIDEO].fetch_add(bytes, Ordering::Relaxed);
                    }
                }
                frame += 1;
            }
        }));
    }
    if let Some((audio, sender)) = audio {
        let audio_pt = sender
            .get_parameters()
            .await
            .ok()
            .and_then(|p| pt(p, "audio/opus"))
            .ok_or("the camera's answer has no Opus")?;
        let len = (args.audio_kbps * 1000.0 / 8.0 * 0.02).round().max(16.0) as usize;
        let drain = audio.clone();
        tasks.push(tokio::spawn(async move {
            while drain.poll().await.is_some() {}
        }));
        let (stop, shared, plan_rx) = (stop.clone(), shared.clone(), plan_rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            let mut seq: u16 = rand::random();
            let mut ts: u32 = rand::random();
            let mut counter: u32 = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let now = sys::now_us();
                let packet = rtc::rtp::Packet {
                    header: rtc::rtp::header::Header {
                        version: 2,
                        payload_type: audio_pt,
                        sequence_number: seq,
                        timestamp: ts,
                        ssrc: audio_ssrc,
                        ..Default::default()
                    },
                    payload: audio_payload(now, counter, len),
                };
                let bytes = packet.payload.len() as u64;
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(960);
                counter = counter.wrapping_add(1);
                if audio.write_rtp(packet).await.is_err() {
                    shared.errors.bump("camera:write");
                    return;
                }
                shared.sent_total[AUDIO].fetch_add(1, Ordering::Relaxed);
                let plan = *plan_rx.borrow();
                if let Some(p) = plan.and_then(|pl| pl.phase(now)) {
                    shared.sent[p][AUDIO].fetch_add(1, Ordering::Relaxed);
                    shared.sent_bytes[p][AUDIO].fetch_add(bytes, Ordering::Relaxed);
                }
            }
        }));
    }
    Ok(Camera { peer, stop, tasks })
}

// ---------------------------------------------------------------------------------------
// Viewers
// ---------------------------------------------------------------------------------------

struct Ctx {
    server: SocketAddr,
    show: String,
    audio: bool,
    sem: Semaphore,
}

/// RTP sequence continuity of one received stream.
#[derive(Debug, Default, Clone, Copy)]
struct SeqTrack {
    last: Option<u16>,
    /// Sequence numbers skipped (never seen between two packets that were).
    gaps: u64,
    /// Packets that were not newer than the last one (repeats, reordering).
    old: u64,
}

impl SeqTrack {
    fn push(&mut self, seq: u16) {
        match self.last {
            None => self.last = Some(seq),
            Some(last) => {
                let d = seq.wrapping_sub(last);
                if d == 0 || d >= 0x8000 {
                    self.old += 1;
                } else {
                    self.gaps += u64::from(d - 1);
                    self.last = Some(seq);
                }
            }
        }
    }
}

/// One viewer's counts, added to the shared ones when it ends.
#[derive(Default)]
struct Tally {
    delivered: [[u64; 2]; 2],
    bytes: [[u64; 2]; 2],
    seq: [SeqTrack; 2],
}

async fn next_event(track: &Option<Arc<dyn TrackRemote>>) -> Option<TrackRemoteEvent> {
    match track {
        Some(t) => t.poll().await,
        None => std::future::pending().await,
    }
}

async fn open_viewer(ctx: &Ctx, token: &str) -> Result<(Peer, String), String> {
    let ip = ctx.server.ip();
    let mut p = peer(false, ip).await?;
    let mut kinds = vec![RtpCodecKind::Video];
    if ctx.audio {
        kinds.push(RtpCodecKind::Audio);
    }
    for kind in kinds {
        p.pc.add_transceiver_from_kind(
            kind,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            }),
        )
        .await
        .map_err(|_| "transceiver")?;
    }
    let session = p
        .negotiate(ctx.server, &format!("/api/shows/{}/whep", ctx.show), token)
        .await?;
    Ok((p, session))
}

async fn viewer(
    ctx: Arc<Ctx>,
    sh: Arc<Shared>,
    token: Option<String>,
    group: usize,
    mut plan_rx: watch::Receiver<Option<Plan>>,
) {
    let Some(token) = token else {
        sh.failed.fetch_add(1, Ordering::Relaxed);
        sh.attempts_done.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let permit = ctx.sem.acquire().await;
    let opened = tokio::time::timeout(Duration::from_secs(30), open_viewer(&ctx, &token)).await;
    drop(permit);
    let (mut peer, _session) = match opened {
        Ok(Ok(p)) => p,
        Ok(Err(kind)) => {
            sh.errors.bump(kind);
            sh.failed.fetch_add(1, Ordering::Relaxed);
            sh.attempts_done.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(_) => {
            sh.errors.bump("open:timeout");
            sh.failed.fetch_add(1, Ordering::Relaxed);
            sh.attempts_done.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    sh.connected[group].fetch_add(1, Ordering::Relaxed);
    sh.attempts_done.fetch_add(1, Ordering::Relaxed);

    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let mut plan: Option<Plan> = *plan_rx.borrow();
    let close_sleep = tokio::time::sleep_until(plan.map(|p| p.close_at).unwrap_or(far));
    let stall_sleep = tokio::time::sleep_until(match (plan, group) {
        (Some(p), STALLED) => p.stall_at,
        _ => far,
    });
    tokio::pin!(close_sleep, stall_sleep);
    let mut video: Option<Arc<dyn TrackRemote>> = None;
    let mut audio: Option<Arc<dyn TrackRemote>> = None;
    let mut tracks_open = true;
    let mut stalled = false;
    let mut tally = Tally::default();
    let mut state = peer.state.clone();
    let mut ended_by_us = false;
    loop {
        tokio::select! {
            biased;
            _ = &mut close_sleep => {
                ended_by_us = true;
                break;
            }
            _ = &mut stall_sleep, if !stalled && group == STALLED => {
                stalled = true;
            }
            changed = plan_rx.changed(), if plan.is_none() => {
                if changed.is_err() {
                    continue;
                }
                plan = *plan_rx.borrow();
                if let Some(p) = plan {
                    close_sleep.as_mut().reset(p.close_at);
                    if group == STALLED {
                        stall_sleep.as_mut().reset(p.stall_at);
                    }
                }
            }
            track = peer.tracks.recv(), if tracks_open => {
                match track {
                    Some(t) => {
                        if t.kind().await == RtpCodecKind::Video {
                            video = Some(t);
                        } else {
                            audio = Some(t);
                        }
                    }
                    None => tracks_open = false,
                }
            }
            changed = state.changed() => {
                if changed.is_err() {
                    break;
                }
                let s = *state.borrow_and_update();
                if matches!(s, RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed) {
                    sh.errors.bump(format!("viewer:{s:?}").to_lowercase());
                    break;
                }
            }
            event = next_event(&video), if video.is_some() && !stalled => {
                match event {
                    Some(TrackRemoteEvent::OnRtpPacket(p)) => on_packet(&sh, &mut tally, plan.as_ref(), VIDEO, &p),
                    Some(TrackRemoteEvent::OnEnded) | Some(TrackRemoteEvent::OnError) | None => video = None,
                    Some(_) => {}
                }
            }
            event = next_event(&audio), if audio.is_some() && !stalled => {
                match event {
                    Some(TrackRemoteEvent::OnRtpPacket(p)) => on_packet(&sh, &mut tally, plan.as_ref(), AUDIO, &p),
                    Some(TrackRemoteEvent::OnEnded) | Some(TrackRemoteEvent::OnError) | None => audio = None,
                    Some(_) => {}
                }
            }
        }
    }
    if !ended_by_us {
        sh.lost.fetch_add(1, Ordering::Relaxed);
    }
    for phase in [FULL, STALL] {
        for kind in [VIDEO, AUDIO] {
            sh.delivered[group][phase][kind]
                .fetch_add(tally.delivered[phase][kind], Ordering::Relaxed);
            sh.delivered_bytes[group][phase][kind]
                .fetch_add(tally.bytes[phase][kind], Ordering::Relaxed);
        }
    }
    sh.rtp_gaps.fetch_add(
        tally.seq[VIDEO].gaps + tally.seq[AUDIO].gaps,
        Ordering::Relaxed,
    );
    let _ = tokio::time::timeout(Duration::from_secs(3), peer.pc.close()).await;
}

fn on_packet(
    sh: &Shared,
    tally: &mut Tally,
    plan: Option<&Plan>,
    kind: usize,
    p: &rtc::rtp::Packet,
) {
    let now = sys::now_us();
    sh.read_total.fetch_add(1, Ordering::Relaxed);
    tally.seq[kind].push(p.header.sequence_number);
    let (Some(plan), Some(sent)) = (plan, send_time(kind, &p.payload)) else {
        return;
    };
    if let Some(phase) = plan.phase(sent) {
        tally.delivered[phase][kind] += 1;
        tally.bytes[phase][kind] += p.payload.len() as u64;
        sh.hist.record(now.saturating_sub(sent));
    }
}

// ---------------------------------------------------------------------------------------
// The server, seen from outside
// ---------------------------------------------------------------------------------------

/// Sums the samples of `metric` in a Prometheus text exposition, by the value of `label`
/// (all samples under "" when `label` is empty), keeping those whose labels contain `filter`.
pub fn prometheus_sum(
    text: &str,
    metric: &str,
    label: &str,
    filter: &str,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once('}') {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        if !labels.contains(filter) {
            continue;
        }
        let Some(value) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let key = if label.is_empty() {
            String::new()
        } else {
            labels
                .split(',')
                .find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    (k.trim() == label).then(|| v.trim().trim_matches('"').to_string())
                })
                .unwrap_or_default()
        };
        *out.entry(key).or_insert(0.0) += value;
    }
    out
}

async fn snapshot(
    server: SocketAddr,
    pid: Option<u32>,
    show: &str,
    wall: &std::time::Instant,
) -> Snapshot {
    let mut http = Http::new(server, None);
    let text = match http.request("GET", "/metrics", &[], None, false).await {
        Ok(r) if r.status == 200 => String::from_utf8_lossy(&r.body).to_string(),
        _ => String::new(),
    };
    let show_filter = format!("show=\"{show}\"");
    let forwarded = prometheus_sum(
        &text,
        "livesale_media_forwarded_packets_total",
        "",
        &show_filter,
    )
    .values()
    .sum::<f64>() as u64;
    let server_viewers = prometheus_sum(&text, "livesale_media_viewers", "", &show_filter)
        .values()
        .sum::<f64>() as u64;
    let drops = prometheus_sum(&text, "livesale_media_dropped_packets_total", "reason", "")
        .into_iter()
        .map(|(k, v)| (k, v as u64))
        .collect();
    Snapshot {
        at_s: wall.elapsed().as_secs_f64(),
        server_cpu_s: pid.and_then(sys::cpu_s),
        server_rss_kib: pid.and_then(sys::rss_kib),
        forwarded,
        drops,
        server_viewers,
        tool_cpu_s: sys::self_cpu_s(),
        read_total: 0,
        jiffies: sys::cpu_jiffies(),
    }
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

pub async fn run(args: MediaArgs) -> Result<MediaReport, String> {
    let wall = std::time::Instant::now();
    let cpu_start = sys::self_cpu_s();
    let server = super::setup::server_addr(&args.url, args.allow_remote).await?;
    let n = args.viewers;
    let stall_fraction = args.stall_fraction.clamp(0.0, 1.0);
    let stalled_n = (n as f64 * stall_fraction).round() as usize;
    let stall_s = if stalled_n > 0 {
        args.stall_s.max(0.0)
    } else {
        0.0
    };
    let shared = Arc::new(Shared::default());

    let made = super::setup::setup(server, &args.admin_token, 1, 100).await?;
    let show = made.show_id.clone();
    let camera_token =
        super::setup::camera_invite(server, &made.creator_token, &show, "Bench camera").await?;
    let (plan_tx, plan_rx) = watch::channel(None::<Plan>);
    let camera = start_camera(
        server,
        &show,
        &camera_token,
        &args,
        shared.clone(),
        plan_rx.clone(),
    )
    .await?;
    eprintln!("[media] camera on air in show {show}");

    let tokens_started = std::time::Instant::now();
    let (tokens, errors) = super::setup::viewer_tokens(server, &[], &show, n, 16, "m").await;
    shared.errors.merge(errors);
    let tokens_s = tokens_started.elapsed().as_secs_f64();

    // The server's memory, sampled all along.
    let samples: Arc<Mutex<Vec<[f64; 2]>>> = Arc::new(Mutex::new(Vec::new()));
    let sampler = args.server_pid.map(|pid| {
        let samples = samples.clone();
        let every = Duration::from_millis(args.rss_interval_ms.max(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Some(rss) = sys::rss_kib(pid) {
                    samples
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push([wall.elapsed().as_secs_f64(), rss as f64]);
                }
            }
        })
    });
    let before = snapshot(server, args.server_pid, &show, &wall).await;

    let ctx = Arc::new(Ctx {
        server,
        show: show.clone(),
        audio: !args.no_audio,
        sem: Semaphore::new(args.connect_concurrency.max(1)),
    });
    let connect_started = std::time::Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for (i, token) in tokens.into_iter().enumerate() {
        let group = if i >= n - stalled_n { STALLED } else { READERS };
        tasks.push(tokio::spawn(viewer(
            ctx.clone(),
            shared.clone(),
            token.map(|(t, _)| t),
            group,
            plan_rx.clone(),
        )));
    }
    let budget_end = Instant::now() + Duration::from_secs_f64(args.connect_budget_s);
    let mut last_report = Instant::now();
    while (shared.attempts_done.load(Ordering::Relaxed) as usize) < n && Instant::now() < budget_end
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!(
                "[media] connecting: {} connected, {} failed of {n}",
                shared.connected[READERS].load(Ordering::Relaxed)
                    + shared.connected[STALLED].load(Ordering::Relaxed),
                shared.failed.load(Ordering::Relaxed)
            );
        }
    }
    let connect_s = connect_started.elapsed().as_secs_f64();
    if (shared.attempts_done.load(Ordering::Relaxed) as usize) < n {
        shared.errors.bump("connect_phase_over_budget");
    }
    let connected_at_start = shared.connected[READERS].load(Ordering::Relaxed)
        + shared.connected[STALLED].load(Ordering::Relaxed);
    eprintln!("[media] {connected_at_start} of {n} connected in {connect_s:.1} s");

    let start = Instant::now() + Duration::from_millis(500);
    let start_us = sys::now_us() + 500_000;
    let warmup = Duration::from_secs_f64(args.warmup_s.max(0.0));
    let full = Duration::from_secs_f64(args.duration_s.max(0.5));
    let stall = Duration::from_secs_f64(stall_s);
    let drain = Duration::from_secs_f64(args.drain_s.max(0.0));
    let us = |d: Duration| d.as_micros() as u64;
    // Between the phases: the stalling viewers read what is still in flight, then stop.
    let gap = if stall_s > 0.0 {
        Duration::from_secs(1)
    } else {
        Duration::ZERO
    };
    let plan = Plan {
        window_start_us: start_us + us(warmup),
        full_end_us: start_us + us(warmup + full),
        stall_start_us: start_us + us(warmup + full + gap),
        stall_end_us: start_us + us(warmup + full + gap + stall),
        stall_at: start + warmup + full + gap / 2,
        close_at: start + warmup + full + gap + stall + drain,
    };
    let _ = plan_tx.send(Some(plan));
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.tick().await;
            let mut last = shared.read_total.load(Ordering::Relaxed);
            loop {
                tick.tick().await;
                let now = shared.read_total.load(Ordering::Relaxed);
                eprintln!(
                    "[media] {} packets/s read, {} lost viewers, {} PLIs, {} keyframes",
                    (now - last) / 5,
                    shared.lost.load(Ordering::Relaxed),
                    shared.plis.load(Ordering::Relaxed),
                    shared.keyframes.load(Ordering::Relaxed),
                );
                last = now;
            }
        })
    };
    tokio::time::sleep_until(start + warmup).await;
    let mut at_window = snapshot(server, args.server_pid, &show, &wall).await;
    at_window.read_total = shared.read_total.load(Ordering::Relaxed);
    tokio::time::sleep_until(start + warmup + full).await;
    let mut at_full_end = snapshot(server, args.server_pid, &show, &wall).await;
    at_full_end.read_total = shared.read_total.load(Ordering::Relaxed);
    let (at_stall_start, at_stall_end) = if stall_s > 0.0 {
        tokio::time::sleep_until(start + warmup + full + gap).await;
        let mut a = snapshot(server, args.server_pid, &show, &wall).await;
        a.read_total = shared.read_total.load(Ordering::Relaxed);
        tokio::time::sleep_until(start + warmup + full + gap + stall).await;
        let mut b = snapshot(server, args.server_pid, &show, &wall).await;
        b.read_total = shared.read_total.load(Ordering::Relaxed);
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    progress.abort();
    let deadline = plan.close_at + Duration::from_secs(10);
    for t in tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, t).await.is_err() {
            shared.errors.bump("close_timeout");
        }
    }
    // The server's memory once the viewers have left (a session ends when the server sees
    // its connection close, or fail).
    let left_by = Instant::now() + Duration::from_secs(20);
    let after = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let s = snapshot(server, args.server_pid, &show, &wall).await;
        if s.server_viewers == 0 || Instant::now() >= left_by {
            if s.server_viewers > 0 {
                shared.errors.bump("sessions_left_on_server");
            }
            break s;
        }
    };
    camera.stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(3), camera.peer.pc.close()).await;
    for t in camera.tasks {
        t.abort();
    }
    if let Some(s) = sampler {
        s.abort();
    }

    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let load2 = |a: &Counters2| [load(&a[0]), load(&a[1])];
    let errors = shared.errors.snapshot();
    let rss_series = samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut summary = MediaReport {
        kind: "media".into(),
        label: args.label.clone(),
        show,
        viewers: n as u64,
        stalled_viewers: stalled_n as u64,
        video_kbps: args.video_kbps,
        audio_kbps: if args.no_audio { 0.0 } else { args.audio_kbps },
        fps: args.fps,
        keyframe_interval_s: args.keyframe_interval_s,
        packet_bytes: args.packet_bytes as u64,
        warmup_s: args.warmup_s,
        full_s: at_full_end.at_s - at_window.at_s,
        stall_s: match (&at_stall_start, &at_stall_end) {
            (Some(a), Some(b)) => b.at_s - a.at_s,
            _ => 0.0,
        },
        tokens_s,
        connect_s,
        connected: load2(&shared.connected),
        failed: load(&shared.failed),
        lost: load(&shared.lost),
        sent: [load2(&shared.sent[FULL]), load2(&shared.sent[STALL])],
        sent_bytes: [
            load2(&shared.sent_bytes[FULL]),
            load2(&shared.sent_bytes[STALL]),
        ],
        sent_total: load2(&shared.sent_total),
        delivered: [
            [
                load2(&shared.delivered[READERS][FULL]),
                load2(&shared.delivered[READERS][STALL]),
            ],
            [
                load2(&shared.delivered[STALLED][FULL]),
                load2(&shared.delivered[STALLED][STALL]),
            ],
        ],
        delivered_bytes: [
            [
                load2(&shared.delivered_bytes[READERS][FULL]),
                load2(&shared.delivered_bytes[READERS][STALL]),
            ],
            [
                load2(&shared.delivered_bytes[STALLED][FULL]),
                load2(&shared.delivered_bytes[STALLED][STALL]),
            ],
        ],
        rtp_gaps: load(&shared.rtp_gaps),
        keyframes: load(&shared.keyframes),
        plis: load(&shared.plis),
        late_frames: load(&shared.late_frames),
        hist: shared.hist.sparse(),
        server: args.server_pid.map(|pid| MediaServer { pid, rss_series }),
        before,
        at_window,
        at_full_end,
        at_stall_start,
        at_stall_end,
        after,
        tool: ToolStats {
            cpu_s_total: sys::self_cpu_s() - cpu_start,
            wall_s_total: wall.elapsed().as_secs_f64(),
            cpu_s_window: 0.0,
            threads: sys::self_threads(),
            cores: std::thread::available_parallelism()
                .map(|n| n.get() as u64)
                .unwrap_or(1),
        },
        errors,
        derived: Default::default(),
    };
    summary.derive();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_gaps_survive_wraparound_and_ignore_repeats() {
        let mut s = SeqTrack::default();
        for seq in [65_533u16, 65_534, 65_535, 0, 1] {
            s.push(seq);
        }
        assert_eq!((s.gaps, s.old), (0, 0));
        // 1 → 4: 2 and 3 never came.
        s.push(4);
        assert_eq!(s.gaps, 2);
        s.push(4);
        s.push(3);
        assert_eq!((s.gaps, s.old), (2, 2));
        // 65_535 → 2 across the wrap: 0 and 1 never came.
        let mut w = SeqTrack::default();
        w.push(65_535);
        w.push(2);
        assert_eq!(w.gaps, 2);
    }

    #[test]
    fn payloads_carry_keyframes_and_send_times() {
        let key = video_payload(true, true, 1_234_567, 9, 1200);
        assert_eq!(key.len(), 1200);
        assert!(livesale::media::codec::vp8_keyframe_start(&key));
        assert!(!livesale::media::codec::vp8_keyframe_start(&video_payload(
            true, false, 1, 1, 1200
        )));
        assert!(!livesale::media::codec::vp8_keyframe_start(&video_payload(
            false, true, 1, 1, 1200
        )));
        assert_eq!(send_time(VIDEO, &key), Some(1_234_567));
        assert_eq!(send_time(AUDIO, &audio_payload(77, 1, 160)), Some(77));
    }

    #[test]
    fn frame_sizes_average_to_the_bitrate() {
        let (key, delta, gop) = frame_sizes(1500.0, 30.0, 2.0, 5.0);
        assert_eq!(gop, 60);
        let per_gop = key + delta * 59;
        let want = 1500.0 * 1000.0 / 8.0 * 2.0;
        assert!(
            (per_gop as f64 - want).abs() / want < 0.01,
            "{per_gop} vs {want}"
        );
        assert!(key > 4 * delta);
    }

    #[test]
    fn sums_prometheus_samples() {
        let text = "# TYPE x counter\n\
            livesale_media_forwarded_packets_total{show=\"s1\",kind=\"video\"} 10\n\
            livesale_media_forwarded_packets_total{show=\"s1\",kind=\"audio\"} 5\n\
            livesale_media_forwarded_packets_total{show=\"s2\",kind=\"video\"} 100\n\
            livesale_media_dropped_packets_total{reason=\"viewer_queue_full\"} 3\n";
        let f = prometheus_sum(
            text,
            "livesale_media_forwarded_packets_total",
            "",
            "show=\"s1\"",
        );
        assert_eq!(f.values().sum::<f64>(), 15.0);
        let d = prometheus_sum(text, "livesale_media_dropped_packets_total", "reason", "");
        assert_eq!(d.get("viewer_queue_full"), Some(&3.0));
    }

    #[test]
    fn phases_follow_send_times() {
        let now = Instant::now();
        let plan = Plan {
            window_start_us: 100,
            full_end_us: 200,
            stall_start_us: 210,
            stall_end_us: 300,
            stall_at: now,
            close_at: now,
        };
        assert_eq!(plan.phase(99), None);
        assert_eq!(plan.phase(100), Some(FULL));
        assert_eq!(plan.phase(205), None);
        assert_eq!(plan.phase(250), Some(STALL));
        assert_eq!(plan.phase(300), None);
    }
}
