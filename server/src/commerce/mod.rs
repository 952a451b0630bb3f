//! Commerce adapters: the payment seam ([`payment`]), Stripe's API and webhook signatures
//! ([`stripe`]), webhook delivery ([`webhooks`]), and
//! the room's commerce news (`pin.updated` and `purchase` broadcasts, serialized and
//! coalesced per show). What happens when (checkout, pins, the reservation sweeper, deal ends)
//! is `services::commerce`, which calls these; the rules are in `domain::commerce`.

pub mod payment;
pub mod stripe;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::clock::Clock;
use crate::domain::chapter::Draft;
use crate::domain::commerce::{Order, PinView, SalesChannel};
use crate::domain::protocol::Broadcast;
use crate::domain::{Show, ShowId, Timestamp};
use crate::hub::Hub;
use crate::store::{CatalogStore, CommerceStore, StoreError};

/// The show's pins as the room sees them at `now`: the pins from `commerce`, each with its
/// product from `catalog`.
pub async fn pin_views(
    commerce: &dyn CommerceStore,
    catalog: &dyn CatalogStore,
    show: &Show,
    now: Timestamp,
) -> Result<Vec<PinView>, StoreError> {
    let mut views = Vec::new();
    for state in commerce.pins(show).await? {
        if let Some(product) = catalog.product(state.pin.product_id).await? {
            views.push(PinView::new(&product, &state.pin, state.deal, now));
        }
    }
    Ok(views)
}

/// One lock per show for reading and broadcasting its pins on this node. Without it two
/// concurrent announcements (two purchases, a purchase and a pin) can publish their reads in
/// the opposite order, and the room's last `pin.updated` shows an older stock than the store
/// holds until the next change.
///
/// Announcements also coalesce: `wanted` counts the announcements asked for, and the lock
/// holds the count that the last successful announcement covers (it loaded `wanted` before
/// reading the store and the clock, so it saw every change made, and every deal end passed,
/// before those announcements were asked for). An announcement that finds itself covered once
/// it has the lock returns at once: in a flash drop, hundreds of purchases queue for the lock,
/// and without this each waited for every earlier one's reads and broadcast.
#[derive(Default)]
struct PinsLock {
    wanted: AtomicU64,
    covered: tokio::sync::Mutex<u64>,
}

fn pins_lock(show: ShowId) -> Arc<PinsLock> {
    type Locks = HashMap<ShowId, Arc<PinsLock>>;
    static LOCKS: OnceLock<std::sync::Mutex<Locks>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if locks.len() >= 1024 {
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
    }
    locks.entry(show).or_default().clone()
}

/// Reads the show's pins and broadcasts them as `pin.updated`, serialized per show so that
/// a later broadcast never carries an older read; returns what was broadcast. `chapter` (a pin
/// or a deal starting) is recorded at the broadcast's `pts`.
pub async fn publish_pins(
    commerce: &dyn CommerceStore,
    catalog: &dyn CatalogStore,
    hub: &Hub,
    show: &Show,
    now: Timestamp,
    chapter: Draft,
) -> Result<Vec<PinView>, StoreError> {
    // Covers no announcement: `now` was taken before the lock, maybe before a deal ended.
    let lock = pins_lock(show.id);
    let _serial = lock.covered.lock().await;
    let pins = pin_views(commerce, catalog, show, now).await?;
    hub.publish_chapter(show, &Broadcast::PinUpdated { pins: pins.clone() }, chapter)
        .await?;
    Ok(pins)
}

