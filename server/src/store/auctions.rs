//! The auctions area of the store ([`AuctionStore`]): a show's lots (one [`Auction`] each, the
//! state the pure rules in `domain::auction` read and write), each lot's append-only bid log,
//! and the answers of bids sent with an `Idempotency-Key`.
//!
//! The store decides nothing: every change is one of the rule functions (`place_bid`, `open`,
//! `close`) applied as one atomic step, under the lock in memory and in one Lua script in Redis
//! that mirrors them. Times come from the caller (the server's receive time, taken once before
//! the step), never from the store's clock, so both stores agree. tests/auction_store.rs runs
//! one contract against both, and a differential test against the rules themselves.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::auction::{
    Auction, AuctionId, AuctionView, BidOutcome, BidRequest, CloseStep, LogEntry, OpenStep,
};
use crate::domain::{Code, CreatorId, DomainError, Show, ShowId};

/// The most lots one show may have (scheduled, open and closed together).
pub const MAX_LOTS_PER_SHOW: usize = 200;

/// A bid as the service hands it to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedBid {
    pub request: BidRequest,
    /// The client's `Idempotency-Key` (already checked for shape), if it sent one: a repeat
    /// of the same key by the same bidder on the same lot answers the first answer again.
    pub key: Option<String>,
}

impl KeyedBid {
    /// What a repeated key must match to be a repeat (not a different bid under a used key):
    /// the kind, the amount and the currency.
    pub fn fingerprint(&self) -> String {
        let r = &self.request;
        let currency = r.currency.map(|c| c.to_string()).unwrap_or_default();
        format!("{:?}:{}:{currency}", r.kind, r.amount)
    }
}

/// A handled bid: its outcome, the lot as everyone sees it after it, and its log line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BidAnswer {
    pub outcome: BidOutcome,
    pub view: AuctionView,
    pub entry: LogEntry,
}

/// What the store did with a bid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BidStored {
    /// Handled now (`replayed: false`), or the answer the same key got the first time.
    Handled {
        answer: Box<BidAnswer>,
        replayed: bool,
    },
    /// The key was used before by this bidder on this lot for a different bid.
    KeyReused,
}

/// An open lot, for the ticker that closes lots at their end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenLot {
    pub show: ShowId,
    pub creator: CreatorId,
    pub auction: AuctionId,
    pub ends_at_ms: i64,
}

#[async_trait]
pub trait AuctionStore: Send + Sync + 'static {
    /// Adds a lot (as [`Auction::new`] made it: scheduled, no bids) to the show. Refused with
    /// `too_many_auctions` when the show has [`MAX_LOTS_PER_SHOW`].
    async fn create_auction(
        &self,
        show: &Show,
        auction: &Auction,
    ) -> Result<Result<(), DomainError>, StoreError>;

    /// One lot of the show, as stored.
    async fn auction(&self, show: &Show, id: AuctionId) -> Result<Option<Auction>, StoreError>;

    /// Every lot of the show, oldest first.
    async fn auctions(&self, show: &Show) -> Result<Vec<Auction>, StoreError>;

    /// One bid as one atomic step: `place_bid` on the stored lot, the lot written back and the
    /// log entry appended (a refusal too); with a key, the answer kept for the key. A key
    /// already used by this bidder on this lot answers the kept answer (`replayed`), or
    /// [`BidStored::KeyReused`] when the bid differs ([`KeyedBid::fingerprint`]). Refused with
    /// `auction_not_found` when the show has no such lot.
    async fn bid(
        &self,
        show: &Show,
        id: AuctionId,
        bid: &KeyedBid,
    ) -> Result<Result<BidStored, DomainError>, StoreError>;

    /// Opens a scheduled lot at `now_ms` (`domain::auction::open`). Refused with
    /// `auction_running` while another lot of the show is open (one at a time), with the
    /// rule's refusal for a lot that is not scheduled, or `auction_not_found`.
    async fn open_auction(
        &self,
        show: &Show,
        id: AuctionId,
        now_ms: i64,
    ) -> Result<Result<OpenStep, DomainError>, StoreError>;

    /// Closes a lot at `now_ms` (`domain::auction::close`; `stop`: the creator's stop). It
    /// happens once across nodes: a second close is refused with `auction_closed`, a lot not
    /// yet due with `auction_running`, or `auction_not_found`.
    async fn close_auction(
        &self,
        show: &Show,
        id: AuctionId,
        now_ms: i64,
        stop: bool,
    ) -> Result<Result<CloseStep, DomainError>, StoreError>;

    /// The lot's log, in `seq` order (empty for an unknown lot).
    async fn auction_log(&self, show: &Show, id: AuctionId) -> Result<Vec<LogEntry>, StoreError>;

    /// Every open lot of every show (the ticker's work list; a closed lot leaves it).
    async fn open_auctions(&self) -> Result<Vec<OpenLot>, StoreError>;
}

/// The refusal for a lot the show does not have.
pub fn auction_not_found(id: AuctionId) -> DomainError {
    DomainError::not_found(
        Code::AuctionNotFound,
        format!("no auction {id} in this show"),
    )
}

/// The refusal for a show with [`MAX_LOTS_PER_SHOW`] lots.
pub fn too_many_auctions() -> DomainError {
    DomainError::conflict(
        Code::TooManyAuctions,
        format!("a show has at most {MAX_LOTS_PER_SHOW} auctions"),
    )
}

/// The refusal for opening a lot while another is open.
pub fn another_open(open: AuctionId) -> DomainError {
    DomainError::conflict(
        Code::AuctionRunning,
        format!("auction {open} is still running: one auction at a time per show"),
    )
}
