//! The catalog: a creator's products, each one SKU with a price and a stock count.

use super::{Code, CreatorId, DomainError, Money, ProductId, Timestamp, names};

pub const MAX_SKU: usize = 64;
pub const MAX_PRODUCT_TITLE: usize = 200;
pub const MAX_PRODUCT_DESCRIPTION: usize = 10_000;
pub const MAX_IMAGE_URL: usize = 2048;
pub const MAX_STOCK: i64 = 1_000_000_000;

/// The fields a creator controls; used to create a product and to update it on re-import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub sku: String,
    pub title: String,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub price: Money,
    pub stock: i64,
}

/// A creator's change to one product (`PATCH /api/products/{id}`): `None` leaves a field as
/// it is; for the description and the image `Some(None)` clears it. The SKU never changes
/// here (it is how a re-import finds the product).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductEdit {
    pub title: Option<String>,
    pub price: Option<Money>,
    pub stock: Option<i64>,
    pub description: Option<Option<String>>,
    pub image_url: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Product {
    pub id: ProductId,
    pub creator_id: CreatorId,
    pub sku: String,
    pub title: String,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub price: Money,
    /// Units available to sell.
    pub stock: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl NewProduct {
    /// Checks and normalises every field.
    pub fn validate(self) -> Result<NewProduct, DomainError> {
        let sku = names::required(&self.sku, "sku", MAX_SKU, Code::InvalidSku)?;
        let title = names::required(&self.title, "title", MAX_PRODUCT_TITLE, Code::InvalidTitle)?;
        let description = names::optional_long(
            self.description.as_deref(),
            "description",
            MAX_PRODUCT_DESCRIPTION,
            Code::InvalidDescription,
        )?;
        let image_url = match self.image_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => Some(image_url(url)?),
        };
        let price = Money::price(self.price.amount, self.price.currency.as_str())?;
        if !(0..=MAX_STOCK).contains(&self.stock) {
            return Err(DomainError::invalid(
                Code::InvalidStock,
                format!("stock must be a whole number from 0 to {MAX_STOCK}"),
            ));
        }
        Ok(NewProduct {
            sku,
            title,
            description,
            image_url,
            price,
            stock: self.stock,
        })
    }
}

/// An image is an absolute http(s) URL or a path on this server (demo images).
fn image_url(url: &str) -> Result<String, DomainError> {
    let ok_scheme = url.starts_with("https://")
        || url.starts_with("http://")
        || (url.starts_with('/') && !url.starts_with("//"));
    if !ok_scheme
        || url.len() > MAX_IMAGE_URL
        || url
            .chars()
            .any(|c| c.is_whitespace() || names::is_forbidden_char(c))
        || url.contains(['"', '<', '>', '\'', '`'])
    {
        return Err(DomainError::invalid(
            Code::InvalidImageUrl,
            "image_url must be an http(s) URL or a path starting with /",
        ));
    }
    Ok(url.to_string())
}

impl Product {
    pub fn create(
        id: ProductId,
        creator_id: CreatorId,
        fields: NewProduct,
        now: Timestamp,
    ) -> Result<Product, DomainError> {
        let f = fields.validate()?;
        Ok(Product {
            id,
            creator_id,
            sku: f.sku,
            title: f.title,
            description: f.description,
            image_url: f.image_url,
            price: f.price,
            stock: f.stock,
            created_at: now,
            updated_at: now,
        })
    }

    /// Applies a creator's edit, every field checked before any changes: a price keeps the
    /// product's currency (422 `currency_mismatch`), a stock is 0 to [`MAX_STOCK`].
    pub fn edit(&mut self, edit: ProductEdit, now: Timestamp) -> Result<(), DomainError> {
        if let Some(price) = &edit.price
            && price.currency != self.price.currency
        {
            return Err(DomainError::invalid(
                Code::CurrencyMismatch,
                format!(
                    "this product is priced in {}; its price stays in that currency",
                    self.price.currency.as_str()
                ),
            ));
        }
        let fields = NewProduct {
            sku: self.sku.clone(),
            title: edit.title.unwrap_or_else(|| self.title.clone()),
            description: edit.description.unwrap_or_else(|| self.description.clone()),
            image_url: edit.image_url.unwrap_or_else(|| self.image_url.clone()),
            price: edit.price.unwrap_or(self.price),
            stock: edit.stock.unwrap_or(self.stock),
        };
        self.update(fields, now)
    }

