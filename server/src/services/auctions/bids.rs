//! One bid, from a viewer over HTTP or the WebSocket: who may bid (a viewer of the show in good
//! standing, with a saved card), their bid budget, the receive time taken once, the store's
//! atomic step, and what the room hears of it.

use std::time::Instant;

use super::{AuctionError, AuctionsService, no_show};
use crate::domain::access::{Action, authorize};
use crate::domain::auction::{AuctionId, AuctionView, BidKind, BidOutcome, BidRequest, Bidder};
use crate::domain::commerce::{SalesChannel, idempotency_key};
use crate::domain::limits::BudgetKey;
use crate::domain::protocol::Broadcast;
use crate::domain::{Code, Currency, DomainError, Principal, Show, ShowId};
use crate::store::auctions::{BidAnswer, BidStored, KeyedBid};

/// A bid as a transport received it: exactly one of `amount` and `max_amount` (minor units),
/// optionally the currency it is in, and the client's idempotency key.
#[derive(Debug, Clone, Default)]
pub struct BidAsk {
    pub amount: Option<i64>,
    pub max_amount: Option<i64>,
    pub currency: Option<String>,
    pub key: Option<String>,
}

/// A handled bid: what became of it and the lot after it.
#[derive(Debug, Clone)]
pub struct Placed {
    /// `accepted`, `max_raised` or `pre_bid`.
    pub outcome: &'static str,
    pub auction: AuctionView,
    /// The key was used before for the same bid: this is that bid's answer.
    pub replayed: bool,
}

impl BidAsk {
    /// The kind and amount, the currency and the key, checked for shape.
    fn parts(self) -> Result<(BidKind, i64, Option<Currency>, Option<String>), DomainError> {
        let (kind, amount) = match (self.amount, self.max_amount) {
            (Some(a), None) => (BidKind::Amount, a),
            (None, Some(m)) => (BidKind::Max, m),
            _ => {
                return Err(DomainError::invalid(
                    Code::InvalidBid,
                    "a bid is {\"amount\"} or {\"max_amount\"}: one of them",
                ));
            }
        };
        let currency = self.currency.as_deref().map(Currency::parse).transpose()?;
        let key = self.key.as_deref().map(idempotency_key).transpose()?;
        Ok((kind, amount, currency, key))
    }
}

/// A viewer of a show, who may bid in it (banned or timed-out viewers are refused at the bid):
/// what the first step of a bid settles. Only the service makes one.
#[derive(Debug, Clone)]
pub struct Bidding {
    show: Show,
    bidder: Bidder,
}

impl AuctionsService {
    /// The caller as a bidder in the show: a viewer of it; the creator, moderators and
    /// cameras are refused with `bidder_not_allowed`.
    pub async fn bidder(
        &self,
        who: Option<&Principal>,
        id: ShowId,
    ) -> Result<Bidding, AuctionError> {
        // This node's recent copy: the store's step re-reads the lot, and a show's id and
        // creator never change.
        let show = self
            .shows
            .show_recent(id)
            .await?
            .ok_or_else(|| no_show(id))?;
        let bidder = bidder_in(who, &show)?;
        Ok(Bidding { show, bidder })
    }

