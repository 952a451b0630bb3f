//! LL-HLS: the on-air program of each show packaged as CMAF/fMP4 without transcoding, and
//! served as a live window with blocking playlist reload (RFC 8216bis). docs/hls.md tells the
//! design.
//!
//! ```text
//! ShowMedia::route ──try_send──▶ packager queue ──▶ packager task: Packager (Rewriter per kind,
//!  (program items, like a          (bounded: full    H.264 depacketizer, Segmenter, fmp4)
//!   WHEP program viewer)            = gap, keyframe)        │ events
//!                                                           ▼
//!                          HTTP ◀── Program: Window (files, playlist) + watch (new part)
//! ```
//!
//! [`Hls`] is this node's set of packaged programs, one per show, created by the first
//! packet of an H.264 program and forgotten [`FORGET_AFTER`] after its last frame (it outlives
//! short camera absences: its media sequence numbers never go back while it lives). One file
//! per concept: [`packager`] (RTP → samples), [`segmenter`] (samples → parts and segments),
//! [`fmp4`] (the boxes), [`window`] (the live window and the playlist), [`sps`] (picture size).
//! Nothing here knows HTTP: `http/hls.rs` asks [`super::Media`], which asks this.

pub mod fmp4;
pub mod packager;
pub mod segmenter;
pub mod sps;
pub mod window;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::router::{Item, Source};
use crate::domain::ShowId;
use packager::Packager;
pub use window::{Block, FileName, Lookup, Ready};
use window::{Window, WindowSettings};

/// A program with no frame for this long is forgotten (its window and numbering with it).
pub const FORGET_AFTER: Duration = Duration::from_secs(300);
/// Items the packager may fall behind before the queue drops (and waits for a keyframe).
const QUEUE: usize = 2048;

/// The LL-HLS settings (built from the config by `app::media_config`).
#[derive(Debug, Clone, Copy)]
pub struct HlsConfig {
    pub enabled: bool,
    pub part: Duration,
    pub segment: Duration,
    /// Blocking requests held at once on this node.
    pub max_held: usize,
    pub window: Duration,
}

impl HlsConfig {
    pub fn defaults() -> HlsConfig {
        HlsConfig {
            enabled: true,
            part: Duration::from_millis(500),
            segment: Duration::from_secs(2),
            max_held: 20_000,
            window: Duration::from_secs(30),
        }
    }

    /// `EXT-X-TARGETDURATION`: segments end on keyframes, and the packager asks for one at
    /// 1.5× the segment target, so twice the target bounds them.
    pub fn target_duration_s(&self) -> u32 {
        ((self.segment.as_secs_f64() * 2.0).ceil() as u32).max(1)
    }

    /// How long a blocking request is held before the current playlist answers it.
    pub fn hold_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.target_duration_s()) * 3)
    }
}

/// Why an HLS request gets no file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HlsError {
    /// Nothing packaged here yet.
    NotStarted,
    TooFar,
    Gone,
    NotFound,
    Busy,
}

/// What HTTP serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Playlist,
    BlockingPlaylist,
    Init,
    Segment,
    Part,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Playlist => "playlist",
            FileKind::BlockingPlaylist => "blocking_playlist",
            FileKind::Init => "init",
            FileKind::Segment => "segment",
            FileKind::Part => "part",
        }
    }
}

/// One show's packaged program: the window, and a watch bumped on every change.
pub struct Program {
    window: Mutex<Window>,
    changed: watch::Sender<u64>,
    tx: mpsc::Sender<Item>,
}

impl Program {
    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn apply(&self, events: Vec<packager::Step>) {
        let mut window = self.lock();
        let before = window.version;
        for step in events {
            window.apply(step.events);
        }
        if window.version != before {
            self.changed.send_replace(window.version);
        }
    }
}

struct Metrics {
    parts: metrics::Counter,
    segments: metrics::Counter,
    bytes: metrics::Counter,
    held: metrics::Gauge,
    lag: metrics::Histogram,
    queue_drops: metrics::Counter,
}

/// This node's packaged programs.
pub struct Hls {
    pub config: HlsConfig,
    programs: Mutex<HashMap<ShowId, Arc<Program>>>,
    held: AtomicUsize,
    /// Unix ms at the node's monotonic epoch (`Item::at_ms` counts from it).
    epoch_unix_ms: i64,
    metrics: Metrics,
    /// Writes every published part to the recordings dir (`media/recording`).
    recorder: Option<Arc<crate::media::recording::Recorder>>,
    me: Weak<Hls>,
}

