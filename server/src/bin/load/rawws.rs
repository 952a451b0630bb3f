//! A minimal WebSocket client for the fan-out load (RFC 6455, client side, text frames).
//!
//! The load tool reads every frame of thousands of connections on one core; with a general
//! WebSocket library per connection (its read buffer zero-filled before every read, its
//! wakers, a select over the reader and the send timers at every frame) the tool, not the
//! server, set the latency it measured. Here a connection is a reader that owns the read half
//! and parses frames in place, and a writer shared with the task that sends on a schedule.

use std::io;
use std::ops::Range;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// A frame from the server: text payloads are ranges of the reader's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Text(Range<usize>),
    Ping(Vec<u8>),
    Close(u16),
    Other,
}

pub struct Reader {
    half: OwnedReadHalf,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

pub struct Writer {
    half: tokio::sync::Mutex<OwnedWriteHalf>,
}

/// Opens a WebSocket over `stream` (HTTP/1.1 upgrade of `path` at `host`). Errors are kinds
/// for the report (`handshake:http_403`, `handshake:io_…`).
pub async fn connect(
    mut stream: TcpStream,
    host: &str,
    path: &str,
) -> Result<(Reader, Writer), String> {
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let io_kind = |e: io::Error| format!("handshake:io_{:?}", e.kind());
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(io_kind)?;
    let mut buf = vec![0u8; 4096];
    let mut end = 0;
    let head_end = loop {
        if end == buf.len() {
            return Err("handshake:too_long".into());
        }
        let n = stream.read(&mut buf[end..]).await.map_err(io_kind)?;
        if n == 0 {
            return Err("handshake:closed".into());
        }
        end += n;
        if let Some(at) = buf[..end].windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let status = buf[..head_end]
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .unwrap_or("?")
        .to_string();
    if status != "101" {
        return Err(format!("handshake:http_{status}"));
    }
    let (read, write) = stream.into_split();
    Ok((
        Reader {
            half: read,
            buf,
            start: head_end,
            end,
        },
        Writer {
            half: tokio::sync::Mutex::new(write),
        },
    ))
}

impl Reader {
    /// The next whole frame already read, if any.
    pub fn frame(&mut self) -> Result<Option<Frame>, &'static str> {
        let b = &self.buf[self.start..self.end];
        if b.len() < 2 {
            return Ok(None);
        }
        if b[1] & 0x80 != 0 {
            return Err("masked_server_frame");
        }
        let (len, header) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().unwrap_or_default()) as usize,
                10,
            ),
            126 | 127 => return Ok(None),
            n => (n as usize, 2),
        };
        if b.len() < header + len {
            return Ok(None);
        }
        let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0f);
        let payload = self.start + header..self.start + header + len;
        self.start = payload.end;
        if !fin || opcode == 0 {
            return Err("fragmented_frame");
        }
        Ok(Some(match opcode {
            1 => Frame::Text(payload),
            8 => {
                let p = &self.buf[payload];
                Frame::Close(if p.len() >= 2 {
                    u16::from_be_bytes([p[0], p[1]])
                } else {
                    1005
                })
            }
            9 => Frame::Ping(self.buf[payload].to_vec()),
            _ => Frame::Other,
        }))
    }

    /// A text frame's payload.
    pub fn text(&self, range: Range<usize>) -> Option<&str> {
        std::str::from_utf8(&self.buf[range]).ok()
    }

    /// Reads what the socket has (waiting for some); 0 at the end of the stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.start > 0 && self.buf.len() - self.end < 1024 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.buf.len() - self.end < 1024 {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.half.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

pub const TEXT: u8 = 1;
pub const CLOSE: u8 = 8;
pub const PONG: u8 = 10;

impl Writer {
    /// Sends one masked frame.
    pub async fn send(&self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let frame = masked(opcode, payload, rand::random());
        self.half.lock().await.write_all(&frame).await
    }

    pub async fn text(&self, text: &str) -> io::Result<()> {
        self.send(TEXT, text.as_bytes()).await
    }
}

fn masked(opcode: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let len = payload.len();
    let mut f = Vec::with_capacity(len + 14);
    f.push(0x80 | opcode);
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_are_masked_with_the_key() {
        let f = masked(TEXT, b"hi", [1, 2, 3, 4]);
        assert_eq!(f, vec![0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2]);
        let long = masked(TEXT, &[0u8; 300], [0; 4]);
        assert_eq!(&long[..4], &[0x81, 0x80 | 126, 0x01, 0x2c]);
    }

    #[tokio::test]
    async fn reads_frames_of_both_length_forms_from_a_real_server() {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            use futures::{SinkExt, StreamExt};
            ws.send(tokio_tungstenite::tungstenite::Message::text(
                "a".repeat(300),
            ))
            .await
            .unwrap();
            ws.send(tokio_tungstenite::tungstenite::Message::text("short"))
                .await
                .unwrap();
            let got = ws.next().await.unwrap().unwrap();
            assert_eq!(got.into_text().unwrap().as_str(), "hello");
            ws.close(None).await.unwrap();
            while ws.next().await.is_some() {}
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut reader, writer) = connect(stream, &addr.to_string(), "/").await.unwrap();
        let mut texts = Vec::new();
        let code = loop {
            match reader.frame().unwrap() {
                Some(Frame::Text(r)) => {
                    texts.push(reader.text(r).unwrap().to_string());
                    if texts.len() == 2 {
                        writer.text("hello").await.unwrap();
                    }
                }
                Some(Frame::Close(code)) => break code,
                Some(_) => {}
                None => assert!(reader.fill().await.unwrap() > 0, "eof before close"),
            }
        };
        assert_eq!(texts, vec!["a".repeat(300), "short".to_string()]);
        assert_eq!(code, 1005);
        writer.send(CLOSE, &[]).await.unwrap();
        server.await.unwrap();
    }
}
