//! Unit tests of the auction rules: one example per rule (tests/auction_rules.rs has the
//! property tests against a reference model).

use super::*;
use uuid::Uuid;

const T0: i64 = 1_800_000_000_000;

fn spec(mode: AuctionMode, reserve: Option<i64>) -> AuctionSpec {
    AuctionSpec {
        start_price: Money::price(1000, "USD").unwrap(),
        duration_s: 60,
        mode,
        extend_s: None,
        reserve_price: reserve.map(|r| Money::price(r, "USD").unwrap()),
        increments: None,
    }
}

fn lot(mode: AuctionMode, reserve: Option<i64>) -> Auction {
    let rules = spec(mode, reserve).validate().unwrap();
    Auction::new(
        AuctionId(Uuid::from_u128(1)),
        ProductId(Uuid::from_u128(2)),
        rules,
    )
}

fn opened(mode: AuctionMode, reserve: Option<i64>) -> Auction {
    open(lot(mode, reserve), T0).unwrap().auction
}

fn who(n: u128) -> Bidder {
    Bidder {
        viewer_id: ViewerId(Uuid::from_u128(100 + n)),
        name: format!("bidder{n}"),
    }
}

fn bid(a: Auction, n: u128, kind: BidKind, amount: i64, at_s: i64) -> BidStep {
    let req = BidRequest {
        bidder: who(n),
        kind,
        amount,
        currency: None,
        received_ms: T0 + at_s * 1000,
    };
    place_bid(a, &req)
}

fn refused(step: &BidStep) -> Option<Code> {
    match step.outcome {
        BidOutcome::Refused { code, .. } => Some(code),
        _ => None,
    }
}

#[test]
fn specs_are_validated() {
    let ok = spec(AuctionMode::SoftClose, Some(5000));
    let rules = ok.validate().unwrap();
    assert_eq!(rules.extend_ms, 10_000);
    assert_eq!(rules.duration_ms, 60_000);
    let bad = |f: &dyn Fn(&mut AuctionSpec)| {
        let mut s = ok.clone();
        f(&mut s);
        s.validate().unwrap_err().code
    };
    assert_eq!(bad(&|s| s.start_price.amount = 0), "invalid_auction");
    assert_eq!(bad(&|s| s.duration_s = 9), "invalid_auction");
    assert_eq!(bad(&|s| s.duration_s = 3601), "invalid_auction");
    assert_eq!(bad(&|s| s.extend_s = Some(4)), "invalid_auction");
    assert_eq!(bad(&|s| s.extend_s = Some(121)), "invalid_auction");
    assert_eq!(
        bad(&|s| s.reserve_price = Some(Money::price(999, "USD").unwrap())),
        "invalid_auction"
    );
    assert_eq!(
        bad(&|s| s.reserve_price = Some(Money::price(5000, "EUR").unwrap())),
        "wrong_currency"
    );
    let mut edge = ok.clone();
    edge.duration_s = 10;
    edge.extend_s = Some(120);
    assert!(edge.validate().is_ok());
}

#[test]
fn next_minimum_is_the_start_then_current_plus_the_increment() {
    let a = opened(AuctionMode::SoftClose, None);
    assert_eq!(a.next_minimum(), 1000);
    let a = bid(a, 1, BidKind::Amount, 1999, 1).auction;
    assert_eq!(a.next_minimum(), 2099);
    let a = bid(a, 2, BidKind::Amount, 2099, 2).auction;
    assert_eq!(
        a.next_minimum(),
        2299,
        "a bid equal to next_minimum is accepted"
    );
    let s = bid(a, 1, BidKind::Amount, 2298, 3);
    assert_eq!(refused(&s), Some(Code::BidTooLow));
}

