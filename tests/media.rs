//! Media end to end, with in-process webrtc-rs peers against the real server on port 0.
//!
//! Publishers send synthetic VP8 (two packets per frame; a keyframe only at start and when
//! the server sends a PLI, so every switch proves the keyframe request reached the camera)
//! and Opus. Each payload names its publisher, so a viewer can tell whose packets it got.
//! Viewers record every RTP packet they receive. The checks are on the wire as a player sees
//! it: one SSRC per track, sequence numbers contiguous across switches, the first packet
//! after each cut the start of a keyframe, timestamps moving forward.
//!
//! The protocol test walks every WHIP/WHEP status code of the contract.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::server::{Backend, TestServer, assert_problem, test_config};
use common::ws::WsClient;
use livesale::media::KeyframeRequests;
use rtc::interceptor::Slot;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use serde_json::{Value, json};
use tokio::sync::watch;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, Registry,
    register_default_interceptors,
};

/// Every wait of this file is bounded by this (or a smaller) timeout.
const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------
// Client peers
// ---------------------------------------------------------------------------------------

fn codec(mime: &str, clock: u32, channels: u16, fmtp: &str, pt: u8) -> RTCRtpCodecParameters {
    let feedback = if mime.starts_with("video") {
        vec![
            RTCPFeedback {
                typ: "nack".into(),
                parameter: "".into(),
            },
            RTCPFeedback {
                typ: "nack".into(),
                parameter: "pli".into(),
            },
        ]
    } else {
        vec![]
    };
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.into(),
            clock_rate: clock,
            channels,
            sdp_fmtp_line: fmtp.into(),
            rtcp_feedback: feedback,
        },
        payload_type: pt,
    }
}

fn vp8() -> RTCRtpCodecParameters {
    codec("video/VP8", 90_000, 0, "", 96)
}

fn h264() -> RTCRtpCodecParameters {
    codec(
        "video/H264",
        90_000,
        0,
        "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        102,
    )
}

fn opus() -> RTCRtpCodecParameters {
    codec("audio/opus", 48_000, 2, "minptime=10;useinbandfec=1", 111)
}

struct Events {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    tracks: Option<tokio::sync::mpsc::UnboundedSender<Arc<dyn TrackRemote>>>,
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
        if let Some(tx) = &self.tracks {
            let _ = tx.send(track);
        }
    }
}

struct Client {
    pc: Arc<dyn PeerConnection>,
    gathered: watch::Receiver<bool>,
    state: watch::Receiver<RTCPeerConnectionState>,
    tracks: tokio::sync::mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>,
}

async fn client(video: &[RTCRtpCodecParameters]) -> Client {
    let mut engine = MediaEngine::default();
    for c in video {
        engine
            .register_codec(c.clone(), RtpCodecKind::Video)
            .expect("video codec");
    }
    engine
        .register_codec(opus(), RtpCodecKind::Audio)
        .expect("audio codec");
    let registry = register_default_interceptors(Registry::new(), &mut engine)
        .expect("interceptors")
        .with(Slot::from(14_000), KeyframeRequests::default());
    let (gathered_tx, gathered) = watch::channel(false);
    let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
    let (tracks_tx, tracks) = tokio::sync::mpsc::unbounded_channel();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(engine)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Events {
            gathered: gathered_tx,
            state: state_tx,
            tracks: Some(tracks_tx),
        }))
        .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
        .build()
        .await
        .expect("a client peer connection");
    Client {
        pc: Arc::new(pc),
        gathered,
        state,
        tracks,
    }
}

impl Client {
    /// The full offer (every candidate in it).
    async fn offer(&mut self) -> String {
        let offer = self.pc.create_offer(None).await.expect("offer");
        self.pc
            .set_local_description(offer)
            .await
            .expect("set offer");
        tokio::time::timeout(WAIT, self.gathered.wait_for(|g| *g))
            .await
            .expect("gathering completes")
            .expect("gathering state");
        self.pc.local_description().await.expect("local sdp").sdp
    }

    async fn accept(&mut self, answer: String) {
        let answer = RTCSessionDescription::answer(answer).expect("the answer parses");
        self.pc
            .set_remote_description(answer)
            .await
            .expect("the answer applies");
        tokio::time::timeout(
            WAIT,
            self.state
                .wait_for(|s| *s == RTCPeerConnectionState::Connected),
        )
        .await
        .expect("connects in time")
        .expect("state");
    }

    fn connected(&self) -> bool {
        *self.state.borrow() == RTCPeerConnectionState::Connected
    }
}

/// POSTs an SDP offer; returns status, headers and body text.
async fn post_sdp(
    srv: &TestServer,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: String,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = srv
        .http
        .post(srv.url(path))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.expect("body"))
}

