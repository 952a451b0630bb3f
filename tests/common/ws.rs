//! A small WebSocket client for the live room (`GET /api/shows/{id}/ws`) over
//! tokio-tungstenite. Every read is bounded by a timeout, so a hung test is a failed test.
//!
//! The client never reads in the background: the socket is only polled inside these methods.
//! tokio-tungstenite answers the server's pings only while the stream is polled, so a client
//! that simply stops calling them behaves like a dead peer (see the idle-reaping tests).

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::server::TestServer;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The default wait of tests for one expected frame.
pub const WAIT: Duration = Duration::from_secs(5);

/// How a connection ended, as seen by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A close frame with its code and reason.
    Close(u16, String),
    /// The TCP connection ended (or failed) without a close frame.
    Dropped(String),
}

/// One frame as read, after pings and pongs were skipped.
#[derive(Debug)]
pub enum Incoming {
    Text(String),
    Binary(Vec<u8>),
    End(Ending),
}

pub struct WsClient {
    pub ws: Socket,
    pub url: String,
}

/// The WebSocket URL of a show on a server whose HTTP base is `base` (`http://host:port`).
pub fn ws_url(base: &str, show: &str, token: Option<&str>, query: &str) -> String {
    let base = base
        .strip_prefix("http://")
        .map(|rest| format!("ws://{rest}"))
        .unwrap_or_else(|| base.to_string());
    let mut params: Vec<String> = Vec::new();
    if let Some(t) = token {
        params.push(format!("token={t}"));
    }
    let query = query.trim_start_matches(['?', '&']);
    if !query.is_empty() {
        params.push(query.to_string());
    }
    let mut url = format!("{}/api/shows/{show}/ws", base.trim_end_matches('/'));
    if !params.is_empty() {
        url.push('?');
        url.push_str(&params.join("&"));
    }
    url
}

impl WsClient {
    /// Opens a WebSocket to the show on an in-process test server. `query` is extra query
    /// text such as `v=1&last_seq=7` (without the token).
    pub async fn connect(
        srv: &TestServer,
        show: &str,
        token: Option<&str>,
        query: &str,
    ) -> WsClient {
        Self::connect_base(&srv.base, show, token, query).await
    }

    /// Same, to a server given by its HTTP base URL (e.g. a [`super::server::ServerProcess`]).
    pub async fn connect_base(
        base: &str,
        show: &str,
        token: Option<&str>,
        query: &str,
    ) -> WsClient {
        let url = ws_url(base, show, token, query);
        Self::connect_url(&url).await
    }

    pub async fn connect_url(url: &str) -> WsClient {
        // TCP_NODELAY like browsers, so Nagle's algorithm on the client's side does not add
        // delayed-ACK stalls to what the tests measure.
        let connecting = tokio_tungstenite::connect_async_with_config(url, None, true);
        let (ws, _resp) = tokio::time::timeout(WAIT, connecting)
            .await
            .unwrap_or_else(|_| panic!("WebSocket handshake with {url} took over {WAIT:?}"))
            .unwrap_or_else(|e| panic!("WebSocket handshake with {url} failed: {e}"));
        WsClient {
            ws,
            url: url.to_string(),
        }
    }

    /// Connects and reads the `welcome`; returns the client and the welcome.
    pub async fn join(srv: &TestServer, show: &str, token: Option<&str>) -> (WsClient, Value) {
        let mut c = Self::connect(srv, show, token, "").await;
        let w = c.next_json(WAIT).await;
        assert_eq!(w["type"], "welcome", "first frame is not a welcome: {w}");
        (c, w)
    }

