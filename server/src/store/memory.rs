//! The embedded store: everything in one process's memory, behind one short-held lock.
//! State dies with the process; the server warns about that at start.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use super::commerce::{
    CheckoutOutcome, CheckoutRequest, Completion, OutboxEvent, PinState, Webhook, cart_fingerprint,
    event_body,
};
use super::{DemoRecord, Page, PageAfter, ProductInsert, Store, StoreError};
use crate::domain::chat::ChatMessage;
use crate::domain::commerce::{
    CartLine, CartLines, DealState, LineFacts, Order, OrderStatus, Pin, add_pin,
    check_address_allowance, plan_checkout,
};
use crate::domain::limits::{Budget, BudgetKey, DeviceId};
use crate::domain::moderation::{AuditEntry, ChatPolicy, HeldMessage, Standing};
use crate::domain::protocol::BanScope;
use crate::domain::{
    Creator, CreatorId, DomainError, InviteId, Product, ProductId, Show, ShowId, ShowStatus,
    Timestamp, Viewer, ViewerId,
};

/// What an idempotency key was first used for.
struct KeyUse {
    order: uuid::Uuid,
    cart: String,
    body: String,
}

#[derive(Default)]
struct State {
    secret: Option<String>,
    demo: Option<DemoRecord>,
    creators: HashMap<CreatorId, Creator>,
    shows: HashMap<ShowId, Show>,
    products: HashMap<ProductId, Product>,
    skus: HashMap<(CreatorId, String), ProductId>,
    /// Products per creator, for the quota (products are never deleted).
    catalog_sizes: HashMap<CreatorId, u64>,
    lineups: HashMap<ShowId, Vec<ProductId>>,
    viewers: HashMap<(ShowId, ViewerId), Viewer>,
    pins: HashMap<ShowId, Vec<PinState>>,
    deal_buyers: HashMap<(ShowId, ProductId), HashMap<ViewerId, i64>>,
    /// Deal units bought or held per client address ([`crate::domain::commerce::address_key`]).
    deal_addresses: HashMap<(ShowId, ProductId), HashMap<String, i64>>,
    /// The address key an order's deal units count under.
    order_addresses: HashMap<uuid::Uuid, String>,
    carts: HashMap<(ShowId, ViewerId), CartLines>,
    orders: HashMap<ShowId, Vec<Order>>,
    keys: HashMap<(ShowId, ViewerId, String), KeyUse>,
    reservation_shows: BTreeSet<ShowId>,
    webhooks: HashMap<CreatorId, Webhook>,
    outbox: HashMap<CreatorId, VecDeque<OutboxEvent>>,
    policies: HashMap<ShowId, ChatPolicy>,
    show_bans: HashSet<(ShowId, String)>,
    creator_bans: HashSet<(CreatorId, String)>,
    timeouts: HashMap<(ShowId, String), Timestamp>,
    last_messages: HashMap<(ShowId, String), Timestamp>,
    held: HashMap<ShowId, Vec<HeldMessage>>,
    pinned_messages: HashMap<ShowId, ChatMessage>,
    audit: HashMap<ShowId, Vec<AuditEntry>>,
    revoked: HashSet<(ShowId, InviteId)>,
    /// Invitations minted, so revoking an unknown one can say so.
    invites: HashSet<(ShowId, InviteId)>,
    leases: HashMap<String, (String, std::time::Instant)>,
}