fn problem(status: u16, body: &str) -> (u16, Value) {
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// A camera: VP8 video (two packets per frame, ~30 fps) and Opus audio (one packet per
/// frame tick), keyframes only at start and on PLI.
struct Camera {
    client: Client,
    /// The session URL (Location).
    session: String,
    /// The camera id the server gave it (X-Camera-Id).
    camera_id: String,
    plis: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

fn vp8_payload(id: u8, frame: u32, first: bool, key: bool) -> Bytes {
    let f = frame.to_be_bytes();
    if first {
        // S=1, PID=0; VP8 frame header P bit: 0 for a keyframe.
        Bytes::from(vec![
            0x10,
            if key { 0x00 } else { 0x01 },
            id,
            f[0],
            f[1],
            f[2],
            f[3],
            0xAA,
        ])
    } else {
        Bytes::from(vec![0x00, id, f[0], f[1], f[2], f[3], 0xBB])
    }
}

/// A synthetic H.264 (packetization-mode 1) payload: a keyframe is a STAP-A with SPS and PPS,
/// then an IDR; other frames are two non-IDR slices.
fn h264_payload(id: u8, first: bool, key: bool) -> Bytes {
    match (first, key) {
        (true, true) => Bytes::from(vec![0x78, 0x00, 0x02, 0x67, id, 0x00, 0x02, 0x68, id]),
        (false, true) => Bytes::from(vec![0x65, id, 0x88]),
        _ => Bytes::from(vec![0x41, id, 0x9a]),
    }
}

/// Whose packet this is: the id byte of [`vp8_payload`] or [`h264_payload`], or the first
/// byte of audio.
fn publisher_of(video: bool, payload: &[u8]) -> u8 {
    if !video {
        return payload[0];
    }
    match payload[0] {
        0x10 => payload[2],
        0x78 => payload[4],
        _ => payload[1],
    }
}

/// The first packet of a keyframe, as the test cameras send them (VP8 or H.264).
fn keyframe_start(payload: &[u8]) -> bool {
    (payload.len() > 1 && payload[0] == 0x10 && payload[1] & 0x01 == 0)
        || (payload.len() > 3 && payload[0] == 0x78 && payload[3] == 0x67)
}

fn local_track(
    kind: RtpCodecKind,
    params: &RTCRtpCodecParameters,
    ssrc: u32,
) -> Arc<TrackLocalStaticRTP> {
    let label = if kind == RtpCodecKind::Video {
        "video"
    } else {
        "audio"
    };
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        format!("cam-{ssrc}"),
        format!("{label}-{ssrc}"),
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
}

impl Camera {
    /// Publishes over WHIP and starts sending.
    async fn start(srv: &TestServer, show: &str, token: &str, id: u8) -> Camera {
        Self::start_with(srv, show, token, id, "").await
    }

    async fn start_with(srv: &TestServer, show: &str, token: &str, id: u8, query: &str) -> Camera {
        Self::start_codec(srv, show, token, id, query, vp8()).await
    }

    async fn start_codec(
        srv: &TestServer,
        show: &str,
        token: &str,
        id: u8,
        query: &str,
        video_codec: RTCRtpCodecParameters,
    ) -> Camera {
        let is_h264 = video_codec.rtp_codec.mime_type == "video/H264";
        let mut client = client(std::slice::from_ref(&video_codec)).await;
        let video_ssrc = 0x1000_0000 + u32::from(id) * 16;
        let audio_ssrc = video_ssrc + 1;
        let video = local_track(RtpCodecKind::Video, &video_codec, video_ssrc);
        let audio = local_track(RtpCodecKind::Audio, &opus(), audio_ssrc);
        let video_sender = client
            .pc
            .add_track(video.clone() as Arc<dyn TrackLocal>)
            .await
            .expect("video track");
        let audio_sender = client
            .pc
            .add_track(audio.clone() as Arc<dyn TrackLocal>)
            .await
            .expect("audio track");
        let offer = client.offer().await;
        let (status, headers, body) = post_sdp(
            srv,
            &format!("/api/shows/{show}/whip{query}"),
            Some(token),
            "application/sdp",
            offer,
        )
        .await;
        assert_eq!(status, 201, "WHIP: {body}");
        let session = header(&headers, "location");
        let camera_id = header(&headers, "x-camera-id");
        assert!(!session.is_empty() && !camera_id.is_empty(), "{headers:?}");
        client.accept(body).await;
        let pt = |params: rtc::rtp_transceiver::rtp_sender::RTCRtpSendParameters, mime: &str| {
            params
                .rtp_parameters
                .codecs
                .iter()
                .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
                .map(|c| c.payload_type)
                .expect("a negotiated payload type")
        };
        let video_pt = pt(
            video_sender.get_parameters().await.expect("params"),
            &video_codec.rtp_codec.mime_type,
        );
        let audio_pt = pt(
            audio_sender.get_parameters().await.expect("params"),
            "audio/opus",
        );

        let plis = Arc::new(AtomicU64::new(0));
        let want_key = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (video, plis, want_key) = (video.clone(), plis.clone(), want_key.clone());
            tokio::spawn(async move {
                while let Some(event) = video.poll().await {
                    if let TrackLocalEvent::OnRtcpPacket(packets) = event
                        && packets
                            .iter()
                            .any(|p| p.as_any().is::<PictureLossIndication>())
                    {
                        plis.fetch_add(1, Ordering::Relaxed);
                        want_key.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
        {
            let stop = stop.clone();
            let audio_drain = audio.clone();
            tokio::spawn(async move { while audio_drain.poll().await.is_some() {} });
            tokio::spawn(async move {
                let mut seq: u16 = 60_000 + u16::from(id) * 100; // wraps during the test
                let mut audio_seq: u16 = u16::from(id) * 1000;
                let mut ts: u32 = u32::MAX - 200_000 + u32::from(id);
                let mut audio_ts: u32 = 12_345 * u32::from(id);
                let mut frame: u32 = 0;
                let mut tick = tokio::time::interval(Duration::from_millis(33));
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let key = want_key.swap(false, Ordering::Relaxed);
                    for (i, first) in [true, false].into_iter().enumerate() {
                        let packet = rtc::rtp::Packet {
                            header: rtc::rtp::header::Header {
                                version: 2,
                                marker: i == 1,
                                payload_type: video_pt,
                                sequence_number: seq,
                                timestamp: ts,
                                ssrc: video_ssrc,
                                ..Default::default()
                            },
                            payload: if is_h264 {
                                h264_payload(id, first, key)
                            } else {
                                vp8_payload(id, frame, first, key)
                            },
                        };
                        seq = seq.wrapping_add(1);
                        if video.write_rtp(packet).await.is_err() {
                            return;
                        }
                    }
                    let packet = rtc::rtp::Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            payload_type: audio_pt,
                            sequence_number: audio_seq,
                            timestamp: audio_ts,
                            ssrc: audio_ssrc,
                            ..Default::default()
                        },
                        payload: Bytes::from(vec![id, 0xFC, (frame & 0xFF) as u8]),
                    };
                    audio_seq = audio_seq.wrapping_add(1);
                    audio_ts = audio_ts.wrapping_add(1584);
                    if audio.write_rtp(packet).await.is_err() {
                        return;
                    }
                    ts = ts.wrapping_add(2970);
                    frame += 1;
                }
            });
        }
        Camera {
            client,
            session,
            camera_id,
            plis,
            stop,
        }
    }

    /// Leaves properly: WHIP DELETE, then the connection closes.
    async fn leave(self, srv: &TestServer, token: &str) {
        self.stop.store(true, Ordering::Relaxed);
        let resp = srv
            .http
            .delete(srv.url(&self.session))
            .bearer_auth(token)
            .send()
            .await
            .expect("DELETE sent");
        assert_eq!(resp.status().as_u16(), 200, "WHIP DELETE");
        let _ = self.client.pc.close().await;
    }

    /// Vanishes without a word (the connection is closed, no DELETE).
    async fn vanish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.client.pc.close().await;
    }
}

/// One received RTP packet.
#[derive(Debug, Clone)]
struct Got {
    video: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    pt: u8,
    payload: Bytes,
}

struct Viewer {
    client: Client,
    session: String,
    got: Arc<Mutex<Vec<Got>>>,
    /// The received video track (to send keyframe requests on).
    video_track: Arc<Mutex<Option<Arc<dyn TrackRemote>>>>,
}

impl Viewer {
    async fn start(srv: &TestServer, show: &str, token: &str, query: &str) -> Viewer {
        Self::start_codecs(srv, show, token, query, &[vp8()]).await
    }

    async fn start_codecs(
        srv: &TestServer,
        show: &str,
        token: &str,
        query: &str,
        video: &[RTCRtpCodecParameters],
    ) -> Viewer {
        let mut v = Self::offer_only(video).await;
        let offer = v.client.offer().await;
        let (status, headers, body) = post_sdp(
            srv,
            &format!("/api/shows/{show}/whep{query}"),
            Some(token),
            "application/sdp",
            offer,
        )
        .await;
        assert_eq!(status, 201, "WHEP: {body}");
        v.session = header(&headers, "location");
        v.client.accept(body).await;
        v
    }

    /// A viewer peer with its recvonly transceivers, not yet connected.
    async fn offer_only(video: &[RTCRtpCodecParameters]) -> Viewer {
        let client = client(video).await;
        for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
            client
                .pc
                .add_transceiver_from_kind(
                    kind,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        ..Default::default()
                    }),
                )
                .await
                .expect("transceiver");
        }
        let mut v = Viewer {
            client,
            session: String::new(),
            got: Arc::new(Mutex::new(Vec::new())),
            video_track: Arc::new(Mutex::new(None)),
        };
        let got = v.got.clone();
        let video_track = v.video_track.clone();
        let mut tracks = std::mem::replace(
            &mut v.client.tracks,
            tokio::sync::mpsc::unbounded_channel().1,
        );
        tokio::spawn(async move {
            while let Some(track) = tracks.recv().await {
                let got = got.clone();
                if track.kind().await == RtpCodecKind::Video {
                    *video_track.lock().unwrap() = Some(track.clone());
                }
                tokio::spawn(async move {
                    let video = track.kind().await == RtpCodecKind::Video;
                    while let Some(event) = track.poll().await {
                        if let TrackRemoteEvent::OnRtpPacket(p) = event {
                            got.lock().unwrap().push(Got {
                                video,
                                seq: p.header.sequence_number,
                                ts: p.header.timestamp,
                                ssrc: p.header.ssrc,
                                pt: p.header.payload_type,
                                payload: p.payload,
                            });
                        }
                    }
                });
            }
        });
        v
    }

    fn video(&self) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.video)
            .cloned()
            .collect()
    }

    fn audio(&self) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| !g.video)
            .cloned()
            .collect()
    }

    /// Whose video it received last.
    fn showing(&self) -> Option<u8> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|g| g.video)
            .map(|g| publisher_of(true, &g.payload))
    }

    /// Waits until `n` video packets of camera `id` arrived after the packets already seen.
    async fn wait_for_camera(&self, id: u8, n: usize, what: &str) {
        let start = self.video().len();
        let deadline = Instant::now() + WAIT;
        loop {
            let count = self.video()[start.min(self.video().len())..]
                .iter()
                .filter(|g| publisher_of(true, &g.payload) == id)
                .count();
            if count >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: viewer got {count} packets of camera {id} (showing {:?})",
                self.showing()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Checks a received stream the way a player depends on it: one SSRC and payload type;
/// sequence numbers contiguous (no gap, no repeat, in sequence order); the first packet, and
/// the first packet after every change of camera, starts a keyframe (video); timestamps
/// never go back. Returns the cameras in the order they appeared.
fn check_stream(got: &[Got], video: bool, who: &str) -> Vec<u8> {
    assert!(!got.is_empty(), "{who}: no packets");
    let ssrc = got[0].ssrc;
    let pt = got[0].pt;
    assert!(
        got.iter().all(|g| g.ssrc == ssrc),
        "{who}: the SSRC changed"
    );
    assert!(
        got.iter().all(|g| g.pt == pt),
        "{who}: the payload type changed"
    );
    // Put packets in sequence order (a retransmission may arrive late), unwrapping.
    let mut unwrapped: BTreeMap<i64, &Got> = BTreeMap::new();
    let mut last: Option<(u16, i64)> = None;
    for g in got {
        let ext = match last {
            None => i64::from(g.seq),
            Some((prev, prev_ext)) => prev_ext + i64::from(g.seq.wrapping_sub(prev) as i16),
        };
        last = Some((g.seq, ext));
        unwrapped.insert(ext, g);
    }
    let seqs: Vec<i64> = unwrapped.keys().copied().collect();
    for w in seqs.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "{who}: sequence gap between {} and {} ({} packets received)",
            w[0],
            w[1],
            got.len()
        );
    }
    let ordered: Vec<&Got> = unwrapped.values().copied().collect();
    let mut cameras = Vec::new();
    let mut current = None;
    let mut prev_ts: Option<u32> = None;
    for g in &ordered {
        let cam = publisher_of(video, &g.payload);
        if current != Some(cam) {
            if video {
                assert!(
                    keyframe_start(&g.payload),
                    "{who}: the first packet of camera {cam} (seq {}) is not a keyframe start: {:?}",
                    g.seq,
                    g.payload
                );
            }
            cameras.push(cam);
            current = Some(cam);
        }
        if let Some(p) = prev_ts {
            assert!(
                g.ts.wrapping_sub(p) < 0x8000_0000,
                "{who}: the timestamp went back from {p} to {} at seq {}",
                g.ts,
                g.seq
            );
        }
        prev_ts = Some(g.ts);
    }
    cameras
}

