//! Property tests of the pure auction rules (`domain::auction`) against a reference model
//! written separately and deliberately simply: it keeps only the list of accepted values in
//! order and recomputes everything from it after every bid (the leader: the highest value, a tie
//! to whoever reached it first; the price: the eBay rule "one increment above each rival's
//! value, at most what the winner had bid when that rival came", or the winner's own plain
//! amount), where the rules keep a running state. On thousands of random sequences of plain and
//! proxy bids from a few bidders at random times, before and after the lot opens, with or
//! without a reserve, a custom increment table, soft close or sudden death, both must agree on
//! every outcome, price, leader and end, and the close; and the invariants hold on the way.

use livesale::domain::auction::{
    Auction, AuctionId, AuctionMode, AuctionResult, AuctionSpec, AuctionStatus, BidKind,
    BidOutcome, BidRequest, Bidder, IncrementBand, IncrementTable, RunnerUp, close, open,
    place_bid,
};
use livesale::domain::{Code, Currency, Money, ProductId, ViewerId};
use proptest::prelude::*;
use uuid::Uuid;

const T0: i64 = 1_800_000_000_000;
const DURATION_S: i64 = 60;
const EXTEND_S: i64 = 10;
const START: i64 = 1000;

#[derive(Debug, Clone)]
struct Bid {
    bidder: usize,
    max: bool,
    amount: i64,
    /// Milliseconds from the open (negative: a pre-bid on the scheduled lot).
    at: i64,
    euro: bool,
}

#[derive(Debug, Clone)]
struct Case {
    soft: bool,
    reserve: Option<i64>,
    custom_table: bool,
    bids: Vec<Bid>,
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => (1i64..=120).prop_map(|k| k * 100),
        3 => 1i64..=12_000,
        1 => -100i64..=0,
    ]
}

fn bid() -> impl Strategy<Value = Bid> {
    (
        0usize..4,
        prop::bool::weighted(0.45),
        amount(),
        prop_oneof![2 => -15_000i64..75_000, 1 => 45_000i64..90_000],
        prop::bool::weighted(0.03),
    )
        .prop_map(|(bidder, max, amount, at, euro)| Bid {
            bidder,
            max,
            amount,
            at,
            euro,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        prop::option::weighted(0.3, (10i64..=120).prop_map(|k| k * 100)),
        prop::bool::weighted(0.25),
        prop::collection::vec(bid(), 1..40),
    )
        .prop_map(|(soft, reserve, custom_table, mut bids)| {
            bids.sort_by_key(|b| b.at);
            Case {
                soft,
                reserve,
                custom_table,
                bids,
            }
        })
}

/// The model's own increment bands (from, step); the rules' table is built from the same list.
fn bands(custom: bool) -> Vec<(i64, i64)> {
    if custom {
        vec![(0, 50), (1500, 150), (4000, 300)]
    } else {
        vec![
            (0, 100),
            (2000, 200),
            (5000, 500),
            (20000, 1000),
            (50000, 2500),
        ]
    }
}

fn bidder(n: usize) -> Bidder {
    Bidder {
        viewer_id: ViewerId(Uuid::from_u128(1000 + n as u128)),
        name: format!("b{n}"),
    }
}

/// What the model says became of a bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    Accepted,
    Raised,
    PreBid,
    Refused(Code),
}

/// One accepted value, in order.
#[derive(Debug, Clone, Copy)]
struct Entry {
    bidder: usize,
    value: i64,
    max: bool,
}

struct Model {
    bands: Vec<(i64, i64)>,
    soft: bool,
    reserve: Option<i64>,
    /// Each pre-bidder's latest pre-bid (value) and the order it came in.
    prebids: Vec<(usize, i64, usize)>,
    order: usize,
    list: Vec<Entry>,
    public_bids: u32,
    ends: Option<i64>,
}

impl Model {
    fn inc(&self, price: i64) -> i64 {
        let mut step = 0;
        for &(from, s) in &self.bands {
            if price >= from {
                step = s;
            }
        }
        step
    }

    /// Highest value of `who` among the first `n` entries.
    fn best_of(&self, who: usize, n: usize) -> Option<i64> {
        self.list[..n]
            .iter()
            .filter(|e| e.bidder == who)
            .map(|e| e.value)
            .max()
    }

    /// The leader: the highest value; a tie to whoever reached it first.
    fn leader(&self) -> Option<usize> {
        let top = self.list.iter().map(|e| e.value).max()?;
        self.list.iter().find(|e| e.value == top).map(|e| e.bidder)
    }

