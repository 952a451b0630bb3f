//! The media settings: the ICE servers advertised to clients and used by the server's own
//! agent, the sockets media binds, and the limits on sessions (from
//! [`crate::config::Config::media_config`]). Parsing and printing only; `peer.rs` applies them.

use std::net::IpAddr;
use std::time::Duration;

/// A STUN or TURN server, advertised to clients (WHIP/WHEP `Link` headers) and used by the
/// server's own ICE agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    pub url: String,
    pub username: Option<String>,
    pub credential: Option<String>,
}

impl IceServer {
    /// Parses `stun:host:port`, `turn:host:port?transport=udp`, or with credentials
    /// `turn:user:password@host:port?transport=tcp` (`turns:` likewise).
    pub fn parse(text: &str) -> Result<IceServer, String> {
        let text = text.trim();
        let (scheme, rest) = text
            .split_once(':')
            .ok_or_else(|| format!("'{text}' is not a stun:, turn: or turns: URL"))?;
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "stun" | "stuns" | "turn" | "turns") {
            return Err(format!("'{text}' is not a stun:, turn: or turns: URL"));
        }
        let (credentials, host) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, rest),
        };
        if host.is_empty() {
            return Err(format!("'{text}' names no host"));
        }
        let (username, credential) = match credentials {
            Some(c) => {
                let (u, p) = c
                    .split_once(':')
                    .ok_or_else(|| format!("'{text}': credentials are user:password@"))?;
                (Some(u.to_string()), Some(p.to_string()))
            }
            None => (None, None),
        };
        if scheme.starts_with("turn") && username.is_none() {
            return Err(format!("'{text}': a TURN server needs user:password@"));
        }
        Ok(IceServer {
            url: format!("{scheme}:{host}"),
            username,
            credential,
        })
    }

    /// The RFC 9725 `Link` header value for this server.
    pub fn link_header(&self) -> String {
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut value = format!("<{}>; rel=\"ice-server\"", self.url);
        if let (Some(u), Some(c)) = (&self.username, &self.credential) {
            value.push_str(&format!(
                "; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                quote(u),
                quote(c)
            ));
        }
        value
    }
}

/// The media settings (from [`crate::config::Config::media_config`]).
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// The local address media sockets bind to (a wildcard binds every non-loopback interface).
    pub ip: IpAddr,
    /// The UDP (and ICE-TCP) port range, or ephemeral ports.
    pub udp_ports: Option<(u16, u16)>,
    /// Addresses advertised instead of the local ones (1:1 NAT).
    pub public_ips: Vec<String>,
    /// Also offer ICE-TCP (passive) candidates on the same port numbers.
    pub ice_tcp: bool,
    pub ice_servers: Vec<IceServer>,
    /// WHEP sessions this node accepts at once.
    pub max_viewers: usize,
    /// Packets a viewer may fall behind before packets are dropped (and it skips to the next
    /// keyframe).
    pub viewer_queue: usize,
    /// A session whose connection is not up after this is ended.
    pub connect_timeout: Duration,
    /// At most one keyframe request per camera per this interval.
    pub pli_interval: Duration,
}

impl MediaConfig {
    /// Loopback defaults, for tests and tools.
    pub fn loopback() -> Self {
        MediaConfig {
            ip: IpAddr::from([127, 0, 0, 1]),
            udp_ports: None,
            public_ips: Vec::new(),
            ice_tcp: false,
            ice_servers: Vec::new(),
            max_viewers: 1000,
            viewer_queue: 256,
            connect_timeout: Duration::from_secs(20),
            pli_interval: Duration::from_millis(500),
        }
    }
}
