//! The chat service: one chat message or reaction from a member of a show's room, from the
//! text a connection received to the room. It checks who may speak and the text's rules
//! (`domain::chat`), takes the sender's pace (the connection's own bucket, then the person's
//! budget in the store, `Store::take_budget` with the rules of `domain::limits`), screens the
//! message against the show's policy (`moderation::screen`) and posts it to the room through
//! the bus; reactions go into the room's tally. It also reads what a connection is told of the
//! chat when it joins ([`ChatService::snapshot`]). Time comes from the clock; outcomes are
//! typed, and the WebSocket maps them to frames.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::domain::chat::{
    Author, ChatMessage, ChatRules, MessageId, PinnedMessage, RateLimit, may_chat, may_react,
    reaction_kind,
};
use crate::domain::commerce::PinView;
use crate::domain::limits::{Budget, BudgetKey};
use crate::domain::moderation::{ChatPolicy, HeldMessage, Standing, is_moderator};
use crate::domain::{Code, DomainError, Role, Show, Timestamp};
use crate::hub::{Hub, Room};
use crate::services::moderation::{ModError, Screened};
use crate::store::{
    CatalogStore, CommerceStore, LimitsStore, ModerationStore, SharedStore, ShowStore, StoreError,
};

/// The operator's chat settings.
#[derive(Debug, Clone, Copy)]
pub struct ChatSettings {
    pub rules: ChatRules,
    /// A person's chat messages per period, in each show.
    pub chat: Budget,
    /// A person's reactions per second, in each show.
    pub reactions: Budget,
}

impl ChatSettings {
    pub fn from_config(config: &Config) -> Self {
        ChatSettings {
            rules: ChatRules {
                max_chars: config.chat_max_chars,
            },
            chat: Budget::new(
                config.chat_rate,
                Duration::from_secs(config.chat_rate_period_s),
            ),
            reactions: Budget::new(config.reaction_rate, Duration::from_secs(1)),
        }
    }
}

/// Who is speaking: the member on the other end of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Speaker {
    /// `None` for an anonymous watcher (a guest).
    pub role: Option<Role>,
    /// Viewer id, creator id or invite id; `None` for a guest.
    pub id: Option<String>,
    pub name: Option<String>,
}

/// One connection's own pace: its buckets, checked first so a flood from one connection is
/// refused without asking the store, and until when the person's shared budget is known to be
/// spent, so refusals do not ask the store again. Milliseconds on the service's clock (so a
/// test advances past a refill instead of sleeping), kept monotonic: should the wall clock
/// step back, the pace's time stands still for that moment instead of stalling the buckets
/// until the clock catches up.
#[derive(Debug, Clone)]
pub struct Pace {
    chat: RateLimit,
    reactions: RateLimit,
    chat_spent_until_ms: u64,
    reactions_spent_until_ms: u64,
    /// When the last "too many reactions" refusal was answered (0: never).
    reaction_refused_ms: u64,
    /// The latest time this pace has read.
    seen_ms: u64,
    /// How far the clock has stepped back since this pace began, in total.
    behind_ms: u64,
}

impl Pace {
    /// A connection's pace with full buckets.
    pub fn new(settings: &ChatSettings) -> Self {
        let bucket = |b: Budget| RateLimit::new(b.capacity, b.period, 0);
        Pace {
            chat: bucket(settings.chat),
            reactions: bucket(settings.reactions),
            chat_spent_until_ms: 0,
            reactions_spent_until_ms: 0,
            reaction_refused_ms: 0,
            seen_ms: 0,
            behind_ms: 0,
        }
    }

    /// The pace's time at the clock's `clock_ms`: the clock's time plus how far it has stepped
    /// back, never earlier than the last reading.
    fn now_ms(&mut self, clock_ms: u64) -> u64 {
        let now = clock_ms.saturating_add(self.behind_ms);
        if now < self.seen_ms {
            self.behind_ms += self.seen_ms - now;
        }
        self.seen_ms = self.seen_ms.max(now);
        self.seen_ms
    }
}

/// What became of a chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// Everyone in the room gets it as `chat.message`.
    Published,
    /// Held for a moderator's review; the sender learns it is pending, not why.
    Held { id: MessageId },
}

/// What became of a reaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reacted {
    /// Counted into the room's current window.
    Counted,
    /// Over the budget, and a refusal was answered less than a second ago: dropped quietly.
    Dropped,
}

