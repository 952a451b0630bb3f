//! The chat service on a memory store, a memory bus and a test clock.

use super::*;
use crate::clock::{Clock, TestClock};
use crate::domain::moderation::LinkPolicy;
use crate::domain::{CreatorId, NewShow, ShowId};
use crate::hub::Replay;
use crate::store::MemoryStore;

struct World {
    chat: ChatService,
    store: SharedStore,
    hub: Arc<Hub>,
    clock: Arc<TestClock>,
    show: Show,
}

/// A show, and a chat service allowing `chat` messages per 30 s and `reactions` per second.
async fn world(chat: u32, reactions: u32) -> World {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let clock = TestClock::new();
    let (hub, _bus) = crate::services::testing::memory_hub(clock.clone());
    let new = NewShow {
        title: "Friday drop".into(),
        description: None,
        scheduled_at: None,
        cover_url: None,
    };
    let (id, creator) = (Uuid::now_v7(), Uuid::now_v7());
    let show = Show::schedule(
        ShowId::from_uuid(id),
        CreatorId::from_uuid(creator),
        new,
        clock.now(),
    )
    .unwrap();
    store.insert_show(&show).await.unwrap();
    let settings = ChatSettings {
        rules: ChatRules { max_chars: 20 },
        chat: Budget::new(chat, Duration::from_secs(30)),
        reactions: Budget::new(reactions, Duration::from_secs(1)),
    };
    let chat = ChatService::new(store.clone(), hub.clone(), clock.clone(), settings);
    World {
        chat,
        store,
        hub,
        clock,
        show,
    }
}

fn speaker(role: Option<Role>, name: &str) -> Speaker {
    Speaker {
        role,
        id: role.map(|_| Uuid::now_v7().to_string()),
        name: role.map(|_| name.to_string()),
    }
}

fn code(e: ChatError) -> &'static str {
    match e {
        ChatError::Refused(e) | ChatError::RateLimited { refusal: e, .. } => e.code.as_str(),
        ChatError::Unavailable(e) => panic!("store error: {e}"),
    }
}

#[tokio::test]
async fn a_message_is_published_to_the_room_at_the_clock_s_time() {
    let w = world(5, 5).await;
    // An hour ahead of the wall clock: a message stamped by `Utc::now()` would be older.
    w.clock.advance(Duration::from_secs(3600));
    let before = w.clock.now();
    let dana = speaker(Some(Role::Viewer), "Dana");
    let mut pace = Pace::new(w.chat.settings());
    let posted = w.chat.post(&w.show, &dana, &mut pace, "  hello!  ").await;
    assert_eq!(posted.unwrap(), Posted::Published);

    let snapshot = w.chat.snapshot(&w.show, &dana).await.unwrap();
    assert_eq!(snapshot.chat.len(), 1);
    let message = &snapshot.chat[0];
    assert_eq!(message.text, "hello!");
    assert_eq!(message.author.name, "Dana");
    assert_eq!(Some(&message.author.id), dana.id.as_ref());
    assert_eq!(message.role, Role::Viewer);
    assert!(message.at >= before, "{} < {before}", message.at);
    assert_eq!(message.seq, Some(snapshot.seq));
    // A viewer sees their standing and no review queue.
    assert_eq!(snapshot.standing, Some(Standing::default()));
    assert!(snapshot.held.is_none());
}

#[tokio::test]
async fn refusals_name_their_rule_and_spend_no_budget() {
    let w = world(1, 5).await;
    let mut pace = Pace::new(w.chat.settings());
    let guest = speaker(None, "");
    let camera = speaker(Some(Role::Camera), "Cam");
    let viewer = speaker(Some(Role::Viewer), "Ann");
    let refusals = [
        (&guest, "hi", "join_required"),
        (&camera, "hi", "forbidden_role"),
        (&viewer, "   ", "empty_message"),
        (&viewer, "this is far too long for it", "message_too_long"),
        (&viewer, "a\nb", "forbidden_characters"),
    ];
    for (who, text, expected) in refusals {
        let e = w
            .chat
            .post(&w.show, who, &mut pace, text)
            .await
            .unwrap_err();
        assert_eq!(code(e), expected, "{text:?}");
    }
    // The one message of the budget is still there; the next is over it.
    let ok = w.chat.post(&w.show, &viewer, &mut pace, "hi").await;
    assert_eq!(ok.unwrap(), Posted::Published);
    let over = w.chat.post(&w.show, &viewer, &mut pace, "again").await;
    assert_eq!(code(over.unwrap_err()), "rate_limited");
}

#[tokio::test]
async fn the_budget_is_the_person_s_on_every_connection_and_follows_the_clock() {
    let w = world(2, 5).await;
    let ann = speaker(Some(Role::Viewer), "Ann");
    let mut first = Pace::new(w.chat.settings());
    for text in ["one", "two"] {
        let posted = w.chat.post(&w.show, &ann, &mut first, text).await;
        assert_eq!(posted.unwrap(), Posted::Published);
    }
    // Another connection of the same person has a full bucket of its own, but the person's
    // budget in the store is spent: one more every 15 s.
    let mut second = Pace::new(w.chat.settings());
    match w.chat.post(&w.show, &ann, &mut second, "three").await {
        Err(ChatError::RateLimited { refusal, wait }) => {
            assert_eq!(refusal.code, "rate_limited");
            assert!(wait > Duration::from_secs(14) && wait <= Duration::from_secs(15));
        }
        other => panic!("expected rate_limited, got {other:?}"),
    }
    // Someone else is not limited by Ann's budget.
    let bob = speaker(Some(Role::Viewer), "Bob");
    let mut bobs = Pace::new(w.chat.settings());
    let posted = w.chat.post(&w.show, &bob, &mut bobs, "hi").await;
    assert_eq!(posted.unwrap(), Posted::Published);
    // The store's budget refills on the service's clock.
    w.clock.advance(Duration::from_secs(30));
    let mut third = Pace::new(w.chat.settings());
    let posted = w.chat.post(&w.show, &ann, &mut third, "four").await;
    assert_eq!(posted.unwrap(), Posted::Published);
}

