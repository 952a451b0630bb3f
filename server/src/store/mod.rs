//! State behind one seam: `trait Store`, with an embedded [`MemoryStore`] for a single node and
//! tests, and a [`RedisStore`] for production and several nodes.
//!
//! The store keeps records; it does not decide rules (that is `domain/`). Operations that must
//! be atomic across requests (a status change, later stock and holds) are single store calls,
//! done under one lock in memory and in one command or Lua script in Redis. The contract tests
//! in tests/store_contract.rs run unchanged against both implementations.

pub mod commerce;
mod memory;
mod memory_limits;
mod redis;
mod redis_commerce;
mod redis_limits;
mod redis_moderation;

pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;
pub(crate) use self::redis::connect_manager;

use async_trait::async_trait;

use crate::domain::InviteId;
use crate::domain::chat::ChatMessage;
use crate::domain::commerce::{CartLine, CartLines, Order, Pin};
use crate::domain::limits::{Budget, BudgetKey, DeviceId};
use crate::domain::moderation::{AuditEntry, ChatPolicy, HeldMessage, Standing};
use crate::domain::protocol::BanScope;
use crate::domain::{
    Creator, CreatorId, DomainError, Product, ProductId, Show, ShowId, ShowStatus, Timestamp,
    Viewer, ViewerId,
};
pub use commerce::{CheckoutOutcome, CheckoutRequest, Completion, OutboxEvent, PinState, Webhook};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service cannot be reached or did not answer in time (maps to 503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (a bug or a foreign writer; maps to 500).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// Where the demo seeded by the first start lives, so later starts can print its links.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DemoRecord {
    pub creator_id: CreatorId,
    pub show_id: ShowId,
}

/// What [`Store::insert_product_within`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductInsert {
    Inserted,
    /// The creator already has a product with this SKU; nothing changed.
    DuplicateSku,
    /// The creator already has the most products allowed; nothing changed.
    OverQuota,
}

pub type SharedStore = std::sync::Arc<dyn Store>;

/// Where a page of a listing starts: strictly after the item with this sort key. Listings are
/// ordered by a time (a show's `scheduled_at`, a product's `created_at`) and then by id, so a
/// key names one position that items inserted later never shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageAfter {
    pub at: Timestamp,
    pub id: uuid::Uuid,
}

impl PageAfter {
    /// The sort key of a show in [`Store::shows`].
    pub fn show(show: &Show) -> Self {
        PageAfter {
            at: show.scheduled_at,
            id: show.id.0,
        }
    }

    /// The sort key of a product in [`Store::products`].
    pub fn product(product: &Product) -> Self {
        PageAfter {
            at: product.created_at,
            id: product.id.0,
        }
    }
}

/// One page of a listing, and whether more items follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

