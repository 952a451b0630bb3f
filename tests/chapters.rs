//! Chapters of a live show (issue 17, item 3), on both stores, end to end over HTTP and the
//! room's WebSocket: two products pinned (one with a deal), one sold out, the program cut
//! between two GStreamer cameras, and a creator's marker. `GET /chapters` lists each exactly
//! once, in time order, with its kind, product, title and the `pts` of the room event it comes
//! from; a second node on the same Redis lists the same. Then the refusals: markers when the
//! show is not live, bad titles, unknown chapters, another creator, a viewer, no token; and
//! renaming and hiding, live and after the end.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::gst::{Pipeline, connected_camera, launch_args, require_gstreamer};
use common::server::{Backend, TestServer, assert_problem, s, test_config};
use common::ws::WsClient;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chapters_on_the_memory_store() {
    common::stores::bounded(scenario(Backend::Memory)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chapters_on_redis_across_two_nodes() {
    common::stores::bounded(scenario(Backend::Redis)).await;
}

/// The room as a test reads it: every frame seen, kept.
struct Room {
    ws: WsClient,
    seen: Vec<Value>,
}

impl Room {
    /// The next frame matching `pred` (frames before it are kept too).
    async fn until(&mut self, pred: impl FnMut(&Value) -> bool) -> Value {
        let frames = self.ws.collect_until(pred, WAIT).await;
        self.seen.extend(frames.iter().cloned());
        frames
            .last()
            .cloned()
            .expect("collect_until returns the match")
    }
}

fn pts(frame: &Value) -> i64 {
    frame["pts"]
        .as_i64()
        .unwrap_or_else(|| panic!("a frame in step with the picture carries pts: {frame}"))
}

async fn patch(srv: &TestServer, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = srv.http.patch(srv.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    TestServer::finish(req.send().await.expect("PATCH")).await
}

/// A VP8 test-pattern camera publishing over WHIP.
fn publisher(endpoint: &str, token: &str) -> Vec<String> {
    let mut args = launch_args(
        "videotestsrc is-live=true pattern=ball \
         ! video/x-raw,width=160,height=120,framerate=15/1 \
         ! videoconvert ! queue ! vp8enc deadline=1 keyframe-max-dist=15 \
         ! rtpvp8pay pt=96 ! whipsink name=whip",
    );
    args.push(format!("whip-endpoint={endpoint}"));
    args.push(format!("auth-token={token}"));
    args
}

/// Publishes a camera labelled `label`; returns its id once the server lists it connected.
async fn camera(srv: &TestServer, show: &str, creator: &str, label: &str) -> (String, Pipeline) {
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/invites"),
            Some(creator),
            json!({ "role": "camera", "label": label }),
        )
        .await;
    assert_eq!(status, 201, "camera invite: {body}");
    let whip = srv.url(&format!("/api/shows/{show}/whip"));
    let mut p = Pipeline::start(label, &publisher(&whip, &s(&body["token"])), None);
    let id = connected_camera(srv, show, creator, label, &mut p, |p| p.report()).await;
    (id, p)
}

/// Puts `camera` on air and waits for the room to hear of the cut.
async fn cut(srv: &TestServer, room: &mut Room, show: &str, creator: &str, camera: &str) {
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/program"),
            Some(creator),
            json!({ "camera": camera }),
        )
        .await;
    assert_eq!(status, 200, "POST program {camera}: {body}");
    room.until(|v| v["type"] == "program.changed" && v["camera"] == camera)
        .await;
}

/// What a chapter should be: (pts, kind, product_id, title).
type Want = (i64, String, String, String);

fn got(list: &Value) -> Vec<Want> {
    list["chapters"]
        .as_array()
        .unwrap_or_else(|| panic!("a chapter list: {list}"))
        .iter()
        .map(|c| {
            (
                c["pts"].as_i64().expect("pts"),
                s(&c["kind"]),
                c["product_id"].as_str().unwrap_or_default().to_string(),
                s(&c["title"]),
            )
        })
        .collect()
}

async fn scenario(backend: Backend) {
    require_gstreamer(&["videotestsrc", "vp8enc", "rtpvp8pay", "whipsink"]);
    let mut config = test_config(backend);
    config.node_id = Some("chapters-a".into());
    let second = matches!(backend, Backend::Redis).then(|| {
        let mut c = config.clone();
        c.node_id = Some("chapters-b".into());
        c
    });
    let srv = TestServer::start_with(config).await;
    let srv_b = match second {
        Some(c) => Some(TestServer::start_with(c).await),
        None => None,
    };
    let (creator, show) = srv.live_show("Chapter studio", "Mugs and more").await;
    let chapters = format!("/api/shows/{show}/chapters");

    let mug = srv.product(&creator, "CH-MUG", 2400, 1).await;
    let bowl = srv.product(&creator, "CH-BOWL", 1800, 10).await;
    for p in [&mug, &bowl] {
        let (status, body) = srv
            .post(
                &format!("/api/shows/{show}/lineup"),
                Some(&creator),
                json!({ "product_id": p }),
            )
            .await;
        assert_eq!(status, 200, "lineup: {body}");
    }
    let (_, viewer) = srv.viewer(&show, "Ada").await;
    // The room on the second node when there is one: every node hears every frame.
    let (ws, _) = WsClient::join(srv_b.as_ref().unwrap_or(&srv), &show, Some(&viewer)).await;
    let mut room = Room {
        ws,
        seen: Vec::new(),
    };
    let mut want: Vec<Want> = Vec::new();

    // A pin, then a pin with a deal.
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/pins"),
            Some(&creator),
            json!({ "product_id": mug }),
        )
        .await;
    assert_eq!(status, 200, "pin: {body}");
    let frame = room.until(|v| v["type"] == "pin.updated").await;
    want.push((
        pts(&frame),
        "pin".into(),
        mug.clone(),
        "Product CH-MUG".into(),
    ));

    let deal = json!({ "price": 900, "quantity": 5, "per_buyer_limit": 2, "duration_s": 600 });
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/pins"),
            Some(&creator),
            json!({ "product_id": bowl, "deal": deal }),
        )
        .await;
    assert_eq!(status, 200, "deal: {body}");
    let frame = room.until(|v| v["type"] == "pin.updated").await;
    want.push((
        pts(&frame),
        "deal".into(),
        bowl.clone(),
        "Product CH-BOWL · 9.00 USD".into(),
    ));

    // Two cameras; the program cut between them three times.
    let (wide, wide_pipe) = camera(&srv, &show, &creator, "Wide shot").await;
    let (close, close_pipe) = camera(&srv, &show, &creator, "Close-up").await;
    let labels: HashMap<String, String> = [
        (wide.clone(), "Wide shot".to_string()),
        (close.clone(), "Close-up".to_string()),
    ]
    .into();
    cut(&srv, &mut room, &show, &creator, &wide).await;
    cut(&srv, &mut room, &show, &creator, &close).await;
    cut(&srv, &mut room, &show, &creator, &wide).await;

    // The mug's last unit sells.
    let (status, body) = srv.set_cart(&show, &viewer, &mug, 1).await;
    assert_eq!(status, 200, "cart: {body}");
    let (status, body) = srv.checkout(&show, &viewer, "chapters-1").await;
    assert!((200..300).contains(&status), "checkout: {status} {body}");
    let frame = room.until(|v| v["type"] == "purchase").await;
    assert_eq!(frame["product_id"], json!(mug), "{frame}");
    want.push((
        pts(&frame),
        "sold_out".into(),
        mug.clone(),
        "Product CH-MUG".into(),
    ));

    // The creator's marker.
    let before = chrono::Utc::now().timestamp_millis();
    let (status, marker) = srv
        .post(
            &chapters,
            Some(&creator),
            json!({ "title": "  Big reveal " }),
        )
        .await;
    let after = chrono::Utc::now().timestamp_millis();
    assert_eq!(status, 201, "marker: {marker}");
    assert_eq!(marker["kind"], "marker");
    assert_eq!(marker["title"], "Big reveal");
    let marker_pts = marker["pts"].as_i64().expect("pts");
    assert!(
        (before..=after).contains(&marker_pts),
        "{before} <= {marker_pts} <= {after}"
    );
    want.push((
        marker_pts,
        "marker".into(),
        String::new(),
        "Big reveal".into(),
    ));

    // Every cut the room heard (the first camera may have gone on air by itself).
    room.seen
        .extend(room.ws.drain(Duration::from_millis(700)).await);
    for frame in &room.seen {
        if frame["type"] == "program.changed"
            && let Some(camera) = frame["camera"].as_str()
        {
            let label = labels.get(camera).expect("a known camera");
            want.push((pts(frame), "cut".into(), String::new(), label.clone()));
        }
    }
    let cuts = want.iter().filter(|w| w.1 == "cut").count();
    assert!(cuts >= 3, "three cuts at least: {:?}", room.seen);
    want.sort();

    // The listing: each once, in time order, at the event's pts; at_ms from the show's start.
    let (status, list) = srv.get(&chapters, None).await;
    assert_eq!(status, 200, "{list}");
    let mut listed = got(&list);
    let pts_order: Vec<i64> = listed.iter().map(|w| w.0).collect();
    assert!(pts_order.is_sorted(), "time order: {list}");
    listed.sort();
    assert_eq!(listed, want, "the chapters: {list}");
    let (_, show_body) = srv.get(&format!("/api/shows/{show}"), None).await;
    let started = chrono::DateTime::parse_from_rfc3339(&s(&show_body["started_at"]))
        .expect("started_at")
        .timestamp_millis();
    for c in list["chapters"].as_array().unwrap() {
        assert_eq!(
            c["at_ms"].as_i64(),
            Some(c["pts"].as_i64().unwrap() - started),
            "{c}"
        );
        assert!(c.get("hidden").is_none(), "{c}");
    }
    if let Some(b) = &srv_b {
        let (status, other) = b.get(&chapters, None).await;
        assert_eq!(status, 200);
        assert_eq!(other, list, "the second node lists the same chapters");
    }
    let id_of = |kind: &str| {
        list["chapters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind)
            .map(|c| s(&c["id"]))
            .unwrap_or_else(|| panic!("a {kind} chapter"))
    };
    let (pin_id, deal_id) = (id_of("pin"), id_of("deal"));

    // Who may write.
    let (_, other_creator) = srv.creator("Another studio").await;
    assert_problem(
        &srv.post(&chapters, None, json!({ "title": "x" })).await,
        401,
        "missing_token",
    );
    assert_problem(
        &srv.post(&chapters, Some(&viewer), json!({ "title": "x" }))
            .await,
        403,
        "forbidden_role",
    );
    assert_problem(
        &srv.post(&chapters, Some(&other_creator), json!({ "title": "x" }))
            .await,
        403,
        "wrong_show",
    );
    let pin_path = format!("{chapters}/{pin_id}");
    assert_problem(
        &patch(
            &srv,
            &pin_path,
            Some(&other_creator),
            json!({ "title": "Mine" }),
        )
        .await,
        403,
        "wrong_show",
    );
    assert_problem(
        &patch(&srv, &pin_path, Some(&viewer), json!({ "hidden": true })).await,
        403,
        "forbidden_role",
    );
    assert_problem(
        &patch(&srv, &pin_path, None, json!({ "hidden": true })).await,
        401,
        "missing_token",
    );
    assert_problem(
        &srv.get(&format!("{chapters}?all=true"), Some(&viewer))
            .await,
        403,
        "forbidden_role",
    );
    // Bad input.
    for title in [json!(""), json!("   "), json!("x".repeat(81)), json!(12)] {
        let got = srv
            .post(&chapters, Some(&creator), json!({ "title": title }))
            .await;
        assert_eq!(got.0, 422, "{title}: {got:?}");
    }
    assert_problem(
        &patch(&srv, &pin_path, Some(&creator), json!({ "title": "" })).await,
        422,
        "invalid_title",
    );
    // A null is not "no change": the schema has no null for either field.
    for body in [
        json!({ "title": null }),
        json!({ "hidden": null, "title": null }),
    ] {
        let got = patch(&srv, &pin_path, Some(&creator), body.clone()).await;
        assert_eq!(got.0, 422, "{body}: {got:?}");
    }
    assert_problem(
        &patch(
            &srv,
            &format!("{chapters}/0000000000000-00000000"),
            Some(&creator),
            json!({ "hidden": true }),
        )
        .await,
        404,
        "chapter_not_found",
    );
    assert_problem(
        &srv.get(
            &format!("/api/shows/{}/chapters", uuid::Uuid::now_v7()),
            None,
        )
        .await,
        404,
        "show_not_found",
    );
    assert_problem(
        &srv.get(&format!("{chapters}?all=maybe"), None).await,
        400,
        "invalid_query",
    );

    // Rename while live; end; hide after the end; markers refused.
    let (status, renamed) = patch(
        &srv,
        &pin_path,
        Some(&creator),
        json!({ "title": "Speckled mug, first look" }),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["title"], "Speckled mug, first look");
    assert_eq!(renamed["kind"], "pin");
    let (status, body) = srv
        .post(&format!("/api/shows/{show}/end"), Some(&creator), json!({}))
        .await;
    assert_eq!(status, 200, "end: {body}");
    assert_problem(
        &srv.post(&chapters, Some(&creator), json!({ "title": "Too late" }))
            .await,
        409,
        "show_not_live",
    );
    let (status, hidden) = patch(
        &srv,
        &format!("{chapters}/{deal_id}"),
        Some(&creator),
        json!({ "hidden": true }),
    )
    .await;
    assert_eq!(status, 200, "{hidden}");
    assert_eq!(hidden["hidden"], true);
    let (_, public) = srv.get(&chapters, None).await;
    let public = public["chapters"].as_array().unwrap().clone();
    assert_eq!(public.len(), want.len() - 1);
    assert!(public.iter().all(|c| s(&c["id"]) != deal_id));
    assert!(
        public
            .iter()
            .any(|c| c["title"] == "Speckled mug, first look")
    );
    let (status, all) = srv
        .get(&format!("{chapters}?all=true"), Some(&creator))
        .await;
    assert_eq!(status, 200, "{all}");
    let all = all["chapters"].as_array().unwrap().clone();
    assert_eq!(all.len(), want.len());
    for c in &all {
        assert_eq!(c["hidden"], s(&c["id"]) == deal_id, "{c}");
    }

    // A scheduled show takes no marker either.
    let later = srv.show(&creator, "Next week").await;
    assert_problem(
        &srv.post(
            &format!("/api/shows/{later}/chapters"),
            Some(&creator),
            json!({ "title": "Early" }),
        )
        .await,
        409,
        "show_not_live",
    );

    wide_pipe.stop().await;
    close_pipe.stop().await;
    if let Some(b) = srv_b {
        b.stop().await;
    }
    srv.stop().await;
}