#[test]
fn a_proxy_bids_only_as_high_as_needed_and_answers_at_once() {
    let a = opened(AuctionMode::SoftClose, None);
    let s = bid(a, 1, BidKind::Max, 5000, 1);
    assert_eq!(s.auction.current, Some(1000));
    let s = bid(s.auction, 2, BidKind::Amount, 3000, 2);
    // B's 3000 is answered by A's proxy at 3000 + 200.
    assert_eq!(s.auction.current, Some(3200));
    assert_eq!(s.auction.leader.as_ref().unwrap().bidder, who(1));
    assert!(matches!(
        s.outcome,
        BidOutcome::Accepted { outbid: Some(v), leader_changed: false, .. } if v == who(2).viewer_id
    ));
    // B's proxy above A's maximum: one increment above it.
    let s = bid(s.auction, 2, BidKind::Max, 9000, 3);
    assert_eq!(s.auction.current, Some(5500));
    assert!(matches!(
        s.outcome,
        BidOutcome::Accepted { outbid: Some(v), leader_changed: true, .. } if v == who(1).viewer_id
    ));
    // The view never shows a maximum.
    let json = serde_json::to_string(&s.auction.view()).unwrap();
    assert!(!json.contains("9000"), "{json}");
}

#[test]
fn ties_go_to_the_earlier_bid_and_raising_ones_max_does_not_raise_the_price() {
    let a = opened(AuctionMode::SoftClose, None);
    let a = bid(a, 1, BidKind::Max, 4000, 1).auction;
    let s = bid(a, 2, BidKind::Max, 4000, 2);
    assert_eq!(s.auction.current, Some(4000));
    assert_eq!(s.auction.leader.as_ref().unwrap().bidder, who(1));
    let s = bid(s.auction, 1, BidKind::Max, 8000, 3);
    assert_eq!(s.outcome, BidOutcome::MaxRaised);
    assert_eq!(s.auction.current, Some(4000));
    let s = bid(s.auction, 1, BidKind::Max, 8000, 4);
    assert_eq!(refused(&s), Some(Code::MaxBelowCurrent));
}

#[test]
fn refusals_leave_the_auction_unchanged_and_are_logged() {
    let a = opened(AuctionMode::SoftClose, None);
    let a = bid(a, 1, BidKind::Amount, 1500, 1).auction;
    for (kind, amount, code) in [
        (BidKind::Amount, 1599, Code::BidTooLow),
        (BidKind::Max, 1000, Code::BidTooLow),
        (BidKind::Amount, -5, Code::InvalidBid),
        (BidKind::Amount, 0, Code::InvalidBid),
    ] {
        let s = bid(a.clone(), 2, kind, amount, 2);
        assert_eq!(refused(&s), Some(code));
        assert_eq!(s.entry.outcome, code.as_str());
        assert_eq!(s.entry.seq, a.log_len);
        assert_eq!(
            s.auction,
            Auction {
                log_len: a.log_len + 1,
                ..a.clone()
            }
        );
        let err = s.outcome.error().unwrap();
        assert_eq!(err.code, code);
    }
    let mut req = BidRequest {
        bidder: who(2),
        kind: BidKind::Amount,
        amount: 5000,
        currency: Some(Currency::parse("EUR").unwrap()),
        received_ms: T0 + 2000,
    };
    assert_eq!(
        refused(&place_bid(a.clone(), &req)),
        Some(Code::WrongCurrency)
    );
    req.currency = None;
    req.received_ms = T0 + 60_000;
    assert_eq!(refused(&place_bid(a, &req)), Some(Code::AuctionClosed));
}

#[test]
fn soft_close_extends_and_sudden_death_does_not() {
    let a = opened(AuctionMode::SoftClose, None);
    let s = bid(a, 1, BidKind::Amount, 1000, 49);
    assert!(matches!(
        s.outcome,
        BidOutcome::Accepted {
            end_moved: false,
            ..
        }
    ));
    let s = bid(s.auction, 2, BidKind::Amount, 1100, 55);
    assert!(matches!(
        s.outcome,
        BidOutcome::Accepted {
            end_moved: true,
            ..
        }
    ));
    assert_eq!(s.auction.ends_at_ms, Some(T0 + 65_000));
    assert_eq!(s.entry.ends_at_ms, Some(T0 + 65_000));
    let a = opened(AuctionMode::SuddenDeath, None);
    let s = bid(a, 1, BidKind::Amount, 1000, 59);
    assert_eq!(s.auction.ends_at_ms, Some(T0 + 60_000));
    let s = bid(s.auction, 2, BidKind::Amount, 5000, 60);
    assert_eq!(refused(&s), Some(Code::AuctionClosed));
}

