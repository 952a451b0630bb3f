//! One connection's task: it joins the room, sends the first ping and the `welcome` (or the
//! resumed frames), then reads the client, answers it, pings, services the outlet, and closes
//! with the documented code when something ends it.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::time::Sleep;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::{Role as WsRole, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes};

use super::admission::{Admitted, Who};
use super::handshake::Upgraded;
use super::socket::{ConnIo, Socket, close_with, ends_membership, linger, violation};
use super::{End, STORE_UNAVAILABLE, close};
use crate::domain::Show;
use crate::domain::protocol::{ErrorFrame, ServerMsg};
use crate::http::AppState;
use crate::hub::outlet::{Ending, Outlet};
use crate::hub::{Frame, Membership};
use crate::services::chat::{ChatService, ChatSettings, Pace};

/// A connection in a show's room.
pub(super) struct Conn {
    pub(super) state: AppState,
    pub(super) chat: ChatService,
    pub(super) show: Show,
    pub(super) who: Who,
    pub(super) membership: Membership,
    pub(super) ws: Socket,
    pub(super) outlet: Arc<Outlet>,
    /// The seq of the last `welcome` (what a `resume` must fill up to).
    pub(super) welcome_seq: u64,
    /// The connection's own pace of chat and reactions.
    pub(super) pace: Pace,
    write_timeout: Duration,
    pub(super) out: metrics::Counter,
}

/// Runs an admitted connection to its end.
pub(super) async fn run(
    state: AppState,
    admitted: Admitted,
    io: Upgraded,
    config: WebSocketConfig,
) {
    let Admitted {
        show,
        who,
        last_seq,
        slot,
    } = admitted;
    // The connection's places under the caps are held until it ends.
    let _slot = slot;
    let (read, write) = tokio::io::split(io);
    let outlet = Outlet::new(
        Box::pin(write),
        who.speaker.role,
        who.speaker.id.clone(),
        state.config.ws_queue,
        ends_membership,
    );
    let io = ConnIo {
        read,
        outlet: outlet.clone(),
    };
    let ws = WebSocketStream::from_raw_socket(io, WsRole::Server, Some(config)).await;
    let (end, mut ws) = open(state, show, who, last_seq, ws, outlet.clone()).await;
    // What is still queued (a close frame, the last frames) gets a bounded chance to leave.
    outlet.finish(Duration::from_secs(2)).await;
    if matches!(
        end,
        End::ProtocolError | End::InvalidUtf8 | End::TooBig | End::Binary
    ) {
        // The client's frame may be partly unread: closing now would reset the connection,
        // and a reset can destroy the close frame before the client reads it. Read on
        // (bounded) until the client closes its side, as RFC 6455 section 7.1.1 asks.
        linger(&mut ws.get_mut().read).await;
    }
    metrics::counter!("livesale_ws_disconnects_total", "reason" => end.label()).increment(1);
}

/// Joins the room and serves the connection; gives the socket back for the goodbye.
async fn open(
    state: AppState,
    show: Show,
    who: Who,
    last_seq: Option<u64>,
    mut ws: Socket,
    outlet: Arc<Outlet>,
) -> (End, Socket) {
    let membership = match state.hub.join(&show).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(show = %show.id, error = %e, "cannot join the room");
            let _ = close_with(&mut ws, close::INTERNAL, STORE_UNAVAILABLE).await;
            return (End::Error, ws);
        }
    };
    let settings = ChatSettings::from_config(&state.config);
    let chat = ChatService::new(
        state.store.clone(),
        state.hub.clone(),
        state.clock.clone(),
        settings,
    );
    let mut conn = Conn {
        pace: Pace::new(&settings),
        chat,
        write_timeout: Duration::from_millis(state.config.ws_write_timeout_ms),
        out: metrics::counter!("livesale_ws_messages_out_total"),
        welcome_seq: 0,
        state,
        show,
        who,
        membership,
        ws,
        outlet,
    };
    let end = conn.serve(last_seq).await;
    tracing::debug!(show = %conn.show.id, reason = end.label(), "WebSocket closed");
    (end, conn.ws)
}

impl Conn {
    async fn serve(&mut self, last_seq: Option<u64>) -> End {
        // Attach before the snapshot, so nothing after it can be missed; the outlet holds
        // the room's frames until the welcome is out and skips those up to its seq.
        self.membership.room.attach(self.outlet.clone());
        // A ping first, so that even a client with nothing to say answers within the
        // handshake timeout (a pong counts); one that never does is a half-open upgrade.
        // It goes before the welcome so a client that reads the welcome has answered it.
        let first_word = tokio::time::sleep(Duration::from_millis(
            self.state.config.ws_handshake_timeout_ms.max(1),
        ));
        tokio::pin!(first_word);
        if let Err(end) = self.send_now(Message::Ping(Default::default())).await {
            return end;
        }
        let opened = match last_seq {
            Some(last) => self.resume(last).await,
            None => self.welcome(false).await,
        };
        if let Err(end) = opened {
            return end;
        }
        self.pump(first_word).await
    }