impl State {
    fn push_event(&mut self, creator: CreatorId, kind: &str, at: Timestamp, order: &Order) {
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

    /// Gives a pending order's stock, deal units and buyer counts back.
    fn release(&mut self, show: ShowId, order: &Order) {
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
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    limits: Mutex<super::memory_limits::Limits>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // A panic while holding the lock cannot leave a half-applied change behind (every
        // closure validates before it writes), so a poisoned lock is safe to keep using.
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn limits<R>(&self, f: impl FnOnce(&mut super::memory_limits::Limits) -> R) -> R {
        let mut guard = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn secret_or_init(&self, candidate: &str) -> Result<String, StoreError> {
        Ok(self.with(|s| {
            s.secret
                .get_or_insert_with(|| candidate.to_string())
                .clone()
        }))
    }

    async fn has_data(&self) -> Result<bool, StoreError> {
        Ok(self.with(|s| !s.creators.is_empty()))
    }

    async fn demo(&self) -> Result<Option<DemoRecord>, StoreError> {
        Ok(self.with(|s| s.demo.clone()))
    }

    async fn claim_demo(&self, demo: &DemoRecord) -> Result<DemoRecord, StoreError> {
        Ok(self.with(|s| s.demo.get_or_insert_with(|| demo.clone()).clone()))
    }

    async fn insert_creator(&self, creator: &Creator) -> Result<(), StoreError> {
        self.with(|s| s.creators.insert(creator.id, creator.clone()));
        Ok(())
    }

    async fn creator(&self, id: CreatorId) -> Result<Option<Creator>, StoreError> {
        Ok(self.with(|s| s.creators.get(&id).cloned()))
    }

    async fn insert_show(&self, show: &Show) -> Result<(), StoreError> {
        self.with(|s| s.shows.insert(show.id, show.clone()));
        Ok(())
    }

    async fn show(&self, id: ShowId) -> Result<Option<Show>, StoreError> {
        Ok(self.with(|s| s.shows.get(&id).cloned()))
    }

    async fn shows(&self) -> Result<Vec<Show>, StoreError> {
        let mut shows: Vec<Show> = self.with(|s| s.shows.values().cloned().collect());
        shows.sort_by_key(|s| (s.scheduled_at, s.id));
        Ok(shows)
    }

    async fn shows_page(
        &self,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Show>, StoreError> {
        Ok(Page::of(self.shows().await?, PageAfter::show, after, limit))
    }

    async fn update_show(&self, show: &Show, expected: ShowStatus) -> Result<bool, StoreError> {
        Ok(self.with(|s| match s.shows.get_mut(&show.id) {
            Some(stored) if stored.status == expected => {
                *stored = show.clone();
                true
            }
            _ => false,
        }))
    }

    async fn insert_product_within(
        &self,
        product: &Product,
        max_products: u64,
    ) -> Result<ProductInsert, StoreError> {
        Ok(self.with(|s| {
            let key = (product.creator_id, product.sku.clone());
            if s.skus.contains_key(&key) {
                return ProductInsert::DuplicateSku;
            }
            let count = s.catalog_sizes.entry(product.creator_id).or_default();
            if *count >= max_products {
                return ProductInsert::OverQuota;
            }
            *count += 1;
            s.skus.insert(key, product.id);
            s.products.insert(product.id, product.clone());
            ProductInsert::Inserted
        }))
    }

    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(old) = s.products.insert(product.id, product.clone())
                && old.sku != product.sku
            {
                s.skus.remove(&(old.creator_id, old.sku));
                s.skus
                    .insert((product.creator_id, product.sku.clone()), product.id);
            }
        });
        Ok(())
    }

    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        Ok(self.with(|s| s.products.get(&id).cloned()))
    }

    async fn product_by_sku(
        &self,
        creator: CreatorId,
        sku: &str,
    ) -> Result<Option<Product>, StoreError> {
        Ok(self.with(|s| {
            s.skus
                .get(&(creator, sku.to_string()))
                .and_then(|id| s.products.get(id))
                .cloned()
        }))
    }

    async fn products(&self, creator: CreatorId) -> Result<Vec<Product>, StoreError> {
        let mut list: Vec<Product> = self.with(|s| {
            s.products
                .values()
                .filter(|p| p.creator_id == creator)
                .cloned()
                .collect()
        });
        list.sort_by_key(|p| (p.created_at, p.id));
        Ok(list)
    }

