//! How the auctions area (`auctions.rs`) lays a lot out in Redis and reads it back: the
//! lot's hash fields, the bidder and pre-bid entries, the log lines and the bid script's
//! answer, each decoded into the domain's types (anything else is `Corrupt`).

use std::collections::HashMap;

use super::{decode, encode, parse_id, parse_int};
use crate::domain::auction::{
    Auction, AuctionId, AuctionResult, AuctionStatus, AuctionView, BidOutcome, Bidder, BidderBest,
    Leader, LogEntry, PreBid,
};
use crate::domain::{Code, Currency, Money, ViewerId};
use crate::store::StoreError;
use crate::store::auctions::BidAnswer;

/// Serde's name of a unit variant (`soft_close`, `open`, …).
fn snake<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    Ok(encode(value)?.trim_matches('"').to_string())
}

fn opt(value: Option<i64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The fields an open or a close changes (and a create writes first).
pub(super) fn state_fields(a: &Auction) -> Result<Vec<(&'static str, String)>, StoreError> {
    let winner = match &a.result {
        Some(AuctionResult::Sold { winner, .. }) => Some(winner),
        _ => None,
    };
    Ok(vec![
        ("status", snake(&a.status)?),
        ("ends_at", opt(a.ends_at_ms)),
        ("current", opt(a.current)),
        (
            "leader",
            a.leader
                .as_ref()
                .map(|l| l.bidder.viewer_id.to_string())
                .unwrap_or_default(),
        ),
        (
            "leader_name",
            a.leader
                .as_ref()
                .map(|l| l.bidder.name.clone())
                .unwrap_or_default(),
        ),
        ("leader_max", opt(a.leader.as_ref().map(|l| l.max))),
        ("bids", a.bids.to_string()),
        (
            "result",
            a.result
                .as_ref()
                .map(encode)
                .transpose()?
                .unwrap_or_default(),
        ),
        (
            "winner",
            winner.map(|w| w.viewer_id.to_string()).unwrap_or_default(),
        ),
        (
            "winner_name",
            winner.map(|w| w.name.clone()).unwrap_or_default(),
        ),
    ])
}

/// Every field of a new lot.
pub(super) fn create_fields(a: &Auction) -> Result<Vec<(&'static str, String)>, StoreError> {
    let rules = &a.rules;
    let steps: Vec<String> = rules
        .increments
        .bands
        .iter()
        .map(|b| format!("{}:{}", b.from, b.step))
        .collect();
    let mut fields = vec![
        ("id", a.id.to_string()),
        ("product", a.product_id.to_string()),
        ("rules", encode(rules)?),
        ("currency", rules.currency.to_string()),
        ("start", rules.start_price.to_string()),
        ("mode", snake(&rules.mode)?),
        ("extend_ms", rules.extend_ms.to_string()),
        ("steps", steps.join(",")),
        ("log_len", a.log_len.to_string()),
        ("version", "0".to_string()),
    ];
    fields.extend(state_fields(a)?);
    Ok(fields)
}

fn field<'a>(raw: &'a HashMap<String, String>, name: &str) -> Result<&'a str, StoreError> {
    raw.get(name)
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("auction without {name}")))
}

fn opt_int(raw: &str, what: &str) -> Result<Option<i64>, StoreError> {
    (!raw.is_empty()).then(|| parse_int(raw, what)).transpose()
}

fn bidder(id: &str, name: &str) -> Result<Bidder, StoreError> {
    Ok(Bidder {
        viewer_id: parse_id(id, "auction bidder")?,
        name: name.to_string(),
    })
}

