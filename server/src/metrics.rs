//! Prometheus metrics. One recorder per process (the `metrics` facade is global), installed on
//! first use, so several servers in one test process share it. Modules record with the
//! `metrics::counter!`/`gauge!`/`histogram!` macros; names all start with `livesale_`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder if no one has yet, and describes the metrics.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (a test harness); ours still renders.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

/// The current metrics in Prometheus text format.
pub fn render() -> String {
    install().render()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "livesale_http_requests_total",
        "HTTP requests by method, route template and status"
    );
    describe_histogram!(
        "livesale_http_request_duration_seconds",
        "HTTP request latency by method and route template"
    );
    describe_gauge!(
        "livesale_ready",
        "1 when the last readiness check found the store reachable, else 0"
    );
    describe_gauge!("livesale_info", "Build and store information (always 1)");
    describe_gauge!(
        "livesale_ws_connections",
        "Connected WebSocket clients per show on this node"
    );
    describe_counter!(
        "livesale_ws_messages_in_total",
        "WebSocket messages received, by type"
    );
    describe_counter!("livesale_ws_messages_out_total", "WebSocket frames sent");
    describe_counter!(
        "livesale_ws_write_waits_total",
        "WebSocket writes the socket could not take at once (the rest waited for it)"
    );
    describe_counter!(
        "livesale_ws_dropped_total",
        "Client messages refused, by reason code"
    );
    describe_counter!(
        "livesale_ws_disconnects_total",
        "WebSocket disconnects, by reason"
    );
    describe_histogram!(
        "livesale_ws_fanout_latency_seconds",
        "Time from sequencing a broadcast to writing it to a client (sampled)"
    );
    describe_histogram!(
        "livesale_ws_writer_pass_seconds",
        "Time a live room's writer takes to write a batch of frames to all of its connections"
    );
    describe_counter!("livesale_cart_updates_total", "Cart lines set");
    describe_counter!("livesale_checkouts_total", "Checkouts, by outcome");
    describe_counter!("livesale_orders_total", "Paid orders");
    describe_replay_sales();
    describe_counter!(
        "livesale_revenue_minor_units_total",
        "Paid revenue in minor units, by show and currency"
    );
    describe_counter!(
        "livesale_webhook_deliveries_total",
        "Webhook delivery attempts, by outcome (ok, failed, refused)"
    );
    describe_gauge!(
        "livesale_webhook_pending_events",
        "Order events waiting for delivery"
    );
    describe_counter!("livesale_chat_held_total", "Chat messages held for review");
    describe_counter!("livesale_chat_approved_total", "Held messages approved");
    describe_counter!("livesale_chat_rejected_total", "Held messages rejected");
    describe_counter!(
        "livesale_chat_deleted_total",
        "Chat messages deleted by moderators"
    );
    describe_counter!("livesale_moderation_timeouts_total", "Viewers timed out");
    describe_counter!("livesale_moderation_bans_total", "Viewers banned");
}

/// Selling from the replay and its audience (docs/replay.md).
fn describe_replay_sales() {
    use metrics::describe_counter;
    describe_counter!(
        "livesale_orders_paid_total",
        "Paid orders, by sales channel (live, or replay after the show's end)"
    );
    describe_counter!(
        "livesale_replay_views_total",
        "Distinct replay views counted (one per view id and show)"
    );
    describe_counter!(
        "livesale_replay_watch_seconds_total",
        "Seconds of replay watched (each view's furthest report, clamped to the recording)"
    );
}
