//! One bid, handled: the checks, the proxy answer, the soft-close extension and the log entry.

use super::{Auction, AuctionMode, AuctionStatus, Bidder, Leader, PreBid};
use crate::domain::money::MAX_AMOUNT;
use crate::domain::{Code, Currency, DomainError, Money, ViewerId};

/// A plain bid or a proxy maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BidKind {
    /// `{"amount"}`: sets `current` to that amount (unless a proxy answers it).
    Amount,
    /// `{"max_amount"}`: the server bids for its owner by the increment, up to this.
    Max,
}

/// A bid as the store hands it over: `received_ms` is the server's receive time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BidRequest {
    pub bidder: Bidder,
    pub kind: BidKind,
    /// Minor units.
    pub amount: i64,
    /// The currency the client named, if it named one.
    pub currency: Option<Currency>,
    pub received_ms: i64,
}

/// What became of a bid. Serde, so a store can keep it as a bid's answer for its
/// `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BidOutcome {
    /// The price rose (`auction.bid` to the room).
    Accepted {
        /// The bidder who lost the lead (their own message); the bidder themself when a
        /// rival's proxy answered at once; `None` when the leader bid again.
        outbid: Option<ViewerId>,
        /// Whether the lead changed hands.
        leader_changed: bool,
        /// Whether a soft close pushed `ends_at`.
        end_moved: bool,
    },
    /// The leader raised their own maximum: nothing public changes.
    MaxRaised,
    /// A proxy maximum recorded on a scheduled lot, resolved when it opens.
    PreBid,
    /// Refused; the auction is unchanged (but for its log length).
    Refused {
        code: Code,
        /// The smallest acceptable bid at that moment (the 409 `bid_too_low` body carries it).
        next_minimum: Money,
    },
}

impl BidOutcome {
    /// The refusal as a domain error (409 for the auction's state, 422 for the bid itself).
    pub fn error(&self) -> Option<DomainError> {
        let BidOutcome::Refused { code, next_minimum } = self else {
            return None;
        };
        let amount = next_minimum.currency.format_decimal(next_minimum.amount);
        let cur = next_minimum.currency;
        Some(match code {
            Code::InvalidBid => DomainError::invalid(*code, "a bid is a positive whole amount"),
            Code::WrongCurrency => DomainError::invalid(*code, format!("this lot is in {cur}")),
            Code::AuctionClosed => DomainError::conflict(*code, "the auction is closed"),
            Code::AuctionNotOpen => DomainError::conflict(*code, "the auction is not open yet"),
            Code::MaxBelowCurrent => {
                DomainError::conflict(*code, "a new maximum must be above your current maximum")
            }
            _ => DomainError::conflict(*code, format!("the next minimum bid is {amount} {cur}")),
        })
    }
}

/// One line of the append-only auction log: every handled bid, accepted or not. It holds
/// proxy maxima (`amount` of a `max` bid), so it is for the creator's export, not the room.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogEntry {
    pub seq: u64,
    pub received_ms: i64,
    pub bidder: ViewerId,
    pub kind: BidKind,
    pub amount: i64,
    /// `accepted`, `max_raised`, `pre_bid`, or the refusal's code.
    pub outcome: String,
    pub current: Option<i64>,
    pub leader: Option<ViewerId>,
    pub ends_at_ms: Option<i64>,
}

/// What [`place_bid`] returns: the new state, the outcome and the log entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BidStep {
    pub auction: Auction,
    pub outcome: BidOutcome,
    pub entry: LogEntry,
}

/// Handles one bid at its receive time. A refusal returns the auction unchanged but for
/// `log_len` (the refusal is logged too).
pub fn place_bid(mut auction: Auction, req: &BidRequest) -> BidStep {
    let seq = auction.log_len;
    let outcome = match check(&auction, req) {
        Err(code) => BidOutcome::Refused {
            code,
            next_minimum: auction.money(auction.next_minimum()),
        },
        Ok(()) if auction.status == AuctionStatus::Scheduled => {
            record_prebid(&mut auction, req, seq);
            BidOutcome::PreBid
        }
        Ok(()) => resolve(&mut auction, req, seq),
    };
    auction.log_len += 1;
    let entry = LogEntry {
        seq,
        received_ms: req.received_ms,
        bidder: req.bidder.viewer_id,
        kind: req.kind,
        amount: req.amount,
        outcome: match &outcome {
            BidOutcome::Accepted { .. } => "accepted".to_string(),
            BidOutcome::MaxRaised => "max_raised".to_string(),
            BidOutcome::PreBid => "pre_bid".to_string(),
            BidOutcome::Refused { code, .. } => code.as_str().to_string(),
        },
        current: auction.current,
        leader: auction.leader.as_ref().map(|l| l.bidder.viewer_id),
        ends_at_ms: auction.ends_at_ms,
    };
    BidStep {
        auction,
        outcome,
        entry,
    }
}

