//! The ticker every node runs: it closes lots at their end (the store's close happens once
//! across nodes, and only the node whose close took effect announces it) and gives the sales
//! their tick (payment windows that lapsed) about every second.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::AuctionsService;
use crate::store::StoreError;

/// The longest the ticker sleeps before reading the open lots again: a bid on another node may
/// have moved an end, and a lot opened there is not known here until read.
const REREAD: Duration = Duration::from_millis(250);
/// How often the sales get their tick.
const SALES_EVERY: Duration = Duration::from_secs(1);

impl AuctionsService {
    /// Runs the ticker until shutdown.
    pub fn spawn_ticker(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let mut sales_at = Instant::now();
            loop {
                let wait = match service.close_due().await {
                    Ok(next) => next.unwrap_or(REREAD).min(REREAD),
                    Err(e) => {
                        tracing::warn!(error = %e, "auction ticker: open lots not read");
                        REREAD
                    }
                };
                if sales_at.elapsed() >= SALES_EVERY {
                    sales_at = Instant::now();
                    service.sales.tick().await;
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        })
    }

    /// Closes every open lot whose end has passed; returns the time until the next end, if a
    /// lot is still open.
    pub async fn close_due(&self) -> Result<Option<Duration>, StoreError> {
        let now_ms = self.clock.now_ms() as i64;
        let mut next: Option<i64> = None;
        for lot in self.auctions.open_auctions().await? {
            if lot.ends_at_ms > now_ms {
                let left = lot.ends_at_ms - now_ms;
                next = Some(next.map_or(left, |n| n.min(left)));
                continue;
            }
            let Some(show) = self.shows.show(lot.show).await? else {
                continue;
            };
            match self
                .auctions
                .close_auction(&show, lot.auction, now_ms, false)
                .await?
            {
                Ok(step) => self.closed(&show, &step.auction).await,
                // Another node closed it first, or a bid moved its end since the read.
                Err(e) => tracing::debug!(auction = %lot.auction, code = %e.code, "not closed"),
            }
        }
        Ok(next.map(|ms| Duration::from_millis(ms.max(0) as u64)))
    }
}
