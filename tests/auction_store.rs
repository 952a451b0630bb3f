//! The auctions part of the `Store` contract, written once and run against [`MemoryStore`]
//! (the reference) and [`RedisStore`] (`store_contracts!` makes `memory_store::<name>` and
//! `redis_store::<name>`): lots created, read and listed with the per-show limit; bids of
//! every kind and refusals (which change nothing but the log); idempotency keys; opening with
//! pre-bids, one open lot per show; a close that happens once however many race for it; the
//! log in order; the open lots for the ticker; and many bidders at once on one lot (accepted
//! bids strictly rising in log order, and the lot equal to its log replayed through the rules).
//!
//! Then the differential test: thousands of random bid sequences applied in step to the
//! Redis store and to the rules themselves (`place_bid`, `open`, `close`), every answer, the
//! stored lot and the log compared.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use livesale::domain::auction::{
    Auction, AuctionId, AuctionMode, AuctionSpec, AuctionStatus, BidKind, BidOutcome, BidRequest,
    Bidder, IncrementBand, IncrementTable, LogEntry, close, open, place_bid,
};
use livesale::domain::{
    Code, CreatorId, Currency, Money, NewShow, ProductId, Show, ShowId, ViewerId,
};
use livesale::store::SharedStore;
use livesale::store::auctions::{BidAnswer, BidStored, KeyedBid, MAX_LOTS_PER_SHOW};
use proptest::prelude::*;
use uuid::Uuid;

store_contracts!(
    lots_are_created_read_listed_and_limited,
    bids_of_every_kind_and_refusals,
    a_key_answers_its_first_answer,
    opening_resolves_pre_bids_one_lot_at_a_time,
    a_lot_closes_once,
    the_log_keeps_every_bid_in_order,
    open_lots_are_listed_for_the_ticker,
    concurrent_bids_rise_strictly_and_replay,
);

const T0: i64 = 1_800_000_000_000;

fn spec(mode: AuctionMode, duration_s: i64, reserve: Option<i64>) -> AuctionSpec {
    AuctionSpec {
        start_price: Money::price(1000, "USD").unwrap(),
        duration_s,
        mode,
        extend_s: Some(10),
        reserve_price: reserve.map(|r| Money::price(r, "USD").unwrap()),
        increments: None,
    }
}

fn new_lot(spec: &AuctionSpec) -> Auction {
    Auction::new(
        AuctionId(Uuid::now_v7()),
        ProductId(Uuid::now_v7()),
        spec.validate().unwrap(),
    )
}

fn who(n: usize) -> Bidder {
    Bidder {
        viewer_id: ViewerId(Uuid::from_u128(0xb1d0_0000 + n as u128)),
        name: format!("Bidder | {n}"),
    }
}

fn request(n: usize, kind: BidKind, amount: i64, at_ms: i64) -> BidRequest {
    BidRequest {
        bidder: who(n),
        kind,
        amount,
        currency: None,
        received_ms: T0 + at_ms,
    }
}

fn keyed(request: BidRequest, key: Option<&str>) -> KeyedBid {
    KeyedBid {
        request,
        key: key.map(str::to_string),
    }
}

async fn show(store: &SharedStore) -> Show {
    common::stores::scheduled_show(store, "Auctioneer", "Lots").await
}

/// A lot created and opened at T0.
async fn opened(store: &SharedStore, show: &Show, spec: &AuctionSpec) -> Auction {
    let lot = new_lot(spec);
    store.create_auction(show, &lot).await.unwrap().unwrap();
    store
        .open_auction(show, lot.id, T0)
        .await
        .unwrap()
        .unwrap()
        .auction
}

async fn bid(store: &SharedStore, show: &Show, id: AuctionId, bid: &KeyedBid) -> BidStored {
    store.bid(show, id, bid).await.unwrap().unwrap()
}

fn answer(stored: BidStored) -> BidAnswer {
    match stored {
        BidStored::Handled { answer, .. } => *answer,
        BidStored::KeyReused => panic!("unexpected KeyReused"),
    }
}