// ---------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------

/// A show with a creator, and tokens for cameras and viewers.
struct Studio {
    srv: TestServer,
    creator: String,
    show: String,
}

impl Studio {
    async fn new(config: livesale::Config) -> Studio {
        let srv = TestServer::start_with(config).await;
        let (_, creator) = srv.creator("Director").await;
        let show = srv.show(&creator, "Two cameras").await;
        Studio { srv, creator, show }
    }

    async fn camera_token(&self, label: &str) -> String {
        let (status, body) = self
            .srv
            .post(
                &format!("/api/shows/{}/invites", self.show),
                Some(&self.creator),
                json!({ "role": "camera", "label": label }),
            )
            .await;
        assert_eq!(status, 201, "camera invite: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    async fn switch(&self, camera: &str) {
        let (status, body) = self
            .srv
            .post(
                &format!("/api/shows/{}/program", self.show),
                Some(&self.creator),
                json!({ "camera": camera }),
            )
            .await;
        assert_eq!(status, 200, "switch: {body}");
        assert_eq!(body["camera"], camera, "{body}");
    }

    async fn cameras(&self) -> Value {
        let (status, body) = self
            .srv
            .get(
                &format!("/api/shows/{}/cameras", self.show),
                Some(&self.creator),
            )
            .await;
        assert_eq!(status, 200, "cameras: {body}");
        body
    }
}

/// Reads the room until `program.changed` announces `camera` (an earlier announcement may
/// still be on its way when a test joins).
/// Every `program.changed` carries `pts` (the server's clock when the program changed).
async fn on_air_says(room: &mut WsClient, camera: Option<&str>) {
    let want = camera.map(Value::from).unwrap_or(Value::Null);
    let frames = room
        .collect_until(
            |v| v["type"] == "program.changed" && v["camera"] == want,
            WAIT,
        )
        .await;
    let said = frames.last().expect("the announcement");
    assert!(said["pts"].as_u64().is_some_and(|t| t > 0), "{said}");
}

fn config() -> livesale::Config {
    test_config(Backend::Memory)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_camera_reaches_a_viewer() {
    let studio = Studio::new(config()).await;
    let token = studio.camera_token("Front").await;
    let cam = Camera::start(&studio.srv, &studio.show, &token, 1).await;
    let (_, vtoken) = studio.srv.viewer(&studio.show, "Vi").await;
    let viewer = Viewer::start(&studio.srv, &studio.show, &vtoken, "").await;
    viewer.wait_for_camera(1, 20, "first camera").await;
    assert_eq!(check_stream(&viewer.video(), true, "video"), vec![1]);
    assert!(!viewer.audio().is_empty(), "audio arrives");
    assert_eq!(check_stream(&viewer.audio(), false, "audio"), vec![1]);
    let cams = studio.cameras().await;
    assert_eq!(cams["cameras"][0]["id"], cam.camera_id.as_str(), "{cams}");
    assert_eq!(cams["cameras"][0]["on_air"], true, "{cams}");
    assert_eq!(cams["cameras"][0]["label"], "Front", "{cams}");

    // The player's keyframe requests reach the camera, throttled to about one per 500 ms.
    let track = viewer
        .video_track
        .lock()
        .unwrap()
        .clone()
        .expect("a video track");
    let before = cam.plis.load(Ordering::Relaxed);
    let started = Instant::now();
    for _ in 0..20 {
        let pli: Box<dyn rtc::rtcp::Packet> = Box::new(PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc: viewer.video()[0].ssrc,
        });
        track.write_rtcp(vec![pli]).await.expect("PLI sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let relayed = cam.plis.load(Ordering::Relaxed) - before;
    let window_ms = started.elapsed().as_millis() as u64;
    assert!(relayed >= 1, "no keyframe request reached the camera");
    assert!(
        relayed <= window_ms / 500 + 2,
        "20 requests; {relayed} PLIs reached the camera in {window_ms} ms (at most one per 500 ms)"
    );
    // And each was answered with a keyframe the viewer got, still in one continuous stream.
    viewer.wait_for_camera(1, 10, "after the PLIs").await;
    check_stream(&viewer.video(), true, "video after PLIs");

    let metrics = studio
        .srv
        .http
        .get(studio.srv.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "livesale_media_cameras",
        "livesale_media_viewers",
        "livesale_media_forwarded_packets_total",
        "livesale_media_forwarded_bytes_total",
        "livesale_media_keyframe_requests_total",
        "livesale_media_viewer_keyframe_requests_total",
        "livesale_media_switch_latency_seconds",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }
}

/// An H.264 show: the camera's constrained-baseline stream reaches a viewer that offered VP8
/// and H.264, under the payload type that viewer negotiated for H.264, from a keyframe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h264_camera_reaches_viewers_as_h264() {
    let studio = Studio::new(config()).await;
    let token = studio.camera_token("Encoder").await;
    let _cam = Camera::start_codec(&studio.srv, &studio.show, &token, 5, "", h264()).await;
    let (_, vtoken) = studio.srv.viewer(&studio.show, "Vi").await;
    let mut both = h264();
    both.payload_type = 121;
    let viewer = Viewer::start_codecs(&studio.srv, &studio.show, &vtoken, "", &[vp8(), both]).await;
    viewer.wait_for_camera(5, 20, "H.264 camera").await;
    let video = viewer.video();
    assert_eq!(check_stream(&video, true, "h264 video"), vec![5]);
    assert_eq!(video[0].pt, 121, "the viewer's own H.264 payload type");
    let cams = studio.cameras().await;
    assert_eq!(cams["program"]["codec"], "h264", "{cams}");
    // A VP8-only player cannot decode this show: refused, not left with black video.
    let (_v, offer) = viewer_offer().await;
    let got = post_sdp(
        &studio.srv,
        &format!("/api/shows/{}/whep", studio.show),
        Some(&vtoken),
        "application/sdp",
        offer,
    )
    .await;
    assert_problem(&problem(got.0, &got.2), 409, "codec_mismatch");
}

/// Two cameras, several viewers, several switches: every viewer's video stays one continuous
/// RTP stream that cuts on keyframes, and the audio stays with the first camera throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_keep_every_viewer_continuous_and_cut_on_keyframes() {
    let studio = Studio::new(config()).await;
    let (ta, tb) = (
        studio.camera_token("A").await,
        studio.camera_token("B").await,
    );
    let a = Camera::start(&studio.srv, &studio.show, &ta, 1).await;
    let b = Camera::start(&studio.srv, &studio.show, &tb, 2).await;
    // The camera learns from the room whether it is on air.
    let (mut b_room, welcome) = WsClient::join(&studio.srv, &studio.show, Some(&tb)).await;
    assert_eq!(welcome["program"], a.camera_id.as_str(), "{welcome}");
    let mut viewers = Vec::new();
    for n in 0..3 {
        let (_, token) = studio.srv.viewer(&studio.show, &format!("V{n}")).await;
        viewers.push(Viewer::start(&studio.srv, &studio.show, &token, "").await);
    }
    for v in &viewers {
        v.wait_for_camera(1, 10, "A on air first").await;
    }
    // The creator previews B directly, whatever is on air.
    let preview = Viewer::start(
        &studio.srv,
        &studio.show,
        &studio.creator,
        &format!("?camera={}", b.camera_id),
    )
    .await;
    preview.wait_for_camera(2, 10, "preview of B").await;
    let plis_before = b.plis.load(Ordering::Relaxed);
    for (n, (to, id)) in [(&b, 2u8), (&a, 1), (&b, 2), (&a, 1)]
        .into_iter()
        .enumerate()
    {
        studio.switch(&to.camera_id).await;
        on_air_says(&mut b_room, Some(&to.camera_id)).await;
        for v in &viewers {
            v.wait_for_camera(id, 10, &format!("switch {n}")).await;
        }
        let cams = studio.cameras().await;
        let on_air: Vec<&Value> = cams["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["on_air"] == true)
            .collect();
        assert_eq!(on_air.len(), 1, "{cams}");
        assert_eq!(on_air[0]["id"], to.camera_id.as_str(), "{cams}");
    }
    assert!(
        b.plis.load(Ordering::Relaxed) > plis_before,
        "switching to B asked B for a keyframe"
    );
    for (n, v) in viewers.iter().enumerate() {
        let order = check_stream(&v.video(), true, &format!("viewer {n} video"));
        assert_eq!(order, vec![1, 2, 1, 2, 1], "viewer {n}: cameras in order");
        let audio = check_stream(&v.audio(), false, &format!("viewer {n} audio"));
        assert_eq!(audio, vec![1], "viewer {n}: audio stays with A");
        assert!(v.client.connected());
    }
    assert_eq!(check_stream(&preview.video(), true, "preview"), vec![2]);
    assert_eq!(
        check_stream(&preview.audio(), false, "preview audio"),
        vec![2]
    );
    drop(a);
    drop(b);
}

/// The on-air camera leaves: the program falls back to the other one, then to nothing
/// (`program.changed` null), and viewers stay connected; a camera that joins then goes on air,
/// and the viewers' streams are still continuous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_on_air_camera_falls_back_without_breaking_viewers() {
    let studio = Studio::new(config()).await;
    let (ta, tb, tc) = (
        studio.camera_token("A").await,
        studio.camera_token("B").await,
        studio.camera_token("C").await,
    );
    let a = Camera::start(&studio.srv, &studio.show, &ta, 1).await;
    let b = Camera::start(&studio.srv, &studio.show, &tb, 2).await;
    let (b_id, a_id) = (b.camera_id.clone(), a.camera_id.clone());
    let (mut room, welcome) = WsClient::join(&studio.srv, &studio.show, Some(&tb)).await;
    assert_eq!(welcome["program"], a_id.as_str());
    let mut viewers = Vec::new();
    for n in 0..2 {
        let (_, token) = studio.srv.viewer(&studio.show, &format!("V{n}")).await;
        viewers.push(Viewer::start(&studio.srv, &studio.show, &token, "").await);
    }
    for v in &viewers {
        v.wait_for_camera(1, 10, "A on air").await;
    }
    // A leaves properly (WHIP DELETE): B takes over.
    a.leave(&studio.srv, &ta).await;
    on_air_says(&mut room, Some(&b_id)).await;
    for v in &viewers {
        v.wait_for_camera(2, 10, "fallback to B").await;
    }
    // B vanishes (its connection closes, no DELETE): nothing is on air, viewers stay.
    let t = Instant::now();
    b.vanish().await;
    on_air_says(&mut room, None).await;
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "fallback took {:?} (ICE notices a silent peer in about 3 s)",
        t.elapsed()
    );
    // B is listed as disconnected until its session is given up on.
    let cams = studio.cameras().await;
    assert_eq!(cams["program"]["camera"], Value::Null, "{cams}");
    for c in cams["cameras"].as_array().unwrap() {
        assert_eq!(c["connected"], false, "{cams}");
        assert_eq!(c["on_air"], false, "{cams}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for v in &viewers {
        assert!(v.client.connected(), "a viewer lost its connection");
    }
    // A new camera goes on air by itself; the same viewer connections carry it.
    let c = Camera::start(&studio.srv, &studio.show, &tc, 3).await;
    on_air_says(&mut room, Some(&c.camera_id)).await;
    for v in &viewers {
        v.wait_for_camera(3, 10, "C after the break").await;
    }
    for (n, v) in viewers.iter().enumerate() {
        let order = check_stream(&v.video(), true, &format!("viewer {n} video"));
        assert_eq!(order, vec![1, 2, 3], "viewer {n}");
        let audio = check_stream(&v.audio(), false, &format!("viewer {n} audio"));
        assert_eq!(audio, vec![1, 2, 3], "viewer {n}: audio falls back too");
    }
}

/// A camera client that offers only these video codecs, for refusal tests: its offer.
async fn camera_offer(video: &[RTCRtpCodecParameters], video_tracks: usize) -> (Client, String) {
    let mut c = client(video).await;
    for n in 0..video_tracks {
        let track = local_track(RtpCodecKind::Video, &video[0], 0x5000 + n as u32);
        c.pc.add_track(track as Arc<dyn TrackLocal>)
            .await
            .expect("track");
    }
    let audio = local_track(RtpCodecKind::Audio, &opus(), 0x6000);
    c.pc.add_track(audio as Arc<dyn TrackLocal>)
        .await
        .expect("track");
    let offer = c.offer().await;
    (c, offer)
}

async fn viewer_offer() -> (Viewer, String) {
    let mut v = Viewer::offer_only(&[vp8()]).await;
    let offer = v.client.offer().await;
    (v, offer)
}

async fn send(
    srv: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = srv.http.request(method, srv.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap_or_default())
}

/// Every status code of the WHIP/WHEP contract: 201 with Location, answer and Link headers;
/// DELETE 200 (then 404); PATCH 501; OPTIONS with Accept-Post; 415; 400; 401; 403; 404; 409
/// for a codec the show cannot take and for an ended show; 503 with Retry-After at capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whip_and_whep_answer_every_status_code_of_the_contract() {
    let mut cfg = config();
    cfg.max_viewers_per_node = 2;
    cfg.ice_servers = vec![
        livesale::media::IceServer::parse("stun:stun.invalid:3478").unwrap(),
        livesale::media::IceServer::parse("turn:alice:s3cr\"et@turn.invalid:3478?transport=udp")
            .unwrap(),
    ];
    let studio = Studio::new(cfg).await;
    let srv = &studio.srv;
    let show = &studio.show;
    let whip = format!("/api/shows/{show}/whip");
    let whep = format!("/api/shows/{show}/whep");
    let camera = studio.camera_token("Front").await;
    let (_, viewer) = srv.viewer(show, "Vera").await;
    let other_show = srv.show(&studio.creator, "Another show").await;
    let (_, foreign_viewer) = srv.viewer(&other_show, "Fred").await;
    let foreign_camera = srv.invite(&studio.creator, &other_show, "camera").await;
    let (mut cam_client, offer) = camera_offer(&[vp8()], 1).await;