/// Broadcasts the show's pins as they are now, unless a broadcast that read the store after
/// this was asked for has been made meanwhile. A failure is logged: the next change, or a
/// viewer's `welcome`, carries the truth.
pub async fn announce_pins(
    commerce: &dyn CommerceStore,
    catalog: &dyn CatalogStore,
    hub: &Hub,
    clock: &dyn Clock,
    show: &Show,
) {
    let lock = pins_lock(show.id);
    let mine = lock.wanted.fetch_add(1, Ordering::SeqCst) + 1;
    let mut covered = lock.covered.lock().await;
    if *covered >= mine {
        return;
    }
    let asked = lock.wanted.load(Ordering::SeqCst);
    let result = async {
        let pins = pin_views(commerce, catalog, show, clock.now()).await?;
        hub.publish(show, &Broadcast::PinUpdated { pins }).await
    }
    .await;
    match result {
        Ok(_) => *covered = (*covered).max(asked),
        Err(e) => tracing::warn!(show = %show.id, error = %e, "pin.updated not broadcast"),
    }
}

/// Counts a paid order, however it was paid (at checkout, or by the processor's webhook):
/// `livesale_checkouts_total{outcome="paid"}`, `livesale_orders_total`,
/// `livesale_orders_paid_total{channel}` (live or replay) and the revenue.
pub fn count_paid(show: &Show, order: &Order) {
    metrics::counter!("livesale_checkouts_total", "outcome" => "paid").increment(1);
    metrics::counter!("livesale_orders_total").increment(1);
    metrics::counter!("livesale_orders_paid_total", "channel" => order.channel.as_str())
        .increment(1);
    metrics::counter!(
        "livesale_revenue_minor_units_total",
        "show" => show.id.to_string(),
        "currency" => order.total.currency.to_string()
    )
    .increment(order.total.amount.max(0) as u64);
}

/// Tells the room about a paid order: one `purchase` per line, then the pins' new stock. A
/// line whose product has no stock left makes a sell-out chapter at its `purchase` (once per
/// product and show, however many orders see it empty). An order from the replay tells no
/// room: the show is over, and its purchase (or sell-out chapter) would land past the end of
/// the recording's timeline.
pub async fn announce_purchase(
    commerce: &dyn CommerceStore,
    catalog: &dyn CatalogStore,
    hub: &Hub,
    clock: &dyn Clock,
    show: &Show,
    order: &Order,
) {
    if order.channel == SalesChannel::Replay {
        return;
    }
    for line in &order.items {
        let event = Broadcast::Purchase {
            buyer: order.buyer_name.clone(),
            product_id: line.product_id,
            title: line.title.clone(),
            quantity: line.quantity,
        };
        let sold_out = match catalog.product(line.product_id).await {
            Ok(Some(product)) => product.stock <= 0,
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(show = %show.id, error = %e, "stock not read for a sell-out");
                false
            }
        };
        let published = if sold_out {
            let chapter = Draft::sold_out(line.product_id, &line.title);
            hub.publish_chapter(show, &event, chapter).await
        } else {
            hub.publish(show, &event).await
        };
        if let Err(e) = published {
            tracing::warn!(show = %show.id, error = %e, "purchase not broadcast");
        }
    }
    announce_pins(commerce, catalog, hub, clock, show).await;
}

/// A paid order, however it was paid (a card payment settled by the processor's webhook, an
/// auction's off-session charge): counted ([`count_paid`]), the room's `purchase` and pins
/// ([`announce_purchase`]), and the buyer's `order.updated` ([`tell_buyer`]).
pub async fn announce_paid(
    commerce: &dyn CommerceStore,
    catalog: &dyn CatalogStore,
    hub: &Hub,
    clock: &dyn Clock,
    show: &Show,
    order: &Order,
) {
    count_paid(show, order);
    announce_purchase(commerce, catalog, hub, clock, show, order).await;
    tell_buyer(hub, show, order).await;
}

/// The buyer's `order.updated`: their order changed after they were answered. A failure is
/// logged (their page reads the order again when it reconnects).
pub async fn tell_buyer(hub: &Hub, show: &Show, order: &Order) {
    let updated = Broadcast::OrderUpdated {
        to: order.viewer_id.to_string(),
        order: Box::new(order.clone()),
    };
    if let Err(e) = hub.publish(show, &updated).await {
        tracing::warn!(show = %show.id, order = %order.id, error = %e, "order.updated not sent");
    }
}
