//! The reservation sweeper: gives back the stock of reservations whose payment never finished
//! (a crash, a hung provider), with their lines back in the buyers' carts, and tells the room.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::CommerceService;
use crate::store::StoreError;

impl CommerceService {
    /// Sweeps every `every` until shutdown.
    pub fn spawn_sweeper(
        &self,
        every: Duration,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let service = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if let Err(e) = service.sweep().await {
                    tracing::warn!(error = %e, "reservation sweep failed");
                }
            }
        })
    }

    /// Expires every reservation whose deadline has passed; returns how many.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut swept = 0;
        for show_id in self.commerce.shows_with_reservations().await? {
            let Some(show) = self.shows.show(show_id).await? else {
                continue;
            };
            let expired = self.commerce.expire_reservations(&show, now).await?;
            for order in &expired {
                self.give_back_cart(&show, order).await;
                // A card payment must not be taken after its stock went back.
                if let Err(e) = self.payments.cancel(order).await {
                    tracing::warn!(show = %show.id, order = %order.id, error = %e, "cannot cancel an expired order's payment");
                }
            }
            if !expired.is_empty() {
                swept += expired.len();
                metrics::counter!("livesale_checkouts_total", "outcome" => "expired")
                    .increment(expired.len() as u64);
                tracing::info!(show = %show.id, orders = expired.len(), "reservations expired; stock returned");
                self.announce_pins(&show).await;
            }
        }
        Ok(swept)
    }
}
