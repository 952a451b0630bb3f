//! Wiring: from a [`Config`] to a running server.
//!
//! [`App::build`] connects the store, settles the signing secret, seeds the demo and builds
//! the router; [`App::serve`] runs it on a bound listener until the shutdown future resolves,
//! then tells long-lived connections to close and gives them a grace period. `main.rs` and the
//! end-to-end tests both go through here (tests bind port 0). Each component's own settings
//! (the rooms', the connections', media's, the link base) are made from the `Config` here, so
//! `config.rs` names no feature module.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{TokenSigner, random_secret};
use crate::clock::{SharedClock, SystemClock};
use crate::commerce::payment::{PaymentProvider, TestPayments};
use crate::commerce::stripe::{self, StripeClient, StripePayments};
use crate::config::{Config, TlsMode};
use crate::connections;
use crate::demo::{self, DemoOutcome};
use crate::domain::{Principal, Timestamp};
use crate::http::{self, AppState, Shared};
use crate::hub::{Bus, Hub, LogLimits, MemoryBus, RedisBus, RoomConfig};
use crate::limits::ConnCaps;
use crate::media::MediaConfig;
use crate::services::accounts::{AccountsService, AccountsSettings};
use crate::services::auction_sales::{AuctionSales, SaleSettings};
use crate::services::auctions::{AuctionSettings, AuctionsService};
use crate::services::catalog::CatalogService;
use crate::services::commerce::{CommerceService, CommerceSettings};
use crate::services::moderation::ModerationService;
use crate::services::payments::{PaymentsService, StripeWebhook};
use crate::services::replay::ReplayService;
use crate::services::replay_stats::ReplayStatsService;
use crate::services::shows::{ShowsService, ShowsSettings};
use crate::store::{self, Backend, SharedStore, StoreError};
use crate::tls::TlsSetup;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot use the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid settings: {0}")]
    Config(String),
    #[error("cannot set up HTTPS: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// Links to print for the demo show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    /// Whether the demo was created by this start (else it existed before).
    pub seeded_now: bool,
    pub show_title: String,
    pub studio: String,
    pub viewer: String,
    pub camera: String,
    pub moderator: String,
    /// The demo creator's sign-in link (`…/signin#token=…`).
    pub signin: String,
    /// The program's LL-HLS playlist, when `--hls` is on (any HLS player opens it).
    pub hls: Option<String>,
}

pub struct App {
    state: AppState,
    links: Option<Links>,
    admin_token_generated: bool,
    tls: Option<TlsSetup>,
}

impl App {
    /// Connects everything; `bound` is the listener's actual address (for derived links).
    pub async fn build(config: Config, bound: SocketAddr) -> Result<App, StartError> {
        Self::build_with_clock(config, bound, Arc::new(SystemClock)).await
    }

