//! Media: WHIP ingest, WHEP playback and the on-air switch, as the [`Media`] service. The
//! only module that imports `webrtc` (and its `rtc` core).
//!
//! ```text
//! camera ──WHIP──▶ publisher PC ──track reader──▶ ShowMedia::route ──try_send──▶ viewer queue
//!                                                  │ Program: on air, pending,   │ (bounded)
//!                                                  │ audio source                ▼
//!                                                  └ keyframe requests ◀── viewer writer task
//!                                                                            Rewriter per kind
//!                                                                            ──write_rtp──▶ WHEP PC
//! ```
//!
//! [`Media`] takes a request (a show, who asks, an offer or a choice) and answers a typed
//! outcome: the answer from this node, or the show's home node ([`Reply`]), or a
//! [`MediaError`]. One file per concept:
//!
//! - [`ice`]: the settings (ICE servers, sockets, limits); [`error`]: why a request fails.
//! - [`home`]: which node is a show's media home (a lease in the store).
//! - [`registry`]: this node's shows and sessions, the viewer capacity, the keep-alive guard.
//! - [`offer`]: the checks of an offer, once for WHIP and WHEP ([`sdp`] reads it).
//! - [`show`]: one show's cameras, viewers and [`program`], and the routing decision per
//!   packet; [`router`]: the fan-out of a packet into the viewers' bounded queues;
//!   [`announce`]: `program.changed` (and the cut's chapter) published when the picture cuts.
//! - [`session`], [`whip`], [`whep`]: the peer connections and their tasks ([`peer`] builds
//!   them; [`forwarder`] rewrites each viewer's RTP; [`codec`] finds keyframes).
//! - [`hls`]: the program packaged as LL-HLS (fed like one more program viewer), and the
//!   files and playlists [`Media::hls_playlist`] and [`Media::hls_file`] serve.

mod announce;
pub mod codec;
pub mod error;
pub mod forwarder;
pub mod hls;
pub mod home;
pub mod ice;
pub mod offer;
mod peer;
pub mod program;
pub mod recording;
pub mod registry;
mod replay;
pub mod router;
pub mod sdp;
mod session;
pub mod show;
mod whep;
mod whip;

use std::sync::{Arc, Weak};
use std::time::Instant;

use crate::clock::SharedClock;
use crate::domain::access::may_control_session;
use crate::domain::media_ids::{CameraId, SessionId};
use crate::domain::{Principal, SessionOwner, Show, ShowId, ShowStatus};
use crate::hub::Hub;
use crate::store::recordings as hls_recording;
use crate::store::{SharedStore, StoreError};

pub use error::MediaError;
pub use hls::{Block, FileKind, HlsConfig};
pub use home::{FORWARDED_HEADER, Home, Reply, Via};
pub use ice::{IceServer, MediaConfig};
pub use peer::KeyframeRequests;
pub use registry::SessionKind;
pub use router::Watch;
pub use show::{CameraView, ProgramChoice, ProgramView};
pub use whip::Publisher;

use offer::{Offer, Side};
use registry::{KeepAlive, Registry, SessionEntry};
use show::ShowMedia;

/// A successful WHIP/WHEP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub session: SessionId,
    pub sdp: String,
    /// WHIP: the camera's id (`X-Camera-Id`).
    pub camera: Option<CameraId>,
}

/// This node's media: every show with cameras or viewers here.
pub struct Media {
    pub config: MediaConfig,
    hub: Arc<Hub>,
    homes: home::Homes,
    registry: Registry,
    ports: Arc<peer::PortPool>,
    /// Wall-clock times (when a camera joined).
    clock: SharedClock,
    /// The monotonic epoch of RTP timing and switch latencies.
    epoch: Instant,
    /// The shows packaged as LL-HLS on this node.
    hls: Arc<hls::Hls>,
    /// Writes the packaged program to disk (`None`: recording is off).
    recorder: Option<Arc<recording::Recorder>>,
    me: Weak<Media>,
}