    // OPTIONS: the CORS preflight says what POST takes.
    for path in [&whip, &whep] {
        let (status, headers, _) = send(srv, "OPTIONS", path, None).await;
        assert_eq!(status, 204, "OPTIONS {path}");
        assert_eq!(header(&headers, "accept-post"), "application/sdp");
        assert!(header(&headers, "access-control-allow-methods").contains("POST"));
        assert!(header(&headers, "access-control-allow-headers").contains("Authorization"));
    }

    // 401: no token, a bad token.
    let got = post_sdp(srv, &whip, None, "application/sdp", offer.clone()).await;
    assert_problem(&problem(got.0, &got.2), 401, "missing_token");
    let got = post_sdp(
        srv,
        &whip,
        Some("garbage"),
        "application/sdp",
        offer.clone(),
    )
    .await;
    assert_problem(&problem(got.0, &got.2), 401, "invalid_token");
    // 403: another show's camera, a viewer publishing.
    let got = post_sdp(
        srv,
        &whip,
        Some(&foreign_camera),
        "application/sdp",
        offer.clone(),
    )
    .await;
    assert_problem(&problem(got.0, &got.2), 403, "wrong_show");
    let got = post_sdp(srv, &whip, Some(&viewer), "application/sdp", offer.clone()).await;
    assert_problem(&problem(got.0, &got.2), 403, "forbidden_role");
    // 415: not SDP.
    let got = post_sdp(srv, &whip, Some(&camera), "text/plain", offer.clone()).await;
    assert_problem(&problem(got.0, &got.2), 415, "unsupported_media_type");
    // 400: not an offer; two video tracks.
    let got = post_sdp(srv, &whip, Some(&camera), "application/sdp", "hello".into()).await;
    assert_problem(&problem(got.0, &got.2), 400, "invalid_sdp");
    let got = post_sdp(srv, &whip, Some(&camera), "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n".into()).await;
    assert_problem(&problem(got.0, &got.2), 400, "invalid_sdp");
    let (_two, two_videos) = camera_offer(&[vp8()], 2).await;
    let got = post_sdp(srv, &whip, Some(&camera), "application/sdp", two_videos).await;
    assert_problem(&problem(got.0, &got.2), 400, "invalid_offer");

