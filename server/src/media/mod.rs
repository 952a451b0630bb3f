//! Media: WHIP ingest, WHEP playback and the on-air switch. The only module that imports
//! `webrtc` (and its `rtc` core).
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
//! - Each WHIP session is one camera of a show (at most one video and one audio track). Its
//!   reader tasks hand every RTP packet to the show's router, which asks the [`program`] state
//!   machine whether the packet is on air, and copies it into the bounded queue of every viewer
//!   that wants it (the program, or that one camera for a direct preview). A full queue drops
//!   the packet and marks the gap; nothing ever waits on a viewer.
//! - Each WHEP session has one task that pops its queue and, per kind, runs a [`forwarder`]
//!   `Rewriter`: SSRC, sequence number, timestamp and payload type are rewritten for that leg
//!   (header extensions were already stripped by the router, since a leg negotiates its own),
//!   and a new source or a gap waits for a keyframe, asking the source for one.
//! - Keyframe requests (switches, joins, gaps, viewers' own PLI/FIR) go to a per-camera task
//!   that sends at most one PLI per `pli_interval`.
//! - Program changes are announced in the room (`program.changed`) in order, by one task per
//!   show.

pub mod codec;
pub mod forwarder;
mod peer;
pub mod program;
pub mod sdp;

pub use peer::KeyframeRequests;
mod session;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use webrtc::peer_connection::PeerConnection;

use crate::domain::protocol::Broadcast;
use crate::domain::{SessionOwner, Show, ShowId};
use crate::hub::Hub;
use codec::Codec;
use forwarder::SourceKey;
use program::{Cam, Effect, Program};

pub use session::Item;

/// A STUN or TURN server, advertised to clients (WHIP/WHEP `Link` headers) and used by the
/// server's own ICE agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    pub url: String,
    pub username: Option<String>,
    pub credential: Option<String>,
}

impl IceServer {
    /// Parses `stun:host:port`, `turn:host:port?transport=udp`, or with credentials
    /// `turn:user:password@host:port?transport=tcp` (`turns:` likewise).
    pub fn parse(text: &str) -> Result<IceServer, String> {
        let text = text.trim();
        let (scheme, rest) = text
            .split_once(':')
            .ok_or_else(|| format!("'{text}' is not a stun:, turn: or turns: URL"))?;
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "stun" | "stuns" | "turn" | "turns") {
            return Err(format!("'{text}' is not a stun:, turn: or turns: URL"));
        }
        let (credentials, host) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, rest),
        };
        if host.is_empty() {
            return Err(format!("'{text}' names no host"));
        }
        let (username, credential) = match credentials {
            Some(c) => {
                let (u, p) = c
                    .split_once(':')
                    .ok_or_else(|| format!("'{text}': credentials are user:password@"))?;
                (Some(u.to_string()), Some(p.to_string()))
            }
            None => (None, None),
        };
        if scheme.starts_with("turn") && username.is_none() {
            return Err(format!("'{text}': a TURN server needs user:password@"));
        }
        Ok(IceServer {
            url: format!("{scheme}:{host}"),
            username,
            credential,
        })
    }

    /// The RFC 9725 `Link` header value for this server.
    pub fn link_header(&self) -> String {
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut value = format!("<{}>; rel=\"ice-server\"", self.url);
        if let (Some(u), Some(c)) = (&self.username, &self.credential) {
            value.push_str(&format!(
                "; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                quote(u),
                quote(c)
            ));
        }
        value
    }
}

/// The media settings (from [`crate::config::Config::media_config`]).
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The local address media sockets bind to (a wildcard binds every non-loopback interface).
    pub ip: IpAddr,
    /// The UDP (and ICE-TCP) port range, or ephemeral ports.
    pub udp_ports: Option<(u16, u16)>,
    /// Addresses advertised instead of the local ones (1:1 NAT).
    pub public_ips: Vec<String>,
    /// Also offer ICE-TCP (passive) candidates on the same port numbers.
    pub ice_tcp: bool,
    pub ice_servers: Vec<IceServer>,
    /// WHEP sessions this node accepts at once.
    pub max_viewers: usize,
    /// Packets a viewer may fall behind before packets are dropped (and it skips to the next
    /// keyframe).
    pub viewer_queue: usize,
    /// A session whose connection is not up after this is ended.
    pub connect_timeout: Duration,
    /// At most one keyframe request per camera per this interval.
    pub pli_interval: Duration,
}

