//! Webhook delivery: drains each creator's outbox to the creator's webhook URL, at least once
//! and in order. Every POST carries the event's stable id (`X-Livesale-Delivery`) for the
//! receiver to deduplicate on, and an HMAC-SHA256 of the raw body keyed with the webhook's
//! secret (`X-Livesale-Hmac-Sha256`, base64, Shopify's scheme). A failed delivery blocks the
//! creator's later events and is retried with capped exponential backoff; each creator has its
//! own task, so one slow or failing merchant never delays another. The outbox in the store is
//! the only durable state: an event leaves it only after a 2xx, so a crash or restart between
//! an order and its delivery delivers it after the restart. This module keeps no business rules
//! and writes nothing but acknowledgements and the delivery log the dashboard shows (one entry
//! per event, bounded); attempt counts live in memory and restart at 1.
//! Where a webhook may go is [`destination`]'s; a refused destination is a failed delivery like
//! any other (the merchant may fix their DNS).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::domain::CreatorId;
use crate::domain::commerce::{Delivery, DeliveryOutcome};
use crate::store::{OutboxEvent, SharedStore, StoreError, Webhook};

mod destination;

use destination::{GuardedLookup, refused_by_resolver, refused_literal};
pub use destination::{Lookup, check_url};

/// Header carrying the base64 HMAC-SHA256 of the raw body.
pub const SIGNATURE_HEADER: &str = "X-Livesale-Hmac-Sha256";
/// Header carrying the event's stable id; the same on every attempt.
pub const DELIVERY_HEADER: &str = "X-Livesale-Delivery";
/// Header carrying the event kind (`order.created`, …).
pub const EVENT_HEADER: &str = "X-Livesale-Event";
/// Header carrying the attempt number (1 for the first, counted per process).
pub const ATTEMPT_HEADER: &str = "X-Livesale-Attempt";

/// Events fetched from a creator's outbox per round.
const BATCH: usize = 50;

type HmacSha256 = Hmac<Sha256>;

/// Timing of the delivery worker.
#[derive(Clone)]
pub struct WebhookConfig {
    /// How often the worker looks for creators with webhooks, and for new events.
    pub poll: Duration,
    /// Delay after a first failure; it doubles with each further failure of the same event.
    pub backoff_base: Duration,
    /// Longest delay between two attempts.
    pub backoff_max: Duration,
    /// Longest one delivery request may take (connect, send and answer headers).
    pub timeout: Duration,
    /// This node's name: one node at a time holds a merchant's delivery lease, so the
    /// merchant receives its events in order even with several nodes.
    pub node: String,
    /// Deliver to loopback, private and other special-purpose addresses too
    /// (`--webhook-allow-private`).
    pub allow_private: bool,
    /// Turns a webhook's host name into addresses (the system resolver unless replaced).
    pub lookup: Lookup,
    /// Dates the entries of the delivery log (`GET /api/webhook/deliveries`).
    pub clock: SharedClock,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("poll", &self.poll)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .field("timeout", &self.timeout)
            .field("node", &self.node)
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// How long a delivery lease lasts without renewal: longer than the longest pause between
    /// two rounds, so a live holder never loses it; a dead holder's lapses after this.
    fn lease_ttl(&self) -> Duration {
        self.backoff_max + self.timeout + self.poll * 2 + Duration::from_secs(5)
    }
}

