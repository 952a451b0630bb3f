//! The moderation part of the `Store` contract (chat policy, standing with bans, timeouts and
//! slow-mode times, held messages, the pinned message, the audit log, revoked invitations),
//! written once and run against [`MemoryStore`] (the reference) and [`RedisStore`]:
//! `moderation_tests!` turns each contract into `memory_store::<name>` and
//! `redis_store::<name>`. The Redis runs use `LIVESALE_TEST_REDIS_URL` under a unique key
//! prefix per test; the tests at the bottom check what only Redis has (hash tags, the audit
//! cap, a restart, the last-message TTL, foreign data). Every test is bounded in time.

mod common;

use std::sync::Arc;

use chrono::DateTime;
use livesale::domain::chat::{Author, ChatMessage, MessageId};
use livesale::domain::moderation::{
    Actor, AuditEntry, ChatPolicy, HeldMessage, HoldReason, LinkPolicy, Standing,
};
use livesale::domain::protocol::BanScope;
use livesale::domain::{Creator, CreatorId, InviteId, NewShow, Role, Show, ShowId, Timestamp};
use livesale::store::prelude::*;
use livesale::store::{RedisStore, SharedStore};
use tokio::sync::Barrier;
use uuid::Uuid;

use common::redis::{crc16, keys_under, raw_connection, slot, unique_prefix};
use common::stores::{bounded, connect};

const RACERS: usize = 20;
/// What `RedisStore` keeps of a show's audit log.
const AUDIT_KEEP: usize = 10_000;

store_contracts!(
    chat_policy_defaults_and_round_trips,
    unknown_member_has_a_clean_standing,
    show_ban_stays_in_its_show,
    creator_ban_covers_the_creators_shows_only,
    unbanning_the_creator_scope_lifts_both_bans,
    timeouts_future_past_and_lifted,
    last_message_is_recorded_exactly,
    held_messages_oldest_first,
    take_held_is_exactly_once_under_a_race,
    pinned_message_set_and_clear,
    audit_log_newest_n_oldest_first,
    revoked_invites,
);

// ---- fixtures -------------------------------------------------------------------------------

fn at(ms: i64) -> Timestamp {
    DateTime::from_timestamp_millis(ms).expect("a valid timestamp")
}

/// A time in 2027 with a sub-millisecond part, so round trips must be exact.
fn precise(s: i64) -> Timestamp {
    DateTime::from_timestamp(1_800_000_000 + s, 123_456_789).expect("a valid timestamp")
}

fn creator(name: &str) -> Creator {
    Creator::new(CreatorId(Uuid::now_v7()), name, at(1_700_000_000_000)).expect("valid creator")
}

fn show_of(creator: &Creator, title: &str) -> Show {
    Show::schedule(
        ShowId(Uuid::now_v7()),
        creator.id,
        NewShow {
            title: title.into(),
            description: None,
            scheduled_at: Some(at(1_800_000_000_000)),
            cover_url: None,
        },
        at(1_700_000_000_000),
    )
    .expect("valid show")
}

/// Two shows of one creator and one show of another, all stored.
struct World {
    store: SharedStore,
    show: Show,
    sibling: Show,
    stranger: Show,
}

impl World {
    async fn new(store: SharedStore) -> World {
        let ada = creator("Ada");
        let bob = creator("Bob");
        let (show, sibling, stranger) = (
            show_of(&ada, "Morning"),
            show_of(&ada, "Evening"),
            show_of(&bob, "Elsewhere"),
        );
        for c in [&ada, &bob] {
            store.insert_creator(c).await.unwrap();
        }
        for s in [&show, &sibling, &stranger] {
            store.insert_show(s).await.unwrap();
        }
        World {
            store,
            show,
            sibling,
            stranger,
        }
    }

    async fn banned(&self, show: &Show, member: &str) -> bool {
        self.store
            .standing(show, member, chrono::Utc::now())
            .await
            .unwrap()
            .banned
    }
}

fn member() -> String {
    Uuid::new_v4().to_string()
}

fn message(text: &str, s: i64) -> ChatMessage {
    ChatMessage {
        id: Uuid::now_v7().to_string().into(),
        author: Author {
            id: member(),
            name: "Kim".into(),
        },
        role: Role::Viewer,
        text: text.into(),
        at: precise(s),
        seq: None,
    }
}