impl<T> Page<T> {
    /// The page of `sorted` (in listing order, each with its sort key) after `after`.
    pub fn of(
        sorted: Vec<T>,
        key: impl Fn(&T) -> PageAfter,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Self {
        let mut items: Vec<T> = sorted
            .into_iter()
            .filter(|item| after.is_none_or(|a| key(item) > a))
            .take(limit.saturating_add(1))
            .collect();
        let more = items.len() > limit;
        items.truncate(limit);
        Page { items, more }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"memory"` or `"redis"`, for logs and metrics.
    fn kind(&self) -> &'static str;

    /// Succeeds when the store can serve requests (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The token-signing secret: the stored one, or `candidate` stored now if there is none.
    /// The first writer wins, so nodes that start together agree.
    async fn secret_or_init(&self, candidate: &str) -> Result<String, StoreError>;

    /// Whether any creator exists (an empty store gets the demo).
    async fn has_data(&self) -> Result<bool, StoreError>;
    async fn demo(&self) -> Result<Option<DemoRecord>, StoreError>;
    /// Records `demo` as the demo unless one is recorded already; returns the record that is
    /// in force (ours, or the one another node claimed first).
    async fn claim_demo(&self, demo: &DemoRecord) -> Result<DemoRecord, StoreError>;

    async fn insert_creator(&self, creator: &Creator) -> Result<(), StoreError>;
    async fn creator(&self, id: CreatorId) -> Result<Option<Creator>, StoreError>;

    async fn insert_show(&self, show: &Show) -> Result<(), StoreError>;
    async fn show(&self, id: ShowId) -> Result<Option<Show>, StoreError>;
    /// The show as `show` returns it, or as this node read it at most a second ago (the
    /// Redis store keeps such a copy; a show changed through this node is read afresh). Only
    /// for callers whose later store call re-checks what matters from the stored record:
    /// checkout, which refuses an ended show itself.
    async fn show_recent(&self, id: ShowId) -> Result<Option<Show>, StoreError> {
        self.show(id).await
    }
    /// Every show, ordered by `scheduled_at` then id.
    async fn shows(&self) -> Result<Vec<Show>, StoreError>;
    /// At most `limit` shows of [`Self::shows`]' order, after `after` (from the first when
    /// `None`), and whether more follow.
    async fn shows_page(
        &self,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Show>, StoreError>;
    /// Saves `show` only if the stored status is still `expected`; `false` when another
    /// request changed it first (the caller reloads and re-applies the rule).
    async fn update_show(&self, show: &Show, expected: ShowStatus) -> Result<bool, StoreError>;

    /// Inserts a product; `false` when its creator already has a product with that SKU.
    /// No quota applies (the demo seed and tests); requests go through
    /// [`Self::insert_product_within`].
    async fn insert_product(&self, product: &Product) -> Result<bool, StoreError> {
        let outcome = self.insert_product_within(product, u64::MAX).await?;
        Ok(outcome == ProductInsert::Inserted)
    }
    /// Inserts a product unless its creator already has one with that SKU or already has
    /// `max_products` products (`--max-products-per-creator`); the check and the insert are
    /// one atomic step, so concurrent creates cannot overshoot the quota.
    async fn insert_product_within(
        &self,
        product: &Product,
        max_products: u64,
    ) -> Result<ProductInsert, StoreError>;
    /// Replaces a stored product's fields, stock included (same id, same SKU owner).
    async fn update_product(&self, product: &Product) -> Result<(), StoreError>;
    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError>;
    async fn product_by_sku(
        &self,
        creator: CreatorId,
        sku: &str,
    ) -> Result<Option<Product>, StoreError>;
    /// A creator's catalog, ordered by creation then id.
    async fn products(&self, creator: CreatorId) -> Result<Vec<Product>, StoreError>;
    /// At most `limit` products of [`Self::products`]' order, after `after` (from the first
    /// when `None`), and whether more follow.
    async fn products_page(
        &self,
        creator: CreatorId,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Product>, StoreError>;

    /// Adds a product to a show's lineup; adding it twice keeps one entry.
    async fn add_to_lineup(&self, show: &Show, product: ProductId) -> Result<(), StoreError>;
    /// The lineup in the order products were added.
    async fn lineup(&self, show: &Show) -> Result<Vec<ProductId>, StoreError>;

    async fn insert_viewer(&self, show: &Show, viewer: &Viewer) -> Result<(), StoreError>;
    async fn viewer(&self, show: &Show, id: ViewerId) -> Result<Option<Viewer>, StoreError>;

    // ---- Commerce -----------------------------------------------------------------------

    /// The show's pins in the order they were pinned, with their deals' live numbers.
    async fn pins(&self, show: &Show) -> Result<Vec<PinState>, StoreError>;

    /// Pins (or re-pins) `pin.product_id`, applying `domain::commerce::add_pin` against the
    /// stored lineup and pins atomically. A pin with a deal starts that deal afresh: its
    /// remaining quantity is the deal's quantity and no buyer has bought in it yet (units of an
    /// earlier deal stay sold). Returns the new pins, or the rule's refusal.
    async fn pin(
        &self,
        show: &Show,
        pin: &Pin,
    ) -> Result<Result<Vec<PinState>, DomainError>, StoreError>;

    /// Unpins a product; `None` when it was not pinned.
    async fn unpin(
        &self,
        show: &Show,
        product: ProductId,
    ) -> Result<Option<Vec<PinState>>, StoreError>;

    /// The viewer's cart in the show (empty when none or expired).
    async fn cart(&self, show: &Show, viewer: ViewerId) -> Result<CartLines, StoreError>;

    /// Sets (`Some`) or removes (`None`) one cart line, and refreshes the cart's lifetime.
    async fn set_cart_line(
        &self,
        show: &Show,
        viewer: ViewerId,
        product: ProductId,
        line: Option<CartLine>,
    ) -> Result<(), StoreError>;

    /// Gives a failed or expired order's lines back to the viewer's cart
    /// ([`crate::domain::commerce::give_back`]: products in the cart since stay as they are).
    async fn give_back_cart(
        &self,
        show: &Show,
        viewer: ViewerId,
        lines: &CartLines,
    ) -> Result<(), StoreError>;

    /// Deal units of `product` that the viewer bought or holds reserved in the current deal.
    async fn deal_bought(
        &self,
        show: &Show,
        product: ProductId,
        viewer: ViewerId,
    ) -> Result<i64, StoreError>;

    /// The checkout, as one atomic step: when the stored show has ended, the refusal
    /// `show_ended`. With a known idempotency key, the earlier order (same
    /// cart — or the cart this checkout emptied — and same body) or `KeyReused`. Otherwise read
    /// the cart and, for each line, the product's stock, its pin, the deal's remaining units
    /// and the buyer's deal count; apply `domain::commerce::plan_checkout`; and on success
    /// take the stock, deal units and buyer counts, store the order as pending payment with
    /// its reservation deadline and the key, append an `order.created` outbox event, and empty
    /// the cart. A refusal changes nothing.
    async fn checkout(
        &self,
        show: &Show,
        req: &CheckoutRequest,
    ) -> Result<CheckoutOutcome, StoreError>;

    /// Settles a pending order atomically: paid (appends `order.paid`), or failed (returns its
    /// stock, deal units and buyer counts; appends `order.failed`). An order that is not
    /// pending any more is returned as it is. `None` for an unknown order.
    async fn complete_order(
        &self,
        show: &Show,
        order: uuid::Uuid,
        outcome: &Completion,
    ) -> Result<Option<Order>, StoreError>;

    /// [`Self::complete_order`] for an order the checkout just answered with: `placed` is
    /// that answer. The outcome is exactly `complete_order(show, placed.id, outcome)`'s (the
    /// stored order is what gets settled); a store may use `placed` to skip reading the order
    /// first (RedisStore declares the script's keys from it, and reads only if the stored
    /// order needs other keys).
    async fn complete_placed_order(
        &self,
        show: &Show,
        placed: &Order,
        outcome: &Completion,
    ) -> Result<Option<Order>, StoreError> {
        self.complete_order(show, placed.id, outcome).await
    }

    /// Expires the show's pending orders whose reservation ended before `now`: returns their
    /// stock like a failure, marks them expired, appends `order.expired`. Returns them.
    async fn expire_reservations(
        &self,
        show: &Show,
        now: Timestamp,
    ) -> Result<Vec<Order>, StoreError>;

    /// Shows that have had reservations (the sweeper visits these).
    async fn shows_with_reservations(&self) -> Result<Vec<ShowId>, StoreError>;

    /// The show's orders, oldest first.
    async fn orders(&self, show: &Show) -> Result<Vec<Order>, StoreError>;

    /// One viewer's orders in the show, oldest first.
    async fn viewer_orders(&self, show: &Show, viewer: ViewerId) -> Result<Vec<Order>, StoreError>;

    async fn order(&self, show: &Show, id: uuid::Uuid) -> Result<Option<Order>, StoreError>;

    /// Sets or removes a creator's webhook.
    async fn set_webhook(
        &self,
        creator: CreatorId,
        hook: Option<&Webhook>,
    ) -> Result<(), StoreError>;

    async fn webhook(&self, creator: CreatorId) -> Result<Option<Webhook>, StoreError>;

    /// Creators with a webhook (the delivery worker visits these).
    async fn webhook_creators(&self) -> Result<Vec<CreatorId>, StoreError>;

    /// Up to `max` of the creator's undelivered events, oldest first. An event stays here until
    /// acknowledged, across restarts (at-least-once delivery).
    async fn outbox_pending(
        &self,
        creator: CreatorId,
        max: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// Marks an event delivered.
    async fn outbox_ack(&self, creator: CreatorId, event_id: &str) -> Result<(), StoreError>;

    // ---- Moderation -----------------------------------------------------------------------

    async fn chat_policy(&self, show: &Show) -> Result<ChatPolicy, StoreError>;
    async fn set_chat_policy(&self, show: &Show, policy: &ChatPolicy) -> Result<(), StoreError>;

    /// A chat member's standing in the show: banned (in the show, or by the creator in all
    /// their shows), timed out until, and when their last message was accepted. `member` is a
    /// viewer id or an invite id.
    async fn standing(&self, show: &Show, member: &str) -> Result<Standing, StoreError>;
    async fn record_message(
        &self,
        show: &Show,
        member: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Times a member out until `until`, or lifts the timeout (`None`).
    async fn set_timeout(
        &self,
        show: &Show,
        member: &str,
        until: Option<Timestamp>,
    ) -> Result<(), StoreError>;
    /// Bans or unbans a member in the show, or (scope `Creator`) in every show of its creator.
    async fn set_ban(
        &self,
        show: &Show,
        member: &str,
        scope: BanScope,
        banned: bool,
    ) -> Result<(), StoreError>;

    async fn hold_message(&self, show: &Show, held: &HeldMessage) -> Result<(), StoreError>;
    /// Removes and returns a held message (one moderator's decision wins).
    async fn take_held(&self, show: &Show, id: &str) -> Result<Option<HeldMessage>, StoreError>;
    /// Held messages, oldest first.
    async fn held_messages(&self, show: &Show) -> Result<Vec<HeldMessage>, StoreError>;

    async fn set_pinned_message(
        &self,
        show: &Show,
        message: Option<&ChatMessage>,
    ) -> Result<(), StoreError>;
    async fn pinned_message(&self, show: &Show) -> Result<Option<ChatMessage>, StoreError>;

    async fn append_audit(&self, show: &Show, entry: &AuditEntry) -> Result<(), StoreError>;
    /// The newest `limit` audit entries, oldest first.
    async fn audit_log(&self, show: &Show, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;

    /// Records a moderator or camera invitation minted for `show`, so it can be revoked.
    async fn record_invite(&self, show: ShowId, invite: InviteId) -> Result<(), StoreError>;
    /// Revokes a moderator or camera invitation of `show`: a token for that show with that
    /// invite id stops working everywhere. Keyed by show, so a creator can only ever revoke
    /// invitations to their own shows (the token carries its show). `false` (nothing changed)
    /// when no such invitation was recorded for that show.
    async fn revoke_invite(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError>;
    async fn is_revoked(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError>;

    // ---- Limits per person ------------------------------------------------------------------

    /// Takes one unit of the budget `key`, a token bucket of `budget` shared by every node:
    /// `Ok(Err(wait))` when it is spent, with how long until a unit is back. `now_ms` is the
    /// wall clock in milliseconds (Redis keeps the bucket; nodes' clocks only need to agree
    /// roughly, a bucket never refills backwards).
    async fn take_budget(
        &self,
        key: &BudgetKey,
        budget: Budget,
        now_ms: u64,
    ) -> Result<Result<(), std::time::Duration>, StoreError>;

    /// The viewer a browser (its device id) first joined one of the creator's shows as.
    async fn device_viewer(
        &self,
        creator: CreatorId,
        device: &DeviceId,
    ) -> Result<Option<ViewerId>, StoreError>;
    /// Ties a device to a viewer for `ttl`, unless it is tied already (the first tie stays).
    async fn bind_device(
        &self,
        creator: CreatorId,
        device: &DeviceId,
        viewer: ViewerId,
        ttl: std::time::Duration,
    ) -> Result<(), StoreError>;

    /// Remembers the address a viewer last joined the creator's shows from, for `ttl` (a ban
    /// then keeps new guests from that address out for a while).
    async fn note_join_address(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
        address: std::net::IpAddr,
        ttl: std::time::Duration,
    ) -> Result<(), StoreError>;
    async fn join_address(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
    ) -> Result<Option<std::net::IpAddr>, StoreError>;
    /// Refuses new guest identities from `address` in the show (scope `Creator`: in every show
    /// of its creator) until `until`; `None` lifts that.
    async fn set_address_ban(
        &self,
        show: &Show,
        scope: BanScope,
        address: std::net::IpAddr,
        until: Option<Timestamp>,
    ) -> Result<(), StoreError>;
    async fn address_banned(
        &self,
        show: &Show,
        address: std::net::IpAddr,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    // ---- Coordination ---------------------------------------------------------------------

    /// Takes or renews the named lease for `holder` for `ttl`; `false` while another holder
    /// has it. Nodes use it so that one of them at a time does a job (e.g. delivering one
    /// merchant's webhooks, in order).
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Who holds the named lease now, if anyone (e.g. which node is a show's media home).
    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError>;
}