impl From<&Config> for WebhookConfig {
    fn from(config: &Config) -> Self {
        WebhookConfig {
            poll: Duration::from_millis(config.webhook_poll_ms.max(10)),
            backoff_base: Duration::from_millis(config.webhook_backoff_base_ms.max(1)),
            backoff_max: Duration::from_millis(config.webhook_backoff_max_ms.max(1)),
            timeout: Duration::from_millis(config.webhook_timeout_ms.max(1)),
            node: String::new(),
            allow_private: config.webhook_allow_private,
            lookup: Lookup::system(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// The signature header's value for `body`: base64 of HMAC-SHA256 keyed with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

/// Whether `header` is the signature of `body` under `secret`, compared in constant time.
/// What a receiver runs on the raw body before parsing it.
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Ok(given) = BASE64.decode(header.trim()) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The delay before attempt `failures + 1`: `base · 2^(failures-1)` capped at `max`, scaled by
/// `jitter` (expected in 0.8..=1.0, so retries of many merchants spread out while the delay
/// still grows strictly until the cap).
pub fn backoff(failures: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(31);
    let raw = base.saturating_mul(1u32 << exp).min(max);
    raw.mul_f64(jitter.clamp(0.0, 1.0))
}

/// Starts the worker; it stops (abandoning any request in flight, whose event stays pending)
/// when `shutdown` is cancelled.
pub fn spawn(
    store: SharedStore,
    config: WebhookConfig,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(store, config, shutdown))
}

/// [`spawn`] with the settings of `config` (what `App::serve` calls), dating the delivery log
/// by `clock`.
pub fn start(
    store: &SharedStore,
    config: &Config,
    node: &str,
    clock: &SharedClock,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let config = WebhookConfig {
        node: node.to_string(),
        clock: clock.clone(),
        ..config.into()
    };
    spawn(store.clone(), config, shutdown.clone())
}

/// The worker: every poll, one task per creator with a webhook that has none running yet.
#[tracing::instrument(name = "webhooks", skip_all)]
pub async fn run(store: SharedStore, config: WebhookConfig, shutdown: CancellationToken) {
    let client = match reqwest::Client::builder()
        .user_agent(concat!("livesale/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        // Only config.rs reads the environment: no HTTP(S)_PROXY surprises.
        .no_proxy()
        .dns_resolver(Arc::new(GuardedLookup {
            lookup: config.lookup.clone(),
            allow_private: config.allow_private,
        }))
        .timeout(config.timeout)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are off");
            return;
        }
    };
    let mut tasks: JoinSet<CreatorId> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, CreatorId> = HashMap::new();
    let mut tick = tokio::time::interval(config.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut store_down = false;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            Some(done) = tasks.join_next_with_id() => {
                let id = match &done {
                    Ok((id, _)) => *id,
                    Err(e) => e.id(),
                };
                let creator = running.remove(&id);
                if let Err(e) = done
                    && e.is_panic()
                {
                    tracing::error!(creator = ?creator, "webhook delivery task panicked; restarting it");
                }
            }
            _ = tick.tick() => {
                let creators = match store.webhook_creators().await {
                    Ok(creators) => creators,
                    Err(e) => {
                        log_store_error(&mut store_down, &e);
                        continue;
                    }
                };
                if std::mem::take(&mut store_down) {
                    tracing::info!("webhook outbox reachable again");
                }
                for creator in creators {
                    if running.values().any(|c| *c == creator) {
                        continue;
                    }
                    let deliverer = Deliverer {
                        store: store.clone(),
                        client: client.clone(),
                        config: config.clone(),
                        creator,
                    };
                    let handle = tasks.spawn(deliverer.run());
                    running.insert(handle.id(), creator);
                }
            }
        }
    }
    // Aborting drops in-flight requests; their events were not acknowledged and stay pending.
    tasks.shutdown().await;
    tracing::debug!("webhook worker stopped");
}

/// Warns once when the store starts failing, then stays quiet until it recovers (a store
/// outage would otherwise log every poll).
fn log_store_error(down: &mut bool, e: &StoreError) {
    if *down {
        tracing::debug!(error = %e, "webhook outbox still unavailable");
    } else {
        tracing::warn!(error = %e, "cannot read the webhook outbox; retrying every poll");
        *down = true;
    }
}

/// Delivers one creator's outbox, one event at a time.
struct Deliverer {
    store: SharedStore,
    client: reqwest::Client,
    config: WebhookConfig,
    creator: CreatorId,
}

/// Why one attempt did not deliver.
#[derive(Debug)]
enum Failure {
    Status(u16),
    Transport(String),
    /// The destination may not be reached; nothing was sent.
    Refused(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(code) => write!(f, "answered {code}"),
            Failure::Transport(e) => f.write_str(e),
            Failure::Refused(e) => write!(f, "destination refused: {e}"),
        }
    }
}

impl Deliverer {
    /// Runs until the creator has no webhook any more (the worker restarts it if one is set
    /// again) or the worker aborts it. Returns the creator.
    async fn run(self) -> CreatorId {
        let pending = PendingGauge::default();
        // The head event's id and how many attempts it had; only the head is ever retried.
        let mut head: Option<(String, u32)> = None;
        let mut store_down = false;
        loop {
            let round = match self.round(&mut head, &pending).await {
                Ok(round) => {
                    store_down = false;
                    round
                }
                Err(e) => {
                    log_store_error(&mut store_down, &e);
                    Round::Drained
                }
            };
            let pause = match round {
                Round::NoWebhook => return self.creator,
                Round::Drained => self.config.poll,
                Round::More => Duration::ZERO,
                Round::Failed(delay) => delay,
            };
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// Delivers the pending events of one batch in order, stopping at the first failure.
    async fn round(
        &self,
        head: &mut Option<(String, u32)>,
        pending: &PendingGauge,
    ) -> Result<Round, StoreError> {
        // Read every round, so a changed URL or a rotated secret applies to the next attempt.
        let Some(hook) = self.store.webhook(self.creator).await? else {
            pending.set(0);
            return Ok(Round::NoWebhook);
        };
        let lease = format!("webhook:{}", self.creator);
        if !self
            .store
            .lease(&lease, &self.config.node, self.config.lease_ttl())
            .await?
        {
            // Another node delivers this merchant's events right now.
            return Ok(Round::Drained);
        }
        let events = self.store.outbox_pending(self.creator, BATCH).await?;
        pending.set(events.len());
        if events.is_empty() {
            *head = None;
            return Ok(Round::Drained);
        }
        let full = events.len() == BATCH;
        for (i, event) in events.iter().enumerate() {
            let attempt = match head {
                Some((id, n)) if *id == event.id => *n + 1,
                _ => 1,
            };
            *head = Some((event.id.clone(), attempt));
            let started = Instant::now();
            let delivered = self.deliver(&hook, event, attempt).await;
            self.log(event, attempt, &delivered).await;
            match delivered {
                Ok(_) => {
                    metrics::counter!("livesale_webhook_deliveries_total", "outcome" => "ok")
                        .increment(1);
                    tracing::debug!(
                        creator = %self.creator, event_id = %event.id, kind = %event.kind,
                        attempt, elapsed_ms = started.elapsed().as_millis() as u64,
                        "webhook delivered"
                    );
                    self.store.outbox_ack(self.creator, &event.id).await?;
                    *head = None;
                    pending.set(events.len() - i - 1);
                }
                Err(failure) => {
                    let delay = self.retry_delay(&hook, event, attempt, &failure);
                    return Ok(Round::Failed(delay));
                }
            }
        }
        Ok(if full { Round::More } else { Round::Drained })
    }

    /// Counts and logs a failed attempt; returns how long to wait before the next one.
    fn retry_delay(
        &self,
        hook: &Webhook,
        event: &OutboxEvent,
        attempt: u32,
        failure: &Failure,
    ) -> Duration {
        let outcome = match failure {
            Failure::Refused(_) => "refused",
            _ => "failed",
        };
        metrics::counter!("livesale_webhook_deliveries_total", "outcome" => outcome).increment(1);
        let jitter = rand::random_range(0.8..=1.0);
        let delay = backoff(
            attempt,
            self.config.backoff_base,
            self.config.backoff_max,
            jitter,
        );
        if let Failure::Refused(why) = failure {
            tracing::warn!(
                creator = %self.creator, event_id = %event.id, kind = %event.kind,
                url = %hook.url, attempt, outcome, reason = %why,
                retry_in_ms = delay.as_millis() as u64,
                "webhook destination refused, nothing sent; will retry"
            );
        } else {
            tracing::warn!(
                creator = %self.creator, event_id = %event.id, kind = %event.kind,
                url = %hook.url, attempt, outcome, error = %failure,
                retry_in_ms = delay.as_millis() as u64,
                "webhook delivery failed; will retry"
            );
        }
        delay
    }

    /// One POST of one event. Only a 2xx counts as delivered; redirects are not followed.
    async fn deliver(
        &self,
        hook: &Webhook,
        event: &OutboxEvent,
        attempt: u32,
    ) -> Result<u16, Failure> {
        if !self.config.allow_private
            && let Some(refused) = refused_literal(&hook.url)
        {
            return Err(Failure::Refused(refused.to_string()));
        }
        let response = self
            .client
            .post(&hook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_HEADER, &event.kind)
            .header(DELIVERY_HEADER, &event.id)
            .header(SIGNATURE_HEADER, sign(&hook.secret, event.body.as_bytes()))
            .header(ATTEMPT_HEADER, attempt.to_string())
            .body(event.body.clone())
            .send()
            .await
            .map_err(|e| match refused_by_resolver(&e) {
                Some(refused) => Failure::Refused(refused.to_string()),
                None => Failure::Transport(transport_error(&e)),
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(Failure::Status(status.as_u16()))
        }
    }
}

impl Deliverer {
    /// Records an attempt in the creator's delivery log. The log is for people; a store error
    /// here must not change what the worker does next, so it is only logged.
    async fn log(&self, event: &OutboxEvent, attempt: u32, result: &Result<u16, Failure>) {
        let (outcome, http_status, error) = match result {
            Ok(status) => (DeliveryOutcome::Delivered, Some(*status), None),
            Err(f @ Failure::Status(status)) => (DeliveryOutcome::Failed, Some(*status), Some(f)),
            Err(f @ Failure::Transport(_)) => (DeliveryOutcome::Failed, None, Some(f)),
            Err(f @ Failure::Refused(_)) => (DeliveryOutcome::Refused, None, Some(f)),
        };
        let entry = Delivery {
            event_id: event.id.clone(),
            kind: event.kind.clone(),
            at: self.config.clock.now(),
            outcome,
            http_status,
            attempts: attempt,
            error: None,
        }
        .with_error(error.map(|f| f.to_string()).as_deref());
        if let Err(e) = self.store.record_delivery(self.creator, &entry).await {
            tracing::debug!(
                creator = %self.creator, event_id = %event.id, error = %e,
                "delivery not logged"
            );
        }
    }
}

/// The outcome of one round of a creator's deliveries.
enum Round {
    /// The creator has no webhook (any more).
    NoWebhook,
    /// Everything fetched was delivered and the outbox had no more.
    Drained,
    /// Everything fetched was delivered, and the outbox may hold more.
    More,
    /// The head event failed; try again after this delay.
    Failed(Duration),
}

/// A short cause for logs: reqwest's top-level message hides whether it was a timeout.
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}

/// This creator's share of `livesale_webhook_pending_events` (counted up to one batch per
/// creator), withdrawn when the task ends or is aborted.
#[derive(Default)]
struct PendingGauge(std::sync::atomic::AtomicUsize);

impl PendingGauge {
    fn set(&self, now: usize) {
        let before = self.0.swap(now, std::sync::atomic::Ordering::Relaxed);
        metrics::gauge!("livesale_webhook_pending_events").increment(now as f64 - before as f64);
    }
}

impl Drop for PendingGauge {
    fn drop(&mut self) {
        self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_hmac_sha256() {
        // The classic known answer: HMAC-SHA256("key", "The quick brown fox …"), base64.
        const SIG: &str = "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=";
        let body = b"The quick brown fox jumps over the lazy dog";
        assert_eq!(sign("key", body), SIG);
        assert!(verify("key", body, SIG));
        assert!(verify("key", body, &format!(" {SIG}\n")));
        assert!(!verify("other", body, SIG));
        assert!(!verify(
            "key",
            b"The quick brown fox jumps over the lazy cat",
            SIG
        ));
        assert!(!verify("key", body, "not base64!"));
        assert!(!verify("key", body, ""));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_millis(500);
        let max = Duration::from_secs(60);
        let got: Vec<u64> = (1..=9)
            .map(|n| backoff(n, base, max, 1.0).as_millis() as u64)
            .collect();
        assert_eq!(
            got,
            [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]
        );
        assert_eq!(backoff(u32::MAX, base, max, 1.0), max);
        assert_eq!(backoff(0, base, max, 1.0), base);
        // The lowest jitter of the next attempt still waits longer than the highest of this one.
        for n in 1..7 {
            assert!(backoff(n + 1, base, max, 0.8) > backoff(n, base, max, 1.0));
        }
        assert_eq!(backoff(3, base, max, 0.8), Duration::from_millis(1600));
    }
}
