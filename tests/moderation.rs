//! Moderation end to end, with real WebSocket clients on both stores (and two nodes sharing
//! Redis): every `mod.*` command against every kind of caller, over the WebSocket and over
//! `POST /api/shows/{id}/moderation`; timeouts, bans (per show and creator-wide), blocked
//! terms with look-alike spellings, held messages and their approval, slow mode, pause, link
//! holds, deletes, clears, pinned messages, the moderators' channel, revoked invitations, the
//! audit log (live and stored), and hostile chat input that must stay text.

mod common;

use std::time::Duration;

use common::server::{Backend, TestServer, assert_problem, s, test_config};
use common::ws::{Ending, WAIT, WsClient};
use livesale::clock::Clock;
use livesale::config::Config;
use livesale::domain::Principal;
use serde_json::{Value, json};

on_both_stores!(
    ws_role_matrix,
    http_moderation_role_matrix,
    camera_cannot_chat_moderate_or_buy,
    creator_wide_ban,
    ban_disconnects_and_keeps_out,
    timeout_slow_mode_pause_and_links,
    blocked_terms_are_held_until_approved,
    delete_clear_and_pin,
    moderators_channel_is_private,
    revoking_an_invite_closes_its_connections,
    audit_log_records_every_action,
    hostile_input_stays_text,
    moderators_cannot_silence_the_host_or_each_other,
);

/// A creator cannot revoke another creator's invitations: revocations are recorded under the
/// revoking creator's own show, and a token only checks its own show's revocations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_cannot_revoke_another_creators_invites() {
    let room = Room::new(Backend::Memory).await;
    let moderator = room.moderator("Mia").await;
    let (_, stranger) = room.srv.creator("Stranger").await;
    let theirs = room.srv.show(&stranger, "Theirs").await;
    let path = format!("/api/shows/{theirs}/invites/{}", invite_id_of(&moderator));
    let got = room.srv.delete(&path, Some(&stranger)).await;
    assert_problem(&got, 404, "invite_not_found");
    // An invitation id nobody minted is 404 too, for the show's own creator.
    let path = format!("{}/invites/{}", room.path(""), uuid::Uuid::now_v7());
    let got = room.srv.delete(&path, Some(&room.creator)).await;
    assert_problem(&got, 404, "invite_not_found");
    let (status, body) = room
        .srv
        .get(&room.path("/moderation"), Some(&moderator))
        .await;
    assert_eq!(status, 200, "Ann's moderator still works: {body}");
    // And the stranger cannot reach Ann's show's route at all.
    let path = format!("{}/invites/{}", room.path(""), invite_id_of(&moderator));
    assert_eq!(room.srv.delete(&path, Some(&stranger)).await.0, 403);
}

mod redis_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_nodes_share_moderation() {
        super::two_nodes_share_moderation().await
    }
}

// ---------------------------------------------------------------------------------------------
// The cast and small helpers

/// A test config where the per-connection chat rate limit never gets in the way.
fn config(backend: Backend) -> Config {
    let mut c = test_config(backend);
    c.chat_rate = 10_000;
    c.chat_rate_period_s = 1;
    c
}

/// A server with one creator and one show of theirs.
struct Room {
    srv: TestServer,
    creator: String,
    show: String,
}

impl Room {
    async fn new(backend: Backend) -> Room {
        Room::on(TestServer::start_with(config(backend)).await).await
    }

    async fn on(srv: TestServer) -> Room {
        let (_, creator) = srv.creator("Host Ann").await;
        let show = srv.show(&creator, "Moderated show").await;
        Room { srv, creator, show }
    }