/// A held blocking request's place (given back when dropped, e.g. when the client leaves).
struct Held<'a>(&'a Hls);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let now = self.0.held.fetch_sub(1, Ordering::AcqRel) - 1;
        self.0.metrics.held.set(now as f64);
    }
}

impl Hls {
    pub fn new(
        config: HlsConfig,
        epoch: Instant,
        recorder: Option<Arc<crate::media::recording::Recorder>>,
    ) -> Arc<Hls> {
        let now_unix = chrono::Utc::now().timestamp_millis();
        let epoch_unix_ms = now_unix - epoch.elapsed().as_millis() as i64;
        Arc::new_cyclic(|me| Hls {
            config,
            programs: Mutex::new(HashMap::new()),
            held: AtomicUsize::new(0),
            epoch_unix_ms,
            metrics: Metrics {
                parts: metrics::counter!("livesale_hls_parts_total"),
                segments: metrics::counter!("livesale_hls_segments_total"),
                bytes: metrics::counter!("livesale_hls_bytes_total"),
                held: metrics::gauge!("livesale_hls_held_requests"),
                lag: metrics::histogram!("livesale_hls_packager_lag_seconds"),
                queue_drops: metrics::counter!("livesale_media_dropped_packets_total", "reason" => "hls_queue_full"),
            },
            recorder,
            me: me.clone(),
        })
    }

    fn programs(&self) -> std::sync::MutexGuard<'_, HashMap<ShowId, Arc<Program>>> {
        self.programs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The counter of packets the packager queue refused.
    pub fn queue_drops(&self) -> &metrics::Counter {
        &self.metrics.queue_drops
    }

    /// The queue of the show's packager, started if needed (called by the router, never waits).
    pub fn feed(&self, show: ShowId) -> Option<mpsc::Sender<Item>> {
        if !self.config.enabled {
            return None;
        }
        let mut programs = self.programs();
        if let Some(p) = programs.get(&show)
            && !p.tx.is_closed()
        {
            return Some(p.tx.clone());
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        // Numbers that no earlier program of this show used (before a restart, or before it
        // was forgotten): a cache in front keeps immutable files by name. A tenth of a second
        // per number is more than a segment lasts.
        let first = u64::try_from(chrono::Utc::now().timestamp_millis() / 100).unwrap_or(0);
        let settings = WindowSettings {
            part_target_s: self.config.part.as_secs_f64(),
            target_duration_s: self.config.target_duration_s(),
            window_s: self.config.window.as_secs_f64(),
            first_msn: first,
        };
        let program = Arc::new(Program {
            window: Mutex::new(Window::new(settings)),
            changed: watch::Sender::new(0),
            tx: tx.clone(),
        });
        programs.insert(show, program.clone());
        tokio::spawn(package(self.me.clone(), show, program, rx, first));
        Some(tx)
    }

    fn program(&self, show: ShowId) -> Option<Arc<Program>> {
        self.programs().get(&show).cloned()
    }

    /// Whether this node packages the show.
    pub fn has(&self, show: ShowId) -> bool {
        self.programs().contains_key(&show)
    }

    /// The show's media playlist; with `block`, once it holds that part (or after the hold
    /// timeout, as it is then). `ended`: the show has ended (the playlist says so).
    pub async fn playlist(
        &self,
        show: ShowId,
        ended: bool,
        block: Option<Block>,
    ) -> Result<Bytes, HlsError> {
        let program = self.program(show).ok_or(HlsError::NotStarted)?;
        if ended {
            let mut window = program.lock();
            window.end();
            program.changed.send_replace(window.version);
        }
        let Some(block) = block else {
            let window = program.lock();
            if !window.started() {
                return Err(HlsError::NotStarted);
            }
            return Ok(window.playlist());
        };
        let ready = |w: &Window| w.ready(block);
        let now = ready(&program.lock());
        match now {
            Ready::TooFar => return Err(HlsError::TooFar),
            Ready::Now => return Ok(program.lock().playlist()),
            Ready::Wait => {}
        }
        let _held = self.hold()?;
        self.wait(&program, |w| ready(w) != Ready::Wait).await;
        Ok(program.lock().playlist())
    }

    /// A file of the show's window; the next part (the preload hint) is waited for.
    pub async fn file(&self, show: ShowId, name: FileName) -> Result<Bytes, HlsError> {
        let program = self.program(show).ok_or(HlsError::NotStarted)?;
        let lookup = program.lock().file(name);
        let lookup = match lookup {
            Lookup::Soon => {
                let _held = self.hold()?;
                self.wait(&program, |w| w.file(name) != Lookup::Soon).await;
                program.lock().file(name)
            }
            other => other,
        };
        match lookup {
            Lookup::Ready(bytes) => Ok(bytes),
            Lookup::Gone => Err(HlsError::Gone),
            Lookup::Soon | Lookup::Missing => Err(HlsError::NotFound),
        }
    }

    fn hold(&self) -> Result<Held<'_>, HlsError> {
        let before = self.held.fetch_add(1, Ordering::AcqRel);
        let held = Held(self);
        if before >= self.config.max_held {
            return Err(HlsError::Busy);
        }
        self.metrics.held.set((before + 1) as f64);
        Ok(held)
    }