    /// Whether a search `query` finds this product: a case-insensitive substring of its title
    /// or SKU (an empty query finds every product).
    pub fn matches(&self, query: &str) -> bool {
        let query = query.trim().to_lowercase();
        query.is_empty()
            || self.title.to_lowercase().contains(&query)
            || self.sku.to_lowercase().contains(&query)
    }

    /// Replaces the creator-controlled fields (a re-import of the same SKU).
    pub fn update(&mut self, fields: NewProduct, now: Timestamp) -> Result<(), DomainError> {
        let f = fields.validate()?;
        self.sku = f.sku;
        self.title = f.title;
        self.description = f.description;
        self.image_url = f.image_url;
        self.price = f.price;
        self.stock = f.stock;
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn fields() -> NewProduct {
        NewProduct {
            sku: "MUG-1".into(),
            title: "Mug".into(),
            description: None,
            image_url: Some("/static/img/demo/mug.svg".into()),
            price: Money::price(1800, "USD").unwrap(),
            stock: 5,
        }
    }

    fn create(f: NewProduct) -> Result<Product, DomainError> {
        Product::create(
            ProductId(Uuid::nil()),
            CreatorId(Uuid::nil()),
            f,
            Timestamp::default(),
        )
    }

    #[test]
    fn a_valid_product_is_created() {
        let p = create(fields()).unwrap();
        assert_eq!(p.stock, 5);
        assert_eq!(p.price.amount, 1800);
    }

    #[test]
    fn bad_fields_have_their_own_codes() {
        let cases: Vec<(NewProduct, &str)> = vec![
            (
                NewProduct {
                    stock: -1,
                    ..fields()
                },
                "invalid_stock",
            ),
            (
                NewProduct {
                    sku: " ".into(),
                    ..fields()
                },
                "invalid_sku",
            ),
            (
                NewProduct {
                    title: "".into(),
                    ..fields()
                },
                "invalid_title",
            ),
            (
                NewProduct {
                    image_url: Some("javascript:alert(1)".into()),
                    ..fields()
                },
                "invalid_image_url",
            ),
            (
                NewProduct {
                    image_url: Some("//evil.example/x.png".into()),
                    ..fields()
                },
                "invalid_image_url",
            ),
            (
                NewProduct {
                    price: Money {
                        amount: -5,
                        currency: fields().price.currency,
                    },
                    ..fields()
                },
                "invalid_price",
            ),
        ];
        for (f, code) in cases {
            assert_eq!(create(f).unwrap_err().code, code);
        }
    }

    #[test]
    fn an_edit_keeps_the_currency_and_checks_before_changing() {
        let mut p = create(fields()).unwrap();
        let later = Timestamp::default() + chrono::Duration::seconds(5);
        p.edit(
            ProductEdit {
                title: Some(" Big mug ".into()),
                price: Some(Money::price(2400, "USD").unwrap()),
                stock: Some(0),
                image_url: Some(None),
                ..Default::default()
            },
            later,
        )
        .unwrap();
        assert_eq!(
            (
                p.title.as_str(),
                p.price.amount,
                p.stock,
                p.image_url.as_deref()
            ),
            ("Big mug", 2400, 0, None)
        );
        assert_eq!((p.sku.as_str(), p.updated_at), ("MUG-1", later));
        let before = p.clone();
        let cases = [
            (
                ProductEdit {
                    price: Some(Money::price(100, "EUR").unwrap()),
                    ..Default::default()
                },
                "currency_mismatch",
            ),
            (
                ProductEdit {
                    stock: Some(-1),
                    title: Some("X".into()),
                    ..Default::default()
                },
                "invalid_stock",
            ),
            (
                ProductEdit {
                    stock: Some(MAX_STOCK + 1),
                    ..Default::default()
                },
                "invalid_stock",
            ),
            (
                ProductEdit {
                    title: Some(" ".into()),
                    ..Default::default()
                },
                "invalid_title",
            ),
            (
                ProductEdit {
                    image_url: Some(Some("javascript:x".into())),
                    ..Default::default()
                },
                "invalid_image_url",
            ),
        ];
        for (edit, code) in cases {
            assert_eq!(p.edit(edit, later).unwrap_err().code, code);
            assert_eq!(p, before);
        }
    }

    #[test]
    fn a_search_finds_title_or_sku_in_any_case() {
        let p = create(fields()).unwrap();
        for hit in ["", "mug", "MUG-1", "ug-", " Mu "] {
            assert!(p.matches(hit), "{hit:?}");
        }
        assert!(!p.matches("cup"));
    }
}