    // 201: the answer, its session URL, the camera id and the ICE servers.
    let (status, headers, answer) =
        post_sdp(srv, &whip, Some(&camera), "application/sdp", offer).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(header(&headers, "content-type"), "application/sdp");
    let session = header(&headers, "location");
    assert!(session.starts_with(&format!("{whip}/")), "{session}");
    assert!(answer.starts_with("v=0"), "{answer}");
    assert!(
        answer.contains("a=candidate"),
        "the answer carries the server's candidates"
    );
    let camera_id = header(&headers, "x-camera-id");
    assert!(!camera_id.is_empty());
    let links: Vec<&str> = headers
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(links.len(), 2, "{links:?}");
    assert_eq!(links[0], "<stun:stun.invalid:3478>; rel=\"ice-server\"");
    assert_eq!(
        links[1],
        "<turn:turn.invalid:3478?transport=udp>; rel=\"ice-server\"; username=\"alice\"; \
         credential=\"s3cr\\\"et\"; credential-type=\"password\""
    );
    cam_client.accept(answer).await;

    // PATCH (trickle ICE, ICE restart): not implemented; OPTIONS on the session.
    let (status, _, body) = send(srv, "PATCH", &session, Some(&camera)).await;
    assert_problem(&problem(status, &body), 501, "not_implemented");
    let (status, headers, _) = send(srv, "OPTIONS", &session, None).await;
    assert_eq!(status, 204);
    assert!(header(&headers, "access-control-allow-methods").contains("DELETE"));

