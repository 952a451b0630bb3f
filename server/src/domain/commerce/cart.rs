//! Carts: a line as stored, a viewer's cart, the rule for setting a line, and the lines an
//! unpaid order gives back.

use std::collections::BTreeMap;

use super::{DealState, MAX_CART_ITEMS, MAX_CART_QUANTITY, Order, Pin, price_in_effect};
use crate::domain::{Code, DomainError, Product, ProductId, Timestamp};

/// One line of a cart as stored: the quantity, and whether it was added at the deal price
/// (so a checkout never silently charges more than the buyer saw).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CartLine {
    pub quantity: i64,
    /// The deal's end time when the line was added under a deal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_ends_at: Option<Timestamp>,
}

/// A viewer's cart in one show: product → line.
pub type CartLines = BTreeMap<ProductId, CartLine>;

/// The cart lines `order` was placed from, to give back to the buyer when its payment fails or
/// its reservation lapses. A deal line comes back as a deal line, with the end of the deal
/// pinned now (`pins`), as it was added: checking it out again gets the deal price while the
/// deal lasts and `deal_ended` after, never the regular price unasked, and a retry with the
/// same `Idempotency-Key` sees the same cart. (Without a deal pinned any more the line keeps
/// a marker, the reservation's end: only whether it is set matters to [`plan_checkout`].)
pub fn cart_lines_of(order: &Order, pins: &[Pin]) -> CartLines {
    order
        .items
        .iter()
        .map(|item| {
            let deal_end = || {
                pins.iter()
                    .find(|p| p.product_id == item.product_id)
                    .and_then(|p| p.deal.as_ref())
                    .map_or(order.reserved_until, |d| d.ends_at)
            };
            let line = CartLine {
                quantity: item.quantity,
                deal_ends_at: item.deal.then(deal_end),
            };
            (item.product_id, line)
        })
        .collect()
}

/// Gives `lines` back to a cart: a product the buyer put in the cart since is left as it is,
/// and the cart never grows past [`MAX_CART_ITEMS`] products.
pub fn give_back(cart: &mut CartLines, lines: &CartLines) {
    for (product, line) in lines {
        if cart.len() >= MAX_CART_ITEMS && !cart.contains_key(product) {
            break;
        }
        cart.entry(*product).or_insert(*line);
    }
}

/// What the store knows about one product at checkout.
#[derive(Debug, Clone)]
pub struct LineFacts<'a> {
    pub product: &'a Product,
    pub pin: Option<&'a Pin>,
    pub deal: DealState,
    /// Deal units this buyer already bought or holds in a reservation.
    pub bought_in_deal: i64,
}

/// Checks whether a cart line may be set to `quantity` now: stock, per-buyer limit, money.
pub fn check_cart_line(
    facts: &LineFacts<'_>,
    quantity: i64,
    now: Timestamp,
) -> Result<CartLine, DomainError> {
    if !(1..=MAX_CART_QUANTITY).contains(&quantity) {
        return Err(DomainError::invalid(
            Code::InvalidQuantity,
            format!("quantity is a whole number from 1 to {MAX_CART_QUANTITY}"),
        ));
    }
    if quantity > facts.product.stock {
        return Err(DomainError::conflict(
            Code::InsufficientStock,
            format!("only {} left", facts.product.stock.max(0)),
        ));
    }
    let (_, deal_applies) = price_in_effect(facts.product, facts.pin, facts.deal, now);
    let deal = facts
        .pin
        .and_then(|p| p.deal.as_ref())
        .filter(|_| deal_applies);
    if let Some(deal) = deal {
        if quantity > facts.deal.remaining {
            return Err(DomainError::conflict(
                Code::InsufficientStock,
                format!("only {} left at the deal price", facts.deal.remaining),
            ));
        }
        if facts.bought_in_deal + quantity > deal.per_buyer_limit {
            return Err(DomainError::conflict(
                Code::OverLimit,
                format!(
                    "the deal allows {} per buyer; you have {}",
                    deal.per_buyer_limit, facts.bought_in_deal
                ),
            ));
        }
    }
    Ok(CartLine {
        quantity,
        deal_ends_at: deal.map(|d| d.ends_at),
    })
}
