//! Limits that follow a person rather than a connection: what a budget is and what it is kept
//! under ([`BudgetKey`]), the browser's stable device id ([`DeviceId`]), and which address a
//! request comes from ([`client_ip`], trusting `X-Forwarded-For` only from configured
//! proxies). Pure: no clock, no store; the adapter (`crate::limits`, the stores) keeps the
//! counts.

use std::net::IpAddr;
use std::time::Duration;

use super::{Code, CreatorId, DomainError, ShowId};

/// A token bucket's size: `capacity` units, refilled evenly over `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub capacity: u32,
    pub period: Duration,
}

impl Budget {
    pub fn new(capacity: u32, period: Duration) -> Self {
        Budget {
            capacity: capacity.max(1),
            period: period.max(Duration::from_millis(1)),
        }
    }
}

/// What a budget is kept for. Members are viewer ids (or invite/creator ids): one budget per
/// person per show, however many connections and nodes they use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BudgetKey {
    /// A member's chat messages in a show.
    Chat {
        creator: CreatorId,
        show: ShowId,
        member: String,
    },
    /// A member's reactions in a show.
    Reaction {
        creator: CreatorId,
        show: ShowId,
        member: String,
    },
    /// Joins (`POST …/viewers`) from one client address, in any show.
    Join { address: IpAddr },
    /// A viewer's auction bids in a show.
    Bid {
        creator: CreatorId,
        show: ShowId,
        member: String,
    },
    /// Replay view beacons (`POST …/replay/views`) from one client address, in any show.
    ReplayBeat { address: IpAddr },
}

impl BudgetKey {
    /// The show a key belongs to, with its creator (its Redis key lives in that slot).
    pub fn show(&self) -> Option<(CreatorId, ShowId)> {
        match self {
            BudgetKey::Chat { creator, show, .. }
            | BudgetKey::Reaction { creator, show, .. }
            | BudgetKey::Bid { creator, show, .. } => Some((*creator, *show)),
            BudgetKey::Join { .. } | BudgetKey::ReplayBeat { .. } => None,
        }
    }

    /// The key's own part, e.g. `chat:<member>`.
    pub fn name(&self) -> String {
        match self {
            BudgetKey::Chat { member, .. } => format!("chat:{member}"),
            BudgetKey::Reaction { member, .. } => format!("reaction:{member}"),
            BudgetKey::Join { address } => format!("join:{address}"),
            BudgetKey::Bid { member, .. } => format!("bid:{member}"),
            BudgetKey::ReplayBeat { address } => format!("replay-beat:{address}"),
        }
    }
}

/// A browser's stable identity: a random id the viewer page creates once and keeps in
/// localStorage, sent when joining. It is as secret as a token (it brings back the viewer
/// identity it first joined as), so it must look random: 16-64 characters of `A-Z a-z 0-9 - _`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    pub fn parse(raw: &str) -> Result<DeviceId, DomainError> {
        let ok = (16..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(DeviceId(raw.to_string()))
        } else {
            Err(DomainError::invalid(
                Code::InvalidDeviceId,
                "device_id must be 16-64 characters of letters, digits, '-' and '_' (a random id)",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An address or a CIDR block (`10.0.0.0/8`, `::1`) that `--trusted-proxies` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("'{text}': the prefix length must be 0-{max}")),
            },
        };
        Ok(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4 clients of a dual-stack socket arrive as `::ffff:a.b.c.d`; they are the same address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries left of it
/// were written by the client and prove nothing). Unparsable entries end the walk there.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>().map(canonical) else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn device_ids_must_look_random() {
        assert!(DeviceId::parse("0123456789abcdef").is_ok());
        assert!(DeviceId::parse(&"a".repeat(64)).is_ok());
        for bad in [
            "short",
            "",
            &"a".repeat(65),
            "0123456789abcdef 0",
            "0123456789abcdé00",
        ] {
            assert_eq!(
                DeviceId::parse(bad).unwrap_err().code,
                "invalid_device_id",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cidr_blocks() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "v4-mapped is v4");
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpNet::parse("::1").unwrap().contains(ip("::1")));
        assert!(IpNet::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(IpNet::parse("10.0.0.0/33").is_err());
        assert!(IpNet::parse("proxy").is_err());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = [IpNet::parse("10.0.0.0/8").unwrap()];
        // Not a proxy: its claims are ignored.
        assert_eq!(
            client_ip(ip("203.0.113.9"), &["1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
        // A proxy: the right-most untrusted hop; what the client wrote further left is not.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                &["6.6.6.6, 198.51.100.7, 10.0.0.5"],
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["6.6.6.6", "198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
        // A proxy with no header: the proxy itself.
        assert_eq!(client_ip(ip("10.0.0.2"), &[], &trusted), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["junk"], &trusted),
            ip("10.0.0.2")
        );
        // Nothing trusted (the default): always the peer.
        assert_eq!(client_ip(ip("10.0.0.2"), &["1.2.3.4"], &[]), ip("10.0.0.2"));
    }
}
