//! The transcript part of the `Store` contract, written once and run against [`MemoryStore`]
//! (the reference) and [`RedisStore`] (`store_contracts!` makes `memory_store::<name>` and
//! `redis_store::<name>`): entries come back in the order appended, shows are kept apart and
//! removed alone, chat stops at its cap while pins and deletions go on to the show's cap, and
//! appends racing at the cap keep exactly the cap.

mod common;

use chrono::DateTime;
use livesale::domain::chat::{Author, ChatMessage};
use livesale::domain::replay::{MAX_TRANSCRIPT, MAX_TRANSCRIPT_CHAT, Recorded, TranscriptEntry};
use livesale::domain::{Role, ShowId};
use livesale::store::SharedStore;
use uuid::Uuid;

store_contracts!(
    entries_come_back_in_order_and_shows_apart,
    chat_stops_at_its_cap_and_the_rest_at_the_shows,
    a_race_at_the_cap_keeps_exactly_the_cap,
);

fn chat(n: u64) -> TranscriptEntry {
    TranscriptEntry {
        pts: 1_700_000_000_000 + n as i64,
        seq: n,
        event: Recorded::Chat(ChatMessage {
            id: format!("m{n}").into(),
            author: Author {
                id: "v1".into(),
                name: "Ada «A»".into(),
            },
            role: Role::Viewer,
            text: format!("message {n} ✓"),
            at: DateTime::from_timestamp_millis(1_700_000_000_000 + n as i64).unwrap(),
            seq: Some(n),
        }),
    }
}

fn cleared(n: u64) -> TranscriptEntry {
    TranscriptEntry {
        pts: 1_700_000_000_000 + n as i64,
        seq: n,
        event: Recorded::ChatCleared {},
    }
}

fn deleted(n: u64) -> TranscriptEntry {
    TranscriptEntry {
        pts: 1_700_000_000_000 + n as i64,
        seq: n,
        event: Recorded::ChatDeleted {
            id: format!("m{}", n - 1),
        },
    }
}

fn new_show() -> ShowId {
    ShowId(Uuid::now_v7())
}

async fn entries_come_back_in_order_and_shows_apart(store: SharedStore) {
    let (a, b) = (new_show(), new_show());
    assert!(store.transcript(a).await.unwrap().is_empty());
    assert_eq!(store.append_transcript(a, &[]).await.unwrap(), 0);
    // Appended order is kept, whatever the times say (the reader sorts).
    let first = vec![chat(5), cleared(3), chat(4)];
    assert_eq!(store.append_transcript(a, &first).await.unwrap(), 3);
    let second = vec![
        deleted(6),
        TranscriptEntry {
            pts: 1_700_000_000_007,
            seq: 7,
            event: Recorded::ProgramChanged {
                camera: Some("cam-1".into()),
            },
        },
    ];
    assert_eq!(store.append_transcript(a, &second).await.unwrap(), 2);
    assert_eq!(store.append_transcript(b, &[chat(1)]).await.unwrap(), 1);
    let mut all = first.clone();
    all.extend(second);
    assert_eq!(store.transcript(a).await.unwrap(), all);
    assert_eq!(store.transcript(b).await.unwrap(), vec![chat(1)]);
    store.remove_transcript(a).await.unwrap();
    assert!(store.transcript(a).await.unwrap().is_empty());
    assert_eq!(store.transcript(b).await.unwrap(), vec![chat(1)]);
    store.remove_transcript(a).await.unwrap();
}

async fn chat_stops_at_its_cap_and_the_rest_at_the_shows(store: SharedStore) {
    let show = new_show();
    let mut n = 0u64;
    while (n as usize) < MAX_TRANSCRIPT_CHAT {
        let batch: Vec<_> = (n..(n + 2_000).min(MAX_TRANSCRIPT_CHAT as u64))
            .map(chat)
            .collect();
        n += batch.len() as u64;
        assert_eq!(
            store.append_transcript(show, &batch).await.unwrap(),
            batch.len()
        );
    }
    // Full for chat; a clear and a deletion still go in, in the same batch.
    let mixed = vec![chat(n), cleared(n + 1), chat(n + 2), deleted(n + 3)];
    assert_eq!(store.append_transcript(show, &mixed).await.unwrap(), 2);
    let got = store.transcript(show).await.unwrap();
    assert_eq!(got.len(), MAX_TRANSCRIPT_CHAT + 2);
    assert_eq!(got[MAX_TRANSCRIPT_CHAT..], [cleared(n + 1), deleted(n + 3)]);
    // The rest up to the show's cap, then nothing.
    let mut m = n + 4;
    let mut len = got.len();
    while len < MAX_TRANSCRIPT {
        let batch: Vec<_> = (m..m + 1_000).map(cleared).collect();
        let kept = store.append_transcript(show, &batch).await.unwrap();
        assert_eq!(kept, batch.len().min(MAX_TRANSCRIPT - len));
        len += kept;
        m += 1_000;
    }
    assert_eq!(
        store.append_transcript(show, &[cleared(m)]).await.unwrap(),
        0
    );
    assert_eq!(store.transcript(show).await.unwrap().len(), MAX_TRANSCRIPT);
}

async fn a_race_at_the_cap_keeps_exactly_the_cap(store: SharedStore) {
    let show = new_show();
    let below = MAX_TRANSCRIPT_CHAT as u64 - 10;
    let mut n = 0u64;
    while n < below {
        let batch: Vec<_> = (n..(n + 2_000).min(below)).map(chat).collect();
        n += batch.len() as u64;
        store.append_transcript(show, &batch).await.unwrap();
    }
    // Eight writers (nodes) append 5 messages each at once: 10 places were left.
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let batch: Vec<_> = (0..5).map(|i| chat(1_000_000 + w * 10 + i)).collect();
            store.append_transcript(show, &batch).await.unwrap()
        }));
    }
    let mut kept = 0;
    for t in tasks {
        kept += t.await.unwrap();
    }
    assert_eq!(kept, 10);
    assert_eq!(
        store.transcript(show).await.unwrap().len(),
        MAX_TRANSCRIPT_CHAT
    );
}
