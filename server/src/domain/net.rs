//! Which IP addresses a merchant's webhook may point at: one pure classifier, [`refusal`],
//! shared by the `PUT /api/webhook` check (literal addresses) and by delivery (every address a
//! host name resolves to, just before connecting). It refuses everything that is not an
//! ordinary public unicast address: loopback, private, link-local, CGNAT, multicast,
//! broadcast, reserved, benchmarking and documentation ranges. IPv6 forms that carry an IPv4
//! address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by the IPv4 address they
//! carry, since that is where the packets end up. No I/O here: resolving names is the caller's.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused: the special-purpose range it falls in, and the IPv6 form that
/// carried it when it was judged as an embedded IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The range, named with its prefix, e.g. `link-local (169.254.0.0/16)`.
    pub range: &'static str,
    /// The IPv6 form the IPv4 address was embedded in, e.g. `an IPv4-mapped address (::ffff:0:0/96)`.
    pub via: Option<&'static str>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.via {
            Some(via) => write!(f, "{}, embedded in {via}", self.range),
            None => f.write_str(self.range),
        }
    }
}

/// IPv4 special-purpose ranges (IANA's registry, plus multicast and the reserved 240/4), most
/// specific first so the broadcast address is named as such rather than as "reserved".
const V4: &[(u32, u8, &str)] = &[
    (0xFFFF_FFFF, 32, "broadcast (255.255.255.255/32)"),
    (0x0000_0000, 8, "\"this network\" (0.0.0.0/8)"),
    (0x0A00_0000, 8, "private (10.0.0.0/8)"),
    (0x6440_0000, 10, "carrier-grade NAT (100.64.0.0/10)"),
    (0x7F00_0000, 8, "loopback (127.0.0.0/8)"),
    (0xA9FE_0000, 16, "link-local (169.254.0.0/16)"),
    (0xAC10_0000, 12, "private (172.16.0.0/12)"),
    (0xC000_0000, 24, "IETF protocol assignments (192.0.0.0/24)"),
    (0xC000_0200, 24, "documentation (192.0.2.0/24)"),
    (0xC058_6300, 24, "6to4 relay anycast (192.88.99.0/24)"),
    (0xC0A8_0000, 16, "private (192.168.0.0/16)"),
    (0xC612_0000, 15, "benchmarking (198.18.0.0/15)"),
    (0xC633_6400, 24, "documentation (198.51.100.0/24)"),
    (0xCB00_7100, 24, "documentation (203.0.113.0/24)"),
    (0xE000_0000, 4, "multicast (224.0.0.0/4)"),
    (0xF000_0000, 4, "reserved (240.0.0.0/4)"),
];

/// IPv6 ranges refused outright (after the forms carrying IPv4 were judged), most specific
/// first. Anything outside global unicast 2000::/3 that is not listed is refused as reserved.
const V6: &[(u128, u8, &str)] = &[
    (0, 128, "unspecified (::/128)"),
    (1, 128, "loopback (::1/128)"),
    (
        0x0064_ff9b_0001 << 80,
        48,
        "local-use NAT64 (64:ff9b:1::/48)",
    ),
    (0x0100 << 112, 64, "discard-only (100::/64)"),
    (0x2001_0000 << 96, 32, "Teredo (2001::/32)"),
    (0x2001_0db8 << 96, 32, "documentation (2001:db8::/32)"),
    (0x2001 << 112, 23, "IETF protocol assignments (2001::/23)"),
    (0x2002 << 112, 16, "6to4 (2002::/16)"),
    (0x3fff << 112, 20, "documentation (3fff::/20)"),
    (0x5f00 << 112, 16, "segment routing (5f00::/16)"),
    (0xfc00 << 112, 7, "unique local (fc00::/7)"),
    (0xfe80 << 112, 10, "link-local (fe80::/10)"),
    (0xfec0 << 112, 10, "site-local (fec0::/10)"),
    (0xff00 << 112, 8, "multicast (ff00::/8)"),
];

const MAPPED: &str = "an IPv4-mapped address (::ffff:0:0/96)";
const COMPATIBLE: &str = "an IPv4-compatible address (::/96)";
const NAT64: &str = "a NAT64 address (64:ff9b::/96)";
const SIX_TO_FOUR: &str = "a 6to4 address (2002::/16)";

/// Why a webhook may not be delivered to `ip`, or `None` for an ordinary public address.
pub fn refusal(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4).map(|range| Refusal { range, via: None }),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4.iter()
        .find(|(net, len, _)| bits & mask32(*len) == *net)
        .map(|(_, _, name)| *name)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<Refusal> {
    let bits = u128::from(ip);
    // Forms whose packets end up at an IPv4 address: judge that address. A public one is
    // fine behind a mapped or NAT64 address (DNS64 hands out the latter for public hosts).
    if let Some((v4, via)) = embedded_v4(bits) {
        if let Some(range) = refusal_v4(v4) {
            return Some(Refusal {
                range,
                via: Some(via),
            });
        }
        if via == MAPPED || via == NAT64 {
            return None;
        }
    }
    if let Some((_, _, range)) = V6.iter().find(|(net, len, _)| bits & mask128(*len) == *net) {
        return Some(Refusal { range, via: None });
    }
    if bits >> 125 != 0b001 {
        // IPv4-compatible addresses with a public IPv4 land here too: deprecated, never valid.
        return Some(Refusal {
            range: "reserved (outside global unicast 2000::/3)",
            via: None,
        });
    }
    None
}

