//! MemoryStore's commerce area: pins and deals, carts, the checkout (`plan_checkout` under the
//! one lock), orders and their reservations, webhooks and the outbox.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{MemoryStore, State};
use crate::domain::commerce::{
    CartLine, CartLines, DealState, Delivery, LineFacts, Order, OrderLine, OrderStatus, Pin,
    SalesChannel, add_pin, check_address_allowance, plan_checkout, record_delivery,
};
use crate::domain::{
    Code, CreatorId, DomainError, Money, OrderId, ProductId, Show, ShowId, Timestamp, ViewerId,
};
use crate::store::StoreError;
use crate::store::commerce::{
    CheckoutOutcome, CheckoutRequest, CommerceStore, Completion, OutboxEvent, PinState, Webhook,
    cart_fingerprint, event_body,
};

/// What an idempotency key was first used for.
pub(super) struct KeyUse {
    order: OrderId,
    cart: String,
    body: String,
}

impl State {
    pub(super) fn push_event(
        &mut self,
        creator: CreatorId,
        kind: &str,
        at: Timestamp,
        order: &Order,
    ) {
        let id = uuid::Uuid::now_v7().to_string();
        let body = event_body(&id, kind, at, order);
        self.outbox
            .entry(creator)
            .or_default()
            .push_back(OutboxEvent {
                id,
                creator,
                kind: kind.to_string(),
                body,
            });
    }

    /// Gives a pending (or refunded) order's stock, deal units and buyer counts back.
    pub(super) fn release(&mut self, show: ShowId, order: &Order) {
        for line in &order.items {
            if let Some(p) = self.products.get_mut(&line.product_id) {
                p.stock += line.quantity;
            }
            if !line.deal {
                continue;
            }
            // Only the deal the units came from gets them back; a deal pinned after the
            // order was placed starts after it.
            let same_deal = self.pins.get_mut(&show).and_then(|pins| {
                pins.iter_mut().find(|p| {
                    p.pin.product_id == line.product_id
                        && p.pin
                            .deal
                            .as_ref()
                            .is_some_and(|d| d.starts_at <= order.created_at)
                })
            });
            if let Some(pin) = same_deal {
                pin.deal.remaining += line.quantity;
                if let Some(n) = self
                    .deal_buyers
                    .get_mut(&(show, line.product_id))
                    .and_then(|b| b.get_mut(&order.viewer_id))
                {
                    *n = (*n - line.quantity).max(0);
                }
                if let Some(n) = self.order_addresses.get(&order.id).and_then(|a| {
                    self.deal_addresses
                        .get_mut(&(show, line.product_id))
                        .and_then(|b| b.get_mut(a))
                }) {
                    *n = (*n - line.quantity).max(0);
                }
            }
        }
    }

    /// [`CommerceStore::checkout`], under the lock.
    fn checkout(&mut self, show: &Show, req: &CheckoutRequest) -> CheckoutOutcome {
        // From the stored record, not the caller's copy: a show that ended a moment ago sells
        // from its replay.
        let status = self.shows.get(&show.id).map(|stored| stored.status);
        let channel = match status.map(SalesChannel::of).transpose() {
            Ok(channel) => channel.unwrap_or_default(),
            Err(e) => return CheckoutOutcome::Refused(e),
        };
        let cart = self
            .carts
            .get(&(show.id, req.viewer))
            .cloned()
            .unwrap_or_default();
        let fingerprint = cart_fingerprint(&cart);
        let key = (show.id, req.viewer, req.key.clone());
        if let Some(used) = self.keys.get(&key) {
            let same_cart = cart.is_empty() || used.cart == fingerprint;
            if !same_cart || used.body != req.body_fingerprint {
                return CheckoutOutcome::KeyReused;
            }
            return match self.order(show.id, used.order) {
                Some(o) => CheckoutOutcome::Replayed(o.clone()),
                None => CheckoutOutcome::KeyReused,
            };
        }
        let (items, total) = match self.plan(show, req, &cart) {
            Ok(plan) => plan,
            Err(e) => return CheckoutOutcome::Refused(e),
        };
        self.take(show.id, req, &items);
        let order = Order {
            id: req.order_id,
            show_id: show.id,
            viewer_id: req.viewer,
            buyer_name: req.buyer_name.clone(),
            status: OrderStatus::PendingPayment,
            items,
            total,
            created_at: req.now,
            reserved_until: req.now + req.reserve_for,
            paid_at: None,
            failure: None,
            email: req.email.clone(),
            shipping: req.shipping.clone(),
            payment: None,
            refunded_at: None,
            channel,
        };
        if let Some(address) = req.address.as_ref().filter(|a| a.buyers > 0) {
            self.order_addresses.insert(order.id, address.key.clone());
        }
        self.orders.entry(show.id).or_default().push(order.clone());
        let body = req.body_fingerprint.clone();
        self.keys.insert(
            key,
            KeyUse {
                order: order.id,
                cart: fingerprint,
                body,
            },
        );
        self.reservation_shows.insert(show.id);
        self.carts.remove(&(show.id, req.viewer));
        self.push_event(show.creator_id, "order.created", req.now, &order);
        CheckoutOutcome::Created(order)
    }

