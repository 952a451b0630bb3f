//! What happens to a lot after it closed (issue 18, "the winner pays"): the winner's order at
//! the winning price, charged to their saved card off-session; the runner-up's offer when that
//! fails or the payment window lapses; the creator's alert; the merchant's webhook with the
//! result and the bid log.
//!
//! A sold lot's sale is a list of offers in the store (`store::auction_sales`): offer 0 to the
//! winner at the winning price, then at most offer 1 to the runner-up at their best bid. Each
//! offer is an order like a checkout's (one line, quantity 1, stock taken, pending payment)
//! with a deadline, the payment window. The charge happens here: the test provider takes the
//! money at once and the order is settled paid with `complete_order`; Stripe's is settled by
//! its webhook (`services::payments`), as a checkout's card payment is. A decline, or a
//! deadline that passes unpaid (the sales ticker, [`AuctionSales::tick`], on every node), fails
//! the order (its stock back) and settles the offer in the store by a compare-and-set that
//! also makes the next offer: only the node whose call settled it tells anyone, so the
//! runner-up's offer and the creator's alert happen once however many nodes there are.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::commerce::payment::{PaymentProvider, SavedCharge, SubmittedCharge};
use crate::domain::access::{Action, authorize};
use crate::domain::auction::{Auction, AuctionId, AuctionResult, Bidder, LogEntry};
use crate::domain::commerce::{Order, OrderStatus, PaymentRef};
use crate::domain::protocol::Broadcast;
use crate::domain::{Code, DomainError, Money, OrderId, Principal, Show, ShowId, Timestamp};
use crate::hub::Hub;
use crate::services::commerce::{CardStatus, CommerceError, Unpaid};
use crate::store::auction_sales::{NewOffer, Offer, OfferOutcome, Offered};
use crate::store::{Attached, Completion, PaymentAttachment, SharedStore, StoreError};

#[cfg(test)]
mod tests;

/// The sale settings, from the config.
#[derive(Debug, Clone, Copy)]
pub struct SaleSettings {
    /// How long a winner (then a runner-up) has to pay before the lot goes to the next one
    /// (`--auction-payment-window-s`, 120 by default).
    pub payment_window: chrono::Duration,
}

/// The merchant's webhook event of a closed lot.
pub const CLOSED_EVENT: &str = "auction.closed";

/// What an order that was not paid in its window records as its failure.
const LAPSED: &str = "the auction's payment window ended before the payment";

/// How long after its deadline an offer's order still holds its stock: the sales ticker
/// settles it at the deadline; the reservation sweeper only steps in if no node did.
fn sweep_grace() -> chrono::Duration {
    chrono::Duration::seconds(60)
}

/// What paying an offer did: the order, and where its payment stands.
#[derive(Debug, Clone)]
pub struct OfferPayment {
    pub order: Order,
    pub status: CardStatus,
    /// With `requires_action`: the PaymentIntent's client secret, for Stripe.js.
    pub client_secret: Option<String>,
}

