//! Reading a Shopify product export (CSV) into catalog rows.
//!
//! Shopify writes one row per variant; the first row of a handle carries the product's title,
//! body and image, and later rows of the same handle carry only variant columns. Each variant
//! with a SKU becomes one livesale product. Rows that only add images are skipped. A bad row is
//! reported with its line number and never stops the good ones; only a file that is not a CSV
//! with the needed columns is refused as a whole.

use std::collections::HashMap;

use super::{Currency, DomainError, Money, NewProduct, catalog};

/// One data row's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportRow {
    /// A variant that becomes (or updates) a product.
    Product { line: u64, fields: NewProduct },
    /// A row that cannot be imported, with the reason.
    Rejected { line: u64, reason: String },
}

const HANDLE: &str = "Handle";
const TITLE: &str = "Title";
const BODY: &str = "Body (HTML)";
const SKU: &str = "Variant SKU";
const PRICE: &str = "Variant Price";
const QTY: &str = "Variant Inventory Qty";
const IMAGE: &str = "Image Src";
const VARIANT_IMAGE: &str = "Variant Image";
const OPTIONS: [&str; 3] = ["Option1 Value", "Option2 Value", "Option3 Value"];

#[derive(Default, Clone)]
struct HandleInfo {
    title: String,
    body: Option<String>,
    image: Option<String>,
}

/// Parses `bytes` as a Shopify export with prices in `currency`.
pub fn parse_shopify_csv(bytes: &[u8], currency: Currency) -> Result<Vec<ImportRow>, DomainError> {
    let malformed = |why: String| DomainError::invalid("invalid_csv", why);
    let text =
        std::str::from_utf8(bytes).map_err(|_| malformed("the file is not UTF-8 text".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| malformed(format!("cannot read the header row: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(handle_col), Some(sku_col), Some(price_col)) = (col(HANDLE), col(SKU), col(PRICE))
    else {
        return Err(malformed(format!(
            "not a Shopify product export: the header must name '{HANDLE}', '{SKU}' and '{PRICE}'"
        )));
    };
    let (title_col, body_col, qty_col) = (col(TITLE), col(BODY), col(QTY));
    let (image_col, vimage_col) = (col(IMAGE), col(VARIANT_IMAGE));
    let option_cols: Vec<usize> = OPTIONS.iter().filter_map(|o| col(o)).collect();

    let mut handles: HashMap<String, HandleInfo> = HashMap::new();
    let mut seen_skus: HashMap<String, u64> = HashMap::new();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken record (e.g. an unterminated quote) is that row's problem; the
                // reader cannot resynchronise after some errors, so stop at the first one.
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                rows.push(ImportRow::Rejected {
                    line,
                    reason: format!("malformed CSV row: {e}"),
                });
                break;
            }
        }
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).map(str::trim).unwrap_or("");
        let handle = get(Some(handle_col));
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if handle.is_empty() {
            rows.push(ImportRow::Rejected {
                line,
                reason: "the row has no Handle".into(),
            });
            continue;
        }
        let info = handles.entry(handle.to_string()).or_default();
        let title = get(title_col);
        if !title.is_empty() && info.title.is_empty() {
            info.title = title.to_string();
            info.body = Some(html_to_text(get(body_col))).filter(|b| !b.is_empty());
        }
        let image = get(image_col);
        if !image.is_empty() && info.image.is_none() {
            info.image = Some(image.to_string());
        }
        let sku = get(Some(sku_col));
        let price = get(Some(price_col));
        if sku.is_empty() && price.is_empty() {
            // An image-only row (or a variant row with nothing to sell): nothing to import.
            continue;
        }
        let info = info.clone();
        let reject = |reason: String| ImportRow::Rejected { line, reason };
        if sku.is_empty() {
            rows.push(reject("the variant has no SKU".into()));
            continue;
        }
        if info.title.is_empty() {
            rows.push(reject(format!(
                "no title for handle '{handle}' (its first row must carry the Title)"
            )));
            continue;
        }
        if let Some(first) = seen_skus.get(sku) {
            rows.push(reject(format!(
                "SKU '{sku}' already appears on line {first}"
            )));
            continue;
        }
        let amount = match currency.parse_decimal(price) {
            Ok(a) => a,
            Err(e) => {
                rows.push(reject(e.message));
                continue;
            }
        };
        let qty = get(qty_col);
        let stock = if qty.is_empty() {
            0
        } else {
            match qty.parse::<i64>() {
                Ok(n) if (0..=catalog::MAX_STOCK).contains(&n) => n,
                _ => {
                    rows.push(reject(format!(
                        "'{qty}' is not an inventory quantity (a whole number from 0)"
                    )));
                    continue;
                }
            }
        };
        let options: Vec<&str> = option_cols
            .iter()
            .map(|c| get(Some(*c)))
            .filter(|v| !v.is_empty() && *v != "Default Title")
            .collect();
        let title = if options.is_empty() {
            info.title.clone()
        } else {
            format!("{} — {}", info.title, options.join(" / "))
        };
        let variant_image = get(vimage_col);
        let image_url = if variant_image.is_empty() {
            info.image.clone()
        } else {
            Some(variant_image.to_string())
        };
        let fields = NewProduct {
            sku: sku.to_string(),
            title,
            description: info.body.clone(),
            image_url,
            price: Money { amount, currency },
            stock,
        };
        match fields.validate() {
            Ok(fields) => {
                seen_skus.insert(sku.to_string(), line);
                rows.push(ImportRow::Product { line, fields });
            }
            Err(e) => rows.push(reject(e.message)),
        }
    }
    Ok(rows)
}

