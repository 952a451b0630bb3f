//! RedisStore's commerce operations: pins and deals, carts, the checkout, orders and their
//! reservations, webhooks and the outbox. [`super::MemoryStore`] is the reference: every
//! function here has the same observable behaviour, and tests/commerce_store.rs runs one
//! contract against both.
//!
//! Key layout. Everything that belongs to a show lives under its creator's hash tag
//! (`{prefix}:{c:<creator>}:…`, see `redis.rs`), beside the creator's stock hash and product
//! records, so every script below touches one Cluster slot:
//!
//! | key (after `{prefix}:{c:<creator>}:`)  | type   | content                                      |
//! |----------------------------------------|--------|----------------------------------------------|
//! | `show:<s>:pins`                        | list   | `Pin` JSON, in pinning order                 |
//! | `show:<s>:deal-remaining`              | hash   | product → deal units neither sold nor held   |
//! | `show:<s>:deal-buyers:<p>`             | hash   | viewer → deal units bought or held           |
//! | `show:<s>:cart:<v>`                    | hash   | product → `CartLine` JSON; TTL 7 days, refreshed by every write |
//! | `show:<s>:orders`                      | hash   | order id → `Order` JSON                      |
//! | `show:<s>:order-ids`                   | zset   | order id, scored 1, 2, 3… in creation order  |
//! | `show:<s>:viewer-orders:<v>`           | list   | one viewer's order ids, oldest first         |
//! | `show:<s>:idempotency`                 | hash   | `<viewer>:<key>` → `{order, cart, body}`     |
//! | `show:<s>:reservations`                | zset   | pending order id → `reserved_until` in ms    |
//! | `show:<s>:reservations-indexed`        | string | `1` once the show is in `reservation-shows`  |
//! | `outbox`                               | stream | order events; consumer group `webhooks`      |
//! | `outbox-ids`                           | hash   | event id → stream entry id (for the ack)     |
//! | `webhook`                              | string | `Webhook` JSON                               |
//!
//! Two global sets say where the background workers must look: `reservation-shows` (shows
//! that may hold reservations) and `webhook-creators`. A show enters `reservation-shows`
//! *before* its first reservation exists, so a crash can never leave a reservation the
//! sweeper does not know of: the checkout script creates a reservation only when the show's
//! `reservations-indexed` marker (in the creator's slot) is set, and otherwise answers
//! `unindexed`, writing nothing; the caller then adds the show to the global set and, once
//! Redis has acknowledged that, runs the script again telling it so, and the script sets the
//! marker with the reservation. The marker is only ever set after the acknowledged `SADD`, and
//! nothing removes either, so every show with a reservation is in the set; checkouts that
//! reserve nothing (a sold-out drop) never touch the global set.
//!
//! Atomicity. Each change is one Lua script that reads and writes only keys it was given
//! (Cluster routes a script by its declared keys). Keys that depend on data (product records
//! and deal-buyer hashes of the cart's or order's products) are declared from what the caller
//! expects; when the script finds data the caller did not foresee it writes nothing and
//! answers `retry`, and the caller tries again. Expiring declares them from a read made just
//! before; settling an order the checkout just answered with declares them from that answer
//! (an order's lines never change), other settlements from a read. The checkout declares the
//! products this node last saw in the viewer's cart (none if it saw none) and, on `retry`,
//! exactly the products the script reports it found in the cart (it has read only the
//! declared cart key by then), so a checkout is usually one round trip and at most two while
//! the cart holds still.
//!
//! Numbers and time in Lua. Lua numbers are doubles: integers are exact up to 2^53, and
//! every amount here is at most `MAX_AMOUNT` (10^12) × `MAX_CART_QUANTITY` ×
//! `MAX_CART_ITEMS` = 2·10^15 < 2^53. But `cjson.encode` and `tostring` print numbers with 14
//! significant digits (10^14 becomes `1e+14`), so no JSON that holds an amount is ever
//! written by cjson: orders are written field by field with `string.format('%d')`
//! (`order_json`), and pins and products stay as Rust wrote them. A total that would leave
//! the exact range is refused as `invalid_quantity` (Rust refuses only past `i64::MAX`; the
//! domain's limits keep both far below either). Timestamps stay the RFC 3339 strings chrono
//! writes; scripts compare them through `tkey`, which turns one into 23 digits that sort like
//! the instant (nanosecond precision, like the memory store's comparisons).
//!
//! Outbox. Each event is a stream entry with fields `id` (a UUIDv7, the stable id receivers
//! deduplicate on), `kind`, `at` and `order` (the order as it was at the event). The delivered
//! body is built from them by [`event_body`] when read, so it is exactly the memory store's.
//! `outbox_pending` reads through the consumer group with one consumer name: first the
//! entries delivered before and never acknowledged (id `0`), then new ones (`>`); reading
//! again returns the same events until they are acknowledged, also from a new process.
//! `outbox_ack` acknowledges (XACK) and deletes (XDEL) the entry, bounding the stream.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;

