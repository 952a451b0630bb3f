//! The creator's orders across all their shows, as the dashboard lists and exports them: which
//! orders a filter keeps, the newest-first order and its pages, and the CSV export (one row per
//! order line, every text cell through [`csv_safe`], so a spreadsheet never runs a buyer's name
//! as a formula). The service gathers the orders; the rules of what a page or a row is live here.

use std::collections::HashMap;

use uuid::Uuid;

use super::{Order, OrderStatus};
use crate::domain::export::csv_safe;
use crate::domain::{ProductId, ShowId, Timestamp};

/// An order with the title of its show, as `GET /api/me/orders` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatorOrder {
    #[serde(flatten)]
    pub order: Order,
    /// The title of the order's show.
    pub show_title: String,
}

/// Which of the creator's orders to list or export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub show: Option<ShowId>,
}

impl OrderFilter {
    pub fn keeps(&self, order: &Order) -> bool {
        self.status.is_none_or(|s| s == order.status)
            && self.show.is_none_or(|s| s == order.show_id)
    }
}

/// The sort key of an order in the newest-first listing: its creation time, then its id.
pub fn order_key(order: &CreatorOrder) -> (Timestamp, Uuid) {
    (order.order.created_at, order.order.id.0)
}

/// Sorts newest first (ties by id, descending, so the order is total).
pub fn newest_first(orders: &mut [CreatorOrder]) {
    orders.sort_by_key(|o| std::cmp::Reverse(order_key(o)));
}

/// The page of `sorted` (newest first) strictly older than `before` (from the newest when
/// `None`), at most `limit` long, and whether more follow. A key names a position that orders
/// placed later never shift.
pub fn page_before(
    sorted: Vec<CreatorOrder>,
    before: Option<(Timestamp, Uuid)>,
    limit: usize,
) -> (Vec<CreatorOrder>, bool) {
    let mut items: Vec<CreatorOrder> = sorted
        .into_iter()
        .filter(|o| before.is_none_or(|b| order_key(o) < b))
        .take(limit.saturating_add(1))
        .collect();
    let more = items.len() > limit;
    items.truncate(limit);
    (items, more)
}

/// The export's columns, in order.
pub const CSV_COLUMNS: [&str; 20] = [
    "order_id",
    "created_at",
    "status",
    "show_title",
    "buyer_name",
    "email",
    "shipping_name",
    "shipping_line1",
    "shipping_line2",
    "shipping_city",
    "shipping_state",
    "shipping_postal_code",
    "shipping_country",
    "sku",
    "title",
    "quantity",
    "unit_price",
    "order_total",
    "currency",
    "channel",
];

/// The export: a header, then one row per order line in the orders' order. `skus` maps a
/// product to its SKU (a product deleted since has none). Prices are decimal text in the
/// order's currency ("24.00"), times RFC 3339 UTC.
pub fn orders_csv(orders: &[CreatorOrder], skus: &HashMap<ProductId, String>) -> Vec<u8> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail: the errors are I/O errors of the writer.
    let _ = out.write_record(CSV_COLUMNS);
    for o in orders {
        for line in &o.order.items {
            let _ = out.write_record(row(o, line, skus));
        }
    }
    out.into_inner().unwrap_or_default()
}