fn held(text: &str, s: i64) -> HeldMessage {
    HeldMessage {
        message: message(text, s),
        reason: HoldReason::BlockedTerm,
        held_at: precise(s),
    }
}

fn entry(action: &str, n: i64) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7().to_string(),
        at: precise(n),
        actor: Actor {
            id: "mod-1".into(),
            name: "Mo".into(),
            role: Role::Moderator,
        },
        action: action.into(),
        target: Some(format!("viewer-{n}")),
        reason: (n % 2 == 0).then(|| "spam".to_string()),
        details: serde_json::json!({ "n": n, "terms": ["a", "b"] }),
    }
}

// ---- contracts ------------------------------------------------------------------------------

async fn chat_policy_defaults_and_round_trips(store: SharedStore) {
    let w = World::new(store).await;
    assert_eq!(
        w.store.chat_policy(&w.show).await.unwrap(),
        ChatPolicy::default()
    );
    let policy = ChatPolicy {
        slow_mode_s: 30,
        paused: true,
        blocked_terms: vec!["scam".into(), "crypto*".into(), "ｆｕｌｌ wide".into()],
        links: LinkPolicy::Hold,
    };
    w.store.set_chat_policy(&w.show, &policy).await.unwrap();
    assert_eq!(w.store.chat_policy(&w.show).await.unwrap(), policy);
    assert_eq!(
        w.store.chat_policy(&w.sibling).await.unwrap(),
        ChatPolicy::default()
    );
    let relaxed = ChatPolicy {
        paused: false,
        blocked_terms: vec![],
        ..policy
    };
    w.store.set_chat_policy(&w.show, &relaxed).await.unwrap();
    assert_eq!(w.store.chat_policy(&w.show).await.unwrap(), relaxed);
}

async fn unknown_member_has_a_clean_standing(store: SharedStore) {
    let w = World::new(store).await;
    assert_eq!(
        w.store
            .standing(&w.show, &member(), chrono::Utc::now())
            .await
            .unwrap(),
        Standing::default()
    );
}

async fn show_ban_stays_in_its_show(store: SharedStore) {
    let w = World::new(store).await;
    let (kim, lee) = (member(), member());
    w.store
        .set_ban(&w.show, &kim, BanScope::Show, true)
        .await
        .unwrap();
    assert!(w.banned(&w.show, &kim).await);
    assert!(!w.banned(&w.show, &lee).await);
    assert!(!w.banned(&w.sibling, &kim).await);
    assert!(!w.banned(&w.stranger, &kim).await);
    // Banning twice, then one unban: not banned.
    w.store
        .set_ban(&w.show, &kim, BanScope::Show, true)
        .await
        .unwrap();
    w.store
        .set_ban(&w.show, &kim, BanScope::Show, false)
        .await
        .unwrap();
    assert!(!w.banned(&w.show, &kim).await);
    // Unbanning someone who is not banned is fine.
    w.store
        .set_ban(&w.show, &lee, BanScope::Show, false)
        .await
        .unwrap();
    assert!(!w.banned(&w.show, &lee).await);
}

async fn creator_ban_covers_the_creators_shows_only(store: SharedStore) {
    let w = World::new(store).await;
    let kim = member();
    w.store
        .set_ban(&w.show, &kim, BanScope::Creator, true)
        .await
        .unwrap();
    assert!(w.banned(&w.show, &kim).await);
    assert!(w.banned(&w.sibling, &kim).await, "the creator's other show");
    assert!(!w.banned(&w.stranger, &kim).await, "another creator's show");
    assert!(!w.banned(&w.show, &member()).await);
    // A show-scope unban does not lift the creator's ban.
    w.store
        .set_ban(&w.show, &kim, BanScope::Show, false)
        .await
        .unwrap();
    assert!(w.banned(&w.show, &kim).await);
    // The creator-scope unban, from any of the creator's shows, lifts it everywhere.
    w.store
        .set_ban(&w.sibling, &kim, BanScope::Creator, false)
        .await
        .unwrap();
    assert!(!w.banned(&w.show, &kim).await);
    assert!(!w.banned(&w.sibling, &kim).await);
}