/// Why a bid is refused, in this order: the amount, the currency, the lot's state, the price.
fn check(auction: &Auction, req: &BidRequest) -> Result<(), Code> {
    if req.amount <= 0 || req.amount > MAX_AMOUNT {
        return Err(Code::InvalidBid);
    }
    if req.currency.is_some_and(|c| c != auction.rules.currency) {
        return Err(Code::WrongCurrency);
    }
    match auction.status {
        AuctionStatus::Closed => return Err(Code::AuctionClosed),
        AuctionStatus::Open if auction.ends_at_ms.is_none_or(|e| req.received_ms >= e) => {
            return Err(Code::AuctionClosed);
        }
        AuctionStatus::Scheduled if req.kind == BidKind::Amount => {
            return Err(Code::AuctionNotOpen);
        }
        AuctionStatus::Scheduled => {
            let earlier = auction
                .prebids
                .iter()
                .find(|p| p.bidder.viewer_id == req.bidder.viewer_id);
            return match earlier {
                Some(p) if req.amount <= p.max => Err(Code::MaxBelowCurrent),
                _ if req.amount < auction.rules.start_price => Err(Code::BidTooLow),
                _ => Ok(()),
            };
        }
        AuctionStatus::Open => {}
    }
    let leader_max = auction
        .leader
        .as_ref()
        .filter(|l| l.bidder.viewer_id == req.bidder.viewer_id)
        .map(|l| l.max);
    match leader_max {
        Some(max) if req.kind == BidKind::Max && req.amount <= max => Err(Code::MaxBelowCurrent),
        _ if req.amount < auction.next_minimum() => Err(Code::BidTooLow),
        _ => Ok(()),
    }
}

/// Keeps one pre-bid per bidder: a higher one replaces theirs (and takes the new seq).
fn record_prebid(auction: &mut Auction, req: &BidRequest, seq: u64) {
    auction
        .prebids
        .retain(|p| p.bidder.viewer_id != req.bidder.viewer_id);
    auction.prebids.push(PreBid {
        bidder: req.bidder.clone(),
        max: req.amount,
        seq,
    });
    auction.note_best(&req.bidder, req.amount, seq);
}

/// An accepted bid on an open lot (`check` passed: value >= next_minimum).
fn resolve(auction: &mut Auction, req: &BidRequest, seq: u64) -> BidOutcome {
    let value = req.amount;
    let next_minimum = auction.next_minimum();
    let table = auction.rules.increments.clone();
    let step = |p: i64| p.saturating_add(table.step(p));
    auction.note_best(&req.bidder, value, seq);
    let (price, outbid, leader_changed) = match auction.leader.take() {
        // The leader again: a higher maximum changes nothing public; an amount sets the price.
        Some(leader) if leader.bidder.viewer_id == req.bidder.viewer_id => {
            let max = leader.max.max(value);
            auction.leader = Some(Leader { max, ..leader });
            if req.kind == BidKind::Max {
                return BidOutcome::MaxRaised;
            }
            (value, None, false)
        }
        // A rival at or under the leader's maximum: the leader's proxy answers at once, by
        // the increment above the rival's bid, at most its maximum (a tie stays with the
        // earlier bid, the leader's).
        Some(leader) if value <= leader.max => {
            let price = leader.max.min(step(value));
            auction.leader = Some(leader);
            (price, Some(req.bidder.viewer_id), false)
        }
        // A new leader. A plain amount sets the price to itself; a maximum bids only as high
        // as needed: one increment above the old leader's maximum (never under next_minimum).
        previous => {
            let price = match (req.kind, &previous) {
                (BidKind::Amount, _) => value,
                (BidKind::Max, None) => next_minimum,
                (BidKind::Max, Some(old)) => value.min(step(old.max).max(next_minimum)),
            };
            auction.leader = Some(Leader {
                bidder: req.bidder.clone(),
                max: value,
            });
            (price, previous.map(|l| l.bidder.viewer_id), true)
        }
    };
    auction.current = Some(price);
    auction.bids = auction.bids.saturating_add(1);
    let end_moved = extend(auction, req.received_ms);
    BidOutcome::Accepted {
        outbid,
        leader_changed,
        end_moved,
    }
}

/// Soft close: an accepted bid within the last `extend_s` pushes the end to `received +
/// extend_s`. Sudden death never moves it.
fn extend(auction: &mut Auction, received_ms: i64) -> bool {
    if auction.rules.mode != AuctionMode::SoftClose {
        return false;
    }
    let pushed = received_ms.saturating_add(auction.rules.extend_ms);
    match auction.ends_at_ms {
        Some(end) if pushed > end => {
            auction.ends_at_ms = Some(pushed);
            true
        }
        _ => false,
    }
}
