//! Configuration: the only place that reads flags and the environment.
//!
//! Every setting is a clap flag with an environment-variable equivalent and a doc line, so
//! `livesale --help` documents all of them. Other modules receive a `Config` (or a part of it)
//! and never look at the environment themselves.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

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
    /// Derived from the bind address when absent.
    #[arg(long, env = "LIVESALE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Key that signs tokens. When absent, one is generated and kept in the store, so tokens
    /// survive restarts with Redis. Nodes sharing a Redis share the stored key.
    #[arg(long, env = "LIVESALE_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// The operator's token for `POST /api/creators`. When absent, a random one is generated at
    /// start and printed once; set it to keep it stable across restarts.
    #[arg(long, env = "LIVESALE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

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
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,

    /// Directory of static assets served under /static (JS, CSS, images).
    #[arg(long, env = "LIVESALE_WEB_DIR", default_value_os_t = default_web_dir())]
    pub web_dir: PathBuf,

    /// Largest accepted request body for JSON routes, in bytes.
    #[arg(long, env = "LIVESALE_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Largest accepted product CSV upload, in bytes.
    #[arg(long, env = "LIVESALE_MAX_IMPORT_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_import_bytes: usize,

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

    /// Time allowed for open connections to finish after a shutdown signal, in seconds.
    #[arg(long, env = "LIVESALE_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace_s: u64,
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
    /// Defaults as if no flag and no environment variable were given (for tests and tools).
    pub fn defaults() -> Self {
        Config::parse_from(["livesale"])
    }

    /// The base URL for links: `--public-url`, or one derived from the bind address.
    pub fn public_base(&self, bound: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.trim_end_matches('/').to_string();
        }
        let host = if bound.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else if bound.is_ipv6() {
            format!("[{}]", bound.ip())
        } else {
            bound.ip().to_string()
        };
        format!("http://{host}:{}", bound.port())
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_s)
    }
}