    pub async fn send_json(&mut self, v: Value) {
        self.send(Message::Text(v.to_string().into())).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::Text(text.to_string().into())).await;
    }

    /// Sends any frame (binary, oversized, close...), bounded by [`WAIT`].
    pub async fn send(&mut self, msg: Message) {
        match tokio::time::timeout(WAIT, self.ws.send(msg)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("send on {} failed: {e}", self.url),
            Err(_) => panic!("send on {} took over {WAIT:?}", self.url),
        }
    }

    /// Sends a chat message.
    pub async fn chat(&mut self, text: &str) {
        self.send_json(serde_json::json!({ "type": "chat.send", "text": text }))
            .await;
    }

    /// The next text, binary frame or the end of the connection, skipping pings and pongs;
    /// `None` if nothing came within `timeout`.
    pub async fn next_incoming(&mut self, timeout: Duration) -> Option<Incoming> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(next) => next,
            };
            return Some(match next {
                Some(Ok(Message::Text(t))) => Incoming::Text(t.to_string()),
                Some(Ok(Message::Binary(b))) => Incoming::Binary(b.to_vec()),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => Incoming::End(close_of(frame)),
                Some(Err(e)) => Incoming::End(Ending::Dropped(e.to_string())),
                None => Incoming::End(Ending::Dropped("stream ended".into())),
            });
        }
    }

    /// The next text frame as it came over the wire; panics on timeout or close.
    pub async fn next_text(&mut self, timeout: Duration) -> String {
        match self.next_incoming(timeout).await {
            Some(Incoming::Text(t)) => t,
            Some(Incoming::Binary(b)) => panic!("unexpected binary frame of {} bytes", b.len()),
            Some(Incoming::End(end)) => {
                panic!("connection ended while a frame was expected: {end:?}")
            }
            None => panic!("no frame within {timeout:?} on {}", self.url),
        }
    }

    /// The next JSON frame (pings and pongs skipped); panics on timeout, close or bad JSON.
    pub async fn next_json(&mut self, timeout: Duration) -> Value {
        let text = self.next_text(timeout).await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("frame is not JSON ({e}): {text}"))
    }

    /// The next JSON frame, or `None` if none came within `timeout`; panics on close.
    pub async fn try_next_json(&mut self, timeout: Duration) -> Option<Value> {
        match self.next_incoming(timeout).await {
            None => None,
            Some(Incoming::Text(t)) => Some(
                serde_json::from_str(&t).unwrap_or_else(|e| panic!("frame is not JSON ({e}): {t}")),
            ),
            Some(Incoming::Binary(b)) => panic!("unexpected binary frame of {} bytes", b.len()),
            Some(Incoming::End(end)) => panic!("connection ended unexpectedly: {end:?}"),
        }
    }

    /// The next frame of type `ty`, skipping others; panics if none within `timeout`.
    pub async fn next_of_type(&mut self, ty: &str, timeout: Duration) -> Value {
        let mut frames = self.collect_until(|v| v["type"] == ty, timeout).await;
        frames
            .pop()
            .expect("collect_until returns the matching frame last")
    }

    /// Reads frames until one satisfies `pred`; returns every frame read, the matching one
    /// last. Panics (listing what came) if none matches within `timeout`.
    pub async fn collect_until(
        &mut self,
        mut pred: impl FnMut(&Value) -> bool,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::Text(t)) => {
                    let v: Value = serde_json::from_str(&t)
                        .unwrap_or_else(|e| panic!("frame is not JSON ({e}): {t}"));
                    let done = pred(&v);
                    seen.push(v);
                    if done {
                        return seen;
                    }
                }
                Some(Incoming::Binary(b)) => panic!("unexpected binary frame of {} bytes", b.len()),
                Some(Incoming::End(end)) => {
                    panic!(
                        "connection ended ({end:?}) before the awaited frame; got {}",
                        brief(&seen)
                    )
                }
                None => panic!(
                    "the awaited frame did not come within {timeout:?}; got {}",
                    brief(&seen)
                ),
            }
        }
    }

    /// Every JSON frame that arrives within `window` (stops early on nothing new for `window`).
    pub async fn drain(&mut self, window: Duration) -> Vec<Value> {
        let mut seen = Vec::new();
        while let Some(v) = self.try_next_json(window).await {
            seen.push(v);
        }
        seen
    }

    /// Reads until the connection ends, skipping text frames; the ending and how many text
    /// frames came before it. Panics if it does not end within `timeout`.
    pub async fn expect_end(&mut self, timeout: Duration) -> (Ending, usize) {
        let deadline = Instant::now() + timeout;
        let mut skipped = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_incoming(left).await {
                Some(Incoming::End(end)) => return (end, skipped),
                Some(_) => skipped += 1,
                None => {
                    panic!("the connection did not end within {timeout:?} ({skipped} frames read)")
                }
            }
        }
    }

    /// Reads until a close frame; its code and reason. Panics on timeout or on a connection
    /// that ends without a close frame.
    pub async fn expect_close(&mut self, timeout: Duration) -> (u16, String) {
        match self.expect_end(timeout).await.0 {
            Ending::Close(code, reason) => (code, reason),
            Ending::Dropped(e) => panic!("expected a close frame, the connection dropped: {e}"),
        }
    }

    /// Sends a `ping` and waits for the `pong`, returning what came before it (proves the
    /// connection is alive and that everything sent before has been processed).
    pub async fn roundtrip(&mut self) -> Vec<Value> {
        self.send_json(serde_json::json!({ "type": "ping" })).await;
        let mut frames = self.collect_until(|v| v["type"] == "pong", WAIT).await;
        frames.pop();
        frames
    }

    /// Closes politely (bounded); errors are ignored.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}

fn close_of(frame: Option<CloseFrame>) -> Ending {
    match frame {
        Some(f) => Ending::Close(u16::from(f.code), f.reason.to_string()),
        None => Ending::Close(1005, String::new()),
    }
}

/// A short description of frames for failure messages.
fn brief(frames: &[Value]) -> String {
    let types: Vec<String> = frames
        .iter()
        .map(|v| match v["seq"].as_u64() {
            Some(seq) => format!("{}#{seq}", v["type"].as_str().unwrap_or("?")),
            None => v["type"].as_str().unwrap_or("?").to_string(),
        })
        .collect();
    format!("{} frames [{}]", frames.len(), types.join(", "))
}