    // 409: a camera offering only H.264 to a VP8 show.
    let (_h264, h264_offer) = camera_offer(&[h264()], 1).await;
    let got = post_sdp(
        srv,
        &whip,
        Some(&studio.creator),
        "application/sdp",
        h264_offer,
    )
    .await;
    assert_problem(&problem(got.0, &got.2), 409, "codec_mismatch");
    assert!(
        got.2.contains("VP8"),
        "the refusal names the show's codec: {}",
        got.2
    );

    // WHEP: 415, 400, 401, 403 as for WHIP.
    let (_v, v_offer) = viewer_offer().await;
    let got = post_sdp(
        srv,
        &whep,
        Some(&viewer),
        "application/json",
        v_offer.clone(),
    )
    .await;
    assert_problem(&problem(got.0, &got.2), 415, "unsupported_media_type");
    let got = post_sdp(srv, &whep, Some(&viewer), "application/sdp", "v=1".into()).await;
    assert_problem(&problem(got.0, &got.2), 400, "invalid_sdp");
    let got = post_sdp(srv, &whep, None, "application/sdp", v_offer.clone()).await;
    assert_problem(&problem(got.0, &got.2), 401, "missing_token");
    let got = post_sdp(
        srv,
        &whep,
        Some(&foreign_viewer),
        "application/sdp",
        v_offer.clone(),
    )
    .await;
    assert_problem(&problem(got.0, &got.2), 403, "wrong_show");
    let got = post_sdp(
        srv,
        &whep,
        Some(&camera),
        "application/sdp",
        v_offer.clone(),
    )
    .await;
    assert_problem(&problem(got.0, &got.2), 403, "forbidden_role");
    // A viewer may not pick a camera; the creator may, if it exists.
    let direct = format!("{whep}?camera={camera_id}");
    let got = post_sdp(
        srv,
        &direct,
        Some(&viewer),
        "application/sdp",
        v_offer.clone(),
    )
    .await;
    assert_problem(&problem(got.0, &got.2), 403, "forbidden_role");
    let got = post_sdp(
        srv,
        &format!("{whep}?camera=nope"),
        Some(&studio.creator),
        "application/sdp",
        v_offer.clone(),
    )
    .await;
    assert_problem(&problem(got.0, &got.2), 404, "camera_not_found");

