//! The moderation service on a `MemoryStore`, a hub over a `MemoryBus` and a `TestClock`:
//! what each command stores, what the room is told, what the audit entry says, and timers
//! (timeouts, slow mode) that end when the clock moves, not after a sleep.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use super::*;
use crate::clock::{Clock, TestClock};
use crate::domain::chat::Author;
use crate::domain::moderation::{LinkPolicy, Standing};
use crate::domain::{Creator, CreatorId, NewShow, ShowId, Viewer, ViewerId};
use crate::hub::Replay;
use crate::store::MemoryStore;

struct Fixture {
    service: ModerationService,
    store: SharedStore,
    hub: Arc<Hub>,
    clock: Arc<TestClock>,
    show: Show,
    /// Another running show of the same creator.
    sibling: Show,
    viewer: String,
    creator: Actor,
    moderator: Actor,
    /// Frames of `show` already returned by [`Fixture::published`].
    seen: u64,
}

fn settings() -> ModerationSettings {
    ModerationSettings {
        chat: ChatRules { max_chars: 200 },
        ban_cooldown: Duration::from_secs(600),
    }
}

fn memory_hub() -> Arc<Hub> {
    crate::services::testing::memory_hub(Arc::new(crate::clock::SystemClock)).0
}

async fn stored_show(store: &SharedStore, creator: CreatorId, title: &str, now: Timestamp) -> Show {
    let new = NewShow {
        title: title.into(),
        description: None,
        scheduled_at: None,
        cover_url: None,
    };
    let show = Show::schedule(ShowId(Uuid::now_v7()), creator, new, now).unwrap();
    store.insert_show(&show).await.unwrap();
    show
}

impl Fixture {
    async fn new() -> Fixture {
        let store: SharedStore = Arc::new(MemoryStore::new());
        let hub = memory_hub();
        let clock = TestClock::new();
        let now = clock.now();
        let ada = Creator::new(CreatorId(Uuid::now_v7()), "Ada", now).unwrap();
        store.insert_creator(&ada).await.unwrap();
        let show = stored_show(&store, ada.id, "Morning", now).await;
        let sibling = stored_show(&store, ada.id, "Evening", now).await;
        let viewer = Viewer {
            id: ViewerId(Uuid::now_v7()),
            show_id: show.id,
            display_name: "Vic".into(),
            created_at: now,
        };
        store.insert_viewer(&show, &viewer).await.unwrap();
        let service = ModerationService::new(store.clone(), hub.clone(), clock.clone(), settings());
        Fixture {
            service,
            store,
            hub,
            clock,
            show,
            sibling,
            viewer: viewer.id.to_string(),
            creator: Actor {
                id: ada.id.to_string(),
                name: "Ada".into(),
                role: Role::Creator,
            },
            moderator: Actor {
                id: Uuid::now_v7().to_string(),
                name: "Mia".into(),
                role: Role::Moderator,
            },
            seen: 0,
        }
    }

    async fn apply(&self, command: Value) -> Result<Applied, ModError> {
        let command: ModCommand = serde_json::from_value(command).unwrap();
        self.service
            .apply(&self.show, &self.moderator, command)
            .await
    }

    /// The frames published to `show` since the last call.
    async fn published(&mut self) -> Vec<Value> {
        let frames = frames_of(&self.hub, &self.show, self.seen).await;
        self.seen += frames.len() as u64;
        frames
    }

    /// A viewer's chat message through [`screen`], at the clock's now.
    async fn chat(&self, author: &str, role: Role, text: &str) -> Result<Screened, ModError> {
        let message = ChatMessage {
            id: Uuid::now_v7().to_string().into(),
            author: Author {
                id: author.into(),
                name: "Someone".into(),
            },
            role,
            text: text.into(),
            at: self.clock.now(),
            seq: None,
        };
        let now = self.clock.now();
        let store = self.store.as_ref();
        screen(store, &self.hub, &self.show, Some(role), message, now).await
    }
}

async fn frames_of(hub: &Hub, show: &Show, after: u64) -> Vec<Value> {
    match hub.bus.since(show, after).await.unwrap() {
        Replay::Frames(frames) => frames
            .iter()
            .map(|f| serde_json::from_str(&f.text).unwrap())
            .collect(),
        Replay::TooOld => panic!("the log reaches back to the start"),
    }
}

fn types(frames: &[Value]) -> Vec<&str> {
    frames.iter().map(|f| f["type"].as_str().unwrap()).collect()
}

