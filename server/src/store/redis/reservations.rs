//! RedisStore's settlement of pending orders: paying or failing one (`complete_order`) and
//! expiring a show's due reservations, each one Lua script over the show's order keys, its
//! creator's stock and the deal-buyer hashes of the orders' deal lines (declared from a read,
//! or from the order the checkout answered with; `retry` when the stored orders need others).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use redis::Script;

use super::checkout::{ShowKeys, show_keys};
use super::named::{named_script, script_params};
use super::{
    ATTEMPTS, RedisStore, decode, eval, evalsha, order_at, orders_by_id, redis_error, rfc3339,
    score, script_error, unexpected,
};
use crate::domain::commerce::Order;
use crate::domain::{OrderId, ProductId, Show, Timestamp};
use crate::store::StoreError;
use crate::store::commerce::Completion;

const EXPIRED: &str = "the reservation expired before the payment finished";

script_params! {
    /// The named keys of the settlement scripts (completing an order, expiring a show's due
    /// reservations, refunding a paid order in `payments.rs`); the deal buyers of each declared
    /// product follow.
    struct SettleKeys<'a> {
        orders: &'a str,
        order_ids: &'a str,
        reservations: &'a str,
        pins: &'a str,
        deal_remaining: &'a str,
        stock: &'a str,
        outbox: &'a str,
        outbox_ids: &'a str,
    }
}

impl ShowKeys {
    /// The settlement scripts' named keys.
    pub(super) fn settle(&self) -> SettleKeys<'_> {
        SettleKeys {
            orders: &self.orders,
            order_ids: &self.order_ids,
            reservations: &self.reservations,
            pins: &self.pins,
            deal_remaining: &self.deal_remaining,
            stock: &self.stock,
            outbox: &self.outbox,
            outbox_ids: &self.outbox_ids,
        }
    }
}

script_params! {
    /// The settlement script's named arguments; the declared product ids follow.
    struct CompleteArgs<'a> {
        order_id: &'a str,
        /// `paid` or `failed`.
        outcome: &'a str,
        /// The event's time (the payment's when paid).
        at: &'a str,
        failure: &'a str,
        event_id: &'a str,
        /// How many product ids follow.
        declared: usize,
    }
}

script_params! {
    /// The expiry script's named arguments; `events` event ids follow, then `declared` product
    /// ids.
    struct ExpireArgs<'a> {
        now: &'a str,
        now_ms: i64,
        failure: &'a str,
        events: usize,
        declared: usize,
    }
}

/// Settles a pending order: answers `none`, `retry`, or `order` and the order's JSON.
static COMPLETE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_script(
        SettleKeys::NAMES,
        CompleteArgs::NAMES,
        include_str!("lua/complete.lua"),
    )
});

/// Expires every due reservation of a show, oldest order first: answers `retry`, or
/// `expired` and the expired orders' JSON.
static EXPIRE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_script(
        SettleKeys::NAMES,
        ExpireArgs::NAMES,
        include_str!("lua/expire.lua"),
    )
});

/// Products of an order's deal lines (their buyer counts may go back).
pub(super) fn deal_products<'a>(
    orders: impl IntoIterator<Item = &'a Order>,
) -> BTreeSet<ProductId> {
    orders
        .into_iter()
        .flat_map(|o| o.items.iter())
        .filter(|l| l.deal)
        .map(|l| l.product_id)
        .collect()
}

/// A settlement script's call: its named keys, then the deal-buyers hash of each declared
/// product; `args` pushes the named arguments (and anything that goes before the products);
/// the declared product ids come last.
pub(super) fn settle_call(
    store: &RedisStore,
    show: &Show,
    script: &Script,
    keys: &SettleKeys<'_>,
    products: &BTreeSet<ProductId>,
    args: impl FnOnce(&mut redis::Cmd),
) -> redis::Cmd {
    let mut call = evalsha(script, SettleKeys::NAMES.len() + products.len());
    keys.push(&mut call);
    for p in products {
        call.arg(store.keys.deal_buyers(show, *p));
    }
    args(&mut call);
    for p in products {
        call.arg(p.to_string());
    }
    call
}

/// The deal products of the stored order `order_id` in the hash `orders`; `None` when there is
/// no such order.
pub(super) async fn stored_deal_products(
    con: &mut redis::aio::ConnectionManager,
    orders: &str,
    order_id: &str,
) -> Result<Option<BTreeSet<ProductId>>, StoreError> {
    let raw: Option<String> = redis::cmd("HGET")
        .arg(orders)
        .arg(order_id)
        .query_async(con)
        .await
        .map_err(redis_error)?;
    match raw {
        Some(raw) => Ok(Some(deal_products([&decode::<Order>(&raw, "order")?]))),
        None => Ok(None),
    }
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
            let mut con = self.conn.clone();
            let (outcome, at, reason) = match outcome {
                Completion::Paid { at } => ("paid", *at, ""),
                Completion::Failed { reason, at } => ("failed", *at, reason.as_str()),
            };
            let event_id = uuid::Uuid::now_v7().to_string();
            let (order_id, at) = (order.to_string(), rfc3339(at));
            let sk = show_keys(self, show);
            let keys = sk.settle();
            let mut placed = placed.filter(|p| p.id == order);
            for _ in 0..ATTEMPTS {
                let products = match placed.take() {
                    Some(p) => deal_products([p]),
                    None => match stored_deal_products(&mut con, keys.orders, &order_id).await? {
                        Some(products) => products,
                        None => return Ok(None),
                    },
                };
                let args = CompleteArgs {
                    order_id: &order_id,
                    outcome,
                    at: &at,
                    failure: reason,
                    event_id: &event_id,
                    declared: products.len(),
                };
                let call = settle_call(self, show, &COMPLETE_SCRIPT, &keys, &products, |call| {
                    args.push(call);
                });
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
            let mut con = self.conn.clone();
            let now_text = rfc3339(now);
            let sk = show_keys(self, show);
            let keys = sk.settle();
            for _ in 0..ATTEMPTS {
                let due: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                    .arg(keys.reservations)
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
                let args = ExpireArgs {
                    now: &now_text,
                    now_ms: score(now),
                    failure: EXPIRED,
                    events: due.len(),
                    declared: products.len(),
                };
                let call = settle_call(self, show, &EXPIRE_SCRIPT, &keys, &products, |call| {
                    args.push(call);
                    for _ in &due {
                        call.arg(uuid::Uuid::now_v7().to_string());
                    }
                });
                let reply: Vec<String> = eval(&mut con, &EXPIRE_SCRIPT, &call)
                    .await
                    .map_err(script_error)?;
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