/// A lot as stored (its hash, bests and pre-bids) and its version.
pub(super) fn stored_lot(
    lot: &HashMap<String, String>,
    bests: &HashMap<String, String>,
    prebids: &HashMap<String, String>,
) -> Result<(Auction, String), StoreError> {
    let f = |name| field(lot, name);
    let leader = match f("leader")? {
        "" => None,
        id => Some(Leader {
            bidder: bidder(id, f("leader_name")?)?,
            max: parse_int(f("leader_max")?, "leader_max")?,
        }),
    };
    let result = match f("result")? {
        "" => None,
        raw => Some(decode(raw, "auction result")?),
    };
    let mut ranked = Vec::with_capacity(bests.len());
    for (id, raw) in bests {
        let parts: Vec<&str> = raw.splitn(4, '|').collect();
        let [best, seq, first, name] = parts[..] else {
            return Err(StoreError::Corrupt(format!("auction best {raw:?}")));
        };
        let entry = BidderBest {
            bidder: bidder(id, name)?,
            best: parse_int(best, "best")?,
            seq: parse_int(seq, "best seq")? as u64,
        };
        ranked.push((parse_int(first, "best first")?, entry));
    }
    ranked.sort_by_key(|(first, _)| *first);
    let mut pre = Vec::with_capacity(prebids.len());
    for (id, raw) in prebids {
        let parts: Vec<&str> = raw.splitn(3, '|').collect();
        let [max, seq, name] = parts[..] else {
            return Err(StoreError::Corrupt(format!("auction pre-bid {raw:?}")));
        };
        pre.push(PreBid {
            bidder: bidder(id, name)?,
            max: parse_int(max, "pre-bid")?,
            seq: parse_int(seq, "pre-bid seq")? as u64,
        });
    }
    pre.sort_by_key(|p| p.seq);
    let auction = Auction {
        id: parse_id(f("id")?, "auction id")?,
        product_id: parse_id(f("product")?, "auction product")?,
        rules: decode(f("rules")?, "auction rules")?,
        status: decode(&format!("\"{}\"", f("status")?), "auction status")?,
        ends_at_ms: opt_int(f("ends_at")?, "ends_at")?,
        current: opt_int(f("current")?, "current")?,
        leader,
        bids: parse_int(f("bids")?, "bids")? as u32,
        bidders: ranked.into_iter().map(|(_, b)| b).collect(),
        prebids: pre,
        log_len: parse_int(f("log_len")?, "log_len")? as u64,
        result,
    };
    Ok((auction, f("version")?.to_string()))
}

/// A log line (`seq|received|bidder|kind|amount|outcome|current|leader|ends`).
pub(super) fn log_entry(line: &str) -> Result<LogEntry, StoreError> {
    let parts: Vec<&str> = line.split('|').collect();
    let [
        seq,
        received,
        bidder,
        kind,
        amount,
        outcome,
        current,
        leader,
        ends,
    ] = parts[..]
    else {
        return Err(StoreError::Corrupt(format!("auction log line {line:?}")));
    };
    Ok(LogEntry {
        seq: parse_int(seq, "log seq")? as u64,
        received_ms: parse_int(received, "log received")?,
        bidder: parse_id(bidder, "log bidder")?,
        kind: decode(&format!("\"{kind}\""), "log kind")?,
        amount: parse_int(amount, "log amount")?,
        outcome: outcome.to_string(),
        current: opt_int(current, "log current")?,
        leader: (!leader.is_empty())
            .then(|| parse_id::<ViewerId>(leader, "log leader"))
            .transpose()?,
        ends_at_ms: opt_int(ends, "log ends")?,
    })
}

/// The bid script's answer: a JSON array of strings (see the end of `lua/auction_bid.lua`).
pub(super) fn bid_answer(id: AuctionId, raw: &str) -> Result<BidAnswer, StoreError> {
    let fields: Vec<String> = decode(raw, "auction bid answer")?;
    let [
        outcome,
        outbid,
        changed,
        moved,
        code,
        status,
        current,
        leader,
        leader_name,
        bids,
        ends,
        next_minimum,
        currency,
        winner,
        winner_name,
        product,
        line,
    ] = &fields[..]
    else {
        return Err(StoreError::Corrupt(format!("auction bid answer {raw}")));
    };
    let currency = Currency::parse(currency)
        .map_err(|_| StoreError::Corrupt(format!("auction currency {currency:?}")))?;
    let money = |amount| Money { amount, currency };
    let next_minimum = money(parse_int(next_minimum, "next_minimum")?);
    let person = |id: &str, name: &str| (!id.is_empty()).then(|| bidder(id, name)).transpose();
    let outcome = match outcome.as_str() {
        "accepted" => BidOutcome::Accepted {
            outbid: (!outbid.is_empty())
                .then(|| parse_id(outbid, "outbid"))
                .transpose()?,
            leader_changed: changed == "1",
            end_moved: moved == "1",
        },
        "max_raised" => BidOutcome::MaxRaised,
        "pre_bid" => BidOutcome::PreBid,
        "refused" => BidOutcome::Refused {
            code: Code::parse(code)
                .ok_or_else(|| StoreError::Corrupt(format!("auction refusal {code:?}")))?,
            next_minimum,
        },
        _ => return Err(StoreError::Corrupt(format!("auction outcome {outcome:?}"))),
    };
    let status: AuctionStatus = decode(&format!("\"{status}\""), "auction status")?;
    let view = AuctionView {
        id,
        product_id: parse_id(product, "auction product")?,
        status,
        current: opt_int(current, "current")?.map(money),
        leader: person(leader, leader_name)?,
        bids: parse_int(bids, "bids")? as u32,
        ends_at: opt_int(ends, "ends_at")?.and_then(chrono::DateTime::from_timestamp_millis),
        next_minimum,
        winner: person(winner, winner_name)?,
    };
    Ok(BidAnswer {
        outcome,
        view,
        entry: log_entry(line)?,
    })
}
