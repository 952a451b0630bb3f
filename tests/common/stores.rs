//! Running one contract on every `Store`: [`store_contracts!`](crate::store_contracts) turns
//! each `async fn name(store: SharedStore)` of a test file into `memory_store::name` and
//! `redis_store::name` tests, so a failure names both the contract and the store. Redis runs
//! use the test Redis under a unique key prefix per test; every run is bounded in time.

use std::sync::Arc;
use std::time::Duration;

use livesale::store::{MemoryStore, RedisStore, SharedStore};

/// Time one Redis call may take in contract runs (generous: the machine is shared).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Time one contract may take.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);

pub fn memory() -> SharedStore {
    Arc::new(MemoryStore::new())
}

/// A RedisStore on the test Redis under `prefix`.
pub async fn connect(prefix: &str) -> RedisStore {
    connect_with(prefix, CALL_TIMEOUT).await
}

pub async fn connect_with(prefix: &str, timeout: Duration) -> RedisStore {
    let url = super::redis::redis_url();
    RedisStore::connect(&url, prefix, timeout)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test Redis at {url}: {e}"))
}

/// A RedisStore under a fresh prefix named after the test.
pub async fn redis_store(test: &str) -> SharedStore {
    Arc::new(connect(&super::redis::unique_prefix(test)).await)
}

/// Runs a test, failing it if it takes longer than [`TEST_TIMEOUT`].
pub async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .expect("the test did not finish in time");
}

/// `store_contracts!(a, b, …)`: one test per contract and store.
#[macro_export]
macro_rules! store_contracts {
    ($($name:ident),+ $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::common::stores::bounded(super::$name($crate::common::stores::memory()))
                        .await;
                }
            )+
        }
        mod redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::common::stores::bounded(async {
                        let store = $crate::common::stores::redis_store(stringify!($name)).await;
                        super::$name(store).await
                    })
                    .await;
                }
            )+
        }
    };
}

/// A creator named `creator` and their scheduled show `title`, inserted in `store` (for store
/// contracts that need a show to keep records under).
pub async fn scheduled_show(
    store: &SharedStore,
    creator: &str,
    title: &str,
) -> livesale::domain::Show {
    use livesale::domain::{Creator, CreatorId, NewShow, Show, ShowId};
    let at = |ms| chrono::DateTime::from_timestamp_millis(ms).expect("a valid timestamp");
    let owner = Creator::new(
        CreatorId(uuid::Uuid::now_v7()),
        creator,
        at(1_700_000_000_000),
    )
    .expect("valid creator");
    store.insert_creator(&owner).await.unwrap();
    let show = Show::schedule(
        ShowId(uuid::Uuid::now_v7()),
        owner.id,
        NewShow {
            title: title.into(),
            description: None,
            scheduled_at: Some(at(1_800_000_000_000)),
            cover_url: None,
        },
        at(1_700_000_000_000),
    )
    .expect("valid show");
    store.insert_show(&show).await.unwrap();
    show
}
