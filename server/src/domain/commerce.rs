//! Commerce rules: pins and flash deals, the price in effect, carts, the checkout check, and
//! orders. Pure; the store applies [`plan_checkout`] atomically (under one lock in memory, in
//! one Lua script in Redis, which mirrors it line by line) and the contract tests hold both to
//! the same outcomes.

use std::collections::BTreeMap;

use super::{DomainError, Money, Product, ProductId, ShowId, Timestamp, ViewerId};

/// Most products pinned to a show at once.
pub const MAX_PINS: usize = 3;
/// Most units of one product in one cart.
pub const MAX_CART_QUANTITY: i64 = 100;
/// Most distinct products in one cart.
pub const MAX_CART_ITEMS: usize = 20;
pub const MIN_DEAL_SECONDS: u64 = 10;
pub const MAX_DEAL_SECONDS: u64 = 24 * 3600;
pub const MAX_DEAL_QUANTITY: i64 = 1_000_000;

/// A flash deal on a pinned product: a price for a limited quantity until an end time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Deal {
    pub price: Money,
    /// Units offered at the deal price.
    pub quantity: i64,
    /// Most deal units one buyer may buy.
    pub per_buyer_limit: i64,
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
}

/// What a creator or moderator asks for when pinning with a deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealTerms {
    pub price: i64,
    pub quantity: i64,
    pub per_buyer_limit: i64,
    pub duration_s: u64,
}

impl DealTerms {
    /// Validates the terms against the product and turns them into a deal starting `now`.
    pub fn into_deal(self, product: &Product, now: Timestamp) -> Result<Deal, DomainError> {
        let price = Money::price(self.price, product.price.currency.as_str())?;
        if price.amount >= product.price.amount {
            return Err(DomainError::invalid(
                "invalid_deal",
                format!(
                    "a deal price must be below the regular price ({} minor units)",
                    product.price.amount
                ),
            ));
        }
        if !(1..=MAX_DEAL_QUANTITY).contains(&self.quantity) {
            return Err(DomainError::invalid(
                "invalid_deal",
                format!("a deal's quantity is from 1 to {MAX_DEAL_QUANTITY}"),
            ));
        }
        if self.per_buyer_limit < 1 || self.per_buyer_limit > self.quantity {
            return Err(DomainError::invalid(
                "invalid_deal",
                "per_buyer_limit is from 1 to the deal's quantity",
            ));
        }
        if !(MIN_DEAL_SECONDS..=MAX_DEAL_SECONDS).contains(&self.duration_s) {
            return Err(DomainError::invalid(
                "invalid_deal",
                format!("a deal lasts {MIN_DEAL_SECONDS} s to {MAX_DEAL_SECONDS} s"),
            ));
        }
        Ok(Deal {
            price,
            quantity: self.quantity,
            per_buyer_limit: self.per_buyer_limit,
            starts_at: now,
            ends_at: now + chrono::Duration::seconds(self.duration_s as i64),
        })
    }
}

/// A product pinned to a show, perhaps with a deal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pin {
    pub product_id: ProductId,
    pub pinned_at: Timestamp,
    pub deal: Option<Deal>,
}

/// The live numbers of a deal, kept by the store beside the pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DealState {
    /// Deal units neither sold nor reserved.
    pub remaining: i64,
}

impl Deal {
    /// Whether the deal price applies now.
    pub fn is_open(&self, state: DealState, now: Timestamp) -> bool {
        now >= self.starts_at && now < self.ends_at && state.remaining > 0
    }
}

/// The price a buyer pays for one unit now, and whether it is the deal's.
pub fn price_in_effect(
    product: &Product,
    pin: Option<&Pin>,
    state: DealState,
    now: Timestamp,
) -> (Money, bool) {
    match pin.and_then(|p| p.deal.as_ref()) {
        Some(deal) if deal.is_open(state, now) => (deal.price, true),
        _ => (product.price, false),
    }
}

/// A deal as the room sees it: what a countdown and an "N left" badge need.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DealView {
    pub price: Money,
    pub quantity: i64,
    /// Deal units left.
    pub remaining: i64,
    pub per_buyer_limit: i64,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Timestamp,
    /// Whether the deal price applies right now (not ended, not sold out).
    pub open: bool,
}