fn row(
    o: &CreatorOrder,
    line: &super::OrderLine,
    skus: &HashMap<ProductId, String>,
) -> Vec<String> {
    let order = &o.order;
    let text = |s: &str| csv_safe(s).into_owned();
    let ship = order.shipping.as_deref();
    let ship_text =
        |f: fn(&super::Shipping) -> Option<&str>| ship.and_then(f).map(text).unwrap_or_default();
    let currency = order.total.currency;
    vec![
        order.id.to_string(),
        order
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        order.status.as_str().to_string(),
        text(&o.show_title),
        text(&order.buyer_name),
        order.email.as_deref().map(text).unwrap_or_default(),
        ship_text(|s| Some(&s.name)),
        ship_text(|s| Some(&s.line1)),
        ship_text(|s| s.line2.as_deref()),
        ship_text(|s| Some(&s.city)),
        ship_text(|s| s.state.as_deref()),
        ship_text(|s| Some(&s.postal_code)),
        ship_text(|s| Some(&s.country)),
        skus.get(&line.product_id)
            .map(|s| text(s))
            .unwrap_or_default(),
        text(&line.title),
        line.quantity.to_string(),
        line.unit_price
            .currency
            .format_decimal(line.unit_price.amount),
        currency.format_decimal(order.total.amount),
        currency.as_str().to_string(),
        order.channel.as_str().to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::commerce::{OrderLine, Shipping};
    use crate::domain::{Money, OrderId, ViewerId};

    fn order(n: u128, at: i64, status: OrderStatus) -> CreatorOrder {
        let price = Money::price(1250, "USD").unwrap();
        CreatorOrder {
            order: Order {
                id: OrderId(Uuid::from_u128(n)),
                show_id: ShowId(Uuid::from_u128(100 + n % 2)),
                viewer_id: ViewerId(Uuid::from_u128(7)),
                buyer_name: "=cmd".into(),
                status,
                items: vec![OrderLine {
                    product_id: ProductId(Uuid::from_u128(50)),
                    title: "Mug, \"blue\"".into(),
                    quantity: 2,
                    unit_price: price,
                    deal: false,
                }],
                total: Money::price(2500, "USD").unwrap(),
                created_at: chrono::DateTime::from_timestamp(1_800_000_000 + at, 0).unwrap(),
                reserved_until: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
                paid_at: None,
                failure: None,
                email: Some("kim@example.com".into()),
                shipping: Some(Box::new(Shipping {
                    name: "Kim Lee".into(),
                    line1: "1 Main St".into(),
                    line2: None,
                    city: "Springfield".into(),
                    postal_code: "12345".into(),
                    country: "US".into(),
                    state: Some("IL".into()),
                })),
                payment: None,
                refunded_at: None,
                channel: Default::default(),
            },
            show_title: "Show".into(),
        }
    }

    #[test]
    fn pages_go_newest_first_without_gaps_or_repeats() {
        let mut all: Vec<_> = (0..7)
            .map(|n| order(n, (n as i64) % 3, OrderStatus::Paid))
            .collect();
        newest_first(&mut all);
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let (page, more) = page_before(all.clone(), before, 3);
            seen.extend(page.iter().map(|o| o.order.id));
            before = page.last().map(order_key);
            if !more {
                break;
            }
        }
        let expected: Vec<_> = all.iter().map(|o| o.order.id).collect();
        assert_eq!(seen, expected);
        assert!(all.windows(2).all(|w| order_key(&w[0]) > order_key(&w[1])));
    }

    #[test]
    fn the_filter_keeps_status_and_show() {
        let paid = order(1, 0, OrderStatus::Paid);
        let refunded = order(2, 0, OrderStatus::Refunded);
        let by_status = OrderFilter {
            status: Some(OrderStatus::Paid),
            show: None,
        };
        assert!(by_status.keeps(&paid.order) && !by_status.keeps(&refunded.order));
        let by_show = OrderFilter {
            status: None,
            show: Some(paid.order.show_id),
        };
        assert!(by_show.keeps(&paid.order) && !by_show.keeps(&refunded.order));
        assert!(OrderFilter::default().keeps(&refunded.order));
    }

    #[test]
    fn csv_rows_are_quoted_and_formula_safe() {
        let o = order(1, 0, OrderStatus::Paid);
        let skus = HashMap::from([(ProductId(Uuid::from_u128(50)), "+SKU-1".to_string())]);
        let text = String::from_utf8(orders_csv(&[o], &skus)).unwrap();
        let mut lines = text.split("\r\n");
        assert_eq!(lines.next().unwrap(), CSV_COLUMNS.join(","));
        let row = lines.next().unwrap();
        assert!(row.contains(",'=cmd,"), "{row}");
        assert!(
            row.contains(",'+SKU-1,\"Mug, \"\"blue\"\"\",2,12.50,25.00,USD,live"),
            "{row}"
        );
        assert!(
            row.contains(",Kim Lee,1 Main St,,Springfield,IL,12345,US,"),
            "{row}"
        );
    }
}
