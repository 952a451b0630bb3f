//! Opening a lot (pre-bids resolved) and closing it (sold, reserve not met or unsold, and the
//! runner-up for when the winner's payment fails).

use super::{Auction, AuctionStatus, Bidder, Leader};
use crate::domain::{Code, DomainError, ViewerId};

/// How a lot ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AuctionResult {
    /// The reserve (if any) is met: the winner pays `price`.
    Sold {
        winner: Bidder,
        price: i64,
        runner_up: Option<RunnerUp>,
    },
    /// Bids, but the highest is under the reserve: no sale.
    ReserveNotMet { highest: i64 },
    /// No bid at all.
    Unsold,
}

/// The other bidder with the best accepted value, offered the lot at `price` if the winner's
/// payment fails.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunnerUp {
    pub bidder: Bidder,
    /// Their best: their highest accepted amount or proxy maximum (a proxy bid that high for
    /// them before it was beaten), which is never above the winning price.
    pub price: i64,
}

/// What [`open`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenStep {
    pub auction: Auction,
    /// Pre-bidders who do not lead after the pre-bids are resolved (each gets "outbid").
    pub outbid: Vec<ViewerId>,
}

/// What [`close`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseStep {
    pub auction: Auction,
}

/// Opens a scheduled lot at `now_ms`: `ends_at = now + duration`, and the pre-bids are
/// resolved from their maxima: the highest leads (a tie goes to the earlier pre-bid) at one
/// increment above the second-highest maximum, at most their own, or at the start price when
/// alone. Each pre-bidder counts as one accepted bid.
pub fn open(mut auction: Auction, now_ms: i64) -> Result<OpenStep, DomainError> {
    if auction.status != AuctionStatus::Scheduled {
        return Err(DomainError::conflict(
            Code::IllegalTransition,
            "only a scheduled auction can open",
        ));
    }
    auction.status = AuctionStatus::Open;
    auction.ends_at_ms = Some(now_ms.saturating_add(auction.rules.duration_ms));
    let mut prebids = std::mem::take(&mut auction.prebids);
    prebids.sort_by(|a, b| b.max.cmp(&a.max).then(a.seq.cmp(&b.seq)));
    let mut outbid = Vec::new();
    if let Some(first) = prebids.first() {
        let price = match prebids.get(1) {
            None => auction.rules.start_price,
            Some(second) => {
                let step = auction.rules.increments.step(second.max);
                first.max.min(second.max.saturating_add(step))
            }
        };
        auction.current = Some(price);
        auction.leader = Some(Leader {
            bidder: first.bidder.clone(),
            max: first.max,
        });
        auction.bids = u32::try_from(prebids.len()).unwrap_or(u32::MAX);
        outbid = prebids[1..].iter().map(|p| p.bidder.viewer_id).collect();
    }
    Ok(OpenStep { auction, outbid })
}

/// Closes an open lot at `now_ms`: when it is due (`now >= ends_at`), or at once when
/// `stop` (the creator's close). The result: sold to the leader at `current` if there is no
/// reserve; with one, sold at `max(current, reserve)` when the leader's maximum reaches it
/// (their proxy would have bid that high), else reserve not met; unsold without bids.
pub fn close(mut auction: Auction, now_ms: i64, stop: bool) -> Result<CloseStep, DomainError> {
    match auction.status {
        AuctionStatus::Closed => {
            return Err(DomainError::conflict(
                Code::AuctionClosed,
                "the auction is closed",
            ));
        }
        AuctionStatus::Open if stop || auction.is_due(now_ms) => {}
        AuctionStatus::Scheduled if stop => {}
        _ => {
            return Err(DomainError::conflict(
                Code::AuctionRunning,
                "the auction has not reached its end",
            ));
        }
    }
    if stop && auction.ends_at_ms.is_none_or(|end| now_ms < end) {
        auction.ends_at_ms = Some(now_ms);
    }
    auction.status = AuctionStatus::Closed;
    auction.prebids.clear();
    auction.result = Some(result(&auction));
    Ok(CloseStep { auction })
}

fn result(auction: &Auction) -> AuctionResult {
    let (Some(leader), Some(price)) = (&auction.leader, auction.current) else {
        return AuctionResult::Unsold;
    };
    // A leader whose maximum reaches the reserve buys at the reserve at least.
    let price = match auction.rules.reserve_price {
        Some(reserve) if leader.max < reserve => {
            return AuctionResult::ReserveNotMet { highest: price };
        }
        Some(reserve) => price.max(reserve),
        None => price,
    };
    let runner_up = auction
        .bidders
        .iter()
        .filter(|b| b.bidder.viewer_id != leader.bidder.viewer_id)
        .filter(|b| auction.rules.reserve_price.is_none_or(|r| b.best >= r))
        .min_by(|a, b| b.best.cmp(&a.best).then(a.seq.cmp(&b.seq)))
        .map(|b| RunnerUp {
            bidder: b.bidder.clone(),
            price: b.best.min(price),
        });
    AuctionResult::Sold {
        winner: leader.bidder.clone(),
        price,
        runner_up,
    }
}
