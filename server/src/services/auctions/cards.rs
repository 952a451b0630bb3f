//! Whether a bidder has a saved card (with `--payments stripe`: a winner pays off-session with
//! it). The answer is kept briefly per bidder, so a storm of bids asks the processor once.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{AuctionError, AuctionsService};
use crate::domain::auction::Bidder;
use crate::domain::{Code, CreatorId, DomainError, Show, ViewerId};

/// How long a "no card" answer is kept: short, so a bidder who just saved one bids soon.
const NO_CARD_MS: u64 = 2_000;
/// Past this many answers, the expired ones are dropped.
const PRUNE_AT: usize = 10_000;

/// Recent answers: (creator, viewer) → (has a card, kept until ms).
#[derive(Default)]
pub(super) struct CardCache {
    known: Mutex<HashMap<(CreatorId, ViewerId), (bool, u64)>>,
}

impl CardCache {
    fn get(&self, key: (CreatorId, ViewerId), now_ms: u64) -> Option<bool> {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known
            .get(&key)
            .filter(|(_, until)| *until > now_ms)
            .map(|(saved, _)| *saved)
    }

    fn put(&self, key: (CreatorId, ViewerId), saved: bool, until_ms: u64, now_ms: u64) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= PRUNE_AT {
            known.retain(|_, (_, until)| *until > now_ms);
        }
        known.insert(key, (saved, until_ms));
    }
}

impl AuctionsService {
    /// Refused with `card_required` when the bidder has no saved card with the show's creator
    /// (only with a provider that charges saved cards; the built-in test provider counts every
    /// viewer as having one).
    pub(super) async fn has_card(&self, show: &Show, bidder: &Bidder) -> Result<(), AuctionError> {
        if !self.settings.cards_required {
            return Ok(());
        }
        let key = (show.creator_id, bidder.viewer_id);
        let now_ms = self.clock.now_ms();
        let saved = match self.cards.get(key, now_ms) {
            Some(saved) => saved,
            None => {
                let saved = self.saved_card(key).await?;
                let keep = match saved {
                    true => self.settings.card_cache.as_millis() as u64,
                    false => NO_CARD_MS,
                };
                self.cards.put(key, saved, now_ms + keep, now_ms);
                saved
            }
        };
        if saved {
            return Ok(());
        }
        Err(DomainError::conflict(
            Code::CardRequired,
            "bidding needs a saved card: save one (it pays if you win), then bid",
        )
        .into())
    }

    /// Asks the processor whether the bidder's customer has a saved card.
    async fn saved_card(
        &self,
        (creator, viewer): (CreatorId, ViewerId),
    ) -> Result<bool, AuctionError> {
        let Some(customer) = self.paid.customer(creator, viewer).await? else {
            return Ok(false);
        };
        match self.payments.saved_cards(&customer).await {
            Ok(cards) => Ok(!cards.is_empty()),
            Err(e) => Err(AuctionError::PaymentUnavailable(e.to_string())),
        }
    }
}
