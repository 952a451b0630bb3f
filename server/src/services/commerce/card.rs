//! A pending order paid by card in the buyer's browser (`--payments stripe`): the order as its
//! buyer or creator sees it, paying it with a card the page got from Stripe.js (a decline can
//! be retried with another card while the reservation lasts), and the creator's refund of a
//! paid order. The order itself is settled by the processor's webhook
//! (`services::payments`), never here: a confirmed payment answers `succeeded`, and the
//! buyer's page waits for `order.updated`.

use super::{CommerceError, CommerceService, Unpaid};
use crate::commerce::payment::{Confirmed, PaymentError, SavedCard};
use crate::domain::access::{Action, authorize};
use crate::domain::commerce::StripeCustomerId;
use crate::domain::commerce::{Order, OrderStatus};
use crate::domain::{Code, CreatorId, DomainError, OrderId, Principal, ShowId, ViewerId};
use crate::store::StoreError;
use crate::store::{Attached, PaymentAttachment};

/// Where a card payment stands after the server confirmed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    /// Taken; the order turns `paid` when Stripe's webhook arrives.
    Succeeded,
    /// Being processed; as above.
    Processing,
    /// The bank asks for 3-D Secure: the page finishes it with `client_secret`.
    RequiresAction,
}

/// The answer to paying an order by card.
#[derive(Debug, Clone)]
pub struct CardPayment {
    pub order: Order,
    pub status: CardStatus,
    /// With `requires_action`: the PaymentIntent's client secret, for Stripe.js.
    pub client_secret: Option<String>,
}

/// How many new PaymentIntents one attempt to pay may make (a decline replaced the first).
const REPLACEMENTS: usize = 1;

impl CommerceService {
    /// One order of the show, for its buyer or the show's creator; anyone else learns
    /// `order_not_found`.
    pub async fn order(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        order: OrderId,
    ) -> Result<Order, CommerceError> {
        let show = self.show(id).await?;
        let buyer = match who {
            // A creator sees the orders of their own shows; another creator learns nothing
            // of them (404, as for an order that does not exist).
            Some(Principal::Creator { .. }) => {
                authorize(who, Action::ManageShow, Some(&show)).map_err(|_| order_not_found())?;
                None
            }
            // Anyone else must be a viewer of this show (the usual 401/403), and sees only
            // their own orders.
            _ => Some(super::shopper_in(who, show.clone())?.viewer),
        };
        match self.commerce.order(&show, order).await? {
            Some(o) if buyer.is_none_or(|v| v == o.viewer_id) => Ok(o),
            _ => Err(order_not_found().into()),
        }
    }

    /// Pays the caller's pending order with `payment_method` (a card from Stripe.js).
    pub async fn pay_order(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        order: OrderId,
        payment_method: &str,
    ) -> Result<CardPayment, CommerceError> {
        let shopper = self.shopper(who, id).await?;
        let mut order = self.order(who, id, order).await?;
        if order.viewer_id != shopper.viewer || !valid_payment_method(payment_method) {
            return Err(DomainError::invalid(
                Code::InvalidPaymentMethod,
                "payment_method must be a card id from Stripe.js (pm_…)",
            )
            .into());
        }
        for _ in 0..=REPLACEMENTS {
            if order.status != OrderStatus::PendingPayment || order.payment.is_none() {
                return Err(not_pending(&order).into());
            }
            let confirmed = self.payments.confirm(&order, payment_method).await;
            let (status, client_secret) = match confirmed {
                Ok(Confirmed::Succeeded) => (CardStatus::Succeeded, None),
                Ok(Confirmed::Processing) => (CardStatus::Processing, None),
                Ok(Confirmed::RequiresAction { client_secret }) => {
                    (CardStatus::RequiresAction, Some(client_secret))
                }
                Ok(Confirmed::Replaced(payment)) => {
                    let attachment = PaymentAttachment {
                        email: order.email.clone(),
                        shipping: order.shipping.clone(),
                        payment: payment.reference,
                    };
                    order = match self
                        .paid
                        .attach_payment(&shopper.show, order.id, &attachment)
                        .await?
                    {
                        Attached::Attached(o) | Attached::NotPending(o) => o,
                        Attached::NotFound => return Err(order_not_found().into()),
                    };
                    continue;
                }
                Err(e) => return Err(unpaid(&order, e)),
            };
            // Kept once the money is taken (a card still in 3-D Secure is not kept yet).
            if status != CardStatus::RequiresAction {
                self.keep_card(&shopper, payment_method).await;
            }
            return Ok(CardPayment {
                order,
                status,
                client_secret,
            });
        }
        Err(unpaid(
            &order,
            PaymentError::Unavailable {
                reason: "the payment could not be started again".into(),
            },
        ))
    }

    /// A new card setup for the caller (Stripe.js `confirmCardSetup`): its client secret.
    pub async fn setup_card(
        &self,
        who: Option<&Principal>,
        id: ShowId,
    ) -> Result<String, CommerceError> {
        let shopper = self.shopper(who, id).await?;
        let customer = self
            .ensure_customer(shopper.show.creator_id, shopper.viewer, None)
            .await
            .map_err(|e| unpaid_now(shopper.viewer, e))?;
        let Some(customer) = customer else {
            return Err(no_card_payments().into());
        };
        self.payments
            .setup_card(&customer)
            .await
            .map_err(|e| unpaid_now(shopper.viewer, e))
    }

