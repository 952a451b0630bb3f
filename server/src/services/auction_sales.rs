//! What happens to a lot after it closed (issue 18, "the winner pays"): the winner's order at
//! the winning price, charged to their saved card off-session; the runner-up's offer when that
//! fails or the payment window lapses; the creator's alert; the merchant's webhook with the
//! result and the bid log.
//!
//! PLACEHOLDER: the interface the auctions service calls. The body is being written for
//! issue 18 and is not done until it creates and charges the order.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::commerce::payment::PaymentProvider;
use crate::domain::auction::Auction;
use crate::domain::{OrderId, Show};
use crate::hub::Hub;
use crate::store::SharedStore;

/// The sale settings, from the config.
#[derive(Debug, Clone, Copy)]
pub struct SaleSettings {
    /// How long a winner (then a runner-up) has to pay before the lot goes to the next one
    /// (`--auction-payment-window-s`, 120 by default).
    pub payment_window: chrono::Duration,
}

/// The sales of closed lots. Cheap to clone.
#[derive(Clone)]
pub struct AuctionSales {
    #[allow(dead_code)]
    store: SharedStore,
    #[allow(dead_code)]
    hub: Arc<Hub>,
    #[allow(dead_code)]
    payments: Arc<dyn PaymentProvider>,
    #[allow(dead_code)]
    clock: SharedClock,
    #[allow(dead_code)]
    settings: SaleSettings,
}

impl AuctionSales {
    pub fn new(
        store: SharedStore,
        hub: Arc<Hub>,
        payments: Arc<dyn PaymentProvider>,
        clock: SharedClock,
        settings: SaleSettings,
    ) -> Self {
        AuctionSales {
            store,
            hub,
            payments,
            clock,
            settings,
        }
    }

    /// Called once per lot, by the node whose close took effect (the store's close decides
    /// which), with the closed lot. For a sold lot: creates the winner's order at the winning
    /// price and returns its id (for `auction.ended`'s `order_id`), and charges the winner's
    /// saved card off-session in a task of its own. For every lot: the merchant's webhook
    /// with the result and the log. Never fails the close: problems are logged and alerted.
    pub async fn on_closed(&self, show: &Show, auction: &Auction) -> Option<OrderId> {
        let _ = (show, auction);
        None
    }

    /// Called about every second by the auctions ticker on every node: payment windows that
    /// lapsed hand the lot to the runner-up (once across nodes).
    pub async fn tick(&self) {}
}
