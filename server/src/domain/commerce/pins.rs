//! Pins and flash deals: what a pin carries, a deal's terms and live numbers, the price in
//! effect now, the views the room broadcasts, and the rule for adding a pin.

use super::MAX_PINS;
use super::{MAX_DEAL_QUANTITY, MAX_DEAL_SECONDS, MIN_DEAL_SECONDS};
use crate::domain::{Code, DomainError, Money, Product, ProductId, Timestamp};

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
                Code::InvalidDeal,
                format!(
                    "a deal price must be below the regular price ({} minor units)",
                    product.price.amount
                ),
            ));
        }
        if !(1..=MAX_DEAL_QUANTITY).contains(&self.quantity) {
            return Err(DomainError::invalid(
                Code::InvalidDeal,
                format!("a deal's quantity is from 1 to {MAX_DEAL_QUANTITY}"),
            ));
        }
        if self.per_buyer_limit < 1 || self.per_buyer_limit > self.quantity {
            return Err(DomainError::invalid(
                Code::InvalidDeal,
                "per_buyer_limit is from 1 to the deal's quantity",
            ));
        }
        if !(MIN_DEAL_SECONDS..=MAX_DEAL_SECONDS).contains(&self.duration_s) {
            return Err(DomainError::invalid(
                Code::InvalidDeal,
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
            Code::NotInLineup,
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
            Code::TooManyPins,
            format!("a show has at most {MAX_PINS} pinned products; unpin one first"),
        ));
    }
    next.push(pin);
    Ok(next)
}
