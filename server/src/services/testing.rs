//! What the services' unit tests share: a hub over the memory bus on a given clock, and a
//! creator's live show in a store.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::SharedClock;
use crate::domain::{Creator, CreatorId, NewShow, Show, ShowId, Timestamp};
use crate::hub::{Hub, LogLimits, MemoryBus, RoomConfig};
use crate::store::SharedStore;

/// The memory bus's limits in unit tests: roomy enough that no test meets them.
pub fn log_limits() -> LogLimits {
    LogLimits {
        max_frames: 1000,
        max_age: Duration::from_secs(3600),
        chat_history: 100,
        presence_every: Duration::from_secs(1),
        presence_stale: Duration::from_secs(5),
    }
}

/// A hub over its own memory bus, both on `clock`; also the bus, for tests that read it.
pub fn memory_hub(clock: SharedClock) -> (Arc<Hub>, Arc<MemoryBus>) {
    let bus = Arc::new(MemoryBus::new(log_limits(), clock.clone()));
    let rooms = RoomConfig {
        queue: 64,
        reaction_window: Duration::from_millis(20),
        presence_interval: Duration::from_secs(1),
        linger: Duration::from_secs(10),
    };
    (Hub::new(bus.clone(), "node-test".into(), rooms, clock), bus)
}

/// A new creator ("Maker") and their show `title`, live since `now`, both in `store`.
pub async fn live_show(store: &SharedStore, title: &str, now: Timestamp) -> Show {
    let creator = Creator::new(CreatorId(Uuid::now_v7()), "Maker", now).unwrap();
    store.insert_creator(&creator).await.unwrap();
    let mut show = Show::schedule(
        ShowId(Uuid::now_v7()),
        creator.id,
        NewShow {
            title: title.into(),
            ..Default::default()
        },
        now,
    )
    .unwrap();
    show.start(now).unwrap();
    store.insert_show(&show).await.unwrap();
    show
}
