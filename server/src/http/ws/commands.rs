//! The connection's answers to what its client sends: each message is parsed
//! (`domain::protocol::ClientMsg`), handed to one service call (chat and reactions to the
//! chat service, `mod.*` commands to moderation, `resume` to the bus), and the outcome mapped
//! to a frame. No rules live here.

use super::End;
use super::connection::Conn;
use crate::domain::auction::AuctionId;
use crate::domain::moderation::{Actor, is_moderator};
use crate::domain::protocol::{ClientMsg, ErrorFrame, ModCommand, ServerMsg};
use crate::domain::{Code, DomainError, Role};
use crate::services::auctions::{AuctionError, BidAsk};
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
            ClientMsg::AuctionBid {
                auction_id,
                amount,
                max_amount,
                key,
            } => {
                let ask = BidAsk {
                    amount,
                    max_amount,
                    currency: None,
                    key,
                };
                self.auction_bid(&auction_id, ask).await
            }
        }
    }

    /// A bid: the same service call as `POST …/bids`; `auction.ack` to the sender, or an
    /// `error` frame that echoes the bid's `key`.
    async fn auction_bid(&mut self, auction_id: &str, ask: BidAsk) -> Result<(), End> {
        let echo = ask.key.clone();
        let placed = async {
            let auction: AuctionId = auction_id.parse().map_err(|_| {
                DomainError::not_found(Code::AuctionNotFound, "no such auction in this show")
            })?;
            let auctions = &self.state.auctions;
            let bidding = auctions
                .bidder(self.who.principal.as_ref(), self.show.id)
                .await?;
            auctions.bid(&bidding, auction, ask).await
        }
        .await;
        match placed {
            Ok(placed) => {
                let ack = ServerMsg::AuctionAck {
                    auction_id: placed.auction.id,
                    key: echo,
                    outcome: placed.outcome,
                    auction: Box::new(placed.auction),
                };
                self.send(&ack).await
            }
            Err(e) => {
                let mut frame = self.bid_refusal(e);
                frame.key = echo;
                self.error(frame).await
            }
        }
    }

    /// The `error` frame for a bid the auctions service did not take.
    fn bid_refusal(&self, e: AuctionError) -> ErrorFrame {
        match e {
            AuctionError::Refused(e) => ErrorFrame::of(&e),
            AuctionError::Bid {
                refusal,
                next_minimum,
            } => {
                let mut frame = ErrorFrame::of(&refusal);
                if refusal.code == Code::BidTooLow {
                    frame.next_minimum = Some(next_minimum);
                }
                frame
            }
            AuctionError::RateLimited { refusal, wait } => {
                ErrorFrame::of(&refusal).retry_after(wait)
            }
            AuctionError::PaymentUnavailable(why) => {
                tracing::warn!(show = %self.show.id, %why, "saved cards not read");
                let e = DomainError::conflict(
                    Code::Unavailable,
                    "the bid could not be placed; try again",
                );
                ErrorFrame::of(&e)
            }
            AuctionError::Store(e) => {
                tracing::warn!(show = %self.show.id, error = %e, "bid not placed");
                let e = DomainError::conflict(
                    Code::Unavailable,
                    "the bid could not be placed; try again",
                );
                ErrorFrame::of(&e)
            }
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