/// Why a chat message or reaction was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// A rule refused it (who, the text, the show's policy, the sender's standing).
    #[error(transparent)]
    Refused(DomainError),
    /// Faster than the person's budget allows; the next one is accepted after `wait`.
    #[error("{refusal}")]
    RateLimited {
        refusal: DomainError,
        wait: Duration,
    },
    /// The store could not take it.
    #[error(transparent)]
    Unavailable(StoreError),
}

/// Which of a person's budgets.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Chat,
    Reaction,
}

/// What a joining connection is told of the room (the `welcome` is made of it).
#[derive(Debug, Clone)]
pub struct RoomSnapshot {
    /// The show as it is now.
    pub show: Show,
    /// The show's seq at the snapshot.
    pub seq: u64,
    /// Recent chat messages, oldest first.
    pub chat: Vec<ChatMessage>,
    /// Viewers across all nodes, as last summed.
    pub viewers: u64,
    pub pins: Vec<PinView>,
    pub policy: ChatPolicy,
    /// For moderators and the creator: messages waiting for review.
    pub held: Option<Vec<HeldMessage>>,
    /// For moderators and the creator: the terms the creator blocks in all their shows
    /// (`/api/me/terms`), which this show's chat refuses besides its own.
    pub creator_terms: Option<Vec<String>>,
    pub pinned_message: Option<PinnedMessage>,
    /// For members: their standing.
    pub standing: Option<Standing>,
    /// When the snapshot was taken.
    pub at: Timestamp,
}

/// Chat and reactions of the shows' rooms.
pub struct ChatService {
    shows: Arc<dyn ShowStore>,
    catalog: Arc<dyn CatalogStore>,
    commerce: Arc<dyn CommerceStore>,
    moderation: Arc<dyn ModerationStore>,
    limits: Arc<dyn LimitsStore>,
    hub: Arc<Hub>,
    clock: SharedClock,
    settings: ChatSettings,
}

impl ChatService {
    /// Keeps, of `store`, only the areas this service uses.
    pub fn new(
        store: SharedStore,
        hub: Arc<Hub>,
        clock: SharedClock,
        settings: ChatSettings,
    ) -> Self {
        ChatService {
            shows: store.clone(),
            catalog: store.clone(),
            commerce: store.clone(),
            moderation: store.clone(),
            limits: store,
            hub,
            clock,
            settings,
        }
    }

    pub fn settings(&self) -> &ChatSettings {
        &self.settings
    }

    /// Posts `raw` as `speaker`'s chat message in `show`: published, held, or refused.
    /// A message refused for its content does not use up the sender's budget.
    pub async fn post(
        &self,
        show: &Show,
        speaker: &Speaker,
        pace: &mut Pace,
        raw: &str,
    ) -> Result<Posted, ChatError> {
        may_chat(speaker.role).map_err(ChatError::Refused)?;
        let text = self.settings.rules.text(raw).map_err(ChatError::Refused)?;
        let now = pace.now_ms(self.clock.now_ms());
        let taken = match pace.chat.take(now) {
            Ok(()) => {
                let spent_until = &mut pace.chat_spent_until_ms;
                self.take_shared(show, speaker, Kind::Chat, spent_until, now)
                    .await
            }
            Err(wait) => Err(wait),
        };
        if let Err(wait) = taken {
            let refusal =
                DomainError::invalid(Code::RateLimited, "you are sending messages too fast");
            return Err(ChatError::RateLimited { refusal, wait });
        }
        let at = self.clock.now();
        let message = ChatMessage {
            id: MessageId::from_uuid(Uuid::now_v7()),
            author: Author {
                id: speaker.id.clone().unwrap_or_default(),
                name: speaker.name.clone().unwrap_or_default(),
            },
            role: speaker.role.unwrap_or(Role::Viewer),
            text,
            at,
            seq: None,
        };
        let moderation = self.moderation.as_ref();
        match crate::services::moderation::screen(
            moderation,
            &self.hub,
            show,
            speaker.role,
            message,
            at,
        )
        .await
        {
            Ok(Screened::Published) => Ok(Posted::Published),
            Ok(Screened::Held { id }) => Ok(Posted::Held { id: id.into() }),
            Err(ModError::Rule(e)) => Err(ChatError::Refused(e)),
            Err(ModError::Store(e)) => Err(ChatError::Unavailable(e)),
        }
    }