    /// The same creator and show, seen through another node.
    fn sibling(&self, srv: TestServer) -> Room {
        Room {
            srv,
            creator: self.creator.clone(),
            show: self.show.clone(),
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/shows/{}{rest}", self.show)
    }

    /// A moderator invite with a label (the actor name in audit entries).
    async fn moderator(&self, label: &str) -> String {
        let (status, body) = self
            .srv
            .post(
                &self.path("/invites"),
                Some(&self.creator),
                json!({ "role": "moderator", "label": label }),
            )
            .await;
        assert_eq!(status, 201, "moderator invite: {body}");
        s(&body["token"])
    }

    async fn camera(&self) -> String {
        self.srv.invite(&self.creator, &self.show, "camera").await
    }

    async fn viewer(&self, name: &str) -> (String, String) {
        self.srv.viewer(&self.show, name).await
    }

    async fn join(&self, token: Option<&str>) -> WsClient {
        WsClient::join(&self.srv, &self.show, token).await.0
    }

    /// The `welcome` a client connecting now receives.
    async fn welcome(&self, token: Option<&str>) -> Value {
        let (c, welcome) = WsClient::join(&self.srv, &self.show, token).await;
        c.close().await;
        welcome
    }

    async fn moderate(&self, token: &str, body: Value) -> (u16, Value) {
        self.srv
            .post(&self.path("/moderation"), Some(token), body)
            .await
    }

    /// Applies a command as the creator over HTTP and insists it worked.
    async fn apply(&self, body: Value) {
        let (status, answer) = self.moderate(&self.creator, body.clone()).await;
        assert_eq!(status, 200, "{body} → {answer}");
        assert_eq!(answer["applied"], body["type"]);
    }

    /// `GET /moderation` as the creator: policy, held queue, pinned message.
    async fn state(&self) -> Value {
        let (status, body) = self
            .srv
            .get(&self.path("/moderation"), Some(&self.creator))
            .await;
        assert_eq!(status, 200, "moderation state: {body}");
        body
    }

    /// `GET /audit` as the creator.
    async fn audit(&self) -> Vec<Value> {
        let (status, body) = self
            .srv
            .get(&self.path("/audit"), Some(&self.creator))
            .await;
        assert_eq!(status, 200, "audit: {body}");
        body["entries"].as_array().expect("entries").clone()
    }

    /// `POST /viewers` presenting an earlier token.
    async fn rejoin(&self, show: &str, token: &str) -> (u16, Value) {
        self.srv
            .post(
                &format!("/api/shows/{show}/viewers"),
                Some(token),
                json!({ "display_name": "Again" }),
            )
            .await
    }
}

/// Frames that come on their own schedule and say nothing about moderation.
fn is_noise(v: &Value) -> bool {
    matches!(v["type"].as_str(), Some("presence" | "reactions"))
}

fn types(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .map(|f| f["type"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Sends a command as a moderator over the WebSocket and waits for its audit entry.
/// Every `mod.audit` entry read on the way is added to `live`.
async fn by_mod(m: &mut WsClient, live: &mut Vec<Value>, body: Value) {
    m.send_json(body.clone()).await;
    let action = body["type"].as_str().unwrap();
    let frames = m
        .collect_until(
            |v| {
                (v["type"] == "mod.audit" && v["entry"]["action"] == action) || v["type"] == "error"
            },
            WAIT,
        )
        .await;
    assert_eq!(
        frames.last().unwrap()["type"],
        "mod.audit",
        "{body}: {frames:?}"
    );
    live.extend(
        frames
            .iter()
            .filter(|f| f["type"] == "mod.audit")
            .map(|f| f["entry"].clone()),
    );
}

/// Sends a chat message and waits for it to come back published; returns the `chat.message`.
async fn said(c: &mut WsClient, text: &str) -> Value {
    c.chat(text).await;
    let frames = c
        .collect_until(
            |v| {
                (v["type"] == "chat.message" && v["text"] == text)
                    || v["type"] == "error"
                    || v["type"] == "chat.pending"
            },
            WAIT,
        )
        .await;
    let last = frames
        .last()
        .expect("collect_until returns the match")
        .clone();
    assert_eq!(
        last["type"], "chat.message",
        "{text:?} was not published: {last}"
    );
    last
}

/// Sends a chat message that must be held; returns its id (from `chat.pending`).
async fn held(c: &mut WsClient, text: &str) -> String {
    c.chat(text).await;
    let frames = c
        .collect_until(
            |v| {
                v["type"] == "chat.pending"
                    || v["type"] == "error"
                    || (v["type"] == "chat.message" && v["text"] == text)
            },
            WAIT,
        )
        .await;
    let last = frames.last().expect("match");
    assert_eq!(
        last["type"], "chat.pending",
        "{text:?} was not held: {last}"
    );
    assert_eq!(
        last.as_object().map(|o| o.len()),
        Some(2),
        "chat.pending says only the id: {last}"
    );
    s(&last["id"])
}

/// Sends a chat message that must be refused with `code`; returns the error frame.
async fn refused(c: &mut WsClient, text: &str, code: &str) -> Value {
    c.chat(text).await;
    expect_error(c, code).await
}

/// Reads until an `error` frame (skipping others); asserts its code and that it explains.
async fn expect_error(c: &mut WsClient, code: &str) -> Value {
    let error = c
        .collect_until(|v| v["type"] == "error", WAIT)
        .await
        .pop()
        .expect("match");
    assert_eq!(error["code"], code, "expected error {code}: {error}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    error
}

/// [`expect_error`], insisting nothing but noise came before the error (for clients that
/// receive no moderator frames and did nothing else).
async fn expect_refusal(c: &mut WsClient, code: &str) -> Value {
    let mut frames = c.collect_until(|v| v["type"] == "error", WAIT).await;
    let error = frames.pop().expect("match");
    assert_eq!(error["code"], code, "expected error {code}: {error}");
    frames.retain(|f| !is_noise(f));
    assert!(
        frames.is_empty(),
        "frames before the {code} error: {frames:?}"
    );
    error
}

/// A `mod.audit` for `action`, skipping other frames.
async fn audit_frame(c: &mut WsClient, action: &str) -> Value {
    let frames = c
        .collect_until(
            |v| {
                (v["type"] == "mod.audit" && v["entry"]["action"] == action) || v["type"] == "error"
            },
            WAIT,
        )
        .await;
    let last = frames.last().expect("match").clone();
    assert_eq!(
        last["type"], "mod.audit",
        "expected the {action} audit entry: {last}"
    );
    last["entry"].clone()
}

/// Sends a chat message through `marker` (the creator: exempt from every chat rule) and reads
/// every client up to it. The bus delivers in one order, so anything an earlier action
/// published reaches each client before the marker. Returns, per client (marker first), what
/// came before it, noise removed.
async fn fence(marker: &mut WsClient, watchers: &mut [&mut WsClient]) -> Vec<Vec<Value>> {
    let mark = format!("fence {}", uuid::Uuid::new_v4().simple());
    marker.chat(&mark).await;
    let hit = |v: &Value| v["type"] == "chat.message" && v["text"] == mark.as_str();
    let strip = |mut frames: Vec<Value>| {
        frames.pop();
        frames.retain(|f| !is_noise(f));
        frames
    };
    let mut seen = vec![strip(marker.collect_until(hit, WAIT).await)];
    for w in watchers.iter_mut() {
        seen.push(strip(w.collect_until(hit, WAIT).await));
    }
    seen
}

/// [`fence`], insisting nobody received anything.
async fn assert_quiet(marker: &mut WsClient, watchers: &mut [&mut WsClient], what: &str) {
    for (i, frames) in fence(marker, watchers).await.iter().enumerate() {
        assert!(
            frames.is_empty(),
            "{what}: client #{i} (0 = creator) received {:?}: {frames:?}",
            types(frames)
        );
    }
}

/// Connects and expects to be refused with `code` before any frame.
async fn refused_connect(
    srv: &TestServer,
    show: &str,
    token: Option<&str>,
    code: u16,
    who: &str,
) -> String {
    let mut c = WsClient::connect(srv, show, token, "").await;
    let (ending, frames) = c.expect_end(WAIT).await;
    assert_eq!(frames, 0, "{who}: frames arrived before the close");
    match ending {
        Ending::Close(got, reason) => {
            assert_eq!(got, code, "{who}: closed with {got} {reason:?}");
            reason
        }
        Ending::Dropped(e) => panic!("{who}: expected close {code}, the connection dropped: {e}"),
    }
}

fn chat_ids(welcome: &Value) -> Vec<String> {
    welcome["chat"]
        .as_array()
        .expect("welcome.chat")
        .iter()
        .map(|m| s(&m["id"]))
        .collect()
}

/// The invite id inside an invitation token (a JWT: the claims are the middle part).
fn invite_id_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url claims"),
    )
    .expect("JSON claims");
    s(&claims["invite_id"])
}

fn principal(v: Value) -> Principal {
    serde_json::from_value(v).expect("a principal")
}

/// The seconds in "you are timed out for N more seconds".
fn seconds_in(message: &str) -> u64 {
    message
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number of seconds in {message:?}"))
}

fn timestamp(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {v}"))
}

/// An HTTP call that also returns the content type.
async fn call(
    srv: &TestServer,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String, Value) {
    let mut req = match &body {
        Some(b) => srv.http.post(srv.url(path)).json(b),
        None => srv.http.get(srv.url(path)),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request sent");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (status, body) = TestServer::finish(resp).await;
    (status, content_type, body)
}

// ---------------------------------------------------------------------------------------------
// Role matrices

/// Every moderation command.
const MOD_COMMANDS: [&str; 14] = [
    "mod.delete",
    "mod.timeout",
    "mod.ban",
    "mod.unban",
    "mod.slow",
    "mod.terms",
    "mod.links",
    "mod.approve",
    "mod.reject",
    "mod.clear",
    "mod.pause",
    "mod.pin",
    "mod.unpin",
    "mod.chat",
];

/// What commands act on: a published message, a held message and a viewer.
struct Ctx {
    published: String,
    held: String,
    target: String,
}

/// A command with an effect (so a refusal that leaked would show).
fn command(ty: &str, ctx: &Ctx) -> Value {
    match ty {
        "mod.delete" => json!({ "type": ty, "message_id": ctx.published }),
        "mod.timeout" => {
            json!({ "type": ty, "viewer_id": ctx.target, "seconds": 60, "reason": "matrix" })
        }
        "mod.ban" => json!({ "type": ty, "viewer_id": ctx.target, "reason": "matrix" }),
        "mod.unban" => json!({ "type": ty, "viewer_id": ctx.target }),
        "mod.slow" => json!({ "type": ty, "seconds": 30 }),
        "mod.terms" => json!({ "type": ty, "add": ["matrixterm"] }),
        "mod.links" => json!({ "type": ty, "policy": "hold" }),
        "mod.approve" => json!({ "type": ty, "message_id": ctx.held }),
        "mod.reject" => json!({ "type": ty, "message_id": ctx.held, "reason": "matrix" }),
        "mod.clear" => json!({ "type": ty }),
        "mod.pause" => json!({ "type": ty, "paused": true }),
        "mod.pin" => json!({ "type": ty, "message_id": ctx.published }),
        "mod.unpin" => json!({ "type": ty }),
        "mod.chat" => json!({ "type": ty, "text": "matrix note" }),
        other => panic!("no body for {other}"),
    }
}

/// What puts the policy back after an allowed command, so the next one starts clean.
fn undo(ty: &str, ctx: &Ctx) -> Option<Value> {
    match ty {
        "mod.ban" => Some(json!({ "type": "mod.unban", "viewer_id": ctx.target })),
        "mod.slow" => Some(json!({ "type": "mod.slow", "seconds": 0 })),
        "mod.links" => Some(json!({ "type": "mod.links", "policy": "plain" })),
        "mod.pause" => Some(json!({ "type": "mod.pause", "paused": false })),
        _ => None,
    }
}

/// A fresh published and held message from `poster` (the term `heldword` is blocked).
async fn context(poster: &mut WsClient, target: &str) -> Ctx {
    let n = uuid::Uuid::new_v4().simple().to_string();
    let published = s(&said(poster, &format!("ordinary message {n}")).await["id"]);
    let held = held(poster, &format!("heldword {n}")).await;
    Ctx {
        published,
        held,
        target: target.to_string(),
    }
}

/// Tokens for the matrices.
struct Cast {
    moderator: String,
    camera: String,
    viewer: String,
    poster: String,
    target_id: String,
    target: String,
    foreign_moderator: String,
    foreign_viewer: String,
    other_creator: String,
    expired: String,
}

async fn cast(room: &Room) -> Cast {
    room.apply(json!({ "type": "mod.terms", "add": ["heldword"] }))
        .await;
    let other_show = room
        .srv
        .show(&room.creator, "Another show of the creator")
        .await;
    let (target_id, target) = room.viewer("Target").await;
    let expired = room.srv.mint(
        &principal(json!({
            "role": "moderator", "show_id": room.show,
            "invite_id": uuid::Uuid::now_v7().to_string(), "label": "Former",
        })),
        0,
    );
    Cast {
        moderator: room.moderator("Mia").await,
        camera: room.camera().await,
        viewer: room.viewer("Vera").await.1,
        poster: room.viewer("Poster").await.1,
        target_id,
        target,
        foreign_moderator: room
            .srv
            .invite(&room.creator, &other_show, "moderator")
            .await,
        foreign_viewer: room.srv.viewer(&other_show, "Fred").await.1,
        other_creator: room.srv.creator("Other creator").await.1,
        expired,
    }
}

/// Every `mod.*` command over the WebSocket by every kind of caller: viewers, cameras and
/// anonymous watchers get `forbidden_role` and nothing happens; tokens for another show or
/// expired ones never get in; the creator and moderators succeed.
async fn ws_role_matrix(backend: Backend) {
    let room = Room::new(backend).await;
    let cast = cast(&room).await;

    for (who, token, code) in [
        (
            "a moderator of another show",
            cast.foreign_moderator.as_str(),
            4003,
        ),
        (
            "a viewer of another show",
            cast.foreign_viewer.as_str(),
            4003,
        ),
        ("another creator", cast.other_creator.as_str(), 4003),
        ("an expired moderator token", cast.expired.as_str(), 4001),
        ("a garbage token", "not-a-token", 4001),
    ] {
        refused_connect(&room.srv, &room.show, Some(token), code, who).await;
    }

    let mut creator = room.join(Some(&room.creator)).await;
    let mut moderator = room.join(Some(&cast.moderator)).await;
    let mut target = room.join(Some(&cast.target)).await;
    let mut poster = room.join(Some(&cast.poster)).await;
    let ctx = context(&mut poster, &cast.target_id).await;
    let state = room.state().await;
    let audit = room.audit().await;
    fence(
        &mut creator,
        &mut [&mut moderator, &mut target, &mut poster],
    )
    .await;

    for (who, token) in [
        ("viewer", Some(cast.viewer.as_str())),
        ("camera", Some(cast.camera.as_str())),
        ("anonymous watcher", None),
    ] {
        let mut actor = room.join(token).await;
        for ty in MOD_COMMANDS {
            actor.send_json(command(ty, &ctx)).await;
            let e = expect_refusal(&mut actor, "forbidden_role").await;
            assert!(
                e["message"].as_str().unwrap().contains("moderat"),
                "{ty} by {who}: {e}"
            );
        }
        assert_quiet(
            &mut creator,
            &mut [&mut moderator, &mut target, &mut poster, &mut actor],
            &format!("mod.* by a {who}"),
        )
        .await;
        actor.close().await;
    }
    assert_eq!(
        room.state().await,
        state,
        "refused commands changed the moderation state"
    );
    assert_eq!(
        room.audit().await,
        audit,
        "refused commands left audit entries"
    );
    let welcome = room.welcome(None).await;
    assert!(
        chat_ids(&welcome).contains(&ctx.published),
        "the message survived: {welcome}"
    );
    assert!(
        !chat_ids(&welcome).contains(&ctx.held),
        "the held message stayed held"
    );
    assert_eq!(welcome["pinned_message"], Value::Null);
    assert_eq!(
        welcome["chat_mode"],
        json!({ "type": "chat.mode", "slow_mode_s": 0, "paused": false, "links": "plain" })
    );
    let (status, body) = room.rejoin(&room.show, &cast.target).await;
    assert_eq!(status, 201, "the target was not banned: {body}");
    let timed = room.welcome(Some(&cast.target)).await;
    assert_eq!(
        timed["standing"]["timed_out_until"],
        Value::Null,
        "nor timed out: {timed}"
    );
    target.close().await;

    for (who, token) in [
        ("creator", room.creator.clone()),
        ("moderator", cast.moderator.clone()),
    ] {
        let mut actor = room.join(Some(&token)).await;
        for ty in MOD_COMMANDS {
            let ctx = context(&mut poster, &cast.target_id).await;
            actor.send_json(command(ty, &ctx)).await;
            if ty == "mod.chat" {
                let frames = actor
                    .collect_until(|v| v["type"] == "mod.message" || v["type"] == "error", WAIT)
                    .await;
                let last = frames.last().unwrap();
                assert_eq!(last["type"], "mod.message", "{ty} by the {who}: {last}");
                assert_eq!(last["role"], who);
                continue;
            }
            let entry = audit_frame(&mut actor, ty).await;
            assert_eq!(entry["actor"]["role"], who, "{entry}");
            if let Some(undo) = undo(ty, &ctx) {
                room.apply(undo.clone()).await;
                audit_frame(&mut actor, undo["type"].as_str().unwrap()).await;
            }
        }
        actor.close().await;
    }
    let terms = room.state().await["policy"]["blocked_terms"].clone();
    assert_eq!(terms, json!(["heldword", "matrixterm"]));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Applied,
    Problem(u16, &'static str),
}

/// The moderation routes by every kind of caller, as a table.
async fn http_moderation_role_matrix(backend: Backend) {
    let room = Room::new(backend).await;
    let cast = cast(&room).await;
    #[rustfmt::skip]
    let table: [(&str, Option<&str>, Expect); 9] = [
        ("creator", Some(room.creator.as_str()), Expect::Applied),
        ("moderator", Some(cast.moderator.as_str()), Expect::Applied),
        ("viewer", Some(cast.viewer.as_str()), Expect::Problem(403, "forbidden_role")),
        ("camera", Some(cast.camera.as_str()), Expect::Problem(403, "forbidden_role")),
        ("moderator of another show", Some(cast.foreign_moderator.as_str()), Expect::Problem(403, "wrong_show")),
        ("viewer of another show", Some(cast.foreign_viewer.as_str()), Expect::Problem(403, "forbidden_role")),
        ("another creator", Some(cast.other_creator.as_str()), Expect::Problem(403, "wrong_show")),
        ("expired token", Some(cast.expired.as_str()), Expect::Problem(401, "token_expired")),
        ("no token", None, Expect::Problem(401, "missing_token")),
    ];
    let mut poster = room.join(Some(&cast.poster)).await;
    let mut failures = Vec::new();
    let check =
        |what: String, expect: Expect, got: (u16, String, Value), failures: &mut Vec<String>| {
            let (status, content_type, body) = got;
            let ok = match expect {
                Expect::Applied => status == 200,
                Expect::Problem(want, code) => {
                    status == want
                        && content_type.starts_with("application/problem+json")
                        && body["code"] == code
                        && body["status"] == want
                }
            };
            if !ok {
                failures.push(format!(
                    "{what}: expected {expect:?}, got {status} {content_type:?} {body}"
                ));
            }
        };

    // Refused callers first, on one context: nothing they send may change anything.
    let ctx = context(&mut poster, &cast.target_id).await;
    let state = room.state().await;
    let audit = room.audit().await;
    for (who, token, expect) in table.iter().filter(|r| r.2 != Expect::Applied) {
        for ty in MOD_COMMANDS {
            let got = call(
                &room.srv,
                &room.path("/moderation"),
                *token,
                Some(command(ty, &ctx)),
            )
            .await;
            check(format!("{ty} by {who}"), *expect, got, &mut failures);
        }
        for route in ["/moderation", "/audit"] {
            let got = call(&room.srv, &room.path(route), *token, None).await;
            check(format!("GET {route} by {who}"), *expect, got, &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        room.state().await,
        state,
        "refused commands changed the moderation state"
    );
    assert_eq!(
        room.audit().await,
        audit,
        "refused commands left audit entries"
    );
    assert_eq!(
        room.rejoin(&room.show, &cast.target).await.0,
        201,
        "the target was not banned"
    );

    // Allowed callers: every command applies, each on a fresh context.
    for (who, token, expect) in table.iter().filter(|r| r.2 == Expect::Applied) {
        let token = token.expect("allowed callers have tokens");
        for ty in MOD_COMMANDS {
            let ctx = context(&mut poster, &cast.target_id).await;
            let got = call(
                &room.srv,
                &room.path("/moderation"),
                Some(token),
                Some(command(ty, &ctx)),
            )
            .await;
            if got.0 == 200 && got.2 != json!({ "applied": ty }) {
                failures.push(format!("{ty} by {who}: body {}", got.2));
            }
            check(format!("{ty} by {who}"), *expect, got, &mut failures);
            if let Some(undo) = undo(ty, &ctx) {
                room.apply(undo).await;
            }
        }
        for route in ["/moderation", "/audit"] {
            let got = call(&room.srv, &room.path(route), Some(token), None).await;
            check(format!("GET {route} by {who}"), *expect, got, &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let entries = room.audit().await;
    for role in ["creator", "moderator"] {
        let actions: Vec<&str> = entries
            .iter()
            .filter(|e| e["actor"]["role"] == role)
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for ty in MOD_COMMANDS.iter().filter(|t| **t != "mod.chat") {
            assert!(
                actions.contains(ty),
                "no {ty} entry by the {role}: {actions:?}"
            );
        }
    }
}

/// A camera publishes video and nothing else: no chat, no reactions, no moderation, no cart.
async fn camera_cannot_chat_moderate_or_buy(backend: Backend) {
    let room = Room::new(backend).await;
    let camera = room.camera().await;
    let product = room.srv.product(&room.creator, "CAM-1", 1500, 5).await;
    let lineup = room
        .srv
        .post(
            &room.path("/lineup"),
            Some(&room.creator),
            json!({ "product_id": product }),
        )
        .await;
    assert_eq!(lineup.0, 200, "{}", lineup.1);
    let mut creator = room.join(Some(&room.creator)).await;
    let (mut cam, welcome) = WsClient::join(&room.srv, &room.show, Some(&camera)).await;
    assert_eq!(welcome["role"], "camera");
    refused(&mut cam, "hello from the camera", "forbidden_role").await;
    cam.send_json(json!({ "type": "reaction.send", "kind": "heart" }))
        .await;
    expect_error(&mut cam, "forbidden_role").await;
    cam.send_json(json!({ "type": "mod.clear" })).await;
    expect_error(&mut cam, "forbidden_role").await;
    assert_quiet(&mut creator, &mut [&mut cam], "a camera's chat").await;

    let put = room
        .srv
        .http
        .put(room.srv.url(&room.path(&format!("/cart/items/{product}"))))
        .bearer_auth(&camera)
        .json(&json!({ "quantity": 1 }))
        .send()
        .await
        .unwrap();
    assert_problem(&TestServer::finish(put).await, 403, "forbidden_role");
    assert_problem(
        &room.srv.get(&room.path("/cart"), Some(&camera)).await,
        403,
        "forbidden_role",
    );
    let checkout = room
        .srv
        .http
        .post(room.srv.url(&room.path("/checkout")))
        .bearer_auth(&camera)
        .header("idempotency-key", "camera-1")
        .send()
        .await
        .unwrap();
    assert_problem(&TestServer::finish(checkout).await, 403, "forbidden_role");
    let modded = room
        .moderate(&camera, json!({ "type": "mod.pause", "paused": true }))
        .await;
    assert_problem(&modded, 403, "forbidden_role");
    assert_eq!(room.state().await["policy"]["paused"], false);
}

/// A creator-wide ban: only the creator may issue it, and it keeps the viewer out of every
/// show of that creator (the identity follows the viewer's earlier token), not other creators'.
async fn creator_wide_ban(backend: Backend) {
    let room = Room::new(backend).await;
    let other = room.srv.show(&room.creator, "Second show").await;
    let moderator = room.moderator("Mia").await;
    let (vid, token_a) = room.viewer("Vic").await;
    let (status, joined) = room.rejoin(&other, &token_a).await;
    assert_eq!(status, 201, "{joined}");
    assert_eq!(
        joined["viewer_id"],
        vid.as_str(),
        "an earlier token keeps the identity"
    );
    let token_b = s(&joined["token"]);
    let mut va = room.join(Some(&token_a)).await;
    let (mut vb, _) = WsClient::join(&room.srv, &other, Some(&token_b)).await;
    let mut m = room.join(Some(&moderator)).await;
    let mut c = room.join(Some(&room.creator)).await;
    fence(&mut c, &mut [&mut va, &mut m]).await;

    let ban = json!({ "type": "mod.ban", "viewer_id": vid, "scope": "creator", "reason": "fraud" });
    m.send_json(ban.clone()).await;
    let e = expect_error(&mut m, "forbidden_role").await;
    assert!(e["message"].as_str().unwrap().contains("creator"), "{e}");
    assert_problem(
        &room.moderate(&moderator, ban.clone()).await,
        403,
        "forbidden_role",
    );
    assert_quiet(
        &mut c,
        &mut [&mut va, &mut m],
        "a moderator's creator-wide ban",
    )
    .await;
    assert!(
        room.audit().await.is_empty(),
        "a refused ban is not an action"
    );
    said(&mut vb, "still welcome in the second show").await;

    c.send_json(ban).await;
    let notice = va.next_of_type("mod.notice", WAIT).await;
    assert_eq!(
        (notice["action"].as_str(), notice["reason"].as_str()),
        (Some("ban"), Some("fraud")),
        "{notice}"
    );
    assert_eq!(va.expect_close(WAIT).await.0, 4003);
    let entry = audit_frame(&mut c, "mod.ban").await;
    assert_eq!(entry["details"]["scope"], "creator", "{entry}");
    assert_eq!(entry["actor"]["role"], "creator");

    // The other show refuses the identity on join, on connect and in chat.
    assert_problem(&room.rejoin(&other, &token_a).await, 403, "banned");
    assert_problem(&room.rejoin(&other, &token_b).await, 403, "banned");
    // Their open connection in the other show is closed too.
    let notice = vb.next_of_type("mod.notice", WAIT).await;
    assert_eq!(notice["action"], "ban", "{notice}");
    assert_eq!(vb.expect_close(WAIT).await.0, 4003);
    refused_connect(
        &room.srv,
        &other,
        Some(&token_b),
        4003,
        "banned viewer in the other show",
    )
    .await;
    refused_connect(&room.srv, &room.show, Some(&token_a), 4003, "banned viewer").await;
    let third = room
        .srv
        .show(&room.creator, "A show created after the ban")
        .await;
    assert_problem(&room.rejoin(&third, &token_a).await, 403, "banned");
    // Another creator's show is not this creator's to ban from.
    let (_, stranger) = room.srv.creator("Someone else").await;
    let elsewhere = room.srv.show(&stranger, "Elsewhere").await;
    let (status, body) = room.rejoin(&elsewhere, &token_a).await;
    assert_eq!(
        (status, body["viewer_id"].as_str()),
        (201, Some(vid.as_str())),
        "{body}"
    );

    // Only the creator lifts it, and then the viewer is back everywhere.
    let unban = json!({ "type": "mod.unban", "viewer_id": vid, "scope": "creator" });
    m.send_json(unban.clone()).await;
    expect_error(&mut m, "forbidden_role").await;
    assert_problem(&room.rejoin(&other, &token_a).await, 403, "banned");
    room.apply(unban).await;
    assert_eq!(room.rejoin(&other, &token_a).await.0, 201);
    assert_eq!(room.rejoin(&room.show, &token_a).await.0, 201);
    let (mut back, _) = WsClient::join(&room.srv, &other, Some(&token_b)).await;
    said(&mut back, "back again").await;
}

// ---------------------------------------------------------------------------------------------
// Each action end to end

async fn ban_disconnects_and_keeps_out(backend: Backend) {
    let room = Room::new(backend).await;
    let moderator = room.moderator("Mia").await;
    let (vid, vtoken) = room.viewer("Vic").await;
    let (_, wtoken) = room.viewer("Wes").await;
    let mut c = room.join(Some(&room.creator)).await;
    let mut m = room.join(Some(&moderator)).await;
    let mut v = room.join(Some(&vtoken)).await;
    let mut w = room.join(Some(&wtoken)).await;
    said(&mut v, "buy elsewhere").await;
    fence(&mut c, &mut [&mut m, &mut v, &mut w]).await;

    m.send_json(json!({ "type": "mod.ban", "viewer_id": vid, "reason": "spam" }))
        .await;
    let frames = v.collect_until(|f| f["type"] == "mod.notice", WAIT).await;
    let notice = frames.last().unwrap();
    assert_eq!(notice["to"], vid.as_str());
    assert_eq!(notice["action"], "ban");
    assert_eq!(notice["reason"], "spam");
    let (code, reason) = v.expect_close(WAIT).await;
    assert_eq!(code, 4003, "{reason}");
    assert!(reason.starts_with("banned"), "{reason}");
    for client in [&mut m, &mut c] {
        let entry = audit_frame(client, "mod.ban").await;
        assert_eq!(entry["target"], vid.as_str());
        assert_eq!(entry["reason"], "spam");
        assert_eq!(entry["actor"]["role"], "moderator");
        assert_eq!(entry["actor"]["name"], "Mia");
    }
    assert_quiet(&mut c, &mut [&mut m, &mut w], "after a ban, for the others").await;

    // Neither the token nor a new token for the same identity gets back in.
    refused_connect(
        &room.srv,
        &room.show,
        Some(&vtoken),
        4003,
        "the banned token",
    )
    .await;
    let fresh = room.srv.mint(
        &principal(json!({ "role": "viewer", "show_id": room.show, "viewer_id": vid, "name": "Vic again" })),
        3600,
    );
    refused_connect(
        &room.srv,
        &room.show,
        Some(&fresh),
        4003,
        "a new token of the banned identity",
    )
    .await;
    assert_problem(&room.rejoin(&room.show, &vtoken).await, 403, "banned");
    assert_problem(&room.rejoin(&room.show, &fresh).await, 403, "banned");

    // Unbanned, the same identity is back.
    m.send_json(json!({ "type": "mod.unban", "viewer_id": vid }))
        .await;
    audit_frame(&mut m, "mod.unban").await;
    let (status, body) = room.rejoin(&room.show, &vtoken).await;
    assert_eq!(
        (status, body["viewer_id"].as_str()),
        (201, Some(vid.as_str())),
        "{body}"
    );
    let mut v = room.join(Some(&vtoken)).await;
    said(&mut v, "sorry").await;
}

/// A timeout (the 10 s minimum) refuses chat with the time left and ends on its own; slow
/// mode, pause and link holds apply to viewers and not to moderators. The other checks run
/// while the timeout runs out.
async fn timeout_slow_mode_pause_and_links(backend: Backend) {
    let room = Room::new(backend).await;
    let moderator = room.moderator("Mia").await;
    let (tid, ttoken) = room.viewer("Tim").await;
    let (_, wtoken) = room.viewer("Wes").await;
    let mut c = room.join(Some(&room.creator)).await;
    let mut m = room.join(Some(&moderator)).await;
    let mut t = room.join(Some(&ttoken)).await;
    let mut w = room.join(Some(&wtoken)).await;

    m.send_json(json!({ "type": "mod.timeout", "viewer_id": tid, "seconds": 9 }))
        .await;
    expect_error(&mut m, "invalid_duration").await;
    m.send_json(json!({ "type": "mod.timeout", "viewer_id": tid, "seconds": 86_401 }))
        .await;
    expect_error(&mut m, "invalid_duration").await;
    m.send_json(
        json!({ "type": "mod.timeout", "viewer_id": tid, "seconds": 10, "reason": "cool off" }),
    )
    .await;
    let notice = t.next_of_type("mod.notice", WAIT).await;
    assert_eq!(notice["action"], "timeout", "{notice}");
    assert_eq!(notice["reason"], "cool off");
    let until = timestamp(&notice["until"]);
    let entry = audit_frame(&mut m, "mod.timeout").await;
    assert_eq!(audit_frame(&mut c, "mod.timeout").await, entry);
    assert_eq!(entry["details"]["seconds"], 10, "{entry}");
    assert_eq!(entry["target"], tid.as_str());
    let e = refused(&mut t, "let me talk", "timed_out").await;
    let left = seconds_in(e["message"].as_str().unwrap());
    assert!((1..=10).contains(&left), "time left: {e}");
    let welcome = room.welcome(Some(&ttoken)).await;
    assert_eq!(
        timestamp(&welcome["standing"]["timed_out_until"]),
        until,
        "{welcome}"
    );
    assert_quiet(&mut c, &mut [&mut w], "a timeout concerns only its viewer").await;

    // Slow mode: the second message within the interval is refused; moderators are exempt.
    m.send_json(json!({ "type": "mod.slow", "seconds": 30 }))
        .await;
    for client in [&mut c, &mut m, &mut w] {
        let mode = client.next_of_type("chat.mode", WAIT).await;
        assert_eq!(
            (mode["slow_mode_s"].as_u64(), mode["paused"].as_bool()),
            (Some(30), Some(false)),
            "{mode}"
        );
    }
    said(&mut w, "first").await;
    let e = refused(&mut w, "second", "slow_mode").await;
    assert!(e["message"].as_str().unwrap().contains("30"), "{e}");
    said(&mut m, "moderator one").await;
    said(&mut m, "moderator two").await;
    said(&mut c, "host one").await;
    said(&mut c, "host two").await;
    assert_eq!(room.welcome(None).await["chat_mode"]["slow_mode_s"], 30);
    m.send_json(json!({ "type": "mod.slow", "seconds": 3601 }))
        .await;
    expect_error(&mut m, "invalid_duration").await;
    m.send_json(json!({ "type": "mod.slow", "seconds": 0 }))
        .await;
    w.next_of_type("chat.mode", WAIT).await;
    said(&mut w, "third, slow mode off").await;

    // Pause: viewers are refused, moderators and the creator still chat.
    m.send_json(json!({ "type": "mod.pause", "paused": true }))
        .await;
    let mode = w.next_of_type("chat.mode", WAIT).await;
    assert_eq!(mode["paused"], true, "{mode}");
    refused(&mut w, "hello?", "chat_paused").await;
    said(&mut m, "we are paused").await;
    said(&mut c, "back in a minute").await;
    assert_eq!(
        room.welcome(Some(&wtoken)).await["chat_mode"]["paused"],
        true
    );
    m.send_json(json!({ "type": "mod.pause", "paused": false }))
        .await;
    assert_eq!(w.next_of_type("chat.mode", WAIT).await["paused"], false);
    said(&mut w, "unpaused").await;

    // Links held: a viewer's link waits for review, a moderator's is published.
    m.send_json(json!({ "type": "mod.links", "policy": "hold" }))
        .await;
    assert_eq!(w.next_of_type("chat.mode", WAIT).await["links"], "hold");
    fence(&mut c, &mut [&mut m, &mut w]).await;
    let id = held(&mut w, "see https://x.test").await;
    let frames = m.collect_until(|v| v["type"] == "chat.held", WAIT).await;
    let held_frame = frames.last().unwrap();
    assert_eq!(held_frame["message"]["id"], id.as_str());
    assert_eq!(held_frame["reason"], "link");
    said(&mut m, "official link https://x.test").await;
    said(&mut w, "no link here").await;
    m.send_json(json!({ "type": "mod.links", "policy": "plain" }))
        .await;
    w.next_of_type("chat.mode", WAIT).await;
    said(&mut w, "now https://x.test/2 is fine").await;

    // The timeout runs out on its own (by the server's clock).
    let wait = (until.with_timezone(&chrono::Utc) - room.srv.clock.now())
        .to_std()
        .unwrap_or_default();
    assert!(wait <= Duration::from_secs(10), "{wait:?}");
    room.srv.clock.advance(wait + Duration::from_millis(300));
    said(&mut t, "I am back").await;
    assert_eq!(
        room.welcome(Some(&ttoken)).await["standing"]["timed_out_until"],
        Value::Null
    );
}

async fn blocked_terms_are_held_until_approved(backend: Backend) {
    let room = Room::new(backend).await;
    let moderator = room.moderator("Mia").await;
    let (_, vtoken) = room.viewer("Vic").await;
    let (_, wtoken) = room.viewer("Wes").await;
    let mut c = room.join(Some(&room.creator)).await;
    let mut m = room.join(Some(&moderator)).await;
    let mut v = room.join(Some(&vtoken)).await;
    let mut w = room.join(Some(&wtoken)).await;
    let mut anon = room.join(None).await;
    fence(&mut c, &mut [&mut m, &mut v, &mut w, &mut anon]).await;

    m.send_json(json!({ "type": "mod.terms", "add": ["scam", "crypto*"] }))
        .await;
    for client in [&mut c, &mut m] {
        let terms = client.next_of_type("mod.terms", WAIT).await;
        assert_eq!(terms["terms"], json!(["scam", "crypto*"]), "{terms}");
        audit_frame(client, "mod.terms").await;
    }
    m.send_json(json!({ "type": "mod.terms", "add": ["sp*am"] }))
        .await;
    expect_error(&mut m, "invalid_term").await;
    // Terms are for moderators' eyes only.
    assert_quiet(&mut c, &mut [&mut v, &mut w, &mut anon], "mod.terms").await;
    assert_eq!(
        room.welcome(Some(&moderator)).await["terms"],
        json!(["scam", "crypto*"])
    );
    let public = room.welcome(Some(&vtoken)).await;
    assert!(
        public.get("terms").is_none() && public.get("held").is_none(),
        "{public}"
    );

    // Held: the sender learns it is pending, moderators see it, nobody else does.
    let text = "this is a scam";
    let id = held(&mut v, text).await;
    for client in [&mut c, &mut m] {
        let frame = client.next_of_type("chat.held", WAIT).await;
        assert_eq!(frame["message"]["id"], id.as_str());
        assert_eq!(frame["message"]["text"], text);
        assert_eq!(frame["message"]["author"]["name"], "Vic");
        assert_eq!(frame["reason"], "blocked_term");
    }
    assert_quiet(
        &mut c,
        &mut [&mut m, &mut v, &mut w, &mut anon],
        "a held message",
    )
    .await;
    let late_mod = room.welcome(Some(&moderator)).await;
    assert_eq!(
        late_mod["held"][0]["message"]["id"],
        id.as_str(),
        "{late_mod}"
    );
    assert!(!chat_ids(&room.welcome(None).await).contains(&id));
    assert_eq!(room.state().await["held"][0]["message"]["id"], id.as_str());

    // Approved, it reaches everyone; moderators learn it was resolved.
    m.send_json(json!({ "type": "mod.approve", "message_id": id }))
        .await;
    for client in [&mut c, &mut m, &mut v, &mut w, &mut anon] {
        let frame = client.next_of_type("chat.message", WAIT).await;
        assert_eq!(
            (frame["id"].as_str(), frame["text"].as_str()),
            (Some(id.as_str()), Some(text)),
            "{frame}"
        );
    }
    for client in [&mut c, &mut m] {
        let frame = client.next_of_type("chat.resolved", WAIT).await;
        assert_eq!(frame["id"], id.as_str());
        assert_eq!(frame["approved"], true);
        assert_eq!(frame["by"], "Mia");
        assert_eq!(
            audit_frame(client, "mod.approve").await["target"],
            id.as_str()
        );
    }
    assert_quiet(
        &mut c,
        &mut [&mut v, &mut w, &mut anon],
        "chat.resolved is for moderators",
    )
    .await;
    assert!(chat_ids(&room.welcome(None).await).contains(&id));
    assert_eq!(room.state().await["held"], json!([]));
    m.send_json(json!({ "type": "mod.approve", "message_id": id }))
        .await;
    expect_error(&mut m, "not_held").await;

    // Rejected, it never appears.
    let rejected = held(&mut v, "free crypto for all").await;
    m.send_json(json!({ "type": "mod.reject", "message_id": rejected, "reason": "spam" }))
        .await;
    let frame = m
        .collect_until(|f| f["type"] == "chat.resolved", WAIT)
        .await
        .pop()
        .unwrap();
    assert_eq!(
        (frame["id"].as_str(), frame["approved"].as_bool()),
        (Some(rejected.as_str()), Some(false))
    );
    let seen = fence(&mut c, &mut [&mut v, &mut w, &mut anon]).await;
    for frames in &seen[1..] {
        assert!(frames.is_empty(), "a rejected message leaked: {frames:?}");
    }
    assert!(!chat_ids(&room.welcome(None).await).contains(&rejected));

    // Look-alike spellings are held too; innocent words are not.
    for text in [
        "ѕсаm",
        "ｓｃａｍ",
        "5c4m",
        "SCAM!!",
        "s c a m",
        "sc\u{200B}am",
        "scám",
        "cryptocurrency giveaway",
    ] {
        held(&mut v, text).await;
    }
    for text in ["scampi for dinner", "escape", "a cryp tic note"] {
        said(&mut v, text).await;
    }
    assert_eq!(room.state().await["held"].as_array().unwrap().len(), 8);
    // Moderators are exempt.
    said(&mut m, "that was a scam").await;

    // Removing a term (by its skeleton) releases future messages.
    m.send_json(json!({ "type": "mod.terms", "remove": ["SCAM"] }))
        .await;
    assert_eq!(
        m.next_of_type("mod.terms", WAIT).await["terms"],
        json!(["crypto*"])
    );
    said(&mut v, "not a scam any more").await;
}

async fn delete_clear_and_pin(backend: Backend) {
    let room = Room::new(backend).await;
    let moderator = room.moderator("Mia").await;
    let (_, vtoken) = room.viewer("Vic").await;
    let (_, wtoken) = room.viewer("Wes").await;
    let mut c = room.join(Some(&room.creator)).await;
    let mut m = room.join(Some(&moderator)).await;
    let mut v = room.join(Some(&vtoken)).await;
    let mut w = room.join(Some(&wtoken)).await;
    let mut anon = room.join(None).await;
    let m1 = s(&said(&mut v, "one").await["id"]);
    let m2 = s(&said(&mut v, "two, rude").await["id"]);
    let m3 = s(&said(&mut v, "three: ships Monday").await["id"]);

    m.send_json(json!({ "type": "mod.delete", "message_id": m2 }))
        .await;
    for client in [&mut c, &mut m, &mut v, &mut w, &mut anon] {
        let frame = client.next_of_type("chat.deleted", WAIT).await;
        assert_eq!(frame["id"], m2.as_str(), "{frame}");
    }
    assert_eq!(
        chat_ids(&room.welcome(None).await),
        vec![m1.clone(), m3.clone()]
    );

    m.send_json(json!({ "type": "mod.pin", "message_id": m3 }))
        .await;
    for client in [&mut c, &mut m, &mut v, &mut w, &mut anon] {
        let frame = client.next_of_type("chat.pinned", WAIT).await;
        assert_eq!(frame["message"]["id"], m3.as_str(), "{frame}");
        assert_eq!(frame["message"]["text"], "three: ships Monday");
    }
    assert_eq!(
        room.welcome(Some(&wtoken)).await["pinned_message"]["id"],
        m3.as_str()
    );
    m.send_json(json!({ "type": "mod.unpin" })).await;
    for client in [&mut c, &mut m, &mut v, &mut w, &mut anon] {
        let frame = client.next_of_type("chat.pinned", WAIT).await;
        assert_eq!(frame["message"], Value::Null, "{frame}");
    }
    assert_eq!(room.welcome(None).await["pinned_message"], Value::Null);
    m.send_json(json!({ "type": "mod.pin", "message_id": m2 }))
        .await;
    expect_error(&mut m, "message_not_found").await;

    // Deleting the pinned message unpins it.
    m.send_json(json!({ "type": "mod.pin", "message_id": m1 }))
        .await;
    m.send_json(json!({ "type": "mod.delete", "message_id": m1 }))
        .await;
    for client in [&mut v, &mut anon] {
        assert_eq!(
            client.next_of_type("chat.pinned", WAIT).await["message"]["id"],
            m1.as_str()
        );
        assert_eq!(
            client.next_of_type("chat.deleted", WAIT).await["id"],
            m1.as_str()
        );
        assert_eq!(
            client.next_of_type("chat.pinned", WAIT).await["message"],
            Value::Null
        );
    }
    let welcome = room.welcome(None).await;
    assert_eq!(
        (chat_ids(&welcome), &welcome["pinned_message"]),
        (vec![m3.clone()], &Value::Null)
    );

    // Clear: everyone is told, a late joiner sees an empty chat.
    said(&mut w, "four").await;
    m.send_json(json!({ "type": "mod.clear" })).await;
    for client in [&mut c, &mut m, &mut v, &mut w, &mut anon] {
        let frame = client.next_of_type("chat.cleared", WAIT).await;
        assert_eq!(
            frame.as_object().unwrap().len(),
            2,
            "chat.cleared carries type and seq: {frame}"
        );
    }
    assert_eq!(room.welcome(Some(&vtoken)).await["chat"], json!([]));
    m.send_json(json!({ "type": "mod.pin", "message_id": m3 }))
        .await;
    expect_error(&mut m, "message_not_found").await;
    let after = s(&said(&mut v, "after the clear").await["id"]);
    assert_eq!(chat_ids(&room.welcome(None).await), vec![after]);
}

async fn moderators_channel_is_private(backend: Backend) {
    let room = Room::new(backend).await;
    let moderator = room.moderator("Mia").await;
    let (_, vtoken) = room.viewer("Vic").await;
    let camera = room.camera().await;
    let mut c = room.join(Some(&room.creator)).await;
    let mut m = room.join(Some(&moderator)).await;
    let mut v = room.join(Some(&vtoken)).await;
    let mut cam = room.join(Some(&camera)).await;
    let mut anon = room.join(None).await;
    fence(&mut c, &mut [&mut m, &mut v, &mut cam, &mut anon]).await;
    let audit = room.audit().await;

    m.send_json(json!({ "type": "mod.chat", "text": "watch Vic <b>closely</b>" }))
        .await;
    for client in [&mut c, &mut m] {
        let frame = client.next_of_type("mod.message", WAIT).await;
        assert_eq!(frame["text"], "watch Vic <b>closely</b>");
        assert_eq!(frame["author"]["name"], "Mia");
        assert_eq!(frame["role"], "moderator");
    }
    c.send_json(json!({ "type": "mod.chat", "text": "will do" }))
        .await;
    for client in [&mut c, &mut m] {
        let frame = client.next_of_type("mod.message", WAIT).await;
        assert_eq!(
            (frame["text"].as_str(), frame["role"].as_str()),
            (Some("will do"), Some("creator"))
        );
    }
    m.send_json(json!({ "type": "mod.chat", "text": "bad\u{202E}text" }))
        .await;
    expect_error(&mut m, "forbidden_characters").await;
    assert_quiet(
        &mut c,
        &mut [&mut m, &mut v, &mut cam, &mut anon],
        "the moderators' channel",
    )
    .await;
    assert_eq!(room.audit().await, audit, "conversation is not an action");
    assert!(
        !room.welcome(None).await.to_string().contains("closely"),
        "not in the public history"
    );
}

async fn revoking_an_invite_closes_its_connections(backend: Backend) {
    let room = Room::new(backend).await;
    let revoked = room.moderator("Leaving").await;
    let staying = room.moderator("Staying").await;
    let camera = room.camera().await;
    let mut gone = room.join(Some(&revoked)).await;
    let mut m = room.join(Some(&staying)).await;
    let mut cam = room.join(Some(&camera)).await;
    let invite = invite_id_of(&revoked);

    let path = room.path(&format!("/invites/{invite}"));
    let by_moderator = room
        .srv
        .http
        .delete(room.srv.url(&path))
        .bearer_auth(&staying)
        .send()
        .await
        .unwrap();
    assert_problem(
        &TestServer::finish(by_moderator).await,
        403,
        "forbidden_role",
    );
    let resp = room
        .srv
        .http
        .delete(room.srv.url(&path))
        .bearer_auth(&room.creator)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    let notice = gone.next_of_type("mod.notice", WAIT).await;
    assert_eq!(
        (notice["action"].as_str(), notice["to"].as_str()),
        (Some("revoked"), Some(invite.as_str()))
    );
    let (code, reason) = gone.expect_close(WAIT).await;
    assert_eq!(code, 4001, "{reason}");
    assert!(reason.starts_with("token_revoked"), "{reason}");
    assert_problem(
        &room
            .srv
            .get(&room.path("/moderation"), Some(&revoked))
            .await,
        401,
        "token_revoked",
    );
    assert_problem(
        &room.srv.get("/api/me", Some(&revoked)).await,
        401,
        "token_revoked",
    );
    assert_problem(
        &room
            .moderate(&revoked, json!({ "type": "mod.clear" }))
            .await,
        401,
        "token_revoked",
    );
    let reason = refused_connect(
        &room.srv,
        &room.show,
        Some(&revoked),
        4001,
        "a revoked invite",
    )
    .await;
    assert!(reason.starts_with("token_revoked"), "{reason}");

    // The other moderator stays, and sees the action in the audit.
    let entry = audit_frame(&mut m, "invite.revoke").await;
    assert_eq!(entry["target"], invite.as_str());
    assert_eq!(entry["actor"]["role"], "creator");
    said(&mut m, "still here").await;

    // A camera invite is revoked the same way.
    let cam_path = room.path(&format!("/invites/{}", invite_id_of(&camera)));
    let resp = room
        .srv
        .http
        .delete(room.srv.url(&cam_path))
        .bearer_auth(&room.creator)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(cam.expect_close(WAIT).await.0, 4001);
    refused_connect(
        &room.srv,
        &room.show,
        Some(&camera),
        4001,
        "a revoked camera",
    )
    .await;
}

async fn audit_log_records_every_action(backend: Backend) {
    let room = Room::new(backend).await;
    let moderator = room.moderator("Mia").await;
    let camera = room.camera().await;
    let (target, _) = room.viewer("Troll").await;
    let (_, ptoken) = room.viewer("Pat").await;
    let mut c = room.join(Some(&room.creator)).await;
    let mut m = room.join(Some(&moderator)).await;
    let mut p = room.join(Some(&ptoken)).await;
    let t = target.as_str();

    // (action, actor role, target, reason) of every action, in order.
    let mut expected: Vec<(&str, &str, Option<String>, Option<&str>)> = Vec::new();
    // The moderator's live audit, as read while acting.
    let mut live = Vec::new();
    by_mod(
        &mut m,
        &mut live,
        json!({ "type": "mod.timeout", "viewer_id": t, "seconds": 10, "reason": "cool down" }),
    )
    .await;
    expected.push((
        "mod.timeout",
        "moderator",
        Some(target.clone()),
        Some("cool down"),
    ));
    room.apply(json!({ "type": "mod.ban", "viewer_id": t, "reason": "<script>spam</script>" }))
        .await;
    expected.push((
        "mod.ban",
        "creator",
        Some(target.clone()),
        Some("<script>spam</script>"),
    ));
    by_mod(
        &mut m,
        &mut live,
        json!({ "type": "mod.unban", "viewer_id": t }),
    )
    .await;
    expected.push(("mod.unban", "moderator", Some(target.clone()), None));
    by_mod(
        &mut m,
        &mut live,
        json!({ "type": "mod.slow", "seconds": 15 }),
    )
    .await;
    expected.push(("mod.slow", "moderator", None, None));
    room.apply(json!({ "type": "mod.slow", "seconds": 0 }))
        .await;
    expected.push(("mod.slow", "creator", None, None));
    by_mod(
        &mut m,
        &mut live,
        json!({ "type": "mod.terms", "add": ["scam"] }),
    )
    .await;
    expected.push(("mod.terms", "moderator", None, None));
    by_mod(
        &mut m,
        &mut live,
        json!({ "type": "mod.pause", "paused": true }),
    )
    .await;
    expected.push(("mod.pause", "moderator", None, None));
    by_mod(
        &mut m,
        &mut live,
        json!({ "type": "mod.pause", "paused": false }),
    )
    .await;
    expected.push(("mod.pause", "moderator", None, None));
    by_mod(
        &mut m,
        &mut live,
        json!({ "type": "mod.links", "policy": "hold" }),
    )
    .await;
    expected.push(("mod.links", "moderator", None, None));
    by_mod(
        &mut m,
        &mut live,
        json!({ "type": "mod.links", "policy": "plain" }),
    )
    .await;
    expected.push(("mod.links", "moderator", None, None));
    let hello = s(&said(&mut p, "hello").await["id"]);
    by_mod(
        &mut m,
        &mut live,
        json!({ "type": "mod.pin", "message_id": hello }),
    )
    .await;
    expected.push(("mod.pin", "moderator", Some(hello.clone()), None));
    by_mod(&mut m, &mut live, json!({ "type": "mod.unpin" })).await;
    expected.push(("mod.unpin", "moderator", None, None));
    by_mod(
        &mut m,
        &mut live,
        json!({ "type": "mod.delete", "message_id": hello }),
    )
    .await;
    expected.push(("mod.delete", "moderator", Some(hello.clone()), None));
    let approved = held(&mut p, "a scam?").await;
    by_mod(
        &mut m,
        &mut live,
        json!({ "type": "mod.approve", "message_id": approved }),
    )
    .await;
    expected.push(("mod.approve", "moderator", Some(approved.clone()), None));
    let rejected = held(&mut p, "scam again").await;
    room.apply(json!({ "type": "mod.reject", "message_id": rejected, "reason": "nope" }))
        .await;
    expected.push((
        "mod.reject",
        "creator",
        Some(rejected.clone()),
        Some("nope"),
    ));
    by_mod(&mut m, &mut live, json!({ "type": "mod.clear" })).await;
    expected.push(("mod.clear", "moderator", None, None));
    let cam_invite = invite_id_of(&camera);
    let resp = room
        .srv
        .http
        .delete(room.srv.url(&room.path(&format!("/invites/{cam_invite}"))))
        .bearer_auth(&room.creator)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    expected.push(("invite.revoke", "creator", Some(cam_invite.clone()), None));

    let entries = room.audit().await;
    let got: Vec<(&str, &str, Option<String>, Option<&str>)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor"]["role"].as_str().unwrap(),
                e["target"].as_str().map(str::to_string),
                e["reason"].as_str(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    let mut ids = std::collections::HashSet::new();
    let mut last = None;
    for e in &entries {
        assert!(ids.insert(s(&e["id"])), "ids are unique: {e}");
        let at = timestamp(&e["at"]);
        assert!(last.is_none_or(|l| l <= at), "oldest first: {e}");
        last = Some(at);
        let actor = &e["actor"];
        match actor["role"].as_str() {
            Some("moderator") => {
                assert_eq!(
                    (actor["name"].as_str(), actor["id"].as_str()),
                    (Some("Mia"), Some(invite_id_of(&moderator).as_str()))
                )
            }
            _ => assert_eq!(actor["name"], "Host Ann", "{e}"),
        }
    }
    assert_eq!(entries[0]["details"]["seconds"], 10);
    assert_eq!(entries[5]["details"]["add"], json!(["scam"]));

    // Moderators received every entry live, exactly as stored; viewers none.
    let frames = c
        .collect_until(
            |f| f["type"] == "mod.audit" && f["entry"]["action"] == "invite.revoke",
            WAIT,
        )
        .await;
    let creator_live: Vec<Value> = frames
        .iter()
        .filter(|f| f["type"] == "mod.audit")
        .map(|f| f["entry"].clone())
        .collect();
    assert_eq!(creator_live, entries, "the creator's live audit");
    let frames = m
        .collect_until(
            |f| f["type"] == "mod.audit" && f["entry"]["action"] == "invite.revoke",
            WAIT,
        )
        .await;
    live.extend(
        frames
            .iter()
            .filter(|f| f["type"] == "mod.audit")
            .map(|f| f["entry"].clone()),
    );
    assert_eq!(live, entries, "the moderator's live audit");
    let seen = fence(&mut c, &mut [&mut p]).await;
    let leaked: Vec<&Value> = seen[1]
        .iter()
        .filter(|f| {
            matches!(
                f["type"].as_str(),
                Some("mod.audit" | "mod.terms" | "chat.held" | "chat.resolved")
            )
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "moderator frames reached a viewer: {leaked:?}"
    );
    p.close().await;
    let (status, limited) = room
        .srv
        .get(&room.path("/audit?limit=3"), Some(&moderator))
        .await;
    assert_eq!(status, 200, "{limited}");
    assert_eq!(
        limited["entries"].as_array().unwrap(),
        &entries[entries.len() - 3..]
    );
    assert_problem(
        &room.srv.get(&room.path("/audit"), Some(&ptoken)).await,
        403,
        "forbidden_role",
    );

    if backend == Backend::Redis {
        // The log lives in Redis: a new server on the same prefix reads the same entries.
        c.close().await;
        m.close().await;
        let Room { srv, creator, show } = room;
        let config = srv.config.clone();
        srv.stop().await;
        let again = Room {
            srv: TestServer::start_with(config).await,
            creator,
            show,
        };
        assert_eq!(
            again.audit().await,
            entries,
            "the audit log after a restart"
        );
    }
}

async fn hostile_input_stays_text(backend: Backend) {
    let room = Room::new(backend).await;
    let name = "<b>Bold</b> & <i>co</i>";
    let label = "<img src=x onerror=alert(2)>";
    let (_, vtoken) = room.viewer(name).await;
    let (_, wtoken) = room.viewer("Wes").await;
    let moderator = room.moderator(label).await;
    let mut c = room.join(Some(&room.creator)).await;
    let (mut v, welcome) = WsClient::join(&room.srv, &room.show, Some(&vtoken)).await;
    assert_eq!(
        welcome["you"]["name"], name,
        "the display name is kept as text"
    );
    let mut w = room.join(Some(&wtoken)).await;
    let mut m = room.join(Some(&moderator)).await;
    let mut anon = room.join(None).await;

    let long_word = "W".repeat(400);
    let longest = "é".repeat(500);
    let payloads = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "\"><svg onload=alert(1)>",
        long_word.as_str(),
        "&lt;b&gt;already escaped&lt;/b&gt; &amp; &#60;",
        "<a href=\"javascript:alert(1)\">click</a>",
        "{{7*7}} ${7*7} %s %n \\u003c",
        "مرحبا שלום 👋🏽 ﷽",
        longest.as_str(),
    ];
    for text in payloads {
        v.chat(text).await;
        for (who, client) in [
            ("sender", &mut v),
            ("viewer", &mut w),
            ("moderator", &mut m),
            ("anonymous", &mut anon),
            ("creator", &mut c),
        ] {
            let frame = client
                .collect_until(
                    |f| f["type"] == "chat.message" || f["type"] == "error",
                    WAIT,
                )
                .await
                .pop()
                .unwrap();
            assert_eq!(frame["type"], "chat.message", "{who}: {frame}");
            assert_eq!(
                frame["text"].as_str(),
                Some(text),
                "{who} received a transformed text"
            );
            assert_eq!(frame["author"]["name"].as_str(), Some(name), "{who}");
        }
    }
    let history = room.welcome(None).await;
    let texts: Vec<&str> = history["chat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, payloads, "the history keeps the same text");

    for text in [
        "\u{202E}gnp.exe",
        "abc\u{2066}def\u{2069}",
        "\u{202A}embedded",
        "\u{2067}isolate",
        "bell\u{7}",
        "two\nlines",
        "tab\there",
        "nul\u{0}",
        "escape\u{1b}[31mred",
        "del\u{7f}",
    ] {
        refused(&mut v, text, "forbidden_characters").await;
    }
    refused(&mut v, &"x".repeat(501), "message_too_long").await;
    refused(&mut v, &"é".repeat(501), "message_too_long").await;
    refused(&mut v, "   ", "empty_message").await;
    assert_quiet(
        &mut c,
        &mut [&mut v, &mut w, &mut m, &mut anon],
        "refused messages",
    )
    .await;

    m.send_json(json!({ "type": "mod.chat", "text": "<script>alert(3)</script>" }))
        .await;
    let note = c.next_of_type("mod.message", WAIT).await;
    assert_eq!(
        (note["text"].as_str(), note["author"]["name"].as_str()),
        (Some("<script>alert(3)</script>"), Some(label))
    );
    let bad_name = room
        .srv
        .post(
            &room.path("/viewers"),
            None,
            json!({ "display_name": "\u{202E}evil" }),
        )
        .await;
    assert_problem(&bad_name, 422, "invalid_display_name");

    // Pages escape what they render.
    let show = room
        .srv
        .post("/api/shows", Some(&room.creator), json!({ "title": "\"><img src=x onerror=alert(1)>", "description": "<script>d</script>" }))
        .await;
    assert_eq!(show.0, 201, "{}", show.1);
    let show = s(&show.1["id"]);
    let product = room
        .srv
        .post(
            "/api/products",
            Some(&room.creator),
            json!({ "sku": "XSS-1", "title": "<script>x</script>", "price": { "amount": 100, "currency": "USD" }, "stock": 1 }),
        )
        .await;
    assert_eq!(product.0, 201, "{}", product.1);
    assert_eq!(product.1["title"], "<script>x</script>", "stored as text");
    let lineup = room
        .srv
        .post(
            &format!("/api/shows/{show}/lineup"),
            Some(&room.creator),
            json!({ "product_id": product.1["id"] }),
        )
        .await;
    assert_eq!(lineup.0, 200, "{}", lineup.1);
    let page = room
        .srv
        .http
        .get(room.srv.url(&format!("/s/{show}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    // Escaped as entities (named or numeric: `&lt;` and `&#60;` are the same character).
    let title = html
        .split("<bdi dir=\"auto\" class=\"product-title\">")
        .nth(1)
        .and_then(|rest| rest.split("</bdi>").next())
        .unwrap_or_else(|| panic!("no product title in the page: {html}"));
    assert_eq!(
        unescape(title),
        "<script>x</script>",
        "the product title as rendered: {title}"
    );
    assert!(!title.contains('<') && !title.contains('>'), "{title}");
    let heading = html
        .split("<h1 dir=\"auto\">")
        .nth(1)
        .and_then(|rest| rest.split("</h1>").next())
        .unwrap();
    assert_eq!(
        unescape(heading),
        "\"><img src=x onerror=alert(1)>",
        "the show title as rendered: {heading}"
    );
    assert!(
        !heading.contains('<') && !heading.contains('"'),
        "{heading}"
    );
    assert!(
        !html.contains("<script>x"),
        "no live script from a product title"
    );
    assert!(
        !html.contains("<script>d"),
        "no live script from the description"
    );
    assert!(
        !html.contains("<img src=x"),
        "no live markup from the show title"
    );
}

/// Decodes the HTML character references an escaper produces.
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail
            .find(';')
            .unwrap_or_else(|| panic!("an unterminated reference in {html:?}"));
        let name = &tail[1..end];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            n if n.starts_with("#x") || n.starts_with("#X") => {
                char::from_u32(u32::from_str_radix(&n[2..], 16).unwrap()).unwrap()
            }
            n if n.starts_with('#') => char::from_u32(n[1..].parse().unwrap()).unwrap(),
            other => panic!("unknown reference &{other}; in {html:?}"),
        };
        out.push(c);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Timeouts and bans are for viewers: a moderator cannot use them on the creator (whose id is
/// public in the show) or on another moderator (whose id is their public chat author id).
async fn moderators_cannot_silence_the_host_or_each_other(backend: Backend) {
    let room = Room::new(backend).await;
    let (_, show) = room.srv.get(&room.path(""), None).await;
    let creator_id = s(&show["creator_id"]);
    let moderator = room.moderator("Mia").await;
    let colleague = room.moderator("Olly").await;
    let (vid, vtoken) = room.viewer("Vic").await;
    let mut c = room.join(Some(&room.creator)).await;
    let mut m = room.join(Some(&moderator)).await;
    let mut o = room.join(Some(&colleague)).await;
    let mut v = room.join(Some(&vtoken)).await;
    let olly = s(&said(&mut o, "hi all").await["author"]["id"]);
    assert_eq!(
        olly,
        invite_id_of(&colleague),
        "a moderator's id is public in chat"
    );
    fence(&mut c, &mut [&mut m, &mut o, &mut v]).await;
    for target in [
        creator_id,
        olly,
        invite_id_of(&moderator),
        uuid::Uuid::now_v7().to_string(),
        "not-an-id".into(),
    ] {
        for body in [
            json!({ "type": "mod.timeout", "viewer_id": target, "seconds": 600 }),
            json!({ "type": "mod.ban", "viewer_id": target }),
            json!({ "type": "mod.ban", "viewer_id": target, "scope": "creator" }),
        ] {
            let by_creator = body["scope"] == "creator";
            let (ws, token) = if by_creator {
                (&mut c, &room.creator)
            } else {
                (&mut m, &moderator)
            };
            ws.send_json(body.clone()).await;
            expect_error(ws, "viewer_not_found").await;
            assert_problem(&room.moderate(token, body).await, 404, "viewer_not_found");
        }
    }
    assert_quiet(
        &mut c,
        &mut [&mut m, &mut o, &mut v],
        "timeouts and bans of non-viewers",
    )
    .await;
    said(&mut c, "the host still talks").await;
    said(&mut o, "so does the colleague").await;
    assert!(room.audit().await.is_empty(), "nothing was applied");
    assert_eq!(
        room.welcome(Some(&room.creator)).await["standing"]["timed_out_until"],
        Value::Null
    );
    // Viewers still can be.
    m.send_json(json!({ "type": "mod.ban", "viewer_id": vid }))
        .await;
    assert_eq!(v.expect_close(WAIT).await.0, 4003);
}

// ---------------------------------------------------------------------------------------------
// Two nodes on one Redis

async fn two_nodes_share_moderation() {
    let config = config(Backend::Redis);
    let a = Room::on(TestServer::start_with(config.clone()).await).await;
    let b = a.sibling(TestServer::start_with(config).await);
    let mod_a = a.moderator("Ada").await;
    let mod_b = a.moderator("Bo").await;
    let (vid, vtoken) = a.viewer("Vic").await;
    let (xid, xtoken) = a.viewer("Xan").await;
    let (_, wtoken) = a.viewer("Wes").await;
    let mut ma = a.join(Some(&mod_a)).await;
    let mut ca = a.join(Some(&a.creator)).await;
    let mut xa = a.join(Some(&xtoken)).await;
    let mut mb = b.join(Some(&mod_b)).await;
    let mut vb = b.join(Some(&vtoken)).await;
    let mut wb = b.join(Some(&wtoken)).await;

    // A delete on A reaches clients on B, and B's welcome.
    let id = s(&said(&mut xa, "hello from A").await["id"]);
    for client in [&mut mb, &mut vb, &mut wb] {
        assert_eq!(
            client.next_of_type("chat.message", WAIT).await["id"],
            id.as_str()
        );
    }
    ma.send_json(json!({ "type": "mod.delete", "message_id": id }))
        .await;
    for client in [&mut mb, &mut vb, &mut wb] {
        assert_eq!(
            client.next_of_type("chat.deleted", WAIT).await["id"],
            id.as_str()
        );
    }
    assert!(!chat_ids(&b.welcome(None).await).contains(&id));

    // Terms set on A hold a message sent on A; approved on B, it appears on A (and B).
    a.apply(json!({ "type": "mod.terms", "add": ["scam"] }))
        .await;
    assert_eq!(
        mb.next_of_type("mod.terms", WAIT).await["terms"],
        json!(["scam"])
    );
    let held_id = held(&mut xa, "cheap scam here").await;
    for client in [&mut mb, &mut ma] {
        assert_eq!(
            client.next_of_type("chat.held", WAIT).await["message"]["id"],
            held_id.as_str()
        );
    }
    assert_eq!(
        b.welcome(Some(&mod_b)).await["held"][0]["message"]["id"],
        held_id.as_str()
    );
    mb.send_json(json!({ "type": "mod.approve", "message_id": held_id }))
        .await;
    for client in [&mut xa, &mut ca, &mut ma, &mut wb] {
        let frame = client
            .collect_until(
                |f| f["type"] == "chat.message" && f["id"] == held_id.as_str(),
                WAIT,
            )
            .await
            .pop()
            .unwrap();
        assert_eq!(
            (frame["id"].as_str(), frame["text"].as_str()),
            (Some(held_id.as_str()), Some("cheap scam here"))
        );
    }
    assert_eq!(ma.next_of_type("chat.resolved", WAIT).await["by"], "Bo");

    // A pause on B silences viewers on A; a timeout on B is enforced on A.
    mb.send_json(json!({ "type": "mod.pause", "paused": true }))
        .await;
    assert_eq!(xa.next_of_type("chat.mode", WAIT).await["paused"], true);
    refused(&mut xa, "hi", "chat_paused").await;
    mb.send_json(json!({ "type": "mod.pause", "paused": false }))
        .await;
    assert_eq!(xa.next_of_type("chat.mode", WAIT).await["paused"], false);
    mb.send_json(json!({ "type": "mod.timeout", "viewer_id": xid, "seconds": 60 }))
        .await;
    assert_eq!(
        xa.next_of_type("mod.notice", WAIT).await["action"],
        "timeout"
    );
    refused(&mut xa, "hi again", "timed_out").await;

    // A ban issued on A disconnects the viewer connected on B and keeps them out of both.
    ma.send_json(json!({ "type": "mod.ban", "viewer_id": vid, "reason": "spam" }))
        .await;
    assert_eq!(vb.next_of_type("mod.notice", WAIT).await["action"], "ban");
    assert_eq!(vb.expect_close(WAIT).await.0, 4003);
    refused_connect(&b.srv, &b.show, Some(&vtoken), 4003, "banned, on B").await;
    refused_connect(&a.srv, &a.show, Some(&vtoken), 4003, "banned, on A").await;
    assert_problem(&b.rejoin(&b.show, &vtoken).await, 403, "banned");
    said(&mut wb, "the others stay").await;

    // Revoking on A closes the moderator's connection on B.
    let invite = invite_id_of(&mod_b);
    let resp = a
        .srv
        .http
        .delete(a.srv.url(&a.path(&format!("/invites/{invite}"))))
        .bearer_auth(&a.creator)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(mb.expect_close(WAIT).await.0, 4001);
    assert_problem(
        &b.srv.get(&b.path("/moderation"), Some(&mod_b)).await,
        401,
        "token_revoked",
    );

    // Both nodes read one audit log.
    let actions: Vec<String> = b.audit().await.iter().map(|e| s(&e["action"])).collect();
    assert_eq!(
        actions,
        [
            "mod.delete",
            "mod.terms",
            "mod.approve",
            "mod.pause",
            "mod.pause",
            "mod.timeout",
            "mod.ban",
            "invite.revoke"
        ]
    );
    assert_eq!(a.audit().await, b.audit().await);
}