    /// Places the bidder's bid on a lot of the show.
    pub async fn bid(
        &self,
        bidding: &Bidding,
        auction: AuctionId,
        ask: BidAsk,
    ) -> Result<Placed, AuctionError> {
        let Bidding { show, bidder } = bidding;
        let (show, bidder) = (show, bidder.clone());
        SalesChannel::of(show.status)?;
        let (kind, amount, currency, key) = ask.parts()?;
        let refused = |outcome: &'static str, e: AuctionError| {
            count(outcome);
            e
        };
        self.in_good_standing(show, &bidder)
            .await
            .map_err(|e| refused(Code::BidderNotAllowed.as_str(), e))?;
        self.has_card(show, &bidder)
            .await
            .map_err(|e| refused(Code::CardRequired.as_str(), e))?;
        self.take_bid_budget(show, &bidder)
            .await
            .map_err(|e| refused(Code::RateLimited.as_str(), e))?;
        // The receive time, taken once: every rule (the end, the extension) reads this.
        let received_ms = self.clock.now_ms() as i64;
        let bid = KeyedBid {
            request: BidRequest {
                bidder,
                kind,
                amount,
                currency,
                received_ms,
            },
            key,
        };
        let started = Instant::now();
        let stored = self.auctions.bid(show, auction, &bid).await;
        metrics::histogram!("livesale_auction_bid_seconds").record(started.elapsed().as_secs_f64());
        let (answer, replayed) = match stored?? {
            BidStored::KeyReused => {
                count("key_reused");
                return Err(DomainError::invalid(
                    Code::IdempotencyKeyReused,
                    "this Idempotency-Key was used for a different bid; use a new key",
                )
                .into());
            }
            BidStored::Handled { answer, replayed } => (answer, replayed),
        };
        if replayed {
            count("replayed");
        } else {
            count(outcome_label(&answer.outcome));
            self.announce(show, auction, &answer, &bid.request.bidder.name)
                .await;
        }
        if let (BidOutcome::Refused { next_minimum, .. }, Some(refusal)) =
            (&answer.outcome, answer.outcome.error())
        {
            return Err(AuctionError::Bid {
                refusal,
                next_minimum: *next_minimum,
            });
        }
        let outcome = outcome_label(&answer.outcome);
        Ok(Placed {
            outcome,
            auction: answer.view,
            replayed,
        })
    }

    /// Refused with `bidder_not_allowed` when the bidder is banned or timed out in the show
    /// (the rule chat applies: [`crate::domain::moderation::Standing::silenced`]).
    async fn in_good_standing(&self, show: &Show, bidder: &Bidder) -> Result<(), AuctionError> {
        let now = self.clock.now();
        let member = bidder.viewer_id.to_string();
        let standing = self.moderation.standing(show, &member, now).await?;
        match standing.silenced(now) {
            Some(why) => Err(DomainError::forbidden(
                Code::BidderNotAllowed,
                format!("you cannot bid here: {}", why.message),
            )
            .into()),
            None => Ok(()),
        }
    }

    /// Takes one unit of the bidder's bid budget in this show (all their connections and
    /// nodes share it).
    async fn take_bid_budget(&self, show: &Show, bidder: &Bidder) -> Result<(), AuctionError> {
        let key = BudgetKey::Bid {
            creator: show.creator_id,
            show: show.id,
            member: bidder.viewer_id.to_string(),
        };
        let now_ms = self.clock.now_ms();
        match self
            .limits
            .take_budget(&key, self.settings.bids, now_ms)
            .await?
        {
            Ok(()) => Ok(()),
            Err(wait) => Err(AuctionError::RateLimited {
                refusal: DomainError::invalid(Code::RateLimited, "you are bidding too fast"),
                wait,
            }),
        }
    }

    /// What the room hears of a handled bid: an accepted one goes to everyone (and "outbid"
    /// to the bidder who lost the lead); every one goes to the moderators' log, with the
    /// bidder's display name (the log itself keeps only their id).
    async fn announce(&self, show: &Show, auction: AuctionId, answer: &BidAnswer, name: &str) {
        if let BidOutcome::Accepted { outbid, .. } = &answer.outcome {
            let view = Box::new(answer.view.clone());
            let bid = Broadcast::AuctionBid {
                auction: view.clone(),
            };
            self.tell(show, &bid).await;
            if let Some(viewer) = outbid {
                let outbid = Broadcast::AuctionOutbid {
                    to: viewer.to_string(),
                    auction: view,
                };
                self.tell(show, &outbid).await;
            }
        }
        let log = Broadcast::AuctionLog {
            auction_id: auction,
            entry: Box::new(answer.entry.clone()),
            name: name.to_string(),
        };
        self.tell(show, &log).await;
    }
}

/// The caller as a bidder: a viewer of this show. Anyone else with a token for the show (its
/// creator, a moderator, a camera) is refused with `bidder_not_allowed`.
fn bidder_in(who: Option<&Principal>, show: &Show) -> Result<Bidder, DomainError> {
    let not_allowed = || {
        DomainError::forbidden(
            Code::BidderNotAllowed,
            "only viewers bid (not the creator, moderators or cameras)",
        )
    };
    authorize(who, Action::Shop, Some(show)).map_err(|e| match e.code {
        Code::ForbiddenRole => not_allowed(),
        _ => e,
    })?;
    match who {
        Some(Principal::Viewer {
            viewer_id, name, ..
        }) => Ok(Bidder {
            viewer_id: *viewer_id,
            name: name.clone(),
        }),
        _ => Err(not_allowed()),
    }
}

fn outcome_label(outcome: &BidOutcome) -> &'static str {
    match outcome {
        BidOutcome::Accepted { .. } => "accepted",
        BidOutcome::MaxRaised => "max_raised",
        BidOutcome::PreBid => "pre_bid",
        BidOutcome::Refused { code, .. } => code.as_str(),
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("livesale_auction_bids_total", "outcome" => outcome).increment(1);
}
