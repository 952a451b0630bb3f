//! Where webhooks may go. Unless `--webhook-allow-private` is set, no request reaches a
//! loopback, private or otherwise special-purpose address ([`crate::domain::net`]): a URL is
//! judged when it is registered ([`check_url`]), a literal address again before each delivery,
//! and a host name is resolved once by the delivery client's own resolver ([`GuardedLookup`]),
//! which hands the connector only the addresses that passed, so what is connected to is what
//! was checked.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::domain::net::{self, Refusal};
use crate::domain::{Code, DomainError};

/// Where the delivery client gets a host name's addresses: the system resolver by default. A
/// seam so tests can make a name resolve anywhere without touching the machine's DNS; whatever
/// it returns is still judged before the client may connect.
#[derive(Clone)]
pub struct Lookup(pub Arc<dyn reqwest::dns::Resolve>);

impl Lookup {
    /// The system resolver (`getaddrinfo`, on tokio's blocking pool).
    pub fn system() -> Lookup {
        Lookup(Arc::new(SystemLookup))
    }
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lookup")
    }
}

struct SystemLookup;

impl reqwest::dns::Resolve for SystemLookup {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The delivery client's resolver: looks the name up once and passes on only the addresses
/// that may be reached, so the connector never sees (or looks up again) anything else.
pub(super) struct GuardedLookup {
    pub(super) lookup: Lookup,
    pub(super) allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedLookup {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let resolving = self.lookup.0.resolve(name);
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = resolving.await?.collect();
            if allow_private {
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
            let mut refused = None;
            let passed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|addr| match net::refusal(addr.ip()) {
                    None => true,
                    Some(why) => {
                        tracing::debug!(%host, ip = %addr.ip(), %why, "webhook address dropped");
                        refused.get_or_insert((addr.ip(), why));
                        false
                    }
                })
                .collect();
            match (passed.is_empty(), refused) {
                (true, Some((ip, why))) => Err(Box::new(Refused { host, ip, why }) as _),
                _ => Ok(Box::new(passed.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

/// A webhook destination that may not be reached: a literal address, or every address its
/// name resolved to, is loopback, private or otherwise special-purpose.
#[derive(Debug)]
pub(super) struct Refused {
    host: String,
    ip: IpAddr,
    why: Refusal,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host == self.ip.to_string() {
            write!(f, "{} is {}", self.ip, self.why)?;
        } else {
            write!(f, "{} resolves to {}, {}", self.host, self.ip, self.why)?;
        }
        f.write_str("; allowed only with --webhook-allow-private")
    }
}

impl std::error::Error for Refused {}

/// The literal address `url` names, refused, if it is one that may not be reached. Literal
/// addresses never reach the client's resolver, so they are judged here before sending.
pub(super) fn refused_literal(url: &str) -> Option<Refused> {
    let ip = literal_ip(&reqwest::Url::parse(url).ok()?.host()?)?;
    net::refusal(ip).map(|why| Refused {
        host: ip.to_string(),
        ip,
        why,
    })
}

/// The address a URL's host is, when it is a literal one.
fn literal_ip(host: &url::Host<&str>) -> Option<IpAddr> {
    match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        url::Host::Domain(_) => None,
    }
}

/// Whether `url` (trimmed) may be registered as a webhook: an absolute http(s) URL of at most
/// 2,048 bytes, and, unless `allow_private`, not one that names a refused destination
/// ([`internal_destination`]). Returns the trimmed URL.
pub fn check_url(url: &str, allow_private: bool) -> Result<&str, DomainError> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https") && u.host().is_some() && url.len() <= 2048
    });
    let Some(parsed) = parsed else {
        return Err(DomainError::invalid(
            Code::InvalidUrl,
            "the webhook URL must be an absolute http(s) URL",
        ));
    };
    if !allow_private && let Some(why) = internal_destination(&parsed) {
        return Err(DomainError::invalid(
            Code::PrivateAddress,
            format!(
                "the webhook URL must point at a public address: {why} \
                 (loopback, private, link-local, CGNAT, multicast, broadcast, reserved and \
                 documentation ranges are refused)"
            ),
        ));
    }
    Ok(url)
}

/// Why a URL's host may not receive webhooks, if it is a literal address in a refused range
/// ([`crate::domain::net`]) or a name that means this machine (`localhost`, `*.localhost`) or an
/// internal network (`*.internal`). Other names are judged at delivery time, by every address
/// they resolve to then.
fn internal_destination(url: &reqwest::Url) -> Option<String> {
    let host = url.host()?;
    let Some(ip) = literal_ip(&host) else {
        let d = host.to_string().trim_end_matches('.').to_ascii_lowercase();
        let internal = d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal");
        return internal.then(|| format!("{d} names this machine or an internal network"));
    };
    net::refusal(ip).map(|why| format!("{ip} is {why}"))
}

/// The refusal behind a failed request, if the client's resolver refused every address.
pub(super) fn refused_by_resolver(e: &reqwest::Error) -> Option<&Refused> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(refused) = c.downcast_ref::<Refused>() {
            return Some(refused);
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lookup that answers every name with the same addresses.
    struct Fixed(Vec<IpAddr>);

    impl reqwest::dns::Resolve for Fixed {
        fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
            let addrs: Vec<SocketAddr> = self.0.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
            Box::pin(async move { Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs) })
        }
    }

    async fn guarded(ips: &[&str], allow_private: bool) -> Result<Vec<IpAddr>, String> {
        let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
        let guard = GuardedLookup {
            lookup: Lookup(Arc::new(Fixed(ips))),
            allow_private,
        };
        let name = "shop.example".parse().unwrap();
        match reqwest::dns::Resolve::resolve(&guard, name).await {
            Ok(addrs) => Ok(addrs.map(|a| a.ip()).collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn the_resolver_passes_on_only_addresses_that_may_be_reached() {
        let public = "93.184.215.14".parse::<IpAddr>().unwrap();
        let got = guarded(&["10.0.0.7", "93.184.215.14", "::1"], false).await;
        assert_eq!(got, Ok(vec![public]));
        let err = guarded(&["10.0.0.7", "::ffff:127.0.0.1"], false)
            .await
            .expect_err("every address is private");
        assert_eq!(
            err,
            "shop.example resolves to 10.0.0.7, private (10.0.0.0/8); \
             allowed only with --webhook-allow-private"
        );
        let all = guarded(&["10.0.0.7", "127.0.0.1"], true).await.unwrap();
        assert_eq!(all.len(), 2, "--webhook-allow-private passes everything on");
    }

    #[test]
    fn literal_addresses_in_urls_are_judged() {
        for url in [
            "http://[::ffff:a9fe:a9fe]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:a9fe:a9fe::]/",
            "http://[::127.0.0.1]:8080/x",
            "http://0.1.2.3/",
            "http://0x7f000001/",
            "http://127.1/",
            "https://240.0.0.1/",
        ] {
            assert!(refused_literal(url).is_some(), "{url}");
        }
        let why = refused_literal("http://[::ffff:169.254.169.254]/").unwrap();
        assert_eq!(
            why.to_string(),
            "::ffff:169.254.169.254 is link-local (169.254.0.0/16), embedded in an IPv4-mapped \
             address (::ffff:0:0/96); allowed only with --webhook-allow-private"
        );
        for url in ["https://shop.example/hook", "http://8.8.8.8/", "not a url"] {
            assert!(refused_literal(url).is_none(), "{url}");
        }
    }

    #[test]
    fn registered_urls_are_absolute_http_and_public() {
        fn code(url: &str, allow_private: bool) -> Result<&str, &'static str> {
            check_url(url, allow_private).map_err(|e| e.code.as_str())
        }
        assert_eq!(
            code("  https://shop.example/hook ", false),
            Ok("https://shop.example/hook")
        );
        assert_eq!(code("ftp://shop.example/hook", false), Err("invalid_url"));
        assert_eq!(code("/hook", false), Err("invalid_url"));
        let long = format!("https://shop.example/{}", "a".repeat(2048));
        assert_eq!(code(&long, false), Err("invalid_url"));
        for url in [
            "http://127.0.0.1/",
            "http://LOCALHOST./",
            "http://db.internal/",
            "http://[::1]/",
        ] {
            assert_eq!(code(url, false), Err("private_address"), "{url}");
            assert_eq!(code(url, true), Ok(url), "{url}");
        }
        let e = check_url("http://10.1.2.3/", false).unwrap_err();
        assert!(e.message.contains("10.1.2.3 is private"), "{}", e.message);
        let e = check_url("http://a.localhost/", false).unwrap_err();
        assert!(
            e.message.contains("a.localhost names this machine"),
            "{}",
            e.message
        );
    }
}