use super::checkout::{ArgText, CHECKOUT_SCRIPT, checkout_call, refusal, show_keys};
use super::commerce_scripts::{
    ACK_SCRIPT, AckArgs, AckKeys, GIVE_BACK_SCRIPT, GiveBackArgs, GiveBackKeys, PIN_SCRIPT,
    PinArgs, PinKeys, UNPIN_SCRIPT, UnpinArgs, UnpinKeys,
};
use super::outbox::{OUTBOX_GROUP, outbox_event, read_group};
use super::{
    ATTEMPTS, RedisStore, decode, encode, eval, evalsha, order_at, orders_by_id, parse_id,
    parse_int, redis_error, remember_cart, script_error, unexpected,
};
use crate::domain::commerce::{
    CartLine, CartLines, DealState, Delivery, MAX_PINS, Order, Pin, add_pin,
};
use crate::domain::{
    Code, CreatorId, DomainError, OrderId, ProductId, Show, ShowId, Timestamp, ViewerId,
};
use crate::store::StoreError;
use crate::store::commerce::{
    CheckoutOutcome, CheckoutRequest, CommerceStore, Completion, OutboxEvent, PinState, Webhook,
};

/// A cart's lifetime, refreshed by every write to it.
pub const CART_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// The product ids of a `retry` reply (the cart's products as the script found them).
fn product_ids(raw: &[String]) -> Result<Vec<ProductId>, StoreError> {
    raw.iter()
        .map(|f| parse_id::<ProductId>(f, "cart"))
        .collect()
}

// ---- helpers --------------------------------------------------------------------------------

/// Pin JSON and remaining pairs, as `pin_states` in Lua answers them.
fn pin_states(pairs: &[String]) -> Result<Vec<PinState>, StoreError> {
    if pairs.len() % 2 != 0 {
        return Err(StoreError::Corrupt("odd pin reply".into()));
    }
    pairs
        .chunks(2)
        .map(|pair| {
            Ok(PinState {
                pin: decode(&pair[0], "pin")?,
                deal: DealState {
                    remaining: parse_int(&pair[1], "deal remaining")?,
                },
            })
        })
        .collect()
}

// ---- pins and carts -------------------------------------------------------------------------

// ---- checkout and orders --------------------------------------------------------------------

/// The members of a set of ids, parsed and sorted.
async fn sorted_ids<T>(
    store: &RedisStore,
    key: String,
    what: &'static str,
) -> Result<Vec<T>, StoreError>
where
    T: std::str::FromStr + Ord,
{
    store
        .guard(what, async {
            let members: Vec<String> = redis::cmd("SMEMBERS")
                .arg(key)
                .query_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)?;
            let mut ids = members
                .iter()
                .map(|m| parse_id::<T>(m, what))
                .collect::<Result<Vec<_>, _>>()?;
            ids.sort();
            Ok(ids)
        })
        .await
}

