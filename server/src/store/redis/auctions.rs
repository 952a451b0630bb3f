//! RedisStore's auctions area, with [`crate::store::MemoryStore`]'s observable behaviour
//! (tests/auction_store.rs runs one contract against both, and a differential test against
//! the rules in `domain::auction`).
//!
//! | key (after `{prefix}:{c:<creator>}:show:<s>:`) | type   | content                          |
//! |------------------------------------------------|--------|----------------------------------|
//! | `auctions`                                     | list   | lot ids, oldest first            |
//! | `auction-open`                                 | string | the show's open lot, if any      |
//! | `auction:<a>`                                  | hash   | the lot: rules, hot state fields |
//! | `auction:<a>:bests`                            | hash   | bidder → `best|seq|first|name`   |
//! | `auction:<a>:prebids`                          | hash   | bidder → `max|seq|name`          |
//! | `auction:<a>:log`                              | list   | log lines, `seq` order           |
//! | `auction:<a>:keys`                             | hash   | `<bidder> <key>` → fingerprint, answer |
//!
//! plus the global set `{prefix}:auctions:open` (`<creator> <show> <lot>` of every open lot,
//! the ticker's work list; the one key outside the creator's slot). A bid is one Lua script
//! (`lua/auction_bid.lua`) that mirrors `place_bid` on the hash's hot fields and the bidder's
//! entries only, so its cost does not grow with the number of bidders. An open or a close is
//! the rule function run here on the whole lot, written by a compare-and-set script on the
//! lot's `version` (`lua/auction_cas.lua`), retried when a bid came in between.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::auction_fields::{bid_answer, create_fields, log_entry, state_fields, stored_lot};
use super::named::{named_plain_script, script_params};
use super::{
    ATTEMPTS, RedisStore, eval, evalsha, parse_id, parse_int, redis_error, script_error,
    store_error, unexpected,
};
use crate::domain::auction::{
    Auction, AuctionId, BidKind, CloseStep, LogEntry, OpenStep, close, open,
};
use crate::domain::money::MAX_AMOUNT;
use crate::domain::{DomainError, Show};
use crate::store::StoreError;
use crate::store::auctions::{
    AuctionStore, BidStored, KeyedBid, MAX_LOTS_PER_SHOW, OpenLot, another_open, auction_not_found,
    too_many_auctions,
};

script_params! {
    /// The bid script's named keys.
    struct BidKeys<'a> {
        lot: &'a str,
        bests: &'a str,
        prebids: &'a str,
        log: &'a str,
        keys: &'a str,
    }
}

script_params! {
    /// The bid script's named arguments (a `BidRequest` and its key).
    struct BidArgs<'a> {
        bidder: &'a str,
        name: &'a str,
        /// `amount` or `max`.
        kind: &'a str,
        amount: i64,
        /// `''`: none named.
        currency: &'a str,
        received: i64,
        /// `''`: no Idempotency-Key.
        key: &'a str,
        fingerprint: &'a str,
        max_amount: i64,
    }
}

script_params! {
    /// The create script's named keys.
    struct CreateKeys<'a> {
        lots: &'a str,
        lot: &'a str,
    }
}

script_params! {
    /// The create script's named arguments; the lot's field and value pairs follow.
    struct CreateArgs<'a> {
        id: &'a str,
        max_lots: usize,
    }
}

script_params! {
    /// The compare-and-set script's named keys.
    struct CasKeys<'a> {
        lot: &'a str,
        prebids: &'a str,
        show_open: &'a str,
        open_index: &'a str,
    }
}

script_params! {
    /// The compare-and-set script's named arguments; the lot's state fields follow.
    struct CasArgs<'a> {
        id: &'a str,
        /// The `version` the lot was read at.
        version: &'a str,
        /// `1` to open, `0` to close.
        opening: &'a str,
        /// The lot's member of the open set.
        member: &'a str,
    }
}