    /// [`Self::build`] on `clock` (tests pass a [`crate::clock::TestClock`]).
    pub async fn build_with_clock(
        config: Config,
        bound: SocketAddr,
        clock: SharedClock,
    ) -> Result<App, StartError> {
        // TLS first: a bad certificate or key fails the start before anything is touched.
        let tls = tls_setup(&config, clock.now())?;
        let payments = payment_provider(&config)?;
        crate::metrics::install();
        let (store, hub) = connect_state(&config, bound, &clock).await?;
        metrics::gauge!("livesale_info", "store" => store.kind(), "version" => env!("CARGO_PKG_VERSION"))
            .set(1.0);
        let secret = signing_secret(&config, &store).await?;
        let (admin_token, admin_token_generated) = admin_token(&config);
        let now = clock.now();
        let outcome = demo::ensure(store.as_ref(), !config.no_demo, now).await?;
        let wired = wire(
            config,
            bound,
            (store, hub, payments),
            clock,
            &secret,
            admin_token,
        );
        let state = AppState::new(wired);
        // Listed on the operator's page from the start, not a tick later.
        if let Err(e) = state.accounts.beat().await {
            tracing::warn!(error = %e, "heartbeat not written");
        }
        let links = demo_links(&state, outcome, now).await?;
        Ok(App {
            state,
            links,
            admin_token_generated,
            tls,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The demo's links, when there is a demo.
    pub fn links(&self) -> Option<&Links> {
        self.links.as_ref()
    }

    /// The certificate served, when the server speaks HTTPS.
    pub fn tls(&self) -> Option<&TlsSetup> {
        self.tls.as_ref()
    }

    /// The admin token, and whether it was generated because none was configured.
    pub fn admin_token(&self) -> (&str, bool) {
        (&self.state.admin_token, self.admin_token_generated)
    }

    /// Serves until `shutdown` resolves, then stops accepting, tells open connections to
    /// close, and waits up to the configured grace period for them.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let token = self.state.shutdown.clone();
        let grace = self.state.config.shutdown_grace();
        crate::commerce::webhooks::start(
            &self.state.store,
            &self.state.config,
            &self.state.hub.node_id,
            &self.state.clock,
            &token,
        );
        self.state.accounts.spawn_heartbeat(token.clone());
        let router = http::router(self.state.clone());
        self.state
            .commerce
            .spawn_sweeper(std::time::Duration::from_secs(1), token.clone());
        self.state.auctions.spawn_ticker(token.clone());
        let signal_token = token.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; telling open ones to close");
            signal_token.cancel();
        });
        let limits = connection_limits(&self.state.config, connections::file_limit());
        let server = connections::serve(
            listener,
            router,
            self.tls.as_ref().map(|tls| tls.config.clone()),
            limits,
            token.clone(),
        );
        let connections = self.state.connections.clone();
        let hub = self.state.hub.clone();
        let media = self.state.media.clone();
        let drained = async move {
            result_of(server.await)?;
            // HTTP is done; upgraded connections were told to close when the token fired.
            connections.close();
            connections.wait().await;
            media.close_all().await;
            hub.close_all().await;
            Ok::<(), StartError>(())
        };
        tokio::select! {
            result = drained => result?,
            _ = async { token.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "grace period over; dropping the connections still open");
            }
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// The store and this node's hub over the bus that goes with it (Redis with Redis, the
/// memory bus with the memory store): the one place the backends are chosen.
async fn connect_state(
    config: &Config,
    bound: SocketAddr,
    clock: &SharedClock,
) -> Result<(SharedStore, Arc<Hub>), StartError> {
    let limits = room_limits(config);
    let (store, bus): (SharedStore, Arc<dyn Bus>) = match &config.redis_url {
        Some(url) => {
            let timeout = config.redis_timeout();
            let prefix = &config.redis_prefix;
            let store = store::open(Backend::Redis {
                url,
                prefix,
                timeout,
            })
            .await?;
            let bus = RedisBus::connect(url, prefix, timeout, limits)
                .await?
                .with_clock(clock.clone());
            tracing::info!(store = "redis", prefix = %prefix, "state lives in Redis");
            (store, Arc::new(bus))
        }
        None => {
            tracing::warn!(
                store = "memory",
                "state lives in this process's memory and dies with it; set REDIS_URL to keep it"
            );
            let store = store::open(Backend::Memory).await?;
            (store, Arc::new(MemoryBus::new(limits, clock.clone())))
        }
    };
    let hub = Hub::new(
        bus,
        node_id(config, bound),
        room_config(config),
        clock.clone(),
    );
    hub.record_chapters_in(store.clone());
    hub.record_transcript_in(store.clone());
    Ok((store, hub))
}

/// Every service, built once over the shared store, hub and clock.
/// The payment provider `--payments` names: the built-in test one, or Stripe (its settings
/// checked, its client built).
fn payment_provider(config: &Config) -> Result<Payments, StartError> {
    if let Some(mode) = config.payments.test_mode() {
        return Ok((Arc::new(TestPayments { mode }), None));
    }
    let stripe = config
        .stripe()
        .map_err(StartError::Config)?
        .ok_or_else(|| StartError::Config("--payments stripe without its settings".into()))?;
    let api_base = url::Url::parse(&stripe.api_base)
        .map_err(|e| StartError::Config(format!("--stripe-api-base: {e}")))?;
    let client = StripeClient::new(api_base, stripe.secret_key, stripe::client::DEFAULT_TIMEOUT)
        .map_err(|e| StartError::Config(format!("cannot build the Stripe client: {e}")))?;
    let webhook = StripeWebhook {
        secret: stripe.webhook_secret,
        client: client.clone(),
    };
    let provider = StripePayments {
        client,
        publishable_key: stripe.publishable_key,
    };
    Ok((Arc::new(provider), Some(webhook)))
}

/// The checkout's payment provider, and Stripe's webhook side when it is Stripe.
type Payments = (Arc<dyn PaymentProvider>, Option<StripeWebhook>);

fn wire(
    config: Config,
    bound: SocketAddr,
    (store, hub, (payments, webhook)): (SharedStore, Arc<Hub>, Payments),
    clock: SharedClock,
    secret: &str,
    admin_token: String,
) -> Shared {
    let public_url = public_base(&config, bound);
    let signer = TokenSigner::new(secret);
    let accounts = AccountsService::new(
        store.clone(),
        hub.clone(),
        signer.clone(),
        clock.clone(),
        accounts_settings(&config, &public_url),
        &hub.node_id,
    );
    let media = crate::media::Media::new(
        media_config(&config),
        hub.clone(),
        store.clone(),
        public_url.clone(),
        clock.clone(),
    );
    Shared {
        auctions: auctions_service(&config, &store, &hub, &payments, &clock),
        conn_caps: ConnCaps::new(config.ws_max_per_member, config.ws_max_per_address),
        payments: PaymentsService::new(store.clone(), hub.clone(), clock.clone(), webhook),
        commerce: CommerceService::new(
            store.clone(),
            hub.clone(),
            payments,
            clock.clone(),
            CommerceSettings::from(&config),
        ),
        moderation: ModerationService::new(
            store.clone(),
            hub.clone(),
            clock.clone(),
            (&config).into(),
        ),
        shows: ShowsService::new(
            store.clone(),
            hub.clone(),
            signer.clone(),
            clock.clone(),
            ShowsSettings::new(&config, &public_url),
        ),
        catalog: CatalogService::new(
            store.clone(),
            hub.clone(),
            clock.clone(),
            config.max_products_per_creator,
        ),
        team: crate::services::team::TeamService::new(
            store.clone(),
            hub.clone(),
            signer.clone(),
            clock.clone(),
            config.invite_token_ttl_s,
        ),
        chapters: crate::services::chapters::ChaptersService::new(store.clone(), clock.clone()),
        replay: ReplayService::new(&store, &media, &clock, &public_url),
        accounts: Arc::new(accounts),
        replay_stats: Arc::new(ReplayStatsService::new(&store, &media, &clock)),
        config,
        store,
        signer,
        admin_token,
        public_url,
        shutdown: CancellationToken::new(),
        hub,
        connections: TaskTracker::new(),
        media,
        clock,
    }
}

/// The auctions service, with the sales of its closed lots.
fn auctions_service(
    config: &Config,
    store: &SharedStore,
    hub: &Arc<Hub>,
    payments: &Arc<dyn PaymentProvider>,
    clock: &SharedClock,
) -> AuctionsService {
    let settings = SaleSettings {
        payment_window: chrono::Duration::seconds(config.auction_payment_window_s as i64),
    };
    let sales = AuctionSales::new(
        store.clone(),
        hub.clone(),
        payments.clone(),
        clock.clone(),
        settings,
    );
    AuctionsService::new(
        store.clone(),
        hub.clone(),
        payments.clone(),
        sales,
        clock.clone(),
        AuctionSettings::from(config),
    )
}

/// The demo's links, when there is a demo (seeded now or before).
async fn demo_links(
    state: &AppState,
    outcome: DemoOutcome,
    now: Timestamp,
) -> Result<Option<Links>, StoreError> {
    let (seeded_now, record) = match outcome {
        DemoOutcome::Seeded(record) => (true, record),
        DemoOutcome::Existing(record) => (false, record),
        DemoOutcome::None => return Ok(None),
    };
    let Some(show) = state.store.show(record.show_id).await? else {
        return Ok(None);
    };
    let base = &state.public_url;
    // Of the creator's current generation, so the links work after a sign-out everywhere.
    let creator = match state.accounts.creator_token(record.creator_id).await {
        Ok(token) => token,
        Err(crate::services::accounts::AccountsError::Store(e)) => return Err(e),
        Err(e) => return Err(StoreError::Corrupt(format!("demo creator: {e}"))),
    };
    let invite_ttl = state.config.invite_token_ttl_s;
    let (camera_invite, moderator_invite) = (
        crate::domain::InviteId(Uuid::now_v7()),
        crate::domain::InviteId(Uuid::now_v7()),
    );
    state.store.record_invite(show.id, camera_invite).await?;
    state.store.record_invite(show.id, moderator_invite).await?;
    let camera = Principal::Camera {
        show_id: show.id,
        invite_id: camera_invite,
        label: Some("Phone camera".into()),
    };
    let moderator = Principal::Moderator {
        show_id: show.id,
        invite_id: moderator_invite,
        label: Some("Demo moderator".into()),
    };
    Ok(Some(Links {
        seeded_now,
        show_title: show.title.clone(),
        studio: format!("{base}/studio/{}#token={creator}", show.id),
        signin: state.accounts.signin_url(&creator),
        viewer: format!("{base}/s/{}", show.id),
        hls: state
            .config
            .hls
            .then(|| format!("{base}/api/shows/{}/hls/live.m3u8", show.id)),
        camera: http::invite_url(base, &camera, &state.signer.mint(&camera, now, invite_ttl)),
        moderator: http::invite_url(
            base,
            &moderator,
            &state.signer.mint(&moderator, now, invite_ttl),
        ),
    }))
}

/// Builds and serves in one call (what tests that need no links use).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let app = App::build(config, listener.local_addr()?).await?;
    app.serve(listener, shutdown).await
}

fn result_of(r: std::io::Result<()>) -> Result<(), StartError> {
    r.map_err(StartError::Io)
}

/// The certificate to serve, when the server speaks HTTPS.
fn tls_setup(config: &Config, now: Timestamp) -> Result<Option<TlsSetup>, StartError> {
    Ok(match config.tls_mode().map_err(StartError::Config)? {
        TlsMode::Off => None,
        TlsMode::Files { cert, key } => Some(crate::tls::from_files(&cert, &key)?),
        TlsMode::SelfSigned => Some(crate::tls::self_signed(
            &crate::tls::interface_addresses(),
            now,
        )?),
    })
}

/// `--node-id`, or one stable across restarts of the same node (same host, same port), so a
/// restarted node takes its own leases back at once.
fn node_id(config: &Config, bound: SocketAddr) -> String {
    config
        .node_id
        .clone()
        .unwrap_or_else(|| format!("{}:{}", hostname(), bound.port()))
}

/// `--secret`, or the one kept in the store (first writer wins, so nodes agree).
async fn signing_secret(config: &Config, store: &SharedStore) -> Result<String, StoreError> {
    match &config.secret {
        Some(s) => Ok(s.expose().to_string()),
        None => store.secret_or_init(&random_secret()).await,
    }
}

/// `--admin-token`, or a random one, and whether it was generated.
fn admin_token(config: &Config) -> (String, bool) {
    match &config.admin_token {
        Some(t) => (t.expose().to_string(), false),
        None => (random_secret(), true),
    }
}

// ---- each component's settings, from the config ---------------------------------------------

/// The base URL for links: `--public-url`, or one derived from the bound address (https
/// with TLS; with --tls-self-signed on a wildcard address, this machine's LAN address, so
/// printed links and invites work on a phone).
pub fn public_base(config: &Config, bound: SocketAddr) -> String {
    if let Some(url) = &config.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let ip = if !bound.ip().is_unspecified() {
        bound.ip()
    } else if config.tls_self_signed {
        crate::tls::lan_address().unwrap_or(Ipv4Addr::LOCALHOST.into())
    } else {
        Ipv4Addr::LOCALHOST.into()
    };
    let scheme = if config.tls_enabled() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}", SocketAddr::new(ip, bound.port()))
}