impl Media {
    /// Must be called inside a tokio runtime: it starts the task that renews this node's
    /// media-home leases.
    pub fn new(
        config: MediaConfig,
        hub: Arc<Hub>,
        store: SharedStore,
        public_url: String,
        clock: SharedClock,
    ) -> Arc<Media> {
        let ports = peer::PortPool::new(config.udp_ports);
        let epoch = Instant::now();
        let recorder = config.recording.clone().map(|c| {
            let recorder = recording::Recorder::new(
                c,
                store.clone() as Arc<dyn crate::store::RecordingStore>,
                clock.clone(),
            );
            recorder.sweep_transcripts_in(store.clone());
            recorder.record_as(public_url.clone());
            recorder
        });
        let hls = hls::Hls::new(config.hls, epoch, recorder.clone());
        let media = Arc::new_cyclic(|me| Media {
            config,
            hub,
            homes: home::Homes::new(store, public_url),
            registry: Registry::new(),
            ports,
            clock,
            epoch,
            hls,
            recorder,
            me: me.clone(),
        });
        tokio::spawn(renew_homes(Arc::downgrade(&media)));
        media
    }

    /// The HTTP client that asks other nodes (a request forwarded to a show's home).
    pub fn client(&self) -> &reqwest::Client {
        self.homes.client()
    }

    /// WHIP: a camera of `who` joins a live or scheduled show with `offer`. A camera invite
    /// that already has a session replaces it (a reconnecting phone keeps its place on air).
    pub async fn publish(
        &self,
        show: &Show,
        who: &Principal,
        label: Option<&str>,
        offer: &str,
        via: Via,
    ) -> Result<Reply<Answer>, MediaError> {
        not_ended(show)?;
        if let Some(home) = self.home_elsewhere(show.id, via, true).await? {
            return Ok(Reply::AtHome(home));
        }
        let publisher = Publisher::of(who, label);
        let answer = self
            .start_camera(show, who.as_session_owner(), publisher, offer)
            .await?;
        Ok(Reply::Here(answer))
    }

    /// WHEP: `who` watches the program (or one camera) as one video and one audio track.
    /// Beyond the node's capacity: [`MediaError::AtCapacity`].
    pub async fn watch(
        &self,
        show: &Show,
        who: &Principal,
        watch: Watch,
        offer: &str,
        via: Via,
    ) -> Result<Reply<Answer>, MediaError> {
        not_ended(show)?;
        if let Some(home) = self.home_elsewhere(show.id, via, true).await? {
            return Ok(Reply::AtHome(home));
        }
        let answer = self
            .start_viewer(show, who.as_session_owner(), watch, offer)
            .await?;
        Ok(Reply::Here(answer))
    }

    /// Checks that `who` may end or change `session` (a session of `kind` of the show): its
    /// owner or the show's creator.
    pub fn check_control(
        &self,
        show: &Show,
        who: &Principal,
        session: &str,
        kind: SessionKind,
    ) -> Result<SessionId, MediaError> {
        let id = session
            .parse::<SessionId>()
            .map_err(|_| MediaError::SessionNotFound)?;
        let owner = self
            .registry
            .owner(id, show.id, kind)
            .ok_or(MediaError::SessionNotFound)?;
        may_control_session(who, owner, show)?;
        Ok(id)
    }

    /// `DELETE` of a session, by its owner or the show's creator.
    pub async fn end(
        &self,
        show: &Show,
        who: &Principal,
        session: &str,
        kind: SessionKind,
    ) -> Result<(), MediaError> {
        let id = self.check_control(show, who, session, kind)?;
        self.end_session(id, "deleted").await;
        Ok(())
    }

    /// The show's cameras, in the order they joined, and the program.
    pub async fn cameras(
        &self,
        show: ShowId,
        via: Via,
    ) -> Result<Reply<(Vec<CameraView>, ProgramView)>, MediaError> {
        if let Some(home) = self.home_elsewhere(show, via, false).await? {
            return Ok(Reply::AtHome(home));
        }
        Ok(Reply::Here(match self.registry.existing(show) {
            Some(s) => s.view(),
            None => (Vec::new(), ProgramView::default()),
        }))
    }

    /// The camera on air (or being switched to).
    pub async fn on_air(
        &self,
        show: ShowId,
        via: Via,
    ) -> Result<Reply<Option<CameraId>>, MediaError> {
        if let Some(home) = self.home_elsewhere(show, via, false).await? {
            return Ok(Reply::AtHome(home));
        }
        Ok(Reply::Here(self.on_air_here(show)))
    }

