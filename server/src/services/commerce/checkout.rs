//! The checkout: one atomic store call reserves the cart (`Store::checkout`), the payment
//! provider is asked within the payment timeout, one store call settles the order
//! (`Store::complete_placed_order`), and the room hears of a purchase from a task of its own.
//! This is the hot path of a flash drop: exactly those two store calls for a placed order, one
//! for a refusal.

use std::net::IpAddr;

use uuid::Uuid;

use super::{CommerceService, Shopper};
use crate::commerce::announce_purchase;
use crate::commerce::payment::{Begun, Buyer, ClientPayment, PaymentError};
use crate::domain::commerce::{Order, OrderStatus, SalesChannel, Shipping, address_key, email};
use crate::domain::{Code, DomainError, OrderId, Show};
use crate::store::commerce::AddressAllowance;
use crate::store::{self, Attached, CheckoutRequest, Completion, PaymentAttachment, StoreError};

/// What the buyer sent with a checkout.
#[derive(Debug, Clone)]
pub struct CheckoutAttempt {
    /// The client's idempotency key, already checked for shape (1-200 visible characters).
    pub key: String,
    /// Show "Someone" instead of the buyer's name in the room's purchase event.
    pub anonymous: bool,
    /// The client's address, for the deal allowance per address.
    pub ip: IpAddr,
    /// The buyer's email, as sent (checked here; required when the provider needs it).
    pub email: Option<String>,
    /// The buyer's shipping address, as sent (checked here; required with the email).
    pub shipping: Option<Shipping>,
}

/// A checkout's answer, and whether it repeats an earlier attempt with the same key.
#[derive(Debug)]
pub struct Checkout {
    pub outcome: CheckoutOutcome,
    /// The key was used before with the same cart and body: `outcome` is that attempt's.
    pub replayed: bool,
}

#[derive(Debug)]
pub enum CheckoutOutcome {
    /// The order was placed: paid (or, when something else settled it meanwhile, still
    /// pending payment).
    Placed(Order),
    /// The order is reserved and pending: the buyer's browser finishes the payment with
    /// `payment`, and the processor's webhook settles the order.
    AwaitingPayment {
        order: Order,
        payment: ClientPayment,
    },
    /// The payment did not go through: nothing was charged, the stock is back and the lines
    /// are back in the cart.
    Unpaid(Unpaid),
    /// A rule refused it (cancelled show, empty cart, sold out, over a limit, deal ended, a reused
    /// key, a reservation that expired before the payment finished); nothing was charged.
    Refused(DomainError),
}

/// A payment that did not go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpaid {
    /// The order that was not paid (`None` for a card request outside any order: setting up
    /// a card, listing saved cards).
    pub order: Option<OrderId>,
    /// `payment_declined`, `payment_failed` or `payment_unavailable` ([`PaymentError::code`]).
    pub code: Code,
    /// Why, in words fit for the buyer.
    pub why: String,
}

/// What an order that failed without a recorded reason says.
const NOT_THROUGH: &str = "the payment did not go through";

impl Checkout {
    fn first(outcome: CheckoutOutcome) -> Checkout {
        Checkout {
            outcome,
            replayed: false,
        }
    }
}

impl CommerceService {
    /// Buys the shopper's cart: reserves it, takes the payment, settles the order.
    pub async fn checkout(
        &self,
        shopper: Shopper,
        attempt: CheckoutAttempt,
    ) -> Result<Checkout, StoreError> {
        let Shopper { show, viewer, name } = shopper;
        // Only answers early: the store's checkout decides (refuses a cancelled show, sets the
        // order's channel) from the stored record.
        if let Err(e) = SalesChannel::of(show.status) {
            return Ok(Checkout::first(CheckoutOutcome::Refused(e)));
        }
        // Judged before anything is reserved.
        let buyer = match self.buyer(&attempt) {
            Ok(buyer) => buyer,
            Err(e) => return Ok(Checkout::first(CheckoutOutcome::Refused(e))),
        };
        let anonymous = attempt.anonymous;
        let request = CheckoutRequest {
            viewer,
            buyer_name: if anonymous { "Someone".into() } else { name },
            key: attempt.key.clone(),
            body_fingerprint: if anonymous { "anonymous" } else { "named" }.into(),
            order_id: OrderId(Uuid::now_v7()),
            now: self.clock.now(),
            reserve_for: self.settings.reservation_ttl,
            address: (self.settings.deal_buyers_per_address > 0).then(|| AddressAllowance {
                key: address_key(attempt.ip),
                buyers: self.settings.deal_buyers_per_address,
            }),
            // Kept with the order whatever the provider: the creator ships it.
            email: buyer.email.clone(),
            shipping: buyer.shipping.clone(),
        };
        let order = match self.commerce.checkout(&show, &request).await? {
            store::CheckoutOutcome::Created(order) => order,
            store::CheckoutOutcome::Replayed(order) => {
                count("replayed");
                return Ok(Checkout {
                    outcome: self.replayed(order).await?,
                    replayed: true,
                });
            }
            store::CheckoutOutcome::KeyReused => {
                count("key_reused");
                let reused = DomainError::invalid(
                    Code::IdempotencyKeyReused,
                    "this Idempotency-Key was used for a different cart; use a new key",
                );
                return Ok(Checkout::first(CheckoutOutcome::Refused(reused)));
            }
            store::CheckoutOutcome::Refused(e) => {
                count(e.code.as_str());
                return Ok(Checkout::first(CheckoutOutcome::Refused(e)));
            }
        };
        let outcome = self.pay(show, order, &buyer, &attempt.key).await?;
        Ok(Checkout::first(outcome))
    }