fn refusal(a: &BidAnswer) -> Option<Code> {
    match a.outcome {
        BidOutcome::Refused { code, .. } => Some(code),
        _ => None,
    }
}

async fn lots_are_created_read_listed_and_limited(store: SharedStore) {
    let show = show(&store).await;
    let other = common::stores::scheduled_show(&store, "Other", "Elsewhere").await;
    assert!(store.auctions(&show).await.unwrap().is_empty());
    let mut made = Vec::new();
    for reserve in [None, Some(5000), None] {
        let lot = new_lot(&spec(AuctionMode::SoftClose, 60, reserve));
        store.create_auction(&show, &lot).await.unwrap().unwrap();
        made.push(lot);
    }
    assert_eq!(store.auctions(&show).await.unwrap(), made, "oldest first");
    for lot in &made {
        assert_eq!(
            store.auction(&show, lot.id).await.unwrap().as_ref(),
            Some(lot)
        );
        assert_eq!(store.auction(&other, lot.id).await.unwrap(), None);
    }
    assert_eq!(
        store
            .auction(&show, AuctionId(Uuid::now_v7()))
            .await
            .unwrap(),
        None
    );
    for _ in made.len()..MAX_LOTS_PER_SHOW {
        let lot = new_lot(&spec(AuctionMode::SuddenDeath, 10, None));
        store.create_auction(&show, &lot).await.unwrap().unwrap();
    }
    let extra = new_lot(&spec(AuctionMode::SoftClose, 60, None));
    let err = store
        .create_auction(&show, &extra)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, Code::TooManyAuctions);
    assert_eq!(store.auction(&show, extra.id).await.unwrap(), None);
    assert_eq!(
        store.auctions(&show).await.unwrap().len(),
        MAX_LOTS_PER_SHOW
    );
    store.create_auction(&other, &extra).await.unwrap().unwrap();
}

async fn bids_of_every_kind_and_refusals(store: SharedStore) {
    let show = show(&store).await;
    let lot = opened(&store, &show, &spec(AuctionMode::SoftClose, 60, None)).await;
    let id = lot.id;
    // A proxy bids only as high as needed; a rival's plain bid is answered at once.
    let a = answer(
        bid(
            &store,
            &show,
            id,
            &keyed(request(1, BidKind::Max, 5000, 1000), None),
        )
        .await,
    );
    assert_eq!(a.view.current.map(|m| m.amount), Some(1000));
    assert_eq!(a.view.leader, Some(who(1)));
    let a = answer(
        bid(
            &store,
            &show,
            id,
            &keyed(request(2, BidKind::Amount, 3000, 2000), None),
        )
        .await,
    );
    assert_eq!(a.view.current.map(|m| m.amount), Some(3200));
    assert!(
        matches!(a.outcome, BidOutcome::Accepted { outbid: Some(v), leader_changed: false, .. } if v == who(2).viewer_id)
    );
    let a = answer(
        bid(
            &store,
            &show,
            id,
            &keyed(request(1, BidKind::Max, 8000, 3000), None),
        )
        .await,
    );
    assert_eq!(a.outcome, BidOutcome::MaxRaised);
    // A late bid moves the end.
    let a = answer(
        bid(
            &store,
            &show,
            id,
            &keyed(request(2, BidKind::Max, 9000, 55_000), None),
        )
        .await,
    );
    assert!(matches!(
        a.outcome,
        BidOutcome::Accepted {
            leader_changed: true,
            end_moved: true,
            ..
        }
    ));
    assert_eq!(a.view.current.map(|m| m.amount), Some(8500));
    assert_eq!(
        a.view.ends_at.map(|t| t.timestamp_millis()),
        Some(T0 + 65_000)
    );
    let before = store.auction(&show, id).await.unwrap().unwrap();
    let eur = BidRequest {
        currency: Some(Currency::parse("EUR").unwrap()),
        ..request(3, BidKind::Amount, 20_000, 56_000)
    };
    let refused = [
        (request(3, BidKind::Amount, 8999, 56_000), Code::BidTooLow),
        (request(3, BidKind::Amount, -5, 56_000), Code::InvalidBid),
        (request(3, BidKind::Amount, 0, 56_000), Code::InvalidBid),
        (eur, Code::WrongCurrency),
        (
            request(2, BidKind::Max, 9000, 56_000),
            Code::MaxBelowCurrent,
        ),
        (
            request(3, BidKind::Amount, 20_000, 65_000),
            Code::AuctionClosed,
        ),
    ];
    for (n, (req, code)) in refused.into_iter().enumerate() {
        let a = answer(bid(&store, &show, id, &keyed(req, None)).await);
        assert_eq!(refusal(&a), Some(code));
        assert_eq!(a.entry.outcome, code.as_str());
        assert_eq!(a.entry.seq, before.log_len + n as u64);
        if let BidOutcome::Refused { next_minimum, .. } = a.outcome {
            assert_eq!(next_minimum.amount, 9000);
        }
        let now = store.auction(&show, id).await.unwrap().unwrap();
        assert_eq!(
            now,
            Auction {
                log_len: before.log_len + n as u64 + 1,
                ..before.clone()
            }
        );
    }
    let missing = store
        .bid(
            &show,
            AuctionId(Uuid::now_v7()),
            &keyed(request(1, BidKind::Amount, 2000, 1), None),
        )
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(missing.code, Code::AuctionNotFound);
}

