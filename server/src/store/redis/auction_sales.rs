//! RedisStore's sales area ([`AuctionSaleStore`]); [`super::MemoryStore`] is the reference.
//!
//! Key layout (after `{prefix}:{c:<creator>}:`, beside the show's orders, so the one script
//! `lua/auction_sale.lua` touches one slot):
//!
//! | key                          | type | content                                                  |
//! |------------------------------|------|----------------------------------------------------------|
//! | `show:<s>:auction-sale:<a>`  | hash | `offer:<n>` Offer JSON (written by Rust), `outcome:<n>`, `order:<n>`, `count` |
//!
//! An offer's order is a checkout's order in every respect: the same keys (`orders`,
//! `order-ids`, `viewer-orders:<v>`, `reservations`, the creator's `stock`), the same JSON
//! (`order_json` of the prelude) and its `order.created` event in the outbox, so paying,
//! failing, expiring and refunding it are the commerce area's own operations.
//!
//! One global sorted set, `auction-sales-due` (`<creator>/<show>/<auction>` scored by the
//! waiting offer's deadline in ms), is the sales ticker's work list. It is written outside
//! the script (another slot): an offer's entry is added *before* the script that makes the
//! offer, and set from the sale the script answers after it (its waiting offer's deadline, or
//! removed), so a crash between the two leaves an extra entry, never a missing one; an entry
//! whose sale has nothing due is dropped when [`AuctionSaleStore::due_sales`] meets it.
//!
//! Body events (`auction.closed`) are outbox stream entries with a `body` field in place of
//! `order` (see `outbox.rs`).

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::named::{named_plain_script, named_script, script_params};
use super::{RedisStore, decode, encode, eval, evalsha, redis_error, rfc3339, score, script_error};
use crate::domain::auction::AuctionId;
use crate::domain::{Code, CreatorId, DomainError, Show, ShowId, Timestamp};
use crate::store::StoreError;
use crate::store::auction_sales::{
    AuctionSaleStore, DueSale, NewOffer, Offer, OfferOutcome, Offered, Sale, Settled,
};

script_params! {
    /// The sale script's named keys.
    struct SaleKeys<'a> {
        sale: &'a str,
        orders: &'a str,
        order_ids: &'a str,
        viewer_orders: &'a str,
        reservations: &'a str,
        reservations_indexed: &'a str,
        stock: &'a str,
        product: &'a str,
        outbox: &'a str,
        outbox_ids: &'a str,
        show: &'a str,
    }
}

script_params! {
    /// The sale script's named arguments (`''`: not given).
    struct SaleArgs<'a> {
        settle: &'a str,
        outcome: &'a str,
        number: &'a str,
        /// The new offer's JSON (outcome `waiting`).
        offer: &'a str,
        order_id: &'a str,
        viewer: &'a str,
        buyer_name: &'a str,
        product: &'a str,
        amount: i64,
        currency: &'a str,
        now: &'a str,
        reserved_until: &'a str,
        reserved_until_ms: i64,
        event_id: &'a str,
        creator_id: &'a str,
        show_id: &'a str,
    }
}

static SALE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_script(
        SaleKeys::NAMES,
        SaleArgs::NAMES,
        include_str!("lua/auction_sale.lua"),
    )
});

script_params! {
    /// The body event script's named keys.
    struct BodyEventKeys<'a> {
        outbox: &'a str,
        outbox_ids: &'a str,
    }
}

script_params! {
    /// The body event script's named arguments.
    struct BodyEventArgs<'a> {
        event_id: &'a str,
        kind: &'a str,
        at: &'a str,
        body: &'a str,
    }
}

static BODY_EVENT_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_plain_script(
        BodyEventKeys::NAMES,
        BodyEventArgs::NAMES,
        "local entry = redis.call('XADD', k.outbox, '*', 'id', a.event_id, 'kind', a.kind,
           'at', a.at, 'body', a.body)
         redis.call('HSET', k.outbox_ids, a.event_id, entry)
         return entry",
    )
});

const DUE: &str = "auction-sales-due";

fn outcome_text(outcome: OfferOutcome) -> &'static str {
    match outcome {
        OfferOutcome::Waiting => "waiting",
        OfferOutcome::Paid => "paid",
        OfferOutcome::Declined => "declined",
        OfferOutcome::Lapsed => "lapsed",
    }
}