impl MediaConfig {
    /// Loopback defaults, for tests and tools.
    pub fn loopback() -> Self {
        MediaConfig {
            ip: IpAddr::from([127, 0, 0, 1]),
            udp_ports: None,
            public_ips: Vec::new(),
            ice_tcp: false,
            ice_servers: Vec::new(),
            max_viewers: 1000,
            viewer_queue: 256,
            connect_timeout: Duration::from_secs(20),
            pli_interval: Duration::from_millis(500),
        }
    }
}

/// Why a media request was refused.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("bad SDP: {0}")]
    BadSdp(String),
    #[error("{0}")]
    Tracks(String),
    #[error("{0}")]
    CodecMismatch(String),
    #[error("this node is at its viewer capacity")]
    AtCapacity,
    #[error("every media port of this node is in use")]
    PortsExhausted,
    #[error("no camera {0} in this show")]
    CameraNotFound(String),
    #[error("camera {0} sends no video")]
    NoVideo(String),
    #[error("no such session")]
    SessionNotFound,
    #[error("internal: {0}")]
    Internal(String),
}

impl MediaError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        MediaError::Internal(e.to_string())
    }
}

/// WHIP or WHEP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Whip,
    Whep,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Whip => "whip",
            SessionKind::Whep => "whep",
        }
    }
}

/// What a viewer watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watch {
    Program,
    Camera(String),
}

/// A camera's identity for a WHIP session.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// Stable per camera invite (a reconnect replaces the old session); fresh for creators.
    pub camera_id: String,
    pub label: String,
}

/// A successful WHIP/WHEP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub session: String,
    pub sdp: String,
    pub camera: Option<String>,
}

/// One camera as listed by `GET /cameras`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CameraView {
    pub id: String,
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
    pub since: chrono::DateTime<chrono::Utc>,
}

/// The program as `GET /cameras` and `POST /program` report it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ProgramView {
    /// The camera on air (or being switched to); `null`: nothing ("we'll be right back").
    pub camera: Option<String>,
    /// The camera whose audio is on air.
    pub audio: Option<String>,
    /// The audio source the creator fixed, if any.
    pub audio_fixed: Option<String>,
    /// The show's video codec while cameras are connected.
    #[schema(value_type = Option<String>)]
    pub codec: Option<Codec>,
}

/// A session as the node tracks it, for DELETE and cleanup.
struct SessionEntry {
    show: ShowId,
    kind: SessionKind,
    /// Who opened it: with the show's creator, the only one who may end it.
    owner: SessionOwner,
    key: u64,
    pc: Arc<dyn PeerConnection>,
}

/// Where a show's media lives (several nodes: one home per show, a lease in the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Home {
    Here,
    /// Another node, by its public base URL.
    There(String),
}

/// How long a node holds a show's media home without renewing it, and how often it renews.
const HOME_TTL: Duration = Duration::from_secs(15);
const HOME_RENEW: Duration = Duration::from_secs(5);

fn home_lease(show: ShowId) -> String {
    format!("media:{show}")
}

/// Marks a request one node forwarded to a show's home, so the home answers it itself.
pub const FORWARDED_HEADER: &str = "x-livesale-forwarded";

/// This node's media: every show with cameras or viewers here.
pub struct Media {
    pub config: MediaConfig,
    hub: Arc<Hub>,
    store: crate::store::SharedStore,
    /// This node's public base URL: its name as a media home.
    public_url: String,
    /// For asking a show's home node (program, cameras) on behalf of a client.
    pub http: reqwest::Client,
    /// The program of shows whose home is another node, as last asked, for `welcome`.
    remote_programs: Mutex<HashMap<ShowId, (Instant, Option<String>)>>,
    ports: Arc<peer::PortPool>,
    shows: Mutex<HashMap<ShowId, Arc<ShowMedia>>>,
    sessions: Mutex<HashMap<String, SessionEntry>>,
    viewers: AtomicUsize,
    next_key: AtomicU64,
    clock: Instant,
    me: Weak<Media>,
}

