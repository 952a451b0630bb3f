//! The pure rules of a live auction (issue 18): the lot's spec and its validation, the increment
//! table, bids and proxy (maximum) bids, pre-bids on a scheduled lot, the soft-close extension,
//! the close with reserve and runner-up, the append-only bid log and the public view.
//!
//! Every rule is a plain function, state in and (new state, outcome) out, with times as Unix
//! milliseconds passed in: no clock, no I/O, no randomness. The store calls them under its lock
//! (memory) and a Lua script mirrors them (Redis). A proxy maximum lives in [`Auction`] (the
//! store's state) and in the creator's [`LogEntry`] export, never in [`AuctionView`].
//! docs/auctions.md describes the rules with examples.

mod bid;
mod close;
mod increments;

pub use bid::{BidKind, BidOutcome, BidRequest, BidStep, LogEntry, place_bid};
pub use close::{AuctionResult, CloseStep, OpenStep, RunnerUp, close, open};
pub use increments::{IncrementBand, IncrementTable};

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::money::MAX_AMOUNT;
use super::{Code, Currency, DomainError, Money, ProductId, Timestamp, ViewerId};

/// Shortest and longest lot, in seconds.
pub const DURATION_S: std::ops::RangeInclusive<i64> = 10..=3600;
/// Bounds of a soft-close extension, in seconds.
pub const EXTEND_S: std::ops::RangeInclusive<i64> = 5..=120;
/// The extension when the creator gives none.
pub const DEFAULT_EXTEND_S: i64 = 10;

/// One auction (a lot) in a show.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct AuctionId(pub Uuid);

impl fmt::Display for AuctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for AuctionId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(AuctionId)
    }
}

/// How a lot ends.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AuctionMode {
    /// A bid accepted in the last `extend_s` pushes the end to `extend_s` after that bid.
    SoftClose,
    /// A hard end: `ends_at` never moves.
    SuddenDeath,
}

/// Where a lot is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AuctionStatus {
    /// Created, not started: only pre-bids (proxy maxima).
    Scheduled,
    /// Taking bids until `ends_at`.
    Open,
    /// Over; the result is decided.
    Closed,
}

/// What a creator asks for (`POST /api/shows/{id}/auctions`), before validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuctionSpec {
    pub start_price: Money,
    pub duration_s: i64,
    pub mode: AuctionMode,
    pub extend_s: Option<i64>,
    pub reserve_price: Option<Money>,
    /// The creator's own table; `None`: [`IncrementTable::default`].
    pub increments: Option<IncrementTable>,
}

/// A validated spec: what the bid rules read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuctionRules {
    pub currency: Currency,
    /// Minor units, > 0.
    pub start_price: i64,
    pub duration_ms: i64,
    pub mode: AuctionMode,
    pub extend_ms: i64,
    /// Minor units, >= `start_price`.
    pub reserve_price: Option<i64>,
    pub increments: IncrementTable,
}

impl AuctionSpec {
    /// Checks the spec: start price > 0, duration 10 s – 1 h, extension 5–120 s (default 10),
    /// reserve (if any) in the same currency and >= the start price, a valid increment table.
    pub fn validate(&self) -> Result<AuctionRules, DomainError> {
        let bad = |message: &str| Err(DomainError::invalid(Code::InvalidAuction, message));
        let currency = self.start_price.currency;
        let start = self.start_price.amount;
        if start <= 0 || start > MAX_AMOUNT {
            return bad("start_price must be above zero and at most the largest amount");
        }
        if !DURATION_S.contains(&self.duration_s) {
            return bad("duration_s must be from 10 to 3600 seconds");
        }
        let extend_s = self.extend_s.unwrap_or(DEFAULT_EXTEND_S);
        if !EXTEND_S.contains(&extend_s) {
            return bad("extend_s must be from 5 to 120 seconds");
        }
        if let Some(reserve) = self.reserve_price {
            if reserve.currency != currency {
                return Err(DomainError::invalid(
                    Code::WrongCurrency,
                    "reserve_price must be in the start price's currency",
                ));
            }
            if reserve.amount < start || reserve.amount > MAX_AMOUNT {
                return bad("reserve_price must be at least the start price");
            }
        }
        let increments = match &self.increments {
            Some(table) => table.validated()?,
            None => IncrementTable::default(),
        };
        Ok(AuctionRules {
            currency,
            start_price: start,
            duration_ms: self.duration_s * 1000,
            mode: self.mode,
            extend_ms: extend_s * 1000,
            reserve_price: self.reserve_price.map(|r| r.amount),
            increments,
        })
    }
}

/// Who bids: the viewer and the display name others see when they lead.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Bidder {
    pub viewer_id: ViewerId,
    pub name: String,
}