    /// The caller's saved cards with this show's creator.
    pub async fn saved_cards(
        &self,
        who: Option<&Principal>,
        id: ShowId,
    ) -> Result<Vec<SavedCard>, CommerceError> {
        let shopper = self.shopper(who, id).await?;
        let Some(customer) = self.saved_customer(&shopper).await? else {
            return Ok(Vec::new());
        };
        self.payments
            .saved_cards(&customer)
            .await
            .map_err(|e| unpaid_now(shopper.viewer, e))
    }

    /// Removes one of the caller's saved cards (`card_not_found` when it is not theirs).
    pub async fn remove_card(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        card: &str,
    ) -> Result<(), CommerceError> {
        let shopper = self.shopper(who, id).await?;
        let customer = self.saved_customer(&shopper).await?;
        let removed = match customer {
            Some(c) if valid_payment_method(card) => self
                .payments
                .remove_card(&c, card)
                .await
                .map_err(|e| unpaid_now(shopper.viewer, e))?,
            _ => false,
        };
        if removed {
            Ok(())
        } else {
            Err(DomainError::not_found(Code::CardNotFound, "no such saved card").into())
        }
    }

    /// The buyer's processor customer with this creator (their saved cards live under it): the
    /// one the store keeps, or a new one from the provider, then kept. `None` for a provider
    /// without saved cards.
    pub(super) async fn ensure_customer(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
        email: Option<&str>,
    ) -> Result<Option<StripeCustomerId>, PaymentError> {
        let stored = |e: StoreError| PaymentError::Unavailable {
            reason: format!("the store could not be asked ({e})"),
        };
        let known = self.paid.customer(creator, viewer).await.map_err(stored)?;
        let customer = self
            .payments
            .customer(known.as_ref(), email, viewer)
            .await?;
        if customer.is_some() && customer != known {
            self.paid
                .set_customer(creator, viewer, customer.as_ref())
                .await
                .map_err(stored)?;
        }
        Ok(customer)
    }

    /// The shopper's saved customer with the show's creator, if any.
    async fn saved_customer(
        &self,
        shopper: &super::Shopper,
    ) -> Result<Option<StripeCustomerId>, StoreError> {
        self.paid
            .customer(shopper.show.creator_id, shopper.viewer)
            .await
    }

    /// Keeps a card that paid saved under the buyer's customer, for one tap next time. A
    /// failure only costs that convenience: logged.
    async fn keep_card(&self, shopper: &super::Shopper, payment_method: &str) {
        let kept = async {
            let Some(customer) = self.saved_customer(shopper).await.ok().flatten() else {
                return Ok(());
            };
            self.payments.keep_card(&customer, payment_method).await
        };
        if let Err(e) = kept.await {
            tracing::info!(show = %shopper.show.id, error = %e, "a card that paid was not kept");
        }
    }

    /// Refunds a paid order (the show's creator): the money goes back at the processor first,
    /// then the order turns `refunded` with its stock back (the merchant's `order.refunded`
    /// webhook follows), and the room sees the stock.
    pub async fn refund(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        order: OrderId,
    ) -> Result<Order, CommerceError> {
        let show = self.show(id).await?;
        if let Err(e) = authorize(who, Action::ManageShow, Some(&show)) {
            // Another creator learns nothing of this show's orders.
            return Err(match who {
                Some(Principal::Creator { .. }) => order_not_found(),
                _ => e,
            }
            .into());
        }
        let Some(found) = self.commerce.order(&show, order).await? else {
            return Err(order_not_found().into());
        };
        if found.status != OrderStatus::Paid {
            return Err(crate::store::payments::not_refundable(&found).into());
        }
        if let Err(e) = self.payments.refund(&found).await {
            return Err(unpaid(&found, e));
        }
        let refunded = self
            .paid
            .refund_order(&show, order, self.clock.now())
            .await??;
        tracing::info!(show = %show.id, order = %order, "order refunded");
        metrics::counter!("livesale_refunds_total").increment(1);
        self.announce_pins(&show).await;
        Ok(refunded)
    }
}

/// `pm_` and letters, digits and underscores, at most 255 characters.
fn valid_payment_method(id: &str) -> bool {
    id.len() <= 255
        && id.strip_prefix("pm_").is_some_and(|rest| {
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

fn no_card_payments() -> DomainError {
    DomainError::conflict(
        Code::CardPaymentsOff,
        "this server takes no card payments (--payments is not stripe)",
    )
}

/// A processor failure outside any order.
fn unpaid_now(viewer: crate::domain::ViewerId, e: PaymentError) -> CommerceError {
    tracing::warn!(viewer = %viewer, error = %e, "a card request failed");
    CommerceError::Unpaid(Unpaid {
        order: None,
        code: e.code(),
        why: e.to_string(),
    })
}

fn order_not_found() -> DomainError {
    DomainError::not_found(Code::OrderNotFound, "no such order in this show")
}

fn not_pending(order: &Order) -> DomainError {
    DomainError::conflict(
        Code::OrderNotPending,
        format!(
            "only an order waiting for its card payment can be paid; this one is {}",
            order.status.as_str()
        ),
    )
}

fn unpaid(order: &Order, e: PaymentError) -> CommerceError {
    CommerceError::Unpaid(Unpaid {
        order: Some(order.id),
        code: e.code(),
        why: e.to_string(),
    })
}