    pub(super) fn order(&self, show: ShowId, id: OrderId) -> Option<&Order> {
        self.orders.get(&show)?.iter().find(|o| o.id == id)
    }

    /// Reads the facts of each cart line and applies `plan_checkout` and, with an address,
    /// `check_address_allowance`.
    fn plan(
        &self,
        show: &Show,
        req: &CheckoutRequest,
        cart: &CartLines,
    ) -> Result<(Vec<OrderLine>, Money), DomainError> {
        let pins = self
            .pins
            .get(&show.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut products = Vec::with_capacity(cart.len());
        for product_id in cart.keys() {
            match self.products.get(product_id) {
                Some(p) if p.creator_id == show.creator_id => products.push(p),
                _ => {
                    return Err(DomainError::not_found(
                        Code::ProductNotFound,
                        format!("product {product_id} is not sold in this show"),
                    ));
                }
            }
        }
        let facts: Vec<(CartLine, LineFacts<'_>)> = cart
            .values()
            .zip(products)
            .map(|(line, product)| {
                let pin = pins.iter().find(|p| p.pin.product_id == product.id);
                let facts = LineFacts {
                    product,
                    pin: pin.map(|p| &p.pin),
                    deal: pin.map(|p| p.deal).unwrap_or_default(),
                    bought_in_deal: count(&self.deal_buyers, (show.id, product.id), &req.viewer),
                };
                (*line, facts)
            })
            .collect();
        let (items, total) = plan_checkout(&facts, req.now)?;
        if let Some(address) = &req.address {
            let pinned: Vec<Pin> = pins.iter().map(|p| p.pin.clone()).collect();
            let bought =
                |product: ProductId| count(&self.deal_addresses, (show.id, product), &address.key);
            check_address_allowance(&items, &pinned, bought, i64::from(address.buyers))?;
        }
        Ok((items, total))
    }

    /// Takes the planned lines' stock, deal units and buyer (and address) counts.
    fn take(&mut self, show: ShowId, req: &CheckoutRequest, items: &[OrderLine]) {
        for line in items {
            if let Some(p) = self.products.get_mut(&line.product_id) {
                p.stock -= line.quantity;
            }
            if !line.deal {
                continue;
            }
            if let Some(pin) = self.pins.get_mut(&show).and_then(|pins| {
                pins.iter_mut()
                    .find(|p| p.pin.product_id == line.product_id)
            }) {
                pin.deal.remaining -= line.quantity;
            }
            *self
                .deal_buyers
                .entry((show, line.product_id))
                .or_default()
                .entry(req.viewer)
                .or_default() += line.quantity;
            if let Some(address) = req.address.as_ref().filter(|a| a.buyers > 0) {
                *self
                    .deal_addresses
                    .entry((show, line.product_id))
                    .or_default()
                    .entry(address.key.clone())
                    .or_default() += line.quantity;
            }
        }
    }
}

/// What `who` has bought or holds of the deal on `at` (0 when nothing).
fn count<K, Q>(map: &HashMap<K, HashMap<Q, i64>>, at: K, who: &Q) -> i64
where
    K: std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq,
{
    map.get(&at).and_then(|b| b.get(who)).copied().unwrap_or(0)
}

#[async_trait]
impl CommerceStore for MemoryStore {
    async fn pins(&self, show: &Show) -> Result<Vec<PinState>, StoreError> {
        Ok(self.with(|s| s.pins.get(&show.id).cloned().unwrap_or_default()))
    }

    async fn pin(
        &self,
        show: &Show,
        pin: &Pin,
    ) -> Result<Result<Vec<PinState>, DomainError>, StoreError> {
        Ok(self.with(|s| {
            let current = s.pins.get(&show.id).cloned().unwrap_or_default();
            let plain: Vec<Pin> = current.iter().map(|p| p.pin.clone()).collect();
            let lineup = s.lineups.get(&show.id).cloned().unwrap_or_default();
            let order = match add_pin(&plain, pin.clone(), &lineup) {
                Ok(order) => order,
                Err(e) => return Err(e),
            };
            let next: Vec<PinState> = order
                .into_iter()
                .map(|p| {
                    if p.product_id == pin.product_id {
                        let remaining = p.deal.as_ref().map(|d| d.quantity).unwrap_or(0);
                        PinState {
                            pin: p,
                            deal: DealState { remaining },
                        }
                    } else {
                        current
                            .iter()
                            .find(|c| c.pin.product_id == p.product_id)
                            .cloned()
                            .unwrap_or(PinState {
                                pin: p,
                                deal: DealState::default(),
                            })
                    }
                })
                .collect();
            if pin.deal.is_some() {
                s.deal_buyers.remove(&(show.id, pin.product_id));
                s.deal_addresses.remove(&(show.id, pin.product_id));
            }
            s.pins.insert(show.id, next.clone());
            Ok(next)
        }))
    }

    async fn unpin(
        &self,
        show: &Show,
        product: ProductId,
    ) -> Result<Option<Vec<PinState>>, StoreError> {
        Ok(self.with(|s| {
            let pins = s.pins.entry(show.id).or_default();
            let before = pins.len();
            pins.retain(|p| p.pin.product_id != product);
            (pins.len() != before).then(|| pins.clone())
        }))
    }

    async fn cart(&self, show: &Show, viewer: ViewerId) -> Result<CartLines, StoreError> {
        Ok(self.with(|s| s.carts.get(&(show.id, viewer)).cloned().unwrap_or_default()))
    }

    async fn give_back_cart(
        &self,
        show: &Show,
        viewer: ViewerId,
        lines: &CartLines,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            crate::domain::commerce::give_back(s.carts.entry((show.id, viewer)).or_default(), lines)
        });
        Ok(())
    }