/// `place_bid` in Lua (see the script's header).
static BID_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_plain_script(
        BidKeys::NAMES,
        BidArgs::NAMES,
        include_str!("lua/auction_bid.lua"),
    )
});

static CREATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_plain_script(
        CreateKeys::NAMES,
        CreateArgs::NAMES,
        include_str!("lua/auction_create.lua"),
    )
});

static CAS_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_plain_script(
        CasKeys::NAMES,
        CasArgs::NAMES,
        include_str!("lua/auction_cas.lua"),
    )
});

/// One lot's keys.
struct LotKeys {
    lot: String,
    bests: String,
    prebids: String,
    log: String,
    keys: String,
    lots: String,
    show_open: String,
}

impl RedisStore {
    fn lot_keys(&self, show: &Show, id: AuctionId) -> LotKeys {
        let lot = self
            .keys
            .show_part(show.creator_id, show.id, format_args!("auction:{id}"));
        LotKeys {
            bests: format!("{lot}:bests"),
            prebids: format!("{lot}:prebids"),
            log: format!("{lot}:log"),
            keys: format!("{lot}:keys"),
            lot,
            lots: self.keys.show_part(show.creator_id, show.id, "auctions"),
            show_open: self
                .keys
                .show_part(show.creator_id, show.id, "auction-open"),
        }
    }

    fn open_index(&self) -> String {
        self.keys.global("auctions:open")
    }

    /// The lots of `ids` as stored, with their versions, and the show's open lot; one atomic
    /// read (MULTI), so a lot's hash and bidders agree.
    async fn read_lots(
        &self,
        show: &Show,
        ids: &[AuctionId],
    ) -> Result<(Vec<Option<(Auction, String)>>, Option<String>), StoreError> {
        if ids.is_empty() {
            return Ok((Vec::new(), None));
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for id in ids {
            let k = self.lot_keys(show, *id);
            pipe.hgetall(&k.lot).hgetall(&k.bests).hgetall(&k.prebids);
        }
        type Raw = HashMap<String, String>;
        let reply: Vec<Raw> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(store_error)?;
        // Read after the lots: the compare-and-set script checks it again anyway.
        let open: Option<String> = redis::cmd("GET")
            .arg(
                self.keys
                    .show_part(show.creator_id, show.id, "auction-open"),
            )
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        let mut lots = Vec::with_capacity(ids.len());
        for chunk in reply.chunks(3) {
            let [lot, bests, prebids] = chunk else {
                return Err(StoreError::Corrupt("short auction read".into()));
            };
            lots.push(if lot.is_empty() {
                None
            } else {
                Some(stored_lot(lot, bests, prebids)?)
            });
        }
        Ok((lots, open))
    }

    async fn lot_ids(&self, show: &Show) -> Result<Vec<AuctionId>, StoreError> {
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(self.keys.show_part(show.creator_id, show.id, "auctions"))
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        raw.iter().map(|r| parse_id(r, "auction list")).collect()
    }

    /// Writes `next` (computed from the lot read at `version`); false when it changed since.
    async fn compare_and_set(
        &self,
        show: &Show,
        next: &Auction,
        version: &str,
        opening: bool,
    ) -> Result<bool, StoreError> {
        let k = self.lot_keys(show, next.id);
        let mut call = evalsha(&CAS_SCRIPT, CasKeys::NAMES.len());
        CasKeys {
            lot: &k.lot,
            prebids: &k.prebids,
            show_open: &k.show_open,
            open_index: &self.open_index(),
        }
        .push(&mut call);
        CasArgs {
            id: &next.id.to_string(),
            version,
            opening: if opening { "1" } else { "0" },
            member: &format!("{} {} {}", show.creator_id, show.id, next.id),
        }
        .push(&mut call);
        let bumped = parse_int(version, "auction version")? + 1;
        call.arg("version").arg(bumped);
        for (field, value) in state_fields(next)? {
            call.arg(field).arg(value);
        }
        let reply: String = eval(&mut self.conn.clone(), &CAS_SCRIPT, &call)
            .await
            .map_err(script_error)?;
        match reply.as_str() {
            "ok" => Ok(true),
            "retry" | "missing" => Ok(false),
            _ => Err(unexpected("auction compare-and-set", &[reply])),
        }
    }

    /// Reads the lot, applies `step` (a rule function) and writes the result, again from a
    /// fresh read whenever the lot changed in between.
    async fn step_lot<T>(
        &self,
        show: &Show,
        id: AuctionId,
        opening: bool,
        step: impl Fn(Auction, Option<AuctionId>) -> Result<(Auction, T), DomainError>,
    ) -> Result<Result<T, DomainError>, StoreError> {
        for _ in 0..ATTEMPTS {
            let (mut lots, open) = self.read_lots(show, &[id]).await?;
            let Some((lot, version)) = lots.pop().flatten() else {
                return Ok(Err(auction_not_found(id)));
            };
            let open = open.map(|o| parse_id(&o, "open auction")).transpose()?;
            let (next, out) = match step(lot, open) {
                Ok(done) => done,
                Err(refused) => return Ok(Err(refused)),
            };
            if self.compare_and_set(show, &next, &version, opening).await? {
                return Ok(Ok(out));
            }
        }
        Err(StoreError::Unavailable(format!(
            "auction {id} kept changing while it was opened or closed"
        )))
    }
}

#[async_trait]
impl AuctionStore for RedisStore {
    async fn create_auction(
        &self,
        show: &Show,
        auction: &Auction,
    ) -> Result<Result<(), DomainError>, StoreError> {
        let k = self.lot_keys(show, auction.id);
        self.guard("create_auction", async {
            let mut call = evalsha(&CREATE_SCRIPT, CreateKeys::NAMES.len());
            CreateKeys {
                lots: &k.lots,
                lot: &k.lot,
            }
            .push(&mut call);
            CreateArgs {
                id: &auction.id.to_string(),
                max_lots: MAX_LOTS_PER_SHOW,
            }
            .push(&mut call);
            for (name, value) in create_fields(auction)? {
                call.arg(name).arg(value);
            }
            let reply: String = eval(&mut self.conn.clone(), &CREATE_SCRIPT, &call)
                .await
                .map_err(script_error)?;
            match reply.as_str() {
                "ok" => Ok(Ok(())),
                "full" => Ok(Err(too_many_auctions())),
                _ => Err(unexpected("auction create", &[reply])),
            }
        })
        .await
    }

