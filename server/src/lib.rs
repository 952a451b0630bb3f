//! livesale: a livestream shopping server.
//!
//! A tour of the modules, from the inside out:
//!
//! - [`domain`]: the rules (shows, catalog, money, names, who may do what), pure and I/O-free.
//! - [`clock`]: the one source of "now" (a test clock moves ahead instead of sleeping).
//! - [`auth`]: signed, expiring tokens that carry a [`domain::Principal`].
//! - [`store`]: the `Store` seam, with an in-memory and a Redis implementation.
//! - [`limits`]: limits that follow a person (connection caps, the client address); the
//!   budgets live in the store.
//! - [`services`]: one service per feature (commerce, chat, moderation, shows, catalog),
//!   between the transports and the store.
//! - [`media`]: WebRTC: WHIP cameras, WHEP viewers, the on-air switch and RTP forwarding.
//! - [`http`]: the axum router, JSON API, error mapping, pages and operations endpoints.
//! - [`app`]: wiring: builds the shared state from a [`config::Config`], seeds the demo, and
//!   serves a bound listener until a shutdown future resolves.
//! - [`connections`]: the accept loop: caps on open connections, their timeouts, hyper.
//! - [`config`]: the only reader of flags and environment.
//! - [`tls`]: HTTPS (a certificate from files or a self-signed one) and [`qr`]: QR codes.
//!
//! `main.rs` is thin: it parses the config, sets up logging, binds, and calls [`app`].
#![forbid(unsafe_code)]
// No function over 80 lines of code (clippy.toml; issue 14). The load tool (src/bin/) is apart.
#![warn(clippy::too_many_lines)]

pub mod app;
pub mod auth;
pub mod clock;
pub mod commerce;
pub mod config;
pub mod connections;
pub mod demo;
pub mod domain;
pub mod http;
pub mod hub;
pub mod limits;
pub mod media;
pub mod metrics;
pub mod passkeys;
pub mod qr;
pub mod services;
pub mod store;
pub mod tls;

pub use app::{App, Links};
pub use config::Config;