impl Media {
    /// Must be called inside a tokio runtime: it starts the task that renews this node's
    /// media-home leases.
    pub fn new(
        config: MediaConfig,
        hub: Arc<Hub>,
        store: crate::store::SharedStore,
        public_url: String,
    ) -> Arc<Media> {
        let ports = peer::PortPool::new(config.udp_ports);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let media = Arc::new_cyclic(|me| Media {
            config,
            hub,
            store,
            public_url,
            http,
            remote_programs: Mutex::new(HashMap::new()),
            ports,
            shows: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            viewers: AtomicUsize::new(0),
            next_key: AtomicU64::new(1),
            clock: Instant::now(),
            me: me.clone(),
        });
        tokio::spawn(renew_homes(Arc::downgrade(&media)));
        media
    }

    /// For a new session: this node becomes (or stays) the show's media home, unless another
    /// node is.
    pub async fn claim_home(&self, show: ShowId) -> Result<Home, crate::store::StoreError> {
        let name = home_lease(show);
        for _ in 0..2 {
            if self.store.lease(&name, &self.public_url, HOME_TTL).await? {
                return Ok(Home::Here);
            }
            match self.store.lease_holder(&name).await? {
                Some(holder) if holder != self.public_url => return Ok(Home::There(holder)),
                _ => {} // it lapsed in between: try again
            }
        }
        Ok(Home::Here)
    }

    /// For reads and program changes: the show's home if another node is it.
    pub async fn home(&self, show: ShowId) -> Result<Home, crate::store::StoreError> {
        Ok(match self.store.lease_holder(&home_lease(show)).await? {
            Some(holder) if holder != self.public_url => Home::There(holder),
            _ => Home::Here,
        })
    }

