//! The limits area of the store: per-person budgets (token buckets shared by every node),
//! device ties, join addresses and address cool-downs after bans ([`LimitsStore`]).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::limits::{Budget, BudgetKey, DeviceId};
use crate::domain::protocol::BanScope;
use crate::domain::{CreatorId, Show, Timestamp, ViewerId};

/// Limits per person, kept where every node sees them.
#[async_trait]
pub trait LimitsStore: Send + Sync + 'static {
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
}