/// The sales of closed lots. Cheap to clone.
#[derive(Clone)]
pub struct AuctionSales {
    store: SharedStore,
    hub: Arc<Hub>,
    payments: Arc<dyn PaymentProvider>,
    clock: SharedClock,
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
        let order = match &auction.result {
            Some(AuctionResult::Sold { winner, price, .. }) => {
                self.sell(show, auction, winner, *price).await
            }
            _ => None,
        };
        self.queue_closed(show, auction, order).await;
        order
    }

    /// Called about every second by the auctions ticker on every node: payment windows that
    /// lapsed hand the lot to the runner-up (once across nodes).
    pub async fn tick(&self) {
        if let Err(e) = self.lapse_due().await {
            tracing::warn!(error = %e, "the auction sales ticker could not run");
        }
    }

    /// The runner-up takes the lot they were offered (`POST …/auctions/{aid}/offer`): their
    /// offer's order is charged to their saved card. 409 `offer_not_found` unless the caller
    /// holds a live offer of this lot.
    pub async fn accept_offer(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        auction: AuctionId,
    ) -> Result<OfferPayment, CommerceError> {
        let show =
            self.store.show(id).await?.ok_or_else(|| {
                DomainError::not_found(Code::ShowNotFound, format!("no show {id}"))
            })?;
        authorize(who, Action::Shop, Some(&show))?;
        let Some(Principal::Viewer { viewer_id, .. }) = who else {
            return Err(DomainError::forbidden(Code::ForbiddenRole, "only viewers shop").into());
        };
        let now = self.clock.now();
        let offer = self.store.sale(&show, auction).await?.and_then(|sale| {
            sale.waiting()
                .filter(|o| o.number > 0 && o.buyer.viewer_id == *viewer_id && o.deadline > now)
                .cloned()
        });
        let Some(offer) = offer else {
            return Err(no_offer().into());
        };
        let order = self.store.order(&show, offer.order).await?;
        match order {
            Some(order) if order.status == OrderStatus::PendingPayment => {
                self.charge(&show, auction, offer.number, order).await
            }
            _ => Err(no_offer().into()),
        }
    }

    /// Offer 0: the winner's order. Its charge runs in a task of its own.
    async fn sell(
        &self,
        show: &Show,
        auction: &Auction,
        winner: &Bidder,
        price: i64,
    ) -> Option<OrderId> {
        let offer = self.new_offer(auction, 0, winner, price);
        let offered = match self.store.offer(show, &offer).await {
            Ok(Ok(offered)) => offered,
            Ok(Err(refused)) => {
                count("refused");
                let text = format!(
                    "The lot could not be sold to {}: {}",
                    winner.name, refused.message
                );
                self.alert(show, auction.id, text).await;
                return None;
            }
            Err(e) => {
                tracing::error!(show = %show.id, auction = %auction.id, error = %e, "the winner's order was not created");
                let text = format!(
                    "The order of {} could not be created (the store is unavailable)",
                    winner.name
                );
                self.alert(show, auction.id, text).await;
                return None;
            }
        };
        let order = offered.order().clone();
        let id = order.id;
        if let Offered::Created(_) = offered {
            count("created");
            let (sales, show, auction) = (self.clone(), show.clone(), auction.id);
            tokio::spawn(async move {
                if let Err(e) = sales.charge(&show, auction, 0, order).await {
                    tracing::info!(show = %show.id, auction = %auction, error = %e, "the winner's charge did not go through");
                }
            });
        }
        Some(id)
    }

    /// A new offer of the lot at `price` to `buyer`, its window starting now.
    fn new_offer(&self, auction: &Auction, number: u32, buyer: &Bidder, price: i64) -> NewOffer {
        let now = self.clock.now();
        let deadline = now + self.settings.payment_window;
        NewOffer {
            auction: auction.id,
            number,
            buyer: buyer.clone(),
            product: auction.product_id,
            price: auction.money(price),
            order_id: OrderId(uuid::Uuid::now_v7()),
            now,
            deadline,
            reserved_until: deadline + sweep_grace(),
        }
    }

    /// Charges an offer's order to its buyer's saved card, off-session, and follows up what
    /// the charge did.
    async fn charge(
        &self,
        show: &Show,
        auction: AuctionId,
        number: u32,
        order: Order,
    ) -> Result<OfferPayment, CommerceError> {
        let customer = self
            .store
            .customer(show.creator_id, order.viewer_id)
            .await?;
        let key = format!("auction-{auction}-{number}");
        let charged = self
            .payments
            .charge_saved(&order, customer.as_ref(), &key)
            .await;
        match charged {
            Ok(SavedCharge::Charged(_)) => self.paid(show, auction, number, &order).await,
            Ok(SavedCharge::Submitted { payment, status }) => {
                self.submitted(show, auction, &order, payment, status).await
            }
            Err(e) => {
                let why = e.to_string();
                self.failed(show, auction, number, &order, &why, OfferOutcome::Declined)
                    .await?;
                Err(CommerceError::Unpaid(Unpaid {
                    order: Some(order.id),
                    code: e.code(),
                    why,
                }))
            }
        }
    }

    /// The money was taken at once: the order is settled paid, the offer too, and the room and
    /// the buyer hear of it (once: the offer's settlement decides).
    async fn paid(
        &self,
        show: &Show,
        auction: AuctionId,
        number: u32,
        order: &Order,
    ) -> Result<OfferPayment, CommerceError> {
        let at = self.clock.now();
        let settled = self
            .store
            .complete_order(show, order.id, &Completion::Paid { at })
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("order {} is gone", order.id)))?;
        if settled.status != OrderStatus::Paid {
            // Lapsed meanwhile: the stock went back, so the money does too.
            if let Err(e) = self.payments.refund(&settled).await {
                tracing::error!(show = %show.id, order = %settled.id, error = %e, "a late auction payment was not refunded");
            }
            return Err(no_offer().into());
        }
        let done = self
            .store
            .settle_offer(show, auction, number, OfferOutcome::Paid, None)
            .await?;
        if done.is_some_and(|d| d.changed) {
            count("paid");
            let store = self.store.as_ref();
            let clock = self.clock.as_ref();
            crate::commerce::announce_paid(store, store, &self.hub, clock, show, &settled).await;
        }
        Ok(OfferPayment {
            order: settled,
            status: CardStatus::Succeeded,
            client_secret: None,
        })
    }

    /// The processor has the payment: it is kept with the order (the webhook finds the order
    /// by it and settles it); 3-D Secure goes to the buyer's page as `auction.payment`.
    async fn submitted(
        &self,
        show: &Show,
        auction: AuctionId,
        order: &Order,
        payment: PaymentRef,
        status: SubmittedCharge,
    ) -> Result<OfferPayment, CommerceError> {
        let attachment = PaymentAttachment {
            email: order.email.clone(),
            shipping: order.shipping.clone(),
            payment,
        };
        let attached = self
            .store
            .attach_payment(show, order.id, &attachment)
            .await?;
        let order = match attached {
            Attached::Attached(o) => o,
            Attached::NotPending(o) if o.status == OrderStatus::Paid => o,
            Attached::NotPending(o) => {
                // The window ended during the charge: the stock is gone, so the charge must
                // not stand (the webhook cannot find this order by an intent it never kept).
                let charged = Order {
                    payment: Some(attachment.payment),
                    ..o
                };
                self.undo(show, &charged, &status).await;
                return Err(no_offer().into());
            }
            Attached::NotFound => return Err(no_offer().into()),
        };
        let (status, client_secret) = match status {
            SubmittedCharge::Succeeded => (CardStatus::Succeeded, None),
            SubmittedCharge::Processing => (CardStatus::Processing, None),
            SubmittedCharge::RequiresAction {
                client_secret,
                publishable_key,
            } => {
                count("requires_action");
                let event = Broadcast::AuctionPayment {
                    to: order.viewer_id.to_string(),
                    auction_id: auction,
                    order_id: order.id,
                    status: "requires_action".into(),
                    client_secret: client_secret.clone(),
                    publishable_key,
                };
                self.publish(show, &event).await;
                (CardStatus::RequiresAction, Some(client_secret))
            }
        };
        Ok(OfferPayment {
            order,
            status,
            client_secret,
        })
    }

    /// Gives back a charge made for an order that failed meanwhile: refunded when it was
    /// taken, canceled when it was not (yet).
    async fn undo(&self, show: &Show, charged: &Order, status: &SubmittedCharge) {
        let undone = match status {
            SubmittedCharge::Succeeded => self.payments.refund(charged).await,
            _ => self.payments.cancel(charged).await,
        };
        match undone {
            Ok(()) => {
                tracing::warn!(show = %show.id, order = %charged.id, "an auction charge made after its window was given back")
            }
            Err(e) => {
                tracing::error!(show = %show.id, order = %charged.id, error = %e, "an auction charge made after its window was not given back")
            }
        }
    }

    /// An offer whose payment was declined or lapsed: its order fails (the stock goes back),
    /// and the offer is settled, with the runner-up's offer made in the same step after the
    /// winner's. The node whose call settled it tells the buyer, the runner-up and the
    /// moderators; another node's call changes nothing.
    async fn failed(
        &self,
        show: &Show,
        auction: AuctionId,
        number: u32,
        order: &Order,
        why: &str,
        outcome: OfferOutcome,
    ) -> Result<(), StoreError> {
        let at = self.clock.now();
        let failure = Completion::Failed {
            reason: why.to_string(),
            at,
        };
        let Some(failed) = self.store.complete_order(show, order.id, &failure).await? else {
            return Ok(());
        };
        if failed.status == OrderStatus::Paid {
            // Paid meanwhile (the processor's webhook announced it): the sale is done.
            self.store
                .settle_offer(show, auction, number, OfferOutcome::Paid, None)
                .await?;
            return Ok(());
        }
        let lot = self.store.auction(show, auction).await?;
        let next = match (&lot, number) {
            (Some(lot), 0) => {
                runner_up(lot).map(|(who, price)| self.new_offer(lot, 1, &who, price))
            }
            _ => None,
        };
        let settled = self
            .store
            .settle_offer(show, auction, number, outcome, next.as_ref())
            .await?;
        let Some(settled) = settled.filter(|s| s.changed) else {
            return Ok(());
        };
        count(match outcome {
            OfferOutcome::Lapsed => "lapsed",
            _ => "declined",
        });
        // A payment still open at the processor (3-D Secure never finished) must not be taken
        // after the stock went back.
        if let Err(e) = self.payments.cancel(&failed).await {
            tracing::warn!(show = %show.id, order = %failed.id, error = %e, "cannot cancel a failed auction order's payment");
        }
        crate::commerce::tell_buyer(&self.hub, show, &failed).await;
        let offers = &settled.sale.offers;
        let this = offers.iter().find(|o| o.number == number);
        let who = this.map_or("The buyer", |o| o.buyer.name.as_str());
        let what = match outcome {
            OfferOutcome::Lapsed => "was not made within the payment window",
            _ => "was declined",
        };
        let text = match settled.next {
            Some(Ok(next)) => {
                let offer = offers.iter().find(|o| o.order == next.id);
                if let Some(offer) = offer {
                    self.offer_to(show, auction, offer).await;
                }
                format!(
                    "{who}'s payment {what}; the lot is offered to the runner-up, {} at {}",
                    next.buyer_name,
                    money_text(next.total)
                )
            }
            Some(Err(e)) => format!(
                "{who}'s payment {what}; the lot could not be offered to the runner-up: {}",
                e.message
            ),
            None => format!("{who}'s payment {what}; nobody paid for the lot"),
        };
        self.alert(show, auction, text).await;
        let (store, clock) = (self.store.as_ref(), self.clock.as_ref());
        crate::commerce::announce_pins(store, store, &self.hub, clock, show).await;
        Ok(())
    }

    /// The runner-up's `auction.offer`.
    async fn offer_to(&self, show: &Show, auction: AuctionId, offer: &Offer) {
        count("offered");
        let event = Broadcast::AuctionOffer {
            to: offer.buyer.viewer_id.to_string(),
            auction_id: auction,
            order_id: offer.order,
            price: offer.price,
            expires_at: offer.deadline,
        };
        self.publish(show, &event).await;
    }

    /// Every waiting offer whose window has ended: paid meanwhile (the webhook) or lapsed.
    async fn lapse_due(&self) -> Result<(), StoreError> {
        let now = self.clock.now();
        for due in self.store.due_sales(now).await? {
            let Some(show) = self.store.show(due.show).await? else {
                continue;
            };
            let sale = self.store.sale(&show, due.auction).await?;
            let Some(offer) = sale.and_then(|s| s.waiting().filter(|o| o.deadline <= now).cloned())
            else {
                continue;
            };
            let Some(order) = self.store.order(&show, offer.order).await? else {
                continue;
            };
            if let Err(e) = self
                .failed(
                    &show,
                    due.auction,
                    offer.number,
                    &order,
                    LAPSED,
                    OfferOutcome::Lapsed,
                )
                .await
            {
                tracing::warn!(show = %show.id, auction = %due.auction, error = %e, "a lapsed auction offer was not settled");
            }
        }
        Ok(())
    }

    /// The merchant's `auction.closed`: the lot, its result, the order (if any) and the whole
    /// bid log, through the outbox like the order events.
    async fn queue_closed(&self, show: &Show, auction: &Auction, order: Option<OrderId>) {
        let log = match self.store.auction_log(show, auction.id).await {
            Ok(log) => log,
            Err(e) => {
                tracing::warn!(show = %show.id, auction = %auction.id, error = %e, "the auction log was not read for the webhook");
                Vec::new()
            }
        };
        let id = uuid::Uuid::now_v7().to_string();
        let now = self.clock.now();
        let body = closed_body(&id, now, auction, order, &log);
        let queued = self
            .store
            .queue_body_event(show.creator_id, &id, CLOSED_EVENT, now, &body)
            .await;
        if let Err(e) = queued {
            tracing::warn!(show = %show.id, auction = %auction.id, error = %e, "auction.closed was not queued for the webhook");
        }
    }

    /// `auction.alert` to the creator and moderators.
    async fn alert(&self, show: &Show, auction: AuctionId, text: String) {
        tracing::info!(show = %show.id, auction = %auction, %text, "auction alert");
        let event = Broadcast::AuctionAlert {
            auction_id: auction,
            text,
        };
        self.publish(show, &event).await;
    }

    async fn publish(&self, show: &Show, event: &Broadcast) {
        if let Err(e) = self.hub.publish(show, event).await {
            tracing::warn!(show = %show.id, error = %e, "an auction sale message was not sent");
        }
    }
}

