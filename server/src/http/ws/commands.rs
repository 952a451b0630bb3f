//! The connection's answers to what its client sends: each message is parsed
//! (`domain::protocol::ClientMsg`), handed to one service call (chat and reactions to the
//! chat service, `mod.*` commands to moderation, `resume` to the bus), and the outcome mapped
//! to a frame. No rules live here.

use super::End;
use super::connection::Conn;
use crate::domain::moderation::{Actor, is_moderator};
use crate::domain::protocol::{ClientMsg, ErrorFrame, ModCommand, ServerMsg};
use crate::domain::{Code, DomainError, Role};
use crate::services::chat::{ChatError, Posted, Reacted};
use crate::services::moderation::ModError;

impl Conn {
    pub(super) async fn on_text(&mut self, text: &str) -> Result<(), End> {
        let msg = match ClientMsg::parse(text) {
            Ok(m) => m,
            Err(e) => return self.error(ErrorFrame::of(&e)).await,
        };
        metrics::counter!("livesale_ws_messages_in_total", "type" => msg.type_name()).increment(1);
        match msg {
            ClientMsg::Ping {} => self.send(&ServerMsg::Pong).await,
            ClientMsg::Resume { last_seq } => self.resume(last_seq).await,
            ClientMsg::ReactionSend { kind } => self.react(&kind).await,
            ClientMsg::ChatSend { text } => self.chat(&text).await,
            ClientMsg::Mod(command) => self.moderate(command).await,
        }
    }

    async fn chat(&mut self, raw: &str) -> Result<(), End> {
        let speaker = &self.who.speaker;
        match self
            .chat
            .post(&self.show, speaker, &mut self.pace, raw)
            .await
        {
            Ok(Posted::Published) => Ok(()),
            Ok(Posted::Held { id }) => self.send(&ServerMsg::ChatPending { id }).await,
            Err(e) => {
                let frame = self.refusal(e, "your message could not be sent; try again");
                self.error(frame).await
            }
        }
    }

    async fn react(&mut self, kind: &str) -> Result<(), End> {
        let (room, speaker) = (&self.membership.room, &self.who.speaker);
        match self.chat.react(room, speaker, &mut self.pace, kind).await {
            Ok(Reacted::Counted) => Ok(()),
            Ok(Reacted::Dropped) => {
                let reason = Code::RateLimited;
                metrics::counter!("livesale_ws_dropped_total", "reason" => reason.as_str())
                    .increment(1);
                Ok(())
            }
            Err(e) => {
                let frame = self.refusal(e, "your reaction could not be counted; try again");
                self.error(frame).await
            }
        }
    }

    /// The `error` frame for what the chat service refused.
    fn refusal(&self, e: ChatError, unavailable: &str) -> ErrorFrame {
        match e {
            ChatError::Refused(e) => ErrorFrame::of(&e),
            ChatError::RateLimited { refusal, wait } => ErrorFrame::of(&refusal).retry_after(wait),
            ChatError::Unavailable(e) => {
                tracing::warn!(show = %self.show.id, error = %e, "chat not published");
                ErrorFrame::of(&DomainError::conflict(Code::Unavailable, unavailable))
            }
        }
    }

    async fn moderate(&mut self, command: ModCommand) -> Result<(), End> {
        let speaker = &self.who.speaker;
        if !is_moderator(speaker.role) {
            let e = DomainError::forbidden(
                Code::ForbiddenRole,
                "only the creator and moderators moderate",
            );
            return self.error(ErrorFrame::of(&e)).await;
        }
        let actor = Actor {
            id: speaker.id.clone().unwrap_or_default(),
            name: speaker.name.clone().unwrap_or_default(),
            role: speaker.role.unwrap_or(Role::Moderator),
        };
        let applied = self
            .state
            .moderation
            .apply(&self.show, &actor, command)
            .await;
        let e = match applied {
            Ok(_) => return Ok(()),
            Err(ModError::Rule(e)) => e,
            Err(ModError::Store(e)) => {
                tracing::warn!(show = %self.show.id, error = %e, "moderation action failed");
                DomainError::conflict(
                    Code::Unavailable,
                    "the action could not be applied; try again",
                )
            }
        };
        self.error(ErrorFrame::of(&e)).await
    }
}