fn parse_outcome(text: &str) -> Result<OfferOutcome, StoreError> {
    decode(&format!("\"{text}\""), "offer outcome")
}

fn due_member(show: &Show, auction: AuctionId) -> String {
    format!("{}/{}/{auction}", show.creator_id, show.id)
}

/// The sale a script answered with: the sale hash's field and value pairs.
fn sale_of(
    (creator, show): (CreatorId, ShowId),
    auction: AuctionId,
    pairs: &[String],
) -> Result<Option<Sale>, StoreError> {
    let fields: HashMap<&str, &str> = pairs
        .chunks(2)
        .filter_map(|kv| Some((kv.first()?.as_str(), kv.get(1)?.as_str())))
        .collect();
    let Some(count) = fields.get("count") else {
        return Ok(None);
    };
    let count: u32 = count
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("a sale's count is {count:?}")))?;
    let mut offers = Vec::new();
    for n in 0..count {
        let field = |name: &str| {
            fields
                .get(format!("{name}:{n}").as_str())
                .copied()
                .ok_or_else(|| StoreError::Corrupt(format!("a sale has no {name}:{n}")))
        };
        let mut offer: Offer = decode(field("offer")?, "offer")?;
        offer.outcome = parse_outcome(field("outcome")?)?;
        offers.push(offer);
    }
    Ok(Some(Sale {
        show,
        creator,
        auction,
        offers,
    }))
}

/// The refusal a script answered with.
fn refusal(code: &str, message: &str) -> Result<DomainError, StoreError> {
    Ok(match Code::parse(code) {
        Some(code @ Code::ProductNotFound) => DomainError::not_found(code, message),
        Some(code @ (Code::SoldOut | Code::ShowCancelled | Code::IllegalTransition)) => {
            DomainError::conflict(code, message)
        }
        _ => {
            return Err(StoreError::Corrupt(format!(
                "the sale script refused with unknown code {code:?}"
            )));
        }
    })
}

/// What one run of the sale script did.
struct Ran {
    settled: Option<bool>,
    made: Option<Result<Offered, DomainError>>,
    sale: Option<Sale>,
}

impl RedisStore {
    /// Runs the sale script: settles `settle` (number and outcome), then makes `offer`.
    async fn run_sale(
        &self,
        show: &Show,
        auction: AuctionId,
        settle: Option<(u32, OfferOutcome)>,
        offer: Option<&NewOffer>,
    ) -> Result<Ran, StoreError> {
        let k = &self.keys;
        let mut con = self.conn.clone();
        let member = due_member(show, auction);
        if let Some(new) = offer {
            // Before the offer can exist: the ticker's entry and the sweeper's show.
            let _: () = redis::pipe()
                .cmd("ZADD")
                .arg(k.global(DUE))
                .arg(score(new.deadline))
                .arg(&member)
                .ignore()
                .cmd("SADD")
                .arg(k.reservation_shows())
                .arg(show.id.to_string())
                .ignore()
                .query_async(&mut con)
                .await
                .map_err(redis_error)?;
        }
        let product = offer.map(|o| k.product(show.creator_id, o.product));
        let viewer_orders = offer.map(|o| k.viewer_orders(show, o.buyer.viewer_id));
        let sale_key = k.show_part(
            show.creator_id,
            show.id,
            format_args!("auction-sale:{auction}"),
        );
        let (orders, order_ids, reservations, indexed) = (
            k.orders(show),
            k.order_ids(show),
            k.reservations(show),
            k.reservations_indexed(show),
        );
        let (stock, outbox, outbox_ids, show_key) = (
            k.stock(show.creator_id),
            k.outbox(show.creator_id),
            k.outbox_ids(show.creator_id),
            k.show(show.creator_id, show.id),
        );
        let keys = SaleKeys {
            sale: &sale_key,
            orders: &orders,
            order_ids: &order_ids,
            viewer_orders: viewer_orders.as_deref().unwrap_or(&orders),
            reservations: &reservations,
            reservations_indexed: &indexed,
            stock: &stock,
            product: product.as_deref().unwrap_or(&stock),
            outbox: &outbox,
            outbox_ids: &outbox_ids,
            show: &show_key,
        };
        let text = OfferText::new(show, offer)?;
        let settle_number = settle.map(|(n, _)| n.to_string()).unwrap_or_default();
        let args = text.args(
            &settle_number,
            settle.map_or("", |(_, o)| outcome_text(o)),
            offer,
        );
        let mut call = evalsha(&SALE_SCRIPT, SaleKeys::NAMES.len());
        keys.push(&mut call);
        args.push(&mut call);
        let reply: Vec<String> = eval(&mut con, &SALE_SCRIPT, &call)
            .await
            .map_err(script_error)?;
        let ran = parse_reply(show, auction, &reply)?;
        // The ticker's entry follows the sale's waiting offer.
        let waiting = ran
            .sale
            .as_ref()
            .and_then(|s| s.waiting().map(|o| o.deadline));
        self.fix_due(&member, waiting).await?;
        Ok(ran)
    }

