//! Cursor pagination of the API's listings (`GET /api/shows`, `GET /api/products`): the query
//! parameters, the opaque cursor, and the page's JSON shape. The store does the paging
//! ([`crate::store::Store::shows_page`]); this module only translates.
//!
//! A cursor is the sort key of the last item of a page (its time, then its id), so it names a
//! position that later inserts never shift. It is 28 bytes (seconds and nanoseconds since the
//! epoch, then the id) as 38 characters of unpadded base64url, and every string of that shape
//! is a cursor (a time past the representable range is clamped), so the pattern in the
//! OpenAPI document tells a client exactly which values the server takes.

use base64::Engine;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use chrono::DateTime;

use super::error::ApiError;
use crate::domain::Code;
use crate::store::{Page, PageAfter};

/// Items per page when the request names no `limit`.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest `limit` a request may ask for.
pub const MAX_LIMIT: u32 = 200;
/// Characters of a cursor (28 bytes of unpadded base64url).
const CURSOR_CHARS: usize = 38;

/// The cursor alphabet, lenient about the 4 unused bits of the last character so that every
/// string of the documented pattern decodes.
const CURSOR: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// `?legacy=1`: the listing's old answer (the whole list), kept for one release.
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema)]
pub enum Legacy {
    #[serde(rename = "1")]
    One,
}

/// The query of a paginated listing.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page; absent for the first page.
    #[param(pattern = "^[A-Za-z0-9_-]{38}$")]
    cursor: Option<String>,
    /// `1` answers the old shape instead (the whole list, without paging), for one release.
    #[param(inline)]
    legacy: Option<Legacy>,
}

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageRequest {
    pub after: Option<PageAfter>,
    pub limit: usize,
    pub legacy: bool,
}

impl PageParams {
    /// The paging part of a listing's own query (one that also filters).
    pub fn of(limit: Option<u32>, cursor: Option<String>) -> Self {
        PageParams {
            limit,
            cursor,
            legacy: None,
        }
    }

    /// The limit and cursor, or 422 `invalid_limit` / `invalid_cursor`.
    pub fn check(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                Code::InvalidLimit,
                format!("limit must be 1-{MAX_LIMIT}"),
            ));
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(PageRequest {
            after,
            limit: limit as usize,
            legacy: self.legacy.is_some(),
        })
    }
}

/// The `next_cursor` of a page: after its last item (sort key `key`), or none on the last page.
pub fn next_cursor<T>(found: &Page<T>, key: impl Fn(&T) -> PageAfter) -> Option<String> {
    if !found.more {
        return None;
    }
    found.items.last().map(|last| encode_cursor(key(last)))
}

/// The cursor of the page after the item with sort key `last`.
pub fn encode_cursor(last: PageAfter) -> String {
    let mut bytes = Vec::with_capacity(28);
    bytes.extend_from_slice(&last.at.timestamp().to_be_bytes());
    bytes.extend_from_slice(&last.at.timestamp_subsec_nanos().to_be_bytes());
    bytes.extend_from_slice(last.id.as_bytes());
    CURSOR.encode(bytes)
}

/// A cursor back to its sort key, or 422 `invalid_cursor`.
pub fn decode_cursor(text: &str) -> Result<PageAfter, ApiError> {
    let invalid = || {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Code::InvalidCursor,
            "cursor must be the next_cursor of an earlier page",
        )
    };
    if text.len() != CURSOR_CHARS {
        return Err(invalid());
    }
    let bytes = CURSOR.decode(text).map_err(|_| invalid())?;
    let (secs, rest) = bytes.split_first_chunk::<8>().ok_or_else(invalid)?;
    let (nanos, id) = rest.split_first_chunk::<4>().ok_or_else(invalid)?;
    let id = uuid::Uuid::from_slice(id).map_err(|_| invalid())?;
    let secs = i64::from_be_bytes(*secs);
    let nanos = u32::from_be_bytes(*nanos).min(999_999_999);
    // A time outside chrono's range sorts before or after every item: clamp it there.
    let at = DateTime::from_timestamp(secs, nanos).unwrap_or(if secs < 0 {
        DateTime::<chrono::Utc>::MIN_UTC
    } else {
        DateTime::<chrono::Utc>::MAX_UTC
    });
    Ok(PageAfter { at, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_exactly() {
        let at = DateTime::from_timestamp(1_790_000_000, 123_456_789).unwrap();
        let key = PageAfter {
            at,
            id: uuid::Uuid::now_v7(),
        };
        let text = encode_cursor(key);
        assert_eq!(text.len(), CURSOR_CHARS);
        assert_eq!(decode_cursor(&text).unwrap(), key);
    }

    #[test]
    fn every_string_of_the_pattern_is_a_cursor_and_others_are_not() {
        assert!(decode_cursor(&"A".repeat(38)).is_ok());
        assert!(decode_cursor(&"_".repeat(38)).is_ok());
        assert!(decode_cursor(&"-".repeat(38)).is_ok());
        for bad in [
            "",
            "abc",
            &"A".repeat(37),
            &"A".repeat(39),
            &format!("{}=", "A".repeat(37)),
        ] {
            assert_eq!(
                decode_cursor(bad).unwrap_err().code,
                "invalid_cursor",
                "{bad:?}"
            );
        }
    }
}
