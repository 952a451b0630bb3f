//! Recording: every part the LL-HLS packager publishes is appended to its segment's file under
//! `--recordings-dir/<show id>/` (`init-{V}.mp4`, `seg-{MSN}.m4s`: the same names and bytes as
//! the live window), and the show's index in the store ([`RecordingStore`]) is updated after
//! each part. docs/replay.md tells the design.
//!
//! - Durability: each part is written and flushed (no fsync: a process crash loses at most
//!   the part in flight; a machine crash may lose what the kernel had not written back).
//! - Resume: a node that starts recording a show that already has an index (it was restarted
//!   mid-show) truncates a segment left open to its indexed bytes, and its first segment
//!   carries a discontinuity. The packager numbers from the clock, so names never clash.
//! - Failure: a write error (ENOSPC) stops recording that show with one `error!` and
//!   `livesale_recording_errors_total{reason}`; the show and its LL-HLS go on.
//! - Retention: a sweeper deletes recordings last written more than `keep` ago (files and
//!   index) and sets `livesale_recordings_bytes` from the directory's size.
//! - [`vod`] renders the replay playlist; [`mp4`] joins the recording into one MP4.

pub mod mp4;
pub mod vod;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::hls::segmenter::Event;
use crate::clock::SharedClock;
use crate::domain::ShowId;
use crate::store::recordings::{RecordedSegment, Recording, RecordingStore};

/// Where and how long recordings are kept.
#[derive(Debug, Clone)]
pub struct RecordingConfig {
    pub dir: PathBuf,
    /// Recordings last written longer ago than this are deleted.
    pub keep: Duration,
    /// How often the sweeper runs (and disk use is measured).
    pub sweep_every: Duration,
}

/// A file name of a recording, parsed into the known shapes only (anything else, `..`, `/`
/// or an encoded dot included, is no name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedFile {
    Init(u64),
    Segment(u64),
}

impl RecordedFile {
    pub fn parse(name: &str) -> Option<RecordedFile> {
        let digits = |s: &str| -> Option<u64> {
            if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        if let Some(v) = name
            .strip_prefix("init-")
            .and_then(|r| r.strip_suffix(".mp4"))
        {
            return digits(v).map(RecordedFile::Init);
        }
        let m = name.strip_prefix("seg-")?.strip_suffix(".m4s")?;
        digits(m).map(RecordedFile::Segment)
    }

    pub fn name(self) -> String {
        match self {
            RecordedFile::Init(v) => format!("init-{v}.mp4"),
            RecordedFile::Segment(m) => format!("seg-{m}.m4s"),
        }
    }
}

/// After a show ends, how long a segment left open may still be closed by its writer: the
/// replay waits for it until then.
pub const SETTLE: Duration = Duration::from_secs(15);

/// A segment that starts this much after the previous one ended follows a hole (a
/// discontinuity in the replay).
const HOLE_MS: i64 = 500;

/// The file name of the joined MP4, beside the segments.
pub const MP4_NAME: &str = "recording.mp4";

struct Metrics {
    bytes: metrics::Gauge,
}

/// This node's recorder: one writer task per show being packaged here.
pub struct Recorder {
    pub config: RecordingConfig,
    store: Arc<dyn RecordingStore>,
    clock: SharedClock,
    shows: Mutex<HashMap<ShowId, mpsc::UnboundedSender<Event>>>,
    bytes: AtomicU64,
    metrics: Metrics,
    /// Where the shows' room transcripts are, deleted with their recordings (set at start).
    transcripts: std::sync::OnceLock<Arc<dyn crate::store::TranscriptStore>>,
    /// This node's public base URL, written into each segment it records (set at start).
    node: std::sync::OnceLock<String>,
}

fn error_metric(reason: &'static str) {
    metrics::counter!("livesale_recording_errors_total", "reason" => reason).increment(1);
}

impl Recorder {
    /// Must be called inside a tokio runtime: starts the retention sweeper.
    pub fn new(
        config: RecordingConfig,
        store: Arc<dyn RecordingStore>,
        clock: SharedClock,
    ) -> Arc<Recorder> {
        let recorder = Arc::new(Recorder {
            config,
            store,
            clock,
            shows: Mutex::new(HashMap::new()),
            bytes: AtomicU64::new(0),
            metrics: Metrics {
                bytes: metrics::gauge!("livesale_recordings_bytes"),
            },
            transcripts: std::sync::OnceLock::new(),
            node: std::sync::OnceLock::new(),
        });
        error_metric_init();
        tokio::spawn(sweep(Arc::downgrade(&recorder)));
        recorder
    }

