//! How a connection learns the room: the `welcome` (a fresh snapshot, from the chat
//! service, as one typed frame) and the answer to a resume (the frames it missed, from the
//! bus's log, or a `welcome` marked `resync` when they are gone). A store that cannot be
//! reached for the welcome closes the connection with 1011 (`store_unavailable`), as the
//! protocol documents, rather than welcoming it into a partial room.

use super::connection::Conn;
use super::{End, STORE_UNAVAILABLE, close};
use crate::domain::moderation::is_moderator;
use crate::domain::protocol::{
    ErrorFrame, HeldView, PROTOCOL_VERSION, ServerMsg, ShowSummary, StandingView, Welcome, You,
    role_name,
};
use crate::domain::{Code, DomainError, Principal};
use crate::hub::Replay;
use crate::hub::outlet::encode_text;
use crate::services::chat::RoomSnapshot;

impl Conn {
    /// Sends a fresh snapshot.
    pub(super) async fn welcome(&mut self, resync: bool) -> Result<(), End> {
        let snapshot = match self.chat.snapshot(&self.show, &self.who.speaker).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(show = %self.show.id, error = %e, "no snapshot for welcome");
                return Err(self
                    .close(close::INTERNAL, STORE_UNAVAILABLE, End::Error)
                    .await);
            }
        };
        let auction = match self.state.auctions.welcome_lot(&snapshot.show).await {
            Ok(lot) => lot,
            Err(e) => {
                tracing::warn!(show = %self.show.id, error = %e, "no auction lot for welcome");
                return Err(self
                    .close(close::INTERNAL, STORE_UNAVAILABLE, End::Error)
                    .await);
            }
        };
        let program = self.state.media.program_anywhere(self.show.id).await;
        self.show = snapshot.show.clone();
        let seq = snapshot.seq;
        let mut welcome = self.welcome_of(snapshot, program, resync);
        welcome.auction = auction;
        self.welcome_seq = seq;
        let sent = self.send(&ServerMsg::Welcome(Box::new(welcome))).await;
        // The room's frames after the snapshot follow it.
        self.outlet.go_live(seq);
        sent
    }

    fn welcome_of(
        &self,
        room: RoomSnapshot,
        program: Option<crate::domain::media_ids::CameraId>,
        resync: bool,
    ) -> Welcome {
        let speaker = &self.who.speaker;
        let viewer_id = match &self.who.principal {
            Some(Principal::Viewer { viewer_id, .. }) => Some(viewer_id.to_string()),
            _ => None,
        };
        let chat_mode = crate::services::moderation::mode_of(&room.policy);
        let terms = is_moderator(speaker.role).then_some(room.policy.blocked_terms);
        let held = room.held.map(|held| {
            held.into_iter()
                .map(|h| HeldView {
                    message: h.message,
                    reason: h.reason,
                })
                .collect()
        });
        Welcome {
            protocol: PROTOCOL_VERSION,
            seq: room.seq,
            show: ShowSummary::from(&room.show),
            role: role_name(speaker.role),
            you: You {
                id: speaker.id.clone(),
                viewer_id,
                name: speaker.name.clone(),
            },
            viewers: room.viewers.max(self.membership.room.members()),
            pins: room.pins,
            chat: room.chat,
            program,
            chat_mode,
            terms,
            creator_terms: room.creator_terms,
            held,
            pinned_message: room.pinned_message,
            standing: room.standing.map(|s| StandingView::of(&s, room.at)),
            auction: None,
            now_ms: self.state.clock.now_ms(),
            resync,
        }
    }

    /// Replays what the client missed after `last_seq`, or resyncs when that is gone. The
    /// room's frames wait meanwhile and follow the replay.
    pub(super) async fn resume(&mut self, last_seq: u64) -> Result<(), End> {
        self.outlet.pause();
        match self.state.hub.bus.since(&self.show, last_seq).await {
            Ok(Replay::Frames(frames)) => {
                let (welcome_seq, cursor) = (self.welcome_seq, self.outlet.cursor());
                let mut upto = cursor;
                let mut n = 0;
                for f in frames {
                    // Skip what this connection already delivered after its welcome.
                    if f.seq <= last_seq
                        || (f.seq > welcome_seq && f.seq <= cursor)
                        || !self.admits(&f)
                    {
                        continue;
                    }
                    upto = upto.max(f.seq);
                    n += 1;
                    if self.outlet.write(&encode_text(f.text.as_str())).is_err() {
                        return Err(End::Error);
                    }
                }
                if self.welcome_seq == 0 {
                    // Resumed at connect: this connection's view starts at last_seq.
                    upto = upto.max(last_seq);
                    self.welcome_seq = upto;
                }
                self.out.increment(n);
                self.outlet.go_live(upto);
                Ok(())
            }
            Ok(Replay::TooOld) => self.welcome(true).await,
            Err(e) => {
                self.outlet.go_live(0);
                tracing::warn!(show = %self.show.id, error = %e, "resume failed");
                let e =
                    DomainError::conflict(Code::Unavailable, "cannot resume right now; try again");
                self.error(ErrorFrame::of(&e)).await
            }
        }
    }
}
