//! Chapters of a show: the moments the replay is cut into (a pin, a deal starting, a sell-out,
//! a program cut, a creator's marker), each at the absolute `pts` (server Unix ms) of the room
//! event it comes from. Pure rules: the kinds, a title's bounds, where a chapter sits in the
//! replay, and how a listing is ordered.

use super::{Code, DomainError, Money, Product, ProductId, names};

/// Chapters kept per show; past it new ones are refused (and counted), old ones are kept.
pub const MAX_CHAPTERS: usize = 2_000;
/// Longest chapter title, in characters.
pub const MAX_TITLE_CHARS: usize = 80;

/// What made a chapter.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChapterKind {
    /// A product was pinned (title: the product's).
    Pin,
    /// A pin with a flash deal (title: the product's and the deal price).
    Deal,
    /// A product's stock ran out.
    SoldOut,
    /// The program cut to another camera (title: the camera's label).
    Cut,
    /// The creator's own marker (title: their text).
    Marker,
}

/// One chapter as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Chapter {
    /// Unique in the show.
    pub id: String,
    /// Server wall clock (Unix ms): the `pts` of the room event it comes from.
    pub pts: i64,
    pub kind: ChapterKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
    pub title: String,
    #[serde(default)]
    pub hidden: bool,
}

/// A chapter to record with the room event that makes it, before the event's `pts` is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub kind: ChapterKind,
    pub product_id: Option<ProductId>,
    pub title: String,
    /// Recorded at most once per show under this key (a sell-out: once per product).
    pub once: Option<String>,
}

impl Draft {
    /// A product pinned, with its deal price when the pin has a deal.
    pub fn pin(product: &Product, deal_price: Option<Money>) -> Draft {
        match deal_price {
            None => Draft {
                kind: ChapterKind::Pin,
                product_id: Some(product.id),
                title: clip(&product.title),
                once: None,
            },
            Some(price) => {
                let price = format!(
                    "{} {}",
                    price.currency.format_decimal(price.amount),
                    price.currency.as_str()
                );
                let room = MAX_TITLE_CHARS.saturating_sub(price.chars().count() + 3);
                let name: String = product.title.trim().chars().take(room).collect();
                Draft {
                    kind: ChapterKind::Deal,
                    product_id: Some(product.id),
                    title: clip(&format!("{name} · {price}")),
                    once: None,
                }
            }
        }
    }

    /// A product's stock ran out: once per product and show.
    pub fn sold_out(product: ProductId, title: &str) -> Draft {
        Draft {
            kind: ChapterKind::SoldOut,
            product_id: Some(product),
            title: clip(title),
            once: Some(format!("sold_out:{product}")),
        }
    }

    /// The program cut to the camera labelled `label`.
    pub fn cut(label: &str) -> Draft {
        Draft {
            kind: ChapterKind::Cut,
            product_id: None,
            title: clip(label),
            once: None,
        }
    }

    /// The chapter at `pts`, with a fresh id (`random`: any random bits).
    pub fn at(self, pts: i64, random: u32) -> Chapter {
        Chapter {
            id: new_id(pts, random),
            pts,
            kind: self.kind,
            product_id: self.product_id,
            title: self.title,
            hidden: false,
        }
    }
}

/// A chapter title: trimmed, 1–80 characters, no control or bidi-override characters
/// ([`names::is_forbidden_char`], as a show's title).
pub fn title(text: &str) -> Result<String, DomainError> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_TITLE_CHARS || text.chars().any(names::is_forbidden_char) {
        return Err(DomainError::invalid(
            Code::InvalidTitle,
            format!(
                "a chapter title is 1-{MAX_TITLE_CHARS} characters, without control or bidi-override characters"
            ),
        ));
    }
    Ok(text.to_string())
}

/// A generated title cut to [`MAX_TITLE_CHARS`] (a long product title or camera label).
pub fn clip(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_TITLE_CHARS {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX_TITLE_CHARS - 1).collect();
    out.push('…');
    out
}

/// Where a chapter sits in the replay: ms after `origin_ms` (the recording's first segment),
/// never negative (a chapter made before the first segment sits at its start).
pub fn at_ms(pts: i64, origin_ms: i64) -> i64 {
    pts.saturating_sub(origin_ms).max(0)
}

/// Orders chapters by time, then by id (two chapters of one millisecond keep a stable order).
pub fn sort(chapters: &mut [Chapter]) {
    chapters.sort_by(|a, b| a.pts.cmp(&b.pts).then_with(|| a.id.cmp(&b.id)));
}

/// The id of a new chapter: its time in 13 digits and a random tail, so ids sort by time.
pub fn new_id(pts: i64, random: u32) -> String {
    format!("{:013}-{random:08x}", pts.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_bounded_and_trimmed() {
        assert_eq!(title("  Intro ").unwrap(), "Intro");
        assert!(title("").is_err());
        assert!(title("   ").is_err());
        assert!(title(&"x".repeat(81)).is_err());
        assert_eq!(title(&"é".repeat(80)).unwrap().chars().count(), 80);
        assert!(title("a\u{7}b").is_err());
        assert!(title("a\u{202e}b").is_err());
    }

    #[test]
    fn clipped_titles_fit() {
        assert_eq!(clip("Mug"), "Mug");
        assert_eq!(clip(&"y".repeat(200)).chars().count(), MAX_TITLE_CHARS);
    }

    #[test]
    fn replay_times_count_from_the_origin() {
        assert_eq!(at_ms(1_500, 1_000), 500);
        assert_eq!(at_ms(900, 1_000), 0);
    }

    #[test]
    fn ids_sort_by_time() {
        assert!(new_id(999, 5) < new_id(1_000, 1));
    }
}