/// The accounts service's settings: links, token lifetime, ceremonies, the heartbeat.
pub fn accounts_settings(config: &Config, public_url: &str) -> AccountsSettings {
    AccountsSettings {
        public_url: public_url.to_string(),
        creator_token_ttl_s: config.creator_token_ttl_s,
        ceremony_ttl: Duration::from_secs(config.passkey_ceremony_ttl_s.max(1)),
        heartbeat_every: Duration::from_secs(config.heartbeat_s.max(1)),
    }
}

/// The bounds of each show's resume log, chat history and presence.
pub fn room_limits(config: &Config) -> LogLimits {
    LogLimits {
        max_frames: config.resume_log_size.max(1),
        max_age: Duration::from_secs(config.resume_log_age_s),
        chat_history: config.chat_history,
        presence_every: Duration::from_secs(1),
        presence_stale: Duration::from_secs(5),
    }
}

/// The tuning of this node's rooms.
pub fn room_config(config: &Config) -> RoomConfig {
    RoomConfig {
        queue: config.ws_queue.max(1),
        reaction_window: Duration::from_millis(config.reaction_window_ms.max(10)),
        presence_interval: Duration::from_secs(1),
        linger: Duration::from_secs(10),
    }
}

/// The connection limits and timeouts; a derived cap comes from `file_limit` (the
/// process's soft RLIMIT_NOFILE, when known).
pub fn connection_limits(config: &Config, file_limit: Option<u64>) -> connections::Limits {
    let total = if config.max_connections > 0 {
        config.max_connections
    } else {
        connections::derived_cap(file_limit)
    };
    let per_ip = if config.max_connections_per_ip > 0 {
        config.max_connections_per_ip.min(total)
    } else {
        (total / 2).max(1)
    };
    connections::Limits {
        max_total: total,
        max_per_ip: per_ip,
        header_timeout: Duration::from_millis(config.http_header_timeout_ms.max(1)),
        body_timeout: Duration::from_millis(config.http_body_timeout_ms.max(1)),
        idle_timeout: Duration::from_secs(config.http_idle_timeout_s.max(1)),
    }
}