    // 201 twice (capacity 2), then 503 with Retry-After.
    let first = Viewer::start(srv, show, &viewer, "").await;
    let preview = Viewer::start(srv, show, &studio.creator, &format!("?camera={camera_id}")).await;
    let (_third, third_offer) = viewer_offer().await;
    let (status, headers, body) = post_sdp(
        srv,
        &whep,
        Some(&viewer),
        "application/sdp",
        third_offer.clone(),
    )
    .await;
    assert_problem(&problem(status, &body), 503, "media_at_capacity");
    assert_eq!(header(&headers, "retry-after"), "10");

    // Only a session's owner or the show's creator ends or changes it: not another viewer of
    // the same show, a moderator or a camera (403); a token for another show is refused too.
    let moderator = srv.invite(&studio.creator, show, "moderator").await;
    let (_, other_viewer) = srv.viewer(show, "Otto").await;
    for (who, token) in [
        ("another viewer", &other_viewer),
        ("a moderator", &moderator),
        ("a camera", &camera),
        ("another show's viewer", &foreign_viewer),
    ] {
        for method in ["DELETE", "PATCH"] {
            let (status, _, body) = send(srv, method, &first.session, Some(token)).await;
            let code = if who == "another show's viewer" {
                "wrong_show"
            } else {
                "not_session_owner"
            };
            assert_problem(&problem(status, &body), 403, code);
        }
    }
    let (status, _, body) = send(srv, "DELETE", &first.session, None).await;
    assert_problem(&problem(status, &body), 401, "missing_token");
    // The owner may (PATCH is still not implemented for it).
    let (status, _, body) = send(srv, "PATCH", &first.session, Some(&viewer)).await;
    assert_problem(&problem(status, &body), 501, "not_implemented");
    // The creator's preview: the viewer may not end it, the creator may.
    let (status, _, body) = send(srv, "DELETE", &preview.session, Some(&viewer)).await;
    assert_problem(&problem(status, &body), 403, "not_session_owner");

    // DELETE ends a session (200), once (then 404); its capacity is free again.
    let (status, _, body) = send(srv, "DELETE", &preview.session, Some(&studio.creator)).await;
    assert_eq!(status, 200, "the show's creator ends any session: {body}");
    let (status, _, body) = send(srv, "DELETE", &preview.session, Some(&studio.creator)).await;
    assert_problem(&problem(status, &body), 404, "session_not_found");
    let (status, _, answer) =
        post_sdp(srv, &whep, Some(&viewer), "application/sdp", third_offer).await;
    assert_eq!(status, 201, "capacity is back: {answer}");
    first.wait_for_camera(1, 0, "connected").await;

    // WHIP DELETE: only the camera that publishes it, or the show's creator.
    let (status, _, body) = send(srv, "DELETE", &session, None).await;
    assert_problem(&problem(status, &body), 401, "missing_token");
    let second_camera = studio.camera_token("Back").await;
    for token in [&viewer, &moderator, &second_camera] {
        let (status, _, body) = send(srv, "DELETE", &session, Some(token)).await;
        assert_problem(&problem(status, &body), 403, "not_session_owner");
    }
    let (status, _, body) = send(srv, "DELETE", &format!("{whip}/nope"), Some(&camera)).await;
    assert_problem(&problem(status, &body), 404, "session_not_found");
    let (status, _, _) = send(srv, "DELETE", &session, Some(&camera)).await;
    assert_eq!(status, 200);
    let (status, _, body) = send(srv, "DELETE", &session, Some(&camera)).await;
    assert_problem(&problem(status, &body), 404, "session_not_found");

    // An ended show takes no media.
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/start"),
            Some(&studio.creator),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/end"),
            Some(&studio.creator),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_again, offer) = camera_offer(&[vp8()], 1).await;
    let got = post_sdp(srv, &whip, Some(&camera), "application/sdp", offer).await;
    assert_problem(&problem(got.0, &got.2), 409, "show_ended");
}