#[tokio::test]
async fn a_connection_s_pace_refills_on_the_service_s_clock() {
    let w = world(5, 2).await;
    let membership = w.hub.join(&w.show).await.unwrap();
    let room = &membership.room;
    let viewer = speaker(Some(Role::Viewer), "Ann");
    let guest = speaker(None, "");
    let mut pace = Pace::new(w.chat.settings());
    // Guests have no shared budget: only their connection's bucket holds them back.
    let mut guests = Pace::new(w.chat.settings());
    for _ in 0..2 {
        let counted = w.chat.react(room, &viewer, &mut pace, "heart").await;
        assert_eq!(counted.unwrap(), Reacted::Counted);
        let counted = w.chat.react(room, &guest, &mut guests, "heart").await;
        assert_eq!(counted.unwrap(), Reacted::Counted);
    }
    let over = w.chat.react(room, &viewer, &mut pace, "heart").await;
    assert_eq!(code(over.unwrap_err()), "rate_limited");
    let over = w.chat.react(room, &guest, &mut guests, "heart").await;
    assert_eq!(code(over.unwrap_err()), "rate_limited");
    // A second later by the clock, with no time to speak of passing, both buckets are full.
    w.clock.advance(Duration::from_secs(1));
    for _ in 0..2 {
        let counted = w.chat.react(room, &viewer, &mut pace, "heart").await;
        assert_eq!(counted.unwrap(), Reacted::Counted);
        let counted = w.chat.react(room, &guest, &mut guests, "heart").await;
        assert_eq!(counted.unwrap(), Reacted::Counted);
    }
}

#[test]
fn a_pace_s_time_stands_still_when_the_clock_steps_back() {
    let settings = ChatSettings {
        rules: ChatRules { max_chars: 20 },
        chat: Budget::new(1, Duration::from_secs(30)),
        reactions: Budget::new(1, Duration::from_secs(1)),
    };
    let mut pace = Pace::new(&settings);
    assert_eq!(pace.now_ms(10_000), 10_000);
    assert_eq!(pace.now_ms(4_000), 10_000, "6 s back: no time passes");
    assert_eq!(
        pace.now_ms(4_500),
        10_500,
        "then it moves on with the clock"
    );
    assert_eq!(pace.now_ms(20_000), 26_000);
}

#[tokio::test]
async fn held_messages_are_pending_for_the_sender_and_queued_for_moderators() {
    let w = world(5, 5).await;
    let policy = ChatPolicy {
        links: LinkPolicy::Hold,
        ..ChatPolicy::default()
    };
    w.store.set_chat_policy(&w.show, &policy).await.unwrap();
    let viewer = speaker(Some(Role::Viewer), "Ann");
    let mut pace = Pace::new(w.chat.settings());
    let posted = w.chat.post(&w.show, &viewer, &mut pace, "www.x.test").await;
    let Ok(Posted::Held { id }) = posted else {
        panic!("expected a held message, got {posted:?}");
    };
    let moderator = speaker(Some(Role::Moderator), "Mo");
    let snapshot = w.chat.snapshot(&w.show, &moderator).await.unwrap();
    let held = snapshot.held.expect("moderators see the review queue");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].message.id, id);
    assert!(
        snapshot.chat.is_empty(),
        "a held message is not in the chat"
    );
    assert_eq!(snapshot.policy.links, LinkPolicy::Hold);
    // A guest sees neither the queue nor a standing.
    let guest = w.chat.snapshot(&w.show, &speaker(None, "")).await.unwrap();
    assert!(guest.held.is_none() && guest.standing.is_none());
}

#[tokio::test]
async fn reactions_are_counted_and_refusals_answered_once_a_second() {
    let w = world(5, 2).await;
    let membership = w.hub.join(&w.show).await.unwrap();
    let room = &membership.room;
    let camera = speaker(Some(Role::Camera), "Cam");
    let viewer = speaker(Some(Role::Viewer), "Ann");
    let mut pace = Pace::new(w.chat.settings());
    let refused = w.chat.react(room, &camera, &mut pace, "heart").await;
    assert_eq!(code(refused.unwrap_err()), "forbidden_role");
    let unknown = w.chat.react(room, &viewer, &mut pace, "dance").await;
    assert_eq!(code(unknown.unwrap_err()), "unknown_reaction");
    for _ in 0..2 {
        let counted = w.chat.react(room, &viewer, &mut pace, "heart").await;
        assert_eq!(counted.unwrap(), Reacted::Counted);
    }
    let over = w.chat.react(room, &viewer, &mut pace, "heart").await;
    assert_eq!(code(over.unwrap_err()), "rate_limited");
    let quiet = w.chat.react(room, &viewer, &mut pace, "heart").await;
    assert_eq!(quiet.unwrap(), Reacted::Dropped);
    // The room's window publishes what was counted.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let Replay::Frames(frames) = w.hub.bus.since(&w.show, 0).await.unwrap() else {
            panic!("the log reaches back to the start");
        };
        if let Some(f) = frames.iter().find(|f| f.text.contains("\"reactions\"")) {
            assert!(
                f.text.contains(r#""counts":{"heart":2}"#),
                "{}",
                f.text.as_str()
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no reactions frame");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
