//! A minimal HTTP/1.1 client for the load tool: one keep-alive connection, one request at a
//! time, `Content-Length` and chunked bodies. Each simulated buyer owns one, as a browser
//! tab holds its keep-alive connection, so a flash sale's checkouts are not queued behind a
//! shared pool, and the source address of every connection can be chosen.

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The `Location` header, if any (WHIP/WHEP session URLs).
    pub location: Option<String>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The problem+json `code`, or the status.
    pub fn code(&self) -> String {
        match self.json().get("code").and_then(|c| c.as_str()) {
            Some(code) => format!("{}:{code}", self.status),
            None => format!("{}", self.status),
        }
    }
}

pub struct Http {
    server: SocketAddr,
    src: Option<IpAddr>,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

fn bad(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.into())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Http {
    pub fn new(server: SocketAddr, src: Option<IpAddr>) -> Self {
        Http {
            server,
            src,
            stream: None,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Opens the connection now (otherwise the first request does).
    pub async fn connect(&mut self) -> std::io::Result<()> {
        if self.stream.is_none() {
            self.stream = Some(super::sys::connect_from(self.src, self.server).await?);
            self.buf.clear();
        }
        Ok(())
    }

    /// One request; a connection the server closed meanwhile is reopened once when `retry`.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        retry: bool,
    ) -> std::io::Result<Response> {
        let reused = self.stream.is_some();
        match self.once(method, path, headers, body).await {
            Ok(r) => Ok(r),
            Err(e) if retry && reused => {
                self.stream = None;
                let _ = e;
                self.once(method, path, headers, body).await
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    async fn once(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> std::io::Result<Response> {
        self.connect().await?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n",
            self.server
        );
        for (k, v) in headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        if let Some(b) = body {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                head.push_str("Content-Type: application/json\r\n");
            }
            head.push_str(&format!("Content-Length: {}\r\n", b.len()));
        } else if method != "GET" && method != "DELETE" {
            head.push_str("Content-Length: 0\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if let Some(b) = body {
            out.extend_from_slice(b);
        }
        let stream = self.stream.as_mut().expect("connected above");
        stream.write_all(&out).await?;
        let result = self.read_response().await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        let stream = self.stream.as_mut().expect("connected");
        let n = stream.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        Ok(())
    }

    async fn read_response(&mut self) -> std::io::Result<Response> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 64 * 1024 {
                return Err(bad("response head too long"));
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        let mut location = None;
        for line in lines {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => length = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => close = v.eq_ignore_ascii_case("close"),
                "location" => location = Some(v.to_string()),
                _ => {}
            }
        }
        self.buf.drain(..head_end);
        let body = if chunked {
            self.read_chunked().await?
        } else {
            let n = length.unwrap_or(0);
            while self.buf.len() < n {
                self.fill().await?;
            }
            self.buf.drain(..n).collect()
        };
        if close {
            self.stream = None;
        }
        Ok(Response {
            status,
            body,
            location,
        })
    }

    async fn read_chunked(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                self.fill().await?;
            };
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            self.buf.drain(..line_end + 2);
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        self.buf.drain(..i + 2);
                        if i == 0 {
                            return Ok(body);
                        }
                        continue;
                    }
                    self.fill().await?;
                }
            }
            while self.buf.len() < size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
        }
    }
}