async fn a_key_answers_its_first_answer(store: SharedStore) {
    let show = show(&store).await;
    let lot = opened(&store, &show, &spec(AuctionMode::SoftClose, 60, None)).await;
    let first = keyed(request(1, BidKind::Amount, 1500, 1000), Some("k-1"));
    let BidStored::Handled {
        answer: a,
        replayed: false,
    } = bid(&store, &show, lot.id, &first).await
    else {
        panic!("the first bid is handled")
    };
    // A rival moves the price; the repeat still answers the first answer, unchanged.
    bid(
        &store,
        &show,
        lot.id,
        &keyed(request(2, BidKind::Amount, 2000, 2000), None),
    )
    .await;
    let after = store.auction(&show, lot.id).await.unwrap().unwrap();
    let again = bid(&store, &show, lot.id, &first).await;
    assert_eq!(
        again,
        BidStored::Handled {
            answer: a.clone(),
            replayed: true
        }
    );
    assert_eq!(
        store.auction(&show, lot.id).await.unwrap().unwrap(),
        after,
        "a repeat changes nothing"
    );
    let other_body = keyed(request(1, BidKind::Amount, 2500, 3000), Some("k-1"));
    assert_eq!(
        bid(&store, &show, lot.id, &other_body).await,
        BidStored::KeyReused
    );
    let as_max = keyed(request(1, BidKind::Max, 1500, 3000), Some("k-1"));
    assert_eq!(
        bid(&store, &show, lot.id, &as_max).await,
        BidStored::KeyReused
    );
    // Keys belong to one bidder: another's same key is a new bid.
    let theirs = keyed(request(3, BidKind::Amount, 2500, 3000), Some("k-1"));
    let BidStored::Handled {
        answer: b,
        replayed: false,
    } = bid(&store, &show, lot.id, &theirs).await
    else {
        panic!("another bidder's key is their own")
    };
    assert_eq!(b.view.leader, Some(who(3)));
    assert_eq!(store.auction_log(&show, lot.id).await.unwrap().len(), 3);
}