    /// The buyer's email and address, checked: both or neither, and both when the payment
    /// provider needs them.
    fn buyer(&self, attempt: &CheckoutAttempt) -> Result<Buyer, DomainError> {
        let needed = self.payments.needs_buyer();
        let email = match (&attempt.email, needed) {
            (Some(raw), _) => Some(email(raw)?),
            (None, true) => return Err(missing("email", Code::InvalidEmail)),
            (None, false) => None,
        };
        let shipping = match (&attempt.shipping, needed || email.is_some()) {
            (Some(raw), _) => Some(Box::new(raw.checked()?)),
            (None, true) => return Err(missing("shipping", Code::InvalidShipping)),
            (None, false) => None,
        };
        if shipping.is_some() && email.is_none() {
            return Err(missing("email", Code::InvalidEmail));
        }
        Ok(Buyer {
            email,
            shipping,
            customer: None,
        })
    }

    /// Starts the payment of a reserved order and settles what can be settled now: paid (the
    /// room is told), failed or expired (its lines go back to the cart), or pending with a
    /// payment for the buyer's browser to finish.
    async fn pay(
        &self,
        show: Show,
        order: Order,
        buyer: &Buyer,
        key: &str,
    ) -> Result<CheckoutOutcome, StoreError> {
        let timeout = self.settings.payment_timeout;
        let begun = tokio::time::timeout(timeout, async {
            let buyer = self.with_customer(&show, &order, buyer).await?;
            self.payments.begin(&order, &buyer, key).await
        })
        .await;
        let charged = match begun {
            Ok(Ok(Begun::Awaiting(payment))) => {
                return self.await_payment(show, order, buyer, payment).await;
            }
            Ok(Ok(Begun::Charged(_receipt))) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(PaymentError::TimedOut),
        };
        let completion = match &charged {
            Ok(()) => Completion::Paid {
                at: self.clock.now(),
            },
            Err(e) => Completion::Failed {
                reason: e.to_string(),
                at: self.clock.now(),
            },
        };
        let settled = self
            .commerce
            .complete_placed_order(&show, &order, &completion)
            .await?
            .unwrap_or(order);
        Ok(match settled.status {
            OrderStatus::Paid => {
                crate::commerce::count_paid(&show, &settled);
                // The order is paid and stored: the buyer need not wait for the room's news (in
                // a flash drop its reads and broadcasts queue behind thousands of others).
                let (commerce, catalog) = (self.commerce.clone(), self.catalog.clone());
                let (hub, clock) = (self.hub.clone(), self.clock.clone());
                let order = settled.clone();
                tokio::spawn(async move {
                    let (commerce, catalog) = (commerce.as_ref(), catalog.as_ref());
                    announce_purchase(commerce, catalog, &hub, clock.as_ref(), &show, &order).await;
                });
                CheckoutOutcome::Placed(settled)
            }
            // Refunded only by its creator, never in the moment after its payment.
            OrderStatus::PendingPayment | OrderStatus::Refunded => CheckoutOutcome::Placed(settled),
            OrderStatus::Failed => {
                count(Code::PaymentFailed.as_str());
                self.give_back_cart(&show, &settled).await;
                self.announce_pins(&show).await;
                CheckoutOutcome::Unpaid(match charged {
                    Err(e) => Unpaid {
                        order: Some(settled.id),
                        code: e.code(),
                        why: e.to_string(),
                    },
                    Ok(()) => Unpaid {
                        order: Some(settled.id),
                        code: PaymentError::recorded_code(NOT_THROUGH),
                        why: NOT_THROUGH.into(),
                    },
                })
            }
            OrderStatus::Expired => {
                self.give_back_cart(&show, &settled).await;
                CheckoutOutcome::Refused(reservation_expired())
            }
        })
    }