#[test]
fn pre_bids_resolve_when_the_lot_opens() {
    let a = lot(AuctionMode::SoftClose, None);
    let s = bid(a, 1, BidKind::Amount, 2000, -5);
    assert_eq!(refused(&s), Some(Code::AuctionNotOpen));
    let s = bid(s.auction, 1, BidKind::Max, 999, -5);
    assert_eq!(refused(&s), Some(Code::BidTooLow));
    let s = bid(s.auction, 1, BidKind::Max, 3000, -4);
    assert_eq!(s.outcome, BidOutcome::PreBid);
    let s = bid(s.auction, 2, BidKind::Max, 6000, -3);
    let s = bid(s.auction, 3, BidKind::Max, 6000, -2);
    assert_eq!(s.auction.view().current, None);
    let o = open(s.auction, T0).unwrap();
    assert_eq!(
        o.auction.current,
        Some(6000),
        "tie: the earlier pre-bid leads"
    );
    assert_eq!(o.auction.leader.as_ref().unwrap().bidder, who(2));
    assert_eq!(o.auction.bids, 3);
    assert_eq!(o.outbid, vec![who(3).viewer_id, who(1).viewer_id]);
    assert_eq!(o.auction.ends_at_ms, Some(T0 + 60_000));
}

#[test]
fn the_close_sells_to_the_leader_with_a_runner_up_or_says_why_not() {
    let a = opened(AuctionMode::SoftClose, Some(3000));
    assert!(close(a.clone(), T0 + 1000, false).is_err(), "not due yet");
    let c = close(a.clone(), T0 + 60_000, false).unwrap().auction;
    assert_eq!(c.result, Some(AuctionResult::Unsold));
    assert!(close(c, T0 + 61_000, true).is_err(), "closes once");
    let a = bid(a, 1, BidKind::Amount, 2000, 1).auction;
    let c = close(a.clone(), T0 + 60_000, false).unwrap().auction;
    assert_eq!(
        c.result,
        Some(AuctionResult::ReserveNotMet { highest: 2000 })
    );
    // A maximum over the reserve buys at the reserve.
    let a = bid(a, 2, BidKind::Max, 9000, 2).auction;
    assert_eq!(a.current, Some(2200));
    let a = bid(a, 3, BidKind::Amount, 3000, 3).auction;
    let c = close(a, T0 + 5000, true).unwrap().auction;
    assert_eq!(c.ends_at_ms, Some(T0 + 5000));
    assert_eq!(c.status, AuctionStatus::Closed);
    let Some(AuctionResult::Sold {
        winner,
        price,
        runner_up,
    }) = c.result.clone()
    else {
        panic!("sold: {:?}", c.result)
    };
    assert_eq!((winner, price), (who(2), 3200));
    assert_eq!(
        runner_up,
        Some(RunnerUp {
            bidder: who(3),
            price: 3000
        }),
        "bidder 1's 2000 is under the reserve"
    );
    assert_eq!(c.view().winner, Some(who(2)));
}

#[test]
fn the_docs_example_table_holds() {
    let mut a = opened(AuctionMode::SoftClose, None);
    let rows: [(u128, BidKind, i64, i64, u128, i64); 5] = [
        (1, BidKind::Max, 5000, 1000, 1, 5000),
        (2, BidKind::Amount, 3000, 3200, 1, 5000),
        (2, BidKind::Max, 9000, 5500, 2, 9000),
        (1, BidKind::Max, 9000, 9000, 2, 9000),
        (2, BidKind::Max, 12000, 9000, 2, 12000),
    ];
    for (i, (n, kind, amount, current, leader, max)) in rows.into_iter().enumerate() {
        let s = bid(a, n, kind, amount, i as i64 + 1);
        assert_eq!(s.auction.current, Some(current), "row {i}");
        let l = s.auction.leader.clone().unwrap();
        assert_eq!((l.bidder, l.max), (who(leader), max), "row {i}");
        assert_eq!(s.entry.seq, i as u64);
        a = s.auction;
    }
    assert_eq!(a.bids, 4, "the raise is not a public bid");
}