async fn opening_resolves_pre_bids_one_lot_at_a_time(store: SharedStore) {
    let show = show(&store).await;
    let first = new_lot(&spec(AuctionMode::SoftClose, 60, None));
    let second = new_lot(&spec(AuctionMode::SoftClose, 60, None));
    for lot in [&first, &second] {
        store.create_auction(&show, lot).await.unwrap().unwrap();
    }
    let pre = |n, kind, amount| keyed(request(n, kind, amount, -5000), None);
    let a = answer(bid(&store, &show, first.id, &pre(1, BidKind::Amount, 2000)).await);
    assert_eq!(refusal(&a), Some(Code::AuctionNotOpen));
    for (n, max) in [(1, 3000), (2, 6000), (3, 6000), (1, 4000)] {
        let a = answer(bid(&store, &show, first.id, &pre(n, BidKind::Max, max)).await);
        assert_eq!(a.outcome, BidOutcome::PreBid);
        assert_eq!(a.view.current, None, "a pre-bid is not public");
    }
    let a = answer(bid(&store, &show, first.id, &pre(2, BidKind::Max, 5000)).await);
    assert_eq!(refusal(&a), Some(Code::MaxBelowCurrent));
    let stored = store.auction(&show, first.id).await.unwrap().unwrap();
    let expected = open(stored, T0).unwrap();
    let step = store
        .open_auction(&show, first.id, T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(step, expected);
    assert_eq!(step.auction.current, Some(6000));
    assert_eq!(
        step.auction.leader.as_ref().map(|l| l.bidder.clone()),
        Some(who(2))
    );
    assert_eq!(step.outbid, vec![who(3).viewer_id, who(1).viewer_id]);
    assert_eq!(
        store.auction(&show, first.id).await.unwrap().unwrap(),
        step.auction
    );
    let err = store
        .open_auction(&show, second.id, T0)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, Code::AuctionRunning);
    assert!(err.message.contains(&first.id.to_string()), "{err:?}");
    let err = store
        .open_auction(&show, first.id, T0)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, Code::IllegalTransition);
    let err = store
        .open_auction(&show, AuctionId(Uuid::now_v7()), T0)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, Code::AuctionNotFound);
    store
        .close_auction(&show, first.id, T0 + 1000, true)
        .await
        .unwrap()
        .unwrap();
    let step = store
        .open_auction(&show, second.id, T0 + 2000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(step.auction.status, AuctionStatus::Open);
}

async fn a_lot_closes_once(store: SharedStore) {
    let show = show(&store).await;
    let lot = opened(
        &store,
        &show,
        &spec(AuctionMode::SuddenDeath, 10, Some(1500)),
    )
    .await;
    bid(
        &store,
        &show,
        lot.id,
        &keyed(request(1, BidKind::Max, 3000, 1000), None),
    )
    .await;
    bid(
        &store,
        &show,
        lot.id,
        &keyed(request(2, BidKind::Amount, 1700, 2000), None),
    )
    .await;
    let err = store
        .close_auction(&show, lot.id, T0 + 9_999, false)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, Code::AuctionRunning, "not due yet");
    let expected = close(
        store.auction(&show, lot.id).await.unwrap().unwrap(),
        T0 + 10_000,
        false,
    )
    .unwrap();
    let races: Vec<_> = (0..8)
        .map(|_| {
            let (store, show) = (store.clone(), show.clone());
            tokio::spawn(
                async move { store.close_auction(&show, lot.id, T0 + 10_000, false).await },
            )
        })
        .collect();
    let mut won = Vec::new();
    for race in races {
        match race.await.unwrap().unwrap() {
            Ok(step) => won.push(step),
            Err(e) => assert_eq!(e.code, Code::AuctionClosed),
        }
    }
    assert_eq!(won, vec![expected.clone()], "exactly one close took effect");
    assert_eq!(
        store.auction(&show, lot.id).await.unwrap().unwrap(),
        expected.auction
    );
    let err = store
        .close_auction(&show, lot.id, T0 + 20_000, true)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, Code::AuctionClosed);
    let a = answer(
        bid(
            &store,
            &show,
            lot.id,
            &keyed(request(3, BidKind::Amount, 9000, 5000), None),
        )
        .await,
    );
    assert_eq!(refusal(&a), Some(Code::AuctionClosed));
    assert_eq!(
        a.view.winner,
        Some(who(1)),
        "the view of a closed lot names its winner"
    );
    // A scheduled lot can be stopped (its pre-bids dropped), once.
    let later = new_lot(&spec(AuctionMode::SuddenDeath, 30, None));
    store.create_auction(&show, &later).await.unwrap().unwrap();
    bid(
        &store,
        &show,
        later.id,
        &keyed(request(1, BidKind::Max, 3000, -1), None),
    )
    .await;
    let expected = close(
        store.auction(&show, later.id).await.unwrap().unwrap(),
        T0,
        true,
    )
    .unwrap();
    assert_eq!(
        store
            .close_auction(&show, later.id, T0, true)
            .await
            .unwrap()
            .unwrap(),
        expected
    );
    assert_eq!(
        store.auction(&show, later.id).await.unwrap().unwrap(),
        expected.auction
    );
}

