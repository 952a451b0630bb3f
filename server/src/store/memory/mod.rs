//! The embedded store: everything in one process's memory, behind one short-held lock.
//! State dies with the process; the server warns about that at start.
//!
//! This file holds the records (one [`State`] under one lock, so an operation that spans areas,
//! like a checkout reading the show, the products and the pins, is one critical section) and
//! the lock; each area's trait is implemented in its own file beside it. Limits per person
//! have a lock of their own (`limits.rs`), as a budget is taken for every chat message.

mod accounts;
mod auction_sales;
mod auctions;
mod catalog;
mod chapters;
mod commerce;
mod leases;
mod limits;
mod moderation;
mod payments;
mod recordings;
mod replay_stats;
mod shows;
mod transcript;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use super::commerce::{OutboxEvent, PinState, Webhook};
use super::payments::IntentOrder;
use super::{DemoRecord, Store, StoreError};
use crate::domain::chat::ChatMessage;
use crate::domain::commerce::{CartLines, Order, PaymentIntentId, StripeCustomerId, StripeEventId};
use crate::domain::moderation::{AuditEntry, ChatPolicy, HeldMessage};
use crate::domain::{
    Creator, CreatorId, InviteId, OrderId, Product, ProductId, Show, ShowId, Timestamp, Viewer,
    ViewerId,
};

/// Every record, by area.
#[derive(Default)]
struct State {
    // Shows.
    secret: Option<String>,
    demo: Option<DemoRecord>,
    creators: HashMap<CreatorId, Creator>,
    shows: HashMap<ShowId, Show>,
    viewers: HashMap<(ShowId, ViewerId), Viewer>,
    revoked: HashSet<(ShowId, InviteId)>,
    /// Invitations minted, so revoking an unknown one can say so.
    invites: HashSet<(ShowId, InviteId)>,
    // Catalog.
    products: HashMap<ProductId, Product>,
    skus: HashMap<(CreatorId, String), ProductId>,
    /// Products per creator, for the quota (products are never deleted).
    catalog_sizes: HashMap<CreatorId, u64>,
    lineups: HashMap<ShowId, Vec<ProductId>>,
    // Commerce.
    pins: HashMap<ShowId, Vec<PinState>>,
    deal_buyers: HashMap<(ShowId, ProductId), HashMap<ViewerId, i64>>,
    /// Deal units bought or held per client address ([`crate::domain::commerce::address_key`]).
    deal_addresses: HashMap<(ShowId, ProductId), HashMap<String, i64>>,
    /// The address key an order's deal units count under.
    order_addresses: HashMap<OrderId, String>,
    carts: HashMap<(ShowId, ViewerId), CartLines>,
    orders: HashMap<ShowId, Vec<Order>>,
    keys: HashMap<(ShowId, ViewerId, String), commerce::KeyUse>,
    reservation_shows: BTreeSet<ShowId>,
    webhooks: HashMap<CreatorId, Webhook>,
    outbox: HashMap<CreatorId, VecDeque<OutboxEvent>>,
    // Payments.
    intents: HashMap<PaymentIntentId, IntentOrder>,
    /// Processor events handled, with when they were recorded.
    events: HashMap<StripeEventId, Timestamp>,
    customers: HashMap<(CreatorId, ViewerId), StripeCustomerId>,
    // Moderation.
    policies: HashMap<ShowId, ChatPolicy>,
    show_bans: HashSet<(ShowId, String)>,
    creator_bans: HashSet<(CreatorId, String)>,
    timeouts: HashMap<(ShowId, String), Timestamp>,
    last_messages: HashMap<(ShowId, String), Timestamp>,
    held: HashMap<ShowId, Vec<HeldMessage>>,
    pinned_messages: HashMap<ShowId, ChatMessage>,
    audit: HashMap<ShowId, Vec<AuditEntry>>,
    // Chapters.
    chapters: HashMap<ShowId, chapters::ShowChapters>,
    // Leases.
    leases: HashMap<String, (String, std::time::Instant)>,
    // Recordings: segments by msn, and the Unix ms of the last write.
    recordings: HashMap<
        ShowId,
        (
            std::collections::BTreeMap<u64, super::recordings::RecordedSegment>,
            i64,
        ),
    >,
    // Replay views and watch time.
    replay_views: HashMap<ShowId, replay_stats::ShowViews>,
    // Room transcripts, in the order appended.
    transcripts: HashMap<ShowId, Vec<crate::domain::replay::TranscriptEntry>>,
    // A creator's settings across their shows (the dashboard): webhook deliveries, blocked
    // terms, creator-wide moderators.
    deliveries: HashMap<CreatorId, Vec<crate::domain::commerce::Delivery>>,
    creator_terms: HashMap<CreatorId, Vec<String>>,
    creator_moderators: HashMap<CreatorId, Vec<crate::domain::access::CreatorWideModerator>>,
    // Accounts.
    token_generations: HashMap<CreatorId, u64>,
    passkeys: HashMap<String, crate::domain::account::Passkey>,
    ceremonies: HashMap<String, crate::domain::account::Ceremony>,
    heartbeats: HashMap<String, crate::domain::account::Heartbeat>,
    // Auctions: each show's lots with their logs.
    auctions: HashMap<ShowId, auctions::ShowLots>,
    // The sales of closed lots: offers and their orders.
    sales: HashMap<auction_sales::SaleKey, super::auction_sales::Sale>,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    limits: Mutex<limits::Limits>,
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

    fn limits<R>(&self, f: impl FnOnce(&mut limits::Limits) -> R) -> R {
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
}