/// The runner-up of a sold lot and their price.
fn runner_up(lot: &Auction) -> Option<(Bidder, i64)> {
    match &lot.result {
        Some(AuctionResult::Sold {
            runner_up: Some(r), ..
        }) => Some((r.bidder.clone(), r.price)),
        _ => None,
    }
}

fn no_offer() -> DomainError {
    DomainError::conflict(
        Code::OfferNotFound,
        "you hold no live offer for this auction",
    )
}

fn money_text(m: Money) -> String {
    format!("{} {}", m.currency.format_decimal(m.amount), m.currency)
}

/// `livesale_auction_orders_total{status}`.
fn count(status: &'static str) {
    metrics::counter!("livesale_auction_orders_total", "status" => status).increment(1);
}

/// The JSON body of `auction.closed`: `result` is `sold`, `unsold` or `reserve_not_met`;
/// a sale names the winner, the price, the runner-up and the order; `log` is every handled
/// bid in order (proxy maxima included: the merchant's record of the close).
pub fn closed_body(
    id: &str,
    at: Timestamp,
    auction: &Auction,
    order: Option<OrderId>,
    log: &[LogEntry],
) -> String {
    let mut body = serde_json::json!({
        "id": id,
        "type": CLOSED_EVENT,
        "created_at": at,
        "auction": auction.view(),
        "order_id": order,
        "log": log,
    });
    let result = match &auction.result {
        Some(AuctionResult::Sold {
            winner,
            price,
            runner_up,
        }) => {
            body["winner"] = serde_json::json!(winner);
            body["price"] = serde_json::json!(auction.money(*price));
            body["runner_up"] = serde_json::json!(runner_up.as_ref().map(|r| {
                serde_json::json!({"bidder": r.bidder, "price": auction.money(r.price)})
            }));
            "sold"
        }
        Some(AuctionResult::ReserveNotMet { highest }) => {
            body["highest"] = serde_json::json!(auction.money(*highest));
            "reserve_not_met"
        }
        _ => "unsold",
    };
    body["result"] = serde_json::json!(result);
    body.to_string()
}
