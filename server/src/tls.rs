//! HTTPS: the certificate the server presents, and a listener that does the TLS handshake.
//!
//! Phones only give pages camera access on secure origins, so a phone joining as a camera over
//! the LAN needs HTTPS. Either the operator brings a certificate (`--tls-cert`/`--tls-key`, PEM
//! files), or `--tls-self-signed` generates one at start for `localhost`, the loopback
//! addresses and every address of this machine's interfaces.
//!
//! rustls with the ring provider (the one reqwest and webrtc already use). Only HTTP/1.1 is
//! offered by ALPN, so WebSocket upgrades work the same as over plain HTTP (`wss://`).
//! Handshakes run in each connection's own task (`connections`), bounded in time and counted
//! against the connection caps, so a slow or silent client never holds up the accept loop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// Why HTTPS cannot be set up.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);

/// What the server presents, ready to serve.
#[derive(Clone)]
pub struct TlsSetup {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate (DER), as colon-separated upper-case hex: what browsers
    /// show as the certificate's fingerprint.
    pub fingerprint: String,
    /// For `--tls-self-signed`: the names and addresses the certificate is valid for.
    pub self_signed_names: Option<Vec<String>>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("fingerprint", &self.fingerprint)
            .field("self_signed_names", &self.self_signed_names)
            .finish_non_exhaustive()
    }
}

/// Loads a certificate chain and its private key from PEM files.
pub fn from_files(cert: &Path, key: &Path) -> Result<TlsSetup, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError(format!("cannot read --tls-cert {}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError(format!("--tls-cert {} is not PEM: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(TlsError(format!(
            "--tls-cert {} holds no CERTIFICATE block",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        TlsError(format!(
            "cannot read a private key from --tls-key {}: {e}",
            key.display()
        ))
    })?;
    let fingerprint = fingerprint(&chain[0]);
    Ok(TlsSetup {
        config: server_config(chain, key)?,
        fingerprint,
        self_signed_names: None,
    })
}

/// Generates a self-signed certificate for `localhost`, 127.0.0.1, ::1 and `addresses`
/// (valid from the day before `now` for a year: Apple devices refuse longer-lived server
/// certificates).
pub fn self_signed(
    addresses: &[IpAddr],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<TlsSetup, TlsError> {
    let mut names = vec![
        "localhost".to_string(),
        Ipv4Addr::LOCALHOST.to_string(),
        Ipv6Addr::LOCALHOST.to_string(),
    ];
    for ip in addresses {
        let name = ip.to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let failed = |e: rcgen::Error| TlsError(format!("cannot generate a certificate: {e}"));
    let mut params = rcgen::CertificateParams::new(names.clone()).map_err(failed)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "livesale (self-signed)");
    dn.push(rcgen::DnType::OrganizationName, "livesale");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let ymd = |t: chrono::DateTime<chrono::Utc>| {
        use chrono::Datelike;
        rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8)
    };
    params.not_before = ymd(now - chrono::Duration::days(1));
    params.not_after = ymd(now + chrono::Duration::days(365));
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let cert = params.self_signed(&key).map_err(failed)?;
    let der = cert.der().clone();
    let fingerprint = fingerprint(&der);
    let key = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| TlsError(format!("cannot use the generated key: {e}")))?;
    Ok(TlsSetup {
        config: server_config(vec![der], key)?,
        fingerprint,
        self_signed_names: Some(names),
    })
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(format!("TLS set-up: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            TlsError(format!(
                "the TLS certificate and key do not work together: {e}"
            ))
        })?;
    // HTTP/1.1 only: WebSocket upgrades need it (no extended CONNECT over HTTP/2).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// SHA-256 of a certificate, `AB:CD:…`.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The addresses of this machine's interfaces that are up, without loopback, best first for
/// links a phone on the LAN opens: private IPv4 before other IPv4, then IPv6 (global before
/// link-local), and bridges of containers and VMs (docker0, br-…, veth…, virbr…) last.
pub fn interface_addresses() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut found: Vec<(u8, IpAddr)> = Vec::new();
    for ifa in addrs {
        if !ifa.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP) {
            continue;
        }
        let Some(addr) = ifa.address else { continue };
        let ip = if let Some(v4) = addr.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        if ip.is_loopback() || ip.is_unspecified() || found.iter().any(|(_, f)| *f == ip) {
            continue;
        }
        let virtual_bridge = ["docker", "br-", "veth", "virbr", "cni", "flannel", "podman"]
            .iter()
            .any(|p| ifa.interface_name.starts_with(p));
        let rank = match ip {
            IpAddr::V4(v4) if v4.is_private() => 0,
            IpAddr::V4(v4) if v4.is_link_local() => 3,
            IpAddr::V4(_) => 1,
            IpAddr::V6(v6) if v6.is_unicast_link_local() => 4,
            IpAddr::V6(_) => 2,
        } + if virtual_bridge { 10 } else { 0 };
        found.push((rank, ip));
    }
    found.sort_by_key(|(rank, _)| *rank);
    found.into_iter().map(|(_, ip)| ip).collect()
}

/// The address to put in links for phones: the best interface address that a URL can carry
/// (IPv6 link-local ones need a zone, so they never are).
pub fn lan_address() -> Option<IpAddr> {
    interface_addresses().into_iter().find(|ip| match ip {
        IpAddr::V4(v4) => !v4.is_link_local(),
        IpAddr::V6(v6) => !v6.is_unicast_link_local(),
    })
}
