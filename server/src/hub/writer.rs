//! A room's writer shards: one task per tokio worker reads the room's ring, encodes each frame
//! once as a WebSocket frame, and writes those bytes to every [`Outlet`] of its shard (frames
//! that arrived together in one `write`). A broadcast then costs one wake-up per shard and one
//! `write` per connection. Writers run outside tokio's cooperative budget and, in big rooms,
//! rest a little between passes so that frames close together share one `write`
//! ([`rest_after`]; measured in docs/benchmarks.md, "Writer passes"). A writer that falls a
//! whole ring behind ends every outlet of its shard as a slow consumer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::Frame;
use super::outlet::{BATCH, Outlet, concat, encoded};
use crate::clock::SharedClock;

/// One writer task's share of a room's connections.
struct Shard {
    /// Outlets attached since the writer's last batch.
    joining: Mutex<Vec<Arc<Outlet>>>,
    members: AtomicUsize,
}

/// A room's writer shards.
pub struct Writers {
    shards: Vec<Arc<Shard>>,
}

/// Outlets a writer serves before it lets other tasks of its worker run.
const YIELD_EVERY: usize = 1024;
/// How long a writer rests after a pass, per connection it served: about a third of what one
/// `write` to a connection costs on loopback (about 9 µs at 10,000 connections, most of it in
/// the kernel; docs/benchmarks.md, "Writer passes"). 1.5, 3 and 4 µs were compared there.
const REST_PER_OUTLET: Duration = Duration::from_nanos(3000);
/// Rests shorter than this are not taken (rooms of fewer than about 670 connections).
const REST_FROM: Duration = Duration::from_millis(2);
/// The longest rest between two passes.
const REST_MAX: Duration = Duration::from_millis(40);

/// How long a writer waits before its next pass after serving `outlets` connections. A pass
/// costs about one `write` per connection whatever it carries, so in a big room frames that
/// arrive close together are better sent together: resting about a third as long as a pass
/// takes keeps the writer at about three quarters of its core, and more load makes bigger batches
/// instead of a queue. A frame waits at most the pass in progress, one rest and its own pass;
/// in a small room not at all. The rest depends on the room's size only, not on how long
/// passes happen to take (big frames, a debug build, a busy machine), so it cannot feed on
/// itself.
fn rest_after(outlets: usize) -> Option<Duration> {
    let rest = REST_PER_OUTLET.saturating_mul(outlets.min(u32::MAX as usize) as u32);
    (rest >= REST_FROM).then(|| rest.min(REST_MAX))
}

impl Writers {
    /// Starts `n` writer tasks reading the room's ring until `stop`; `clock` is the one the
    /// bus stamps frames with (for the fan-out latency).
    pub fn start(
        n: usize,
        tx: &broadcast::Sender<Frame>,
        stop: &CancellationToken,
        clock: &SharedClock,
    ) -> Writers {
        let shards: Vec<Arc<Shard>> = (0..n.max(1))
            .map(|_| {
                Arc::new(Shard {
                    joining: Mutex::new(Vec::new()),
                    members: AtomicUsize::new(0),
                })
            })
            .collect();
        for shard in &shards {
            // Outside tokio's cooperative budget: it allows 128 socket operations per poll of
            // a task, after which every write of the pass would be refused as "not ready"
            // (and queued for the connection's task). The writer yields on its own instead.
            tokio::spawn(tokio::task::unconstrained(write_loop(
                shard.clone(),
                tx.subscribe(),
                stop.clone(),
                clock.clone(),
            )));
        }
        Writers { shards }
    }

    /// Hands an outlet to the shard with the fewest connections. Frames the room delivers
    /// after this call reach it (held until it goes live).
    pub fn attach(&self, outlet: Arc<Outlet>) {
        let shard = self
            .shards
            .iter()
            .min_by_key(|s| s.members.load(Ordering::Relaxed))
            .expect("at least one shard");
        shard.members.fetch_add(1, Ordering::Relaxed);
        shard
            .joining
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(outlet);
    }
}

async fn write_loop(
    shard: Arc<Shard>,
    mut rx: broadcast::Receiver<Frame>,
    stop: CancellationToken,
    clock: SharedClock,
) {
    use broadcast::error::{RecvError, TryRecvError};
    let out = metrics::counter!("livesale_ws_messages_out_total");
    let fanout = metrics::histogram!("livesale_ws_fanout_latency_seconds");
    let pass_time = metrics::histogram!("livesale_ws_writer_pass_seconds");
    let mut outlets: Vec<Arc<Outlet>> = Vec::new();
    let mut batch: Vec<(Frame, Bytes)> = Vec::with_capacity(BATCH);
    let mut served = 0;
    loop {
        let mut lagged = None;
        if let Some(rest) = rest_after(served) {
            // Frames that arrive meanwhile go out together in the next pass (below).
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(rest) => {}
            }
        }
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            first = rx.recv() => match first {
                Ok(frame) => batch.push(encoded(frame)),
                Err(RecvError::Lagged(n)) => lagged = Some(n),
                Err(RecvError::Closed) => return,
            },
        }
        while lagged.is_none() && batch.len() < BATCH {
            match rx.try_recv() {
                Ok(frame) => batch.push(encoded(frame)),
                Err(TryRecvError::Lagged(n)) => lagged = Some(n),
                Err(_) => break,
            }
        }
        // Outlets attached before these frames were published get them (their pause skips
        // what their welcome already covers).
        outlets.append(&mut shard.joining.lock().unwrap_or_else(|p| p.into_inner()));
        if let Some(n) = lagged {
            // This writer missed frames: every connection it serves resumes from its cursor.
            for outlet in &outlets {
                outlet.lagged(n);
            }
            batch.clear();
        }
        let all = concat(&batch);
        let pass_started = Instant::now();
        let mut written = 0u64;
        let mut i = 0;
        while i < outlets.len() {
            match outlets[i].deliver(&batch, &all) {
                Some(n) => written += n as u64,
                None => {
                    // Finished: forget it (the order of the others does not matter).
                    outlets.swap_remove(i);
                    shard.members.fetch_sub(1, Ordering::Relaxed);
                    continue;
                }
            }
            i += 1;
            if i % YIELD_EVERY == 0 {
                tokio::task::yield_now().await;
            }
        }
        served = outlets.len();
        if written > 0 {
            pass_time.record(pass_started.elapsed().as_secs_f64());
            out.increment(written);
            if let Some((frame, _)) = batch.first() {
                let now = clock.now_ms();
                fanout.record(now.saturating_sub(frame.published_ms) as f64 / 1000.0);
            }
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_rest_only_in_big_rooms() {
        assert_eq!(rest_after(0), None);
        assert_eq!(rest_after(3), None);
        assert_eq!(rest_after(600), None);
        assert_eq!(rest_after(700), Some(Duration::from_micros(2100)));
        assert_eq!(rest_after(10_000), Some(Duration::from_millis(30)));
        assert_eq!(rest_after(1_000_000), Some(REST_MAX));
    }
}
