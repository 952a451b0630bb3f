//! The creator's catalog: create and read products, and import a Shopify product export.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiBytes, ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{PageParams, next_cursor};
use crate::config::Config;
use crate::domain::import::{ImportRow, parse_shopify_csv};
use crate::domain::{Currency, Money, NewProduct, Product, ProductId};
use crate::store::{PageAfter, ProductInsert};

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
    let product = Product::create(ProductId(Uuid::now_v7()), creator, fields, state.now())?;
    let quota = state.config.max_products_per_creator;
    match state.store.insert_product_within(&product, quota).await? {
        ProductInsert::Inserted => Ok((StatusCode::CREATED, Json(product))),
        ProductInsert::DuplicateSku => Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_sku",
            format!(
                "your catalog already has a product with SKU '{}'",
                product.sku
            ),
        )),
        ProductInsert::OverQuota => Err(quota_error(quota)),
    }
}

/// A catalog at `--max-products-per-creator`: a state the creator can change (by asking the
/// operator), not a bad request, hence 409.
fn quota_error(quota: u64) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "product_quota", quota_reason(quota))
}

fn quota_reason(quota: u64) -> String {
    format!("your catalog is full: at most {quota} products per creator")
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
    let page = params.check()?;
    if page.legacy {
        return Ok(Json(ProductListing::Legacy(ProductList {
            products: state.store.products(creator).await?,
        })));
    }
    let found = state
        .store
        .products_page(creator, page.after, page.limit)
        .await?;
    let next_cursor = next_cursor(&found, PageAfter::product);
    Ok(Json(ProductListing::Page(ProductPage {
        items: found.items,
        next_cursor,
    })))
}

/// One product (anyone: products are shown to viewers).
#[utoipa::path(get, path = "/api/products/{id}", tag = "products",
    params(("id" = ProductId, Path)),
    responses((status = 200, body = Product), (status = 404, body = Problem)))]
async fn get_product(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProductId>,
) -> ApiResult<Json<Product>> {
    state
        .store
        .product(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("product_not_found", format!("no product {id}")))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// Currency of the prices in the file (Shopify exports carry none); default USD.
    #[param(schema_with = super::openapi::text::currency)]
    currency: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ImportedProduct {
    /// Line of the row in the file (the header is line 1).
    line: u64,
    id: ProductId,
    sku: String,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RejectedRow {
    line: u64,
    reason: String,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ImportReport {
    created: Vec<ImportedProduct>,
    updated: Vec<ImportedProduct>,
    rejected: Vec<RejectedRow>,
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
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !matches!(
        essence.to_ascii_lowercase().as_str(),
        "text/csv" | "application/csv" | "text/plain"
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the Shopify export as Content-Type: text/csv",
        ));
    }
    let currency = Currency::parse(params.currency.as_deref().unwrap_or("USD"))?;
    let rows =
        parse_shopify_csv(&body, currency).map_err(|e| ApiError::bad_request(e.code, e.message))?;
    let mut report = ImportReport {
        created: Vec::new(),
        updated: Vec::new(),
        rejected: Vec::new(),
    };
    let now = state.now();
    let quota = state.config.max_products_per_creator;
    for row in rows {
        let (line, fields) = match row {
            ImportRow::Rejected { line, reason } => {
                report.rejected.push(RejectedRow { line, reason });
                continue;
            }
            ImportRow::Product { line, fields } => (line, fields),
        };
        let sku = fields.sku.clone();
        if let Some(mut existing) = state.store.product_by_sku(creator, &sku).await? {
            if let Err(e) = existing.update(fields, now) {
                report.rejected.push(RejectedRow {
                    line,
                    reason: e.message,
                });
                continue;
            }
            state.store.update_product(&existing).await?;
            report.updated.push(ImportedProduct {
                line,
                id: existing.id,
                sku,
            });
            continue;
        }
        let product = match Product::create(ProductId(Uuid::now_v7()), creator, fields, now) {
            Ok(p) => p,
            Err(e) => {
                report.rejected.push(RejectedRow {
                    line,
                    reason: e.message,
                });
                continue;
            }
        };
        // Rows beyond the quota are rejected one by one (updates of existing SKUs still
        // apply), so the report says exactly which lines did not make it in.
        match state.store.insert_product_within(&product, quota).await? {
            ProductInsert::Inserted => report.created.push(ImportedProduct {
                line,
                id: product.id,
                sku,
            }),
            ProductInsert::DuplicateSku => report.rejected.push(RejectedRow {
                line,
                reason: format!("SKU '{sku}' was created by another request meanwhile"),
            }),
            ProductInsert::OverQuota => report.rejected.push(RejectedRow {
                line,
                reason: quota_reason(quota),
            }),
        }
    }
    tracing::info!(
        creator = %creator,
        created = report.created.len(),
        updated = report.updated.len(),
        rejected = report.rejected.len(),
        "catalog imported"
    );
    Ok(Json(report))
}
