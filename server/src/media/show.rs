//! One show's media on this node ([`ShowMedia`]): its cameras and viewers, the program (what
//! is on air, a pure [`Program`] applied here under one lock), the views `GET /cameras`
//! reports, and the routing decision for each camera packet before the [`router`] fans it
//! out (to the viewers, and to the show's LL-HLS packager when the program is H.264). One task
//! per show announces program changes in the room, in order: a switch to a camera is announced
//! when the picture cuts to it (its keyframe arrived), so the `program.changed` frame's `pts`
//! is the cut's time on the server's clock (docs/protocol.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;

use super::MediaError;
use super::announce::{Announcement, announce_programs};
use super::codec::Codec;
use super::forwarder::SourceKey;
use super::hls::Hls;
use super::program::{Cam, Effect, Program};
use super::router::{self, Item, Routing, Source, ViewerLink, Watch};
use crate::domain::media_ids::CameraId;
use crate::domain::{Show, Timestamp};
use crate::hub::Hub;

/// One camera as listed by `GET /cameras`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CameraView {
    #[schema(value_type = String)]
    pub id: CameraId,
    pub label: String,
    /// Its video is the program (or it is the camera the program is switching to).
    pub on_air: bool,
    /// The program switches to it at its next keyframe.
    pub pending: bool,
    /// Its audio is the program's audio.
    pub audio_source: bool,
    pub video: bool,
    pub audio: bool,
    /// `vp8` or `h264`, once known.
    #[schema(value_type = Option<String>)]
    pub codec: Option<Codec>,
    /// The WebRTC connection is up.
    pub connected: bool,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

/// The program as `GET /cameras` and `POST /program` report it.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct ProgramView {
    /// The camera on air (or being switched to); `null`: nothing ("we'll be right back").
    #[schema(value_type = Option<String>)]
    pub camera: Option<CameraId>,
    /// The camera whose audio is on air.
    #[schema(value_type = Option<String>)]
    pub audio: Option<CameraId>,
    /// The audio source the creator fixed, if any.
    #[schema(value_type = Option<String>)]
    pub audio_fixed: Option<CameraId>,
    /// The show's video codec while cameras are connected.
    #[schema(value_type = Option<String>)]
    pub codec: Option<Codec>,
}

/// The creator's program choice: `camera` (`Some(None)`: off air) and/or the audio source
/// (`Some(None)`: back to the first camera with audio). `None` leaves a part unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgramChoice {
    pub camera: Option<Option<CameraId>>,
    pub audio: Option<Option<CameraId>>,
}

impl ProgramChoice {
    pub fn is_empty(&self) -> bool {
        self.camera.is_none() && self.audio.is_none()
    }
}

/// A camera session of the show.
pub struct CameraEntry {
    pub id: CameraId,
    pub label: String,
    pub key: u64,
    pub session: super::SessionId,
    /// The video codec family negotiated with it.
    pub family: Option<Codec>,
    pub offered_video: bool,
    pub offered_audio: bool,
    pub video: Option<Arc<Source>>,
    pub audio: Option<Arc<Source>>,
    pub connected: bool,
    pub since: Timestamp,
}

#[derive(Default)]
struct ShowState {
    cameras: Vec<CameraEntry>,
    viewers: Vec<ViewerLink>,
    program: Program,
    /// The source whose video (audio) the program forwarded last, while it still does: a
    /// packet that (re)starts the program's forwarding of a source, even the same one after
    /// a break, makes every program viewer re-anchor on it.
    video_live: Option<SourceKey>,
    audio_live: Option<SourceKey>,
    /// The LL-HLS packager's queue, fed like a program viewer's.
    packager: Option<ViewerLink>,
}

impl ShowState {
    fn cams(&self) -> Vec<Cam> {
        self.cameras
            .iter()
            .map(|c| Cam {
                id: c.id.as_str().to_string(),
                has_video: c.video.is_some() && c.connected,
                has_audio: c.audio.is_some() && c.connected,
            })
            .collect()
    }

    fn camera(&self, id: &str) -> Option<&CameraEntry> {
        self.cameras.iter().find(|c| c.id == *id)
    }

    /// The show's video is H.264 (the only one HLS carries).
    fn h264(&self) -> bool {
        self.cameras.iter().find_map(|c| c.family) == Some(Codec::H264)
    }

