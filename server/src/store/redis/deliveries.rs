//! RedisStore's side of what the dashboard shows of webhooks: an event queued outside any
//! order's life (the creator's `test` event) and the bounded log of deliveries. Both live under
//! the creator's hash tag beside the outbox:
//!
//! | key (after `{prefix}:{c:<creator>}:`) | type | content                                    |
//! |---------------------------------------|------|--------------------------------------------|
//! | `deliveries`                          | hash | event id → `Delivery` JSON                 |
//! | `delivery-order`                      | zset | event id → time of its last entry, in ms   |
//!
//! Recording is one script (replace the event's entry, trim to `DELIVERIES_KEPT`), so two
//! nodes recording at once never leave more entries or a dangling one.

use std::collections::HashMap;
use std::sync::LazyLock;

use redis::Script;

use super::named::{named_plain_script, script_params};
use super::{Keys, RedisStore, decode, encode, eval, evalsha, rfc3339, score, script_error};
use crate::domain::commerce::{DELIVERIES_KEPT, Delivery, Order};
use crate::domain::{CreatorId, Timestamp};
use crate::store::StoreError;

impl Keys {
    fn deliveries(&self, creator: CreatorId) -> String {
        format!("{}:deliveries", self.tag(creator))
    }
    fn delivery_order(&self, creator: CreatorId) -> String {
        format!("{}:delivery-order", self.tag(creator))
    }
}

script_params! {
    /// The queue script's named keys.
    struct QueueKeys<'a> {
        outbox: &'a str,
        outbox_ids: &'a str,
    }
}

script_params! {
    /// The queue script's named arguments: the stream entry's fields.
    struct QueueArgs<'a> {
        event_id: &'a str,
        kind: &'a str,
        at: &'a str,
        order: &'a str,
    }
}

/// Appends an event to the outbox as the order scripts' `append_event` does.
static QUEUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_plain_script(
        QueueKeys::NAMES,
        QueueArgs::NAMES,
        "local entry = redis.call('XADD', k.outbox, '*', 'id', a.event_id, 'kind', a.kind,
           'at', a.at, 'order', a.order)
         redis.call('HSET', k.outbox_ids, a.event_id, entry)
         return entry",
    )
});

script_params! {
    /// The record script's named keys.
    struct RecordKeys<'a> {
        log: &'a str,
        order: &'a str,
    }
}

script_params! {
    /// The record script's named arguments.
    struct RecordArgs<'a> {
        event_id: &'a str,
        entry: &'a str,
        at_ms: i64,
        keep: usize,
    }
}

/// Replaces the event's entry and drops the oldest beyond `keep`.
static RECORD_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_plain_script(
        RecordKeys::NAMES,
        RecordArgs::NAMES,
        "redis.call('HSET', k.log, a.event_id, a.entry)
         redis.call('ZADD', k.order, a.at_ms, a.event_id)
         local extra = redis.call('ZCARD', k.order) - tonumber(a.keep)
         if extra > 0 then
           local old = redis.call('ZRANGE', k.order, 0, extra - 1)
           redis.call('ZREMRANGEBYRANK', k.order, 0, extra - 1)
           redis.call('HDEL', k.log, unpack(old))
         end
         return 1",
    )
});

pub(super) async fn queue_event(
    store: &RedisStore,
    creator: CreatorId,
    event_id: &str,
    kind: &str,
    at: Timestamp,
    sample: &Order,
) -> Result<(), StoreError> {
    let (outbox, outbox_ids) = (store.keys.outbox(creator), store.keys.outbox_ids(creator));
    let mut call = evalsha(&QUEUE_SCRIPT, QueueKeys::NAMES.len());
    QueueKeys {
        outbox: &outbox,
        outbox_ids: &outbox_ids,
    }
    .push(&mut call);
    QueueArgs {
        event_id,
        kind,
        at: &rfc3339(at),
        order: &encode(sample)?,
    }
    .push(&mut call);
    let mut con = store.conn.clone();
    let _: String = eval(&mut con, &QUEUE_SCRIPT, &call)
        .await
        .map_err(script_error)?;
    Ok(())
}

pub(super) async fn record_delivery(
    store: &RedisStore,
    creator: CreatorId,
    delivery: &Delivery,
) -> Result<(), StoreError> {
    let (log, order) = (
        store.keys.deliveries(creator),
        store.keys.delivery_order(creator),
    );
    let mut call = evalsha(&RECORD_SCRIPT, RecordKeys::NAMES.len());
    RecordKeys {
        log: &log,
        order: &order,
    }
    .push(&mut call);
    RecordArgs {
        event_id: &delivery.event_id,
        entry: &encode(delivery)?,
        at_ms: score(delivery.at),
        keep: DELIVERIES_KEPT,
    }
    .push(&mut call);
    let mut con = store.conn.clone();
    let _: i64 = eval(&mut con, &RECORD_SCRIPT, &call)
        .await
        .map_err(script_error)?;
    Ok(())
}

pub(super) async fn deliveries(
    store: &RedisStore,
    creator: CreatorId,
) -> Result<Vec<Delivery>, StoreError> {
    let (ids, entries): (Vec<String>, HashMap<String, String>) = redis::pipe()
        .atomic()
        .cmd("ZREVRANGE")
        .arg(store.keys.delivery_order(creator))
        .arg(0)
        .arg(-1)
        .cmd("HGETALL")
        .arg(store.keys.deliveries(creator))
        .query_async(&mut store.conn.clone())
        .await
        .map_err(super::redis_error)?;
    ids.iter()
        .filter_map(|id| entries.get(id))
        .map(|raw| decode(raw, "delivery"))
        .collect()
}
