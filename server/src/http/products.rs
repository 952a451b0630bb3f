//! The creator's catalog over HTTP: create, list and search, read and edit products, and import
//! a Shopify product export (`products/import.rs`). Handlers extract, call `services::catalog`
//! and map the outcome.

mod import;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{PageParams, next_cursor};
use super::shows::list_query;
use crate::config::Config;
use crate::domain::{Code, Money, NewProduct, Product, ProductEdit, ProductId};
use crate::services::catalog::CatalogError;
use crate::services::shows::Listing;
use crate::store::PageAfter;

pub fn router(config: &Config) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product, edit_product))
        .merge(import::router(config))
}

/// A price as sent by clients; the currency is checked against ISO 4217.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// Integer minor units (cents), 0 to 10^12.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[serde(deserialize_with = "crate::domain::whole::i64")]
    amount: i64,
    #[schema(schema_with = super::openapi::text::currency)]
    currency: String,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    #[schema(schema_with = super::openapi::text::sku)]
    sku: String,
    #[schema(schema_with = super::openapi::text::product_title)]
    title: String,
    price: PriceInput,
    /// Units available to sell, 0 to 10^9.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "crate::domain::whole::i64")]
    stock: i64,
    #[schema(schema_with = super::openapi::text::product_description)]
    description: Option<String>,
    #[schema(schema_with = super::openapi::text::image_url)]
    image_url: Option<String>,
}

/// Add a product to the caller's catalog (creators). A duplicate SKU is 409 `duplicate_sku`;
/// a catalog at `--max-products-per-creator` is 409 `product_quota`.
#[utoipa::path(post, path = "/api/products", tag = "products", request_body = CreateProduct,
    responses((status = 201, body = Product), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create_product(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<CreateProduct>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    let creator = caller.creator()?;
    let body = body.value()?;
    let fields = NewProduct {
        sku: body.sku,
        title: body.title,
        description: body.description,
        image_url: body.image_url,
        price: Money::price(body.price.amount, &body.price.currency)?,
        stock: body.stock,
    };
    let product = state.catalog.create(creator, fields).await?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// The old answer of `GET /api/products?legacy=1`: the whole catalog at once.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ProductList {
    products: Vec<Product>,
}

/// A page of the catalog.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ProductPage {
    items: Vec<Product>,
    /// The `cursor` of the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// A page of products, or with `?legacy=1` the old whole list.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ProductListing {
    Page(ProductPage),
    Legacy(ProductList),
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Only products whose title or SKU contains this text, in any case.
    q: Option<String>,
}

/// The caller's catalog by creation time, a page at a time (creators); `?q=` searches titles
/// and SKUs.
#[utoipa::path(get, path = "/api/products", tag = "products", params(SearchParams, PageParams),
    responses((status = 200, body = ProductListing), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(search): ApiQuery<SearchParams>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ProductListing>> {
    let creator = caller.creator()?;
    let query = list_query(params.check()?);
    let q = search.q.as_deref();
    Ok(Json(match state.catalog.list(creator, query, q).await? {
        Listing::All(products) => ProductListing::Legacy(ProductList { products }),
        Listing::Page(found) => ProductListing::Page(ProductPage {
            next_cursor: next_cursor(&found, PageAfter::product),
            items: found.items,
        }),
    }))
}

/// One product (anyone: products are shown to viewers).
#[utoipa::path(get, path = "/api/products/{id}", tag = "products",
    params(("id" = ProductId, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem)))]
async fn get_product(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProductId>,
) -> ApiResult<Json<Product>> {
    Ok(Json(state.catalog.get(id).await?))
}

/// A creator's change to one of their products: only the fields present change; `null`
/// clears the description or the image. The SKU stays (a re-import finds the product by it).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditProduct {
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::openapi::text::product_title)]
    title: Option<Option<String>>,
    /// In the product's currency (422 `currency_mismatch` otherwise).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = PriceInput)]
    price: Option<Option<PriceInput>>,
    /// Units available to sell now, 0 to 10^9, not counting units held by orders awaiting
    /// payment (those come back on top if their payment fails or lapses).
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(default, deserialize_with = "some_whole")]
    stock: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::openapi::text::product_description)]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::openapi::text::image_url)]
    image_url: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A whole number when present; `null` is refused like any other non-number.
fn some_whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    crate::domain::whole::i64(d).map(Some)
}

/// A field that may be left out but not cleared: `null` is 422 with `code`.
fn not_null<T>(field: Option<Option<T>>, code: Code, name: &str) -> ApiResult<Option<T>> {
    match field {
        Some(None) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            format!("{name} cannot be null; leave it out to keep it"),
        )),
        other => Ok(other.flatten()),
    }
}

/// Edit one of the caller's products (its creator): title, price, stock, description,
/// image. Setting the stock is one atomic step with the checkouts running meanwhile: none is
/// lost or counted twice. Another creator's product is 403 `not_product_owner`.
#[utoipa::path(patch, path = "/api/products/{id}", tag = "products",
    params(("id" = ProductId, Path)), request_body = EditProduct,
    responses((status = 200, body = Product), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem),
              (status = 422, body = Problem, description = "e.g. `invalid_title`, `invalid_stock`, `invalid_price`, `currency_mismatch`")),
    security(("bearer" = [])))]
async fn edit_product(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ProductId>,
    body: ApiJson<EditProduct>,
) -> ApiResult<Json<Product>> {
    let creator = caller.creator()?;
    state.catalog.owned(creator, id).await?;
    let body = body.value()?;
    let price = not_null(body.price, Code::InvalidPrice, "price")?
        .map(|p| Money::price(p.amount, &p.currency))
        .transpose()?;
    let edit = ProductEdit {
        title: not_null(body.title, Code::InvalidTitle, "title")?,
        price,
        stock: body.stock,
        description: body.description,
        image_url: body.image_url,
    };
    Ok(Json(state.catalog.edit(creator, id, edit).await?))
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Refused(e) => e.into(),
            CatalogError::BadFile(e) => ApiError::bad_request(e.code, e.message),
            CatalogError::Store(e) => e.into(),
        }
    }
}