    /// What the winner `w` had bid when facing the rival value at index `i`: their best before
    /// it if that was already as high (they were earlier), else their first best above it.
    fn winner_at(&self, w: usize, i: usize) -> i64 {
        let v = self.list[i].value;
        if let Some(before) = self.best_of(w, i).filter(|&b| b >= v) {
            return before;
        }
        (i + 1..=self.list.len())
            .filter_map(|n| self.best_of(w, n))
            .find(|&b| b > v)
            .expect("the leader beat every rival value")
    }

    fn price(&self) -> Option<i64> {
        let w = self.leader()?;
        let mut price = START;
        for (i, e) in self.list.iter().enumerate() {
            if e.bidder == w {
                if !e.max {
                    price = price.max(e.value);
                }
            } else {
                let answer = self.winner_at(w, i).min(e.value + self.inc(e.value));
                price = price.max(answer);
            }
        }
        Some(price)
    }

    fn next_minimum(&self) -> i64 {
        match self.price() {
            None => START,
            Some(p) => p + self.inc(p),
        }
    }

    fn bid(&mut self, b: &Bid) -> Said {
        if b.amount <= 0 {
            return Said::Refused(Code::InvalidBid);
        }
        if b.euro {
            return Said::Refused(Code::WrongCurrency);
        }
        let Some(ends) = self.ends else {
            return self.prebid(b);
        };
        if b.at >= ends {
            return Said::Refused(Code::AuctionClosed);
        }
        let leading = self.leader() == Some(b.bidder);
        let leader_best = self.leader().and_then(|w| self.best_of(w, self.list.len()));
        if leading && b.max && Some(b.amount) <= leader_best {
            return Said::Refused(Code::MaxBelowCurrent);
        }
        if b.amount < self.next_minimum() {
            return Said::Refused(Code::BidTooLow);
        }
        self.list.push(Entry {
            bidder: b.bidder,
            value: b.amount,
            max: b.max,
        });
        if leading && b.max {
            return Said::Raised;
        }
        self.public_bids += 1;
        if self.soft {
            self.ends = Some(ends.max(b.at + EXTEND_S * 1000));
        }
        Said::Accepted
    }

    fn prebid(&mut self, b: &Bid) -> Said {
        if !b.max {
            return Said::Refused(Code::AuctionNotOpen);
        }
        let mine = self.prebids.iter().find(|p| p.0 == b.bidder).map(|p| p.1);
        if mine.is_some_and(|m| b.amount <= m) {
            return Said::Refused(Code::MaxBelowCurrent);
        }
        if b.amount < START {
            return Said::Refused(Code::BidTooLow);
        }
        self.prebids.retain(|p| p.0 != b.bidder);
        self.prebids.push((b.bidder, b.amount, self.order));
        self.order += 1;
        Said::PreBid
    }

    /// The lot opens at 0: each pre-bidder's latest maximum, in the order they came.
    fn open(&mut self) {
        self.prebids.sort_by_key(|p| p.2);
        for &(bidder, value, _) in &self.prebids {
            self.list.push(Entry {
                bidder,
                value,
                max: true,
            });
        }
        self.public_bids = self.prebids.len() as u32;
        self.ends = Some(DURATION_S * 1000);
    }

    fn result(&self) -> AuctionResult {
        let (Some(w), Some(price)) = (self.leader(), self.price()) else {
            return AuctionResult::Unsold;
        };
        let top = self.best_of(w, self.list.len()).unwrap();
        if self.reserve.is_some_and(|r| top < r) {
            return AuctionResult::ReserveNotMet { highest: price };
        }
        let price = price.max(self.reserve.unwrap_or(0));
        // The runner-up: the other bidder with the highest value, a tie to the earlier.
        let mut runner: Option<(usize, i64)> = None;
        for e in &self.list {
            let enough = self.reserve.is_none_or(|r| e.value >= r);
            if e.bidder != w && enough && runner.is_none_or(|(_, v)| e.value > v) {
                runner = Some((e.bidder, e.value));
            }
        }
        AuctionResult::Sold {
            winner: bidder(w),
            price,
            runner_up: runner.map(|(b, v)| RunnerUp {
                bidder: bidder(b),
                price: v,
            }),
        }
    }
}