    async fn products_page(
        &self,
        creator: CreatorId,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Product>, StoreError> {
        Ok(Page::of(
            self.products(creator).await?,
            PageAfter::product,
            after,
            limit,
        ))
    }

    async fn add_to_lineup(&self, show: &Show, product: ProductId) -> Result<(), StoreError> {
        self.with(|s| {
            let lineup = s.lineups.entry(show.id).or_default();
            if !lineup.contains(&product) {
                lineup.push(product);
            }
        });
        Ok(())
    }

    async fn lineup(&self, show: &Show) -> Result<Vec<ProductId>, StoreError> {
        Ok(self.with(|s| s.lineups.get(&show.id).cloned().unwrap_or_default()))
    }

    async fn insert_viewer(&self, show: &Show, viewer: &Viewer) -> Result<(), StoreError> {
        self.with(|s| s.viewers.insert((show.id, viewer.id), viewer.clone()));
        Ok(())
    }

    async fn viewer(&self, show: &Show, id: ViewerId) -> Result<Option<Viewer>, StoreError> {
        Ok(self.with(|s| s.viewers.get(&(show.id, id)).cloned()))
    }

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
        Ok(self.with(|s| {
            if s.shows
                .get(&show.id)
                .is_some_and(|stored| stored.status == ShowStatus::Ended)
            {
                return CheckoutOutcome::Refused(DomainError::conflict(
                    "show_ended",
                    "this show has ended",
                ));
            }
            let cart = s
                .carts
                .get(&(show.id, req.viewer))
                .cloned()
                .unwrap_or_default();
            let fingerprint = cart_fingerprint(&cart);
            let key = (show.id, req.viewer, req.key.clone());
            if let Some(used) = s.keys.get(&key) {
                let same_cart = cart.is_empty() || used.cart == fingerprint;
                if !same_cart || used.body != req.body_fingerprint {
                    return CheckoutOutcome::KeyReused;
                }
                let order = s
                    .orders
                    .get(&show.id)
                    .and_then(|o| o.iter().find(|o| o.id == used.order))
                    .cloned();
                return match order {
                    Some(o) => CheckoutOutcome::Replayed(o),
                    None => CheckoutOutcome::KeyReused,
                };
            }
            let pins = s.pins.get(&show.id).cloned().unwrap_or_default();
            let mut products = Vec::with_capacity(cart.len());
            for product_id in cart.keys() {
                match s.products.get(product_id) {
                    Some(p) if p.creator_id == show.creator_id => products.push(p.clone()),
                    _ => {
                        return CheckoutOutcome::Refused(DomainError::not_found(
                            "product_not_found",
                            format!("product {product_id} is not sold in this show"),
                        ));
                    }
                }
            }
            let facts: Vec<(CartLine, LineFacts<'_>)> = cart
                .values()
                .zip(&products)
                .map(|(line, product)| {
                    let pin = pins.iter().find(|p| p.pin.product_id == product.id);
                    let bought = s
                        .deal_buyers
                        .get(&(show.id, product.id))
                        .and_then(|b| b.get(&req.viewer))
                        .copied()
                        .unwrap_or(0);
                    (
                        *line,
                        LineFacts {
                            product,
                            pin: pin.map(|p| &p.pin),
                            deal: pin.map(|p| p.deal).unwrap_or_default(),
                            bought_in_deal: bought,
                        },
                    )
                })
                .collect();
            let (items, total) = match plan_checkout(&facts, req.now) {
                Ok(plan) => plan,
                Err(e) => return CheckoutOutcome::Refused(e),
            };
            if let Some(address) = &req.address {
                let pinned: Vec<Pin> = pins.iter().map(|p| p.pin.clone()).collect();
                let bought = |product: ProductId| {
                    s.deal_addresses
                        .get(&(show.id, product))
                        .and_then(|b| b.get(&address.key))
                        .copied()
                        .unwrap_or(0)
                };
                if let Err(e) =
                    check_address_allowance(&items, &pinned, bought, i64::from(address.buyers))
                {
                    return CheckoutOutcome::Refused(e);
                }
            }
            for line in &items {
                if let Some(p) = s.products.get_mut(&line.product_id) {
                    p.stock -= line.quantity;
                }
                if line.deal {
                    if let Some(pin) = s.pins.get_mut(&show.id).and_then(|pins| {
                        pins.iter_mut()
                            .find(|p| p.pin.product_id == line.product_id)
                    }) {
                        pin.deal.remaining -= line.quantity;
                    }
                    *s.deal_buyers
                        .entry((show.id, line.product_id))
                        .or_default()
                        .entry(req.viewer)
                        .or_default() += line.quantity;
                    if let Some(address) = req.address.as_ref().filter(|a| a.buyers > 0) {
                        *s.deal_addresses
                            .entry((show.id, line.product_id))
                            .or_default()
                            .entry(address.key.clone())
                            .or_default() += line.quantity;
                    }
                }
            }
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
            };
            if let Some(address) = req.address.as_ref().filter(|a| a.buyers > 0) {
                s.order_addresses.insert(order.id, address.key.clone());
            }
            s.orders.entry(show.id).or_default().push(order.clone());
            s.keys.insert(
                key,
                KeyUse {
                    order: order.id,
                    cart: fingerprint,
                    body: req.body_fingerprint.clone(),
                },
            );
            s.reservation_shows.insert(show.id);
            s.carts.remove(&(show.id, req.viewer));
            s.push_event(show.creator_id, "order.created", req.now, &order);
            CheckoutOutcome::Created(order)
        }))
    }