    /// The buyer with their customer at the processor (saved cards live under it): the one
    /// the store keeps for this creator's shows, or a new one, then kept.
    async fn with_customer(
        &self,
        show: &Show,
        order: &Order,
        buyer: &Buyer,
    ) -> Result<Buyer, PaymentError> {
        if !self.payments.needs_buyer() {
            return Ok(buyer.clone());
        }
        let email = buyer.email.as_deref();
        let customer = self
            .ensure_customer(show.creator_id, order.viewer_id, email)
            .await?;
        Ok(Buyer {
            customer,
            ..buyer.clone()
        })
    }

    /// Keeps the processor's payment (and the buyer's details) with the pending order, and
    /// hands the payment to the buyer's browser.
    async fn await_payment(
        &self,
        show: Show,
        order: Order,
        buyer: &Buyer,
        payment: ClientPayment,
    ) -> Result<CheckoutOutcome, StoreError> {
        let attachment = PaymentAttachment {
            email: buyer.email.clone(),
            shipping: buyer.shipping.clone(),
            payment: payment.reference.clone(),
        };
        match self
            .paid
            .attach_payment(&show, order.id, &attachment)
            .await?
        {
            Attached::Attached(order) => {
                count("awaiting_payment");
                Ok(CheckoutOutcome::AwaitingPayment { order, payment })
            }
            // Settled meanwhile (the reservation lapsed): answered as a retry would be.
            Attached::NotPending(order) => self.replayed(order).await,
            Attached::NotFound => Err(StoreError::Corrupt(format!(
                "order {} vanished between its checkout and its payment",
                order.id
            ))),
        }
    }

    /// The answer a retry gets: the first attempt's, from the order as it is now (a pending
    /// order paid in the browser gets its payment again).
    async fn replayed(&self, order: Order) -> Result<CheckoutOutcome, StoreError> {
        if order.status == OrderStatus::PendingPayment {
            if let Ok(Some(payment)) = self.payments.resume(&order).await {
                return Ok(CheckoutOutcome::AwaitingPayment { order, payment });
            }
        }
        Ok(replayed(order))
    }

    /// Puts a failed or expired order's lines back in its buyer's cart, so trying again is one
    /// tap. The order and its stock are already settled; a store error here costs only that
    /// convenience, so it is logged, not returned.
    pub(super) async fn give_back_cart(&self, show: &Show, order: &Order) {
        let given = async {
            let pins = self.commerce.pins(show).await?;
            let pins: Vec<_> = pins.into_iter().map(|p| p.pin).collect();
            let lines = crate::domain::commerce::cart_lines_of(order, &pins);
            self.commerce
                .give_back_cart(show, order.viewer_id, &lines)
                .await
        };
        if let Err(e) = given.await {
            tracing::warn!(show = %show.id, order = %order.id, error = %e, "cannot give the cart back");
        }
    }
}

/// The answer a retry gets: the first attempt's, from the order as it is now.
fn replayed(order: Order) -> CheckoutOutcome {
    match order.status {
        OrderStatus::Failed => {
            let why = order.failure.unwrap_or_else(|| NOT_THROUGH.into());
            CheckoutOutcome::Unpaid(Unpaid {
                order: Some(order.id),
                code: PaymentError::recorded_code(&why),
                why,
            })
        }
        OrderStatus::Expired => CheckoutOutcome::Refused(reservation_expired()),
        OrderStatus::Paid | OrderStatus::PendingPayment | OrderStatus::Refunded => {
            CheckoutOutcome::Placed(order)
        }
    }
}

fn missing(field: &str, code: Code) -> DomainError {
    DomainError::invalid(code, format!("{field} is required to pay by card"))
}

fn reservation_expired() -> DomainError {
    DomainError::conflict(
        Code::ReservationExpired,
        "the reservation expired before the payment finished; nothing was charged",
    )
}

/// Counts a checkout by outcome (`livesale_checkouts_total`).
fn count(outcome: &'static str) {
    metrics::counter!("livesale_checkouts_total", "outcome" => outcome).increment(1);
}