async fn unbanning_the_creator_scope_lifts_both_bans(store: SharedStore) {
    let w = World::new(store).await;
    let kim = member();
    w.store
        .set_ban(&w.show, &kim, BanScope::Show, true)
        .await
        .unwrap();
    w.store
        .set_ban(&w.show, &kim, BanScope::Creator, true)
        .await
        .unwrap();
    w.store
        .set_ban(&w.sibling, &kim, BanScope::Show, true)
        .await
        .unwrap();
    w.store
        .set_ban(&w.show, &kim, BanScope::Creator, false)
        .await
        .unwrap();
    assert!(
        !w.banned(&w.show, &kim).await,
        "the show's own ban is lifted too"
    );
    // Only the show it was lifted from: the sibling's own ban stays.
    assert!(w.banned(&w.sibling, &kim).await);

    // Lifting a creator ban that does not exist still lifts the show's ban.
    let lee = member();
    w.store
        .set_ban(&w.show, &lee, BanScope::Show, true)
        .await
        .unwrap();
    w.store
        .set_ban(&w.show, &lee, BanScope::Creator, false)
        .await
        .unwrap();
    assert!(!w.banned(&w.show, &lee).await);
}

async fn timeouts_future_past_and_lifted(store: SharedStore) {
    let w = World::new(store).await;
    let (kim, lee) = (member(), member());
    let until = chrono::Utc::now() + chrono::Duration::seconds(600);
    w.store
        .set_timeout(&w.show, &kim, Some(until))
        .await
        .unwrap();
    let standing = w
        .store
        .standing(&w.show, &kim, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        standing.timed_out_until,
        Some(until),
        "exact, to the nanosecond"
    );
    assert!(!standing.banned);
    assert_eq!(standing.last_message_at, None);
    assert_eq!(
        w.store
            .standing(&w.show, &lee, chrono::Utc::now())
            .await
            .unwrap(),
        Standing::default()
    );
    assert_eq!(
        w.store
            .standing(&w.sibling, &kim, chrono::Utc::now())
            .await
            .unwrap(),
        Standing::default(),
        "a timeout is per show"
    );

    // A later timeout replaces the earlier one.
    let later = until + chrono::Duration::seconds(60);
    w.store
        .set_timeout(&w.show, &kim, Some(later))
        .await
        .unwrap();
    assert_eq!(
        w.store
            .standing(&w.show, &kim, chrono::Utc::now())
            .await
            .unwrap()
            .timed_out_until,
        Some(later)
    );

    // A timeout that has ended is no timeout (the memory store reports the old end, Redis
    // none; either way nothing is still running).
    let past = chrono::Utc::now() - chrono::Duration::seconds(5);
    w.store
        .set_timeout(&w.show, &lee, Some(past))
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let standing = w
        .store
        .standing(&w.show, &lee, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(standing.timed_out_until.filter(|t| *t > now), None);
    assert!(standing.timed_out_until.is_none_or(|t| t == past));

    w.store.set_timeout(&w.show, &kim, None).await.unwrap();
    assert_eq!(
        w.store
            .standing(&w.show, &kim, chrono::Utc::now())
            .await
            .unwrap()
            .timed_out_until,
        None
    );
    // Lifting a timeout that does not exist is fine.
    w.store.set_timeout(&w.show, &kim, None).await.unwrap();
}

async fn last_message_is_recorded_exactly(store: SharedStore) {
    let w = World::new(store).await;
    let kim = member();
    w.store
        .record_message(&w.show, &kim, precise(0))
        .await
        .unwrap();
    assert_eq!(
        w.store
            .standing(&w.show, &kim, chrono::Utc::now())
            .await
            .unwrap(),
        Standing {
            banned: false,
            timed_out_until: None,
            last_message_at: Some(precise(0)),
        }
    );
    w.store
        .record_message(&w.show, &kim, precise(7))
        .await
        .unwrap();
    assert_eq!(
        w.store
            .standing(&w.show, &kim, chrono::Utc::now())
            .await
            .unwrap()
            .last_message_at,
        Some(precise(7))
    );
    assert_eq!(
        w.store
            .standing(&w.sibling, &kim, chrono::Utc::now())
            .await
            .unwrap()
            .last_message_at,
        None
    );
    assert_eq!(
        w.store
            .standing(&w.show, &member(), chrono::Utc::now())
            .await
            .unwrap()
            .last_message_at,
        None
    );

    // Everything at once.
    let until = chrono::Utc::now() + chrono::Duration::seconds(30);
    w.store
        .set_ban(&w.show, &kim, BanScope::Creator, true)
        .await
        .unwrap();
    w.store
        .set_timeout(&w.show, &kim, Some(until))
        .await
        .unwrap();
    assert_eq!(
        w.store
            .standing(&w.show, &kim, chrono::Utc::now())
            .await
            .unwrap(),
        Standing {
            banned: true,
            timed_out_until: Some(until),
            last_message_at: Some(precise(7)),
        }
    );
}

async fn held_messages_oldest_first(store: SharedStore) {
    let w = World::new(store).await;
    assert_eq!(w.store.held_messages(&w.show).await.unwrap(), vec![]);
    let list: Vec<HeldMessage> = (0..4).map(|i| held(&format!("m{i}"), i)).collect();
    for h in &list {
        w.store.hold_message(&w.show, h).await.unwrap();
    }
    let mut other = held("elsewhere", 9);
    other.reason = HoldReason::Link;
    w.store.hold_message(&w.sibling, &other).await.unwrap();
    assert_eq!(w.store.held_messages(&w.show).await.unwrap(), list);
    assert_eq!(
        w.store.held_messages(&w.sibling).await.unwrap(),
        vec![other.clone()]
    );

    // Taking from the middle keeps the order of the rest.
    let id = &list[1].message.id;
    assert_eq!(
        w.store.take_held(&w.show, id).await.unwrap(),
        Some(list[1].clone())
    );
    assert_eq!(w.store.take_held(&w.show, id).await.unwrap(), None);
    assert_eq!(
        w.store.held_messages(&w.show).await.unwrap(),
        vec![list[0].clone(), list[2].clone(), list[3].clone()]
    );
    // Another show's message is not taken through this show.
    assert_eq!(
        w.store.take_held(&w.show, &other.message.id).await.unwrap(),
        None
    );
    assert_eq!(
        w.store.take_held(&w.show, "no-such-id").await.unwrap(),
        None
    );

    // A message held after others comes last; taking them all empties the list.
    let late = held("late", 20);
    w.store.hold_message(&w.show, &late).await.unwrap();
    let ids: Vec<MessageId> = w
        .store
        .held_messages(&w.show)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.message.id)
        .collect();
    assert_eq!(
        ids,
        vec![
            list[0].message.id.clone(),
            list[2].message.id.clone(),
            list[3].message.id.clone(),
            late.message.id.clone(),
        ]
    );
    for id in &ids {
        assert!(w.store.take_held(&w.show, id).await.unwrap().is_some());
    }
    assert_eq!(w.store.held_messages(&w.show).await.unwrap(), vec![]);
    assert_eq!(
        w.store.held_messages(&w.sibling).await.unwrap(),
        vec![other]
    );
}

