//! RedisStore's payments area. [`super::MemoryStore`] is the reference; tests/payments_store.rs
//! runs one contract against both.
//!
//! | key (after `{prefix}:`)                    | type   | content                                   |
//! |--------------------------------------------|--------|-------------------------------------------|
//! | `idx:intent`                               | hash   | PaymentIntent id → `<creator>:<show>:<order>` |
//! | `stripe-event:<evt>`                       | string | when the event was recorded (ms); expires a minute after [`EVENT_MEMORY`] |
//! | `{c:<creator>}:stripe-customers`           | hash   | viewer → Stripe Customer id               |
//!
//! Attaching a payment is one script over the show's orders hash (a settled order is left as
//! it is); the intent's index entry is written after it, like the other global indexes (a
//! record before its index entry, so an index hit always points at an order that carries the
//! intent). A refund is one script over the settlement keys of `reservations.rs`, with the
//! deal-buyer hashes of the order's deal lines declared from a read just before (`retry` when
//! the stored order needs others, which cannot happen as an order's lines never change). An
//! event's key holds when it was recorded, so a test clock decides as it does in memory; its
//! expiry only cleans up.

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::checkout::show_keys;
use super::named::{named_plain_script, named_script, script_params};
use super::reservations::{SettleKeys, settle_call, stored_deal_products};
use super::{
    ATTEMPTS, Keys, RedisStore, encode, eval, evalsha, order_at, parse_id, redis_error, rfc3339,
    score, script_error, unexpected,
};
use crate::domain::commerce::{Order, PaymentIntentId, StripeCustomerId, StripeEventId};
use crate::domain::{CreatorId, DomainError, OrderId, Show, ShowId, Timestamp, ViewerId};
use crate::store::StoreError;
use crate::store::payments::{
    Attached, EVENT_MEMORY, IntentOrder, PaymentAttachment, PaymentStore, not_refundable,
    order_not_found,
};

impl Keys {
    fn intents(&self) -> String {
        self.global("idx:intent")
    }
    fn event(&self, event: &StripeEventId) -> String {
        self.global(&format!("stripe-event:{event}"))
    }
    fn customers(&self, creator: CreatorId) -> String {
        format!("{}:stripe-customers", self.tag(creator))
    }
}

script_params! {
    /// The attach script's named key.
    struct AttachKeys<'a> {
        orders: &'a str,
    }
}

script_params! {
    /// The attach script's named arguments.
    struct AttachArgs<'a> {
        order_id: &'a str,
        /// `''`: none.
        email: &'a str,
        /// The `Shipping` JSON; `''`: none.
        shipping: &'a str,
        /// The `PaymentRef` JSON.
        payment: &'a str,
    }
}

script_params! {
    /// The refund script's named arguments; the declared product ids follow.
    struct RefundArgs<'a> {
        order_id: &'a str,
        at: &'a str,
        event_id: &'a str,
        declared: usize,
    }
}

script_params! {
    /// The event script's named key.
    struct EventKeys<'a> {
        event: &'a str,
    }
}

script_params! {
    /// The event script's named arguments.
    struct EventArgs {
        now_ms: i64,
        memory_ms: i64,
        /// The key's expiry: the memory and a minute.
        cleanup_ms: i64,
    }
}

/// Answers `none`, `not_pending` and the order's JSON, or `attached` and the new JSON.
static ATTACH_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_script(
        AttachKeys::NAMES,
        AttachArgs::NAMES,
        include_str!("lua/attach.lua"),
    )
});

/// Answers `none`, `retry`, `refused` and the order's JSON, or `order` and the refunded JSON.
static REFUND_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_script(
        SettleKeys::NAMES,
        RefundArgs::NAMES,
        include_str!("lua/refund.lua"),
    )
});

/// Answers 1 when the event is new, 0 when it was recorded within the memory.
static EVENT_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_plain_script(
        EventKeys::NAMES,
        EventArgs::NAMES,
        include_str!("lua/event.lua"),
    )
});

/// `<creator>:<show>:<order>`, an intent's index entry.
fn parse_intent_entry(raw: &str) -> Result<IntentOrder, StoreError> {
    let mut parts = raw.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(c), Some(s), Some(o), None) => Ok(IntentOrder {
            creator: parse_id::<CreatorId>(c, "idx:intent")?,
            show: parse_id::<ShowId>(s, "idx:intent")?,
            order: parse_id::<OrderId>(o, "idx:intent")?,
        }),
        _ => Err(StoreError::Corrupt(format!(
            "idx:intent holds {raw:?}, not creator:show:order"
        ))),
    }
}

impl RedisStore {
    async fn run_attach(
        &self,
        show: &Show,
        order: OrderId,
        attachment: &PaymentAttachment,
    ) -> Result<Attached, StoreError> {
        let mut con = self.conn.clone();
        let orders = self.keys.orders(show);
        let shipping = match &attachment.shipping {
            Some(s) => encode(s)?,
            None => String::new(),
        };
        let mut call = evalsha(&ATTACH_SCRIPT, AttachKeys::NAMES.len());
        AttachKeys { orders: &orders }.push(&mut call);
        AttachArgs {
            order_id: &order.to_string(),
            email: attachment.email.as_deref().unwrap_or(""),
            shipping: &shipping,
            payment: &encode(&attachment.payment)?,
        }
        .push(&mut call);
        let reply: Vec<String> = eval(&mut con, &ATTACH_SCRIPT, &call)
            .await
            .map_err(script_error)?;
        let attached = match reply.first().map(String::as_str) {
            Some("none") => return Ok(Attached::NotFound),
            Some("not_pending") => return Ok(Attached::NotPending(order_at(&reply, 1, "attach")?)),
            Some("attached") => order_at(&reply, 1, "attach")?,
            _ => return Err(unexpected("attach", &reply)),
        };
        let entry = format!("{}:{}:{}", show.creator_id, show.id, order);
        let () = redis::cmd("HSET")
            .arg(self.keys.intents())
            .arg(attachment.payment.intent_id.as_str())
            .arg(entry)
            .query_async(&mut con)
            .await
            .map_err(redis_error)?;
        Ok(Attached::Attached(attached))
    }