    /// The camera on air, wherever the show's media lives (for `welcome`): this node's own
    /// state when it has the show's media; else the store and the home node are asked at most
    /// once a second per show (so a join storm costs no more), `None` if it cannot be known.
    pub async fn program_anywhere(&self, show: ShowId) -> Option<String> {
        if self.existing(show).is_some() {
            return self.program_camera(show);
        }
        {
            let cache = self
                .remote_programs
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some((at, camera)) = cache.get(&show)
                && at.elapsed() < Duration::from_secs(1)
            {
                return camera.clone();
            }
        }
        let camera = match self.home(show).await {
            Ok(Home::There(home)) => self.ask_program(&home, show).await,
            // Nothing here and no other home: nothing is on air.
            _ => self.program_camera(show),
        };
        let mut cache = self
            .remote_programs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(10));
        cache.insert(show, (Instant::now(), camera.clone()));
        camera
    }

    /// The program of a show whose home is another node, asked of that node.
    async fn ask_program(&self, home: &str, show: ShowId) -> Option<String> {
        let url = format!("{home}/api/shows/{show}/program");
        match self
            .http
            .get(&url)
            .header(FORWARDED_HEADER, "1")
            .timeout(Duration::from_secs(1))
            .send()
            .await
        {
            Ok(resp) if resp.status().is_success() => resp
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["camera"].as_str().map(str::to_string)),
            _ => None,
        }
    }

    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// The show's media on this node, created if needed, and pinned: it is not retired while
    /// the pin lives, so a session being set up cannot land in a retired show.
    fn show_media(&self, show: &Show) -> Pinned {
        let mut shows = self.shows.lock().unwrap_or_else(|p| p.into_inner());
        let media = shows
            .entry(show.id)
            .or_insert_with(|| ShowMedia::new(show.clone(), self.hub.clone(), self.clock))
            .clone();
        media.pins.fetch_add(1, Ordering::AcqRel);
        Pinned(media)
    }

    /// Forgets the show's media if it has no sessions and nobody is setting one up.
    fn retire_if_idle(&self, show: ShowId) {
        let mut shows = self.shows.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(media) = shows.get(&show)
            && media.pins.load(Ordering::Acquire) == 0
            && media.is_empty()
        {
            shows.remove(&show);
        }
    }

    fn existing(&self, show: ShowId) -> Option<Arc<ShowMedia>> {
        let shows = self.shows.lock().unwrap_or_else(|p| p.into_inner());
        shows.get(&show).cloned()
    }

    /// WHIP: answers a camera's offer and adds it to the show. A camera invite that already
    /// has a session replaces it (a reconnecting phone keeps its place on air).
    pub async fn publish(
        &self,
        show: &Show,
        owner: SessionOwner,
        publisher: Publisher,
        offer: &str,
    ) -> Result<Answer, MediaError> {
        let summary = sdp::summarize(offer).map_err(MediaError::BadSdp)?;
        let description = session::parse_offer(offer)?;
        let videos = summary.count("video");
        let audios = summary.count("audio");
        if videos > 1 || audios > 1 {
            return Err(MediaError::Tracks(format!(
                "a camera sends at most one video and one audio track; this offer has {videos} video and {audios} audio sections"
            )));
        }
        if videos + audios == 0 {
            return Err(MediaError::Tracks(
                "the offer has no audio or video section".into(),
            ));
        }
        for s in summary
            .sections
            .iter()
            .filter(|s| s.kind == "video" || s.kind == "audio")
        {
            if !s.sends() {
                return Err(MediaError::Tracks(format!(
                    "the {} section is {}; a WHIP offer sends (sendonly)",
                    s.kind, s.direction
                )));
            }
        }
        let show_media = self.show_media(show);
        // The show's video codec is the first camera's; later cameras must match it.
        let family = match summary.first("video") {
            None => None,
            Some(video) => {
                let offered = &video.families;
                let chosen = match show_media.codec() {
                    Some(c) if offered.contains(&c) => c,
                    Some(c) => {
                        return Err(MediaError::CodecMismatch(format!(
                            "this show's cameras send {}; this camera offers {}. Configure it for {}",
                            c.name(),
                            describe(offered),
                            c.name()
                        )));
                    }
                    None => *offered.first().ok_or_else(|| {
                        MediaError::CodecMismatch(
                            "the video section offers neither VP8 nor H.264 (constrained baseline, packetization-mode 1)".into(),
                        )
                    })?,
                };
                Some(chosen)
            }
        };
        if let Some(audio) = summary.first("audio")
            && !audio.families.contains(&Codec::Opus)
        {
            return Err(MediaError::CodecMismatch(
                "the audio section does not offer Opus".into(),
            ));
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let session_id = uuid::Uuid::now_v7().to_string();
        let media = self
            .me
            .upgrade()
            .ok_or_else(|| MediaError::internal("shutting down"))?;
        let started = session::start_publisher(
            &media,
            &show_media,
            session::PublisherStart {
                key,
                session_id: session_id.clone(),
                publisher: publisher.clone(),
                family,
                has_video: videos == 1,
                has_audio: audios == 1,
                offer: description,
            },
        )
        .await?;
        self.register(
            &session_id,
            SessionEntry {
                show: show.id,
                kind: SessionKind::Whip,
                owner,
                key,
                pc: started.pc.clone(),
            },
        );
        if let Some(old) = started.replaced {
            self.end_session(&old, "replaced").await;
        }
        Ok(Answer {
            session: session_id,
            sdp: started.sdp,
            camera: Some(publisher.camera_id),
        })
    }

    /// WHEP: answers a viewer's offer with the program (or one camera) as one video and one
    /// audio track. Beyond the node's capacity: [`MediaError::AtCapacity`].
    pub async fn watch(
        &self,
        show: &Show,
        owner: SessionOwner,
        watch: Watch,
        offer: &str,
    ) -> Result<Answer, MediaError> {
        let summary = sdp::summarize(offer).map_err(MediaError::BadSdp)?;
        let description = session::parse_offer(offer)?;
        let videos = summary.count("video");
        let audios = summary.count("audio");
        if videos > 1 || audios > 1 || videos + audios == 0 {
            return Err(MediaError::Tracks(format!(
                "a WHEP offer receives one video and one audio track; this one has {videos} video and {audios} audio sections"
            )));
        }
        for s in summary
            .sections
            .iter()
            .filter(|s| s.kind == "video" || s.kind == "audio")
        {
            if !s.receives() {
                return Err(MediaError::Tracks(format!(
                    "the {} section is {}; a WHEP offer receives (recvonly)",
                    s.kind, s.direction
                )));
            }
        }
        let show_media = self.show_media(show);
        if let Watch::Camera(id) = &watch
            && !show_media.has_camera(id)
        {
            return Err(MediaError::CameraNotFound(id.clone()));
        }
        let video_families = match summary.first("video") {
            None => Vec::new(),
            Some(v) => {
                let offered: Vec<Codec> = v.families.clone();
                match show_media.codec() {
                    Some(c) if !offered.contains(&c) => {
                        return Err(MediaError::CodecMismatch(format!(
                            "this show's video is {}; this player offers {}",
                            c.name(),
                            describe(&offered)
                        )));
                    }
                    Some(c) => vec![c],
                    None if offered.is_empty() => {
                        return Err(MediaError::CodecMismatch(
                            "the video section offers neither VP8 nor H.264 (constrained baseline, packetization-mode 1)".into(),
                        ));
                    }
                    None => offered,
                }
            }
        };
        if let Some(audio) = summary.first("audio")
            && !audio.families.contains(&Codec::Opus)
        {
            return Err(MediaError::CodecMismatch(
                "the audio section does not offer Opus".into(),
            ));
        }
        // Capacity is taken before any socket is bound, and given back on every failure.
        let taken = self.viewers.fetch_add(1, Ordering::AcqRel);
        if taken >= self.config.max_viewers {
            self.viewers.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!("livesale_media_sessions_refused_total", "reason" => "capacity")
                .increment(1);
            return Err(MediaError::AtCapacity);
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let session_id = uuid::Uuid::now_v7().to_string();
        let media = match self.me.upgrade() {
            Some(m) => m,
            None => {
                self.viewers.fetch_sub(1, Ordering::AcqRel);
                return Err(MediaError::internal("shutting down"));
            }
        };
        let started = session::start_viewer(
            &media,
            &show_media,
            session::ViewerStart {
                key,
                session_id: session_id.clone(),
                watch,
                video_families,
                has_video: videos == 1,
                has_audio: audios == 1,
                offer: description,
            },
        )
        .await;
        let started = match started {
            Ok(s) => s,
            Err(e) => {
                self.viewers.fetch_sub(1, Ordering::AcqRel);
                return Err(e);
            }
        };
        self.register(
            &session_id,
            SessionEntry {
                show: show.id,
                kind: SessionKind::Whep,
                owner,
                key,
                pc: started.pc.clone(),
            },
        );
        Ok(Answer {
            session: session_id,
            sdp: started.sdp,
            camera: None,
        })
    }

    fn register(&self, session: &str, entry: SessionEntry) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.insert(session.to_string(), entry);
    }

    /// Who owns this session, when it exists and is of this show and kind.
    pub fn session_owner(
        &self,
        session: &str,
        show: ShowId,
        kind: SessionKind,
    ) -> Option<SessionOwner> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .get(session)
            .filter(|s| s.show == show && s.kind == kind)
            .map(|s| s.owner)
    }

    /// Ends a session (DELETE, a failed or closed connection, a connect timeout, a
    /// replacement, shutdown). Idempotent: the first call does the work.
    pub async fn end_session(&self, session: &str, reason: &'static str) -> bool {
        let entry = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions.remove(session)
        };
        let Some(entry) = entry else {
            return false;
        };
        tracing::info!(session, show = %entry.show, kind = entry.kind.as_str(), reason, "media session ended");
        metrics::counter!("livesale_media_sessions_ended_total", "kind" => entry.kind.as_str(), "reason" => reason)
            .increment(1);
        if let Some(show) = self.existing(entry.show) {
            match entry.kind {
                SessionKind::Whip => show.camera_gone(entry.key, self.now_ms()),
                SessionKind::Whep => {
                    show.viewer_gone(entry.key);
                    self.viewers.fetch_sub(1, Ordering::AcqRel);
                }
            }
            self.retire_if_idle(entry.show);
        } else if entry.kind == SessionKind::Whep {
            self.viewers.fetch_sub(1, Ordering::AcqRel);
        }
        let pc = entry.pc;
        // Closing waits for the driver; never hold a caller (an HTTP request) on it for long.
        let _ = tokio::time::timeout(Duration::from_secs(2), pc.close()).await;
        true
    }

    /// The cameras of a show on this node, in the order they joined, and the program.
    pub fn cameras(&self, show: ShowId) -> (Vec<CameraView>, ProgramView) {
        match self.existing(show) {
            Some(s) => s.view(),
            None => (
                Vec::new(),
                ProgramView {
                    camera: None,
                    audio: None,
                    audio_fixed: None,
                    codec: None,
                },
            ),
        }
    }

    /// The camera on air, for `welcome`.
    pub fn program_camera(&self, show: ShowId) -> Option<String> {
        self.existing(show).and_then(|s| s.view().1.camera)
    }

    /// The creator's choice: `camera` (`Some(None)`: off air), and/or the audio source
    /// (`Some(None)`: back to the first camera with audio). `None` leaves a part unchanged.
    pub fn direct(
        &self,
        show: &Show,
        camera: Option<Option<String>>,
        audio: Option<Option<String>>,
    ) -> Result<ProgramView, MediaError> {
        let show_media = self.show_media(show);
        show_media.direct(camera, audio, self.now_ms())?;
        Ok(show_media.view().1)
    }

    /// WHEP sessions on this node.
    pub fn viewer_count(&self) -> usize {
        self.viewers.load(Ordering::Acquire)
    }

    /// Closes every session (server shutdown).
    pub async fn close_all(&self) {
        let ids: Vec<String> = {
            let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions.keys().cloned().collect()
        };
        for id in ids {
            self.end_session(&id, "shutdown").await;
        }
    }
}

