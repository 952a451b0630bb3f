//! MemoryStore's auctions area: the reference behaviour of [`AuctionStore`]. Each step is the
//! rule function itself, applied under the store's one lock.

use std::collections::HashMap;

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::auction::{
    Auction, AuctionId, AuctionStatus, CloseStep, LogEntry, OpenStep, close, open, place_bid,
};
use crate::domain::{DomainError, Show, ShowId, ViewerId};
use crate::store::StoreError;
use crate::store::auctions::{
    AuctionStore, BidAnswer, BidStored, KeyedBid, MAX_LOTS_PER_SHOW, OpenLot, another_open,
    auction_not_found, too_many_auctions,
};

/// One show's lots, oldest first, with their logs and kept bid answers.
#[derive(Default)]
pub(super) struct ShowLots {
    lots: Vec<Lot>,
}

struct Lot {
    auction: Auction,
    log: Vec<LogEntry>,
    /// (bidder, key) → (fingerprint, answer).
    keys: HashMap<(ViewerId, String), (String, BidAnswer)>,
}

impl ShowLots {
    fn lot(&mut self, id: AuctionId) -> Result<&mut Lot, DomainError> {
        self.lots
            .iter_mut()
            .find(|l| l.auction.id == id)
            .ok_or_else(|| auction_not_found(id))
    }
}

impl MemoryStore {
    fn with_lots<R>(&self, show: ShowId, f: impl FnOnce(&mut ShowLots) -> R) -> R {
        self.with(|s| f(s.auctions.entry(show).or_default()))
    }
}

#[async_trait]
impl AuctionStore for MemoryStore {
    async fn create_auction(
        &self,
        show: &Show,
        auction: &Auction,
    ) -> Result<Result<(), DomainError>, StoreError> {
        Ok(self.with_lots(show.id, |lots| {
            if lots.lots.len() >= MAX_LOTS_PER_SHOW {
                return Err(too_many_auctions());
            }
            lots.lots.push(Lot {
                auction: auction.clone(),
                log: Vec::new(),
                keys: HashMap::new(),
            });
            Ok(())
        }))
    }

    async fn auction(&self, show: &Show, id: AuctionId) -> Result<Option<Auction>, StoreError> {
        Ok(self.with_lots(show.id, |lots| lots.lot(id).ok().map(|l| l.auction.clone())))
    }

    async fn auctions(&self, show: &Show) -> Result<Vec<Auction>, StoreError> {
        Ok(self.with_lots(show.id, |lots| {
            lots.lots.iter().map(|l| l.auction.clone()).collect()
        }))
    }

    async fn bid(
        &self,
        show: &Show,
        id: AuctionId,
        bid: &KeyedBid,
    ) -> Result<Result<BidStored, DomainError>, StoreError> {
        Ok(self.with_lots(show.id, |lots| {
            let lot = lots.lot(id)?;
            let key = bid
                .key
                .as_ref()
                .map(|k| (bid.request.bidder.viewer_id, k.clone()));
            if let Some((fingerprint, answer)) = key.as_ref().and_then(|k| lot.keys.get(k)) {
                return Ok(if *fingerprint == bid.fingerprint() {
                    BidStored::Handled {
                        answer: Box::new(answer.clone()),
                        replayed: true,
                    }
                } else {
                    BidStored::KeyReused
                });
            }
            let step = place_bid(lot.auction.clone(), &bid.request);
            let answer = BidAnswer {
                outcome: step.outcome,
                view: step.auction.view(),
                entry: step.entry.clone(),
            };
            lot.auction = step.auction;
            lot.log.push(step.entry);
            if let Some(k) = key {
                lot.keys.insert(k, (bid.fingerprint(), answer.clone()));
            }
            Ok(BidStored::Handled {
                answer: Box::new(answer),
                replayed: false,
            })
        }))
    }

    async fn open_auction(
        &self,
        show: &Show,
        id: AuctionId,
        now_ms: i64,
    ) -> Result<Result<OpenStep, DomainError>, StoreError> {
        Ok(self.with_lots(show.id, |lots| {
            let other = lots
                .lots
                .iter()
                .find(|l| l.auction.status == AuctionStatus::Open && l.auction.id != id)
                .map(|l| l.auction.id);
            if let Some(other) = other {
                lots.lot(id)?;
                return Err(another_open(other));
            }
            let lot = lots.lot(id)?;
            let step = open(lot.auction.clone(), now_ms)?;
            lot.auction = step.auction.clone();
            Ok(step)
        }))
    }

    async fn close_auction(
        &self,
        show: &Show,
        id: AuctionId,
        now_ms: i64,
        stop: bool,
    ) -> Result<Result<CloseStep, DomainError>, StoreError> {
        Ok(self.with_lots(show.id, |lots| {
            let lot = lots.lot(id)?;
            let step = close(lot.auction.clone(), now_ms, stop)?;
            lot.auction = step.auction.clone();
            Ok(step)
        }))
    }

    async fn auction_log(&self, show: &Show, id: AuctionId) -> Result<Vec<LogEntry>, StoreError> {
        Ok(self.with_lots(show.id, |lots| {
            lots.lot(id).map(|l| l.log.clone()).unwrap_or_default()
        }))
    }

    async fn open_auctions(&self) -> Result<Vec<OpenLot>, StoreError> {
        Ok(self.with(|s| {
            let mut open = Vec::new();
            for (show, lots) in &s.auctions {
                let Some(creator) = s.shows.get(show).map(|sh| sh.creator_id) else {
                    continue;
                };
                for lot in &lots.lots {
                    if let (AuctionStatus::Open, Some(end)) =
                        (lot.auction.status, lot.auction.ends_at_ms)
                    {
                        open.push(OpenLot {
                            show: *show,
                            creator,
                            auction: lot.auction.id,
                            ends_at_ms: end,
                        });
                    }
                }
            }
            open
        }))
    }
}