/// The program API: the creator switches and goes off air; others are refused; unknown
/// cameras are 404; the audio source can be fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_program_api_switches_holds_and_refuses() {
    let studio = Studio::new(config()).await;
    let srv = &studio.srv;
    let path = format!("/api/shows/{}/program", studio.show);
    let ta = studio.camera_token("A").await;
    let a = Camera::start(srv, &studio.show, &ta, 1).await;
    let (mut room, _) = WsClient::join(srv, &studio.show, Some(&ta)).await;
    let (_, viewer) = srv.viewer(&studio.show, "V").await;
    let v = Viewer::start(srv, &studio.show, &viewer, "").await;
    v.wait_for_camera(1, 5, "A on air").await;

    let got = srv
        .post(&path, Some(&ta), json!({ "camera": a.camera_id }))
        .await;
    assert_problem(&got, 403, "forbidden_role");
    let got = srv
        .post(&path, Some(&studio.creator), json!({ "camera": "nope" }))
        .await;
    assert_problem(&got, 404, "camera_not_found");
    let got = srv.post(&path, Some(&studio.creator), json!({})).await;
    assert_problem(&got, 422, "invalid_body");

    // Off air: the camera learns it, viewers stop getting video but stay connected.
    let (status, body) = srv
        .post(&path, Some(&studio.creator), json!({ "camera": null }))
        .await;
    assert_eq!(
        (status, body["camera"].clone()),
        (200, Value::Null),
        "{body}"
    );
    on_air_says(&mut room, None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = v.video().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(v.video().len(), before, "no video while off air");
    assert!(v.client.connected());
    // Back on air, from a keyframe, continuous.
    studio.switch(&a.camera_id).await;
    on_air_says(&mut room, Some(&a.camera_id)).await;
    v.wait_for_camera(1, 10, "back on air").await;
    let video = v.video();
    check_stream(&video, true, "video across the break");
    assert!(
        keyframe_start(&video[before].payload),
        "resumes on a keyframe"
    );
    // Audio: fixing it to the only camera works; an unknown one is 404.
    let (status, body) = srv
        .post(
            &path,
            Some(&studio.creator),
            json!({ "audio": a.camera_id }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["audio_fixed"], a.camera_id.as_str());
    let got = srv
        .post(&path, Some(&studio.creator), json!({ "audio": "nope" }))
        .await;
    assert_problem(&got, 404, "camera_not_found");
    // A microphone (an audio-only camera) can carry the audio, never the picture.
    let (mut mic, mic_offer) = camera_offer(&[vp8()], 0).await;
    let whip = format!("/api/shows/{}/whip?label=Mic", studio.show);
    let (status, headers, answer) = post_sdp(
        srv,
        &whip,
        Some(&studio.creator),
        "application/sdp",
        mic_offer,
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    mic.accept(answer).await;
    let mic_id = header(&headers, "x-camera-id");
    let got = srv
        .post(&path, Some(&studio.creator), json!({ "camera": mic_id }))
        .await;
    assert_problem(&got, 409, "camera_without_video");
    let (status, body) = srv
        .post(&path, Some(&studio.creator), json!({ "audio": mic_id }))
        .await;
    assert_eq!(status, 200, "{body}");
    let cams = studio.cameras().await;
    let mic_view = cams["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == mic_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(mic_view["label"], "Mic", "{cams}");
    assert_eq!(mic_view["video"], false, "{cams}");
    let (status, body) = srv
        .get(
            &format!("/api/shows/{}/cameras", studio.show),
            Some(&viewer),
        )
        .await;
    assert_eq!(status, 403, "{body}");
}

/// Two nodes on one Redis: the node a camera published to is the show's media home; WHIP and
/// WHEP on the other node are redirected there (307), the camera list and the program switch
/// are answered through it, and `program.changed` reaches rooms on both nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_redirects_media_to_the_shows_home() {
    let mut config_a = test_config(Backend::Redis);
    config_a.node_id = Some("media-a".into());
    let mut config_b = config_a.clone();
    config_b.node_id = Some("media-b".into());
    let studio = Studio::new(config_a).await;
    let b = TestServer::start_with(config_b).await;
    let show = studio.show.clone();
    let token = studio.camera_token("Home").await;
    let cam = Camera::start(&studio.srv, &show, &token, 1).await;

    // WHEP and WHIP on node B: 307 to node A, path and query kept.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(WAIT)
        .build()
        .unwrap();
    let (_, vtoken) = b.viewer(&show, "Remote").await;
    let (mut viewer, offer) = viewer_offer().await;
    let path = format!("/api/shows/{show}/whep");
    let resp = no_redirects
        .post(b.url(&path))
        .bearer_auth(&vtoken)
        .header("content-type", "application/sdp")
        .body(offer.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 307);
    let location = header(resp.headers(), "location");
    assert_eq!(location, studio.srv.url(&path));
    let (_, whip_offer) = camera_offer(&[vp8()], 1).await;
    let resp = no_redirects
        .post(b.url(&format!("/api/shows/{show}/whip?label=x")))
        .bearer_auth(&studio.creator)
        .header("content-type", "application/sdp")
        .body(whip_offer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 307);
    assert_eq!(
        header(resp.headers(), "location"),
        studio.srv.url(&format!("/api/shows/{show}/whip?label=x"))
    );
    // Following the redirect, as WHEP clients do, plays the show from node A.
    let resp = no_redirects
        .post(&location)
        .bearer_auth(&vtoken)
        .header("content-type", "application/sdp")
        .body(offer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    viewer.client.accept(resp.text().await.unwrap()).await;
    viewer.wait_for_camera(1, 10, "through the home node").await;

    // The camera list and the switch, asked of node B, are node A's.
    let (status, cams) = b
        .get(&format!("/api/shows/{show}/cameras"), Some(&studio.creator))
        .await;
    assert_eq!(status, 200, "{cams}");
    assert_eq!(cams["cameras"][0]["id"], cam.camera_id.as_str(), "{cams}");
    let (mut room_b, welcome) = WsClient::join(&b, &show, Some(&vtoken)).await;
    assert_eq!(
        welcome["program"],
        cam.camera_id.as_str(),
        "welcome on node B: {welcome}"
    );
    let (status, body) = b
        .post(
            &format!("/api/shows/{show}/program"),
            Some(&studio.creator),
            json!({ "camera": null }),
        )
        .await;
    assert_eq!(
        (status, body["camera"].clone()),
        (200, Value::Null),
        "{body}"
    );
    on_air_says(&mut room_b, None).await;
    let (status, body) = b.get(&format!("/api/shows/{show}/program"), None).await;
    assert_eq!(
        (status, body["camera"].clone()),
        (200, Value::Null),
        "{body}"
    );
    let (status, body) = b
        .post(
            &format!("/api/shows/{show}/program"),
            Some(&vtoken),
            json!({ "camera": null }),
        )
        .await;
    assert_eq!(status, 403, "the role is checked on node B too: {body}");
    b.stop().await;
}
