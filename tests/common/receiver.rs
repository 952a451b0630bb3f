//! A real webhook receiver for tests: an axum server on 127.0.0.1 that records every request
//! (headers, raw body, arrival time) and answers by a script, so tests can make a merchant
//! fail, hang or be down and then watch what the server sends.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::sync::Notify;

/// How the receiver answers its n-th request (counted from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Status(u16),
    /// Never answers; the request stays open until the client gives up.
    Hang,
}

type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub reply: Reply,
}

impl Recorded {
    /// A header's value (panics with the headers when absent or not text).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no header {name} in {:?}", self.headers))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn delivery(&self) -> String {
        self.header("x-livesale-delivery").to_string()
    }

    pub fn attempt(&self) -> u32 {
        self.header("x-livesale-attempt")
            .parse()
            .expect("a numeric attempt header")
    }
}

struct Inner {
    script: Script,
    requests: Mutex<Vec<Recorded>>,
    arrived: Notify,
}

pub struct Receiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Answers 500 to the first `fail_first` requests, then 200.
    pub async fn start(fail_first: usize) -> Receiver {
        Self::scripted(free_addr(), move |n| {
            Reply::Status(if n < fail_first { 500 } else { 200 })
        })
        .await
    }

    /// Never answers the first `hang_first` requests, then answers 200.
    pub async fn hanging(hang_first: usize) -> Receiver {
        Self::scripted(free_addr(), move |n| {
            if n < hang_first {
                Reply::Hang
            } else {
                Reply::Status(200)
            }
        })
        .await
    }

    /// Answers 200 on `addr` (a port reserved with [`free_addr`] while the receiver was down).
    pub async fn start_at(addr: SocketAddr) -> Receiver {
        Self::scripted(addr, |_| Reply::Status(200)).await
    }

    /// Answers the n-th request (from 0) with `script(n)`.
    pub async fn scripted(
        addr: SocketAddr,
        script: impl Fn(usize) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind the receiver on {addr}: {e}"));
        let addr = listener.local_addr().expect("receiver address");
        let inner = Arc::new(Inner {
            script: Arc::new(script),
            requests: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        });
        let app = Router::new().fallback(receive).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, inner, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived; panics with what did arrive after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.arrived.notified();
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let got = self.requests();
                panic!(
                    "expected {n} webhook requests within {timeout:?}, got {}: {:?}",
                    got.len(),
                    got.iter().map(summary).collect::<Vec<_>>()
                );
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An address on 127.0.0.1 that nothing listens on now (for a receiver that starts later).
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
}

fn summary(r: &Recorded) -> String {
    let h = |name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    format!(
        "{} {} attempt {} → {:?}",
        h("x-livesale-event"),
        h("x-livesale-delivery"),
        h("x-livesale-attempt"),
        r.reply
    )
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let reply = {
        let mut requests = inner.requests.lock().unwrap();
        let reply = (inner.script)(requests.len());
        requests.push(Recorded {
            at: Instant::now(),
            headers,
            body,
            reply,
        });
        reply
    };
    inner.arrived.notify_waiters();
    match reply {
        Reply::Status(code) => StatusCode::from_u16(code).expect("a valid status code"),
        Reply::Hang => std::future::pending().await,
    }
}