    /// The creator's choice of what is on air.
    pub async fn direct(
        &self,
        show: &Show,
        choice: &ProgramChoice,
        via: Via,
    ) -> Result<Reply<ProgramView>, MediaError> {
        if choice.is_empty() {
            return Err(MediaError::NothingToDirect);
        }
        if let Some(home) = self.home_elsewhere(show.id, via, false).await? {
            return Ok(Reply::AtHome(home));
        }
        let show_media = self.keep_alive(show);
        show_media.direct(choice, self.now_ms())?;
        Ok(Reply::Here(show_media.view().1))
    }

    /// The camera on air, wherever the show's media lives (for `welcome`): this node's own
    /// state when it has the show's media; else the store and the home node are asked at most
    /// once a second per show (so a join storm costs no more), `None` if it cannot be known.
    pub async fn program_anywhere(&self, show: ShowId) -> Option<CameraId> {
        if self.registry.existing(show).is_some() {
            return self.on_air_here(show);
        }
        if let Some(camera) = self.homes.recent_program(show) {
            return camera;
        }
        let camera = match self.homes.find(show).await {
            Ok(Home::There(home)) => self.homes.ask_program(&home, show).await,
            // Nothing here and no other home: nothing is on air.
            _ => self.on_air_here(show),
        };
        self.homes.remember_program(show, camera.clone());
        camera
    }

    /// The show's LL-HLS media playlist; with `block` (`_HLS_msn`/`_HLS_part`), once it holds
    /// that part (or, after about three target durations, as it is).
    pub async fn hls_playlist(
        &self,
        show: &Show,
        block: Option<Block>,
        via: Via,
    ) -> Result<Reply<bytes::Bytes>, MediaError> {
        if let Some(home) = self.hls_home(show, via).await? {
            return Ok(Reply::AtHome(home));
        }
        let ended = show.status == ShowStatus::Ended;
        Ok(Reply::Here(self.hls.playlist(show.id, ended, block).await?))
    }

    /// A file of the show's LL-HLS window (`init-{V}.mp4`, `seg-{MSN}.m4s`,
    /// `part-{MSN}.{P}.m4s`) and its kind; the hinted next part is waited for.
    pub async fn hls_file(
        &self,
        show: &Show,
        name: &str,
        via: Via,
    ) -> Result<Reply<bytes::Bytes>, MediaError> {
        let file = hls::FileName::parse(name).ok_or(MediaError::HlsFileNotFound)?;
        if let Some(home) = self.hls_home(show, via).await? {
            return Ok(Reply::AtHome(home));
        }
        Ok(Reply::Here(self.hls.file(show.id, file).await?))
    }

    /// The kind of an HLS file name (for metrics), if it is one.
    pub fn hls_file_kind(name: &str) -> Option<FileKind> {
        hls::FileName::parse(name).map(|f| match f {
            hls::FileName::Init(_) => FileKind::Init,
            hls::FileName::Segment(_) => FileKind::Segment,
            hls::FileName::Part(..) => FileKind::Part,
        })
    }

    /// The Unix ms of the recording's first segment (`EXT-X-PROGRAM-DATE-TIME`): the replay's
    /// time zero; `None` before anything was recorded (or with recording off).
    pub async fn recording_origin_ms(&self, show: ShowId) -> Result<Option<i64>, StoreError> {
        let Some(r) = &self.recorder else {
            return Ok(None);
        };
        Ok(r.recording(show).await?.and_then(|rec| rec.origin_ms()))
    }

    /// The recording of an ended show (else `ReplayNotReady`).
    async fn ended_recording(
        &self,
        show: &Show,
    ) -> Result<(&Arc<recording::Recorder>, hls_recording::Recording), MediaError> {
        let recorder = self.recorder.as_ref().ok_or(MediaError::ReplayNotReady)?;
        if show.status != ShowStatus::Ended {
            return Err(MediaError::ReplayNotReady);
        }
        let rec = recorder
            .recording(show.id)
            .await?
            .filter(|r| r.segments.iter().any(|s| s.bytes > 0))
            .ok_or(MediaError::ReplayNotReady)?;
        // Just ended: the last segment closes when the cameras' packets stop (within a
        // second or two). Until then the replay is not final; a segment a dead node left
        // open counts as closed once the show has been over for a while.
        let settled = show.ended_at.is_none_or(|at| {
            self.clock.now() - at
                > chrono::Duration::from_std(recording::SETTLE).unwrap_or_default()
        });
        if !settled && rec.segments.iter().any(|s| !s.complete) {
            return Err(MediaError::ReplayNotReady);
        }
        Ok((recorder, rec))
    }

