//! The wire shapes of the room's frames: client messages parse (and unknowns are named),
//! frames get their seq and `pts`, audiences round-trip, and connection frames keep their shape.

use super::*;

#[test]
fn client_messages_parse_and_unknowns_are_named() {
    assert_eq!(
        ClientMsg::parse(r#"{"type":"chat.send","text":"hi"}"#).unwrap(),
        ClientMsg::ChatSend { text: "hi".into() }
    );
    assert_eq!(
        ClientMsg::parse(r#"{"type":"ping"}"#).unwrap(),
        ClientMsg::Ping {}
    );
    assert_eq!(
        ClientMsg::parse(r#"{"type":"resume","last_seq":7}"#).unwrap(),
        ClientMsg::Resume { last_seq: 7 }
    );
    assert_eq!(
        ClientMsg::parse(r#"{"type":"dance"}"#).unwrap_err().code,
        "unknown_type"
    );
    assert_eq!(
        ClientMsg::parse(r#"{"type":"mod.ban","viewer_id":"v"}"#).unwrap(),
        ClientMsg::Mod(ModCommand::Ban {
            viewer_id: "v".into(),
            reason: None,
            scope: BanScope::Show
        })
    );
    assert_eq!(
        ClientMsg::parse(r#"{"type":"mod.ban"}"#).unwrap_err().code,
        "bad_message"
    );
    assert_eq!(
        ClientMsg::parse(r#"{"type":"mod.nope"}"#).unwrap_err().code,
        "unknown_type"
    );
    for bad in [
        "not json",
        "{}",
        r#"{"type":"chat.send"}"#,
        r#"{"type":"chat.send","text":5}"#,
        r#"{"type":"chat.send","text":"x","extra":1}"#,
        r#"{"type":"resume","last_seq":-1}"#,
    ] {
        assert_eq!(
            ClientMsg::parse(bad).unwrap_err().code,
            "bad_message",
            "{bad}"
        );
    }
}

#[test]
fn frames_get_their_seq_appended() {
    let b = Broadcast::Presence { viewers: 3 };
    let frame = seal(&b.json_prefix(1_700_000_000_000), 42);
    let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"type":"presence","viewers":3,"seq":42})
    );
}

#[test]
fn events_in_step_with_the_picture_carry_pts_and_chat_does_not() {
    let at = 1_700_000_000_123;
    let frame = |b: &Broadcast| {
        serde_json::from_str::<serde_json::Value>(&seal(&b.json_prefix(at), 7)).unwrap()
    };
    let timed = [
        Broadcast::PinUpdated { pins: vec![] },
        Broadcast::Purchase {
            buyer: "Dana".into(),
            product_id: crate::domain::ProductId::from_uuid(uuid::Uuid::nil()),
            title: "Mug".into(),
            quantity: 1,
        },
        Broadcast::ProgramChanged {
            camera: Some("c1".into()),
        },
        Broadcast::ProgramChanged { camera: None },
    ];
    for b in &timed {
        let v = frame(b);
        assert_eq!(v["pts"], at, "{v}");
        assert_eq!(v["seq"], 7, "{v}");
    }
    assert_eq!(
        frame(&Broadcast::PinUpdated { pins: vec![] }),
        serde_json::json!({"type":"pin.updated","pins":[],"pts":at,"seq":7})
    );
    for b in [
        Broadcast::Presence { viewers: 1 },
        Broadcast::ChatCleared {},
        Broadcast::ShowStatus {
            status: ShowStatus::Live,
        },
    ] {
        assert!(frame(&b).get("pts").is_none(), "{b:?}");
    }
}

#[test]
fn audiences_round_trip_and_admit() {
    for a in [
        Audience::Everyone,
        Audience::Moderators,
        Audience::Member("v1".into()),
    ] {
        assert_eq!(Audience::from_tag(&a.tag()), a);
    }
    assert!(Audience::Moderators.admits(Some(Role::Creator), None));
    assert!(!Audience::Moderators.admits(Some(Role::Viewer), Some("v1")));
    assert!(Audience::Member("v1".into()).admits(Some(Role::Viewer), Some("v1")));
    assert!(!Audience::Member("v1".into()).admits(Some(Role::Moderator), Some("m")));
    let held = Broadcast::ModNotice {
        to: "v1".into(),
        action: "ban".into(),
        until: None,
        reason: None,
    };
    assert_eq!(held.audience(), Audience::Member("v1".into()));
}

#[test]
fn connection_frames_keep_their_wire_shape() {
    let json = |m: ServerMsg| serde_json::from_str::<serde_json::Value>(&m.to_json()).unwrap();
    assert_eq!(json(ServerMsg::Pong), serde_json::json!({"type":"pong"}));
    assert_eq!(
        json(ServerMsg::ChatPending { id: "m1".into() }),
        serde_json::json!({"type":"chat.pending","id":"m1"})
    );
    let e = DomainError::invalid(Code::RateLimited, "slow down");
    assert_eq!(
        json(ServerMsg::Error(ErrorFrame::of(&e))),
        serde_json::json!({"type":"error","code":"rate_limited","message":"slow down"})
    );
    assert_eq!(
        json(ServerMsg::Error(
            ErrorFrame::of(&e).retry_after(std::time::Duration::from_millis(1500))
        )),
        serde_json::json!({"type":"error","code":"rate_limited","message":"slow down",
                           "retry_after_ms":1500})
    );
}

#[test]
fn notices_are_read_back_by_their_action() {
    let notice = Broadcast::ModNotice {
        to: "v1".into(),
        action: NoticeAction::Ban.as_str().into(),
        until: None,
        reason: Some("spam".into()),
    };
    let frame = seal(&notice.json_prefix(0), 9);
    assert_eq!(NoticeAction::of_frame(&frame), Some(NoticeAction::Ban));
    let other = seal(&Broadcast::Presence { viewers: 1 }.json_prefix(0), 10);
    assert_eq!(NoticeAction::of_frame(&other), None);
    for action in [
        NoticeAction::Timeout,
        NoticeAction::Ban,
        NoticeAction::Revoked,
    ] {
        let quoted = serde_json::to_string(&action).unwrap();
        assert_eq!(quoted, format!("\"{}\"", action.as_str()));
    }
}

#[test]
fn auction_bids_parse_and_auction_frames_go_to_their_audience() {
    assert_eq!(
        ClientMsg::parse(r#"{"type":"auction.bid","auction_id":"a","max_amount":500.0,"key":"k"}"#)
            .unwrap(),
        ClientMsg::AuctionBid {
            auction_id: "a".into(),
            amount: None,
            max_amount: Some(500),
            key: Some("k".into()),
        }
    );
    for bad in [
        r#"{"type":"auction.bid"}"#,
        r#"{"type":"auction.bid","auction_id":"a","amount":1.5}"#,
        r#"{"type":"auction.bid","auction_id":"a","amount":"5"}"#,
        r#"{"type":"auction.bid","auction_id":"a","amount":5,"currency":"USD"}"#,
    ] {
        assert_eq!(
            ClientMsg::parse(bad).unwrap_err().code,
            "bad_message",
            "{bad}"
        );
    }
    let lot = crate::domain::auction::Auction::new(
        crate::domain::auction::AuctionId(uuid::Uuid::nil()),
        crate::domain::ProductId::from_uuid(uuid::Uuid::nil()),
        crate::domain::auction::AuctionSpec {
            start_price: crate::domain::Money::price(1000, "USD").unwrap(),
            duration_s: 60,
            mode: crate::domain::auction::AuctionMode::SoftClose,
            extend_s: None,
            reserve_price: None,
            increments: None,
        }
        .validate()
        .unwrap(),
    );
    let outbid = Broadcast::AuctionOutbid {
        to: "v1".into(),
        auction: Box::new(lot.view()),
    };
    assert_eq!(outbid.audience(), Audience::Member("v1".into()));
    let frame: serde_json::Value = serde_json::from_str(&seal(&outbid.json_prefix(0), 3)).unwrap();
    assert_eq!(frame["type"], "auction.outbid");
    assert!(
        frame.get("to").is_none() && frame.get("pts").is_none(),
        "{frame}"
    );
    let bid = Broadcast::AuctionBid {
        auction: Box::new(lot.view()),
    };
    assert_eq!(bid.audience(), Audience::Everyone);
    let e = DomainError::conflict(Code::BidTooLow, "too low");
    let mut refused = ErrorFrame::of(&e);
    refused.key = Some("k".into());
    refused.next_minimum = Some(lot.money(1000));
    assert_eq!(
        serde_json::to_value(ServerMsg::Error(refused)).unwrap(),
        serde_json::json!({"type":"error","code":"bid_too_low","message":"too low","key":"k",
                           "next_minimum":{"amount":1000,"currency":"USD"}})
    );
}
