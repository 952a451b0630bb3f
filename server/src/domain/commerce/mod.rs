//! Commerce rules: pins and flash deals, the price in effect, carts, the checkout check, and
//! orders with their buyer's details. Pure; the store applies [`plan_checkout`] atomically
//! (under one lock in memory, in one Lua script in Redis) and tests/checkout_differential.rs
//! holds both to the same outcomes on thousands of random cases. One file per concept: `pins`
//! (pins, deals, the price in effect), `cart` (cart lines and the rule for setting one),
//! `checkout` (the checkout check and the per-address allowance), `orders` (orders and their
//! lines), `buyer` (email, shipping address, payment reference), `ledger` (the creator's orders
//! across shows: filter, pages, CSV export), `deliveries` (the log of webhook deliveries).

mod buyer;
mod cart;
mod checkout;
mod deliveries;
mod ledger;
mod orders;
mod pins;
#[cfg(test)]
mod tests;

pub use buyer::{
    PaymentIntentId, PaymentProcessor, PaymentRef, Shipping, StripeCustomerId, StripeEventId,
    country, email,
};
pub use cart::{CartLine, CartLines, LineFacts, cart_lines_of, check_cart_line, give_back};
pub use checkout::{
    MAX_IDEMPOTENCY_KEY, address_key, check_address_allowance, idempotency_key, plan_checkout,
};
pub use deliveries::{
    DELIVERIES_KEPT, Delivery, DeliveryOutcome, TEST_EVENT, record_delivery, test_order,
};
pub use ledger::{
    CSV_COLUMNS, CreatorOrder, OrderFilter, newest_first, order_key, orders_csv, page_before,
};
pub use orders::{Order, OrderLine, OrderStatus, SalesChannel};
pub use pins::{Deal, DealState, DealTerms, DealView, Pin, PinView, add_pin, price_in_effect};

/// Most products pinned to a show at once.
pub const MAX_PINS: usize = 3;
/// Most units of one product in one cart.
pub const MAX_CART_QUANTITY: i64 = 100;
/// Most distinct products in one cart.
pub const MAX_CART_ITEMS: usize = 20;
pub const MIN_DEAL_SECONDS: u64 = 10;
pub const MAX_DEAL_SECONDS: u64 = 24 * 3600;
pub const MAX_DEAL_QUANTITY: i64 = 1_000_000;