    /// The connection's loop, until something ends it.
    async fn pump(&mut self, mut first_word: Pin<&mut Sleep>) -> End {
        let mut heard_any = false;
        let ping_every = Duration::from_secs(self.state.config.ws_ping_interval_s.max(1));
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let mut heard_since_ping = true;
        let shutdown = self.state.shutdown.clone();
        let shutdown = shutdown.cancelled();
        tokio::pin!(shutdown);
        // Armed while bytes wait for the socket: past the write timeout, a slow consumer.
        let stall = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(stall);
        let mut stalled = false;
        loop {
            let step = tokio::select! {
                biased;
                _ = &mut shutdown => {
                    let reason = "server shutting down; reconnect with last_seq";
                    Err(self.close(close::GOING_AWAY, reason, End::Shutdown).await)
                }
                _ = self.outlet.notified() => {
                    self.service_outlet(stall.as_mut(), &mut stalled, false).await
                }
                _ = &mut stall, if stalled => {
                    self.service_outlet(stall.as_mut(), &mut stalled, true).await
                }
                _ = &mut first_word, if !heard_any => {
                    let reason = "nothing received since the upgrade (not even a pong)";
                    Err(self.close(close::IDLE, reason, End::Idle).await)
                }
                incoming = self.ws.next() => {
                    heard_since_ping = true;
                    heard_any = true;
                    self.on_incoming(incoming).await
                }
                _ = ping.tick() => self.on_ping_tick(&mut heard_since_ping).await,
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// Lets the outlet write what waits, and arms (or disarms) the stall deadline. Past the
    /// deadline with bytes still waiting, the connection is a slow consumer.
    async fn service_outlet(
        &mut self,
        mut stall: Pin<&mut Sleep>,
        stalled: &mut bool,
        deadline_passed: bool,
    ) -> Result<(), End> {
        match self.outlet.service() {
            Ok(Some(since)) if deadline_passed && since.elapsed() >= self.write_timeout => {
                Err(self.ended(Ending::Behind(0)).await)
            }
            Ok(Some(since)) => {
                stall.as_mut().reset((since + self.write_timeout).into());
                *stalled = true;
                Ok(())
            }
            Ok(None) => {
                *stalled = false;
                Ok(())
            }
            Err(ending) => Err(self.ended(ending).await),
        }
    }

    async fn on_incoming(
        &mut self,
        incoming: Option<Result<Message, tungstenite::Error>>,
    ) -> Result<(), End> {
        match incoming {
            Some(Ok(Message::Text(text))) => self.on_text(&text).await,
            Some(Ok(Message::Binary(_))) => {
                let reason = "binary frames are not part of the protocol; send JSON text";
                Err(self
                    .close(close::UNSUPPORTED_DATA, reason, End::Binary)
                    .await)
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(()),
            Some(Ok(Message::Close(_))) => {
                // The library queued the close reply; send it, so the client's close
                // completes cleanly (browsers report 1006 otherwise).
                let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.flush()).await;
                Err(End::ClientClosed)
            }
            None => Err(End::ClientClosed),
            Some(Err(e)) => {
                let max_frame = self.state.config.ws_max_frame_bytes;
                let Some((code, reason, end)) = violation(&e, max_frame) else {
                    return Err(End::Error);
                };
                Err(self.close(code, &reason, end).await)
            }
        }
    }

    async fn on_ping_tick(&mut self, heard_since_ping: &mut bool) -> Result<(), End> {
        if !*heard_since_ping {
            return Err(self
                .close(close::IDLE, "no answer to pings", End::Idle)
                .await);
        }
        *heard_since_ping = false;
        self.send_now(Message::Ping(Default::default()))
            .await
            .map_err(|_| End::SlowConsumer)
    }

    /// Sends a close frame; the connection ends as `end`.
    pub(super) async fn close(&mut self, code: u16, reason: &str, end: End) -> End {
        let _ = close_with(&mut self.ws, code, reason).await;
        end
    }

    /// Closes the connection the way the writer's ending asks for.
    async fn ended(&mut self, ending: Ending) -> End {
        match ending {
            Ending::Behind(n) => {
                let behind = if n > 0 {
                    format!("{n} frames behind")
                } else {
                    "writes stalled".to_string()
                };
                let reason = format!(
                    "slow consumer: {behind}; reconnect with last_seq={}",
                    self.outlet.cursor()
                );
                self.close(close::SLOW_CONSUMER, &reason, End::SlowConsumer)
                    .await
            }
            Ending::Notice(code, reason) => self.close(code, reason, End::Refused).await,
            Ending::Failed => End::Error,
        }
    }

    /// Whether this connection receives a frame (moderator-only and personal frames are not
    /// for everyone).
    pub(super) fn admits(&self, frame: &Frame) -> bool {
        let speaker = &self.who.speaker;
        frame.audience.admits(speaker.role, speaker.id.as_deref())
    }

    async fn feed(&mut self, msg: Message) -> Result<(), End> {
        match tokio::time::timeout(self.write_timeout, self.ws.feed(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Error),
            Err(_) => Err(End::SlowConsumer),
        }
    }

    async fn flush(&mut self) -> Result<(), End> {
        match tokio::time::timeout(self.write_timeout, self.ws.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Error),
            Err(_) => Err(End::SlowConsumer),
        }
    }

    async fn send_now(&mut self, msg: Message) -> Result<(), End> {
        self.feed(msg).await?;
        self.flush().await
    }

    /// Sends one of this connection's own frames.
    pub(super) async fn send(&mut self, msg: &ServerMsg) -> Result<(), End> {
        self.send_now(Message::Text(Utf8Bytes::from(msg.to_json())))
            .await
    }

    /// Answers with an `error` frame (counted as a dropped message of its code).
    pub(super) async fn error(&mut self, frame: ErrorFrame) -> Result<(), End> {
        metrics::counter!("livesale_ws_dropped_total", "reason" => frame.code.as_str())
            .increment(1);
        self.send(&ServerMsg::Error(frame)).await
    }
}
