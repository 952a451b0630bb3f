//! MemoryStore's limits area (limits per person): token buckets, device ties, join addresses and address
//! cool-downs after bans. Behind a lock of its own (apart from the store's records), because
//! a budget is taken for every chat message and reaction. Entries that can no longer matter
//! are dropped as the maps grow, so a flood of fresh keys does not grow memory for ever.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::chat::RateLimit;
use crate::domain::limits::{Budget, BudgetKey, DeviceId};
use crate::domain::protocol::BanScope;
use crate::domain::{CreatorId, Show, ShowId, Timestamp, ViewerId};
use crate::store::{LimitsStore, StoreError};

/// Maps are swept once they reach this many entries (then at twice what survives).
const SWEEP_FROM: usize = 4096;

#[derive(Default)]
pub(super) struct Limits {
    /// Bucket, and when it will be full again (then it is the same as no entry).
    budgets: HashMap<BudgetKey, (RateLimit, u64)>,
    budgets_sweep_at: usize,
    devices: HashMap<(CreatorId, DeviceId), (ViewerId, Instant)>,
    devices_sweep_at: usize,
    addresses: HashMap<(CreatorId, ViewerId), (IpAddr, Instant)>,
    addresses_sweep_at: usize,
    show_address_bans: HashMap<(ShowId, IpAddr), Timestamp>,
    creator_address_bans: HashMap<(CreatorId, IpAddr), Timestamp>,
}

impl Limits {
    pub(super) fn take_budget(
        &mut self,
        key: &BudgetKey,
        budget: Budget,
        now_ms: u64,
    ) -> Result<(), Duration> {
        let period_ms = budget.period.as_millis() as u64;
        if self.budgets.len() >= self.budgets_sweep_at.max(SWEEP_FROM) {
            self.budgets.retain(|_, (_, full_at)| *full_at > now_ms);
            self.budgets_sweep_at = self.budgets.len() * 2;
        }
        let (bucket, full_at) = self
            .budgets
            .entry(key.clone())
            .or_insert_with(|| (RateLimit::new(budget.capacity, budget.period, now_ms), 0));
        // A spent bucket is full again one period after its last take at the latest.
        *full_at = now_ms.saturating_add(period_ms);
        bucket.take(now_ms)
    }

    pub(super) fn device_viewer(&self, creator: CreatorId, device: &DeviceId) -> Option<ViewerId> {
        self.devices
            .get(&(creator, device.clone()))
            .filter(|(_, until)| *until > Instant::now())
            .map(|(viewer, _)| *viewer)
    }

    pub(super) fn bind_device(
        &mut self,
        creator: CreatorId,
        device: &DeviceId,
        viewer: ViewerId,
        ttl: Duration,
    ) {
        let now = Instant::now();
        if self.devices.len() >= self.devices_sweep_at.max(SWEEP_FROM) {
            self.devices.retain(|_, (_, until)| *until > now);
            self.devices_sweep_at = self.devices.len() * 2;
        }
        let entry = self
            .devices
            .entry((creator, device.clone()))
            .or_insert((viewer, now + ttl));
        if entry.1 <= now {
            *entry = (viewer, now + ttl);
        }
    }

    pub(super) fn note_join_address(
        &mut self,
        creator: CreatorId,
        viewer: ViewerId,
        address: IpAddr,
        ttl: Duration,
    ) {
        let now = Instant::now();
        if self.addresses.len() >= self.addresses_sweep_at.max(SWEEP_FROM) {
            self.addresses.retain(|_, (_, until)| *until > now);
            self.addresses_sweep_at = self.addresses.len() * 2;
        }
        self.addresses
            .insert((creator, viewer), (address, now + ttl));
    }

    pub(super) fn join_address(&self, creator: CreatorId, viewer: ViewerId) -> Option<IpAddr> {
        self.addresses
            .get(&(creator, viewer))
            .filter(|(_, until)| *until > Instant::now())
            .map(|(ip, _)| *ip)
    }

    pub(super) fn set_address_ban(
        &mut self,
        creator: CreatorId,
        show: ShowId,
        scope: BanScope,
        address: IpAddr,
        until: Option<Timestamp>,
    ) {
        match (scope, until) {
            (BanScope::Show, Some(until)) => {
                self.show_address_bans.insert((show, address), until);
            }
            (BanScope::Show, None) => {
                self.show_address_bans.remove(&(show, address));
            }
            (BanScope::Creator, Some(until)) => {
                self.creator_address_bans.insert((creator, address), until);
            }
            // Lifting a creator-wide ban lifts the show's own too (as bans do).
            (BanScope::Creator, None) => {
                self.creator_address_bans.remove(&(creator, address));
                self.show_address_bans.remove(&(show, address));
            }
        }
    }

    pub(super) fn address_banned(
        &mut self,
        creator: CreatorId,
        show: ShowId,
        address: IpAddr,
        now: Timestamp,
    ) -> bool {
        // Bans are few; ended cool-downs are dropped whenever one is looked at.
        self.show_address_bans.retain(|_, until| *until > now);
        self.creator_address_bans.retain(|_, until| *until > now);
        self.show_address_bans.contains_key(&(show, address))
            || self.creator_address_bans.contains_key(&(creator, address))
    }
}

#[async_trait]
impl LimitsStore for MemoryStore {
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
}
