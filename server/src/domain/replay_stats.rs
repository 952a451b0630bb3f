//! Replay metrics, pure: what a view beacon says ([`ViewBeat`]) and the watch time it counts
//! (clamped to the recording), the cap on views per show, the rate of beacons per client
//! address, and a show's paid sales split by channel ([`sales_by_channel`]). The store keeps
//! the counts (`store::replay_stats`); `services::replay_stats` applies these rules.

use std::collections::BTreeMap;
use std::time::Duration;

use uuid::Uuid;

use super::commerce::{Order, OrderStatus, SalesChannel};
use super::{Code, Currency, DomainError, Money};

/// Most distinct views counted per show. Past it, a new view id is not counted and its watch
/// time is not either (views already counted go on counting theirs): a bound on the store's
/// memory per show that no real replay audience of one show reaches soon.
pub const MAX_REPLAY_VIEWS: u64 = 100_000;

/// Beacons one client address may send (any show) per [`BEAT_PERIOD`]: a playing page sends
/// one about every 10 s, so this lets some 20 viewers behind one address (a household, an
/// office's NAT) count, and stops one script from flooding the store.
pub const BEATS_PER_ADDRESS: u32 = 120;
pub const BEAT_PERIOD: Duration = Duration::from_secs(60);

/// `POST /api/shows/{id}/replay/views`: one view's beacon.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewBeat {
    /// The view: a UUID the page makes when it starts playing (a new one for each view).
    #[schema(value_type = String, format = Uuid)]
    pub view_id: Uuid,
    /// Milliseconds of the replay watched in this view so far (cumulative; the largest a view
    /// reports counts, up to the recording's duration).
    #[schema(minimum = 0)]
    pub watched_ms: f64,
}

impl ViewBeat {
    /// The watch time the beat counts, in whole ms: `watched_ms` clamped to
    /// `[0, duration_ms]`; a negative figure is refused (422 `invalid_body`).
    pub fn counted_ms(&self, duration_ms: u64) -> Result<u64, DomainError> {
        if self.watched_ms.is_nan() || self.watched_ms < 0.0 {
            return Err(DomainError::invalid(
                Code::InvalidBody,
                "watched_ms must be a number of milliseconds, 0 or more",
            ));
        }
        // `as` saturates (a huge float becomes u64::MAX), then the clamp.
        Ok((self.watched_ms.floor() as u64).min(duration_ms))
    }
}

/// A channel's paid sales: orders, units, and the revenue in each currency.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct ChannelSales {
    /// Paid orders (refunded, failed, expired and pending ones are not counted).
    pub orders: u64,
    /// Units in those orders.
    pub units: i64,
    /// Their totals, one entry per currency (in code order; empty with no orders).
    pub revenue: Vec<Money>,
}

/// A show's paid sales, live and from the replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sales {
    pub live: ChannelSales,
    pub replay: ChannelSales,
}

/// The paid orders of `orders` (one show's), split by channel.
pub fn sales_by_channel(orders: &[Order]) -> Sales {
    let mut sums: [BTreeMap<&str, (Currency, i64)>; 2] = Default::default();
    let mut sales = Sales::default();
    for o in orders.iter().filter(|o| o.status == OrderStatus::Paid) {
        let (i, channel) = match o.channel {
            SalesChannel::Live => (0, &mut sales.live),
            SalesChannel::Replay => (1, &mut sales.replay),
        };
        channel.orders += 1;
        channel.units = o
            .items
            .iter()
            .fold(channel.units, |n, l| n.saturating_add(l.quantity));
        let sum = sums[i]
            .entry(o.total.currency.as_str())
            .or_insert((o.total.currency, 0));
        sum.1 = sum.1.saturating_add(o.total.amount);
    }
    for (i, channel) in [&mut sales.live, &mut sales.replay].into_iter().enumerate() {
        channel.revenue = sums[i]
            .values()
            .map(|&(currency, amount)| Money { amount, currency })
            .collect();
    }
    sales
}

/// `GET /api/shows/{id}/replay/stats`: the replay's audience, and the show's sales by channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ReplayStats {
    /// Distinct views of the replay (view ids that sent a beacon).
    pub views: u64,
    /// Seconds watched: over the views, each one's furthest report, clamped to the
    /// recording's duration (whole seconds, rounded down).
    pub watch_time_s: u64,
    /// Paid orders while the show was scheduled or live.
    pub live: ChannelSales,
    /// Paid orders from the replay, after the end.
    pub replay: ChannelSales,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::commerce::OrderLine;
    use crate::domain::{OrderId, ProductId, ShowId, ViewerId};

    fn beat(ms: f64) -> ViewBeat {
        ViewBeat {
            view_id: Uuid::from_u128(1),
            watched_ms: ms,
        }
    }

    #[test]
    fn a_beat_counts_whole_ms_up_to_the_recording() {
        assert_eq!(beat(1500.7).counted_ms(60_000).unwrap(), 1500);
        assert_eq!(beat(90_000.0).counted_ms(60_000).unwrap(), 60_000);
        assert_eq!(beat(1e300).counted_ms(60_000).unwrap(), 60_000);
        assert_eq!(beat(0.0).counted_ms(60_000).unwrap(), 0);
        let refused = beat(-1.0).counted_ms(60_000).unwrap_err();
        assert_eq!(refused.code, Code::InvalidBody);
    }

    fn order(n: u128, channel: SalesChannel, status: OrderStatus, amount: i64, cur: &str) -> Order {
        let price = Money::price(amount, cur).unwrap();
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Order {
            id: OrderId(Uuid::from_u128(n)),
            show_id: ShowId(Uuid::from_u128(9)),
            viewer_id: ViewerId(Uuid::from_u128(7)),
            buyer_name: "Kim".into(),
            status,
            items: vec![OrderLine {
                product_id: ProductId(Uuid::from_u128(50)),
                title: "Mug".into(),
                quantity: 2,
                unit_price: price,
                deal: false,
            }],
            total: Money {
                amount: amount * 2,
                currency: price.currency,
            },
            created_at: at,
            reserved_until: at,
            paid_at: None,
            failure: None,
            email: None,
            shipping: None,
            payment: None,
            refunded_at: None,
            channel,
        }
    }

    #[test]
    fn sales_split_by_channel_count_only_paid_orders_per_currency() {
        use OrderStatus::*;
        use SalesChannel::*;
        let orders = [
            order(1, Live, Paid, 1000, "USD"),
            order(2, Replay, Paid, 500, "USD"),
            order(3, Replay, Paid, 700, "EUR"),
            order(4, Replay, Refunded, 900, "USD"),
            order(5, Live, Failed, 900, "USD"),
            order(6, Replay, PendingPayment, 900, "USD"),
        ];
        let s = sales_by_channel(&orders);
        assert_eq!(s.live.orders, 1);
        assert_eq!(s.live.units, 2);
        assert_eq!(s.live.revenue, [Money::price(2000, "USD").unwrap()]);
        assert_eq!(s.replay.orders, 2);
        assert_eq!(s.replay.units, 4);
        assert_eq!(
            s.replay.revenue,
            [
                Money::price(1400, "EUR").unwrap(),
                Money::price(1000, "USD").unwrap()
            ]
        );
        assert_eq!(sales_by_channel(&[]), Sales::default());
    }
}
