//! The creator's catalog over HTTP: create and read products, and import a Shopify product
//! export. Handlers extract, call `services::catalog` and map the outcome.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiBytes, ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{PageParams, next_cursor};
use super::shows::list_query;
use crate::config::Config;
use crate::domain::{Code, Money, NewProduct, Product, ProductId};
use crate::services::catalog::{CatalogError, ImportReport};
use crate::services::shows::Listing;
use crate::store::PageAfter;

pub fn router(config: &Config) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(import_products))
                .layer(super::extract::body_limit(config.max_import_bytes)),
        )
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

/// The caller's catalog by creation time, a page at a time (creators).
#[utoipa::path(get, path = "/api/products", tag = "products", params(PageParams),
    responses((status = 200, body = ProductListing), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ProductListing>> {
    let creator = caller.creator()?;
    let query = list_query(params.check()?);
    Ok(Json(match state.catalog.list(creator, query).await? {
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

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// Currency of the prices in the file (Shopify exports carry none); default USD.
    #[param(schema_with = super::openapi::text::currency)]
    currency: Option<String>,
}

/// Import a Shopify product export (CSV). Each variant with a SKU becomes a product; an
/// existing SKU is updated. Bad rows are reported by line and never stop the good ones; new
/// SKUs beyond `--max-products-per-creator` are rejected rows. Text is stored as typed; any
/// CSV the server writes neutralises spreadsheet formulas (a leading `'`).
#[utoipa::path(post, path = "/api/products/import", tag = "products",
    params(ImportParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 413, body = Problem), (status = 415, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn import_products(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: ApiBytes,
) -> ApiResult<Json<ImportReport>> {
    let creator = caller.creator()?;
    let body = body.value()?;
    require_csv(&headers)?;
    let currency = params.currency.as_deref();
    Ok(Json(state.catalog.import(creator, &body, currency).await?))
}

/// The import takes CSV only: 415 `unsupported_media_type` for any other declared type.
fn require_csv(headers: &HeaderMap) -> ApiResult<()> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if matches!(
        essence.to_ascii_lowercase().as_str(),
        "text/csv" | "application/csv" | "text/plain"
    ) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Code::UnsupportedMediaType,
        "send the Shopify export as Content-Type: text/csv",
    ))
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
