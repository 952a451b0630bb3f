//! Pins and flash deals: pinning a product of the lineup (with an optional deal), unpinning,
//! the pins as the room sees them, and the announcement when a deal ends.

use std::time::Duration;

use super::{CommerceError, CommerceService};
use crate::commerce::{announce_pins, pin_views, publish_pins};
use crate::domain::access::Action;
use crate::domain::chapter::Draft;
use crate::domain::commerce::{Deal, DealTerms, Pin, PinView};
use crate::domain::{
    Code, Currency, DomainError, Principal, Product, ProductId, Show, ShowId, Timestamp,
};

/// A caller who may pin products in a show (its creator, its moderators). Only the service
/// makes one.
#[derive(Debug, Clone)]
pub struct Curator {
    show: Show,
}

/// A product to pin, with an optional flash deal.
#[derive(Debug, Clone)]
pub struct NewPin {
    pub product_id: ProductId,
    pub deal: Option<DealOffer>,
}

/// A flash deal as asked for: a price in minor units of the product's currency (`currency`,
/// when given, must be the product's), for `quantity` units, at most `per_buyer_limit` each,
/// for `duration_s` seconds.
#[derive(Debug, Clone)]
pub struct DealOffer {
    pub price: i64,
    pub currency: Option<String>,
    pub quantity: i64,
    pub per_buyer_limit: i64,
    pub duration_s: u64,
}

impl DealOffer {
    /// The deal on `product` starting `now`, or the rule it breaks.
    fn into_deal(self, product: &Product, now: Timestamp) -> Result<Deal, DomainError> {
        if let Some(currency) = self.currency {
            let currency = Currency::parse(&currency)?;
            if currency != product.price.currency {
                return Err(DomainError::invalid(
                    Code::CurrencyMismatch,
                    format!("the product is priced in {}", product.price.currency),
                ));
            }
        }
        let terms = DealTerms {
            price: self.price,
            quantity: self.quantity,
            per_buyer_limit: self.per_buyer_limit,
            duration_s: self.duration_s,
        };
        terms.into_deal(product, now)
    }
}

impl CommerceService {
    /// The caller, who must be allowed to pin in the show.
    pub async fn curator(
        &self,
        who: Option<&Principal>,
        id: ShowId,
    ) -> Result<Curator, CommerceError> {
        let show = self.show_for(who, id, Action::Pin).await?;
        Ok(Curator { show })
    }

    /// Pins a product of the show's catalog (the store applies the lineup and the pin limit),
    /// tells the room, and schedules the deal's end announcement. Returns the pins broadcast.
    pub async fn pin(&self, curator: &Curator, new: NewPin) -> Result<Vec<PinView>, CommerceError> {
        let show = &curator.show;
        let product = match self.catalog.product(new.product_id).await? {
            Some(p) if p.creator_id == show.creator_id => p,
            _ => {
                return Err(DomainError::not_found(
                    Code::ProductNotFound,
                    format!("no product {} in this show's catalog", new.product_id),
                )
                .into());
            }
        };
        let now = self.clock.now();
        let deal = match new.deal {
            None => None,
            Some(offer) => Some(offer.into_deal(&product, now)?),
        };
        let ends_at = deal.as_ref().map(|d| d.ends_at);
        let chapter = Draft::pin(&product, deal.as_ref().map(|d| d.price));
        let pin = Pin {
            product_id: product.id,
            pinned_at: now,
            deal,
        };
        self.commerce.pin(show, &pin).await??;
        let pins = publish_pins(
            self.commerce.as_ref(),
            self.catalog.as_ref(),
            &self.hub,
            show,
            now,
            chapter,
        )
        .await?;
        if let Some(ends_at) = ends_at {
            self.announce_deal_end(show.clone(), ends_at);
        }
        Ok(pins)
    }

    /// Unpins a product (creator, moderators) and tells the room.
    pub async fn unpin(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        product: ProductId,
    ) -> Result<(), CommerceError> {
        let Curator { show } = self.curator(who, id).await?;
        if self.commerce.unpin(&show, product).await?.is_none() {
            return Err(DomainError::not_found(
                Code::NotPinned,
                format!("product {product} is not pinned"),
            )
            .into());
        }
        self.announce_pins(&show).await;
        Ok(())
    }

    /// The show's pins with live prices and stock (anyone).
    pub async fn pins(&self, id: ShowId) -> Result<Vec<PinView>, CommerceError> {
        let show = self.show(id).await?;
        Ok(pin_views(
            self.commerce.as_ref(),
            self.catalog.as_ref(),
            &show,
            self.clock.now(),
        )
        .await?)
    }

    /// Announces the pins again when a deal ends, so every countdown flips to the regular
    /// price at once. Harmless if the pin changed meanwhile (it announces the current state).
    fn announce_deal_end(&self, show: Show, ends_at: Timestamp) {
        let wait = (ends_at - self.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let (commerce, catalog) = (self.commerce.clone(), self.catalog.clone());
        let (hub, clock) = (self.hub.clone(), self.clock.clone());
        tokio::spawn(async move {
            tokio::time::sleep(wait + Duration::from_millis(20)).await;
            announce_pins(
                commerce.as_ref(),
                catalog.as_ref(),
                &hub,
                clock.as_ref(),
                &show,
            )
            .await;
        });
    }
}
