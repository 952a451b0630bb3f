//! Time behind one seam: [`Clock`].
//!
//! Everything that needs "now" (services, stores, the sweeper, budgets) takes it from the
//! [`SharedClock`] in the application state, never from `chrono::Utc::now()` directly, so a
//! test can move time forward instead of sleeping for a timer ([`TestClock::advance`]), and
//! unit tests of services can use `tokio::time::pause` for the timers that tokio drives.
//! `domain/` never reads a clock: callers hand it `now`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::domain::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> Timestamp;

    /// [`Self::now`] in milliseconds since the Unix epoch (0 before it).
    fn now_ms(&self) -> u64 {
        u64::try_from(self.now().timestamp_millis()).unwrap_or(0)
    }
}

/// The clock every component of one server shares.
pub type SharedClock = Arc<dyn Clock>;

/// The machine's wall clock: what a server runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// The wall clock plus however far a test has moved it ahead. Time still flows (network
/// timeouts, tokens' `iat`), and a test that waits for a deadline (a reservation, a timeout,
/// slow mode) advances the clock past it instead of sleeping.
#[derive(Debug, Default)]
pub struct TestClock {
    ahead_ms: AtomicI64,
}

impl TestClock {
    pub fn new() -> Arc<TestClock> {
        Arc::new(TestClock::default())
    }

    /// Moves this clock `by` further ahead of the wall clock.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.ahead_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now() + chrono::Duration::milliseconds(self.ahead_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_moves_ahead_by_what_it_is_advanced() {
        let clock = TestClock::new();
        let before = clock.now();
        clock.advance(Duration::from_secs(90));
        let gap = clock.now() - before;
        assert!(gap >= chrono::Duration::seconds(90), "{gap}");
        assert!(gap < chrono::Duration::seconds(95), "{gap}");
    }

    #[test]
    fn the_system_clock_is_the_wall_clock() {
        let gap = (SystemClock.now() - chrono::Utc::now())
            .num_milliseconds()
            .abs();
        assert!(gap < 1_000, "{gap}");
    }
}