    /// Counts `speaker`'s reaction `kind` into `room`'s current window. Taps over the budget
    /// are refused at most once a second; the others are dropped quietly.
    pub async fn react(
        &self,
        room: &Room,
        speaker: &Speaker,
        pace: &mut Pace,
        kind: &str,
    ) -> Result<Reacted, ChatError> {
        may_react(speaker.role).map_err(ChatError::Refused)?;
        let kind = reaction_kind(kind).map_err(ChatError::Refused)?;
        let now = pace.now_ms(self.clock.now_ms());
        let taken = match pace.reactions.take(now) {
            Ok(()) => {
                let spent_until = &mut pace.reactions_spent_until_ms;
                self.take_shared(&room.show, speaker, Kind::Reaction, spent_until, now)
                    .await
            }
            Err(wait) => Err(wait),
        };
        if let Err(wait) = taken {
            if pace.reaction_refused_ms != 0 && now.saturating_sub(pace.reaction_refused_ms) < 1000
            {
                return Ok(Reacted::Dropped);
            }
            pace.reaction_refused_ms = now.max(1);
            let refusal = DomainError::invalid(Code::RateLimited, "too many reactions; slow down");
            return Err(ChatError::RateLimited { refusal, wait });
        }
        room.react(kind);
        Ok(Reacted::Counted)
    }

    /// Takes one unit of the person's chat or reaction budget in this show, which all their
    /// connections on every node share. Anonymous watchers have no identity to share a budget
    /// with: their connection's own bucket (and the per-address connection cap) is their
    /// limit. A store that cannot be reached does not silence the room: the connection's own
    /// bucket still holds.
    async fn take_shared(
        &self,
        show: &Show,
        speaker: &Speaker,
        kind: Kind,
        spent_until: &mut u64,
        now: u64,
    ) -> Result<(), Duration> {
        let Some(member) = speaker.id.clone() else {
            return Ok(());
        };
        if now < *spent_until {
            return Err(Duration::from_millis(*spent_until - now));
        }
        let (creator, show_id) = (show.creator_id, show.id);
        let (key, budget) = match kind {
            Kind::Chat => (
                BudgetKey::Chat {
                    creator,
                    show: show_id,
                    member,
                },
                self.settings.chat,
            ),
            Kind::Reaction => (
                BudgetKey::Reaction {
                    creator,
                    show: show_id,
                    member,
                },
                self.settings.reactions,
            ),
        };
        let wall_ms = self.clock.now_ms();
        match self.limits.take_budget(&key, budget, wall_ms).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(wait)) => {
                *spent_until = now + wait.as_millis() as u64;
                Err(wait)
            }
            Err(e) => {
                tracing::warn!(show = %show.id, error = %e, "budget not checked");
                Ok(())
            }
        }
    }

    /// The room as `speaker` joining `show` is told of it: the bus's snapshot (seq, recent
    /// chat, viewers), the show as it is now, the pinned products, the chat's policy, the
    /// pinned message, and what only moderators or the member see. Any store error is
    /// returned: a connection is never welcomed with a silently partial room.
    pub async fn snapshot(
        &self,
        show: &Show,
        speaker: &Speaker,
    ) -> Result<RoomSnapshot, StoreError> {
        let log = self.hub.bus.snapshot(show).await?;
        // The show may have changed since the connection was accepted (a status broadcast is
        // in the log too, but the snapshot should be current on its own).
        let show = self
            .shows
            .show(show.id)
            .await?
            .unwrap_or_else(|| show.clone());
        let moderation = self.moderation.as_ref();
        let at = self.clock.now();
        let pins =
            crate::commerce::pin_views(self.commerce.as_ref(), self.catalog.as_ref(), &show, at)
                .await?;
        let policy = moderation.chat_policy(&show).await?;
        let (held, creator_terms) = match is_moderator(speaker.role) {
            true => (
                Some(moderation.held_messages(&show).await?),
                Some(moderation.creator_terms(show.creator_id).await?),
            ),
            false => (None, None),
        };
        let pinned_message = moderation.pinned_message(&show).await?;
        let standing = match &speaker.id {
            Some(member) => Some(moderation.standing(&show, member, at).await?),
            None => None,
        };
        Ok(RoomSnapshot {
            show,
            seq: log.seq,
            chat: log.chat,
            viewers: log.viewers,
            pins,
            policy,
            held,
            creator_terms,
            pinned_message,
            standing,
            at,
        })
    }
}

#[cfg(test)]
mod tests;
