//! The accounts area of the store (`AccountStore`), one contract run on the memory store and on
//! Redis: the creators' listing in pages and renaming, token generations, passkeys (kept per
//! creator, found by credential id, deleted only by their creator, updated only while they
//! exist), ceremonies (taken once, never after their deadline) and heartbeats (listed until
//! their deadline).

mod common;

use std::time::Duration;

use chrono::Duration as Span;
use livesale::domain::account::{Ceremony, CeremonyKind, Heartbeat, NodeInfo, Passkey};
use livesale::domain::{Creator, CreatorId, Timestamp};
use livesale::store::SharedStore;
use uuid::Uuid;

async fn creator(store: &SharedStore, name: &str, at: Timestamp) -> Creator {
    let c = Creator::new(CreatorId(Uuid::now_v7()), name, at).unwrap();
    store.insert_creator(&c).await.unwrap();
    c
}

fn passkey(id: &str, creator: CreatorId, at: Timestamp) -> Passkey {
    Passkey {
        id: id.into(),
        creator_id: creator,
        label: "Phone".into(),
        created_at: at,
        last_used_at: None,
        credential: "key.counters".into(),
    }
}

async fn creators_are_listed_in_pages_and_renamed(store: SharedStore) {
    let t0 = chrono::Utc::now();
    let a = creator(&store, "Ana", t0).await;
    let b = creator(&store, "Ben", t0 + Span::seconds(1)).await;
    let c = creator(&store, "Cleo", t0 + Span::seconds(2)).await;
    let first = store.creators_page(None, 2).await.unwrap();
    assert_eq!(first.items, vec![a.clone(), b.clone()]);
    assert!(first.more);
    let after = livesale::store::PageAfter::creator(&b);
    let second = store.creators_page(Some(after), 2).await.unwrap();
    assert_eq!(second.items, vec![c.clone()]);
    assert!(!second.more);

    let renamed = store
        .rename_creator(b.id, "Benedict")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((renamed.id, renamed.name.as_str()), (b.id, "Benedict"));
    assert_eq!(store.creator(b.id).await.unwrap().unwrap().name, "Benedict");
    let nobody = CreatorId(Uuid::now_v7());
    assert_eq!(store.rename_creator(nobody, "Ghost").await.unwrap(), None);
    assert_eq!(store.creator(nobody).await.unwrap(), None);
}

async fn token_generations_only_move_on(store: SharedStore) {
    let a = CreatorId(Uuid::now_v7());
    let b = CreatorId(Uuid::now_v7());
    assert_eq!(store.token_generation(a).await.unwrap(), 0);
    assert_eq!(store.next_token_generation(a).await.unwrap(), 1);
    assert_eq!(store.next_token_generation(a).await.unwrap(), 2);
    assert_eq!(store.token_generation(a).await.unwrap(), 2);
    assert_eq!(store.token_generation(b).await.unwrap(), 0, "per creator");
}

async fn passkeys_belong_to_their_creator(store: SharedStore) {
    let t0 = chrono::Utc::now();
    let maya = CreatorId(Uuid::now_v7());
    let ben = CreatorId(Uuid::now_v7());
    let older = passkey("cred-1", maya, t0);
    let newer = passkey("cred-2", maya, t0 + Span::seconds(1));
    store.insert_passkey(&newer).await.unwrap();
    store.insert_passkey(&older).await.unwrap();
    store
        .insert_passkey(&passkey("cred-3", ben, t0))
        .await
        .unwrap();
    assert_eq!(store.passkey("cred-1").await.unwrap(), Some(older.clone()));
    assert_eq!(store.passkey("nope").await.unwrap(), None);
    assert_eq!(
        store.passkeys(maya).await.unwrap(),
        vec![older.clone(), newer.clone()]
    );

    let used = Passkey {
        last_used_at: Some(t0 + Span::seconds(5)),
        credential: "key.counters2".into(),
        ..older.clone()
    };
    assert!(store.update_passkey(&used).await.unwrap());
    assert_eq!(store.passkey("cred-1").await.unwrap(), Some(used));

    assert!(
        !store.delete_passkey(ben, "cred-1").await.unwrap(),
        "not Ben's"
    );
    assert!(store.passkey("cred-1").await.unwrap().is_some());
    assert!(store.delete_passkey(maya, "cred-1").await.unwrap());
    assert!(
        !store.delete_passkey(maya, "cred-1").await.unwrap(),
        "gone already"
    );
    assert_eq!(store.passkey("cred-1").await.unwrap(), None);
    assert!(
        !store.update_passkey(&older).await.unwrap(),
        "a deleted passkey is not written back"
    );
    assert_eq!(store.passkey("cred-1").await.unwrap(), None);
    assert_eq!(store.passkeys(maya).await.unwrap(), vec![newer]);
}

async fn ceremonies_are_taken_once_until_their_deadline(store: SharedStore) {
    let now = chrono::Utc::now();
    let open = Ceremony {
        kind: CeremonyKind::Registration {
            creator_id: CreatorId(Uuid::now_v7()),
        },
        state: "challenge".into(),
        expires_at: now + Span::seconds(60),
    };
    store.put_ceremony("c1", &open, now).await.unwrap();
    store.put_ceremony("c2", &open, now).await.unwrap();
    assert_eq!(
        store.take_ceremony("c1", now).await.unwrap(),
        Some(open.clone())
    );
    assert_eq!(store.take_ceremony("c1", now).await.unwrap(), None, "once");
    assert_eq!(store.take_ceremony("unknown", now).await.unwrap(), None);
    let late = now + Span::seconds(60);
    assert_eq!(
        store.take_ceremony("c2", late).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store.take_ceremony("c2", now).await.unwrap(),
        None,
        "and gone"
    );

    // Of many takers at once, exactly one gets it.
    store.put_ceremony("race", &open, now).await.unwrap();
    let takers = (0..10).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.take_ceremony("race", now).await.unwrap() })
    });
    let mut got = 0;
    for t in takers {
        got += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(got, 1);
}

async fn heartbeats_list_live_nodes(store: SharedStore) {
    let now = chrono::Utc::now();
    let beat = |id: &str, lasts: i64| Heartbeat {
        node: NodeInfo {
            id: id.into(),
            url: format!("http://{id}"),
            version: "1".into(),
            started_at: now,
            seen_at: now,
        },
        expires_at: now + Span::seconds(lasts),
    };
    let ttl = Duration::from_secs(60);
    store.beat(&beat("b", 30), ttl).await.unwrap();
    store.beat(&beat("a", 10), ttl).await.unwrap();
    let ids = |nodes: Vec<NodeInfo>| nodes.into_iter().map(|n| n.id).collect::<Vec<_>>();
    assert_eq!(ids(store.nodes(now).await.unwrap()), ["a", "b"]);
    assert_eq!(
        ids(store.nodes(now + Span::seconds(10)).await.unwrap()),
        ["b"]
    );
    // A later beat of the same node replaces its earlier one.
    store.beat(&beat("a", 60), ttl).await.unwrap();
    assert_eq!(
        ids(store.nodes(now + Span::seconds(40)).await.unwrap()),
        ["a"]
    );
}

store_contracts!(
    creators_are_listed_in_pages_and_renamed,
    token_generations_only_move_on,
    passkeys_belong_to_their_creator,
    ceremonies_are_taken_once_until_their_deadline,
    heartbeats_list_live_nodes,
);