fn lot(case: &Case) -> Auction {
    let table = IncrementTable {
        bands: bands(case.custom_table)
            .into_iter()
            .map(|(from, step)| IncrementBand { from, step })
            .collect(),
    };
    let spec = AuctionSpec {
        start_price: Money::price(START, "USD").unwrap(),
        duration_s: DURATION_S,
        mode: if case.soft {
            AuctionMode::SoftClose
        } else {
            AuctionMode::SuddenDeath
        },
        extend_s: Some(EXTEND_S),
        reserve_price: case.reserve.map(|r| Money::price(r, "USD").unwrap()),
        increments: Some(table),
    };
    Auction::new(
        AuctionId(Uuid::from_u128(1)),
        ProductId(Uuid::from_u128(2)),
        spec.validate().unwrap(),
    )
}

fn said(outcome: &BidOutcome) -> Said {
    match outcome {
        BidOutcome::Accepted { .. } => Said::Accepted,
        BidOutcome::MaxRaised => Said::Raised,
        BidOutcome::PreBid => Said::PreBid,
        BidOutcome::Refused { code, .. } => Said::Refused(*code),
    }
}

/// Plays a case through the rules and the model, checking every step; returns both.
fn play(case: &Case) -> Result<(Auction, Model), TestCaseError> {
    let mut model = Model {
        bands: bands(case.custom_table),
        soft: case.soft,
        reserve: case.reserve,
        prebids: Vec::new(),
        order: 0,
        list: Vec::new(),
        public_bids: 0,
        ends: None,
    };
    let mut auction = lot(case);
    for b in &case.bids {
        if b.at >= 0 && auction.status == AuctionStatus::Scheduled {
            let opened = open(auction, T0).unwrap();
            auction = opened.auction;
            model.open();
            check_state(&auction, &model)?;
        }
        let before = auction.clone();
        let req = BidRequest {
            bidder: bidder(b.bidder),
            kind: if b.max { BidKind::Max } else { BidKind::Amount },
            amount: b.amount,
            currency: Some(Currency::parse(if b.euro { "EUR" } else { "USD" }).unwrap()),
            received_ms: T0 + b.at,
        };
        let step = place_bid(auction, &req);
        let expected = model.bid(b);
        prop_assert_eq!(said(&step.outcome), expected, "bid {:?}", b);
        prop_assert_eq!(step.entry.seq, before.log_len);
        prop_assert_eq!(step.auction.log_len, before.log_len + 1);
        step_invariants(&before, &step.auction, &step.outcome, b)?;
        auction = step.auction;
        check_state(&auction, &model)?;
    }
    Ok((auction, model))
}

/// What must hold of one step whatever the model says.
fn step_invariants(
    before: &Auction,
    after: &Auction,
    outcome: &BidOutcome,
    b: &Bid,
) -> Result<(), TestCaseError> {
    match outcome {
        BidOutcome::Refused { .. } => {
            let unchanged = Auction {
                log_len: before.log_len + 1,
                ..before.clone()
            };
            prop_assert_eq!(after, &unchanged, "a refusal changed the auction");
        }
        BidOutcome::Accepted { end_moved, .. } => {
            prop_assert!(before.current.is_none_or(|c| after.current > Some(c)));
            prop_assert!(after.current.unwrap() >= before.next_minimum());
            prop_assert_eq!(after.bids, before.bids + 1);
            let pushed = T0 + b.at + EXTEND_S * 1000;
            let end = before.ends_at_ms.unwrap();
            let should_move = after.rules.mode == AuctionMode::SoftClose && pushed > end;
            prop_assert_eq!(*end_moved, should_move);
            let expected_end = if should_move { pushed } else { end };
            prop_assert_eq!(after.ends_at_ms, Some(expected_end));
        }
        BidOutcome::MaxRaised => {
            prop_assert_eq!(after.current, before.current);
            prop_assert_eq!(after.ends_at_ms, before.ends_at_ms);
            prop_assert_eq!(&after.view(), &before.view(), "a raise is not public");
        }
        BidOutcome::PreBid => {
            prop_assert_eq!(after.current, None);
        }
    }
    if let (Some(leader), Some(current)) = (&after.leader, after.current) {
        prop_assert!(
            current <= leader.max,
            "the price is over the leader's maximum"
        );
    }
    let json = serde_json::to_value(after.view()).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    prop_assert_eq!(
        keys,
        vec![
            "bids",
            "current",
            "ends_at",
            "id",
            "leader",
            "next_minimum",
            "product_id",
            "status",
            "winner"
        ]
    );
    Ok(())
}

