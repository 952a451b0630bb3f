//! MemoryStore's payments area: attaching a payment to a pending order and the intent index,
//! processed event ids (remembered for [`EVENT_MEMORY`]), refunds (under the one lock, with
//! the same release as a failed order), and saved customers.

use async_trait::async_trait;

use super::{MemoryStore, State};
use crate::domain::commerce::{
    Order, OrderStatus, PaymentIntentId, StripeCustomerId, StripeEventId,
};
use crate::domain::{CreatorId, DomainError, OrderId, Show, Timestamp, ViewerId};
use crate::store::StoreError;
use crate::store::payments::{
    Attached, EVENT_MEMORY, IntentOrder, PaymentAttachment, PaymentStore, not_refundable,
    order_not_found,
};

impl State {
    /// Replaces the stored copy of `order` in its show.
    fn put_order(&mut self, order: &Order) {
        if let Some(o) = self
            .orders
            .get_mut(&order.show_id)
            .and_then(|o| o.iter_mut().find(|o| o.id == order.id))
        {
            *o = order.clone();
        }
    }

    fn attach(&mut self, show: &Show, id: OrderId, attachment: &PaymentAttachment) -> Attached {
        let Some(current) = self.order(show.id, id).cloned() else {
            return Attached::NotFound;
        };
        if current.status != OrderStatus::PendingPayment {
            return Attached::NotPending(current);
        }
        let next = Order {
            email: attachment.email.clone(),
            shipping: attachment.shipping.clone(),
            payment: Some(attachment.payment.clone()),
            ..current
        };
        self.put_order(&next);
        self.intents.insert(
            attachment.payment.intent_id.clone(),
            IntentOrder {
                creator: show.creator_id,
                show: show.id,
                order: id,
            },
        );
        Attached::Attached(next)
    }

    fn refund(&mut self, show: &Show, id: OrderId, at: Timestamp) -> Result<Order, DomainError> {
        let current = self
            .order(show.id, id)
            .cloned()
            .ok_or_else(|| order_not_found(id))?;
        if current.status != OrderStatus::Paid {
            return Err(not_refundable(&current));
        }
        self.release(show.id, &current);
        let next = Order {
            status: OrderStatus::Refunded,
            refunded_at: Some(at),
            ..current
        };
        self.put_order(&next);
        self.push_event(show.creator_id, "order.refunded", at, &next);
        Ok(next)
    }
}

#[async_trait]
impl PaymentStore for MemoryStore {
    async fn attach_payment(
        &self,
        show: &Show,
        order: OrderId,
        attachment: &PaymentAttachment,
    ) -> Result<Attached, StoreError> {
        Ok(self.with(|s| s.attach(show, order, attachment)))
    }

    async fn intent_order(
        &self,
        intent: &PaymentIntentId,
    ) -> Result<Option<IntentOrder>, StoreError> {
        Ok(self.with(|s| s.intents.get(intent).copied()))
    }

    async fn record_event(
        &self,
        event: &StripeEventId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|s| {
            s.events.retain(|_, at| *at + EVENT_MEMORY > now);
            if s.events.contains_key(event) {
                return false;
            }
            s.events.insert(event.clone(), now);
            true
        }))
    }

    async fn forget_event(&self, event: &StripeEventId) -> Result<(), StoreError> {
        self.with(|s| s.events.remove(event));
        Ok(())
    }

    async fn refund_order(
        &self,
        show: &Show,
        order: OrderId,
        at: Timestamp,
    ) -> Result<Result<Order, DomainError>, StoreError> {
        Ok(self.with(|s| s.refund(show, order, at)))
    }

    async fn set_customer(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
        customer: Option<&StripeCustomerId>,
    ) -> Result<(), StoreError> {
        self.with(|s| match customer {
            Some(c) => s.customers.insert((creator, viewer), c.clone()),
            None => s.customers.remove(&(creator, viewer)),
        });
        Ok(())
    }

    async fn customer(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
    ) -> Result<Option<StripeCustomerId>, StoreError> {
        Ok(self.with(|s| s.customers.get(&(creator, viewer)).cloned()))
    }
}