    /// Sets the ticker's entry of a sale to its waiting offer's deadline, or removes it.
    async fn fix_due(&self, member: &str, waiting: Option<Timestamp>) -> Result<(), StoreError> {
        let mut fix = redis::cmd(if waiting.is_some() { "ZADD" } else { "ZREM" });
        fix.arg(self.keys.global(DUE));
        if let Some(deadline) = waiting {
            fix.arg(score(deadline));
        }
        fix.arg(member)
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)
    }

    async fn read_sale(
        &self,
        ids: (CreatorId, ShowId),
        auction: AuctionId,
    ) -> Result<Option<Sale>, StoreError> {
        let key = self
            .keys
            .show_part(ids.0, ids.1, format_args!("auction-sale:{auction}"));
        let pairs: Vec<String> = redis::cmd("HGETALL")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        sale_of(ids, auction, &pairs)
    }
}

/// A ticker entry's ids.
fn parse_member(member: &str) -> Option<DueSale> {
    let mut parts = member.split('/');
    Some(DueSale {
        creator: parts.next()?.parse().ok()?,
        show: parts.next()?.parse().ok()?,
        auction: parts.next()?.parse().ok()?,
    })
}

fn parse_reply(show: &Show, auction: AuctionId, reply: &[String]) -> Result<Ran, StoreError> {
    let bad = || super::unexpected("auction sale", reply);
    let settled = match reply.first().map(String::as_str) {
        Some("1") => Some(true),
        Some("0") => Some(false),
        Some("none") => None,
        _ => return Err(bad()),
    };
    let (made, rest) = match reply.get(1).map(String::as_str) {
        Some("created") => {
            let order = super::order_at(reply, 2, "auction sale")?;
            (Some(Ok(Offered::Created(order))), 3)
        }
        Some("existing") => {
            let order = super::order_at(reply, 2, "auction sale")?;
            (Some(Ok(Offered::Existing(order))), 3)
        }
        Some("refused") if reply.len() >= 4 => (Some(Err(refusal(&reply[2], &reply[3])?)), 4),
        Some("none") => (None, 2),
        _ => return Err(bad()),
    };
    Ok(Ran {
        settled,
        made,
        sale: sale_of((show.creator_id, show.id), auction, &reply[rest..])?,
    })
}

/// The text of an offer's arguments.
struct OfferText {
    number: String,
    offer: String,
    order_id: String,
    viewer: String,
    product: String,
    currency: String,
    now: String,
    reserved_until: String,
    event_id: String,
    creator_id: String,
    show_id: String,
}

impl OfferText {
    fn new(show: &Show, offer: Option<&NewOffer>) -> Result<OfferText, StoreError> {
        let (creator_id, show_id) = (show.creator_id.to_string(), show.id.to_string());
        let Some(o) = offer else {
            return Ok(OfferText {
                number: String::new(),
                offer: String::new(),
                order_id: String::new(),
                viewer: String::new(),
                product: String::new(),
                currency: String::new(),
                now: String::new(),
                reserved_until: String::new(),
                event_id: String::new(),
                creator_id,
                show_id,
            });
        };
        Ok(OfferText {
            number: o.number.to_string(),
            offer: encode(&Offer {
                number: o.number,
                buyer: o.buyer.clone(),
                price: o.price,
                order: o.order_id,
                deadline: o.deadline,
                outcome: OfferOutcome::Waiting,
            })?,
            order_id: o.order_id.to_string(),
            viewer: o.buyer.viewer_id.to_string(),
            product: o.product.to_string(),
            currency: o.price.currency.to_string(),
            now: rfc3339(o.now),
            reserved_until: rfc3339(o.reserved_until),
            event_id: uuid::Uuid::now_v7().to_string(),
            creator_id,
            show_id,
        })
    }

