//! Configuration: the only place that reads flags and the environment.
//!
//! Every setting is a clap flag with an environment-variable equivalent and a doc line, so
//! `livesale --help` documents all of them. Other modules receive a `Config` (or a part of it)
//! and never look at the environment themselves. This is a leaf: it names no feature module;
//! the wiring (`app.rs`) turns settings into each component's own settings.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

mod values;
pub use values::{
    LogFormat, PaymentsMode, Secret, StripeConfig, TestPaymentMode, TlsMode, ViewerPlayback,
};

/// livesale: a livestream shopping server (multi-camera WebRTC studio, live chat, pinned
/// products and checkout).
///
/// With no flags it listens on 127.0.0.1:8080, keeps state in memory, and seeds a demo show.
#[derive(Debug, Clone, Parser)]
#[command(name = "livesale", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on for HTTP, WebSocket, WHIP and WHEP.
    #[arg(long, env = "LIVESALE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Base URL used in printed and generated links (e.g. https://shop.example.com).
    /// Derived from the bind address when absent (with --tls-self-signed: the https:// URL of
    /// this machine's first LAN address).
    #[arg(long, env = "LIVESALE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Serve HTTPS with this certificate chain (PEM file, leaf first). Needs --tls-key.
    #[arg(long, env = "LIVESALE_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM file: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "LIVESALE_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,

    /// Serve HTTPS with a certificate generated at start for localhost and this machine's
    /// addresses, so phones on the LAN may use their cameras (browsers allow that only on
    /// secure origins). Prints the HTTPS links, the certificate's fingerprint and a QR code.
    /// Without --bind it listens on 0.0.0.0 (same port) so phones can reach it.
    #[arg(long, env = "LIVESALE_TLS_SELF_SIGNED", value_parser = clap::builder::BoolishValueParser::new())]
    pub tls_self_signed: bool,

    /// Set by [`Config::load`] when --tls-self-signed widened the default bind address.
    #[arg(skip)]
    pub bind_widened: bool,

    /// Key that signs tokens. When absent, one is generated and kept in the store, so tokens
    /// survive restarts with Redis. Nodes sharing a Redis share the stored key.
    #[arg(long, env = "LIVESALE_SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,

    /// The operator's token for `POST /api/creators`. When absent, a random one is generated at
    /// start and printed once; set it to keep it stable across restarts.
    #[arg(long, env = "LIVESALE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Redis URL (redis://host:port/db). Absent means the embedded in-memory store, whose state
    /// dies with the process.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key, so several deployments (or test runs) can share one Redis.
    #[arg(long, env = "LIVESALE_REDIS_PREFIX", default_value = "ls")]
    pub redis_prefix: String,

    /// Do not seed the demo show on first start.
    #[arg(long, env = "LIVESALE_NO_DEMO", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_demo: bool,

    /// Log format.
    #[arg(long, env = "LIVESALE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// Log filter in tracing's EnvFilter syntax (e.g. `info`, `livesale=debug,tower_http=info`).
    /// The WebRTC stack's own logs (targets `rtc*`, `webrtc*`) show only errors unless named
    /// here (e.g. `info,rtc_ice=debug`): livesale logs each media session's start and end.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,

    /// Directory of static assets served under /static (JS, CSS, images).
    #[arg(long, env = "LIVESALE_WEB_DIR", default_value_os_t = default_web_dir())]
    pub web_dir: PathBuf,

    /// Serve the media test pages under /static/test/ (web/test: a canvas WHIP camera and a
    /// WHEP player that the media tests drive). Off by default: a production node does not
    /// serve them.
    #[arg(long, env = "LIVESALE_SERVE_TEST_PAGES")]
    pub serve_test_pages: bool,

    /// How the viewer page plays the program: `auto` (WebRTC, and LL-HLS when the node is
    /// full or WebRTC fails), `webrtc` (never LL-HLS) or `hls` (always LL-HLS). A viewer's
    /// `?hls=1` asks for LL-HLS whatever this says.
    #[arg(long, env = "LIVESALE_VIEWER_PLAYBACK", value_enum, default_value_t = ViewerPlayback::Auto)]
    pub viewer_playback: ViewerPlayback,

    /// Largest accepted request body for JSON routes, in bytes.
    #[arg(long, env = "LIVESALE_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Largest accepted product CSV upload, in bytes.
    #[arg(long, env = "LIVESALE_MAX_IMPORT_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_import_bytes: usize,

    /// Most products one creator's catalog may hold; creating more is 409 `product_quota`, and
    /// an import reports the rows beyond it as rejected.
    #[arg(
        long,
        env = "LIVESALE_MAX_PRODUCTS_PER_CREATOR",
        default_value_t = 10_000
    )]
    pub max_products_per_creator: u64,

    /// Lifetime of creator tokens, in seconds (default 30 days).
    #[arg(long, env = "LIVESALE_CREATOR_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub creator_token_ttl_s: u64,

    /// Lifetime of moderator and camera invite tokens, in seconds (default 7 days).
    #[arg(long, env = "LIVESALE_INVITE_TOKEN_TTL", default_value_t = 7 * 24 * 3600)]
    pub invite_token_ttl_s: u64,

    /// Lifetime of guest viewer tokens, in seconds (default 1 day).
    #[arg(long, env = "LIVESALE_VIEWER_TOKEN_TTL", default_value_t = 24 * 3600)]
    pub viewer_token_ttl_s: u64,

    /// Time allowed for one Redis command before it counts as failed, in milliseconds.
    #[arg(long, env = "LIVESALE_REDIS_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,

    /// Name of this node in a multi-node deployment (presence is summed per node, and leases
    /// such as a merchant's webhook delivery are held per node). Defaults to
    /// `<hostname>:<port>`, which stays the same across restarts.
    #[arg(long, env = "LIVESALE_NODE_ID")]
    pub node_id: Option<String>,

    /// Largest WebSocket frame a client may send, in bytes; bigger ones close the connection
    /// with 1009.
    #[arg(long, env = "LIVESALE_WS_MAX_FRAME", default_value_t = 4096)]
    pub ws_max_frame_bytes: usize,

    /// Frames a WebSocket client may fall behind before it is disconnected (close 4008) as a
    /// slow consumer. It can resume with its last seq.
    #[arg(long, env = "LIVESALE_WS_QUEUE", default_value_t = 512)]
    pub ws_queue: usize,

    /// Time a WebSocket write may take before the client counts as a slow consumer, in ms.
    #[arg(long, env = "LIVESALE_WS_WRITE_TIMEOUT_MS", default_value_t = 5000)]
    pub ws_write_timeout_ms: u64,

    /// Interval of WebSocket pings, in seconds; a client that sends nothing (not even a pong)
    /// for a whole interval after a ping is closed (4010).
    #[arg(long, env = "LIVESALE_WS_PING_INTERVAL", default_value_t = 20)]
    pub ws_ping_interval_s: u64,

    /// Longest chat message, in characters.
    #[arg(long, env = "LIVESALE_CHAT_MAX_CHARS", default_value_t = 500)]
    pub chat_max_chars: usize,

    /// Chat messages one person (a viewer identity, or an invite or creator) may send in a
    /// show per `--chat-rate-period`, across all their connections and nodes.
    #[arg(long, env = "LIVESALE_CHAT_RATE", default_value_t = 20)]
    pub chat_rate: u32,

    /// The period of `--chat-rate`, in seconds.
    #[arg(long, env = "LIVESALE_CHAT_RATE_PERIOD", default_value_t = 30)]
    pub chat_rate_period_s: u64,

    /// Reactions one person may send in a show per second, across all their connections and
    /// nodes.
    #[arg(long, env = "LIVESALE_REACTION_RATE", default_value_t = 20)]
    pub reaction_rate: u32,

    /// WebSocket connections one person (one token's identity) may hold to one show on a
    /// node; more are closed with 4029. 0: no cap.
    #[arg(long, env = "LIVESALE_WS_MAX_PER_MEMBER", default_value_t = 5)]
    pub ws_max_per_member: usize,

    /// WebSocket connections one client address may hold to a node, all shows together;
    /// more are closed with 4029. 0: no cap.
    #[arg(long, env = "LIVESALE_WS_MAX_PER_ADDRESS", default_value_t = 200)]
    pub ws_max_per_address: usize,

    /// Joins (`POST /api/shows/{id}/viewers`) one client address may make per
    /// `--join-rate-period`, across nodes; more get 429 `rate_limited`. 0: no limit.
    #[arg(long, env = "LIVESALE_JOIN_RATE", default_value_t = 20)]
    pub join_rate: u32,

    /// The period of `--join-rate`, in seconds.
    #[arg(long, env = "LIVESALE_JOIN_RATE_PERIOD", default_value_t = 60)]
    pub join_rate_period_s: u64,

    /// How many buyers' allowances of one flash deal all guests from one client address share
    /// (the deal's per-buyer limit × this; an IPv6 address counts by its /64), so joining again
    /// under a new name buys no more. Raise it when many buyers share an address (an office
    /// NAT); 0: no address limit.
    #[arg(long, env = "LIVESALE_DEAL_BUYERS_PER_ADDRESS", default_value_t = 1)]
    pub deal_buyers_per_address: u32,

    /// After a ban, how long new guests (no earlier token, no known device) joining from the
    /// banned viewer's last join address are refused, in seconds. 0: off.
    #[arg(long, env = "LIVESALE_BAN_ADDRESS_COOLDOWN", default_value_t = 600)]
    pub ban_address_cooldown_s: u64,

    /// How long a browser's device id is tied to the viewer it joined as, and a viewer's join
    /// address remembered, in days.
    #[arg(long, env = "LIVESALE_DEVICE_MEMORY_DAYS", default_value_t = 30)]
    pub device_memory_days: u64,

    /// Reverse proxies whose `X-Forwarded-For` is believed, comma-separated addresses or CIDR
    /// blocks (e.g. 10.0.0.0/8). Empty (the default): the client address is the peer's.
    #[arg(long, env = "LIVESALE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_ip_net)]
    pub trusted_proxies: Vec<crate::domain::limits::IpNet>,

    /// Reaction aggregation window, in ms: taps are broadcast as counts once per window.
    #[arg(long, env = "LIVESALE_REACTION_WINDOW_MS", default_value_t = 250)]
    pub reaction_window_ms: u64,

    /// Broadcast frames kept per show for resume.
    #[arg(long, env = "LIVESALE_RESUME_LOG_SIZE", default_value_t = 1000)]
    pub resume_log_size: usize,

    /// Age after which a frame is no longer replayed on resume (the client resyncs), in s.
    #[arg(long, env = "LIVESALE_RESUME_LOG_AGE", default_value_t = 300)]
    pub resume_log_age_s: u64,

    /// Chat messages included in `welcome`.
    #[arg(long, env = "LIVESALE_CHAT_HISTORY", default_value_t = 50)]
    pub chat_history: usize,

    /// Who takes payments: the built-in test provider, which approves, declines, or hangs
    /// (the payment timeout then applies) every charge, or `stripe` (real cards through
    /// Stripe PaymentIntents; needs the three --stripe-* keys).
    #[arg(long, env = "LIVESALE_PAYMENTS", value_enum, default_value_t = PaymentsMode::Approve)]
    pub payments: PaymentsMode,

    /// Stripe's secret API key (`sk_live_…` or `sk_test_…`); needed with --payments stripe.
    /// Never logged or shown.
    #[arg(
        long,
        env = "STRIPE_SECRET_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub stripe_secret_key: Option<Secret>,

    /// Stripe's publishable key (`pk_…`), the one key the viewer page gives Stripe.js;
    /// needed with --payments stripe.
    #[arg(long, env = "STRIPE_PUBLISHABLE_KEY", value_name = "KEY")]
    pub stripe_publishable_key: Option<String>,

    /// The signing secret (`whsec_…`) of the Stripe webhook endpoint that posts to
    /// /api/webhooks/stripe; needed with --payments stripe. Never logged or shown.
    #[arg(
        long,
        env = "STRIPE_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub stripe_webhook_secret: Option<Secret>,

    /// Base URL of Stripe's API (http or https); tests point it at a local Stripe-compatible
    /// server.
    #[arg(
        long,
        env = "LIVESALE_STRIPE_API_BASE",
        default_value = "https://api.stripe.com",
        value_parser = parse_http_url,
        value_name = "URL"
    )]
    pub stripe_api_base: String,

    /// Where pages load Stripe.js from (http or https); the Content-Security-Policy allows
    /// its origin. Tests point it at a local server's copy.
    #[arg(
        long,
        env = "LIVESALE_STRIPE_JS_URL",
        default_value = "https://js.stripe.com/v3/",
        value_parser = parse_http_url,
        value_name = "URL"
    )]
    pub stripe_js_url: String,

    /// Longest wait for the payment provider, in ms; then the payment counts as failed and
    /// the reserved stock goes back.
    #[arg(long, env = "LIVESALE_PAYMENT_TIMEOUT_MS", default_value_t = 10_000)]
    pub payment_timeout_ms: u64,

    /// How long checkout holds stock for a payment, in seconds; a reservation older than this
    /// is given back by the sweeper (e.g. after a crash mid-payment).
    #[arg(long, env = "LIVESALE_RESERVATION_TTL", default_value_t = 120)]
    pub reservation_ttl_s: u64,

    /// Auction bids one viewer may place in a show per second, across all their connections
    /// and nodes (bursts up to `--bid-burst`); faster bids are refused `rate_limited`.
    #[arg(long, env = "LIVESALE_BID_RATE", default_value_t = 10)]
    pub bid_rate: u32,

    /// The burst of `--bid-rate`: bids one viewer may place at once.
    #[arg(long, env = "LIVESALE_BID_BURST", default_value_t = 20)]
    pub bid_burst: u32,

    /// How long an auction's winner (then its runner-up) has to pay, in seconds, before the
    /// lot goes to the next bidder.
    #[arg(long, env = "LIVESALE_AUCTION_PAYMENT_WINDOW_S", default_value_t = 120)]
    pub auction_payment_window_s: u64,

    /// Time a client has to send a whole request head (request line and headers), in ms,
    /// counted from its first byte; then the connection is closed.
    #[arg(
        long,
        env = "LIVESALE_HTTP_HEADER_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub http_header_timeout_ms: u64,

    /// Time a client has to send a whole request body, in ms, counted from the end of its
    /// head; then the request is answered 408 `body_timeout` (or the connection is closed).
    #[arg(long, env = "LIVESALE_HTTP_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub http_body_timeout_ms: u64,

    /// Time a keep-alive connection may stay open with no request, in seconds (also a new
    /// connection that has not sent a byte yet); then it is closed.
    #[arg(long, env = "LIVESALE_HTTP_IDLE_TIMEOUT", default_value_t = 30)]
    pub http_idle_timeout_s: u64,

    /// Connections open at once (HTTP and WebSocket). 0 derives it from the process's open
    /// file limit (three quarters of it, keeping the rest for Redis, media sockets and
    /// files). At the cap a new connection takes the place of the longest-idle one; when none
    /// is idle it is answered 503 (closed before the handshake with TLS).
    #[arg(long, env = "LIVESALE_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,

    /// Connections one client address may hold at once; 0 means half of --max-connections,
    /// and more than --max-connections means no cap of its own. Behind a reverse proxy (every
    /// client has its address) set it to --max-connections or more.
    #[arg(long, env = "LIVESALE_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    pub max_connections_per_ip: usize,

    /// Time a WebSocket client has, after the upgrade, to send its first frame (a pong to the
    /// server's first ping counts), in ms; then it is closed (4010).
    #[arg(
        long,
        env = "LIVESALE_WS_HANDSHAKE_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub ws_handshake_timeout_ms: u64,

    /// Time allowed for open connections to finish after a shutdown signal, in seconds.
    #[arg(long, env = "LIVESALE_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace_s: u64,

    /// How often the webhook worker looks for undelivered order events, in ms.
    #[arg(long, env = "LIVESALE_WEBHOOK_POLL_MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,

    /// Delay before retrying a failed webhook delivery, in ms; it doubles with each further
    /// failure of the same event (with jitter), up to `--webhook-backoff-max-ms`.
    #[arg(long, env = "LIVESALE_WEBHOOK_BACKOFF_BASE_MS", default_value_t = 500)]
    pub webhook_backoff_base_ms: u64,

    /// Longest delay between two attempts to deliver one webhook event, in ms.
    #[arg(long, env = "LIVESALE_WEBHOOK_BACKOFF_MAX_MS", default_value_t = 60000)]
    pub webhook_backoff_max_ms: u64,

    /// Time one webhook request may take before it counts as failed, in ms.
    #[arg(long, env = "LIVESALE_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,

    /// Accept webhook URLs that point at, and deliver to names that resolve to, loopback,
    /// private, link-local, CGNAT, multicast, reserved or documentation addresses (off by
    /// default, so a merchant cannot make the server call into its own network).
    #[arg(long, env = "LIVESALE_WEBHOOK_ALLOW_PRIVATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,

    /// Local IP that WebRTC media sockets bind to. Defaults to the --bind address's IP; a
    /// wildcard (0.0.0.0) binds every non-loopback interface.
    #[arg(long, env = "LIVESALE_MEDIA_IP")]
    pub media_ip: Option<std::net::IpAddr>,

    /// UDP port range for WebRTC media, e.g. 50000-50100. Each camera and each viewer holds
    /// one port (WHIP/WHEP sessions beyond the range get 503). Ephemeral ports when absent.
    #[arg(long, env = "LIVESALE_MEDIA_UDP_PORTS", value_parser = parse_port_range)]
    pub media_udp_ports: Option<(u16, u16)>,

    /// Public IPs to advertise in ICE candidates instead of the local ones (1:1 NAT, e.g. a
    /// cloud VM's public address), comma-separated.
    #[arg(long, env = "LIVESALE_MEDIA_PUBLIC_IPS", value_delimiter = ',')]
    pub media_public_ips: Vec<String>,

    /// Also accept ICE over TCP (a passive candidate per session, on the same port number as
    /// its UDP socket), for networks that block UDP.
    #[arg(long, env = "LIVESALE_MEDIA_ICE_TCP", value_parser = clap::builder::BoolishValueParser::new())]
    pub media_ice_tcp: bool,

    /// STUN/TURN servers, comma-separated: `stun:host:port`, `turn:user:password@host:port?transport=udp`.
    /// All are advertised to WHIP/WHEP clients in `Link` headers; the server's own ICE agent
    /// uses the STUN ones (its public address, when --media-public-ips is not given).
    #[arg(long, env = "LIVESALE_ICE_SERVERS", value_delimiter = ',', value_parser = parse_ice_server, hide_env_values = true)]
    pub ice_servers: Vec<crate::domain::ice::IceServer>,

    /// WHEP viewers this node serves at once; beyond it WHEP answers 503 with Retry-After.
    #[arg(long, env = "LIVESALE_MAX_VIEWERS_PER_NODE", default_value_t = 500)]
    pub max_viewers_per_node: usize,

    /// RTP packets a WHEP viewer may fall behind before packets are dropped for it (it then
    /// skips to the next keyframe).
    #[arg(long, env = "LIVESALE_MEDIA_VIEWER_QUEUE", default_value_t = 256)]
    pub media_viewer_queue: usize,

    /// Seconds a WHIP/WHEP session may take to connect before it is dropped.
    #[arg(long, env = "LIVESALE_MEDIA_CONNECT_TIMEOUT", default_value_t = 20)]
    pub media_connect_timeout_s: u64,

    /// Package each show's on-air program as Low-Latency HLS (`/api/shows/{id}/hls/live.m3u8`)
    /// for crowds behind a CDN, and prefer H.264 from cameras that offer it (HLS needs H.264).
    #[arg(long, env = "LIVESALE_HLS", default_value_t = true, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub hls: bool,

    /// LL-HLS partial segment target, in milliseconds (a player's latency is about three).
    #[arg(long, env = "LIVESALE_HLS_PART_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(100..=5000))]
    pub hls_part_ms: u64,

    /// LL-HLS segment target, in seconds: segments start on a keyframe once this long (the
    /// packager asks the on-air camera for a keyframe at 1.5 times it).
    #[arg(long, env = "LIVESALE_HLS_SEGMENT_S", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=30))]
    pub hls_segment_s: u64,

    /// Blocking LL-HLS requests (`_HLS_msn`, and the hinted next part) this node holds at once;
    /// beyond it they get 503 `hls_busy` with Retry-After.
    #[arg(long, env = "LIVESALE_HLS_MAX_HELD", default_value_t = 20_000)]
    pub hls_max_held: usize,

    /// Seconds of program the live LL-HLS playlist keeps.
    #[arg(long, env = "LIVESALE_HLS_WINDOW_S", default_value_t = 30, value_parser = clap::value_parser!(u64).range(4..=3600))]
    pub hls_window_s: u64,

    /// Where every show's program is recorded (fMP4 segments, as LL-HLS packages them; one
    /// folder per show), for the replay and `recording.mp4`. Recording needs `--hls`.
    #[arg(long, env = "LIVESALE_RECORDINGS_DIR", default_value = "./recordings")]
    pub recordings_dir: std::path::PathBuf,

    /// Recordings last written more than this many days ago are deleted (files and index).
    #[arg(long, env = "LIVESALE_RECORDINGS_KEEP_DAYS", default_value_t = 30)]
    pub recordings_keep_days: u64,

    /// How often this node writes its heartbeat to the store, in seconds; the operator's page
    /// lists a node for three of these after its last one.
    #[arg(long, env = "LIVESALE_HEARTBEAT_S", default_value_t = 10)]
    pub heartbeat_s: u64,

    /// Time a passkey ceremony (adding a passkey, or signing in with one) may take between
    /// its options and the browser's answer, in seconds.
    #[arg(long, env = "LIVESALE_PASSKEY_CEREMONY_TTL_S", default_value_t = 300)]
    pub passkey_ceremony_ttl_s: u64,
}

fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = text
        .split_once('-')
        .ok_or_else(|| format!("'{text}' is not a port range like 50000-50100"))?;
    let lo: u16 = lo.trim().parse().map_err(|_| format!("bad port '{lo}'"))?;
    let hi: u16 = hi.trim().parse().map_err(|_| format!("bad port '{hi}'"))?;
    if lo == 0 || hi < lo {
        return Err(format!("'{text}' is not a port range like 50000-50100"));
    }
    Ok((lo, hi))
}

/// An absolute http(s) URL with a host, without credentials (they would end up in logs).
fn parse_http_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("'{text}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "'{text}' is not an http:// or https:// URL with a host"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("'{text}' must not carry a user name or password"));
    }
    Ok(url.to_string())
}

fn parse_ip_net(text: &str) -> Result<crate::domain::limits::IpNet, String> {
    crate::domain::limits::IpNet::parse(text)
}

fn parse_ice_server(text: &str) -> Result<crate::domain::ice::IceServer, String> {
    crate::domain::ice::IceServer::parse(text)
}

fn default_web_dir() -> PathBuf {
    // Running from the repository (cargo run, cargo test) finds ./web; an installed binary is
    // pointed at its assets with --web-dir.
    let local = PathBuf::from("web");
    if local.is_dir() {
        return local;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web"))
}

impl Config {
    /// The log filter in effect: `--log`, with the WebRTC stack quietened where `--log` does
    /// not name it. Its per-session chatter (a viewer that never connects logs a warning five
    /// times a second until the connect timeout) would bury everything else.
    pub fn log_filter(&self) -> String {
        const QUIET: [&str; 2] = ["rtc", "webrtc"];
        let named = |target: &str| {
            self.log.split(',').any(|d| {
                d.trim()
                    .split('=')
                    .next()
                    .is_some_and(|t| t.starts_with(target))
            })
        };
        let mut filter = self.log.trim().to_string();
        for target in QUIET.iter().filter(|t| !named(t)) {
            if !filter.is_empty() {
                filter.push(',');
            }
            filter.push_str(target);
            filter.push_str("=error");
        }
        filter
    }

    /// Defaults as if no flag and no environment variable were given (for tests and tools).
    pub fn defaults() -> Self {
        Config::parse_from(["livesale"])
    }

    /// Parses the command line and the environment, refuses combinations clap cannot express
    /// (printing a usage error and exiting with status 2, as clap does), and applies defaults
    /// that depend on other settings: with --tls-self-signed and no --bind, listen on every
    /// IPv4 interface so phones on the LAN can connect.
    pub fn load() -> Config {
        Config::load_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// [`Config::load`] from the given arguments (the first is the program name) and the
    /// environment, returning the usage error instead of exiting.
    pub fn load_from<I, T>(args: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Config::command().try_get_matches_from(args)?;
        let mut config = Config::from_arg_matches(&matches)?;
        if let Err(message) = config.tls_mode() {
            return Err(Config::command().error(clap::error::ErrorKind::ArgumentConflict, message));
        }
        if let Err(message) = config.stripe() {
            return Err(
                Config::command().error(clap::error::ErrorKind::MissingRequiredArgument, message)
            );
        }
        let bind_defaulted =
            matches.value_source("bind") == Some(clap::parser::ValueSource::DefaultValue);
        if config.tls_self_signed && bind_defaulted {
            config.bind = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), config.bind.port());
            config.bind_widened = true;
        }
        Ok(config)
    }

    /// The TLS settings, or why they do not go together.
    pub fn tls_mode(&self) -> Result<TlsMode, String> {
        match (&self.tls_cert, &self.tls_key, self.tls_self_signed) {
            (None, None, false) => Ok(TlsMode::Off),
            (None, None, true) => Ok(TlsMode::SelfSigned),
            (Some(_), _, true) | (_, Some(_), true) => Err(
                "--tls-self-signed cannot be used with --tls-cert/--tls-key: \
                 use your certificate or a generated one, not both"
                    .into(),
            ),
            (Some(cert), Some(key), false) => Ok(TlsMode::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (Some(_), None, false) => {
                Err("--tls-cert needs --tls-key (the certificate's private key)".into())
            }
            (None, Some(_), false) => {
                Err("--tls-key needs --tls-cert (the certificate it belongs to)".into())
            }
        }
    }

    /// The Stripe settings with --payments stripe (`None` with the built-in provider), or
    /// which key is missing. A key given as an empty or blank value counts as missing.
    pub fn stripe(&self) -> Result<Option<StripeConfig>, String> {
        if self.payments != PaymentsMode::Stripe {
            return Ok(None);
        }
        fn given<T: Clone>(value: &Option<T>, text: impl Fn(&T) -> &str) -> Option<T> {
            value
                .as_ref()
                .filter(|v| !text(v).trim().is_empty())
                .cloned()
        }
        let missing = |flag: &str, env: &str| format!("--payments stripe needs {flag} (or {env})");
        let secret_key = given(&self.stripe_secret_key, Secret::expose)
            .ok_or_else(|| missing("--stripe-secret-key", "STRIPE_SECRET_KEY"))?;
        let publishable_key = given(&self.stripe_publishable_key, String::as_str)
            .ok_or_else(|| missing("--stripe-publishable-key", "STRIPE_PUBLISHABLE_KEY"))?;
        let webhook_secret = given(&self.stripe_webhook_secret, Secret::expose)
            .ok_or_else(|| missing("--stripe-webhook-secret", "STRIPE_WEBHOOK_SECRET"))?;
        Ok(Some(StripeConfig {
            secret_key,
            publishable_key: publishable_key.trim().to_string(),
            webhook_secret,
            api_base: self.stripe_api_base.trim_end_matches('/').to_string(),
            js_url: self.stripe_js_url.clone(),
        }))
    }

    /// Whether the server speaks HTTPS.
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert.is_some() || self.tls_key.is_some() || self.tls_self_signed
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_s)
    }
}

#[cfg(test)]
mod tests;