    async fn set_cart_line(
        &self,
        show: &Show,
        viewer: ViewerId,
        product: ProductId,
        line: Option<CartLine>,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let cart = s.carts.entry((show.id, viewer)).or_default();
            match line {
                Some(line) => {
                    cart.insert(product, line);
                }
                None => {
                    cart.remove(&product);
                }
            }
        });
        Ok(())
    }

    async fn deal_bought(
        &self,
        show: &Show,
        product: ProductId,
        viewer: ViewerId,
    ) -> Result<i64, StoreError> {
        Ok(self.with(|s| {
            s.deal_buyers
                .get(&(show.id, product))
                .and_then(|b| b.get(&viewer))
                .copied()
                .unwrap_or(0)
        }))
    }

    async fn checkout(
        &self,
        show: &Show,
        req: &CheckoutRequest,
    ) -> Result<CheckoutOutcome, StoreError> {
        Ok(self.with(|s| s.checkout(show, req)))
    }

    async fn complete_order(
        &self,
        show: &Show,
        order: OrderId,
        outcome: &Completion,
    ) -> Result<Option<Order>, StoreError> {
        Ok(self.with(|s| {
            let current = s
                .orders
                .get(&show.id)?
                .iter()
                .find(|o| o.id == order)?
                .clone();
            if current.status != OrderStatus::PendingPayment {
                return Some(current);
            }
            let mut next = current.clone();
            let (kind, at) = match outcome {
                Completion::Paid { at } => {
                    next.status = OrderStatus::Paid;
                    next.paid_at = Some(*at);
                    ("order.paid", *at)
                }
                Completion::Failed { reason, at } => {
                    s.release(show.id, &current);
                    next.status = OrderStatus::Failed;
                    next.failure = Some(reason.clone());
                    ("order.failed", *at)
                }
            };
            if let Some(o) = s
                .orders
                .get_mut(&show.id)
                .and_then(|o| o.iter_mut().find(|o| o.id == order))
            {
                *o = next.clone();
            }
            s.push_event(show.creator_id, kind, at, &next);
            Some(next)
        }))
    }

    async fn expire_reservations(
        &self,
        show: &Show,
        now: Timestamp,
    ) -> Result<Vec<Order>, StoreError> {
        Ok(self.with(|s| {
            let due: Vec<Order> = s
                .orders
                .get(&show.id)
                .map(|orders| {
                    orders
                        .iter()
                        .filter(|o| {
                            o.status == OrderStatus::PendingPayment && o.reserved_until <= now
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let mut expired = Vec::with_capacity(due.len());
            for order in due {
                s.release(show.id, &order);
                let mut next = order.clone();
                next.status = OrderStatus::Expired;
                next.failure = Some("the reservation expired before the payment finished".into());
                if let Some(o) = s
                    .orders
                    .get_mut(&show.id)
                    .and_then(|o| o.iter_mut().find(|o| o.id == order.id))
                {
                    *o = next.clone();
                }
                s.push_event(show.creator_id, "order.expired", now, &next);
                expired.push(next);
            }
            expired
        }))
    }

    async fn shows_with_reservations(&self) -> Result<Vec<ShowId>, StoreError> {
        Ok(self.with(|s| s.reservation_shows.iter().copied().collect()))
    }

    async fn orders(&self, show: &Show) -> Result<Vec<Order>, StoreError> {
        Ok(self.with(|s| s.orders.get(&show.id).cloned().unwrap_or_default()))
    }

    async fn viewer_orders(&self, show: &Show, viewer: ViewerId) -> Result<Vec<Order>, StoreError> {
        Ok(self.with(|s| {
            s.orders
                .get(&show.id)
                .map(|o| {
                    o.iter()
                        .filter(|o| o.viewer_id == viewer)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    async fn order(&self, show: &Show, id: OrderId) -> Result<Option<Order>, StoreError> {
        Ok(self.with(|s| s.order(show.id, id).cloned()))
    }

    async fn set_webhook(
        &self,
        creator: CreatorId,
        hook: Option<&Webhook>,
    ) -> Result<(), StoreError> {
        self.with(|s| match hook {
            Some(h) => {
                s.webhooks.insert(creator, h.clone());
            }
            None => {
                s.webhooks.remove(&creator);
            }
        });
        Ok(())
    }

    async fn webhook(&self, creator: CreatorId) -> Result<Option<Webhook>, StoreError> {
        Ok(self.with(|s| s.webhooks.get(&creator).cloned()))
    }

    async fn webhook_creators(&self) -> Result<Vec<CreatorId>, StoreError> {
        Ok(self.with(|s| s.webhooks.keys().copied().collect()))
    }

    async fn outbox_pending(
        &self,
        creator: CreatorId,
        max: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        Ok(self.with(|s| {
            s.outbox
                .get(&creator)
                .map(|q| q.iter().take(max).cloned().collect())
                .unwrap_or_default()
        }))
    }

    async fn outbox_ack(&self, creator: CreatorId, event_id: &str) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(q) = s.outbox.get_mut(&creator) {
                q.retain(|e| e.id != event_id);
            }
        });
        Ok(())
    }

    async fn queue_event(
        &self,
        creator: CreatorId,
        event_id: &str,
        kind: &str,
        at: Timestamp,
        sample: &Order,
    ) -> Result<(), StoreError> {
        let event = OutboxEvent {
            id: event_id.to_string(),
            creator,
            kind: kind.to_string(),
            body: event_body(event_id, kind, at, sample),
        };
        self.with(|s| s.outbox.entry(creator).or_default().push_back(event));
        Ok(())
    }

    async fn record_delivery(
        &self,
        creator: CreatorId,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        self.with(|s| record_delivery(s.deliveries.entry(creator).or_default(), delivery.clone()));
        Ok(())
    }

    async fn deliveries(&self, creator: CreatorId) -> Result<Vec<Delivery>, StoreError> {
        Ok(self.with(|s| s.deliveries.get(&creator).cloned().unwrap_or_default()))
    }
}