    /// Waits until `done` holds for the window, or the hold timeout.
    async fn wait(&self, program: &Program, done: impl Fn(&Window) -> bool) {
        let mut rx = program.changed.subscribe();
        let deadline = tokio::time::Instant::now() + self.config.hold_timeout();
        loop {
            if done(&program.lock()) {
                return;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    }

    fn forget(&self, show: ShowId, program: &Arc<Program>) {
        let mut programs = self.programs();
        if programs.get(&show).is_some_and(|p| Arc::ptr_eq(p, program)) {
            programs.remove(&show);
        }
    }
}

/// The packager task of one show: items in, events applied to the window; a tick notices
/// when nothing has been on air for two parts (a gap) and when the program is to be
/// forgotten.
async fn package(
    hls: Weak<Hls>,
    show: ShowId,
    program: Arc<Program>,
    mut rx: mpsc::Receiver<Item>,
    first: u64,
) {
    let (config, epoch_unix_ms) = match hls.upgrade() {
        Some(h) => (h.config, h.epoch_unix_ms),
        None => return,
    };
    let part_ms = config.part.as_millis() as u64;
    let segment_ms = config.segment.as_millis() as u64;
    let mut packager = Packager::new(part_ms, segment_ms, epoch_unix_ms, first);
    let mut tick = tokio::time::interval(config.part);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_item = Instant::now();
    // Video drives segments: with the program's video off air (its audio may go on), the open
    // segment must end, or it would hold a hole in its video that its duration does not count.
    let mut last_video = Instant::now();
    let mut flowing = false;
    let mut video: Option<Arc<Source>> = None;
    tracing::info!(%show, "HLS packaging starts");
    loop {
        tokio::select! {
            item = rx.recv() => {
                let Some(item) = item else { break };
                last_item = Instant::now();
                if item.source.codec.is_video() {
                    last_video = last_item;
                    video = Some(item.source.clone());
                }
                let step = packager.push(&item);
                if step.want_keyframe && let Some(v) = &video {
                    v.want_keyframe();
                }
                if !step.events.is_empty() {
                    flowing = true;
                    let Some(h) = hls.upgrade() else { break };
                    h.count(&step.events, item.at_ms, epoch_unix_ms);
                    if let Some(r) = &h.recorder {
                        r.record(show, &step.events);
                    }
                    program.apply(vec![step]);
                }
            }
            _ = tick.tick() => {
                let idle = last_item.elapsed();
                if flowing && last_video.elapsed() > config.part * 2 {
                    flowing = false;
                    let events = packager.gap();
                    if let Some(h) = hls.upgrade() {
                        h.count(&events, 0, epoch_unix_ms);
                        if let Some(r) = &h.recorder {
                            r.record(show, &events);
                        }
                    }
                    program.apply(vec![packager::Step { events, want_keyframe: false }]);
                }
                if idle > FORGET_AFTER {
                    break;
                }
            }
        }
    }
    tracing::info!(%show, "HLS packaging ends");
    if let Some(h) = hls.upgrade() {
        h.forget(show, &program);
        if let Some(r) = &h.recorder {
            r.finish(show);
        }
    }
}

impl Hls {
    fn count(&self, events: &[segmenter::Event], at_ms: u64, epoch_unix_ms: i64) {
        for e in events {
            match e {
                segmenter::Event::Part { bytes, .. } => {
                    self.metrics.parts.increment(1);
                    self.metrics.bytes.increment(bytes.len() as u64);
                    if at_ms > 0 {
                        let now = chrono::Utc::now().timestamp_millis();
                        let lag = (now - epoch_unix_ms - at_ms as i64).max(0);
                        self.metrics.lag.record(lag as f64 / 1000.0);
                    }
                }
                segmenter::Event::SegmentEnd { .. } => self.metrics.segments.increment(1),
                _ => {}
            }
        }
    }
}
