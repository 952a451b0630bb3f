//! The Shopify import over HTTP: `POST /api/products/import` with `?dry_run=true` for a
//! preview that writes nothing, and with `Accept: application/x-ndjson` a stream of progress
//! lines ending with the report (or the problem that stopped the run).
//!
//! The run is a task of its own (`CatalogService::start_import`): a client that closes the
//! stream or drops the request stops only the telling, never the run between two writes.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::super::AppState;
use super::super::error::{ApiError, ApiResult, Problem};
use super::super::extract::{ApiBytes, ApiQuery, Caller};
use crate::config::Config;
use crate::domain::Code;
use crate::services::catalog::{CatalogResult, ImportProgress, ImportReport};

/// The media type of the progress stream.
const NDJSON: &str = "application/x-ndjson";

pub fn router(config: &Config) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_products))
        .layer(super::super::extract::body_limit(config.max_import_bytes))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// Currency of the prices in the file (Shopify exports carry none); default USD.
    #[param(schema_with = super::super::openapi::text::currency)]
    currency: Option<String>,
    /// `true`: classify every row exactly as an import would, and write nothing.
    dry_run: Option<bool>,
}

/// One line of the progress stream (`Accept: application/x-ndjson`).
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportLine {
    /// Rows classified so far, at least every 100 rows (and once at the start and the end).
    Progress(ImportProgress),
    /// The last line of a run that finished.
    Report(ImportReport),
    /// The last line of a run that stopped (e.g. the store became unreachable); rows before
    /// it were applied whole.
    Error(Problem),
}

/// Import a Shopify product export (CSV). Each variant with a SKU becomes a product; an
/// existing SKU is updated. Bad rows are reported by line and never stop the good ones; new
/// SKUs beyond `--max-products-per-creator` are rejected rows. Text is stored as typed; any
/// CSV the server writes neutralises spreadsheet formulas (a leading `'`). With
/// `?dry_run=true` nothing is written and the report says what an import would do now. With
/// `Accept: application/x-ndjson` the answer streams `{"progress":{"done","total"}}` lines,
/// then `{"report":{…}}` or `{"error":{problem}}`; a file that is no export is refused before
/// any line, as without the stream. An import runs to its end even if the client goes away.
#[utoipa::path(post, path = "/api/products/import", tag = "products",
    params(ImportParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "The report, or the progress stream",
               content((ImportReport = "application/json"), (ImportLine = "application/x-ndjson"))),
              (status = 400, body = Problem),
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
) -> ApiResult<Response> {
    let creator = caller.creator()?;
    let body = body.value()?;
    require_csv(&headers)?;
    let file = state
        .catalog
        .read_import(&body, params.currency.as_deref())?;
    let dry_run = params.dry_run.unwrap_or(false);
    if !wants_ndjson(&headers) {
        let run = state.catalog.start_import(creator, file, dry_run, None);
        let report = finish(run).await?;
        return Ok(axum::Json(report).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let run = state.catalog.start_import(creator, file, dry_run, Some(tx));
    let lines = progress_lines(rx, run).map(Ok::<Bytes, Infallible>);
    Ok((
        [
            (header::CONTENT_TYPE, NDJSON),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(lines),
    )
        .into_response())
}

/// The run's report once it has finished.
async fn finish(run: JoinHandle<CatalogResult<ImportReport>>) -> ApiResult<ImportReport> {
    match run.await {
        Ok(report) => Ok(report?),
        Err(e) => Err(ApiError::internal(format!("the import task failed: {e}"))),
    }
}

/// The stream's lines: each progress report as it comes, then the run's outcome.
fn progress_lines(
    rx: UnboundedReceiver<ImportProgress>,
    run: JoinHandle<CatalogResult<ImportReport>>,
) -> impl futures::Stream<Item = Bytes> {
    futures::stream::unfold((rx, Some(run)), |(mut rx, run)| async move {
        // The run drops its sender when it ends, so the progress runs out first.
        if let Some(progress) = rx.recv().await {
            return Some((line(&ImportLine::Progress(progress)), (rx, run)));
        }
        let last = match finish(run?).await {
            Ok(report) => ImportLine::Report(report),
            Err(e) => ImportLine::Error(problem(e)),
        };
        Some((line(&last), (rx, None)))
    })
}

fn line(value: &ImportLine) -> Bytes {
    let mut json = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    json.push(b'\n');
    Bytes::from(json)
}

/// The problem+json body an error would have had as an answer of its own.
fn problem(e: ApiError) -> Problem {
    Problem {
        type_: "about:blank".into(),
        title: e.status.canonical_reason().unwrap_or("Error").to_string(),
        status: e.status.as_u16(),
        detail: e.detail,
        code: e.code.to_string(),
        next_minimum: None,
    }
}

/// Whether the client asked for the progress stream.
fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(NDJSON)
        })
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
