//! The commerce service: pins and flash deals, the viewer's cart, the checkout, orders, the
//! merchant's webhook, and the reservation sweeper. It holds the store, the hub, the payment
//! provider and the clock; each method takes extracted input and the caller, applies the rules
//! of `domain::commerce` and `domain::access`, makes one store call per step, tells the room
//! through `crate::commerce`'s announcements, and returns a typed outcome. It knows nothing of
//! HTTP: `http/commerce.rs` maps its outcomes and refusals to responses.
//!
//! Where a request has a body, the first step settles who is asking where ([`Shopper`],
//! [`Curator`]) and the body is judged only after it, so a caller without the right role learns
//! 401/403, never how its body would have been judged.

mod card;
mod cart;
mod checkout;
mod ledger;
mod orders;
mod pins;
mod sweeper;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

pub use card::{CardPayment, CardStatus};
pub use cart::{CartItem, CartView};
pub use checkout::{Checkout, CheckoutAttempt, CheckoutOutcome, Unpaid};
pub use orders::ShowOrders;
pub use pins::{Curator, DealOffer, NewPin};

use crate::clock::SharedClock;
use crate::commerce::payment::PaymentProvider;
use crate::config::Config;
use crate::domain::access::{Action, authorize};
use crate::domain::{Code, DomainError, Principal, Show, ShowId, ViewerId};
use crate::hub::Hub;
use crate::store::{CatalogStore, CommerceStore, PaymentStore, SharedStore, ShowStore, StoreError};

/// The commerce settings, from the config.
#[derive(Debug, Clone, Copy)]
pub struct CommerceSettings {
    /// How long a checkout's stock stays reserved for its payment (`--reservation-ttl-s`).
    pub reservation_ttl: chrono::Duration,
    /// How long the payment provider may take (`--payment-timeout-ms`).
    pub payment_timeout: Duration,
    /// Buyers' allowances of each deal one client address may use; 0: no limit
    /// (`--deal-buyers-per-address`).
    pub deal_buyers_per_address: u32,
    /// Webhooks may point at private and special-purpose addresses
    /// (`--webhook-allow-private`).
    pub webhook_allow_private: bool,
}

impl From<&Config> for CommerceSettings {
    fn from(config: &Config) -> Self {
        CommerceSettings {
            reservation_ttl: chrono::Duration::seconds(config.reservation_ttl_s as i64),
            payment_timeout: Duration::from_millis(config.payment_timeout_ms),
            deal_buyers_per_address: config.deal_buyers_per_address,
            webhook_allow_private: config.webhook_allow_private,
        }
    }
}

/// Why a commerce request did not happen: a rule refused it, or the store could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum CommerceError {
    #[error(transparent)]
    Refused(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A card payment did not go through (declined, or the processor unreachable).
    #[error("{}", .0.why)]
    Unpaid(Unpaid),
}

/// A viewer of a show, who may shop in it: what the first step of a cart or checkout request
/// settles. Only the service makes one.
#[derive(Debug, Clone)]
pub struct Shopper {
    show: Show,
    viewer: ViewerId,
    name: String,
}

/// Cart lines, checkouts, orders and webhooks of one server. Cheap to clone.
#[derive(Clone)]
pub struct CommerceService {
    shows: Arc<dyn ShowStore>,
    catalog: Arc<dyn CatalogStore>,
    commerce: Arc<dyn CommerceStore>,
    paid: Arc<dyn PaymentStore>,
    hub: Arc<Hub>,
    payments: Arc<dyn PaymentProvider>,
    clock: SharedClock,
    settings: CommerceSettings,
}

impl CommerceService {
    /// Keeps, of `store`, only the areas this service uses.
    pub fn new(
        store: SharedStore,
        hub: Arc<Hub>,
        payments: Arc<dyn PaymentProvider>,
        clock: SharedClock,
        settings: CommerceSettings,
    ) -> Self {
        CommerceService {
            shows: store.clone(),
            catalog: store.clone(),
            paid: store.clone(),
            commerce: store,
            hub,
            payments,
            clock,
            settings,
        }
    }

    /// Broadcasts the show's pins as they are now ([`crate::commerce::announce_pins`]).
    async fn announce_pins(&self, show: &Show) {
        let (commerce, catalog) = (self.commerce.as_ref(), self.catalog.as_ref());
        crate::commerce::announce_pins(commerce, catalog, &self.hub, self.clock.as_ref(), show)
            .await;
    }

    /// The show, or the refusal `show_not_found`.
    async fn show(&self, id: ShowId) -> Result<Show, CommerceError> {
        self.shows.show(id).await?.ok_or_else(|| no_show(id))
    }

    /// The show, where the caller may do `action`.
    async fn show_for(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        action: Action,
    ) -> Result<Show, CommerceError> {
        let show = self.show(id).await?;
        authorize(who, action, Some(&show))?;
        Ok(show)
    }

    /// The caller, who must be a viewer of the show.
    pub async fn shopper(
        &self,
        who: Option<&Principal>,
        id: ShowId,
    ) -> Result<Shopper, CommerceError> {
        let show = self.show(id).await?;
        Ok(shopper_in(who, show)?)
    }

    /// [`Self::shopper`] from this node's recent copy of the show
    /// ([`crate::store::Store::show_recent`]): for the checkout, whose store call re-checks the
    /// show. Its id and creator never change.
    pub async fn shopper_recent(
        &self,
        who: Option<&Principal>,
        id: ShowId,
    ) -> Result<Shopper, CommerceError> {
        let show = self
            .shows
            .show_recent(id)
            .await?
            .ok_or_else(|| no_show(id))?;
        Ok(shopper_in(who, show)?)
    }
}

fn no_show(id: ShowId) -> CommerceError {
    DomainError::not_found(Code::ShowNotFound, format!("no show {id}")).into()
}

/// The caller, who must be a viewer of `show`.
pub(super) fn shopper_in(who: Option<&Principal>, show: Show) -> Result<Shopper, DomainError> {
    authorize(who, Action::Shop, Some(&show))?;
    match who {
        Some(Principal::Viewer {
            viewer_id, name, ..
        }) => Ok(Shopper {
            show,
            viewer: *viewer_id,
            name: name.clone(),
        }),
        _ => Err(DomainError::forbidden(
            Code::ForbiddenRole,
            "only viewers shop",
        )),
    }
}
