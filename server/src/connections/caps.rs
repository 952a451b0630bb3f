//! The caps on open connections: every open connection of the listener has a [`Slot`] in the
//! [`Registry`], and a connection's place lives as long as its [`Guard`]. At a cap (in total,
//! or per client address) a new connection takes the place of the one idle longest; only when
//! none is idle is it refused. Also the default total cap, from the open file limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::Limits;

/// The total cap when `--max-connections` is 0: three quarters of the open file limit. The
/// quarter left over is for what else holds descriptors (Redis connections, a UDP socket per
/// media session, static files, refusals being answered, the runtime's own).
pub fn derived_cap(file_limit: Option<u64>) -> usize {
    match file_limit {
        Some(n) => usize::try_from(n / 4 * 3).unwrap_or(usize::MAX).max(16),
        None => 1024,
    }
}

/// The process's soft limit on open files, from `/proc/self/limits` (Linux); `None` where
/// that cannot be read or says "unlimited".
pub fn file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The state word of a connection: requests in flight in the low bits, plus flags.
pub(super) const UPGRADED: u32 = 1 << 30;
const EVICTED: u32 = 1 << 31;
pub(super) const IN_FLIGHT: u32 = UPGRADED - 1;

/// One open connection, as the registry and its own task see it.
pub(super) struct Slot {
    id: u64,
    pub(super) ip: IpAddr,
    /// Requests in flight, [`UPGRADED`], [`EVICTED`].
    pub(super) state: AtomicU32,
    /// Registry time (ms) when it last became idle (opened, or a response ended).
    pub(super) idle_since: AtomicU64,
    /// Registry time of the first byte of the head being read; 0 when none.
    pub(super) head_since: AtomicU64,
    /// Registry time when the body being read started; 0 when none.
    pub(super) body_since: AtomicU64,
    /// Wakes the connection's task: it was evicted, or a deadline moved.
    pub(super) notify: Notify,
}

impl Slot {
    pub(super) fn is_idle(&self) -> bool {
        self.state.load(Ordering::Acquire) == 0
    }

    pub(super) fn evicted(&self) -> bool {
        self.state.load(Ordering::Acquire) & EVICTED != 0
    }
}

/// Why a connection was closed or refused, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    Total,
    PerIp,
}

impl Cap {
    pub(super) fn label(self) -> &'static str {
        match self {
            Cap::Total => "total",
            Cap::PerIp => "per_ip",
        }
    }
}

struct Table {
    next_id: u64,
    open: HashMap<u64, Arc<Slot>>,
    per_ip: HashMap<IpAddr, usize>,
}

/// Every open connection of the listener (HTTP, TLS and upgraded).
pub(super) struct Registry {
    pub(super) limits: Limits,
    epoch: Instant,
    table: Mutex<Table>,
    open: metrics::Gauge,
}

impl Registry {
    pub(super) fn new(limits: Limits) -> Arc<Registry> {
        crate::metrics::install();
        metrics::gauge!("livesale_connections_max").set(limits.max_total as f64);
        metrics::gauge!("livesale_connections_max_per_ip").set(limits.max_per_ip as f64);
        Arc::new(Registry {
            limits,
            epoch: Instant::now(),
            table: Mutex::new(Table {
                next_id: 1,
                open: HashMap::new(),
                per_ip: HashMap::new(),
            }),
            open: metrics::gauge!("livesale_connections_open"),
        })
    }

    /// Milliseconds since the registry began, never 0 (0 means "not set" in a slot).
    pub(super) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    pub(super) fn at(&self, ms: u64) -> tokio::time::Instant {
        (self.epoch + Duration::from_millis(ms.saturating_sub(1))).into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a new connection from `ip`, making room by evicting the longest-idle
    /// connection when a cap is reached; refuses when nothing is idle.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Guard, Cap> {
        let mut table = self.lock();
        if table.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.max_per_ip
            && !self.evict_idle(&mut table, Some(ip), Cap::PerIp)
        {
            return Err(Cap::PerIp);
        }
        if table.open.len() >= self.limits.max_total
            && !self.evict_idle(&mut table, None, Cap::Total)
        {
            return Err(Cap::Total);
        }
        let id = table.next_id;
        table.next_id += 1;
        let slot = Arc::new(Slot {
            id,
            ip,
            state: AtomicU32::new(0),
            idle_since: AtomicU64::new(self.now_ms()),
            head_since: AtomicU64::new(0),
            body_since: AtomicU64::new(0),
            notify: Notify::new(),
        });
        table.open.insert(id, slot.clone());
        *table.per_ip.entry(ip).or_default() += 1;
        self.open.set(table.open.len() as f64);
        Ok(Guard {
            registry: self.clone(),
            slot,
        })
    }

    /// Evicts the connection (of `ip`, when given) idle for longest; false when none is idle.
    fn evict_idle(&self, table: &mut Table, ip: Option<IpAddr>, why: Cap) -> bool {
        loop {
            let oldest = table
                .open
                .values()
                .filter(|s| s.is_idle() && ip.is_none_or(|ip| s.ip == ip))
                .min_by_key(|s| s.idle_since.load(Ordering::Relaxed))
                .cloned();
            let Some(slot) = oldest else { return false };
            // A request may have begun since the look: then it is not idle any more.
            if slot
                .state
                .compare_exchange(0, EVICTED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                Self::forget(table, &slot);
                self.open.set(table.open.len() as f64);
                slot.notify.notify_one();
                metrics::counter!("livesale_connections_evicted_total", "cap" => why.label())
                    .increment(1);
                return true;
            }
        }
    }

    /// Evicts the longest-idle connection anywhere (out of file descriptors).
    pub(super) fn evict_any_idle(&self) -> bool {
        let mut table = self.lock();
        self.evict_idle(&mut table, None, Cap::Total)
    }

    fn forget(table: &mut Table, slot: &Slot) {
        if table.open.remove(&slot.id).is_some()
            && let Some(n) = table.per_ip.get_mut(&slot.ip)
        {
            *n -= 1;
            if *n == 0 {
                table.per_ip.remove(&slot.ip);
            }
        }
    }
}

/// A connection's place; dropping it (the socket closed, upgraded or not) frees the place.
pub(super) struct Guard {
    pub(super) registry: Arc<Registry>,
    pub(super) slot: Arc<Slot>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut table = self.registry.lock();
        Registry::forget(&mut table, &self.slot);
        self.registry.open.set(table.open.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_cap_leaves_a_quarter_of_the_file_limit() {
        assert_eq!(derived_cap(Some(256)), 192);
        assert_eq!(derived_cap(Some(1024)), 768);
        assert_eq!(derived_cap(Some(8)), 16);
        assert_eq!(derived_cap(None), 1024);
    }

    #[test]
    fn the_file_limit_is_read() {
        assert!(file_limit().is_some_and(|n| n > 0));
    }
}