/// The media settings; media binds the HTTP bind address's IP unless told otherwise.
pub fn media_config(config: &Config) -> MediaConfig {
    MediaConfig {
        ip: config.media_ip.unwrap_or_else(|| config.bind.ip()),
        udp_ports: config.media_udp_ports,
        public_ips: config.media_public_ips.clone(),
        ice_tcp: config.media_ice_tcp,
        ice_servers: config.ice_servers.clone(),
        max_viewers: config.max_viewers_per_node,
        viewer_queue: config.media_viewer_queue.max(8),
        connect_timeout: Duration::from_secs(config.media_connect_timeout_s.max(1)),
        pli_interval: Duration::from_millis(500),
        hls: crate::media::HlsConfig {
            enabled: config.hls,
            part: Duration::from_millis(config.hls_part_ms.max(100)),
            segment: Duration::from_secs(config.hls_segment_s.max(1)),
            max_held: config.hls_max_held,
            window: Duration::from_secs(config.hls_window_s.max(4)),
        },
        recording: config
            .hls
            .then(|| crate::media::recording::RecordingConfig {
                dir: config.recordings_dir.clone(),
                keep: Duration::from_secs(config.recordings_keep_days.saturating_mul(86_400)),
                sweep_every: Duration::from_secs(if config.recordings_keep_days == 0 {
                    1
                } else {
                    3600
                }),
            }),
    }
}

/// This machine's name, for default node ids.
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_address_cap_is_half_the_total_unless_set_and_never_above_it() {
        let config = |total, per_ip| Config {
            max_connections: total,
            max_connections_per_ip: per_ip,
            ..Config::defaults()
        };
        let caps = |c: &Config, files| {
            let limits = connection_limits(c, files);
            (limits.max_total, limits.max_per_ip)
        };
        assert_eq!(caps(&config(100, 0), None), (100, 50));
        assert_eq!(caps(&config(100, 30), None), (100, 30));
        assert_eq!(caps(&config(100, 500), None), (100, 100));
        assert_eq!(caps(&config(1, 0), None), (1, 1));
        // No total set: three quarters of the file limit.
        assert_eq!(caps(&config(0, 0), Some(1024)), (768, 384));
    }
}