fn check_state(auction: &Auction, model: &Model) -> Result<(), TestCaseError> {
    if model.ends.is_none() {
        return Ok(());
    }
    prop_assert_eq!(auction.current, model.price(), "price");
    prop_assert_eq!(
        auction.leader.as_ref().map(|l| l.bidder.clone()),
        model.leader().map(bidder),
        "leader"
    );
    prop_assert_eq!(auction.next_minimum(), model.next_minimum());
    prop_assert_eq!(auction.bids, model.public_bids);
    prop_assert_eq!(auction.ends_at_ms, model.ends.map(|e| T0 + e));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Every bid's outcome, the price, the leader, next_minimum, the count and the end agree
    /// with the model after every step, and so does the close.
    #[test]
    fn the_rules_agree_with_the_reference_model(case in case()) {
        let (mut auction, mut model) = play(&case)?;
        if auction.status == AuctionStatus::Scheduled {
            auction = open(auction, T0).unwrap().auction;
            model.open();
            check_state(&auction, &model)?;
        }
        let end = auction.ends_at_ms.unwrap();
        prop_assert!(close(auction.clone(), end - 1, false).is_err(), "closed early");
        let closed = close(auction, end, false).unwrap().auction;
        prop_assert_eq!(closed.status, AuctionStatus::Closed);
        prop_assert_eq!(closed.result.clone(), Some(model.result()));
        if let Some(AuctionResult::Sold { winner, price, runner_up }) = &closed.result {
            prop_assert_eq!(closed.view().winner, Some(winner.clone()));
            prop_assert!(runner_up.as_ref().is_none_or(|r| r.price <= *price));
        }
        let late = BidRequest {
            bidder: bidder(0),
            kind: BidKind::Amount,
            amount: closed.next_minimum(),
            currency: None,
            received_ms: end,
        };
        let step = place_bid(closed, &late);
        prop_assert_eq!(said(&step.outcome), Said::Refused(Code::AuctionClosed));
    }

    /// Two equal maxima, live or pre-bid: the earlier leads, at that maximum.
    #[test]
    fn ties_go_to_the_earlier_bid(value in 11i64..=100, gap in 1i64..5000, prebid in any::<bool>()) {
        let value = value * 100;
        let case = Case { soft: true, reserve: None, custom_table: false, bids: vec![] };
        let mut auction = lot(&case);
        let at = if prebid { -10_000 } else { 1000 };
        if !prebid {
            auction = open(auction, T0).unwrap().auction;
        }
        for (n, t) in [(2usize, at), (1, at + gap)] {
            let req = BidRequest {
                bidder: bidder(n),
                kind: BidKind::Max,
                amount: value,
                currency: None,
                received_ms: T0 + t,
            };
            auction = place_bid(auction, &req).auction;
        }
        if prebid {
            auction = open(auction, T0).unwrap().auction;
        }
        prop_assert_eq!(auction.leader.unwrap().bidder, bidder(2));
        prop_assert_eq!(auction.current, Some(value));
    }
}

/// The generator reaches every path: each outcome, each refusal and each kind of result occur
/// many times over the cases (so the model comparison above is not vacuous).
#[test]
fn the_random_cases_reach_every_path() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    use std::collections::HashMap;
    let mut runner = TestRunner::deterministic();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for _ in 0..3000 {
        let case = case().new_tree(&mut runner).unwrap().current();
        let mut model = Model {
            bands: bands(case.custom_table),
            soft: case.soft,
            reserve: case.reserve,
            prebids: Vec::new(),
            order: 0,
            list: Vec::new(),
            public_bids: 0,
            ends: None,
        };
        for b in &case.bids {
            if b.at >= 0 && model.ends.is_none() {
                model.open();
            }
            let before = model.ends;
            let said = model.bid(b);
            *seen.entry(format!("{said:?}")).or_default() += 1;
            if said == Said::Accepted && model.ends != before {
                *seen.entry("extended".into()).or_default() += 1;
            }
        }
        if model.ends.is_none() {
            model.open();
        }
        let result = match model.result() {
            AuctionResult::Sold {
                runner_up: None, ..
            } => "sold alone",
            AuctionResult::Sold { .. } => "sold with runner-up",
            AuctionResult::ReserveNotMet { .. } => "reserve not met",
            AuctionResult::Unsold => "unsold",
        };
        *seen.entry(result.into()).or_default() += 1;
    }
    for path in [
        "Accepted",
        "Raised",
        "PreBid",
        "Refused(BidTooLow)",
        "Refused(MaxBelowCurrent)",
        "Refused(AuctionClosed)",
        "Refused(AuctionNotOpen)",
        "Refused(InvalidBid)",
        "Refused(WrongCurrency)",
        "extended",
        "sold alone",
        "sold with runner-up",
        "reserve not met",
        "unsold",
    ] {
        let n = seen.get(path).copied().unwrap_or(0);
        assert!(n >= 20, "{path} reached {n} times: {seen:?}");
    }
}
