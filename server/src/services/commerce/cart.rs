//! The viewer's cart: its view with the prices in effect now, and setting or removing a line
//! under the cart rules (`domain::commerce::check_cart_line`, the cart's size and currency).

use super::{CommerceError, CommerceService, Shopper};
use crate::domain::commerce::{
    CartLine, CartLines, LineFacts, MAX_CART_ITEMS, SalesChannel, check_cart_line, price_in_effect,
};
use crate::domain::{
    Code, Currency, DomainError, Money, Principal, Product, ProductId, Show, ShowId, ViewerId,
};

#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CartItem {
    product_id: ProductId,
    title: String,
    image_url: Option<String>,
    quantity: i64,
    /// The price of one unit now (the deal's while it is open).
    unit_price: Money,
    /// Whether `unit_price` is a deal price.
    deal: bool,
    line_total: Money,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CartView {
    pub items: Vec<CartItem>,
    pub total: Money,
}

impl CommerceService {
    /// The caller's cart in this show (viewers).
    pub async fn cart(
        &self,
        who: Option<&Principal>,
        id: ShowId,
    ) -> Result<CartView, CommerceError> {
        let Shopper { show, viewer, .. } = self.shopper(who, id).await?;
        let lines = self.commerce.cart(&show, viewer).await?;
        self.cart_view(&show, &lines).await
    }

    /// Sets how many units of a product of the lineup are in the shopper's cart: refused in a
    /// cancelled show (an ended one sells from its replay), beyond the stock left or the
    /// deal's per-buyer limit, in a full cart, or in another currency than the cart's.
    pub async fn set_cart_item(
        &self,
        shopper: &Shopper,
        product_id: ProductId,
        quantity: i64,
    ) -> Result<CartView, CommerceError> {
        let Shopper { show, viewer, .. } = shopper;
        // Live, or from the replay after the end; never in a cancelled show.
        SalesChannel::of(show.status)?;
        let product = self.sold_in(show, product_id).await?;
        let mut lines = self.commerce.cart(show, *viewer).await?;
        self.check_room_for(&lines, &product).await?;
        let line = self.cart_line(show, *viewer, &product, quantity).await?;
        self.commerce
            .set_cart_line(show, *viewer, product.id, Some(line))
            .await?;
        lines.insert(product.id, line);
        metrics::counter!("livesale_cart_updates_total").increment(1);
        self.cart_view(show, &lines).await
    }

    /// Removes a product from the caller's cart (viewers).
    pub async fn remove_cart_item(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        product_id: ProductId,
    ) -> Result<CartView, CommerceError> {
        let Shopper { show, viewer, .. } = self.shopper(who, id).await?;
        self.commerce
            .set_cart_line(&show, viewer, product_id, None)
            .await?;
        let lines = self.commerce.cart(&show, viewer).await?;
        self.cart_view(&show, &lines).await
    }

    /// The product, if it is of the show's catalog and in its lineup.
    async fn sold_in(&self, show: &Show, product_id: ProductId) -> Result<Product, CommerceError> {
        let product = match self.catalog.product(product_id).await? {
            Some(p) if p.creator_id == show.creator_id => p,
            _ => {
                return Err(DomainError::not_found(
                    Code::ProductNotFound,
                    format!("no product {product_id} in this show"),
                )
                .into());
            }
        };
        if !self.catalog.lineup(show).await?.contains(&product.id) {
            return Err(DomainError::not_found(
                Code::ProductNotFound,
                format!("product {product_id} is not sold in this show"),
            )
            .into());
        }
        Ok(product)
    }

    /// Whether `product` may join the cart `lines`: a new product needs room, and every
    /// product of a cart has one currency.
    async fn check_room_for(
        &self,
        lines: &CartLines,
        product: &Product,
    ) -> Result<(), CommerceError> {
        if !lines.contains_key(&product.id) && lines.len() >= MAX_CART_ITEMS {
            return Err(DomainError::conflict(
                Code::CartFull,
                format!("a cart holds at most {MAX_CART_ITEMS} different products"),
            )
            .into());
        }
        for other in lines.keys().filter(|p| **p != product.id) {
            if let Some(o) = self.catalog.product(*other).await?
                && o.price.currency != product.price.currency
            {
                return Err(DomainError::invalid(
                    Code::CurrencyMismatch,
                    format!(
                        "your cart is in {}; this product is in {}",
                        o.price.currency, product.price.currency
                    ),
                )
                .into());
            }
        }
        Ok(())
    }

    /// The cart line of `quantity` units of `product` for `viewer` now, under the product's
    /// pin and deal ([`check_cart_line`]).
    async fn cart_line(
        &self,
        show: &Show,
        viewer: ViewerId,
        product: &Product,
        quantity: i64,
    ) -> Result<CartLine, CommerceError> {
        let pins = self.commerce.pins(show).await?;
        let pin = pins.iter().find(|p| p.pin.product_id == product.id);
        let facts = LineFacts {
            product,
            pin: pin.map(|p| &p.pin),
            deal: pin.map(|p| p.deal).unwrap_or_default(),
            bought_in_deal: self.commerce.deal_bought(show, product.id, viewer).await?,
        };
        Ok(check_cart_line(&facts, quantity, self.clock.now())?)
    }

    /// The cart `lines` priced now.
    async fn cart_view(&self, show: &Show, lines: &CartLines) -> Result<CartView, CommerceError> {
        let now = self.clock.now();
        let pins = self.commerce.pins(show).await?;
        let mut items = Vec::with_capacity(lines.len());
        let mut total: Option<Money> = None;
        for (product_id, line) in lines {
            let Some(product) = self.catalog.product(*product_id).await? else {
                continue;
            };
            let pin = pins.iter().find(|p| p.pin.product_id == product.id);
            let (unit, deal) = price_in_effect(
                &product,
                pin.map(|p| &p.pin),
                pin.map(|p| p.deal).unwrap_or_default(),
                now,
            );
            let line_total = Money {
                amount: unit.amount.saturating_mul(line.quantity),
                currency: unit.currency,
            };
            let t = total.get_or_insert(Money::zero(unit.currency));
            t.amount = t.amount.saturating_add(line_total.amount);
            items.push(CartItem {
                product_id: product.id,
                title: product.title,
                image_url: product.image_url,
                quantity: line.quantity,
                unit_price: unit,
                deal,
                line_total,
            });
        }
        let total = match total {
            Some(t) => t,
            None => Money::zero(self.default_currency(show).await?),
        };
        Ok(CartView { items, total })
    }

    /// The currency of an empty cart or order list: the show's first lineup product's, else
    /// USD.
    pub(super) async fn default_currency(&self, show: &Show) -> Result<Currency, CommerceError> {
        if let Some(first) = self.catalog.lineup(show).await?.first()
            && let Some(p) = self.catalog.product(*first).await?
        {
            return Ok(p.price.currency);
        }
        Ok(Currency::parse("USD")?)
    }
}
