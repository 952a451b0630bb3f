//! Reading a Shopify product export (CSV) into catalog rows.
//!
//! Shopify writes one row per variant; the first row of a handle carries the product's title,
//! body and image, and later rows of the same handle carry only variant columns. Each variant
//! with a SKU becomes one livesale product. Rows that only add images are skipped. A bad row is
//! reported with its line number and never stops the good ones; only a file that is not a CSV
//! with the needed columns is refused as a whole.

use std::collections::HashMap;

use super::{Code, Currency, DomainError, Money, NewProduct, catalog};

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
    let text = utf8_text(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| malformed(format!("cannot read the header row: {e}")))?;
    let mut parser = Parser {
        columns: Columns::find(headers)?,
        currency,
        handles: HashMap::new(),
        seen_skus: HashMap::new(),
    };
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => rows.extend(parser.row(line, &record)),
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
    }
    Ok(rows)
}

/// A refusal of the whole file.
fn malformed(why: String) -> DomainError {
    DomainError::invalid(Code::InvalidCsv, why)
}

/// The file as text, without a leading byte order mark.
fn utf8_text(bytes: &[u8]) -> Result<&str, DomainError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| malformed("the file is not UTF-8 text".into()))?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Where the columns the import reads are; only handle, SKU and price are required.
struct Columns {
    handle: usize,
    sku: usize,
    price: usize,
    title: Option<usize>,
    body: Option<usize>,
    qty: Option<usize>,
    image: Option<usize>,
    variant_image: Option<usize>,
    options: Vec<usize>,
}

impl Columns {
    fn find(headers: &csv::StringRecord) -> Result<Columns, DomainError> {
        let col = |name: &str| headers.iter().position(|h| h.trim() == name);
        let (Some(handle), Some(sku), Some(price)) = (col(HANDLE), col(SKU), col(PRICE)) else {
            return Err(malformed(format!(
                "not a Shopify product export: the header must name '{HANDLE}', '{SKU}' and '{PRICE}'"
            )));
        };
        Ok(Columns {
            handle,
            sku,
            price,
            title: col(TITLE),
            body: col(BODY),
            qty: col(QTY),
            image: col(IMAGE),
            variant_image: col(VARIANT_IMAGE),
            options: OPTIONS.iter().filter_map(|o| col(o)).collect(),
        })
    }
}

/// A record's field in column `c`, trimmed; empty when the column or the field is missing.
fn field(record: &csv::StringRecord, c: Option<usize>) -> &str {
    c.and_then(|c| record.get(c)).map(str::trim).unwrap_or("")
}

/// The state of one file's parse: what each handle's first row said, and where each SKU was.
struct Parser {
    columns: Columns,
    currency: Currency,
    handles: HashMap<String, HandleInfo>,
    seen_skus: HashMap<String, u64>,
}

impl Parser {
    /// One data row's outcome; `None` for a row with nothing to import (blank, image-only).
    fn row(&mut self, line: u64, record: &csv::StringRecord) -> Option<ImportRow> {
        let get = |c: usize| field(record, Some(c));
        let handle = get(self.columns.handle);
        if record.iter().all(|f| f.trim().is_empty()) {
            return None;
        }
        if handle.is_empty() {
            let reason = "the row has no Handle".into();
            return Some(ImportRow::Rejected { line, reason });
        }
        let info = self.note_handle(handle, record);
        let (sku, price) = (get(self.columns.sku), get(self.columns.price));
        if sku.is_empty() && price.is_empty() {
            // An image-only row (or a variant row with nothing to sell): nothing to import.
            return None;
        }
        Some(match self.variant(handle, &info, record) {
            Ok(fields) => {
                self.seen_skus.insert(sku.to_string(), line);
                ImportRow::Product { line, fields }
            }
            Err(reason) => ImportRow::Rejected { line, reason },
        })
    }

    /// Takes the product's title, body and image from the first row of `handle` that has
    /// them; answers what is known of the handle so far.
    fn note_handle(&mut self, handle: &str, record: &csv::StringRecord) -> HandleInfo {
        let get = |c: Option<usize>| field(record, c);
        let info = self.handles.entry(handle.to_string()).or_default();
        let title = get(self.columns.title);
        if !title.is_empty() && info.title.is_empty() {
            info.title = title.to_string();
            info.body = Some(html_to_text(get(self.columns.body))).filter(|b| !b.is_empty());
        }
        let image = get(self.columns.image);
        if !image.is_empty() && info.image.is_none() {
            info.image = Some(image.to_string());
        }
        info.clone()
    }

    /// The product a variant row describes, or why it cannot be imported.
    fn variant(
        &self,
        handle: &str,
        info: &HandleInfo,
        record: &csv::StringRecord,
    ) -> Result<NewProduct, String> {
        let get = |c: Option<usize>| field(record, c);
        let sku = get(Some(self.columns.sku));
        if sku.is_empty() {
            return Err("the variant has no SKU".into());
        }
        if info.title.is_empty() {
            return Err(format!(
                "no title for handle '{handle}' (its first row must carry the Title)"
            ));
        }
        if let Some(first) = self.seen_skus.get(sku) {
            return Err(format!("SKU '{sku}' already appears on line {first}"));
        }
        let amount = self
            .currency
            .parse_decimal(get(Some(self.columns.price)))
            .map_err(|e| e.message)?;
        let stock = stock(get(self.columns.qty))?;
        let options: Vec<&str> = self
            .columns
            .options
            .iter()
            .map(|c| get(Some(*c)))
            .filter(|v| !v.is_empty() && *v != "Default Title")
            .collect();
        let title = if options.is_empty() {
            info.title.clone()
        } else {
            format!("{} — {}", info.title, options.join(" / "))
        };
        let variant_image = get(self.columns.variant_image);
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
            price: Money {
                amount,
                currency: self.currency,
            },
            stock,
        };
        fields.validate().map_err(|e| e.message)
    }
}

/// The inventory quantity of a variant: 0 when blank.
fn stock(qty: &str) -> Result<i64, String> {
    if qty.is_empty() {
        return Ok(0);
    }
    match qty.parse::<i64>() {
        Ok(n) if (0..=catalog::MAX_STOCK).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{qty}' is not an inventory quantity (a whole number from 0)"
        )),
    }
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

    #[test]
    fn a_byte_order_mark_and_a_blank_quantity_are_fine() {
        let csv = format!("\u{feff}{HEADER}mug,Mug,,,,MUG-1,,18.00,\n");
        let rows = parse_shopify_csv(csv.as_bytes(), usd()).unwrap();
        let [ImportRow::Product { line: 2, fields }] = rows.as_slice() else {
            panic!("one product: {rows:?}");
        };
        assert_eq!((fields.sku.as_str(), fields.stock), ("MUG-1", 0));
    }

    #[test]
    fn quantities_are_whole_numbers_within_the_stock_limit() {
        assert_eq!(stock("7"), Ok(7));
        assert_eq!(stock(""), Ok(0));
        assert_eq!(
            stock(&catalog::MAX_STOCK.to_string()),
            Ok(catalog::MAX_STOCK)
        );
        for bad in ["-1", "1.5", "ten", "1000000001"] {
            assert!(stock(bad).is_err(), "{bad}");
        }
    }
}