/// Turns Shopify's Body (HTML) into plain text: tags dropped, block tags become line breaks,
/// the common entities decoded. Chat and product text is never rendered as HTML.
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end]
            .trim_start_matches('/')
            .to_ascii_lowercase();
        let name = tag
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        if matches!(
            name,
            "br" | "p" | "div" | "li" | "ul" | "ol" | "h1" | "h2" | "h3" | "tr"
        ) && !out.ends_with('\n')
            && !out.is_empty()
        {
            out.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let text: String = decoded
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    text.chars()
        .take(catalog::MAX_PRODUCT_DESCRIPTION)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Handle,Title,Body (HTML),Option1 Name,Option1 Value,Variant SKU,Variant Inventory Qty,Variant Price,Image Src\n";

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn variants_become_products_and_bad_rows_are_reported_by_line() {
        let csv = format!(
            "{HEADER}\
             mug,Mug,\"<p>Big &amp; <b>bold</b></p>\",Color,Blue,MUG-B,4,18.00,https://x.test/m.png\n\
             mug,,,,Red,MUG-R,2,18.50,\n\
             mug,,,,,,,,https://x.test/m2.png\n\
             hat,Hat,,Title,Default Title,HAT-1,-3,9.00,\n\
             ghost,,,,,GH-1,1,5.00,\n\
             cap,Cap,,Title,Default Title,,1,5.00,\n\
             tee,Tee,,Title,Default Title,TEE-1,1,1.999,\n"
        );
        let rows = parse_shopify_csv(csv.as_bytes(), usd()).unwrap();
        let products: Vec<_> = rows
            .iter()
            .filter_map(|r| match r {
                ImportRow::Product { line, fields } => Some((*line, fields.clone())),
                _ => None,
            })
            .collect();
        let rejected: Vec<u64> = rows
            .iter()
            .filter_map(|r| match r {
                ImportRow::Rejected { line, .. } => Some(*line),
                _ => None,
            })
            .collect();
        assert_eq!(products.len(), 2);
        assert_eq!(products[0].0, 2);
        assert_eq!(products[0].1.title, "Mug — Blue");
        assert_eq!(products[0].1.description.as_deref(), Some("Big & bold"));
        assert_eq!(products[0].1.price.amount, 1800);
        assert_eq!(products[1].1.title, "Mug — Red");
        assert_eq!(
            products[1].1.image_url.as_deref(),
            Some("https://x.test/m.png")
        );
        assert_eq!(rejected, vec![5, 6, 7, 8]);
    }

    #[test]
    fn a_file_without_the_needed_columns_is_refused_whole() {
        assert_eq!(
            parse_shopify_csv(b"name,price\nx,1\n", usd())
                .unwrap_err()
                .code,
            "invalid_csv"
        );
        assert_eq!(
            parse_shopify_csv(&[0xff, 0xfe, 0x00, 0x01], usd())
                .unwrap_err()
                .code,
            "invalid_csv"
        );
    }

    #[test]
    fn duplicate_skus_in_one_file_are_rejected() {
        let csv = format!("{HEADER}a,A,,,,S1,1,1.00,\nb,B,,,,S1,1,2.00,\n");
        let rows = parse_shopify_csv(csv.as_bytes(), usd()).unwrap();
        assert!(matches!(rows[1], ImportRow::Rejected { line: 3, .. }));
    }
}