// ---- webhooks and the outbox ----------------------------------------------------------------

#[async_trait]
impl CommerceStore for RedisStore {
    async fn pins(&self, show: &Show) -> Result<Vec<PinState>, StoreError> {
        self.guard("pins", async {
            let (raws, remaining): (Vec<String>, HashMap<String, String>) = redis::pipe()
                .atomic()
                .cmd("LRANGE")
                .arg(self.keys.pins(show))
                .arg(0)
                .arg(-1)
                .cmd("HGETALL")
                .arg(self.keys.deal_remaining(show))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raws.iter()
                .map(|raw| {
                    let pin: Pin = decode(raw, "pin")?;
                    let remaining = match remaining.get(&pin.product_id.to_string()) {
                        Some(n) => parse_int(n, "deal remaining")?,
                        None => 0,
                    };
                    Ok(PinState {
                        pin,
                        deal: DealState { remaining },
                    })
                })
                .collect()
        })
        .await
    }

    async fn pin(
        &self,
        show: &Show,
        pin: &Pin,
    ) -> Result<Result<Vec<PinState>, DomainError>, StoreError> {
        self.guard("pin", async {
            let k = &self.keys;
            let sk = show_keys(self, show);
            let deal_buyers = k.deal_buyers(show, pin.product_id);
            let keys = PinKeys {
                lineup: &k.lineup(show),
                pins: &sk.pins,
                deal_remaining: &sk.deal_remaining,
                deal_buyers: &deal_buyers,
            };
            let quantity = pin.deal.as_ref().map(|d| d.quantity.to_string());
            let args = PinArgs {
                product: &pin.product_id.to_string(),
                pin: &encode(pin)?,
                deal_quantity: quantity.as_deref().unwrap_or_default(),
                max_pins: MAX_PINS,
            };
            let mut call = evalsha(&PIN_SCRIPT, PinKeys::NAMES.len());
            keys.push(&mut call);
            args.push(&mut call);
            let reply: Vec<String> = eval(&mut self.conn.clone(), &PIN_SCRIPT, &call)
                .await
                .map_err(script_error)?;
            // Refusals come from the domain rule itself, so codes and messages are its own.
            let refused = match reply
                .first()
                .map(|first| (first.as_str(), Code::parse(first)))
            {
                Some(("ok", _)) => return Ok(Ok(pin_states(&reply[1..])?)),
                Some((_, Some(Code::NotInLineup))) => add_pin(&[], pin.clone(), &[]).err(),
                Some((_, Some(Code::TooManyPins))) => {
                    let current = reply[1..]
                        .iter()
                        .map(|raw| decode::<Pin>(raw, "pin"))
                        .collect::<Result<Vec<_>, _>>()?;
                    add_pin(&current, pin.clone(), &[pin.product_id]).err()
                }
                _ => None,
            };
            refused.map(Err).ok_or_else(|| unexpected("pin", &reply))
        })
        .await
    }

    async fn unpin(
        &self,
        show: &Show,
        product: ProductId,
    ) -> Result<Option<Vec<PinState>>, StoreError> {
        self.guard("unpin", async {
            let sk = show_keys(self, show);
            let mut call = evalsha(&UNPIN_SCRIPT, UnpinKeys::NAMES.len());
            UnpinKeys {
                pins: &sk.pins,
                deal_remaining: &sk.deal_remaining,
            }
            .push(&mut call);
            UnpinArgs {
                product: &product.to_string(),
            }
            .push(&mut call);
            let reply: Vec<String> = eval(&mut self.conn.clone(), &UNPIN_SCRIPT, &call)
                .await
                .map_err(script_error)?;
            match reply.first().map(String::as_str) {
                Some("ok") => Ok(Some(pin_states(&reply[1..])?)),
                Some("none") => Ok(None),
                _ => Err(unexpected("unpin", &reply)),
            }
        })
        .await
    }