/// The leader and their proxy maximum (hidden: never in the view).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Leader {
    pub bidder: Bidder,
    /// The most the leader's proxy will bid; >= `current`. A plain bid's maximum is its amount.
    pub max: i64,
}

/// A bidder's best: the highest amount or maximum of theirs that was accepted, and the log
/// `seq` at which they reached it (ties between runners-up go to the earlier).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BidderBest {
    pub bidder: Bidder,
    pub best: i64,
    pub seq: u64,
}

/// A pre-bid on a scheduled lot: the bidder's proxy maximum, resolved when the lot opens.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreBid {
    pub bidder: Bidder,
    pub max: i64,
    /// Log seq of this (the bidder's latest, highest) pre-bid: earlier wins a tie.
    pub seq: u64,
}

/// The whole state of one lot, as the store keeps it (serde, so Redis can hold it as JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Auction {
    pub id: AuctionId,
    pub product_id: ProductId,
    pub rules: AuctionRules,
    pub status: AuctionStatus,
    /// Set when the lot opens (opened + duration); moved by soft-close extensions.
    pub ends_at_ms: Option<i64>,
    /// The standing price (minor units); `None` before the first accepted bid.
    pub current: Option<i64>,
    pub leader: Option<Leader>,
    /// Accepted bids (public count).
    pub bids: u32,
    /// Every bidder's best accepted value (for the runner-up).
    pub bidders: Vec<BidderBest>,
    /// Pre-bids while scheduled; emptied when the lot opens.
    pub prebids: Vec<PreBid>,
    /// Entries in the append-only log so far: the next entry's seq.
    pub log_len: u64,
    /// Set at close.
    pub result: Option<AuctionResult>,
}

impl Auction {
    /// A scheduled lot from validated rules.
    pub fn new(id: AuctionId, product_id: ProductId, rules: AuctionRules) -> Self {
        Auction {
            id,
            product_id,
            rules,
            status: AuctionStatus::Scheduled,
            ends_at_ms: None,
            current: None,
            leader: None,
            bids: 0,
            bidders: Vec::new(),
            prebids: Vec::new(),
            log_len: 0,
            result: None,
        }
    }

    /// The smallest acceptable bid: the start price before any bid, else current + increment.
    pub fn next_minimum(&self) -> i64 {
        match self.current {
            None => self.rules.start_price,
            Some(current) => current.saturating_add(self.rules.increments.step(current)),
        }
    }

    /// `amount` as Money of the lot's currency.
    pub fn money(&self, amount: i64) -> Money {
        Money {
            amount,
            currency: self.rules.currency,
        }
    }

    /// True when an open lot has reached its end at `now_ms` (the store should close it).
    pub fn is_due(&self, now_ms: i64) -> bool {
        self.status == AuctionStatus::Open && self.ends_at_ms.is_some_and(|end| now_ms >= end)
    }

    /// The public auction object of API.md: never a proxy maximum.
    pub fn view(&self) -> AuctionView {
        let winner = match &self.result {
            Some(AuctionResult::Sold { winner, .. }) => Some(winner.clone()),
            _ => None,
        };
        AuctionView {
            id: self.id,
            product_id: self.product_id,
            status: self.status,
            current: self.current.map(|c| self.money(c)),
            leader: self.leader.as_ref().map(|l| l.bidder.clone()),
            bids: self.bids,
            ends_at: self
                .ends_at_ms
                .and_then(chrono::DateTime::from_timestamp_millis),
            next_minimum: self.money(self.next_minimum()),
            winner,
        }
    }

    /// Records `bidder`'s accepted `value` at `seq` if it is their best so far.
    fn note_best(&mut self, bidder: &Bidder, value: i64, seq: u64) {
        match self
            .bidders
            .iter_mut()
            .find(|b| b.bidder.viewer_id == bidder.viewer_id)
        {
            Some(b) if b.best >= value => {}
            Some(b) => {
                b.best = value;
                b.seq = seq;
            }
            None => self.bidders.push(BidderBest {
                bidder: bidder.clone(),
                best: value,
                seq,
            }),
        }
    }
}

/// The auction as everyone sees it (`GET /api/shows/{id}/auctions/{auction_id}`, room messages).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AuctionView {
    #[schema(value_type = String, format = Uuid)]
    pub id: AuctionId,
    pub product_id: ProductId,
    pub status: AuctionStatus,
    pub current: Option<Money>,
    pub leader: Option<Bidder>,
    /// Accepted bids.
    pub bids: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<Timestamp>,
    pub next_minimum: Money,
    pub winner: Option<Bidder>,
}

#[cfg(test)]
mod tests;