    /// Deletes each show's room transcript with its recording (the replay's other half).
    pub fn sweep_transcripts_in(&self, store: Arc<dyn crate::store::TranscriptStore>) {
        let _ = self.transcripts.set(store);
    }

    /// Names this node (its public base URL) in the segments it records, so the other nodes
    /// know whom to ask for their files.
    pub fn record_as(&self, node: String) {
        let _ = self.node.set(node);
    }

    fn shows(&self) -> std::sync::MutexGuard<'_, HashMap<ShowId, mpsc::UnboundedSender<Event>>> {
        self.shows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The show's folder.
    pub fn show_dir(&self, show: ShowId) -> PathBuf {
        self.config.dir.join(show.to_string())
    }

    /// Events the packager published for the show (never waits).
    pub fn record(self: &Arc<Self>, show: ShowId, events: &[Event]) {
        if events.is_empty() {
            return;
        }
        let mut shows = self.shows();
        let tx = match shows.get(&show) {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let (tx, rx) = mpsc::unbounded_channel();
                shows.insert(show, tx.clone());
                tokio::spawn(write_show(self.clone(), show, rx));
                tx
            }
        };
        for e in events {
            let _ = tx.send(e.clone());
        }
    }

    /// The packager of the show stopped: its writer ends once it has written what it has.
    pub fn finish(&self, show: ShowId) {
        self.shows().remove(&show);
    }

    pub async fn recording(
        &self,
        show: ShowId,
    ) -> Result<Option<Recording>, crate::store::StoreError> {
        self.store.recording(show).await
    }

    fn wrote(&self, n: u64) {
        let now = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        self.metrics.bytes.set(now as f64);
    }

    /// One retention pass: recordings last written before `keep` ago are deleted; returns
    /// how many.
    pub async fn sweep_once(&self) -> usize {
        let now = self.clock.now_ms() as i64;
        let before = now - self.config.keep.as_millis() as i64;
        let shows = match self.store.recordings_before(before).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "recording sweep: the store is unavailable");
                error_metric("store");
                return 0;
            }
        };
        let mut removed = 0;
        for show in shows {
            if self.shows().contains_key(&show) {
                continue;
            }
            let dir = self.show_dir(show);
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(%show, error = %e, "recording sweep: cannot delete the folder");
                    error_metric("io");
                    continue;
                }
            }
            if let Some(transcripts) = self.transcripts.get()
                && let Err(e) = transcripts.remove_transcript(show).await
            {
                tracing::warn!(%show, error = %e, "recording sweep: transcript not deleted");
                continue;
            }
            if self.store.remove_recording(show).await.is_ok() {
                tracing::info!(%show, "recording deleted (older than the retention)");
                removed += 1;
            }
        }
        let dir = self.config.dir.clone();
        let used = tokio::task::spawn_blocking(move || dir_size(&dir))
            .await
            .unwrap_or(0);
        self.bytes.store(used, Ordering::Relaxed);
        self.metrics.bytes.set(used as f64);
        removed
    }
}

