//! The media settings: the ICE servers advertised to clients and used by the server's own
//! agent (`domain::ice::IceServer`), the sockets media binds, and the limits on sessions (built
//! from the config by `app::media_config`). `peer.rs` applies them.

use std::net::IpAddr;
use std::time::Duration;

pub use crate::domain::ice::IceServer;

/// The media settings (built by `app::media_config`).
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
    /// LL-HLS packaging and serving.
    pub hls: super::hls::HlsConfig,
    /// Recording of the packaged program (`None`: nothing is recorded).
    pub recording: Option<super::recording::RecordingConfig>,
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
            hls: super::hls::HlsConfig::defaults(),
            recording: None,
        }
    }
}
