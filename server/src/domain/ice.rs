//! A STUN or TURN server as an operator names it (`--ice-servers`): parsing and the RFC 9725
//! `Link` header value. Pure, so the config can parse it without importing `media/`.

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