    async fn run_refund(
        &self,
        show: &Show,
        order: OrderId,
        at: Timestamp,
    ) -> Result<Result<Order, DomainError>, StoreError> {
        let mut con = self.conn.clone();
        let (order_id, at) = (order.to_string(), rfc3339(at));
        let event_id = uuid::Uuid::now_v7().to_string();
        let sk = show_keys(self, show);
        let keys = sk.settle();
        for _ in 0..ATTEMPTS {
            let Some(products) = stored_deal_products(&mut con, keys.orders, &order_id).await?
            else {
                return Ok(Err(order_not_found(order)));
            };
            let args = RefundArgs {
                order_id: &order_id,
                at: &at,
                event_id: &event_id,
                declared: products.len(),
            };
            let call = settle_call(self, show, &REFUND_SCRIPT, &keys, &products, |call| {
                args.push(call);
            });
            let reply: Vec<String> = eval(&mut con, &REFUND_SCRIPT, &call)
                .await
                .map_err(script_error)?;
            return match reply.first().map(String::as_str) {
                Some("order") => Ok(Ok(order_at(&reply, 1, "refund")?)),
                Some("refused") => Ok(Err(not_refundable(&order_at(&reply, 1, "refund")?))),
                Some("none") => Ok(Err(order_not_found(order))),
                Some("retry") => continue,
                _ => Err(unexpected("refund", &reply)),
            };
        }
        Err(StoreError::Unavailable(
            "the order kept changing while refunding it; try again".into(),
        ))
    }
}

#[async_trait]
impl PaymentStore for RedisStore {
    async fn attach_payment(
        &self,
        show: &Show,
        order: OrderId,
        attachment: &PaymentAttachment,
    ) -> Result<Attached, StoreError> {
        self.guard("attach_payment", self.run_attach(show, order, attachment))
            .await
    }

    async fn intent_order(
        &self,
        intent: &PaymentIntentId,
    ) -> Result<Option<IntentOrder>, StoreError> {
        self.guard("intent_order", async {
            let raw: Option<String> = redis::cmd("HGET")
                .arg(self.keys.intents())
                .arg(intent.as_str())
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.as_deref().map(parse_intent_entry).transpose()
        })
        .await
    }

    async fn record_event(
        &self,
        event: &StripeEventId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.guard("record_event", async {
            let key = self.keys.event(event);
            let memory_ms = EVENT_MEMORY.num_milliseconds();
            let mut call = evalsha(&EVENT_SCRIPT, EventKeys::NAMES.len());
            EventKeys { event: &key }.push(&mut call);
            EventArgs {
                now_ms: score(now),
                memory_ms,
                cleanup_ms: memory_ms + 60_000,
            }
            .push(&mut call);
            let fresh: i64 = eval(&mut self.conn.clone(), &EVENT_SCRIPT, &call)
                .await
                .map_err(script_error)?;
            Ok(fresh == 1)
        })
        .await
    }

    async fn forget_event(&self, event: &StripeEventId) -> Result<(), StoreError> {
        self.guard("forget_event", async {
            let _: i64 = redis::cmd("DEL")
                .arg(self.keys.event(event))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            Ok(())
        })
        .await
    }

    async fn refund_order(
        &self,
        show: &Show,
        order: OrderId,
        at: Timestamp,
    ) -> Result<Result<Order, DomainError>, StoreError> {
        self.guard("refund_order", self.run_refund(show, order, at))
            .await
    }

    async fn set_customer(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
        customer: Option<&StripeCustomerId>,
    ) -> Result<(), StoreError> {
        self.guard("set_customer", async {
            let key = self.keys.customers(creator);
            let cmd = match customer {
                Some(c) => {
                    let mut cmd = redis::cmd("HSET");
                    cmd.arg(&key).arg(viewer.to_string()).arg(c.as_str());
                    cmd
                }
                None => {
                    let mut cmd = redis::cmd("HDEL");
                    cmd.arg(&key).arg(viewer.to_string());
                    cmd
                }
            };
            let _: i64 = cmd
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            Ok(())
        })
        .await
    }

    async fn customer(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
    ) -> Result<Option<StripeCustomerId>, StoreError> {
        self.guard("customer", async {
            let raw: Option<String> = redis::cmd("HGET")
                .arg(self.keys.customers(creator))
                .arg(viewer.to_string())
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|raw| {
                StripeCustomerId::parse(&raw).map_err(|_| {
                    StoreError::Corrupt(format!(
                        "stripe-customers holds {raw:?}, not a customer id"
                    ))
                })
            })
            .transpose()
        })
        .await
    }
}