    /// The replay's length in ms once it is ready (else `ReplayNotReady`, as for its
    /// playlist): from its origin to the end of its last segment, gaps included (the timeline
    /// of `at_ms`, and at least the sum of its segments' durations).
    pub async fn replay_duration_ms(&self, show: &Show) -> Result<u64, MediaError> {
        Ok(self.ended_recording(show).await?.1.timeline_ms())
    }

    /// The recording of an ended show once it has settled, as the replay serves it (else
    /// `ReplayNotReady`): the replay's events and highlights are timed on it.
    pub async fn replay_recording(
        &self,
        show: &Show,
    ) -> Result<hls_recording::Recording, MediaError> {
        Ok(self.ended_recording(show).await?.1)
    }

    /// The replay's VOD playlist (`dateranges`: the chapters, as `EXT-X-DATERANGE`).
    pub async fn replay_playlist(
        &self,
        show: &Show,
        dateranges: &[recording::vod::DateRange],
    ) -> Result<String, MediaError> {
        let (_, rec) = self.ended_recording(show).await?;
        Ok(recording::vod::playlist(&rec, "replay/", dateranges))
    }

    /// The LL-HLS settings (for the HTTP side's cache lifetimes).
    pub fn hls_config(&self) -> &HlsConfig {
        &self.hls.config
    }

    /// Where the show's LL-HLS program is: here (`None`), another node (its URL), or nowhere
    /// yet (why).
    async fn hls_home(&self, show: &Show, via: Via) -> Result<Option<String>, MediaError> {
        if !self.hls.config.enabled {
            return Err(MediaError::HlsDisabled);
        }
        if self.hls.has(show.id) {
            return Ok(None);
        }
        if let Some(home) = self.home_elsewhere(show.id, via, false).await? {
            return Ok(Some(home));
        }
        let codec = self.registry.existing(show.id).and_then(|s| s.codec());
        match codec {
            Some(c) if c != codec::Codec::H264 => Err(MediaError::NotPackageable(format!(
                "HLS needs H.264; this show's cameras send {}",
                c.name()
            ))),
            _ => Err(MediaError::HlsNotStarted),
        }
    }

    /// WHEP sessions on this node.
    pub fn viewer_count(&self) -> usize {
        self.registry.viewer_count()
    }

    /// Closes every session (server shutdown).
    pub async fn close_all(&self) {
        for id in self.registry.sessions() {
            self.end_session(id, "shutdown").await;
        }
    }

    /// Ends a session (DELETE, a failed or closed connection, a connect timeout, a
    /// replacement, shutdown). Idempotent: the first call does the work.
    pub async fn end_session(&self, session: SessionId, reason: &'static str) -> bool {
        let Some(entry) = self.registry.remove(session) else {
            return false;
        };
        tracing::info!(%session, show = %entry.show, kind = entry.kind.as_str(), reason, "media session ended");
        metrics::counter!("livesale_media_sessions_ended_total", "kind" => entry.kind.as_str(), "reason" => reason)
            .increment(1);
        if let Some(show) = self.registry.existing(entry.show) {
            match entry.kind {
                SessionKind::Whip => show.camera_gone(entry.key, self.now_ms()),
                SessionKind::Whep => {
                    show.viewer_gone(entry.key);
                    self.registry.viewer_left();
                }
            }
            self.registry.retire_if_idle(entry.show);
        } else if entry.kind == SessionKind::Whep {
            self.registry.viewer_left();
        }
        // Closing waits for the driver; never hold a caller (an HTTP request) on it for long.
        session::abandon(&entry.pc).await;
        true
    }

    /// The base URL of the show's home when another node is it and the request came from a
    /// client (`claim`: a new session makes this node the home if no node is).
    async fn home_elsewhere(
        &self,
        show: ShowId,
        via: Via,
        claim: bool,
    ) -> Result<Option<String>, StoreError> {
        if via == Via::Node {
            return Ok(None);
        }
        let home = if claim {
            self.homes.claim(show).await?
        } else {
            self.homes.find(show).await?
        };
        Ok(match home {
            Home::There(home) => Some(home),
            Home::Here => None,
        })
    }