fn error_metric_init() {
    for reason in ["disk_full", "io", "store"] {
        metrics::counter!("livesale_recording_errors_total", "reason" => reason).increment(0);
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

async fn sweep(recorder: Weak<Recorder>) {
    loop {
        let every = match recorder.upgrade() {
            Some(r) => {
                r.sweep_once().await;
                r.config.sweep_every
            }
            None => return,
        };
        tokio::time::sleep(every).await;
    }
}

/// One show's writer: the open segment's file and index entry.
struct Writer {
    recorder: Arc<Recorder>,
    show: ShowId,
    dir: PathBuf,
    open: Option<(tokio::fs::File, RecordedSegment)>,
    /// The next segment starts a discontinuity (the recording was resumed).
    resumed: bool,
    /// Where the last segment ended (Unix ms), to notice a hole in time.
    last_end_ms: Option<i64>,
}

/// Why the writer stopped.
enum Stop {
    Io(std::io::Error),
}

async fn write_show(recorder: Arc<Recorder>, show: ShowId, mut rx: mpsc::UnboundedReceiver<Event>) {
    let dir = recorder.show_dir(show);
    let mut w = Writer {
        recorder: recorder.clone(),
        show,
        dir,
        open: None,
        resumed: false,
        last_end_ms: None,
    };
    let mut result = w.resume().await;
    if result.is_ok() {
        tracing::info!(%show, dir = %w.dir.display(), resumed = w.resumed, "recording starts");
    }
    while let Some(event) = rx.recv().await {
        if result.is_err() {
            continue; // stopped: the rest of the show is not recorded
        }
        result = w.apply(event).await;
        if let Err(Stop::Io(e)) = &result {
            let reason = if e.raw_os_error() == Some(28) {
                "disk_full"
            } else {
                "io"
            };
            error_metric(reason);
            tracing::error!(%show, error = %e, reason,
                "RECORDING STOPPED for this show: cannot write to the recordings dir (the show and its LL-HLS go on)");
        }
    }
    if let Some((mut file, _)) = w.open.take() {
        let _ = file.flush().await;
    }
    tracing::info!(%show, "recording ends");
}

impl Writer {
    async fn put(&self, segment: &RecordedSegment) {
        let now = self.recorder.clock.now_ms() as i64;
        if let Err(e) = self
            .recorder
            .store
            .put_segment(self.show, segment, now)
            .await
        {
            error_metric("store");
            tracing::warn!(show = %self.show, error = %e, "recording index not updated");
        }
    }

    /// A recording already indexed (a restart mid-show): segments left open are cut to what
    /// the index says was written, and the next segment is a discontinuity.
    async fn resume(&mut self) -> Result<(), Stop> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(Stop::Io)?;
        let existing = match self.recorder.store.recording(self.show).await {
            Ok(r) => r,
            Err(e) => {
                error_metric("store");
                tracing::warn!(show = %self.show, error = %e, "recording index unreadable");
                None
            }
        };
        let Some(existing) = existing else {
            return Ok(());
        };
        self.resumed = !existing.segments.is_empty();
        for mut seg in existing.segments.into_iter().filter(|s| !s.complete) {
            let path = self.dir.join(seg.file());
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
                let _ = f.set_len(seg.bytes);
            }
            seg.complete = true;
            self.put(&seg).await;
        }
        Ok(())
    }

    async fn apply(&mut self, event: Event) -> Result<(), Stop> {
        match event {
            Event::Init { version, bytes } => {
                let path = self.dir.join(RecordedFile::Init(version).name());
                tokio::fs::write(&path, &bytes).await.map_err(Stop::Io)?;
                self.recorder.wrote(bytes.len() as u64);
            }
            Event::SegmentStart {
                msn,
                discontinuity,
                init,
                pdt_ms,
            } => {
                self.close().await?;
                let path = self.dir.join(RecordedFile::Segment(msn).name());
                let file = tokio::fs::File::create(&path).await.map_err(Stop::Io)?;
                // Video off air while audio went on is no gap to the packager, but the
                // program has a hole in time there: the replay marks it.
                let hole = self.last_end_ms.is_some_and(|end| pdt_ms > end + HOLE_MS);
                let seg = RecordedSegment {
                    msn,
                    duration_s: 0.0,
                    pdt_ms,
                    discontinuity: discontinuity || hole || std::mem::take(&mut self.resumed),
                    init,
                    bytes: 0,
                    complete: false,
                    node: self.recorder.node.get().cloned(),
                };
                self.open = Some((file, seg));
            }
            Event::Part {
                msn,
                duration,
                bytes,
                ..
            } => {
                let Some((file, seg)) = self.open.as_mut().filter(|(_, s)| s.msn == msn) else {
                    return Ok(());
                };
                file.write_all(&bytes).await.map_err(Stop::Io)?;
                file.flush().await.map_err(Stop::Io)?;
                seg.bytes += bytes.len() as u64;
                seg.duration_s += duration;
                let seg = seg.clone();
                self.recorder.wrote(bytes.len() as u64);
                self.put(&seg).await;
            }
            Event::SegmentEnd { msn, duration } => {
                if let Some((_, seg)) = self.open.as_mut().filter(|(_, s)| s.msn == msn) {
                    seg.duration_s = duration;
                }
                self.close().await?;
            }
        }
        Ok(())
    }

    async fn close(&mut self) -> Result<(), Stop> {
        let Some((mut file, mut seg)) = self.open.take() else {
            return Ok(());
        };
        file.flush().await.map_err(Stop::Io)?;
        self.last_end_ms = Some(seg.pdt_ms + (seg.duration_s * 1000.0).round() as i64);
        if seg.bytes > 0 {
            seg.complete = true;
            self.put(&seg).await;
        }
        Ok(())
    }
}