async fn take_held_is_exactly_once_under_a_race(store: SharedStore) {
    let w = World::new(store).await;
    for round in 0..5 {
        let h = held(&format!("race {round}"), round);
        w.store.hold_message(&w.show, &h).await.unwrap();
        let barrier = Arc::new(Barrier::new(RACERS));
        let takers: Vec<_> = (0..RACERS)
            .map(|_| {
                let (store, show, id, barrier) = (
                    w.store.clone(),
                    w.show.clone(),
                    h.message.id.clone(),
                    barrier.clone(),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.take_held(&show, &id).await.unwrap()
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in takers {
            if let Some(taken) = t.await.unwrap() {
                winners.push(taken);
            }
        }
        assert_eq!(winners, vec![h], "round {round}: exactly one taker wins");
        assert_eq!(w.store.held_messages(&w.show).await.unwrap(), vec![]);
    }
}

async fn pinned_message_set_and_clear(store: SharedStore) {
    let w = World::new(store).await;
    assert_eq!(w.store.pinned_message(&w.show).await.unwrap(), None);
    let mut first = message("welcome!", 0);
    first.seq = Some(42);
    w.store
        .set_pinned_message(&w.show, Some(&first))
        .await
        .unwrap();
    assert_eq!(w.store.pinned_message(&w.show).await.unwrap(), Some(first));
    assert_eq!(w.store.pinned_message(&w.sibling).await.unwrap(), None);
    let second = message("new pin", 5);
    w.store
        .set_pinned_message(&w.show, Some(&second))
        .await
        .unwrap();
    assert_eq!(w.store.pinned_message(&w.show).await.unwrap(), Some(second));
    w.store.set_pinned_message(&w.show, None).await.unwrap();
    assert_eq!(w.store.pinned_message(&w.show).await.unwrap(), None);
    w.store.set_pinned_message(&w.show, None).await.unwrap();
    assert_eq!(w.store.pinned_message(&w.show).await.unwrap(), None);
}

async fn audit_log_newest_n_oldest_first(store: SharedStore) {
    let w = World::new(store).await;
    assert_eq!(w.store.audit_log(&w.show, 10).await.unwrap(), vec![]);
    let entries: Vec<AuditEntry> = (0..6).map(|n| entry("mod.ban", n)).collect();
    for e in &entries {
        w.store.append_audit(&w.show, e).await.unwrap();
    }
    let other = entry("mod.slow", 99);
    w.store.append_audit(&w.sibling, &other).await.unwrap();

    assert_eq!(
        w.store.audit_log(&w.show, 3).await.unwrap(),
        entries[3..].to_vec()
    );
    assert_eq!(
        w.store.audit_log(&w.show, 1).await.unwrap(),
        entries[5..].to_vec()
    );
    assert_eq!(w.store.audit_log(&w.show, 0).await.unwrap(), vec![]);
    assert_eq!(w.store.audit_log(&w.show, 6).await.unwrap(), entries);
    assert_eq!(w.store.audit_log(&w.show, 100).await.unwrap(), entries);
    assert_eq!(
        w.store.audit_log(&w.show, usize::MAX).await.unwrap(),
        entries
    );
    assert_eq!(
        w.store.audit_log(&w.sibling, 100).await.unwrap(),
        vec![other]
    );
    assert_eq!(w.store.audit_log(&w.stranger, 100).await.unwrap(), vec![]);
}

async fn revoked_invites(store: SharedStore) {
    let (a, b) = (InviteId(Uuid::new_v4()), InviteId(Uuid::new_v4()));
    let (show, other_show) = (ShowId(Uuid::new_v4()), ShowId(Uuid::new_v4()));
    store.record_invite(show, a).await.unwrap();
    store.record_invite(show, b).await.unwrap();
    assert!(!store.is_revoked(show, a).await.unwrap());
    assert!(store.revoke_invite(show, a).await.unwrap());
    assert!(
        store.revoke_invite(show, a).await.unwrap(),
        "again: still known"
    );
    assert!(store.is_revoked(show, a).await.unwrap());
    assert!(!store.is_revoked(show, b).await.unwrap());
    // An invitation of another show, or one never recorded, is not revoked: the store says so.
    assert!(!store.revoke_invite(other_show, b).await.unwrap());
    assert!(!store.is_revoked(show, b).await.unwrap());
    assert!(!store.is_revoked(other_show, b).await.unwrap());
    let unknown = InviteId(Uuid::new_v4());
    assert!(!store.revoke_invite(show, unknown).await.unwrap());
    assert!(!store.is_revoked(show, unknown).await.unwrap());
}

// ---- Redis only -----------------------------------------------------------------------------

mod redis_only {
    use super::*;
    use livesale::store::StoreError;

    /// Writes every kind of moderation state of `show`.
    async fn fill(store: &RedisStore, show: &Show, kim: &str) {
        store
            .set_chat_policy(
                show,
                &ChatPolicy {
                    slow_mode_s: 5,
                    ..ChatPolicy::default()
                },
            )
            .await
            .unwrap();
        store
            .set_ban(show, kim, BanScope::Show, true)
            .await
            .unwrap();
        store
            .set_ban(show, kim, BanScope::Creator, true)
            .await
            .unwrap();
        store
            .set_timeout(
                show,
                kim,
                Some(chrono::Utc::now() + chrono::Duration::hours(1)),
            )
            .await
            .unwrap();
        store.record_message(show, kim, precise(0)).await.unwrap();
        store.hold_message(show, &held("held", 1)).await.unwrap();
        store
            .set_pinned_message(show, Some(&message("pinned", 2)))
            .await
            .unwrap();
        store
            .append_audit(show, &entry("mod.ban", 3))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_shows_moderation_keys_share_the_creators_slot() {
        bounded(async {
            let prefix = unique_prefix("mod-tags");
            let store = connect(&prefix).await;
            let ada = creator("Ada");
            let show = show_of(&ada, "Tags");
            store.insert_creator(&ada).await.unwrap();
            store.insert_show(&show).await.unwrap();
            fill(&store, &show, &member()).await;
            let invite = InviteId(Uuid::new_v4());
            store.record_invite(show.id, invite).await.unwrap();
            assert!(store.revoke_invite(show.id, invite).await.unwrap());

            let keys = keys_under(&prefix).await;
            let tag = format!("{{c:{}}}", ada.id);
            let expected = crc16(&tag.as_bytes()[1..tag.len() - 1]) % 16384;
            let revoked = format!("{prefix}:revoked");
            assert!(keys.contains(&revoked), "{keys:?}");
            // Global keys (indexes, `revoked`) have no braces; every other key is in the slot.
            for key in keys.iter().filter(|k| k.contains('{')) {
                assert!(
                    key.contains(&tag),
                    "{key} lacks the creator's hash tag {tag}"
                );
                assert_eq!(slot(key), expected, "{key} is in another slot");
            }
            let show_base = format!("{prefix}:{tag}:show:{}", show.id);
            for suffix in [
                "mod:policy",
                "mod:bans",
                "mod:timeouts",
                "mod:last-message",
                "mod:held",
                "mod:held-order",
                "mod:pinned",
                "mod:audit",
            ] {
                let key = format!("{show_base}:{suffix}");
                assert!(keys.contains(&key), "no {key}: {keys:?}");
            }
            let creator_bans = format!("{prefix}:{tag}:bans");
            assert!(keys.contains(&creator_bans), "no {creator_bans}: {keys:?}");
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_audit_log_is_capped() {
        bounded(async {
            let prefix = unique_prefix("mod-audit-cap");
            let store: SharedStore = Arc::new(connect(&prefix).await);
            let ada = creator("Ada");
            let show = show_of(&ada, "Busy");
            let early: Vec<AuditEntry> = (0..5).map(|n| entry("mod.early", n)).collect();
            for e in &early {
                store.append_audit(&show, e).await.unwrap();
            }
            // AUDIT_KEEP more, 50 writers at a time.
            let writers: Vec<_> = (0..50)
                .map(|w| {
                    let (store, show) = (store.clone(), show.clone());
                    tokio::spawn(async move {
                        for i in 0..AUDIT_KEEP / 50 {
                            let n = (w * (AUDIT_KEEP / 50) + i) as i64;
                            store
                                .append_audit(&show, &entry("mod.bulk", n))
                                .await
                                .unwrap();
                        }
                    })
                })
                .collect();
            for w in writers {
                w.await.unwrap();
            }
            let last: Vec<AuditEntry> = (0..3).map(|n| entry("mod.last", n)).collect();
            for e in &last {
                store.append_audit(&show, e).await.unwrap();
            }

            let all = store.audit_log(&show, usize::MAX).await.unwrap();
            assert_eq!(all.len(), AUDIT_KEEP);
            assert!(
                all.iter().all(|e| e.action != "mod.early"),
                "the oldest are dropped"
            );
            assert_eq!(all[AUDIT_KEEP - 3..], last[..]);
            assert_eq!(store.audit_log(&show, 3).await.unwrap(), last);
            let key = format!("{prefix}:{{c:{}}}:show:{}:mod:audit", ada.id, show.id);
            let len: usize = redis::cmd("LLEN")
                .arg(&key)
                .query_async(&mut raw_connection().await)
                .await
                .unwrap();
            assert_eq!(len, AUDIT_KEEP);
        })
        .await;
    }

    #[tokio::test]
    async fn moderation_state_survives_a_restart() {
        bounded(async {
            let prefix = unique_prefix("mod-restart");
            let ada = creator("Ada");
            let (show, sibling) = (show_of(&ada, "Persist"), show_of(&ada, "Other"));
            let kim = member();
            let invite = InviteId(Uuid::new_v4());
            let first = connect(&prefix).await;
            fill(&first, &show, &kim).await;
            let entries: Vec<AuditEntry> = (10..15).map(|n| entry("mod.timeout", n)).collect();
            for e in &entries {
                first.append_audit(&show, e).await.unwrap();
            }
            first.record_invite(show.id, invite).await.unwrap();
            assert!(first.revoke_invite(show.id, invite).await.unwrap());
            let policy = first.chat_policy(&show).await.unwrap();
            let standing = first
                .standing(&show, &kim, chrono::Utc::now())
                .await
                .unwrap();
            let held = first.held_messages(&show).await.unwrap();
            let pinned = first.pinned_message(&show).await.unwrap();
            let audit = first.audit_log(&show, 100).await.unwrap();
            assert_eq!(audit.len(), 6);
            assert_eq!(audit[1..], entries[..]);
            drop(first);

            let second = connect(&prefix).await;
            assert_eq!(second.chat_policy(&show).await.unwrap(), policy);
            assert_eq!(
                second
                    .standing(&show, &kim, chrono::Utc::now())
                    .await
                    .unwrap(),
                standing
            );
            assert!(
                second
                    .standing(&sibling, &kim, chrono::Utc::now())
                    .await
                    .unwrap()
                    .banned
            );
            assert_eq!(second.held_messages(&show).await.unwrap(), held);
            assert_eq!(second.pinned_message(&show).await.unwrap(), pinned);
            assert_eq!(second.audit_log(&show, 100).await.unwrap(), audit);
            assert_eq!(second.audit_log(&show, 2).await.unwrap(), entries[3..]);
            assert!(second.is_revoked(show.id, invite).await.unwrap());
        })
        .await;
    }

    #[tokio::test]
    async fn last_message_times_expire_with_the_show() {
        bounded(async {
            let prefix = unique_prefix("mod-ttl");
            let store = connect(&prefix).await;
            let ada = creator("Ada");
            let show = show_of(&ada, "TTL");
            store
                .record_message(&show, "kim", precise(0))
                .await
                .unwrap();
            let key = format!(
                "{prefix}:{{c:{}}}:show:{}:mod:last-message",
                ada.id, show.id
            );
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut raw_connection().await)
                .await
                .unwrap();
            assert!(
                ttl > 23 * 3600 * 1000 && ttl <= 24 * 3600 * 1000,
                "PTTL {ttl}"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn foreign_data_is_corrupt_not_a_panic() {
        bounded(async {
            let prefix = unique_prefix("mod-corrupt");
            let store = connect(&prefix).await;
            let ada = creator("Ada");
            let show = show_of(&ada, "Corrupt");
            let base = format!("{prefix}:{{c:{}}}:show:{}:mod", ada.id, show.id);
            let mut con = raw_connection().await;
            let mut set = async |cmd: &[&str]| {
                let mut c = redis::cmd(cmd[0]);
                for a in &cmd[1..] {
                    c.arg(*a);
                }
                let _: redis::Value = c.query_async(&mut con).await.unwrap();
            };
            set(&["SET", &format!("{base}:policy"), "not json"]).await;
            set(&["SET", &format!("{base}:pinned"), "{\"id\": 1}"]).await;
            set(&["HSET", &format!("{base}:timeouts"), "kim", "soon"]).await;
            set(&["HSET", &format!("{base}:last-message"), "lee", "12.5"]).await;
            set(&["HSET", &format!("{base}:held"), "m1", "[]"]).await;
            set(&["RPUSH", &format!("{base}:held-order"), "m1"]).await;
            set(&["RPUSH", &format!("{base}:audit"), "nope"]).await;
            set(&["SET", &format!("{base}:bans"), "a string, not a set"]).await;
            let corrupt = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Corrupt(_)));
            assert!(corrupt(store.chat_policy(&show).await.map(|_| ())));
            assert!(corrupt(store.pinned_message(&show).await.map(|_| ())));
            let wrong_type = store.standing(&show, "kim", chrono::Utc::now()).await;
            assert!(
                matches!(wrong_type, Err(StoreError::Corrupt(_))),
                "{wrong_type:?}"
            );
            assert!(corrupt(store.held_messages(&show).await.map(|_| ())));
            assert!(corrupt(store.take_held(&show, "m1").await.map(|_| ())));
            assert!(corrupt(store.audit_log(&show, 5).await.map(|_| ())));
            set(&["DEL", &format!("{base}:bans")]).await;
            assert!(corrupt(
                store
                    .standing(&show, "kim", chrono::Utc::now())
                    .await
                    .map(|_| ())
            ));
            assert!(corrupt(
                store
                    .standing(&show, "lee", chrono::Utc::now())
                    .await
                    .map(|_| ())
            ));
            assert!(
                store
                    .standing(&show, "max", chrono::Utc::now())
                    .await
                    .is_ok()
            );
        })
        .await;
    }
}
