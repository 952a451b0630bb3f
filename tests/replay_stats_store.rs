//! The replay-stats part of the `Store` contract, written once and run against
//! [`MemoryStore`] (the reference) and [`RedisStore`] (`store_contracts!` makes
//! `memory_store::<name>` and `redis_store::<name>`): a view counts once and its watch time is
//! its furthest report, the cap refuses new views only, shows are kept apart, and concurrent
//! beats of many views add up exactly.

mod common;

use std::sync::Arc;

use livesale::domain::Show;
use livesale::store::SharedStore;
use livesale::store::replay_stats::{ReplayTally, ViewRecorded};
use uuid::Uuid;

store_contracts!(
    a_view_counts_once_with_its_furthest_report,
    the_cap_refuses_new_views_only,
    shows_are_kept_apart,
    concurrent_beats_add_up,
);

async fn show(store: &SharedStore) -> Show {
    common::stores::scheduled_show(store, "Replays", "Replayed").await
}

fn counted(new_view: bool, added_ms: u64) -> ViewRecorded {
    ViewRecorded::Counted { new_view, added_ms }
}

async fn a_view_counts_once_with_its_furthest_report(store: SharedStore) {
    let show = show(&store).await;
    assert_eq!(
        store.replay_tally(&show).await.unwrap(),
        ReplayTally::default()
    );
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let beat = |view, ms| {
        let (store, show) = (store.clone(), show.clone());
        async move {
            store
                .record_replay_view(&show, view, ms, 100)
                .await
                .unwrap()
        }
    };
    assert_eq!(beat(a, 10_000).await, counted(true, 10_000));
    assert_eq!(beat(a, 20_000).await, counted(false, 10_000));
    // A late, smaller report (an earlier beacon arriving last) changes nothing.
    assert_eq!(beat(a, 15_000).await, counted(false, 0));
    assert_eq!(beat(a, 20_000).await, counted(false, 0));
    assert_eq!(beat(b, 0).await, counted(true, 0));
    assert_eq!(beat(b, 5_500).await, counted(false, 5_500));
    assert_eq!(
        store.replay_tally(&show).await.unwrap(),
        ReplayTally {
            views: 2,
            watch_ms: 25_500
        }
    );
}

async fn the_cap_refuses_new_views_only(store: SharedStore) {
    let show = show(&store).await;
    let views: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for v in &views[..2] {
        let r = store.record_replay_view(&show, *v, 1_000, 2).await.unwrap();
        assert_eq!(r, counted(true, 1_000));
    }
    let full = store
        .record_replay_view(&show, views[2], 1_000, 2)
        .await
        .unwrap();
    assert_eq!(full, ViewRecorded::Full);
    // A view already counted goes on counting its watch time.
    let more = store
        .record_replay_view(&show, views[0], 4_000, 2)
        .await
        .unwrap();
    assert_eq!(more, counted(false, 3_000));
    assert_eq!(
        store.replay_tally(&show).await.unwrap(),
        ReplayTally {
            views: 2,
            watch_ms: 5_000
        }
    );
}

async fn shows_are_kept_apart(store: SharedStore) {
    let (one, two) = (show(&store).await, show(&store).await);
    let view = Uuid::now_v7();
    store
        .record_replay_view(&one, view, 7_000, 10)
        .await
        .unwrap();
    let r = store
        .record_replay_view(&two, view, 3_000, 10)
        .await
        .unwrap();
    assert_eq!(
        r,
        counted(true, 3_000),
        "the same view id is new in another show"
    );
    assert_eq!(store.replay_tally(&one).await.unwrap().watch_ms, 7_000);
    assert_eq!(
        store.replay_tally(&two).await.unwrap(),
        ReplayTally {
            views: 1,
            watch_ms: 3_000
        }
    );
}

async fn concurrent_beats_add_up(store: SharedStore) {
    let show = Arc::new(show(&store).await);
    let views: Vec<Uuid> = (0..20).map(|_| Uuid::now_v7()).collect();
    let mut tasks = Vec::new();
    for v in &views {
        for ms in [1_000u64, 2_000, 3_000, 2_500] {
            let (store, show, v) = (store.clone(), show.clone(), *v);
            tasks.push(tokio::spawn(async move {
                store.record_replay_view(&show, v, ms, 15).await.unwrap()
            }));
        }
    }
    let mut new_views = 0;
    let mut added = 0;
    let mut full = 0;
    for t in tasks {
        match t.await.unwrap() {
            ViewRecorded::Counted { new_view, added_ms } => {
                new_views += u64::from(new_view);
                added += added_ms;
            }
            ViewRecorded::Full => full += 1,
        }
    }
    let tally = store.replay_tally(&show).await.unwrap();
    // Exactly the cap counted, each counted view at its furthest report (3 s), and the
    // outcomes add up to the tally.
    assert_eq!(tally.views, 15);
    assert_eq!(new_views, 15);
    assert_eq!(tally.watch_ms, 15 * 3_000);
    assert_eq!(added, tally.watch_ms);
    assert!(
        full >= 5,
        "the five views past the cap were refused at least once each"
    );
}