    async fn cart(&self, show: &Show, viewer: ViewerId) -> Result<CartLines, StoreError> {
        self.guard("cart", async {
            let raw: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(self.keys.cart(show, viewer))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            let lines = raw
                .iter()
                .map(|(product, line)| {
                    Ok((
                        parse_id::<ProductId>(product, "cart")?,
                        decode::<CartLine>(line, "cart line")?,
                    ))
                })
                .collect::<Result<BTreeMap<_, _>, StoreError>>()?;
            remember_cart(self, (show.id, viewer), lines.keys().copied().collect());
            Ok(lines)
        })
        .await
    }

    async fn set_cart_line(
        &self,
        show: &Show,
        viewer: ViewerId,
        product: ProductId,
        line: Option<CartLine>,
    ) -> Result<(), StoreError> {
        self.guard("set_cart_line", async {
            let key = self.keys.cart(show, viewer);
            let mut pipe = redis::pipe();
            pipe.atomic();
            match line {
                Some(line) => pipe
                    .cmd("HSET")
                    .arg(&key)
                    .arg(product.to_string())
                    .arg(encode(&line)?),
                None => pipe.cmd("HDEL").arg(&key).arg(product.to_string()),
            };
            pipe.cmd("EXPIRE").arg(&key).arg(CART_TTL_SECONDS);
            pipe.exec_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            let hint = (show.id, viewer);
            let mut products = self.recent(|r| r.cart_products.get(&hint).cloned());
            let known = products.is_some();
            let products = products.get_or_insert_with(Vec::new);
            products.retain(|p| *p != product);
            if line.is_some() {
                products.push(product);
            }
            if known || line.is_some() {
                remember_cart(self, hint, std::mem::take(products));
            }
            Ok(())
        })
        .await
    }