    fn args<'a>(
        &'a self,
        settle: &'a str,
        outcome: &'a str,
        offer: Option<&'a NewOffer>,
    ) -> SaleArgs<'a> {
        SaleArgs {
            settle,
            outcome,
            number: &self.number,
            offer: &self.offer,
            order_id: &self.order_id,
            viewer: &self.viewer,
            buyer_name: offer.map_or("", |o| o.buyer.name.as_str()),
            product: &self.product,
            amount: offer.map_or(0, |o| o.price.amount),
            currency: &self.currency,
            now: &self.now,
            reserved_until: &self.reserved_until,
            reserved_until_ms: offer.map_or(0, |o| score(o.reserved_until)),
            event_id: &self.event_id,
            creator_id: &self.creator_id,
            show_id: &self.show_id,
        }
    }
}

#[async_trait]
impl AuctionSaleStore for RedisStore {
    async fn offer(
        &self,
        show: &Show,
        offer: &NewOffer,
    ) -> Result<Result<Offered, DomainError>, StoreError> {
        self.guard("auction offer", async {
            let ran = self
                .run_sale(show, offer.auction, None, Some(offer))
                .await?;
            ran.made
                .ok_or_else(|| StoreError::Corrupt("the sale script made no offer".into()))
        })
        .await
    }

    async fn settle_offer(
        &self,
        show: &Show,
        auction: AuctionId,
        number: u32,
        outcome: OfferOutcome,
        next: Option<&NewOffer>,
    ) -> Result<Option<Settled>, StoreError> {
        if outcome == OfferOutcome::Waiting {
            return Ok(self.sale(show, auction).await?.map(|sale| Settled {
                changed: false,
                sale,
                next: None,
            }));
        }
        self.guard("auction settle", async {
            let ran = self
                .run_sale(show, auction, Some((number, outcome)), next)
                .await?;
            let (Some(changed), Some(sale)) = (ran.settled, ran.sale) else {
                return Ok(None);
            };
            Ok(Some(Settled {
                changed,
                sale,
                next: ran.made.map(|m| m.map(|o| o.order().clone())),
            }))
        })
        .await
    }

    async fn sale(&self, show: &Show, auction: AuctionId) -> Result<Option<Sale>, StoreError> {
        self.guard("auction sale", async {
            self.read_sale((show.creator_id, show.id), auction).await
        })
        .await
    }

    async fn due_sales(&self, now: Timestamp) -> Result<Vec<DueSale>, StoreError> {
        let members: Vec<String> = self
            .guard("due sales", async {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(self.keys.global(DUE))
                    .arg("-inf")
                    .arg(score(now))
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(redis_error)
            })
            .await?;
        let mut due = Vec::new();
        for member in members {
            let Some(found) = parse_member(&member) else {
                continue;
            };
            let sale = self
                .guard(
                    "due sale",
                    self.read_sale((found.creator, found.show), found.auction),
                )
                .await?;
            let waiting = sale.as_ref().and_then(|s| s.waiting().map(|o| o.deadline));
            match waiting {
                Some(deadline) if deadline <= now => due.push(found),
                // An entry a crash left behind, or one whose offer was made again later.
                other => self.guard("due fix", self.fix_due(&member, other)).await?,
            }
        }
        Ok(due)
    }

    async fn queue_body_event(
        &self,
        creator: CreatorId,
        event_id: &str,
        kind: &str,
        at: Timestamp,
        body: &str,
    ) -> Result<(), StoreError> {
        self.guard("queue body event", async {
            let (outbox, outbox_ids) = (self.keys.outbox(creator), self.keys.outbox_ids(creator));
            let mut call = evalsha(&BODY_EVENT_SCRIPT, BodyEventKeys::NAMES.len());
            BodyEventKeys {
                outbox: &outbox,
                outbox_ids: &outbox_ids,
            }
            .push(&mut call);
            BodyEventArgs {
                event_id,
                kind,
                at: &rfc3339(at),
                body,
            }
            .push(&mut call);
            let _: String = eval(&mut self.conn.clone(), &BODY_EVENT_SCRIPT, &call)
                .await
                .map_err(script_error)?;
            Ok(())
        })
        .await
    }
}