/// A [`ShowMedia`] held while a request sets up a session or changes the program.
struct Pinned(Arc<ShowMedia>);

impl std::ops::Deref for Pinned {
    type Target = Arc<ShowMedia>;
    fn deref(&self) -> &Arc<ShowMedia> {
        &self.0
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        self.0.pins.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Renews, every few seconds, the media-home lease of every show with sessions on this node
/// (and forgets shows left without any).
async fn renew_homes(media: Weak<Media>) {
    let mut tick = tokio::time::interval(HOME_RENEW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(media) = media.upgrade() else {
            return;
        };
        let shows: Vec<ShowId> = {
            let shows = media.shows.lock().unwrap_or_else(|p| p.into_inner());
            shows.keys().copied().collect()
        };
        for show in &shows {
            media.retire_if_idle(*show);
        }
        let shows: Vec<ShowId> = {
            let shows = media.shows.lock().unwrap_or_else(|p| p.into_inner());
            shows.keys().copied().collect()
        };
        for show in shows {
            match media
                .store
                .lease(&home_lease(show), &media.public_url, HOME_TTL)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(%show, "another node took this show's media home; sessions here go on")
                }
                Err(e) => tracing::warn!(%show, error = %e, "media home not renewed"),
            }
        }
    }
}

fn describe(families: &[Codec]) -> String {
    if families.is_empty() {
        "no codec we can forward".into()
    } else {
        families
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

/// One incoming stream (a camera's video or audio track).
pub struct Source {
    pub key: SourceKey,
    pub codec: Codec,
    pub camera: String,
    keyframes: mpsc::Sender<()>,
}

impl Source {
    /// Asks the camera for a keyframe (coalesced and throttled by its keyframe task).
    pub fn want_keyframe(&self) {
        if self.codec.is_video() {
            let _ = self.keyframes.try_send(());
        }
    }
}

struct CameraEntry {
    id: String,
    label: String,
    key: u64,
    session: String,
    /// The video codec family negotiated with it.
    family: Option<Codec>,
    offered_video: bool,
    offered_audio: bool,
    video: Option<Arc<Source>>,
    audio: Option<Arc<Source>>,
    connected: bool,
    since: chrono::DateTime<chrono::Utc>,
}

struct ViewerLink {
    key: u64,
    watch: Watch,
    tx: mpsc::Sender<Item>,
    video_gap: bool,
    audio_gap: bool,
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
}

impl ShowState {
    fn cams(&self) -> Vec<Cam> {
        self.cameras
            .iter()
            .map(|c| Cam {
                id: c.id.clone(),
                has_video: c.video.is_some() && c.connected,
                has_audio: c.audio.is_some() && c.connected,
            })
            .collect()
    }

    fn camera(&self, id: &str) -> Option<&CameraEntry> {
        self.cameras.iter().find(|c| c.id == id)
    }
}

/// One show's media on this node.
pub struct ShowMedia {
    show: Show,
    /// Requests setting up a session or changing the program right now (see [`Pinned`]).
    pins: AtomicUsize,
    state: Mutex<ShowState>,
    announce: mpsc::UnboundedSender<Option<String>>,
    clock: Instant,
    labels: ShowMetrics,
}

struct ShowMetrics {
    cameras: metrics::Gauge,
    viewers: metrics::Gauge,
    switch_latency: metrics::Histogram,
    keyframe_waits: metrics::Counter,
    queue_drops: metrics::Counter,
}

impl ShowMedia {
    fn new(show: Show, hub: Arc<Hub>, clock: Instant) -> Arc<ShowMedia> {
        let (announce, mut rx) = mpsc::unbounded_channel::<Option<String>>();
        let id = show.id.to_string();
        let labels = ShowMetrics {
            cameras: metrics::gauge!("livesale_media_cameras", "show" => id.clone()),
            viewers: metrics::gauge!("livesale_media_viewers", "show" => id.clone()),
            switch_latency: metrics::histogram!("livesale_media_switch_latency_seconds"),
            keyframe_waits: metrics::counter!("livesale_media_dropped_packets_total", "reason" => "program_waits_for_keyframe"),
            queue_drops: metrics::counter!("livesale_media_dropped_packets_total", "reason" => "viewer_queue_full"),
        };
        let announcer_show = show.clone();
        tokio::spawn(async move {
            // One task per show publishes program changes in the order they were decided.
            while let Some(camera) = rx.recv().await {
                let event = Broadcast::ProgramChanged { camera };
                if let Err(e) = hub.publish(&announcer_show, &event).await {
                    tracing::warn!(show = %announcer_show.id, error = %e, "program.changed not published");
                }
            }
        });
        Arc::new(ShowMedia {
            show,
            pins: AtomicUsize::new(0),
            state: Mutex::new(ShowState::default()),
            announce,
            clock,
            labels,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ShowState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    pub fn show(&self) -> &Show {
        &self.show
    }

    /// The show's video codec: that of its cameras, while any is connected or connecting.
    fn codec(&self) -> Option<Codec> {
        self.lock().cameras.iter().find_map(|c| c.family)
    }

    fn has_camera(&self, id: &str) -> bool {
        self.lock().camera(id).is_some()
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
                    let _ = self.announce.send(camera);
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
                }
            }
        }
    }

    /// A new camera session. Returns the session it replaces (same camera id), if any.
    fn add_camera(&self, entry: CameraEntry) -> Option<String> {
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
    fn track_ready(&self, key: u64, source: Arc<Source>) {
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
    fn camera_connected(&self, key: u64, connected: bool) {
        let now = self.now_ms();
        let mut state = self.lock();
        let Some(c) = state.cameras.iter_mut().find(|c| c.key == key) else {
            return;
        };
        if c.connected == connected {
            return;
        }
        c.connected = connected;
        let id = c.id.clone();
        let cams = state.cams();
        let effects = if connected {
            state.program.camera_updated(&cams, now)
        } else {
            state.program.camera_lost(&id, &cams, now)
        };
        self.apply(&state, effects);
    }

    /// A camera session ended (unless it was replaced by a newer session of the same camera).
    fn camera_gone(&self, key: u64, now: u64) {
        let mut state = self.lock();
        let Some(at) = state.cameras.iter().position(|c| c.key == key) else {
            return;
        };
        let gone = state.cameras.remove(at);
        let cams = state.cams();
        let effects = state.program.camera_left(&gone.id, &cams, now);
        self.apply(&state, effects);
        self.labels.cameras.set(state.cameras.len() as f64);
    }

    fn add_viewer(&self, key: u64, watch: Watch, tx: mpsc::Sender<Item>) {
        let mut state = self.lock();
        state.viewers.push(ViewerLink {
            key,
            watch,
            tx,
            video_gap: false,
            audio_gap: false,
        });
        self.labels.viewers.set(state.viewers.len() as f64);
    }

    fn viewer_gone(&self, key: u64) {
        let mut state = self.lock();
        state.viewers.retain(|v| v.key != key);
        self.labels.viewers.set(state.viewers.len() as f64);
    }

    /// The creator's program choice.
    fn direct(
        &self,
        camera: Option<Option<String>>,
        audio: Option<Option<String>>,
        now: u64,
    ) -> Result<(), MediaError> {
        let mut state = self.lock();
        for id in [&camera, &audio].into_iter().flatten().flatten() {
            if state.camera(id).is_none() {
                return Err(MediaError::CameraNotFound(id.clone()));
            }
        }
        if let Some(Some(id)) = &camera
            && state.camera(id).is_some_and(|c| !c.offered_video)
        {
            return Err(MediaError::NoVideo(id.clone()));
        }
        let cams = state.cams();
        if let Some(audio) = audio {
            state.program.fix_audio(audio.as_deref(), &cams);
        }
        if let Some(camera) = camera {
            let effects = state.program.select(camera.as_deref(), now);
            self.apply(&state, effects);
        }
        Ok(())
    }

    fn view(&self) -> (Vec<CameraView>, ProgramView) {
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
            camera: chosen.map(str::to_string),
            audio: state.program.audio().map(str::to_string),
            audio_fixed: state.program.audio_fixed().map(str::to_string),
            codec: state.cameras.iter().find_map(|c| c.family),
        };
        (cameras, program)
    }

    /// Routes one packet of a camera's track to the viewers that want it. Never waits.
    fn route(&self, source: &Arc<Source>, mut packet: rtc::rtp::Packet) {
        if packet.payload.is_empty() {
            // Padding only (bandwidth probing): nothing for a viewer to decode.
            return;
        }
        let now = self.now_ms();
        let video = source.codec.is_video();
        let sync = source.codec.is_sync_point(&packet.payload);
        // Each leg negotiates its own header extensions (and ids); none of the camera's
        // leg-specific ones (transport-cc, abs-send-time, mid) mean anything downstream.
        packet.header.extension = false;
        packet.header.extensions.clear();
        packet.header.extension_profile = 0;
        packet.header.extensions_padding = 0;
        packet.header.padding = false;
        let mut effects = Vec::new();
        let mut state = self.lock();
        let Some(camera) = state.camera(&source.camera) else {
            return;
        };
        if camera.key != source.key.session {
            return; // a replaced session's last packets
        }
        let on_program = if video {
            state
                .program
                .on_video(&source.camera, sync, now, &mut effects)
        } else {
            state.program.on_audio(&source.camera)
        };
        if video && !on_program && state.program.pending() == Some(source.camera.as_str()) {
            self.labels.keyframe_waits.increment(1);
        }
        let live = if video {
            &mut state.video_live
        } else {
            &mut state.audio_live
        };
        let restart = on_program && *live != Some(source.key);
        if on_program {
            *live = Some(source.key);
        } else if *live == Some(source.key) {
            *live = None;
        }
        let mut closed = false;
        for link in state.viewers.iter_mut() {
            let (wanted, restart) = match &link.watch {
                Watch::Program => (on_program, restart),
                Watch::Camera(id) => (*id == source.camera, false),
            };
            if !wanted {
                continue;
            }
            let gap = if video {
                &mut link.video_gap
            } else {
                &mut link.audio_gap
            };
            let item = Item {
                source: source.clone(),
                sync,
                after_gap: *gap || restart,
                at_ms: now,
                packet: packet.clone(),
            };
            match link.tx.try_send(item) {
                Ok(()) => *gap = false,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.labels.queue_drops.increment(1);
                    if !*gap {
                        *gap = true;
                        // It will wait for a keyframe: ask for one now.
                        source.want_keyframe();
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => closed = true,
            }
        }
        if closed {
            state.viewers.retain(|v| !v.tx.is_closed());
            self.labels.viewers.set(state.viewers.len() as f64);
        }
        if !effects.is_empty() {
            self.apply(&state, effects);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CreatorId, NewShow};
    use crate::hub::{MemoryBus, RoomConfig};
    use forwarder::{Incoming, Rewriter, Verdict};

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
            chrono::Utc::now(),
        )
        .unwrap();
        ShowMedia::new(show, hub, Instant::now())
    }

    fn camera(id: &str, key: u64) -> CameraEntry {
        CameraEntry {
            id: id.into(),
            label: id.into(),
            key,
            session: format!("s{key}"),
            family: Some(Codec::Vp8),
            offered_video: true,
            offered_audio: false,
            video: None,
            audio: None,
            connected: true,
            since: chrono::Utc::now(),
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
            camera: "a".into(),
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
            rw.push(Incoming {
                source: item.source.key,
                seq: item.packet.header.sequence_number,
                ts: item.packet.header.timestamp,
                sync_point: item.sync,
                after_gap: item.after_gap,
                now_ms: item.at_ms,
            })
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