    async fn complete_order(
        &self,
        show: &Show,
        order: uuid::Uuid,
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
                Completion::Failed { reason } => {
                    s.release(show.id, &current);
                    next.status = OrderStatus::Failed;
                    next.failure = Some(reason.clone());
                    ("order.failed", chrono::Utc::now())
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

    async fn order(&self, show: &Show, id: uuid::Uuid) -> Result<Option<Order>, StoreError> {
        Ok(self.with(|s| {
            s.orders
                .get(&show.id)
                .and_then(|o| o.iter().find(|o| o.id == id))
                .cloned()
        }))
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

    async fn chat_policy(&self, show: &Show) -> Result<ChatPolicy, StoreError> {
        Ok(self.with(|s| s.policies.get(&show.id).cloned().unwrap_or_default()))
    }

    async fn set_chat_policy(&self, show: &Show, policy: &ChatPolicy) -> Result<(), StoreError> {
        self.with(|s| s.policies.insert(show.id, policy.clone()));
        Ok(())
    }

    async fn standing(&self, show: &Show, member: &str) -> Result<Standing, StoreError> {
        Ok(self.with(|s| {
            let key = (show.id, member.to_string());
            Standing {
                banned: s.show_bans.contains(&key)
                    || s.creator_bans
                        .contains(&(show.creator_id, member.to_string())),
                // A timeout that has run out is no timeout (as in Redis).
                timed_out_until: s
                    .timeouts
                    .get(&key)
                    .copied()
                    .filter(|t| *t > chrono::Utc::now()),
                last_message_at: s.last_messages.get(&key).copied(),
            }
        }))
    }

    async fn record_message(
        &self,
        show: &Show,
        member: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.with(|s| s.last_messages.insert((show.id, member.to_string()), at));
        Ok(())
    }

    async fn set_timeout(
        &self,
        show: &Show,
        member: &str,
        until: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let key = (show.id, member.to_string());
            match until {
                Some(t) => s.timeouts.insert(key, t),
                None => s.timeouts.remove(&key),
            }
        });
        Ok(())
    }

    async fn set_ban(
        &self,
        show: &Show,
        member: &str,
        scope: BanScope,
        banned: bool,
    ) -> Result<(), StoreError> {
        self.with(|s| match (scope, banned) {
            (BanScope::Show, true) => {
                s.show_bans.insert((show.id, member.to_string()));
            }
            (BanScope::Show, false) => {
                s.show_bans.remove(&(show.id, member.to_string()));
            }
            (BanScope::Creator, true) => {
                s.creator_bans.insert((show.creator_id, member.to_string()));
            }
            (BanScope::Creator, false) => {
                s.creator_bans
                    .remove(&(show.creator_id, member.to_string()));
                s.show_bans.remove(&(show.id, member.to_string()));
            }
        });
        Ok(())
    }

    async fn hold_message(&self, show: &Show, held: &HeldMessage) -> Result<(), StoreError> {
        self.with(|s| s.held.entry(show.id).or_default().push(held.clone()));
        Ok(())
    }

    async fn take_held(&self, show: &Show, id: &str) -> Result<Option<HeldMessage>, StoreError> {
        Ok(self.with(|s| {
            let list = s.held.get_mut(&show.id)?;
            let at = list.iter().position(|h| h.message.id == id)?;
            Some(list.remove(at))
        }))
    }

    async fn held_messages(&self, show: &Show) -> Result<Vec<HeldMessage>, StoreError> {
        Ok(self.with(|s| s.held.get(&show.id).cloned().unwrap_or_default()))
    }

    async fn set_pinned_message(
        &self,
        show: &Show,
        message: Option<&ChatMessage>,
    ) -> Result<(), StoreError> {
        self.with(|s| match message {
            Some(m) => s.pinned_messages.insert(show.id, m.clone()),
            None => s.pinned_messages.remove(&show.id),
        });
        Ok(())
    }

    async fn pinned_message(&self, show: &Show) -> Result<Option<ChatMessage>, StoreError> {
        Ok(self.with(|s| s.pinned_messages.get(&show.id).cloned()))
    }

    async fn append_audit(&self, show: &Show, entry: &AuditEntry) -> Result<(), StoreError> {
        self.with(|s| s.audit.entry(show.id).or_default().push(entry.clone()));
        Ok(())
    }

    async fn audit_log(&self, show: &Show, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self.with(|s| {
            let all = s.audit.get(&show.id).map(Vec::as_slice).unwrap_or_default();
            all[all.len().saturating_sub(limit)..].to_vec()
        }))
    }

