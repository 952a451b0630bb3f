//! The outbox stream as RedisStore reads it: one consumer group, one consumer name, and the
//! entries turned back into [`OutboxEvent`]s (bodies built by [`event_body`], so exactly the
//! memory store's). See `commerce.rs` for the stream's place in the key layout.

use std::collections::HashMap;

use redis::{RedisError, Value};

use super::{RedisStore, decode, redis_error};
use crate::domain::commerce::Order;
use crate::domain::{CreatorId, Timestamp};
use crate::store::StoreError;
use crate::store::commerce::{OutboxEvent, event_body};

/// The outbox stream's consumer group.
pub const OUTBOX_GROUP: &str = "webhooks";
/// The one consumer of the group: every node reads the same pending entries (at least once).
const OUTBOX_CONSUMER: &str = "delivery";

/// One stream entry as XREADGROUP answers it: id, and fields (none when it was deleted).
type Entry = (String, Option<HashMap<String, String>>);

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// The entries of the one stream an XREADGROUP read (RESP2 arrays or RESP3 maps).
fn stream_entries(reply: Value) -> Result<Vec<Entry>, StoreError> {
    let bad = || StoreError::Corrupt("unexpected XREADGROUP reply".into());
    let streams: Vec<Value> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => Ok(pair.remove(1)),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, v)| v).collect(),
        _ => return Err(bad()),
    };
    let mut out = Vec::new();
    for entries in streams {
        let Value::Array(entries) = entries else {
            return Err(bad());
        };
        for entry in entries {
            let Value::Array(parts) = entry else {
                return Err(bad());
            };
            let [id, fields] = <[Value; 2]>::try_from(parts).map_err(|_| bad())?;
            let id = text(&id).ok_or_else(bad)?;
            let fields = match fields {
                Value::Nil => None,
                Value::Array(flat) => Some(
                    flat.chunks(2)
                        .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
                        .collect(),
                ),
                Value::Map(pairs) => Some(
                    pairs
                        .iter()
                        .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                        .collect(),
                ),
                _ => return Err(bad()),
            };
            out.push((id, fields));
        }
    }
    Ok(out)
}

pub(super) fn outbox_event(
    creator: CreatorId,
    fields: &HashMap<String, String>,
) -> Result<OutboxEvent, StoreError> {
    let field = |name: &str| {
        fields
            .get(name)
            .ok_or_else(|| StoreError::Corrupt(format!("outbox entry without {name}")))
    };
    let id = field("id")?.clone();
    let kind = field("kind")?.clone();
    let at: Timestamp = serde_json::from_value(serde_json::Value::String(field("at")?.clone()))
        .map_err(|e| StoreError::Corrupt(format!("outbox entry time: {e}")))?;
    // An event that is no order's step carries its whole body (`auction_sales.rs`).
    let body = match fields.get("body") {
        Some(body) => body.clone(),
        None => {
            let order: Order = decode(field("order")?, "outbox order")?;
            event_body(&id, &kind, at, &order)
        }
    };
    Ok(OutboxEvent {
        id,
        creator,
        kind,
        body,
    })
}

/// XREADGROUP from `from` (`0`: delivered and never acknowledged; `>`: never delivered),
/// creating the group on first use.
pub(super) async fn read_group(
    store: &RedisStore,
    key: &str,
    count: usize,
    from: &str,
) -> Result<Vec<Entry>, StoreError> {
    let mut con = store.conn.clone();
    let mut created = false;
    loop {
        let read: Result<Value, RedisError> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(OUTBOX_GROUP)
            .arg(OUTBOX_CONSUMER)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(key)
            .arg(from)
            .query_async(&mut con)
            .await;
        match read {
            Ok(reply) => return stream_entries(reply),
            Err(e) if e.code() == Some("NOGROUP") && !created => {
                // From id 0: events appended before the group existed are delivered too.
                let made: Result<(), RedisError> = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(key)
                    .arg(OUTBOX_GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .exec_async(&mut con)
                    .await;
                match made {
                    Ok(()) => {}
                    Err(e) if e.code() == Some("BUSYGROUP") => {}
                    Err(e) => return Err(redis_error(e)),
                }
                created = true;
            }
            Err(e) => return Err(redis_error(e)),
        }
    }
}