    /// Whether a packet of `source` is on air, and whether it (re)starts the program's
    /// forwarding of that source.
    fn on_program(
        &mut self,
        source: &Source,
        sync: bool,
        now: u64,
        effects: &mut Vec<Effect>,
        keyframe_waits: &metrics::Counter,
    ) -> (bool, bool) {
        let video = source.codec.is_video();
        let camera = source.camera.as_str();
        let on_program = if video {
            self.program.on_video(camera, sync, now, effects)
        } else {
            self.program.on_audio(camera)
        };
        if video && !on_program && self.program.pending() == Some(camera) {
            keyframe_waits.increment(1);
        }
        let live = if video {
            &mut self.video_live
        } else {
            &mut self.audio_live
        };
        let restart = on_program && *live != Some(source.key);
        if on_program {
            *live = Some(source.key);
        } else if *live == Some(source.key) {
            *live = None;
        }
        (on_program, restart)
    }
}

/// One show's media on this node.
pub struct ShowMedia {
    show: Show,
    /// Requests setting up a session or changing the program right now (see
    /// [`super::registry::KeepAlive`]).
    kept_alive: AtomicUsize,
    state: Mutex<ShowState>,
    announce: mpsc::UnboundedSender<Announcement>,
    /// The node's monotonic epoch: RTP timing and switch latencies count from it.
    epoch: Instant,
    labels: ShowMetrics,
    /// This node's LL-HLS packaging, when it is on.
    hls: Option<Arc<Hls>>,
}

struct ShowMetrics {
    cameras: metrics::Gauge,
    viewers: metrics::Gauge,
    switch_latency: metrics::Histogram,
    keyframe_waits: metrics::Counter,
    queue_drops: metrics::Counter,
}

impl ShowMetrics {
    fn new(show: &Show) -> ShowMetrics {
        let id = show.id.to_string();
        ShowMetrics {
            cameras: metrics::gauge!("livesale_media_cameras", "show" => id.clone()),
            viewers: metrics::gauge!("livesale_media_viewers", "show" => id.clone()),
            switch_latency: metrics::histogram!("livesale_media_switch_latency_seconds"),
            keyframe_waits: metrics::counter!("livesale_media_dropped_packets_total", "reason" => "program_waits_for_keyframe"),
            queue_drops: metrics::counter!("livesale_media_dropped_packets_total", "reason" => "viewer_queue_full"),
        }
    }
}