/// A pinned product as broadcast in `pin.updated` and `welcome`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PinView {
    pub product_id: ProductId,
    pub title: String,
    pub image_url: Option<String>,
    /// The price in effect now (the deal's while it is open).
    pub price: Money,
    pub regular_price: Money,
    pub deal: Option<DealView>,
    /// Units of the product left in stock.
    pub stock_left: i64,
}

impl PinView {
    pub fn new(product: &Product, pin: &Pin, state: DealState, now: Timestamp) -> PinView {
        let (price, _) = price_in_effect(product, Some(pin), state, now);
        PinView {
            product_id: product.id,
            title: product.title.clone(),
            image_url: product.image_url.clone(),
            price,
            regular_price: product.price,
            deal: pin.deal.as_ref().map(|d| DealView {
                price: d.price,
                quantity: d.quantity,
                remaining: state.remaining.max(0),
                per_buyer_limit: d.per_buyer_limit,
                ends_at: d.ends_at,
                open: d.is_open(state, now),
            }),
            stock_left: product.stock.max(0),
        }
    }
}

/// Adds a pin to a show's pins, replacing an earlier pin of the same product.
pub fn add_pin(pins: &[Pin], pin: Pin, lineup: &[ProductId]) -> Result<Vec<Pin>, DomainError> {
    if !lineup.contains(&pin.product_id) {
        return Err(DomainError::invalid(
            "not_in_lineup",
            "only products of the show's lineup can be pinned",
        ));
    }
    let mut next: Vec<Pin> = pins
        .iter()
        .filter(|p| p.product_id != pin.product_id)
        .cloned()
        .collect();
    if next.len() >= MAX_PINS {
        return Err(DomainError::conflict(
            "too_many_pins",
            format!("a show has at most {MAX_PINS} pinned products; unpin one first"),
        ));
    }
    next.push(pin);
    Ok(next)
}

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
                "over_limit",
                format!(
                    "the deal allows {} per buyer, and buyers from one address share {allowance}",
                    deal.per_buyer_limit
                ),
            ));
        }
    }
    Ok(())
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

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub title: String,
    pub quantity: i64,
    pub unit_price: Money,
    /// Bought at the deal price (counts against the deal's quantity and per-buyer limit).
    pub deal: bool,
}