    async fn auction(&self, show: &Show, id: AuctionId) -> Result<Option<Auction>, StoreError> {
        self.guard("auction", async {
            let (mut lots, _) = self.read_lots(show, &[id]).await?;
            Ok(lots.pop().flatten().map(|(a, _)| a))
        })
        .await
    }

    async fn auctions(&self, show: &Show) -> Result<Vec<Auction>, StoreError> {
        self.guard("auctions", async {
            let ids = self.lot_ids(show).await?;
            let (lots, _) = self.read_lots(show, &ids).await?;
            Ok(lots.into_iter().flatten().map(|(a, _)| a).collect())
        })
        .await
    }

    async fn bid(
        &self,
        show: &Show,
        id: AuctionId,
        bid: &KeyedBid,
    ) -> Result<Result<BidStored, DomainError>, StoreError> {
        let k = self.lot_keys(show, id);
        let r = &bid.request;
        self.guard("bid", async {
            let mut call = evalsha(&BID_SCRIPT, BidKeys::NAMES.len());
            BidKeys {
                lot: &k.lot,
                bests: &k.bests,
                prebids: &k.prebids,
                log: &k.log,
                keys: &k.keys,
            }
            .push(&mut call);
            BidArgs {
                bidder: &r.bidder.viewer_id.to_string(),
                name: &r.bidder.name,
                kind: match r.kind {
                    BidKind::Amount => "amount",
                    BidKind::Max => "max",
                },
                amount: r.amount,
                currency: &r.currency.map(|c| c.to_string()).unwrap_or_default(),
                received: r.received_ms,
                key: bid.key.as_deref().unwrap_or_default(),
                fingerprint: &bid.fingerprint(),
                max_amount: MAX_AMOUNT,
            }
            .push(&mut call);
            let reply: Vec<String> = eval(&mut self.conn.clone(), &BID_SCRIPT, &call)
                .await
                .map_err(script_error)?;
            let answer = |raw: &str| bid_answer(id, raw).map(Box::new);
            match (reply.first().map(String::as_str), reply.get(1)) {
                (Some("missing"), _) => Ok(Err(auction_not_found(id))),
                (Some("reused"), _) => Ok(Ok(BidStored::KeyReused)),
                (Some("handled"), Some(raw)) => Ok(Ok(BidStored::Handled {
                    answer: answer(raw)?,
                    replayed: false,
                })),
                (Some("replayed"), Some(raw)) => Ok(Ok(BidStored::Handled {
                    answer: answer(raw)?,
                    replayed: true,
                })),
                _ => Err(unexpected("auction bid", &reply)),
            }
        })
        .await
    }