impl ShowMedia {
    pub fn new(show: Show, hub: Arc<Hub>, epoch: Instant, hls: Option<Arc<Hls>>) -> Arc<ShowMedia> {
        let (announce, rx) = mpsc::unbounded_channel::<Announcement>();
        let labels = ShowMetrics::new(&show);
        tokio::spawn(announce_programs(hub, show.clone(), rx));
        Arc::new(ShowMedia {
            show,
            kept_alive: AtomicUsize::new(0),
            state: Mutex::new(ShowState::default()),
            announce,
            epoch,
            labels,
            hls,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ShowState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn show(&self) -> &Show {
        &self.show
    }

    /// One more request holds this show's media alive.
    pub fn hold(&self) {
        self.kept_alive.fetch_add(1, Ordering::AcqRel);
    }

    /// A request that held it is done.
    pub fn release(&self) {
        self.kept_alive.fetch_sub(1, Ordering::AcqRel);
    }

    /// Nothing uses it: no session, and no request setting one up.
    pub fn is_idle(&self) -> bool {
        self.kept_alive.load(Ordering::Acquire) == 0 && self.is_empty()
    }

    /// The show's video codec: that of its cameras, while any is connected or connecting.
    pub fn codec(&self) -> Option<Codec> {
        self.lock().cameras.iter().find_map(|c| c.family)
    }

    pub fn has_camera(&self, id: &CameraId) -> bool {
        self.lock().camera(id.as_str()).is_some()
    }

    fn is_empty(&self) -> bool {
        let state = self.lock();
        state.cameras.is_empty() && state.viewers.is_empty()
    }

    /// Applies program effects (under the state lock: they only touch channels).
    fn apply(&self, state: &ShowState, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Announce(camera) => {
                    tracing::info!(show = %self.show.id, camera = ?camera, "program changed");
                    if let Some(c) = &camera
                        && let Some(cam) = state.camera(c.as_str())
                    {
                        let _ = self
                            .announce
                            .send(Announcement::Label(c.clone(), cam.label.clone()));
                    }
                    let announcement = match camera {
                        Some(c) if state.program.on_air() != Some(c.as_str()) => {
                            Announcement::AtCut(c)
                        }
                        camera => Announcement::Now(camera),
                    };
                    let _ = self.announce.send(announcement);
                }
                Effect::RequestKeyframe(camera) => {
                    if let Some(video) = state.camera(&camera).and_then(|c| c.video.as_ref()) {
                        video.want_keyframe();
                    }
                }
                Effect::Cut { camera, latency_ms } => {
                    tracing::debug!(show = %self.show.id, camera, latency_ms, "cut on a keyframe");
                    self.labels
                        .switch_latency
                        .record(latency_ms as f64 / 1000.0);
                    let _ = self.announce.send(Announcement::Cut(camera));
                }
            }
        }
    }

    /// A new camera session. Returns the session it replaces (same camera id), if any.
    pub fn add_camera(&self, entry: CameraEntry) -> Option<super::SessionId> {
        let mut state = self.lock();
        let replaced = match state.cameras.iter_mut().find(|c| c.id == entry.id) {
            Some(existing) => {
                let old = std::mem::replace(existing, entry);
                Some(old.session)
            }
            None => {
                state.cameras.push(entry);
                None
            }
        };
        self.labels.cameras.set(state.cameras.len() as f64);
        replaced
    }

    /// A camera session's track arrived.
    pub fn track_ready(&self, key: u64, source: Arc<Source>) {
        let now = self.now_ms();
        let mut state = self.lock();
        let Some(camera) = state.cameras.iter_mut().find(|c| c.key == key) else {
            return;
        };
        if source.codec.is_video() {
            camera.video = Some(source);
        } else {
            camera.audio = Some(source);
        }
        let cams = state.cams();
        let effects = state.program.camera_updated(&cams, now);
        self.apply(&state, effects);
    }

    /// A camera's connection came up, or dropped (it may come back; if it does not, the
    /// session ends). A dropped on-air camera hands the program over at once.
    pub fn camera_connected(&self, key: u64, connected: bool) {
        let now = self.now_ms();
        let mut state = self.lock();
        let Some(c) = state.cameras.iter_mut().find(|c| c.key == key) else {
            return;
        };
        if c.connected == connected {
            return;
        }
        c.connected = connected;
        let id = c.id.as_str().to_string();
        let cams = state.cams();
        let effects = if connected {
            state.program.camera_updated(&cams, now)
        } else {
            state.program.camera_lost(&id, &cams, now)
        };
        self.apply(&state, effects);
    }

    /// A camera session ended (unless it was replaced by a newer session of the same camera).
    pub fn camera_gone(&self, key: u64, now: u64) {
        let mut state = self.lock();
        let Some(at) = state.cameras.iter().position(|c| c.key == key) else {
            return;
        };
        let gone = state.cameras.remove(at);
        let cams = state.cams();
        let effects = state.program.camera_left(gone.id.as_str(), &cams, now);
        self.apply(&state, effects);
        self.labels.cameras.set(state.cameras.len() as f64);
    }

    pub fn add_viewer(&self, key: u64, watch: Watch, tx: mpsc::Sender<Item>) {
        let mut state = self.lock();
        state.viewers.push(ViewerLink::new(key, watch, tx));
        self.labels.viewers.set(state.viewers.len() as f64);
    }

    pub fn viewer_gone(&self, key: u64) {
        let mut state = self.lock();
        state.viewers.retain(|v| v.key != key);
        self.labels.viewers.set(state.viewers.len() as f64);
    }

    /// The creator's program choice.
    pub fn direct(&self, choice: &ProgramChoice, now: u64) -> Result<(), MediaError> {
        let mut state = self.lock();
        let ProgramChoice { camera, audio } = choice;
        for id in [camera, audio].into_iter().flatten().flatten() {
            if state.camera(id.as_str()).is_none() {
                return Err(MediaError::CameraNotFound(id.clone()));
            }
        }
        if let Some(Some(id)) = camera
            && state.camera(id.as_str()).is_some_and(|c| !c.offered_video)
        {
            return Err(MediaError::NoVideo(id.clone()));
        }
        let cams = state.cams();
        if let Some(audio) = audio {
            state
                .program
                .fix_audio(audio.as_ref().map(CameraId::as_str), &cams);
        }
        if let Some(camera) = camera {
            let effects = state
                .program
                .select(camera.as_ref().map(CameraId::as_str), now);
            self.apply(&state, effects);
        }
        Ok(())
    }

    pub fn view(&self) -> (Vec<CameraView>, ProgramView) {
        let state = self.lock();
        let chosen = state.program.chosen();
        let cameras = state
            .cameras
            .iter()
            .map(|c| CameraView {
                id: c.id.clone(),
                label: c.label.clone(),
                on_air: chosen == Some(c.id.as_str()),
                pending: state.program.pending() == Some(c.id.as_str()),
                audio_source: state.program.audio() == Some(c.id.as_str()),
                video: c.offered_video,
                audio: c.offered_audio,
                codec: c.family,
                connected: c.connected,
                since: c.since,
            })
            .collect();
        let program = ProgramView {
            camera: chosen.map(CameraId::new),
            audio: state.program.audio().map(CameraId::new),
            audio_fixed: state.program.audio_fixed().map(CameraId::new),
            codec: state.cameras.iter().find_map(|c| c.family),
        };
        (cameras, program)
    }

    /// The camera on air (or being switched to), for `welcome` and `GET /program`.
    pub fn on_air(&self) -> Option<CameraId> {
        self.lock().program.chosen().map(CameraId::new)
    }

    /// Hands an on-air packet to the show's LL-HLS packager (started on the first one), like
    /// to a program viewer: a full queue is a gap that waits for the next keyframe.
    fn package(
        &self,
        state: &mut ShowState,
        hls: &Hls,
        source: &Arc<Source>,
        packet: &rtc::rtp::Packet,
        routing: Routing,
    ) {
        if !state.h264() {
            return;
        }
        if state.packager.as_ref().is_none_or(|l| l.tx.is_closed()) {
            state.packager = hls
                .feed(self.show.id)
                .map(|tx| ViewerLink::new(0, Watch::Program, tx));
        }
        if let Some(link) = state.packager.as_mut() {
            router::fan_out(
                std::slice::from_mut(link),
                source,
                packet,
                routing,
                hls.queue_drops(),
            );
        }
    }

    /// Routes one packet of a camera's track to the viewers that want it. Never waits.
    pub fn route(&self, source: &Arc<Source>, mut packet: rtc::rtp::Packet) {
        if packet.payload.is_empty() {
            // Padding only (bandwidth probing): nothing for a viewer to decode.
            return;
        }
        let now = self.now_ms();
        let video = source.codec.is_video();
        let sync = source.codec.is_sync_point(&packet.payload);
        router::strip_extensions(&mut packet);
        let mut effects = Vec::new();
        let mut state = self.lock();
        let Some(camera) = state.camera(source.camera.as_str()) else {
            return;
        };
        if camera.key != source.key.session {
            return; // a replaced session's last packets
        }
        let (on_program, restart) =
            state.on_program(source, sync, now, &mut effects, &self.labels.keyframe_waits);
        let routing = Routing {
            video,
            sync,
            on_program,
            restart,
            now_ms: now,
        };
        let drops = &self.labels.queue_drops;
        if router::fan_out(&mut state.viewers, source, &packet, routing, drops) {
            state.viewers.retain(|v| !v.tx.is_closed());
            self.labels.viewers.set(state.viewers.len() as f64);
        }
        if on_program && let Some(hls) = &self.hls {
            self.package(&mut state, hls, source, &packet, routing);
        }
        if !effects.is_empty() {
            self.apply(&state, effects);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::media_ids::SessionId;
    use crate::domain::{CreatorId, NewShow, ShowId};
    use crate::hub::{MemoryBus, RoomConfig};
    use crate::media::forwarder::{Rewriter, Verdict};
    use std::time::Duration;

    fn show_media() -> Arc<ShowMedia> {
        let config = crate::config::Config::defaults();
        let clock: crate::clock::SharedClock = Arc::new(crate::clock::SystemClock);
        let bus = Arc::new(MemoryBus::new(
            crate::app::room_limits(&config),
            clock.clone(),
        ));
        let hub = Hub::new(
            bus,
            "test".into(),
            RoomConfig {
                queue: 16,
                reaction_window: Duration::from_millis(250),
                presence_interval: Duration::from_secs(1),
                linger: Duration::from_secs(1),
            },
            clock,
        );
        let show = Show::schedule(
            ShowId(uuid::Uuid::now_v7()),
            CreatorId(uuid::Uuid::now_v7()),
            NewShow {
                title: "t".into(),
                ..Default::default()
            },
            Timestamp::default(),
        )
        .unwrap();
        ShowMedia::new(show, hub, Instant::now(), None)
    }

    fn camera(id: &str, key: u64) -> CameraEntry {
        CameraEntry {
            id: CameraId::new(id),
            label: id.into(),
            key,
            session: SessionId::from_uuid(uuid::Uuid::from_u128(u128::from(key))),
            family: Some(Codec::Vp8),
            offered_video: true,
            offered_audio: false,
            video: None,
            audio: None,
            connected: true,
            since: Timestamp::default(),
        }
    }

    fn packet(seq: u16, key: bool) -> rtc::rtp::Packet {
        let mut p = rtc::rtp::Packet::default();
        p.header.sequence_number = seq;
        p.header.timestamp = u32::from(seq) * 3000;
        p.header.extension = true;
        p.header.extensions = vec![rtc::rtp::header::Extension {
            id: 3,
            payload: bytes::Bytes::from_static(&[1, 2]),
        }];
        p.payload = bytes::Bytes::from(vec![0x10, if key { 0x00 } else { 0x01 }, 7]);
        p
    }

    /// A viewer whose queue is full loses packets, is asked nothing of, and resumes at the
    /// next keyframe with its numbering closed; the camera is asked for that keyframe.
    #[tokio::test]
    async fn a_full_viewer_queue_drops_then_skips_to_the_next_keyframe() {
        let show = show_media();
        show.add_camera(camera("a", 1));
        let (kf_tx, mut kf_rx) = mpsc::channel::<()>(1);
        let source = Arc::new(Source {
            key: SourceKey {
                session: 1,
                ssrc: 42,
            },
            codec: Codec::Vp8,
            camera: CameraId::new("a"),
            keyframes: kf_tx,
        });
        show.track_ready(1, source.clone());
        assert!(kf_rx.try_recv().is_ok(), "going on air asks for a keyframe");
        let (tx, mut rx) = mpsc::channel::<Item>(4);
        show.add_viewer(10, Watch::Program, tx);
        // Before its keyframe the camera is not on air.
        show.route(&source, packet(99, false));
        assert!(rx.try_recv().is_err());
        // Keyframe at 100, then 11 more packets: 4 fit, the rest are dropped.
        show.route(&source, packet(100, true));
        for seq in 101..112 {
            show.route(&source, packet(seq, false));
        }
        assert!(kf_rx.try_recv().is_ok(), "the overflow asks for a keyframe");
        let mut rw = Rewriter::new(90_000);
        let mut push = |item: Item| {
            assert!(!item.packet.header.extension && item.packet.header.extensions.is_empty());
            rw.push(item.incoming())
        };
        let mut sent = Vec::new();
        while let Ok(item) = rx.try_recv() {
            // The first one (re)starts the program's forwarding: it re-anchors the viewer.
            assert_eq!(item.after_gap, sent.is_empty());
            if let Verdict::Send { seq, .. } = push(item) {
                sent.push(seq);
            }
        }
        assert_eq!(sent, vec![100, 101, 102, 103]);
        // The next packet carries the gap: the viewer waits for a keyframe.
        show.route(&source, packet(112, false));
        let item = rx.try_recv().unwrap();
        assert!(item.after_gap);
        assert_eq!(push(item), Verdict::WantKeyframe);
        show.route(&source, packet(113, true));
        let item = rx.try_recv().unwrap();
        assert!(!item.after_gap);
        match push(item) {
            Verdict::Send { seq, ts } => {
                assert_eq!(seq, 104, "the numbering continues");
                assert!(ts > 103 * 3000, "the clock moves on");
            }
            other => panic!("the keyframe is sent, got {other:?}"),
        }
        // The closed viewer is forgotten on the next packet.
        drop(rx);
        show.route(&source, packet(114, false));
        assert!(show.lock().viewers.is_empty());
    }
}