/// Checks whether a cart line may be set to `quantity` now: stock, per-buyer limit, money.
pub fn check_cart_line(
    facts: &LineFacts<'_>,
    quantity: i64,
    now: Timestamp,
) -> Result<CartLine, DomainError> {
    if !(1..=MAX_CART_QUANTITY).contains(&quantity) {
        return Err(DomainError::invalid(
            "invalid_quantity",
            format!("quantity is a whole number from 1 to {MAX_CART_QUANTITY}"),
        ));
    }
    if quantity > facts.product.stock {
        return Err(DomainError::conflict(
            "insufficient_stock",
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
                "insufficient_stock",
                format!("only {} left at the deal price", facts.deal.remaining),
            ));
        }
        if facts.bought_in_deal + quantity > deal.per_buyer_limit {
            return Err(DomainError::conflict(
                "over_limit",
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

/// The checkout check, run atomically by the store with the facts read in the same step:
/// every line must still be sellable at the price the buyer saw. Returns the order lines.
pub fn plan_checkout(
    lines: &[(CartLine, LineFacts<'_>)],
    now: Timestamp,
) -> Result<(Vec<OrderLine>, Money), DomainError> {
    let Some((_, first)) = lines.first() else {
        return Err(DomainError::invalid("empty_cart", "the cart is empty"));
    };
    let currency = first.product.price.currency;
    let mut total: i64 = 0;
    let mut out = Vec::with_capacity(lines.len());
    for (line, facts) in lines {
        let (unit, deal_applies) = price_in_effect(facts.product, facts.pin, facts.deal, now);
        if unit.currency != currency {
            return Err(DomainError::invalid(
                "currency_mismatch",
                "a cart holds products of one currency",
            ));
        }
        match (line.deal_ends_at, deal_applies) {
            (Some(_), false) => {
                let ended = facts
                    .pin
                    .and_then(|p| p.deal.as_ref())
                    .is_none_or(|d| now >= d.ends_at);
                return Err(if ended {
                    DomainError::conflict(
                        "deal_ended",
                        format!("the deal on {} has ended", facts.product.title),
                    )
                } else {
                    DomainError::conflict(
                        "sold_out",
                        format!("the deal on {} is sold out", facts.product.title),
                    )
                });
            }
            (None, true) => {
                // Added at the regular price, and a deal started since: the buyer gets it.
            }
            _ => {}
        }
        if line.quantity > facts.product.stock {
            return Err(DomainError::conflict(
                "sold_out",
                format!("{} is sold out", facts.product.title),
            ));
        }
        if deal_applies {
            let deal = facts.pin.and_then(|p| p.deal.as_ref());
            if line.quantity > facts.deal.remaining {
                return Err(DomainError::conflict(
                    "sold_out",
                    format!("the deal on {} is sold out", facts.product.title),
                ));
            }
            if let Some(deal) = deal
                && facts.bought_in_deal + line.quantity > deal.per_buyer_limit
            {
                return Err(DomainError::conflict(
                    "over_limit",
                    format!("the deal allows {} per buyer", deal.per_buyer_limit),
                ));
            }
        }
        total = total
            .checked_add(unit.amount.saturating_mul(line.quantity))
            .ok_or_else(|| DomainError::invalid("invalid_quantity", "the total is too large"))?;
        out.push(OrderLine {
            product_id: facts.product.id,
            title: facts.product.title.clone(),
            quantity: line.quantity,
            unit_price: unit,
            deal: deal_applies,
        });
    }
    Ok((
        out,
        Money {
            amount: total,
            currency,
        },
    ))
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Stock is reserved; the payment is being taken.
    PendingPayment,
    Paid,
    /// The payment was declined or failed; the stock went back.
    Failed,
    /// The reservation ran out before the payment finished; the stock went back.
    Expired,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Failed => "failed",
            OrderStatus::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Order {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    pub show_id: ShowId,
    pub viewer_id: ViewerId,
    /// The name shown in the room's purchase event ("Someone" when the buyer opted out).
    pub buyer_name: String,
    pub status: OrderStatus,
    pub items: Vec<OrderLine>,
    pub total: Money,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Until when the reserved stock is held for the payment.
    #[schema(value_type = String, format = DateTime)]
    pub reserved_until: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paid_at: Option<Timestamp>,
    /// Why a failed order failed (e.g. the card was declined).
    pub failure: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CreatorId;
    use chrono::Duration;
    use uuid::Uuid;

    fn t(s: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn product(stock: i64) -> Product {
        Product {
            id: ProductId(Uuid::from_u128(1)),
            creator_id: CreatorId(Uuid::from_u128(2)),
            sku: "S".into(),
            title: "Mug".into(),
            description: None,
            image_url: None,
            price: Money::price(2000, "USD").unwrap(),
            stock,
            created_at: t(0),
            updated_at: t(0),
        }
    }

    fn deal_pin(p: &Product) -> Pin {
        let deal = DealTerms {
            price: 1500,
            quantity: 10,
            per_buyer_limit: 2,
            duration_s: 60,
        }
        .into_deal(p, t(0))
        .unwrap();
        Pin {
            product_id: p.id,
            pinned_at: t(0),
            deal: Some(deal),
        }
    }

    #[test]
    fn a_failed_order_gives_back_the_lines_it_was_placed_from() {
        let mug = product(50);
        let cup = Product {
            id: ProductId(Uuid::from_u128(9)),
            ..product(50)
        };
        let pin = deal_pin(&mug);
        let line = |product: &Product, quantity, deal| OrderLine {
            product_id: product.id,
            title: product.title.clone(),
            quantity,
            unit_price: product.price,
            deal,
        };
        let order = Order {
            id: Uuid::from_u128(5),
            show_id: crate::domain::ShowId(Uuid::from_u128(6)),
            viewer_id: crate::domain::ViewerId(Uuid::from_u128(7)),
            buyer_name: "Kim".into(),
            status: OrderStatus::Failed,
            items: vec![line(&mug, 2, true), line(&cup, 1, false)],
            total: mug.price,
            created_at: t(1),
            reserved_until: t(121),
            paid_at: None,
            failure: None,
        };
        let deal_end = pin.deal.as_ref().map(|d| d.ends_at);
        let lines = cart_lines_of(&order, std::slice::from_ref(&pin));
        assert_eq!(
            lines,
            CartLines::from([
                (
                    mug.id,
                    CartLine {
                        quantity: 2,
                        deal_ends_at: deal_end
                    }
                ),
                (
                    cup.id,
                    CartLine {
                        quantity: 1,
                        deal_ends_at: None
                    }
                ),
            ])
        );
        // Unpinned since: still a deal line, so it is never sold at the regular price unasked.
        assert!(cart_lines_of(&order, &[])[&mug.id].deal_ends_at.is_some());
        // What the buyer added since stays.
        let mut cart = CartLines::from([(
            cup.id,
            CartLine {
                quantity: 4,
                deal_ends_at: None,
            },
        )]);
        give_back(&mut cart, &lines);
        assert_eq!(cart[&cup.id].quantity, 4);
        assert_eq!(cart[&mug.id].quantity, 2);
        // A full cart takes nothing more.
        let mut full: CartLines = (0..MAX_CART_ITEMS as u128)
            .map(|n| {
                (
                    ProductId(Uuid::from_u128(100 + n)),
                    CartLine {
                        quantity: 1,
                        deal_ends_at: None,
                    },
                )
            })
            .collect();
        give_back(&mut full, &lines);
        assert_eq!(full.len(), MAX_CART_ITEMS);
        assert!(!full.contains_key(&mug.id));
    }

    #[test]
    fn an_address_shares_the_deal_allowance_of_its_buyers() {
        assert_eq!(address_key("192.0.2.7".parse().unwrap()), "a:192.0.2.7");
        assert_eq!(
            address_key("::ffff:192.0.2.7".parse().unwrap()),
            "a:192.0.2.7"
        );
        // Every address of one /64 is one key.
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            address_key("2001:db8:1:2:ffff::9".parse().unwrap())
        );
        assert_eq!(
            address_key("2001:db8:1:2::1".parse().unwrap()),
            "a:2001:db8:1:2::/64"
        );
        assert_ne!(
            address_key("2001:db8:1:2::1".parse().unwrap()),
            address_key("2001:db8:1:3::1".parse().unwrap())
        );
        let mug = product(50);
        let pin = deal_pin(&mug); // 2 per buyer
        let line = |quantity, deal| OrderLine {
            product_id: mug.id,
            title: "Mug".into(),
            quantity,
            unit_price: mug.price,
            deal,
        };
        let pins = std::slice::from_ref(&pin);
        assert!(check_address_allowance(&[line(2, true)], pins, |_| 0, 1).is_ok());
        assert_eq!(
            check_address_allowance(&[line(1, true)], pins, |_| 2, 1)
                .unwrap_err()
                .code,
            "over_limit"
        );
        assert!(check_address_allowance(&[line(2, true)], pins, |_| 2, 2).is_ok());
        // Off, and lines at the regular price, are not held to it.
        assert!(check_address_allowance(&[line(5, true)], pins, |_| 9, 0).is_ok());
        assert!(check_address_allowance(&[line(5, false)], pins, |_| 9, 1).is_ok());
    }

    #[test]
    fn the_deal_price_applies_only_while_open() {
        let p = product(50);
        let pin = deal_pin(&p);
        let open = DealState { remaining: 10 };
        assert_eq!(
            price_in_effect(&p, Some(&pin), open, t(1)),
            (Money::price(1500, "USD").unwrap(), true)
        );
        assert!(!price_in_effect(&p, Some(&pin), open, t(60)).1, "ended");
        assert!(
            !price_in_effect(&p, Some(&pin), DealState { remaining: 0 }, t(1)).1,
            "sold out"
        );
        assert!(!price_in_effect(&p, None, open, t(1)).1);
    }

    #[test]
    fn deal_terms_are_validated() {
        let p = product(5);
        let ok = DealTerms {
            price: 100,
            quantity: 5,
            per_buyer_limit: 1,
            duration_s: 30,
        };
        assert!(ok.clone().into_deal(&p, t(0)).is_ok());
        for bad in [
            DealTerms {
                price: -1,
                ..ok.clone()
            },
            DealTerms {
                quantity: 0,
                ..ok.clone()
            },
            DealTerms {
                per_buyer_limit: 6,
                ..ok.clone()
            },
            DealTerms {
                per_buyer_limit: 0,
                ..ok.clone()
            },
            DealTerms {
                duration_s: 1,
                ..ok.clone()
            },
            DealTerms {
                price: 2000,
                ..ok.clone()
            },
        ] {
            assert!(bad.into_deal(&p, t(0)).is_err());
        }
        let d = ok.into_deal(&p, t(0)).unwrap();
        assert_eq!(d.ends_at - d.starts_at, Duration::seconds(30));
        assert_eq!(d.price.currency, p.price.currency);
    }

    #[test]
    fn pins_are_limited_and_from_the_lineup() {
        let lineup: Vec<ProductId> = (1..=4).map(|i| ProductId(Uuid::from_u128(i))).collect();
        let pin = |i: usize| Pin {
            product_id: lineup[i],
            pinned_at: t(0),
            deal: None,
        };
        let mut pins = Vec::new();
        for i in 0..3 {
            pins = add_pin(&pins, pin(i), &lineup).unwrap();
        }
        assert_eq!(
            add_pin(&pins, pin(3), &lineup).unwrap_err().code,
            "too_many_pins"
        );
        // Re-pinning a pinned product replaces it.
        assert_eq!(add_pin(&pins, pin(1), &lineup).unwrap().len(), 3);
        let stranger = Pin {
            product_id: ProductId(Uuid::from_u128(99)),
            pinned_at: t(0),
            deal: None,
        };
        assert_eq!(
            add_pin(&[], stranger, &lineup).unwrap_err().code,
            "not_in_lineup"
        );
    }

    #[test]
    fn cart_lines_respect_stock_and_the_per_buyer_limit() {
        let p = product(3);
        let pin = deal_pin(&p);
        let facts = LineFacts {
            product: &p,
            pin: Some(&pin),
            deal: DealState { remaining: 10 },
            bought_in_deal: 1,
        };
        assert_eq!(
            check_cart_line(&facts, 1, t(1)).unwrap().deal_ends_at,
            Some(t(60))
        );
        assert_eq!(
            check_cart_line(&facts, 2, t(1)).unwrap_err().code,
            "over_limit"
        );
        let no_deal = LineFacts {
            pin: None,
            ..facts.clone()
        };
        assert_eq!(
            check_cart_line(&no_deal, 4, t(1)).unwrap_err().code,
            "insufficient_stock"
        );
        assert_eq!(
            check_cart_line(&no_deal, 0, t(1)).unwrap_err().code,
            "invalid_quantity"
        );
        assert_eq!(
            check_cart_line(&no_deal, -2, t(1)).unwrap_err().code,
            "invalid_quantity"
        );
    }

    #[test]
    fn checkout_refuses_what_the_buyer_did_not_see() {
        let p = product(100);
        let pin = deal_pin(&p);
        let facts = LineFacts {
            product: &p,
            pin: Some(&pin),
            deal: DealState { remaining: 10 },
            bought_in_deal: 0,
        };
        let line = check_cart_line(&facts, 2, t(1)).unwrap();
        let (items, total) = plan_checkout(&[(line, facts.clone())], t(2)).unwrap();
        assert_eq!(total, Money::price(3000, "USD").unwrap());
        assert!(items[0].deal);
        assert_eq!(
            plan_checkout(&[(line, facts.clone())], t(61))
                .unwrap_err()
                .code,
            "deal_ended"
        );
        let gone = LineFacts {
            deal: DealState { remaining: 1 },
            ..facts.clone()
        };
        assert_eq!(
            plan_checkout(&[(line, gone)], t(2)).unwrap_err().code,
            "sold_out"
        );
        let sold = LineFacts {
            deal: DealState { remaining: 0 },
            ..facts.clone()
        };
        assert_eq!(
            plan_checkout(&[(line, sold)], t(2)).unwrap_err().code,
            "sold_out"
        );
        assert_eq!(plan_checkout(&[], t(2)).unwrap_err().code, "empty_cart");
        let plain = CartLine {
            quantity: 1,
            deal_ends_at: None,
        };
        let p2 = product(0);
        let out = LineFacts {
            product: &p2,
            pin: None,
            deal: DealState::default(),
            bought_in_deal: 0,
        };
        assert_eq!(
            plan_checkout(&[(plain, out)], t(2)).unwrap_err().code,
            "sold_out"
        );
    }
}