    fn on_air_here(&self, show: ShowId) -> Option<CameraId> {
        self.registry.existing(show).and_then(|s| s.on_air())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The show's media on this node, created if needed, held while a request works on it.
    fn keep_alive(&self, show: &Show) -> KeepAlive {
        self.registry.keep_alive(show.id, || {
            let hls = self.hls.config.enabled.then(|| self.hls.clone());
            ShowMedia::new(show.clone(), self.hub.clone(), self.epoch, hls)
        })
    }

    fn me(&self) -> Result<Arc<Media>, MediaError> {
        self.me
            .upgrade()
            .ok_or_else(|| MediaError::internal("shutting down"))
    }

    /// Answers a camera's offer and adds it to the show.
    async fn start_camera(
        &self,
        show: &Show,
        owner: SessionOwner,
        publisher: Publisher,
        offer: &str,
    ) -> Result<Answer, MediaError> {
        let offer = Offer::check(offer, Side::Camera)?;
        let show_media = self.keep_alive(show);
        // The show's video codec is the first camera's; later cameras must match it.
        let family = offer.camera_codec(show_media.codec(), self.hls.config.enabled)?;
        let (key, session) = self.new_session();
        let camera = publisher.camera_id.clone();
        let start = whip::PublisherStart {
            key,
            session,
            publisher,
            family,
            offer,
        };
        let started = whip::start(&self.me()?, &show_media, start).await?;
        let entry = (show.id, SessionKind::Whip, owner, key);
        let (answer, replaced) = self.enter(session, entry, started, Some(camera));
        if let Some(old) = replaced {
            self.end_session(old, "replaced").await;
        }
        Ok(answer)
    }

    /// Answers a viewer's offer with the program (or one camera).
    async fn start_viewer(
        &self,
        show: &Show,
        owner: SessionOwner,
        watch: Watch,
        offer: &str,
    ) -> Result<Answer, MediaError> {
        let offer = Offer::check(offer, Side::Player)?;
        let show_media = self.keep_alive(show);
        if let Watch::Camera(id) = &watch
            && !show_media.has_camera(id)
        {
            return Err(MediaError::CameraNotFound(id.clone()));
        }
        let video_families = offer.player_codecs(show_media.codec())?;
        // Capacity is taken before any socket is bound, and given back on every failure.
        let Some(slot) = self.registry.take_viewer_slot(self.config.max_viewers) else {
            metrics::counter!("livesale_media_sessions_refused_total", "reason" => "capacity")
                .increment(1);
            return Err(MediaError::AtCapacity);
        };
        let (key, session) = self.new_session();
        let start = whep::ViewerStart {
            key,
            session,
            watch,
            video_families,
            offer,
        };
        let started = whep::start(&self.me()?, &show_media, start).await?;
        slot.keep();
        let entry = (show.id, SessionKind::Whep, owner, key);
        Ok(self.enter(session, entry, started, None).0)
    }

    /// A new session's key (among this node's sessions) and id.
    fn new_session(&self) -> (u64, SessionId) {
        let key = self.registry.next_key();
        (key, SessionId::from_uuid(uuid::Uuid::now_v7()))
    }

    /// Records a started session (of `show`, `kind`, `owner`, `key`) and makes its answer;
    /// also hands back the session it replaced, if any.
    fn enter(
        &self,
        session: SessionId,
        (show, kind, owner, key): (ShowId, SessionKind, SessionOwner, u64),
        started: session::Started,
        camera: Option<CameraId>,
    ) -> (Answer, Option<SessionId>) {
        let pc = started.pc;
        let entry = SessionEntry {
            show,
            kind,
            owner,
            key,
            pc,
        };
        self.registry.register(session, entry);
        let answer = Answer {
            session,
            sdp: started.sdp,
            camera,
        };
        (answer, started.replaced)
    }
}

fn not_ended(show: &Show) -> Result<(), MediaError> {
    match show.status {
        ShowStatus::Ended => Err(MediaError::ShowEnded),
        ShowStatus::Cancelled => Err(MediaError::Refused(crate::domain::DomainError::conflict(
            crate::domain::Code::ShowCancelled,
            "this show was cancelled",
        ))),
        ShowStatus::Scheduled | ShowStatus::Live => Ok(()),
    }
}

/// Renews, every few seconds, the media-home lease of every show with sessions on this node
/// (and forgets shows left without any).
async fn renew_homes(media: Weak<Media>) {
    let mut tick = tokio::time::interval(home::HOME_RENEW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(media) = media.upgrade() else {
            return;
        };
        for show in media.registry.shows() {
            media.registry.retire_if_idle(show);
        }
        for show in media.registry.shows() {
            media.homes.renew(show).await;
        }
    }
}
