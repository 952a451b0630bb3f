//! The chapter part of the `Store` contract, written once and run against [`MemoryStore`]
//! (the reference) and [`RedisStore`] (`store_contracts!` makes `memory_store::<name>` and
//! `redis_store::<name>`): time order, the `once` key, the bound, rename and hide, shows kept
//! apart, and an append race that keeps exactly the bound.

mod common;

use std::sync::Arc;

use livesale::domain::chapter::{Chapter, ChapterKind};
use livesale::domain::{ProductId, Show};
use livesale::store::{Appended, SharedStore};
use uuid::Uuid;

store_contracts!(
    chapters_list_in_time_order,
    once_keys_record_once,
    the_bound_refuses_past_it,
    rename_and_hide,
    shows_are_kept_apart,
    a_race_keeps_exactly_the_bound,
);

async fn show(store: &SharedStore) -> Show {
    common::stores::scheduled_show(store, "Chapters", "Chaptered").await
}

fn chapter(id: &str, pts: i64, kind: ChapterKind, title: &str) -> Chapter {
    Chapter {
        id: id.into(),
        pts,
        kind,
        product_id: (kind != ChapterKind::Marker && kind != ChapterKind::Cut)
            .then(|| ProductId(Uuid::from_u128(7))),
        title: title.into(),
        hidden: false,
    }
}

async fn chapters_list_in_time_order(store: SharedStore) {
    let show = show(&store).await;
    assert!(store.chapters(&show).await.unwrap().is_empty());
    let c = chapter("c", 3_000, ChapterKind::Cut, "Wide «shot» / 2");
    let a = chapter("a", 1_000, ChapterKind::Pin, "Speckled mug");
    let b = chapter("b", 2_000, ChapterKind::Deal, "Speckled mug · 9.00 USD");
    let b2 = chapter("b2", 2_000, ChapterKind::Marker, "Same millisecond");
    for ch in [&c, &a, &b2, &b] {
        assert_eq!(
            store.append_chapter(&show, ch, None, 10).await.unwrap(),
            Appended::Added
        );
    }
    assert_eq!(store.chapters(&show).await.unwrap(), vec![a, b, b2, c]);
}

async fn once_keys_record_once(store: SharedStore) {
    let show = show(&store).await;
    let first = chapter("x1", 1_000, ChapterKind::SoldOut, "Mug");
    let second = chapter("x2", 1_001, ChapterKind::SoldOut, "Mug");
    assert_eq!(
        store
            .append_chapter(&show, &first, Some("sold_out:p"), 10)
            .await
            .unwrap(),
        Appended::Added
    );
    assert_eq!(
        store
            .append_chapter(&show, &second, Some("sold_out:p"), 10)
            .await
            .unwrap(),
        Appended::Duplicate
    );
    assert_eq!(store.chapters(&show).await.unwrap(), vec![first]);
}

async fn the_bound_refuses_past_it(store: SharedStore) {
    let show = show(&store).await;
    for i in 0..3 {
        let ch = chapter(&format!("k{i}"), 1_000 + i, ChapterKind::Marker, "m");
        assert_eq!(
            store.append_chapter(&show, &ch, None, 3).await.unwrap(),
            Appended::Added
        );
    }
    let extra = chapter("k9", 9_000, ChapterKind::Marker, "m");
    assert_eq!(
        store.append_chapter(&show, &extra, None, 3).await.unwrap(),
        Appended::Full
    );
    // A full log does not use up a once key.
    assert_eq!(
        store
            .append_chapter(&show, &extra, Some("once"), 3)
            .await
            .unwrap(),
        Appended::Full
    );
    assert_eq!(
        store
            .append_chapter(&show, &extra, Some("once"), 4)
            .await
            .unwrap(),
        Appended::Added
    );
    assert_eq!(store.chapters(&show).await.unwrap().len(), 4);
}

async fn rename_and_hide(store: SharedStore) {
    let show = show(&store).await;
    let ch = chapter("r", 1_000, ChapterKind::Pin, "Mug");
    store.append_chapter(&show, &ch, None, 10).await.unwrap();
    let renamed = store
        .update_chapter(&show, "r", Some("Le mug «bleu» / ☕"), None)
        .await
        .unwrap()
        .expect("known chapter");
    assert_eq!(renamed.title, "Le mug «bleu» / ☕");
    assert!(!renamed.hidden);
    assert_eq!(renamed.product_id, ch.product_id);
    let hidden = store
        .update_chapter(&show, "r", None, Some(true))
        .await
        .unwrap()
        .expect("known chapter");
    assert!(hidden.hidden);
    assert_eq!(hidden.title, "Le mug «bleu» / ☕");
    assert_eq!(store.chapters(&show).await.unwrap(), vec![hidden.clone()]);
    let shown = store
        .update_chapter(&show, "r", None, Some(false))
        .await
        .unwrap()
        .unwrap();
    assert!(!shown.hidden);
    assert_eq!(shown.pts, 1_000);
    assert_eq!(shown.kind, ChapterKind::Pin);
    assert!(
        store
            .update_chapter(&show, "nope", Some("x"), None)
            .await
            .unwrap()
            .is_none()
    );
}

async fn shows_are_kept_apart(store: SharedStore) {
    let one = show(&store).await;
    let two = show(&store).await;
    let ch = chapter("s", 1_000, ChapterKind::Cut, "Cam A");
    store
        .append_chapter(&one, &ch, Some("k"), 10)
        .await
        .unwrap();
    assert!(store.chapters(&two).await.unwrap().is_empty());
    assert!(
        store
            .update_chapter(&two, "s", Some("x"), None)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .append_chapter(&two, &ch, Some("k"), 10)
            .await
            .unwrap(),
        Appended::Added
    );
}

async fn a_race_keeps_exactly_the_bound(store: SharedStore) {
    let show = Arc::new(show(&store).await);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (store, show) = (store.clone(), show.clone());
        tasks.push(tokio::spawn(async move {
            let ch = chapter(&format!("race{i:02}"), 1_000 + i, ChapterKind::Marker, "m");
            store.append_chapter(&show, &ch, None, 25).await.unwrap()
        }));
    }
    let mut added = 0;
    for t in tasks {
        if t.await.unwrap() == Appended::Added {
            added += 1;
        }
    }
    assert_eq!(added, 25);
    assert_eq!(store.chapters(&show).await.unwrap().len(), 25);
}
