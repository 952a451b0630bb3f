//! The values settings take (formats, modes, secrets, the Stripe and TLS settings), apart from
//! the flags themselves (`super::Config`), which re-exports them.

use std::path::PathBuf;

use clap::ValueEnum;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How the built-in test payment provider answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum TestPaymentMode {
    /// Every charge succeeds.
    #[default]
    Approve,
    /// Every charge is declined.
    Decline,
    /// No charge ever answers (the payment timeout applies).
    Hang,
}

/// How the viewer page plays the program (`--viewer-playback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ViewerPlayback {
    /// WebRTC first; LL-HLS when WHEP answers 503 (the node is full) or WebRTC fails.
    #[default]
    Auto,
    /// WebRTC only.
    Webrtc,
    /// LL-HLS only (a crowd served through a CDN).
    Hls,
}

impl ViewerPlayback {
    /// The name the page reads (`data-playback`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ViewerPlayback::Auto => "auto",
            ViewerPlayback::Webrtc => "webrtc",
            ViewerPlayback::Hls => "hls",
        }
    }
}

/// Who takes payments (`--payments`): the built-in test provider in one of its modes, or
/// Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum PaymentsMode {
    /// The built-in test provider; every charge succeeds (the embedded default).
    #[default]
    Approve,
    /// The built-in test provider; every charge is declined.
    Decline,
    /// The built-in test provider; no charge ever answers (the payment timeout applies).
    Hang,
    /// Stripe PaymentIntents; needs --stripe-secret-key, --stripe-publishable-key and
    /// --stripe-webhook-secret.
    Stripe,
}

impl PaymentsMode {
    /// The built-in test provider's mode, or `None` with Stripe.
    pub fn test_mode(self) -> Option<TestPaymentMode> {
        match self {
            PaymentsMode::Approve => Some(TestPaymentMode::Approve),
            PaymentsMode::Decline => Some(TestPaymentMode::Decline),
            PaymentsMode::Hang => Some(TestPaymentMode::Hang),
            PaymentsMode::Stripe => None,
        }
    }
}

/// A setting that must never be shown: its `Debug` is `Secret(***)`, and its text is read
/// only through [`Secret::expose`], so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret's text, for the one place that uses it (signing, an API call).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Secret(text)
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Self {
        Secret(text.to_string())
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Secret(text.to_string()))
    }
}

/// The Stripe settings, complete and checked ([`super::Config::stripe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeConfig {
    pub secret_key: Secret,
    /// The one key a page sees.
    pub publishable_key: String,
    pub webhook_secret: Secret,
    /// Where Stripe's API is (no trailing slash), e.g. `https://api.stripe.com`.
    pub api_base: String,
    /// Where the pages load Stripe.js from.
    pub js_url: String,
}

/// How the server speaks to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP (behind a reverse proxy that terminates TLS, or on one machine).
    Off,
    /// HTTPS with the operator's certificate.
    Files { cert: PathBuf, key: PathBuf },
    /// HTTPS with a certificate generated at start.
    SelfSigned,
}
