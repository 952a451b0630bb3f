//! The checkout check (every line still sellable at the price the buyer saw) and the deal
//! allowance a client address shares. Pure: the store reads the facts and applies the plan in
//! one atomic step.

use super::{CartLine, LineFacts, OrderLine, Pin, price_in_effect};
use crate::domain::{Code, Currency, DomainError, Money, ProductId, Timestamp};

/// Longest idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// A client's idempotency key (a checkout's or a bid's `Idempotency-Key` header, a WebSocket
/// bid's `key`): 1-200 bytes of visible text, trimmed.
pub fn idempotency_key(raw: &str) -> Result<String, DomainError> {
    let key = raw.trim();
    if key.is_empty() || raw.len() > MAX_IDEMPOTENCY_KEY || key.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            Code::InvalidIdempotencyKey,
            format!("an idempotency key must be 1-{MAX_IDEMPOTENCY_KEY} visible characters"),
        ));
    }
    Ok(key.to_string())
}

/// The key a client address counts deal purchases under: an IPv4 address (an IPv4-mapped IPv6
/// one included) as it is, an IPv6 address by its /64, the block one subscriber gets and can
/// change within for free.
pub fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("a:{v4}"),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("a:{v4}"),
            None => {
                let s = v6.segments();
                let block = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("a:{block}/64")
            }
        },
    }
}

/// A flash deal's per-buyer limit held against the buyer's client address too: every guest
/// who joins from one address shares `buyers` buyers' allowances of each deal, so joining
/// again under a new name buys no more. `bought` is what the address already bought or holds
/// of a product's current deal; `pins` the show's pins. `buyers` 0 turns the check off.
pub fn check_address_allowance(
    items: &[OrderLine],
    pins: &[Pin],
    bought: impl Fn(ProductId) -> i64,
    buyers: i64,
) -> Result<(), DomainError> {
    if buyers <= 0 {
        return Ok(());
    }
    for item in items.iter().filter(|i| i.deal) {
        let Some(deal) = pins
            .iter()
            .find(|p| p.product_id == item.product_id)
            .and_then(|p| p.deal.as_ref())
        else {
            continue;
        };
        let allowance = deal.per_buyer_limit.saturating_mul(buyers);
        if bought(item.product_id).saturating_add(item.quantity) > allowance {
            return Err(DomainError::conflict(
                Code::OverLimit,
                format!(
                    "the deal allows {} per buyer, and buyers from one address share {allowance}",
                    deal.per_buyer_limit
                ),
            ));
        }
    }
    Ok(())
}

/// The checkout check, run atomically by the store with the facts read in the same step:
/// every line must still be sellable at the price the buyer saw. Returns the order lines.
pub fn plan_checkout(
    lines: &[(CartLine, LineFacts<'_>)],
    now: Timestamp,
) -> Result<(Vec<OrderLine>, Money), DomainError> {
    let Some((_, first)) = lines.first() else {
        return Err(DomainError::invalid(Code::EmptyCart, "the cart is empty"));
    };
    let currency = first.product.price.currency;
    let mut total: i64 = 0;
    let mut out = Vec::with_capacity(lines.len());
    for (line, facts) in lines {
        let item = plan_line(line, facts, currency, now)?;
        total = total
            .checked_add(item.unit_price.amount.saturating_mul(line.quantity))
            .ok_or_else(|| DomainError::invalid(Code::InvalidQuantity, "the total is too large"))?;
        out.push(item);
    }
    Ok((
        out,
        Money {
            amount: total,
            currency,
        },
    ))
}

/// One cart line against its facts: the order line at the price in effect, or why not.
fn plan_line(
    line: &CartLine,
    facts: &LineFacts<'_>,
    currency: Currency,
    now: Timestamp,
) -> Result<OrderLine, DomainError> {
    let (unit, deal_applies) = price_in_effect(facts.product, facts.pin, facts.deal, now);
    if unit.currency != currency {
        return Err(DomainError::invalid(
            Code::CurrencyMismatch,
            "a cart holds products of one currency",
        ));
    }
    let title = &facts.product.title;
    // Added at the deal price, and the deal is no longer open. (Added at the regular price
    // while a deal started since: the buyer gets the deal.)
    if line.deal_ends_at.is_some() && !deal_applies {
        let ended = facts
            .pin
            .and_then(|p| p.deal.as_ref())
            .is_none_or(|d| now >= d.ends_at);
        return Err(if ended {
            DomainError::conflict(Code::DealEnded, format!("the deal on {title} has ended"))
        } else {
            DomainError::conflict(Code::SoldOut, format!("the deal on {title} is sold out"))
        });
    }
    if line.quantity > facts.product.stock {
        return Err(DomainError::conflict(
            Code::SoldOut,
            format!("{title} is sold out"),
        ));
    }
    if deal_applies {
        if line.quantity > facts.deal.remaining {
            return Err(DomainError::conflict(
                Code::SoldOut,
                format!("the deal on {title} is sold out"),
            ));
        }
        if let Some(deal) = facts.pin.and_then(|p| p.deal.as_ref())
            && facts.bought_in_deal + line.quantity > deal.per_buyer_limit
        {
            return Err(DomainError::conflict(
                Code::OverLimit,
                format!("the deal allows {} per buyer", deal.per_buyer_limit),
            ));
        }
    }
    Ok(OrderLine {
        product_id: facts.product.id,
        title: title.clone(),
        quantity: line.quantity,
        unit_price: unit,
        deal: deal_applies,
    })
}
