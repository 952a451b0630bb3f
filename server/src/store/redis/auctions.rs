//! RedisStore's auctions area. PLACEHOLDER while issue 18's store is being written: every call
//! answers "unavailable". To be replaced by the Lua implementation before the issue is done.

use async_trait::async_trait;

use super::RedisStore;
use crate::domain::auction::{Auction, AuctionId, CloseStep, LogEntry, OpenStep};
use crate::domain::{DomainError, Show};
use crate::store::StoreError;
use crate::store::auctions::{AuctionStore, BidStored, KeyedBid, OpenLot};

fn not_yet<T>() -> Result<T, StoreError> {
    Err(StoreError::Unavailable(
        "auctions are not in the Redis store yet".into(),
    ))
}

#[async_trait]
impl AuctionStore for RedisStore {
    async fn create_auction(
        &self,
        _: &Show,
        _: &Auction,
    ) -> Result<Result<(), DomainError>, StoreError> {
        not_yet()
    }

    async fn auction(&self, _: &Show, _: AuctionId) -> Result<Option<Auction>, StoreError> {
        not_yet()
    }

    async fn auctions(&self, _: &Show) -> Result<Vec<Auction>, StoreError> {
        not_yet()
    }

    async fn bid(
        &self,
        _: &Show,
        _: AuctionId,
        _: &KeyedBid,
    ) -> Result<Result<BidStored, DomainError>, StoreError> {
        not_yet()
    }

    async fn open_auction(
        &self,
        _: &Show,
        _: AuctionId,
        _: i64,
    ) -> Result<Result<OpenStep, DomainError>, StoreError> {
        not_yet()
    }

    async fn close_auction(
        &self,
        _: &Show,
        _: AuctionId,
        _: i64,
        _: bool,
    ) -> Result<Result<CloseStep, DomainError>, StoreError> {
        not_yet()
    }

    async fn auction_log(&self, _: &Show, _: AuctionId) -> Result<Vec<LogEntry>, StoreError> {
        not_yet()
    }

    async fn open_auctions(&self) -> Result<Vec<OpenLot>, StoreError> {
        Ok(Vec::new())
    }
}