async fn the_log_keeps_every_bid_in_order(store: SharedStore) {
    let show = show(&store).await;
    let lot = opened(&store, &show, &spec(AuctionMode::SuddenDeath, 60, None)).await;
    let mut entries = Vec::new();
    for (n, (who_, kind, amount)) in [
        (1, BidKind::Amount, 1000),
        (2, BidKind::Amount, 1000),
        (2, BidKind::Max, 4000),
        (1, BidKind::Amount, -1),
        (2, BidKind::Max, 6000),
        (3, BidKind::Amount, 99_999),
    ]
    .into_iter()
    .enumerate()
    {
        let a = answer(
            bid(
                &store,
                &show,
                lot.id,
                &keyed(request(who_, kind, amount, n as i64), None),
            )
            .await,
        );
        assert_eq!(a.entry.seq, n as u64);
        entries.push(a.entry);
    }
    assert_eq!(store.auction_log(&show, lot.id).await.unwrap(), entries);
    let outcomes: Vec<&str> = entries.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        [
            "accepted",
            "bid_too_low",
            "accepted",
            "invalid_bid",
            "max_raised",
            "accepted"
        ]
    );
    assert!(
        store
            .auction_log(&show, AuctionId(Uuid::now_v7()))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn open_lots_are_listed_for_the_ticker(store: SharedStore) {
    let show = show(&store).await;
    let other = common::stores::scheduled_show(&store, "Other", "Elsewhere").await;
    assert!(store.open_auctions().await.unwrap().is_empty());
    let scheduled = new_lot(&spec(AuctionMode::SoftClose, 60, None));
    store
        .create_auction(&show, &scheduled)
        .await
        .unwrap()
        .unwrap();
    let a = opened(&store, &show, &spec(AuctionMode::SoftClose, 60, None)).await;
    let b = opened(&store, &other, &spec(AuctionMode::SuddenDeath, 30, None)).await;
    bid(
        &store,
        &show,
        a.id,
        &keyed(request(1, BidKind::Amount, 1000, 55_000), None),
    )
    .await;
    let mut listed = store.open_auctions().await.unwrap();
    listed.sort_by_key(|l| l.ends_at_ms);
    let seen: Vec<_> = listed
        .iter()
        .map(|l| (l.show, l.creator, l.auction, l.ends_at_ms))
        .collect();
    assert_eq!(
        seen,
        [
            (other.id, other.creator_id, b.id, T0 + 30_000),
            (show.id, show.creator_id, a.id, T0 + 65_000),
        ]
    );
    store
        .close_auction(&show, a.id, T0 + 65_000, false)
        .await
        .unwrap()
        .unwrap();
    let listed = store.open_auctions().await.unwrap();
    assert_eq!(listed.iter().map(|l| l.auction).collect::<Vec<_>>(), [b.id]);
}

/// Replays a log through the rules from the lot as opened: the state it must have led to.
fn replay(start: &Auction, log: &[LogEntry], names: &HashMap<ViewerId, Bidder>) -> Auction {
    let mut lot = start.clone();
    for e in log {
        let req = BidRequest {
            bidder: names[&e.bidder].clone(),
            kind: e.kind,
            amount: e.amount,
            currency: None,
            received_ms: e.received_ms,
        };
        let step = place_bid(lot, &req);
        assert_eq!(&step.entry, e, "the log replays entry by entry");
        lot = step.auction;
    }
    lot
}

async fn concurrent_bids_rise_strictly_and_replay(store: SharedStore) {
    let show = show(&store).await;
    let start = opened(&store, &show, &spec(AuctionMode::SoftClose, 30, None)).await;
    let tasks: Vec<_> = (0..32usize)
        .map(|n| {
            let (store, show) = (store.clone(), show.clone());
            tokio::spawn(async move {
                for i in 0..25i64 {
                    let kind = if (n + i as usize) % 3 == 0 {
                        BidKind::Max
                    } else {
                        BidKind::Amount
                    };
                    let amount = 1000 + (n as i64 * 37 + i * 211) % 9000 + i * 300;
                    let req = request(n, kind, amount, 20_000 + i * 400 + n as i64);
                    store
                        .bid(&show, start.id, &keyed(req, None))
                        .await
                        .unwrap()
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let log = store.auction_log(&show, start.id).await.unwrap();
    assert_eq!(log.len(), 32 * 25);
    let mut last = None;
    for e in log.iter().filter(|e| e.outcome == "accepted") {
        assert!(
            e.current > last,
            "accepted bids rise strictly: {e:?} after {last:?}"
        );
        last = e.current;
    }
    let names = (0..32).map(|n| (who(n).viewer_id, who(n))).collect();
    let stored = store.auction(&show, start.id).await.unwrap().unwrap();
    assert_eq!(stored, replay(&start, &log, &names));
}

// ---- The differential test: Redis against the rules themselves. ----

#[derive(Debug, Clone)]
enum Act {
    Bid {
        bidder: usize,
        max: bool,
        amount: i64,
        euro: bool,
        key: Option<u8>,
    },
    Close {
        stop: bool,
    },
}

#[derive(Debug, Clone)]
struct Case {
    soft: bool,
    reserve: Option<i64>,
    custom_table: bool,
    /// Each act at its time (ms from the open; negative: before it).
    acts: Vec<(i64, Act)>,
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => (1i64..=120).prop_map(|k| k * 100),
        3 => 1i64..=12_000,
        1 => prop_oneof![-100i64..=0, Just(1_000_000_000_001i64), Just(1_000_000_000_000i64)],
    ]
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        30 => (0usize..5, prop::bool::weighted(0.45), amount(), prop::bool::weighted(0.03),
            prop::option::weighted(0.2, 0u8..3))
            .prop_map(|(bidder, max, amount, euro, key)| Act::Bid { bidder, max, amount, euro, key }),
        1 => prop::bool::weighted(0.3).prop_map(|stop| Act::Close { stop }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    // Times on a 500 ms grid too, so bids land exactly on an end or an extension's edge.
    let at = prop_oneof![
        2 => -15_000i64..75_000,
        2 => 45_000i64..90_000,
        2 => (-30i64..180).prop_map(|k| k * 500),
    ];
    (
        any::<bool>(),
        prop::option::weighted(0.3, (10i64..=120).prop_map(|k| k * 100)),
        prop::bool::weighted(0.3),
        prop::collection::vec((at, act()), 1..40),
    )
        .prop_map(|(soft, reserve, custom_table, mut acts)| {
            acts.sort_by_key(|(at, _)| *at);
            Case {
                soft,
                reserve,
                custom_table,
                acts,
            }
        })
}

fn case_lot(case: &Case) -> Auction {
    let bands = if case.custom_table {
        vec![(0, 50), (1500, 150), (4000, 300)]
    } else {
        vec![
            (0, 100),
            (2000, 200),
            (5000, 500),
            (20000, 1000),
            (50000, 2500),
        ]
    };
    let spec = AuctionSpec {
        increments: Some(IncrementTable {
            bands: bands
                .into_iter()
                .map(|(from, step)| IncrementBand { from, step })
                .collect(),
        }),
        ..spec(
            if case.soft {
                AuctionMode::SoftClose
            } else {
                AuctionMode::SuddenDeath
            },
            60,
            case.reserve,
        )
    };
    new_lot(&spec)
}

/// Plays a case on the store and through the rules in step (the lot opens at T0), comparing
/// every answer, the stored lot after every act, and the log at the end.
async fn differ(store: &SharedStore, case: &Case) -> Result<(), TestCaseError> {
    let show = Show::schedule(
        ShowId(Uuid::now_v7()),
        CreatorId(Uuid::now_v7()),
        NewShow {
            title: "Differential".into(),
            description: None,
            scheduled_at: None,
            cover_url: None,
        },
        chrono::DateTime::from_timestamp_millis(T0).unwrap(),
    )
    .unwrap();
    let mut lot = case_lot(case);
    store.create_auction(&show, &lot).await.unwrap().unwrap();
    let mut log = Vec::new();
    let mut keys: HashMap<(usize, u8), (String, BidAnswer)> = HashMap::new();
    let mut opened_yet = false;
    for (n, (at, act)) in case.acts.iter().enumerate() {
        if *at >= 0 && !opened_yet {
            opened_yet = true;
            let expected = open(lot.clone(), T0);
            let actual = store.open_auction(&show, lot.id, T0).await.unwrap();
            prop_assert_eq!(&expected, &actual, "open before act {}", n);
            if let Ok(step) = expected {
                lot = step.auction;
            }
        }
        match act {
            Act::Close { stop } => {
                let expected = close(lot.clone(), T0 + at, *stop);
                let actual = store
                    .close_auction(&show, lot.id, T0 + at, *stop)
                    .await
                    .unwrap();
                prop_assert_eq!(&expected, &actual, "close at act {}", n);
                if let Ok(step) = expected {
                    lot = step.auction;
                }
            }
            Act::Bid {
                bidder,
                max,
                amount,
                euro,
                key,
            } => {
                let req = BidRequest {
                    currency: euro.then(|| Currency::parse("EUR").unwrap()),
                    ..request(
                        *bidder,
                        if *max { BidKind::Max } else { BidKind::Amount },
                        *amount,
                        *at,
                    )
                };
                let bid = keyed(req, key.map(|k| format!("key-{k}")).as_deref());
                let kept = key.and_then(|k| keys.get(&(*bidder, k)));
                let expected = match kept {
                    Some((print, a)) if *print == bid.fingerprint() => BidStored::Handled {
                        answer: Box::new(a.clone()),
                        replayed: true,
                    },
                    Some(_) => BidStored::KeyReused,
                    None => {
                        let step = place_bid(lot.clone(), &bid.request);
                        let a = BidAnswer {
                            outcome: step.outcome,
                            view: step.auction.view(),
                            entry: step.entry,
                        };
                        if let Some(k) = key {
                            keys.insert((*bidder, *k), (bid.fingerprint(), a.clone()));
                        }
                        lot = step.auction;
                        log.push(a.entry.clone());
                        BidStored::Handled {
                            answer: Box::new(a),
                            replayed: false,
                        }
                    }
                };
                let actual = store.bid(&show, lot.id, &bid).await.unwrap().unwrap();
                prop_assert_eq!(&expected, &actual, "bid at act {}", n);
            }
        }
        let stored = store.auction(&show, lot.id).await.unwrap();
        prop_assert_eq!(Some(&lot), stored.as_ref(), "the lot after act {}", n);
    }
    prop_assert_eq!(log, store.auction_log(&show, lot.id).await.unwrap());
    Ok(())
}

#[test]
fn redis_bids_agree_with_the_rules() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let prefix = common::redis::unique_prefix("auction-differential");
    let store: SharedStore =
        runtime.block_on(async { Arc::new(common::stores::connect(&prefix).await) });
    let config = ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let outcome = proptest::test_runner::TestRunner::new(config)
        .run(&case(), |case| runtime.block_on(differ(&store, &case)));
    runtime.block_on(clean_up(&prefix));
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// Deletes every key under `prefix` (the test's own).
async fn clean_up(prefix: &str) {
    let keys = common::redis::keys_under(prefix).await;
    let mut con = common::redis::raw_connection().await;
    for batch in keys.chunks(1000) {
        let _: () = redis::cmd("DEL")
            .arg(batch)
            .query_async(&mut con)
            .await
            .unwrap();
    }
}
