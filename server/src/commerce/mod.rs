//! Commerce adapters: payments, the room events of purchases and pins, the reservation
//! sweeper, deal-end announcements, and webhook delivery. The rules are in
//! `domain::commerce`; every state change is one atomic `Store` call.

pub mod payment;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::commerce::{Order, PinView};
use crate::domain::protocol::Broadcast;
use crate::domain::{Show, ShowId, Timestamp};
use crate::hub::Hub;
use crate::store::{SharedStore, Store, StoreError};

/// Puts a failed or expired order's lines back in its buyer's cart, so trying again is one
/// tap. The order and its stock are already settled; a store error here costs only that
/// convenience, so it is logged, not returned.
pub async fn give_back_cart(store: &dyn Store, show: &Show, order: &Order) {
    let given = async {
        let pins: Vec<_> = store.pins(show).await?.into_iter().map(|p| p.pin).collect();
        let lines = crate::domain::commerce::cart_lines_of(order, &pins);
        store.give_back_cart(show, order.viewer_id, &lines).await
    };
    if let Err(e) = given.await {
        tracing::warn!(show = %show.id, order = %order.id, error = %e, "cannot give the cart back");
    }
}

/// The show's pins as the room sees them at `now`.
pub async fn pin_views(
    store: &dyn Store,
    show: &Show,
    now: Timestamp,
) -> Result<Vec<PinView>, StoreError> {
    let mut views = Vec::new();
    for state in store.pins(show).await? {
        if let Some(product) = store.product(state.pin.product_id).await? {
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
/// a later broadcast never carries an older read; returns what was broadcast.
pub async fn publish_pins(
    store: &dyn Store,
    hub: &Hub,
    show: &Show,
    now: Timestamp,
) -> Result<Vec<PinView>, StoreError> {
    // Covers no announcement: `now` was taken before the lock, maybe before a deal ended.
    let lock = pins_lock(show.id);
    let _serial = lock.covered.lock().await;
    let pins = pin_views(store, show, now).await?;
    hub.publish(show, &Broadcast::PinUpdated { pins: pins.clone() })
        .await?;
    Ok(pins)
}

/// Broadcasts the show's pins as they are now, unless a broadcast that read the store after
/// this was asked for has been made meanwhile. A failure is logged: the next change, or a
/// viewer's `welcome`, carries the truth.
pub async fn announce_pins(store: &dyn Store, hub: &Hub, show: &Show) {
    let lock = pins_lock(show.id);
    let mine = lock.wanted.fetch_add(1, Ordering::SeqCst) + 1;
    let mut covered = lock.covered.lock().await;
    if *covered >= mine {
        return;
    }
    let asked = lock.wanted.load(Ordering::SeqCst);
    let result = async {
        let pins = pin_views(store, show, chrono::Utc::now()).await?;
        hub.publish(show, &Broadcast::PinUpdated { pins }).await
    }
    .await;
    match result {
        Ok(_) => *covered = (*covered).max(asked),
        Err(e) => tracing::warn!(show = %show.id, error = %e, "pin.updated not broadcast"),
    }
}

/// Tells the room about a paid order: one `purchase` per line, then the pins' new stock.
pub async fn announce_purchase(store: &dyn Store, hub: &Hub, show: &Show, order: &Order) {
    for line in &order.items {
        let event = Broadcast::Purchase {
            buyer: order.buyer_name.clone(),
            product_id: line.product_id,
            title: line.title.clone(),
            quantity: line.quantity,
        };
        if let Err(e) = hub.publish(show, &event).await {
            tracing::warn!(show = %show.id, error = %e, "purchase not broadcast");
        }
    }
    announce_pins(store, hub, show).await;
}

/// Announces the pins again when a deal ends, so every countdown flips to the regular price
/// at once. Harmless if the pin changed meanwhile (it announces the current state).
pub fn announce_deal_end(store: SharedStore, hub: Arc<Hub>, show: Show, ends_at: Timestamp) {
    let wait = (ends_at - chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    tokio::spawn(async move {
        tokio::time::sleep(wait + Duration::from_millis(20)).await;
        announce_pins(store.as_ref(), &hub, &show).await;
    });
}

/// Gives back the stock of reservations whose payment never finished (a crash, a hung
/// provider), every `every`, until shutdown.
pub fn spawn_sweeper(
    store: SharedStore,
    hub: Arc<Hub>,
    every: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = sweep(store.as_ref(), &hub).await {
                tracing::warn!(error = %e, "reservation sweep failed");
            }
        }
    })
}

async fn sweep(store: &dyn Store, hub: &Hub) -> Result<(), StoreError> {
    let now = chrono::Utc::now();
    for show_id in store.shows_with_reservations().await? {
        let Some(show) = store.show(show_id).await? else {
            continue;
        };
        let expired = store.expire_reservations(&show, now).await?;
        for order in &expired {
            give_back_cart(store, &show, order).await;
        }
        if !expired.is_empty() {
            metrics::counter!("livesale_checkouts_total", "outcome" => "expired")
                .increment(expired.len() as u64);
            tracing::info!(show = %show.id, orders = expired.len(), "reservations expired; stock returned");
            announce_pins(store, hub, &show).await;
        }
    }
    Ok(())
}