fn code(result: Result<impl std::fmt::Debug, ModError>) -> &'static str {
    match result {
        Err(ModError::Rule(e)) => e.code.as_str(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_timeout_is_stored_told_audited_and_ends_with_the_clock() {
    let mut f = Fixture::new().await;
    let viewer = f.viewer.clone();
    let command = json!({ "type": "mod.timeout", "viewer_id": viewer, "seconds": 60, "reason": "calm\ndown" });
    let applied = f.apply(command).await.unwrap();
    let until = f.clock.now() + chrono::Duration::seconds(60);

    assert_eq!(applied.command, "mod.timeout");
    let entry = applied.audit.unwrap();
    assert_eq!(entry.action, "mod.timeout");
    assert_eq!(entry.actor, f.moderator);
    assert_eq!(entry.target.as_deref(), Some(viewer.as_str()));
    assert_eq!(entry.reason.as_deref(), Some("calm down"));
    assert_eq!(entry.details["seconds"], 60);
    let ends = f
        .store
        .standing(&f.show, &viewer, f.clock.now())
        .await
        .unwrap();
    let ends = ends.timed_out_until.unwrap();
    assert!((until - ends).num_seconds().abs() <= 1, "{ends} vs {until}");

    let frames = f.published().await;
    assert_eq!(types(&frames), ["mod.notice", "mod.audit"]);
    assert_eq!(frames[0]["to"], viewer.as_str());
    assert_eq!(frames[0]["action"], "timeout");
    assert_eq!(frames[1]["entry"]["id"], entry.id.as_str());
    assert_eq!(f.service.audit_log(&f.show, None).await.unwrap(), [entry]);

    assert_eq!(code(f.chat(&viewer, Role::Viewer, "hi").await), "timed_out");
    f.clock.advance(Duration::from_secs(61));
    let sent = f.chat(&viewer, Role::Viewer, "I am back").await.unwrap();
    assert_eq!(sent, Screened::Published);
}

#[tokio::test]
async fn only_viewers_are_timed_out_or_banned() {
    let mut f = Fixture::new().await;
    for target in [
        f.creator.id.clone(),
        f.moderator.id.clone(),
        "nobody".into(),
    ] {
        let timeout = json!({ "type": "mod.timeout", "viewer_id": target, "seconds": 60 });
        assert_eq!(code(f.apply(timeout).await), "viewer_not_found");
        let ban = json!({ "type": "mod.ban", "viewer_id": target });
        assert_eq!(code(f.apply(ban).await), "viewer_not_found");
        let standing = f
            .store
            .standing(&f.show, &target, f.clock.now())
            .await
            .unwrap();
        assert_eq!(standing, Standing::default(), "{target}");
    }
    let too_short = json!({ "type": "mod.timeout", "viewer_id": f.viewer, "seconds": 9 });
    assert_eq!(code(f.apply(too_short).await), "invalid_duration");
    assert!(f.published().await.is_empty());
    assert!(f.service.audit_log(&f.show, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_creator_wide_ban_is_the_creators_and_reaches_their_other_shows() {
    let mut f = Fixture::new().await;
    let viewer = f.viewer.clone();
    let ban = json!({ "type": "mod.ban", "viewer_id": viewer, "scope": "creator" });
    assert_eq!(code(f.apply(ban.clone()).await), "forbidden_role");
    assert!(
        !f.store
            .standing(&f.sibling, &viewer, f.clock.now())
            .await
            .unwrap()
            .banned
    );
    let lift = json!({ "type": "mod.unban", "viewer_id": viewer, "scope": "creator" });
    assert_eq!(code(f.apply(lift).await), "forbidden_role");

    let address: std::net::IpAddr = "192.0.2.7".parse().unwrap();
    let id: ViewerId = viewer.parse().unwrap();
    let day = Duration::from_secs(86_400);
    let creator_id = f.show.creator_id;
    f.store
        .note_join_address(creator_id, id, address, day)
        .await
        .unwrap();
    let command = serde_json::from_value(ban).unwrap();
    let applied = f.service.apply(&f.show, &f.creator, command).await.unwrap();
    assert_eq!(
        applied.audit.unwrap().details,
        json!({ "scope": "creator" })
    );
    assert!(
        f.store
            .standing(&f.sibling, &viewer, f.clock.now())
            .await
            .unwrap()
            .banned
    );
    let now = f.clock.now();
    assert!(
        f.store
            .address_banned(&f.sibling, address, now)
            .await
            .unwrap()
    );
    assert_eq!(types(&f.published().await), ["mod.notice", "mod.audit"]);
    let elsewhere = frames_of(&f.hub, &f.sibling, 0).await;
    assert_eq!(types(&elsewhere), ["mod.notice"]);
    assert_eq!(elsewhere[0]["action"], "ban");

    // The address ban lasts the cool-down, by the clock.
    f.clock.advance(Duration::from_secs(601));
    let later = f.clock.now();
    assert!(
        !f.store
            .address_banned(&f.sibling, address, later)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn slow_mode_spaces_a_viewers_messages_by_the_clock() {
    let mut f = Fixture::new().await;
    let viewer = f.viewer.clone();
    let applied = f
        .apply(json!({ "type": "mod.slow", "seconds": 30 }))
        .await
        .unwrap();
    assert_eq!(applied.audit.unwrap().details, json!({ "seconds": 30 }));
    let frames = f.published().await;
    assert_eq!(types(&frames), ["chat.mode", "mod.audit"]);
    assert_eq!(frames[0]["slow_mode_s"], 30);
    assert_eq!(
        f.service
            .overview(&f.show)
            .await
            .unwrap()
            .policy
            .slow_mode_s,
        30
    );

    assert_eq!(
        f.chat(&viewer, Role::Viewer, "one").await.unwrap(),
        Screened::Published
    );
    assert_eq!(
        code(f.chat(&viewer, Role::Viewer, "two").await),
        "slow_mode"
    );
    f.clock.advance(Duration::from_secs(31));
    assert_eq!(
        f.chat(&viewer, Role::Viewer, "two").await.unwrap(),
        Screened::Published
    );

    let too_slow = json!({ "type": "mod.slow", "seconds": 3601 });
    assert_eq!(code(f.apply(too_slow).await), "invalid_duration");
}

#[tokio::test]
async fn pause_and_links_change_the_mode_everyone_sees() {
    let mut f = Fixture::new().await;
    f.apply(json!({ "type": "mod.pause", "paused": true }))
        .await
        .unwrap();
    f.apply(json!({ "type": "mod.links", "policy": "hold" }))
        .await
        .unwrap();
    let frames = f.published().await;
    assert_eq!(
        types(&frames),
        ["chat.mode", "mod.audit", "chat.mode", "mod.audit"]
    );
    assert_eq!(
        frames[2],
        json!({ "type": "chat.mode", "slow_mode_s": 0, "paused": true, "links": "hold", "seq": 3 })
    );
    assert_eq!(frames[3]["entry"]["details"], json!({ "links": "hold" }));
    let policy = f.service.overview(&f.show).await.unwrap().policy;
    assert!(policy.paused);
    assert_eq!(policy.links, LinkPolicy::Hold);
}

#[tokio::test]
async fn held_messages_are_approved_or_rejected_once() {
    let mut f = Fixture::new().await;
    let viewer = f.viewer.clone();
    f.apply(json!({ "type": "mod.terms", "add": ["scam"] }))
        .await
        .unwrap();
    let Screened::Held { id: first } = f.chat(&viewer, Role::Viewer, "a s c a m").await.unwrap()
    else {
        panic!("held")
    };
    let Screened::Held { id: second } = f.chat(&viewer, Role::Viewer, "SCAM").await.unwrap() else {
        panic!("held")
    };
    assert_eq!(f.service.overview(&f.show).await.unwrap().held.len(), 2);
    f.published().await;

    f.apply(json!({ "type": "mod.approve", "message_id": first }))
        .await
        .unwrap();
    let frames = f.published().await;
    assert_eq!(
        types(&frames),
        ["chat.message", "chat.resolved", "mod.audit"]
    );
    assert_eq!(frames[0]["id"], first.as_str());
    assert_eq!(frames[1]["approved"], true);
    assert_eq!(frames[1]["by"], "Mia");

    let reject = json!({ "type": "mod.reject", "message_id": second, "reason": "spam" });
    let entry = f.apply(reject.clone()).await.unwrap().audit.unwrap();
    assert_eq!(entry.reason.as_deref(), Some("spam"));
    let frames = f.published().await;
    assert_eq!(types(&frames), ["chat.resolved", "mod.audit"]);
    assert_eq!(frames[0]["approved"], false);

    assert_eq!(code(f.apply(reject).await), "not_held");
    let again = json!({ "type": "mod.approve", "message_id": first });
    assert_eq!(code(f.apply(again).await), "not_held");
    assert!(f.service.overview(&f.show).await.unwrap().held.is_empty());
}

#[tokio::test]
async fn deleting_the_pinned_message_unpins_it() {
    let mut f = Fixture::new().await;
    let viewer = f.viewer.clone();
    f.chat(&viewer, Role::Viewer, "free shipping today")
        .await
        .unwrap();
    let said = f.published().await;
    let id = said[0]["id"].as_str().unwrap().to_string();

    let unknown = json!({ "type": "mod.pin", "message_id": "nope" });
    assert_eq!(code(f.apply(unknown).await), "message_not_found");
    f.apply(json!({ "type": "mod.pin", "message_id": id }))
        .await
        .unwrap();
    let pinned = f.service.overview(&f.show).await.unwrap().pinned_message;
    assert_eq!(pinned.unwrap().id, id);
    assert_eq!(types(&f.published().await), ["chat.pinned", "mod.audit"]);

    let entry = f
        .apply(json!({ "type": "mod.delete", "message_id": id }))
        .await
        .unwrap();
    assert_eq!(entry.audit.unwrap().details, json!({ "in_history": true }));
    let frames = f.published().await;
    assert_eq!(types(&frames), ["chat.deleted", "chat.pinned", "mod.audit"]);
    assert_eq!(frames[1]["message"], Value::Null);
    assert!(
        f.service
            .overview(&f.show)
            .await
            .unwrap()
            .pinned_message
            .is_none()
    );
    assert!(f.hub.find_chat(&f.show, &id).await.unwrap().is_none());

    // Deleting it again: nothing in the history, nothing pinned to drop.
    let entry = f
        .apply(json!({ "type": "mod.delete", "message_id": id }))
        .await
        .unwrap();
    assert_eq!(entry.audit.unwrap().details, json!({ "in_history": false }));
    assert_eq!(types(&f.published().await), ["chat.deleted", "mod.audit"]);
}

#[tokio::test]
async fn the_moderators_channel_is_not_audited() {
    let mut f = Fixture::new().await;
    let applied = f
        .apply(json!({ "type": "mod.chat", "text": "  eyes on Vic " }))
        .await
        .unwrap();
    assert_eq!(
        applied,
        Applied {
            command: "mod.chat",
            audit: None
        }
    );
    let frames = f.published().await;
    assert_eq!(types(&frames), ["mod.message"]);
    assert_eq!(frames[0]["text"], "eyes on Vic");
    assert_eq!(frames[0]["author"]["name"], "Mia");
    assert_eq!(
        code(f.apply(json!({ "type": "mod.chat", "text": " " })).await),
        "empty_message"
    );
    assert!(f.service.audit_log(&f.show, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn revoking_an_invite_tells_its_holder_and_is_audited() {
    let mut f = Fixture::new().await;
    let invite = crate::domain::InviteId(Uuid::now_v7());
    let (show, creator) = (f.show.clone(), f.creator.clone());
    let refused = f.service.revoke_invite(&show, &creator, invite).await;
    assert_eq!(code(refused), "invite_not_found");
    f.store.record_invite(show.id, invite).await.unwrap();
    let entry = f
        .service
        .revoke_invite(&show, &creator, invite)
        .await
        .unwrap();
    assert_eq!(entry.action, "invite.revoke");
    assert_eq!(entry.target, Some(invite.to_string()));
    assert!(f.store.is_revoked(show.id, invite).await.unwrap());
    let frames = f.published().await;
    assert_eq!(types(&frames), ["mod.notice", "mod.audit"]);
    assert_eq!(frames[0]["action"], "revoked");
}

#[tokio::test]
async fn only_the_creator_and_moderators_act_and_the_audit_read_is_bounded() {
    let f = Fixture::new().await;
    let creator = Principal::Creator {
        creator_id: f.show.creator_id,
    };
    let actor = f.service.actor(Some(&creator), &f.show).await.unwrap();
    assert_eq!(actor, f.creator);
    let moderator = Principal::Moderator {
        show_id: f.show.id,
        invite_id: crate::domain::InviteId(Uuid::now_v7()),
        label: None,
    };
    let actor = f.service.actor(Some(&moderator), &f.show).await.unwrap();
    assert_eq!(
        (actor.name.as_str(), actor.role),
        ("Moderator", Role::Moderator)
    );
    let viewer = Principal::Viewer {
        show_id: f.show.id,
        viewer_id: f.viewer.parse().unwrap(),
        name: "Vic".into(),
    };
    assert_eq!(
        code(f.service.actor(Some(&viewer), &f.show).await),
        "forbidden_role"
    );
    assert_eq!(code(f.service.actor(None, &f.show).await), "missing_token");
    assert_eq!(
        code(f.service.audit_log(&f.show, Some(0)).await),
        "invalid_limit"
    );
}
