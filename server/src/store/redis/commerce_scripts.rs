//! The commerce area's smaller scripts, with their named keys and arguments: pinning and
//! unpinning a product, giving lines back to a cart, acknowledging an outbox event.

use std::sync::LazyLock;

use redis::Script;

use super::named::{named_plain_script, named_script, script_params};

script_params! {
    /// The pin script's named keys.
    struct PinKeys<'a> {
        lineup: &'a str,
        pins: &'a str,
        deal_remaining: &'a str,
        /// The pinned product's deal buyers.
        deal_buyers: &'a str,
    }
}

script_params! {
    /// The pin script's named arguments.
    struct PinArgs<'a> {
        product: &'a str,
        /// The pin's JSON.
        pin: &'a str,
        /// The deal's quantity; `''` without a deal.
        deal_quantity: &'a str,
        max_pins: usize,
    }
}

script_params! {
    /// The unpin script's named keys.
    struct UnpinKeys<'a> {
        pins: &'a str,
        deal_remaining: &'a str,
    }
}

script_params! {
    /// The unpin script's named argument.
    struct UnpinArgs<'a> {
        product: &'a str,
    }
}

script_params! {
    /// The give-back script's named key.
    struct GiveBackKeys<'a> {
        cart: &'a str,
    }
}

script_params! {
    /// The give-back script's named arguments; product and line pairs follow.
    struct GiveBackArgs {
        /// The cart's product limit.
        max_products: usize,
        /// The cart's TTL.
        ttl_seconds: i64,
    }
}

script_params! {
    /// The ack script's named keys.
    struct AckKeys<'a> {
        outbox: &'a str,
        outbox_ids: &'a str,
    }
}

script_params! {
    /// The ack script's named arguments.
    struct AckArgs<'a> {
        event_id: &'a str,
        /// The consumer group.
        group: &'a str,
    }
}

/// `add_pin` against the stored lineup and pins; a deal starts afresh.
pub(super) static PIN_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| named_script(PinKeys::NAMES, PinArgs::NAMES, include_str!("lua/pin.lua")));

/// Removes a pin and its deal's remaining units; `none` when it is not pinned.
pub(super) static UNPIN_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_script(
        UnpinKeys::NAMES,
        UnpinArgs::NAMES,
        include_str!("lua/unpin.lua"),
    )
});

/// Adds each line whose product is not in the cart yet, while the cart has fewer than
/// `max_products` products (what [`crate::domain::commerce::give_back`] does, in one atomic
/// step), and refreshes the cart's TTL.
pub(super) static GIVE_BACK_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_plain_script(
        GiveBackKeys::NAMES,
        GiveBackArgs::NAMES,
        include_str!("lua/give_back.lua"),
    )
});

/// Acknowledges (XACK) and deletes (XDEL) an outbox event's stream entry, found by event id.
pub(super) static ACK_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    named_plain_script(AckKeys::NAMES, AckArgs::NAMES, include_str!("lua/ack.lua"))
});