    async fn give_back_cart(
        &self,
        show: &Show,
        viewer: ViewerId,
        lines: &CartLines,
    ) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        self.guard("give_back_cart", async {
            let mut call = evalsha(&GIVE_BACK_SCRIPT, GiveBackKeys::NAMES.len());
            GiveBackKeys {
                cart: &self.keys.cart(show, viewer),
            }
            .push(&mut call);
            GiveBackArgs {
                max_products: crate::domain::commerce::MAX_CART_ITEMS,
                ttl_seconds: CART_TTL_SECONDS,
            }
            .push(&mut call);
            for (product, line) in lines {
                call.arg(product.to_string()).arg(encode(line)?);
            }
            eval::<i64>(&mut self.conn.clone(), &GIVE_BACK_SCRIPT, &call)
                .await
                .map_err(redis_error)?;
            // The cart changed behind this node's hint: the next checkout reads it afresh.
            self.recent(|r| r.cart_products.remove(&(show.id, viewer)));
            Ok(())
        })
        .await
    }

    async fn deal_bought(
        &self,
        show: &Show,
        product: ProductId,
        viewer: ViewerId,
    ) -> Result<i64, StoreError> {
        self.guard("deal_bought", async {
            let raw: Option<String> = redis::cmd("HGET")
                .arg(self.keys.deal_buyers(show, product))
                .arg(viewer.to_string())
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map_or(Ok(0), |n| parse_int(&n, "deal buyers"))
        })
        .await
    }

    async fn checkout(
        &self,
        show: &Show,
        req: &CheckoutRequest,
    ) -> Result<CheckoutOutcome, StoreError> {
        self.guard("checkout", async {
            let k = &self.keys;
            let mut con = self.conn.clone();
            let hint_key = (show.id, req.viewer);
            // The products to declare: what this node last saw in the cart, then what the
            // script found there.
            let mut products: Vec<ProductId> =
                self.recent(|r| r.cart_products.get(&hint_key).cloned().unwrap_or_default());
            let (cart, viewer_orders) =
                (k.cart(show, req.viewer), k.viewer_orders(show, req.viewer));
            let show_keys = show_keys(self, show);
            let keys = show_keys.with(&cart, &viewer_orders);
            let text = ArgText::new(show, req)?;
            let mut args = text.args(req);
            // One round more than ATTEMPTS: at most one goes to indexing the show.
            for _ in 0..=ATTEMPTS {
                args.declared = products.len();
                let call = checkout_call(self, show, &keys, &args, &products);
                let reply: Vec<String> = eval(&mut con, &CHECKOUT_SCRIPT, &call)
                    .await
                    .map_err(script_error)?;
                return match reply.first().map(String::as_str) {
                    Some("created") => {
                        // The script emptied the cart.
                        self.recent(|r| r.cart_products.remove(&hint_key));
                        Ok(CheckoutOutcome::Created(order_at(&reply, 1, "checkout")?))
                    }
                    Some("replayed") => {
                        Ok(CheckoutOutcome::Replayed(order_at(&reply, 1, "checkout")?))
                    }
                    Some("key_reused") => Ok(CheckoutOutcome::KeyReused),
                    Some("refused") if reply.len() == 3 => Ok(CheckoutOutcome::Refused(refusal(
                        &reply[1],
                        reply[2].clone(),
                    )?)),
                    Some("retry") => {
                        products = product_ids(&reply[1..])?;
                        remember_cart(self, hint_key, products.clone());
                        continue;
                    }
                    Some("unindexed") if args.indexed != "1" => {
                        // Before any reservation of this show exists (see the module doc): a
                        // reservation the sweeper does not know of would hold its stock
                        // forever, an extra show only costs the sweeper one empty look.
                        redis::cmd("SADD")
                            .arg(k.reservation_shows())
                            .arg(&text.show_id)
                            .exec_async(&mut con)
                            .await
                            .map_err(redis_error)?;
                        args.indexed = "1";
                        continue;
                    }
                    _ => Err(unexpected("checkout", &reply)),
                };
            }
            Err(StoreError::Unavailable(
                "the cart kept changing during the checkout; try again".into(),
            ))
        })
        .await
    }

    async fn complete_order(
        &self,
        show: &Show,
        order: OrderId,
        outcome: &Completion,
    ) -> Result<Option<Order>, StoreError> {
        self.settle(show, order, outcome, None).await
    }

    async fn complete_placed_order(
        &self,
        show: &Show,
        placed: &Order,
        outcome: &Completion,
    ) -> Result<Option<Order>, StoreError> {
        self.settle(show, placed.id, outcome, Some(placed)).await
    }

    async fn expire_reservations(
        &self,
        show: &Show,
        now: Timestamp,
    ) -> Result<Vec<Order>, StoreError> {
        self.expire(show, now).await
    }

    async fn shows_with_reservations(&self) -> Result<Vec<ShowId>, StoreError> {
        sorted_ids(self, self.keys.reservation_shows(), "reservation shows").await
    }

    async fn orders(&self, show: &Show) -> Result<Vec<Order>, StoreError> {
        let listed = listed_orders(self, show, "ZRANGE", self.keys.order_ids(show));
        self.guard("orders", listed).await
    }

    async fn viewer_orders(&self, show: &Show, viewer: ViewerId) -> Result<Vec<Order>, StoreError> {
        let listed = listed_orders(self, show, "LRANGE", self.keys.viewer_orders(show, viewer));
        self.guard("viewer_orders", listed).await
    }

    async fn order(&self, show: &Show, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.guard("order", async {
            let raw: Option<String> = redis::cmd("HGET")
                .arg(self.keys.orders(show))
                .arg(id.to_string())
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|r| decode(&r, "order")).transpose()
        })
        .await
    }

    async fn set_webhook(
        &self,
        creator: CreatorId,
        hook: Option<&Webhook>,
    ) -> Result<(), StoreError> {
        self.guard("set_webhook", async {
            let k = &self.keys;
            let mut pipe = redis::pipe();
            pipe.atomic();
            match hook {
                Some(hook) => pipe
                    .cmd("SET")
                    .arg(k.webhook(creator))
                    .arg(encode(hook)?)
                    .cmd("SADD")
                    .arg(k.webhook_creators())
                    .arg(creator.to_string()),
                None => pipe
                    .cmd("DEL")
                    .arg(k.webhook(creator))
                    .cmd("SREM")
                    .arg(k.webhook_creators())
                    .arg(creator.to_string()),
            };
            pipe.exec_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
    }

    async fn webhook(&self, creator: CreatorId) -> Result<Option<Webhook>, StoreError> {
        self.guard("webhook", async {
            let raw: Option<String> = redis::cmd("GET")
                .arg(self.keys.webhook(creator))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|r| decode(&r, "webhook")).transpose()
        })
        .await
    }

    async fn webhook_creators(&self) -> Result<Vec<CreatorId>, StoreError> {
        sorted_ids(self, self.keys.webhook_creators(), "webhook creators").await
    }

    async fn outbox_pending(
        &self,
        creator: CreatorId,
        max: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.guard("outbox_pending", async {
            if max == 0 {
                return Ok(Vec::new());
            }
            let key = self.keys.outbox(creator);
            // Delivered before and never acknowledged (older than anything new), then new.
            let mut entries = read_group(self, &key, max, "0").await?;
            if entries.len() < max {
                let fresh = read_group(self, &key, max - entries.len(), ">").await?;
                entries.extend(fresh);
            }
            let mut events = Vec::with_capacity(entries.len());
            for (entry, fields) in entries {
                match fields {
                    Some(fields) => events.push(outbox_event(creator, &fields)?),
                    None => {
                        // Deleted but still pending: nothing left to deliver.
                        redis::cmd("XACK")
                            .arg(&key)
                            .arg(OUTBOX_GROUP)
                            .arg(&entry)
                            .exec_async(&mut self.conn.clone())
                            .await
                            .map_err(redis_error)?;
                    }
                }
            }
            Ok(events)
        })
        .await
    }

    async fn outbox_ack(&self, creator: CreatorId, event_id: &str) -> Result<(), StoreError> {
        self.guard("outbox_ack", async {
            let mut call = evalsha(&ACK_SCRIPT, AckKeys::NAMES.len());
            AckKeys {
                outbox: &self.keys.outbox(creator),
                outbox_ids: &self.keys.outbox_ids(creator),
            }
            .push(&mut call);
            AckArgs {
                event_id,
                group: OUTBOX_GROUP,
            }
            .push(&mut call);
            eval::<i64>(&mut self.conn.clone(), &ACK_SCRIPT, &call)
                .await
                .map_err(script_error)?;
            Ok(())
        })
        .await
    }

    async fn queue_event(
        &self,
        creator: CreatorId,
        event_id: &str,
        kind: &str,
        at: Timestamp,
        sample: &Order,
    ) -> Result<(), StoreError> {
        let queued = super::deliveries::queue_event(self, creator, event_id, kind, at, sample);
        self.guard("queue_event", queued).await
    }

    async fn record_delivery(
        &self,
        creator: CreatorId,
        delivery: &Delivery,
    ) -> Result<(), StoreError> {
        let recorded = super::deliveries::record_delivery(self, creator, delivery);
        self.guard("record_delivery", recorded).await
    }

    async fn deliveries(&self, creator: CreatorId) -> Result<Vec<Delivery>, StoreError> {
        let read = super::deliveries::deliveries(self, creator);
        self.guard("deliveries", read).await
    }
}

/// The orders whose ids the sorted set (`ZRANGE`) or list (`LRANGE`) at `key` holds, in its order.
async fn listed_orders(
    store: &RedisStore,
    show: &Show,
    range: &str,
    key: String,
) -> Result<Vec<Order>, StoreError> {
    let ids: Vec<String> = redis::cmd(range)
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(&mut store.conn.clone())
        .await
        .map_err(redis_error)?;
    orders_by_id(store, show, &ids).await
}