/// The IPv4 address an IPv6 address carries, with the form that carries it.
fn embedded_v4(bits: u128) -> Option<(Ipv4Addr, &'static str)> {
    let low = Ipv4Addr::from(bits as u32);
    if bits >> 32 == 0xffff {
        Some((low, MAPPED))
    } else if bits >> 32 == 0 && bits > 1 {
        // :: and ::1 are IPv6's own unspecified and loopback addresses, not IPv4-compatible.
        Some((low, COMPATIBLE))
    } else if bits >> 32 == 0x0064_ff9b << 64 {
        Some((low, NAT64))
    } else if bits >> 112 == 0x2002 {
        Some((Ipv4Addr::from((bits >> 80) as u32), SIX_TO_FOUR))
    } else {
        None
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(ip: &str) -> Option<String> {
        refusal(ip.parse().expect("a literal address")).map(|r| r.to_string())
    }

    #[test]
    fn every_address_from_issue_13_is_refused_with_its_range() {
        let cases = [
            (
                "::ffff:a9fe:a9fe",
                "link-local (169.254.0.0/16), embedded in an IPv4-mapped",
            ),
            (
                "::ffff:169.254.169.254",
                "link-local (169.254.0.0/16), embedded in an IPv4-mapped",
            ),
            (
                "64:ff9b::a9fe:a9fe",
                "link-local (169.254.0.0/16), embedded in a NAT64",
            ),
            (
                "2002:a9fe:a9fe::",
                "link-local (169.254.0.0/16), embedded in a 6to4",
            ),
            (
                "::127.0.0.1",
                "loopback (127.0.0.0/8), embedded in an IPv4-compatible",
            ),
            ("0.1.2.3", "\"this network\" (0.0.0.0/8)"),
            ("224.0.0.1", "multicast (224.0.0.0/4)"),
            ("240.0.0.1", "reserved (240.0.0.0/4)"),
            ("198.18.0.1", "benchmarking (198.18.0.0/15)"),
        ];
        for (ip, want) in cases {
            let got = judge(ip).unwrap_or_else(|| panic!("{ip} was allowed"));
            assert!(got.starts_with(want), "{ip}: {got}");
        }
    }

    #[test]
    fn ipv4_special_purpose_ranges_are_refused_at_both_edges() {
        let cases = [
            ("0.0.0.0", "0.255.255.255", "\"this network\""),
            ("10.0.0.0", "10.255.255.255", "private (10."),
            ("100.64.0.0", "100.127.255.255", "carrier-grade NAT"),
            ("127.0.0.0", "127.255.255.255", "loopback"),
            ("169.254.0.0", "169.254.255.255", "link-local"),
            ("172.16.0.0", "172.31.255.255", "private (172.16."),
            ("192.0.0.0", "192.0.0.255", "IETF protocol"),
            ("192.0.2.0", "192.0.2.255", "documentation (192.0.2"),
            ("192.88.99.0", "192.88.99.255", "6to4 relay"),
            ("192.168.0.0", "192.168.255.255", "private (192.168."),
            ("198.18.0.0", "198.19.255.255", "benchmarking"),
            ("198.51.100.0", "198.51.100.255", "documentation (198.51"),
            ("203.0.113.0", "203.0.113.255", "documentation (203.0"),
            ("224.0.0.0", "239.255.255.255", "multicast"),
            ("240.0.0.0", "255.255.255.254", "reserved (240"),
            ("255.255.255.255", "255.255.255.255", "broadcast"),
        ];
        for (first, last, want) in cases {
            for ip in [first, last] {
                let got = judge(ip).unwrap_or_else(|| panic!("{ip} was allowed"));
                assert!(got.starts_with(want), "{ip}: {got}");
            }
        }
    }

    #[test]
    fn public_ipv4_next_to_the_ranges_is_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.88.98.255",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "203.0.112.255",
            "223.255.255.255",
        ] {
            assert_eq!(judge(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv6_special_purpose_ranges_are_refused() {
        let cases = [
            ("::", "unspecified"),
            ("::1", "loopback (::1"),
            (
                "::ffff:127.0.0.1",
                "loopback (127.0.0.0/8), embedded in an IPv4-mapped",
            ),
            ("::ffff:10.0.0.7", "private (10.0.0.0/8), embedded"),
            (
                "::10.0.0.7",
                "private (10.0.0.0/8), embedded in an IPv4-compatible",
            ),
            ("::8.8.8.8", "reserved (outside global unicast"),
            (
                "64:ff9b::127.0.0.1",
                "loopback (127.0.0.0/8), embedded in a NAT64",
            ),
            (
                "64:ff9b::c0a8:1",
                "private (192.168.0.0/16), embedded in a NAT64",
            ),
            ("64:ff9b:1::808:808", "local-use NAT64"),
            (
                "2002:7f00:1::",
                "loopback (127.0.0.0/8), embedded in a 6to4",
            ),
            ("2002:0808:0808::1", "6to4 (2002::/16)"),
            ("2001::1", "Teredo"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
            ("2001:2::1", "IETF protocol assignments"),
            ("100::1", "discard-only"),
            ("2001:db8::1", "documentation (2001:db8"),
            ("3fff::1", "documentation (3fff"),
            ("5f00::1", "segment routing"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local (fe80"),
            ("febf::1", "link-local (fe80"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast (ff00"),
            ("4000::1", "reserved (outside"),
            ("1fff::1", "reserved (outside"),
            ("::ffff:0:7f00:1", "reserved (outside"),
        ];
        for (ip, want) in cases {
            let got = judge(ip).unwrap_or_else(|| panic!("{ip} was allowed"));
            assert!(got.starts_with(want), "{ip}: {got}");
        }
    }

    #[test]
    fn public_ipv6_and_public_ipv4_behind_mapped_or_nat64_are_allowed() {
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2001:200::1",
            "3ffe::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(judge(ip), None, "{ip}");
        }
    }
}