    async fn record_invite(&self, show: ShowId, invite: InviteId) -> Result<(), StoreError> {
        self.with(|s| s.invites.insert((show, invite)));
        Ok(())
    }

    async fn revoke_invite(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError> {
        Ok(self.with(|s| {
            let known = s.invites.contains(&(show, invite));
            if known {
                s.revoked.insert((show, invite));
            }
            known
        }))
    }

    async fn is_revoked(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError> {
        Ok(self.with(|s| s.revoked.contains(&(show, invite))))
    }

    async fn take_budget(
        &self,
        key: &BudgetKey,
        budget: Budget,
        now_ms: u64,
    ) -> Result<Result<(), std::time::Duration>, StoreError> {
        Ok(self.limits(|l| l.take_budget(key, budget, now_ms)))
    }

    async fn device_viewer(
        &self,
        creator: CreatorId,
        device: &DeviceId,
    ) -> Result<Option<ViewerId>, StoreError> {
        Ok(self.limits(|l| l.device_viewer(creator, device)))
    }

    async fn bind_device(
        &self,
        creator: CreatorId,
        device: &DeviceId,
        viewer: ViewerId,
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.limits(|l| l.bind_device(creator, device, viewer, ttl));
        Ok(())
    }

    async fn note_join_address(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
        address: std::net::IpAddr,
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        self.limits(|l| l.note_join_address(creator, viewer, address, ttl));
        Ok(())
    }

    async fn join_address(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
    ) -> Result<Option<std::net::IpAddr>, StoreError> {
        Ok(self.limits(|l| l.join_address(creator, viewer)))
    }

    async fn set_address_ban(
        &self,
        show: &Show,
        scope: BanScope,
        address: std::net::IpAddr,
        until: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.limits(|l| l.set_address_ban(show.creator_id, show.id, scope, address, until));
        Ok(())
    }

    async fn address_banned(
        &self,
        show: &Show,
        address: std::net::IpAddr,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self.limits(|l| l.address_banned(show.creator_id, show.id, address, now)))
    }

    async fn lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let now = std::time::Instant::now();
        Ok(self.with(|s| match s.leases.get(name) {
            Some((owner, until)) if owner != holder && *until > now => false,
            _ => {
                s.leases
                    .insert(name.to_string(), (holder.to_string(), now + ttl));
                true
            }
        }))
    }

    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let now = std::time::Instant::now();
        Ok(self.with(|s| {
            s.leases
                .get(name)
                .filter(|(_, until)| *until > now)
                .map(|(holder, _)| holder.clone())
        }))
    }
}
