//! Limits that follow a person, not a connection (docs/operations.md, "Limits per person"):
//! this node's count of WebSocket connections per identity and per client address
//! ([`ConnCaps`]), where a request's client address comes from ([`client_ip`]), and who a
//! guest who joins again is ([`resolve_join`], [`record_join`]: an earlier token, the
//! browser's device id, a banned viewer's address). The budgets themselves (chat, reactions,
//! joins) are token buckets in the store, so every node draws from the same one; the pure
//! rules are in `domain::limits`. Nothing here speaks HTTP beyond reading a header map.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;

use crate::domain::limits::{DeviceId, IpNet};
use crate::domain::{Show, ShowId, Timestamp, ViewerId};
use crate::store::{LimitsStore, ModerationStore, StoreError};

/// Why a guest may not join a show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    /// Their identity (earlier token or device) is banned.
    Banned,
    /// A new identity from the address of a viewer banned within the cool-down.
    AddressCoolingDown,
}

/// The store areas a join is decided from: the person's ties to earlier identities (`limits`)
/// and their standing in the show (`moderation`).
#[derive(Clone, Copy)]
pub struct JoinStores<'a> {
    pub limits: &'a dyn LimitsStore,
    pub moderation: &'a dyn ModerationStore,
}

/// Who a guest joining `show` is: the identity of their earlier viewer token, else the one
/// their browser's device first joined the creator's shows as, else `fresh`. Refused when a
/// known identity is banned, or when a new identity comes from the address of a viewer
/// banned within the cool-down (clearing the browser's storage is not enough to come back
/// at once).
pub async fn resolve_join(
    stores: JoinStores<'_>,
    show: &Show,
    token_viewer: Option<ViewerId>,
    device: Option<&DeviceId>,
    address: IpAddr,
    now: Timestamp,
    fresh: ViewerId,
) -> Result<Result<ViewerId, JoinRefusal>, StoreError> {
    let device_viewer = match device {
        Some(d) => stores.limits.device_viewer(show.creator_id, d).await?,
        None => None,
    };
    for known in [token_viewer, device_viewer].into_iter().flatten() {
        let member = known.to_string();
        if !crate::services::moderation::admitted(stores.moderation, show, &member, now).await? {
            return Ok(Err(JoinRefusal::Banned));
        }
    }
    if let Some(known) = token_viewer.or(device_viewer) {
        return Ok(Ok(known));
    }
    if stores.limits.address_banned(show, address, now).await? {
        metrics::counter!("livesale_limits_refused_total", "limit" => "ban_address").increment(1);
        return Ok(Err(JoinRefusal::AddressCoolingDown));
    }
    Ok(Ok(fresh))
}

/// After a join: ties the device (if any) to the viewer, first tie wins, and remembers the
/// address the viewer joined from (for a later ban's cool-down), both for `remember`.
pub async fn record_join(
    store: &dyn LimitsStore,
    show: &Show,
    viewer: ViewerId,
    device: Option<&DeviceId>,
    address: IpAddr,
    remember: std::time::Duration,
) -> Result<(), StoreError> {
    if let Some(device) = device {
        store
            .bind_device(show.creator_id, device, viewer, remember)
            .await?;
    }
    store
        .note_join_address(show.creator_id, viewer, address, remember)
        .await
}

/// Which cap a new connection would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapExceeded {
    Member,
    Address,
}

impl CapExceeded {
    /// The `limit` label of `livesale_limits_refused_total`.
    pub fn label(self) -> &'static str {
        match self {
            CapExceeded::Member => "ws_per_member",
            CapExceeded::Address => "ws_per_address",
        }
    }
}

#[derive(Default)]
struct Counts {
    members: HashMap<(ShowId, String), usize>,
    addresses: HashMap<IpAddr, usize>,
}

/// This node's WebSocket connections per (show, identity) and per client address. Caps are
/// per node: they protect the node's sockets and memory, while what a person may *do* (their
/// chat and reaction budgets) is shared by all nodes through the store.
pub struct ConnCaps {
    per_member: usize,
    per_address: usize,
    counts: Arc<Mutex<Counts>>,
}

/// One admitted connection; dropping it gives its places back.
pub struct ConnSlot {
    key: Option<(ShowId, String)>,
    address: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl ConnCaps {
    /// `0` means no cap.
    pub fn new(per_member: usize, per_address: usize) -> Self {
        ConnCaps {
            per_member,
            per_address,
            counts: Arc::default(),
        }
    }

    /// Takes a place for a connection of `member` (`None`: an anonymous watcher) from
    /// `address`, or says which cap is full.
    pub fn admit(
        &self,
        show: ShowId,
        member: Option<&str>,
        address: IpAddr,
    ) -> Result<ConnSlot, CapExceeded> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let key = member.map(|m| (show, m.to_string()));
        if let Some(key) = &key
            && self.per_member > 0
            && counts.members.get(key).copied().unwrap_or(0) >= self.per_member
        {
            return Err(CapExceeded::Member);
        }
        if self.per_address > 0
            && counts.addresses.get(&address).copied().unwrap_or(0) >= self.per_address
        {
            return Err(CapExceeded::Address);
        }
        if let Some(key) = &key {
            *counts.members.entry(key.clone()).or_default() += 1;
        }
        *counts.addresses.entry(address).or_default() += 1;
        Ok(ConnSlot {
            key,
            address,
            counts: self.counts.clone(),
        })
    }
}

impl ConnCaps {
    /// What a connection refused by `cap` is told (its close reason).
    pub fn refusal(&self, cap: CapExceeded) -> String {
        match cap {
            CapExceeded::Member => format!(
                "rate_limited: at most {} connections per person to a show; close one",
                self.per_member
            ),
            CapExceeded::Address => format!(
                "rate_limited: at most {} connections from one address",
                self.per_address
            ),
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = self.key.take()
            && let Some(n) = counts.members.get_mut(&key)
        {
            *n -= 1;
            if *n == 0 {
                counts.members.remove(&key);
            }
        }
        if let Some(n) = counts.addresses.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                counts.addresses.remove(&self.address);
            }
        }
    }
}

/// The client's address: the peer's, or with `--trusted-proxies` what a trusted proxy says
/// in `X-Forwarded-For` (`domain::limits::client_ip`).
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if trusted.is_empty() {
        return crate::domain::limits::canonical(peer.ip());
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    crate::domain::limits::client_ip(peer.ip(), &forwarded, trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_member_and_address_and_give_places_back() {
        let caps = ConnCaps::new(2, 3);
        let show = ShowId(uuid::Uuid::nil());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let one = caps.admit(show, Some("v1"), a).unwrap();
        let two = caps.admit(show, Some("v1"), a).unwrap();
        assert_eq!(
            caps.admit(show, Some("v1"), b).err(),
            Some(CapExceeded::Member)
        );
        let _three = caps.admit(show, None, a).unwrap();
        assert_eq!(
            caps.admit(show, Some("v2"), a).err(),
            Some(CapExceeded::Address)
        );
        drop(one);
        assert!(caps.admit(show, Some("v2"), a).is_ok());
        drop(two);
        assert!(caps.admit(show, Some("v1"), b).is_ok());
        assert_eq!(
            caps.refusal(CapExceeded::Member),
            "rate_limited: at most 2 connections per person to a show; close one"
        );
        assert_eq!(
            caps.refusal(CapExceeded::Address),
            "rate_limited: at most 3 connections from one address"
        );
        // 0: no cap.
        let open = ConnCaps::new(0, 0);
        let _many: Vec<_> = (0..50)
            .map(|_| open.admit(show, Some("v"), a).unwrap())
            .collect();
    }
}
