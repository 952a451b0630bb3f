//! Redis for tests: the URL of the Redis that scripts/test.sh started, key prefixes that keep
//! tests apart on it, and [`PrivateRedis`], a throw-away `redis-server` a test can kill and
//! restart to exercise outages. Plain std code (processes and sockets), so it works from sync
//! and async tests alike. Tests never skip silently: a missing Redis is a loud failure.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a fresh `redis-server` may take to answer PING.
const READY_WITHIN: Duration = Duration::from_secs(5);

/// The shared test Redis (`LIVESALE_TEST_REDIS_URL`); panics when it is not configured.
pub fn redis_url() -> String {
    match std::env::var("LIVESALE_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "LIVESALE_TEST_REDIS_URL is not set: run scripts/test.sh, which starts a private \
             Redis (or set it to a redis:// URL of a Redis you own)"
        ),
    }
}

/// A key prefix no other test uses, so tests sharing one Redis never see each other's keys.
pub fn unique_prefix(name: &str) -> String {
    format!("t-{name}-{}", uuid::Uuid::new_v4().simple())
}

/// A `redis-server` owned by one test, on its own port of 127.0.0.1, with persistence off.
/// Dropping it kills the process.
pub struct PrivateRedis {
    pub port: u16,
    pub url: String,
    binary: PathBuf,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts a server on a free port and waits until it answers PING.
    pub fn start() -> PrivateRedis {
        let binary = redis_server_binary();
        let mut dir = tempfile::Builder::new()
            .prefix("livesale-private-redis")
            .tempdir()
            .expect("create a temporary directory for redis-server");
        // Asking the kernel for a free port and then letting redis bind it can race with
        // another process; a few attempts make that harmless.
        for _ in 0..10 {
            let port = free_port();
            let mut redis = PrivateRedis {
                port,
                url: format!("redis://127.0.0.1:{port}/"),
                binary: binary.clone(),
                dir,
                child: None,
            };
            match redis.launch() {
                Ok(()) => return redis,
                Err(e) if e.contains("Address already in use") => {
                    dir = redis.take_dir();
                    continue;
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("could not start redis-server on a free port after 10 attempts");
    }

    /// Kills the server (SIGKILL, like a crash) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and waits until it answers PING.
    pub fn restart(&mut self) {
        self.stop();
        if let Err(e) = self.launch() {
            panic!("restarting redis-server on port {}: {e}", self.port);
        }
    }

    fn launch(&mut self) -> Result<(), String> {
        let log = self.dir.path().join("redis.log");
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot run {}: {e}. Install redis-server (apt-get install redis-server) or set \
                 LIVESALE_TEST_REDIS_SERVER to its path; scripts/test.sh does both",
                self.binary.display()
            ),
        };
        self.child = Some(child);
        self.wait_ready(&log)
    }

    fn wait_ready(&mut self, log: &Path) -> Result<(), String> {
        let deadline = Instant::now() + READY_WITHIN;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!(
                    "redis-server exited at start ({status}) on port {}; its log:\n{}",
                    self.port,
                    std::fs::read_to_string(log).unwrap_or_default()
                ));
            }
            if pong(addr) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(format!(
                    "redis-server did not answer PING on port {} within {READY_WITHIN:?}; its \
                     log:\n{}",
                    self.port,
                    std::fs::read_to_string(log).unwrap_or_default()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Moves the temporary directory out so a failed attempt can hand it to the next one.
    fn take_dir(mut self) -> tempfile::TempDir {
        self.stop();
        let empty = tempfile::tempdir().expect("create a temporary directory");
        std::mem::replace(&mut self.dir, empty)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `LIVESALE_TEST_REDIS_SERVER`, else `redis-server` found on PATH.
fn redis_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("LIVESALE_TEST_REDIS_SERVER").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "redis-server is not on PATH and LIVESALE_TEST_REDIS_SERVER is not set: install \
                 redis-server (apt-get install redis-server) or run scripts/test.sh"
            )
        })
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0 to find a free port")
}

/// Whether a Redis at `addr` answers an inline PING with +PONG.
fn pong(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// CRC16/XMODEM, the checksum Redis Cluster uses for key slots.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The Cluster slot of a key: the CRC of its first non-empty `{...}` tag, else of it all.
pub fn slot(key: &str) -> u16 {
    let hashed = key
        .find('{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            rest.find('}')
                .filter(|&close| close > 0)
                .map(|close| &rest[..close])
        })
        .unwrap_or(key);
    crc16(hashed.as_bytes()) % 16384
}

/// A plain connection to the test Redis, for looking at keys directly.
pub async fn raw_connection() -> ::redis::aio::MultiplexedConnection {
    ::redis::Client::open(redis_url())
        .expect("a valid test Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("a connection to the test Redis")
}

/// Every key under `prefix` (SCAN; tests only).
pub async fn keys_under(prefix: &str) -> Vec<String> {
    let mut con = raw_connection().await;
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut con)
            .await
            .expect("SCAN on the test Redis");
        keys.extend(batch);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}
