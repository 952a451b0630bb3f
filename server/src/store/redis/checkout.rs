//! The checkout script's call, by name: [`CheckoutKeys`] and [`CheckoutArgs`] are its keys and
//! arguments as structs with named fields; [`named_script`] turns the same names into the table
//! the script starts with (`k.cart`, `a.viewer`, …), so Rust and Lua agree by construction.
//! After the named keys come, for each declared product, its record and its deal buyers; after
//! the named arguments, the declared product ids. The commerce area's keys ([`Keys`]) and the
//! text of a checkout's arguments ([`ArgText`]) are formatted here too.

use std::sync::{Arc, LazyLock};

use redis::Script;

use super::named::{named_script, script_params};
use super::{Keys, MAX_SHOW_KEYS, RedisStore, rfc3339, score};
use crate::domain::{Code, CreatorId, DomainError, ProductId, Show, ViewerId};
use crate::store::{CheckoutRequest, StoreError};

script_params! {
    /// The checkout script's named keys.
    struct CheckoutKeys<'a> {
        cart: &'a str,
        idempotency: &'a str,
        orders: &'a str,
        order_ids: &'a str,
        viewer_orders: &'a str,
        reservations: &'a str,
        stock: &'a str,
        pins: &'a str,
        deal_remaining: &'a str,
        outbox: &'a str,
        outbox_ids: &'a str,
        show: &'a str,
        /// `1` once the show is in `reservation-shows` (see `commerce.rs`).
        reservations_indexed: &'a str,
    }
}

script_params! {
    /// The checkout script's named arguments.
    struct CheckoutArgs<'a> {
        viewer: &'a str,
        /// `<viewer>:<Idempotency-Key>`.
        idempotency_field: &'a str,
        /// The request body's fingerprint.
        body: &'a str,
        order_id: &'a str,
        show_id: &'a str,
        creator_id: &'a str,
        buyer_name: &'a str,
        now: &'a str,
        reserved_until: &'a str,
        reserved_until_ms: i64,
        event_id: &'a str,
        /// `1` when the caller has just added the show to `reservation-shows`.
        indexed: &'a str,
        /// The buyer's address key (`''`: none) and how many buyers' allowances of a deal it
        /// shares (`check_address_allowance`).
        address: &'a str,
        address_buyers: u32,
        /// The buyer's email (`''`: none) and shipping address as JSON (`''`: none).
        email: &'a str,
        shipping: &'a str,
        /// How many product ids follow the named arguments.
        declared: usize,
    }
}

/// The checkout script: answers `retry` followed by the cart's product ids when they were not
/// all declared, and `unindexed` when it would reserve stock in a show without the marker and
/// `indexed` is not `1` (both write nothing).
pub(super) static CHECKOUT_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_script(
        CheckoutKeys::NAMES,
        CheckoutArgs::NAMES,
        include_str!("lua/checkout.lua"),
    )
});

/// The commerce area's keys (the table in `commerce.rs`).
impl Keys {
    pub(super) fn show_key(&self, show: &Show, what: &str) -> String {
        self.show_part(show.creator_id, show.id, what)
    }
    pub(super) fn pins(&self, show: &Show) -> String {
        self.show_key(show, "pins")
    }
    pub(super) fn deal_remaining(&self, show: &Show) -> String {
        self.show_key(show, "deal-remaining")
    }
    pub(super) fn deal_buyers(&self, show: &Show, product: ProductId) -> String {
        self.show_part(
            show.creator_id,
            show.id,
            format_args!("deal-buyers:{product}"),
        )
    }
    pub(super) fn cart(&self, show: &Show, viewer: ViewerId) -> String {
        self.show_part(show.creator_id, show.id, format_args!("cart:{viewer}"))
    }
    pub(super) fn orders(&self, show: &Show) -> String {
        self.show_key(show, "orders")
    }
    pub(super) fn order_ids(&self, show: &Show) -> String {
        self.show_key(show, "order-ids")
    }
    pub(super) fn viewer_orders(&self, show: &Show, viewer: ViewerId) -> String {
        self.show_part(
            show.creator_id,
            show.id,
            format_args!("viewer-orders:{viewer}"),
        )
    }
    pub(super) fn idempotency(&self, show: &Show) -> String {
        self.show_key(show, "idempotency")
    }
    pub(super) fn reservations(&self, show: &Show) -> String {
        self.show_key(show, "reservations")
    }
    pub(super) fn reservations_indexed(&self, show: &Show) -> String {
        self.show_key(show, "reservations-indexed")
    }
    pub(super) fn outbox(&self, creator: CreatorId) -> String {
        format!("{}:outbox", self.tag(creator))
    }
    pub(super) fn outbox_ids(&self, creator: CreatorId) -> String {
        format!("{}:outbox-ids", self.tag(creator))
    }
    pub(super) fn webhook(&self, creator: CreatorId) -> String {
        format!("{}:webhook", self.tag(creator))
    }
    pub(super) fn reservation_shows(&self) -> String {
        self.global("reservation-shows")
    }
    pub(super) fn webhook_creators(&self) -> String {
        self.global("webhook-creators")
    }
}

/// The checkout's keys that depend only on the show, formatted once per show on this node (a
/// show's id and creator never change, so neither do they).
pub(super) struct ShowKeys {
    pub(super) idempotency: String,
    pub(super) orders: String,
    pub(super) order_ids: String,
    pub(super) reservations: String,
    pub(super) stock: String,
    pub(super) pins: String,
    pub(super) deal_remaining: String,
    pub(super) outbox: String,
    pub(super) outbox_ids: String,
    pub(super) show: String,
    pub(super) reservations_indexed: String,
}

