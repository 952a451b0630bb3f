//! The auctions service (issue 18): a show's lots from the creator's side (create, open, stop,
//! the bid log), bids from viewers over HTTP and the WebSocket alike, the room's auction
//! messages, and the ticker that closes lots at their end on every node.
//!
//! The rules are `domain::auction`'s and the store applies them atomically
//! ([`AuctionStore`]); this service settles who asks (a lot's manager: the creator or a
//! moderator; a bidder: a viewer in good standing with a saved card, within their bid budget),
//! takes the receive time once, makes one store call per step, and tells the room what took
//! effect. A closed lot goes to [`AuctionSales`] (the winner's order). Outcomes are typed;
//! `http/auctions.rs` and the WebSocket map them.

mod bids;
mod cards;
mod lots;
mod ticker;

use std::sync::Arc;
use std::time::Duration;

pub use bids::{BidAsk, Bidding, Placed};
pub use lots::{LogExport, Manager, NewAuction};

use crate::clock::SharedClock;
use crate::commerce::payment::PaymentProvider;
use crate::config::Config;
use crate::domain::access::{Action, authorize};
use crate::domain::limits::Budget;
use crate::domain::{Code, DomainError, Money, Principal, Show, ShowId};
use crate::hub::Hub;
use crate::services::auction_sales::AuctionSales;
use crate::store::{
    AuctionStore, CatalogStore, LimitsStore, ModerationStore, PaymentStore, SharedStore, ShowStore,
    StoreError,
};

/// The auctions settings, from the config.
#[derive(Debug, Clone, Copy)]
pub struct AuctionSettings {
    /// A bidder's bids per show: `--bid-rate` per second, bursts up to `--bid-burst`.
    pub bids: Budget,
    /// Whether a bidder needs a saved card (`--payments stripe`); the built-in test provider
    /// counts every viewer as having one.
    pub cards_required: bool,
    /// How long a bidder's saved-card answer is reused (a storm of bids asks Stripe once).
    pub card_cache: Duration,
}

impl From<&Config> for AuctionSettings {
    fn from(config: &Config) -> Self {
        let rate = config.bid_rate.max(1);
        let burst = config.bid_burst.max(1);
        AuctionSettings {
            bids: Budget::new(
                burst,
                Duration::from_millis(u64::from(burst) * 1000 / u64::from(rate)),
            ),
            cards_required: config.payments.test_mode().is_none(),
            card_cache: Duration::from_secs(30),
        }
    }
}

/// Why an auction request did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AuctionError {
    /// A rule refused it (who, the lot's state, the spec, the bid).
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// The bid rules refused the bid; `next_minimum` is the smallest acceptable bid then.
    #[error("{refusal}")]
    Bid {
        refusal: DomainError,
        next_minimum: Money,
    },
    /// Faster than the bidder's budget allows; the next bid is taken after `wait`.
    #[error("{refusal}")]
    RateLimited {
        refusal: DomainError,
        wait: Duration,
    },
    /// The payment processor could not say whether the bidder has a saved card.
    #[error("the payment processor is unreachable right now: {0}")]
    PaymentUnavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The auctions of one server. Cheap to clone.
#[derive(Clone)]
pub struct AuctionsService {
    shows: Arc<dyn ShowStore>,
    catalog: Arc<dyn CatalogStore>,
    auctions: Arc<dyn AuctionStore>,
    moderation: Arc<dyn ModerationStore>,
    limits: Arc<dyn LimitsStore>,
    paid: Arc<dyn PaymentStore>,
    hub: Arc<Hub>,
    payments: Arc<dyn PaymentProvider>,
    sales: AuctionSales,
    clock: SharedClock,
    settings: AuctionSettings,
    cards: Arc<cards::CardCache>,
}

impl AuctionsService {
    /// Keeps, of `store`, only the areas this service uses.
    pub fn new(
        store: SharedStore,
        hub: Arc<Hub>,
        payments: Arc<dyn PaymentProvider>,
        sales: AuctionSales,
        clock: SharedClock,
        settings: AuctionSettings,
    ) -> Self {
        AuctionsService {
            shows: store.clone(),
            catalog: store.clone(),
            auctions: store.clone(),
            moderation: store.clone(),
            limits: store.clone(),
            paid: store,
            hub,
            payments,
            sales,
            clock,
            settings,
            cards: Arc::default(),
        }
    }

    /// The sales of this server's closed lots (the runner-up's `POST …/offer`).
    pub fn sales(&self) -> &AuctionSales {
        &self.sales
    }

    /// The show, or `show_not_found`.
    async fn show(&self, id: ShowId) -> Result<Show, AuctionError> {
        self.shows.show(id).await?.ok_or_else(|| no_show(id))
    }

    /// The show, where the caller runs auctions (its creator, its moderators).
    async fn managed(&self, who: Option<&Principal>, id: ShowId) -> Result<Show, AuctionError> {
        let show = self.show(id).await?;
        authorize(who, Action::RunAuctions, Some(&show))?;
        Ok(show)
    }
}

fn no_show(id: ShowId) -> AuctionError {
    DomainError::not_found(Code::ShowNotFound, format!("no show {id}")).into()
}
