//! RedisStore's settlement of pending orders: paying or failing one (`complete_order`) and
//! expiring a show's due reservations, each one Lua script over the show's order keys, its
//! creator's stock and the deal-buyer hashes of the orders' deal lines (declared from a read,
//! or from the order the checkout answered with; `retry` when the stored orders need others).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use redis::Script;

use super::{
    ATTEMPTS, RedisStore, decode, eval, evalsha, order_at, orders_by_id, redis_error, rfc3339,
    score, script, script_error, unexpected,
};
use crate::domain::commerce::Order;
use crate::domain::{OrderId, ProductId, Show, Timestamp};
use crate::store::StoreError;
use crate::store::commerce::Completion;

const EXPIRED: &str = "the reservation expired before the payment finished";

/// Settles a pending order. KEYS: 1 orders, 2 reservations, 3 stock, 4 pins, 5 deal remaining,
///   6 outbox, 7 outbox ids, then the deal buyers of each declared product.
/// ARGV: 1 order id, 2 'paid' or 'failed', 3 the event's time (the payment's when paid),
///   4 failure reason, 5 event id, 6 n, then n declared product ids.
const COMPLETE: &str = include_str!("lua/complete.lua");

/// Expires every due reservation of a show, oldest order first.
/// KEYS: 1 orders, 2 order ids, 3 reservations, 4 stock, 5 pins, 6 deal remaining, 7 outbox,
///   8 outbox ids, then the deal buyers of each declared product.
/// ARGV: 1 now, 2 now (ms), 3 failure text, 4 e, then e event ids, then n and n declared
///   product ids.
const EXPIRE: &str = include_str!("lua/expire.lua");

static COMPLETE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(COMPLETE));
static EXPIRE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(EXPIRE));

/// Products of an order's deal lines (their buyer counts may go back).
fn deal_products<'a>(orders: impl IntoIterator<Item = &'a Order>) -> BTreeSet<ProductId> {
    orders
        .into_iter()
        .flat_map(|o| o.items.iter())
        .filter(|l| l.deal)
        .map(|l| l.product_id)
        .collect()
}

impl RedisStore {
    /// Settles `order`. The script's keys name the deal-buyer hashes of the order's deal lines:
    /// taken from `placed` (the order as its checkout answered) on the first try when given, else
    /// from a read of the stored order just before; a script that finds the stored order needs
    /// other keys writes nothing and answers `retry`, and the next try reads.
    pub(super) async fn settle(
        &self,
        show: &Show,
        order: OrderId,
        outcome: &Completion,
        placed: Option<&Order>,
    ) -> Result<Option<Order>, StoreError> {
        self.guard("complete_order", async {
            let k = &self.keys;
            let mut con = self.conn.clone();
            let (status, at, reason) = match outcome {
                Completion::Paid { at } => ("paid", *at, ""),
                Completion::Failed { reason, at } => ("failed", *at, reason.as_str()),
            };
            let event_id = uuid::Uuid::now_v7().to_string();
            let mut placed = placed.filter(|p| p.id == order);
            for _ in 0..ATTEMPTS {
                let products = match placed.take() {
                    Some(p) => deal_products([p]),
                    None => {
                        let raw: Option<String> = redis::cmd("HGET")
                            .arg(k.orders(show))
                            .arg(order.to_string())
                            .query_async(&mut con)
                            .await
                            .map_err(redis_error)?;
                        let Some(raw) = raw else { return Ok(None) };
                        let current: Order = decode(&raw, "order")?;
                        deal_products([&current])
                    }
                };
                let mut call = evalsha(&COMPLETE_SCRIPT, 7 + products.len());
                call.arg(k.orders(show))
                    .arg(k.reservations(show))
                    .arg(k.stock(show.creator_id))
                    .arg(k.pins(show))
                    .arg(k.deal_remaining(show))
                    .arg(k.outbox(show.creator_id))
                    .arg(k.outbox_ids(show.creator_id));
                for p in &products {
                    call.arg(k.deal_buyers(show, *p));
                }
                call.arg(order.to_string())
                    .arg(status)
                    .arg(rfc3339(at))
                    .arg(reason)
                    .arg(&event_id)
                    .arg(products.len());
                for p in &products {
                    call.arg(p.to_string());
                }
                let reply: Vec<String> = eval(&mut con, &COMPLETE_SCRIPT, &call)
                    .await
                    .map_err(script_error)?;
                return match reply.first().map(String::as_str) {
                    Some("order") => Ok(Some(order_at(&reply, 1, "complete_order")?)),
                    Some("none") => Ok(None),
                    Some("retry") => continue,
                    _ => Err(unexpected("complete_order", &reply)),
                };
            }
            Err(StoreError::Unavailable(
                "the order kept changing while settling it; try again".into(),
            ))
        })
        .await
    }

    pub(super) async fn expire(
        &self,
        show: &Show,
        now: Timestamp,
    ) -> Result<Vec<Order>, StoreError> {
        self.guard("expire_reservations", async {
            let k = &self.keys;
            let mut con = self.conn.clone();
            for _ in 0..ATTEMPTS {
                let due: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                    .arg(k.reservations(show))
                    .arg("-inf")
                    .arg(score(now))
                    .query_async(&mut con)
                    .await
                    .map_err(redis_error)?;
                if due.is_empty() {
                    return Ok(Vec::new());
                }
                let candidates = orders_by_id(self, show, &due).await?;
                let products = deal_products(&candidates);
                let mut call = EXPIRE_SCRIPT.prepare_invoke();
                call.key(k.orders(show))
                    .key(k.order_ids(show))
                    .key(k.reservations(show))
                    .key(k.stock(show.creator_id))
                    .key(k.pins(show))
                    .key(k.deal_remaining(show))
                    .key(k.outbox(show.creator_id))
                    .key(k.outbox_ids(show.creator_id));
                for p in &products {
                    call.key(k.deal_buyers(show, *p));
                }
                call.arg(rfc3339(now))
                    .arg(score(now))
                    .arg(EXPIRED)
                    .arg(due.len());
                for _ in &due {
                    call.arg(uuid::Uuid::now_v7().to_string());
                }
                call.arg(products.len());
                for p in &products {
                    call.arg(p.to_string());
                }
                let reply: Vec<String> = call.invoke_async(&mut con).await.map_err(script_error)?;
                return match reply.first().map(String::as_str) {
                    Some("expired") => reply[1..].iter().map(|raw| decode(raw, "order")).collect(),
                    Some("retry") => continue,
                    _ => Err(unexpected("expire_reservations", &reply)),
                };
            }
            Err(StoreError::Unavailable(
                "reservations kept changing while expiring them; try again".into(),
            ))
        })
        .await
    }
}