impl ShowKeys {
    /// The named keys of a checkout of `cart` by the viewer whose orders list is
    /// `viewer_orders`.
    pub(super) fn with<'a>(&'a self, cart: &'a str, viewer_orders: &'a str) -> CheckoutKeys<'a> {
        CheckoutKeys {
            cart,
            idempotency: &self.idempotency,
            orders: &self.orders,
            order_ids: &self.order_ids,
            viewer_orders,
            reservations: &self.reservations,
            stock: &self.stock,
            pins: &self.pins,
            deal_remaining: &self.deal_remaining,
            outbox: &self.outbox,
            outbox_ids: &self.outbox_ids,
            show: &self.show,
            reservations_indexed: &self.reservations_indexed,
        }
    }
}

/// [`ShowKeys`] of `show`, from this node's cache.
pub(super) fn show_keys(store: &RedisStore, show: &Show) -> Arc<ShowKeys> {
    let id = (show.creator_id, show.id);
    if let Some(keys) = store.recent(|r| r.show_keys.get(&id).cloned()) {
        return keys;
    }
    let k: &Keys = &store.keys;
    let keys = Arc::new(ShowKeys {
        idempotency: k.idempotency(show),
        orders: k.orders(show),
        order_ids: k.order_ids(show),
        reservations: k.reservations(show),
        stock: k.stock(show.creator_id),
        pins: k.pins(show),
        deal_remaining: k.deal_remaining(show),
        outbox: k.outbox(show.creator_id),
        outbox_ids: k.outbox_ids(show.creator_id),
        show: k.show(show.creator_id, show.id),
        reservations_indexed: k.reservations_indexed(show),
    });
    store.recent(|r| {
        if r.show_keys.len() >= MAX_SHOW_KEYS {
            r.show_keys.clear();
        }
        r.show_keys.insert(id, keys.clone());
    });
    keys
}

/// The whole `EVALSHA` of one checkout attempt: named keys, the declared products' keys, named
/// arguments, the declared product ids.
pub(super) fn checkout_call(
    store: &RedisStore,
    show: &Show,
    keys: &CheckoutKeys<'_>,
    args: &CheckoutArgs<'_>,
    products: &[ProductId],
) -> redis::Cmd {
    let k = &store.keys;
    let mut call = super::evalsha(
        &CHECKOUT_SCRIPT,
        CheckoutKeys::NAMES.len() + 2 * products.len(),
    );
    keys.push(&mut call);
    for p in products {
        call.arg(k.product(show.creator_id, *p))
            .arg(k.deal_buyers(show, *p));
    }
    args.push(&mut call);
    for p in products {
        call.arg(p.to_string());
    }
    call
}

/// The text of a checkout's arguments, formatted once per checkout (the script may run twice).
pub(super) struct ArgText {
    viewer: String,
    idempotency_field: String,
    order_id: String,
    pub(super) show_id: String,
    creator_id: String,
    now: String,
    reserved_until: String,
    reserved_until_ms: i64,
    event_id: String,
    /// The shipping address as JSON, or `''` for none.
    shipping: String,
}

impl ArgText {
    pub(super) fn new(show: &Show, req: &CheckoutRequest) -> Result<ArgText, StoreError> {
        let reserved_until = req.now + req.reserve_for;
        Ok(ArgText {
            viewer: req.viewer.to_string(),
            idempotency_field: format!("{}:{}", req.viewer, req.key),
            order_id: req.order_id.to_string(),
            show_id: show.id.to_string(),
            creator_id: show.creator_id.to_string(),
            now: rfc3339(req.now),
            reserved_until: rfc3339(reserved_until),
            reserved_until_ms: score(reserved_until),
            event_id: uuid::Uuid::now_v7().to_string(),
            shipping: req
                .shipping
                .as_deref()
                .map_or(Ok(String::new()), super::encode)?,
        })
    }

    /// The named arguments of a first try (nothing declared, the show not yet indexed).
    pub(super) fn args<'a>(&'a self, req: &'a CheckoutRequest) -> CheckoutArgs<'a> {
        CheckoutArgs {
            viewer: &self.viewer,
            idempotency_field: &self.idempotency_field,
            body: &req.body_fingerprint,
            order_id: &self.order_id,
            show_id: &self.show_id,
            creator_id: &self.creator_id,
            buyer_name: &req.buyer_name,
            now: &self.now,
            reserved_until: &self.reserved_until,
            reserved_until_ms: self.reserved_until_ms,
            event_id: &self.event_id,
            indexed: "0",
            address: req.address.as_ref().map_or("", |a| a.key.as_str()),
            address_buyers: req.address.as_ref().map_or(0, |a| a.buyers),
            email: req.email.as_deref().unwrap_or(""),
            shipping: &self.shipping,
            declared: 0,
        }
    }
}

/// The domain error a checkout script's refusal stands for (the script answers with the
/// code's wire text).
pub(super) fn refusal(text: &str, message: String) -> Result<DomainError, StoreError> {
    Ok(match Code::parse(text) {
        Some(code @ (Code::EmptyCart | Code::CurrencyMismatch | Code::InvalidQuantity)) => {
            DomainError::invalid(code, message)
        }
        Some(code @ Code::ProductNotFound) => DomainError::not_found(code, message),
        Some(code @ (Code::DealEnded | Code::SoldOut | Code::OverLimit | Code::ShowCancelled)) => {
            DomainError::conflict(code, message)
        }
        _ => {
            return Err(StoreError::Corrupt(format!(
                "the checkout script refused with unknown code {text:?}"
            )));
        }
    })
}