    async fn open_auction(
        &self,
        show: &Show,
        id: AuctionId,
        now_ms: i64,
    ) -> Result<Result<OpenStep, DomainError>, StoreError> {
        self.guard("open_auction", async {
            self.step_lot(show, id, true, |lot, open_lot| {
                if let Some(other) = open_lot.filter(|o| *o != id) {
                    return Err(another_open(other));
                }
                let step = open(lot, now_ms)?;
                Ok((step.auction.clone(), step))
            })
            .await
        })
        .await
    }

    async fn close_auction(
        &self,
        show: &Show,
        id: AuctionId,
        now_ms: i64,
        stop: bool,
    ) -> Result<Result<CloseStep, DomainError>, StoreError> {
        self.guard("close_auction", async {
            self.step_lot(show, id, false, |lot, _| {
                let step = close(lot, now_ms, stop)?;
                Ok((step.auction.clone(), step))
            })
            .await
        })
        .await
    }

    async fn auction_log(&self, show: &Show, id: AuctionId) -> Result<Vec<LogEntry>, StoreError> {
        let k = self.lot_keys(show, id);
        self.guard("auction_log", async {
            let lines: Vec<String> = redis::cmd("LRANGE")
                .arg(&k.log)
                .arg(0)
                .arg(-1)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            lines.iter().map(|l| log_entry(l)).collect()
        })
        .await
    }

    async fn open_auctions(&self) -> Result<Vec<OpenLot>, StoreError> {
        self.guard("open_auctions", async {
            let members: Vec<String> = redis::cmd("SMEMBERS")
                .arg(self.open_index())
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            if members.is_empty() {
                return Ok(Vec::new());
            }
            let mut lots = Vec::with_capacity(members.len());
            let mut pipe = redis::pipe();
            for member in &members {
                let parts: Vec<&str> = member.split(' ').collect();
                let [creator, show, lot] = parts[..] else {
                    return Err(StoreError::Corrupt(format!("open auction {member:?}")));
                };
                let lot = OpenLot {
                    show: parse_id(show, "open auction show")?,
                    creator: parse_id(creator, "open auction creator")?,
                    auction: parse_id(lot, "open auction")?,
                    ends_at_ms: 0,
                };
                let key = self.keys.show_part(
                    lot.creator,
                    lot.show,
                    format_args!("auction:{}", lot.auction),
                );
                pipe.cmd("HMGET").arg(key).arg("status").arg("ends_at");
                lots.push(lot);
            }
            let states: Vec<(Option<String>, Option<String>)> = pipe
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
            let mut open = Vec::with_capacity(lots.len());
            for (mut lot, state) in lots.into_iter().zip(states) {
                if let (Some("open"), Some(end)) = (state.0.as_deref(), state.1.as_deref()) {
                    lot.ends_at_ms = parse_int(end, "ends_at")?;
                    open.push(lot);
                }
            }
            Ok(open)
        })
        .await
    }
}
