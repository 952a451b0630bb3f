//! The replay's data (issue 17, items 4 and 5): the room transcript a show keeps while it is
//! on (which room events, how they are read back from a sealed frame, how many), the events
//! view a replay page plays back (times in the replay, deleted chat left out, in order), the
//! products it shows at today's prices, and the highlight rule (a clip around the moment a
//! sold product was pinned, on the recording's segment boundaries). Pure: the hub's writer
//! records, `services::replay` reads the stores and calls in.

use std::collections::HashSet;

use super::chat::ChatMessage;
use super::commerce::{DealView, PinView};
use super::protocol::Broadcast;
use super::{Money, ProductId, ShowId};

/// Entries a show's transcript keeps at most. Past it every new entry is dropped (and counted
/// in `livesale_transcript_dropped_total{reason="full"}`); what was kept stays.
pub const MAX_TRANSCRIPT: usize = 25_000;
/// Chat messages are kept only while the transcript holds fewer entries than this, so the
/// last [`MAX_TRANSCRIPT`] `-` this entries stay for what the replay cannot do without: pins,
/// purchases, cuts, and the deletions and clears that must hide messages already kept.
pub const MAX_TRANSCRIPT_CHAT: usize = 20_000;

/// A highlight runs at most this long after its pin (or up to the next pin, if sooner)...
pub const HIGHLIGHT_MAX_MS: i64 = 60_000;
/// ...and at least this long when the recording allows (whole segments, so about).
pub const HIGHLIGHT_MIN_MS: i64 = 15_000;

/// Whether a room event goes into the transcript: what a replay shows beside the picture
/// (chat, its deletions and clears, pins, purchases, cuts). Only everyone's frames are offered.
pub fn transcribed(event: &Broadcast) -> bool {
    matches!(
        event,
        Broadcast::Chat(_)
            | Broadcast::ChatDeleted { .. }
            | Broadcast::ChatCleared {}
            | Broadcast::PinUpdated { .. }
            | Broadcast::Purchase { .. }
            | Broadcast::ProgramChanged { .. }
    )
}

/// A transcribed room event, as it was broadcast (read back from the sealed frame, whose
/// `pts` and `seq` are kept beside it in [`TranscriptEntry`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type")]
pub enum Recorded {
    #[serde(rename = "chat.message")]
    Chat(ChatMessage),
    #[serde(rename = "chat.deleted")]
    ChatDeleted { id: String },
    #[serde(rename = "chat.cleared")]
    ChatCleared {},
    #[serde(rename = "pin.updated")]
    PinUpdated { pins: Vec<PinView> },
    #[serde(rename = "purchase")]
    Purchase {
        buyer: String,
        product_id: ProductId,
        title: String,
        quantity: i64,
    },
    #[serde(rename = "program.changed")]
    ProgramChanged { camera: Option<String> },
}

/// One entry of a show's transcript.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TranscriptEntry {
    /// Server Unix ms: the frame's `pts` (events in step with the picture), else when it was
    /// published.
    pub pts: i64,
    /// The frame's `seq`: orders entries of one millisecond.
    pub seq: u64,
    pub event: Recorded,
}

impl TranscriptEntry {
    /// Reads a sealed frame back: its event, its `pts` (else `published_ms`). `None` for a
    /// frame of another type (or one that does not parse, which a sealed frame always does).
    pub fn from_frame(text: &str, seq: u64, published_ms: i64) -> Option<TranscriptEntry> {
        #[derive(serde::Deserialize)]
        struct Pts {
            pts: Option<i64>,
        }
        let event = serde_json::from_str::<Recorded>(text).ok()?;
        let pts = serde_json::from_str::<Pts>(text)
            .ok()
            .and_then(|p| p.pts)
            .unwrap_or(published_ms);
        Some(TranscriptEntry { pts, seq, event })
    }

    /// Entries the transcript may already hold for this one to be kept.
    pub fn cap(&self) -> usize {
        match self.event {
            Recorded::Chat(_) => MAX_TRANSCRIPT_CHAT,
            _ => MAX_TRANSCRIPT,
        }
    }
}

/// One event of the replay, at its time in the replay.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReplayEvent {
    /// Ms after the recording's first segment (never negative).
    pub at_ms: i64,
    #[serde(flatten)]
    pub event: Recorded,
}

/// The transcript as a replay plays it: in time order (then sequence), at ms after
/// `origin_ms` (an event before the recording started is at 0), deleted chat messages and the
/// deletions themselves left out. Clears stay: a page empties its chat there.
pub fn replay_events(mut entries: Vec<TranscriptEntry>, origin_ms: i64) -> Vec<ReplayEvent> {
    entries.sort_by_key(|e| (e.pts, e.seq));
    let deleted: HashSet<String> = entries
        .iter()
        .filter_map(|e| match &e.event {
            Recorded::ChatDeleted { id } => Some(id.clone()),
            _ => None,
        })
        .collect();
    let mut seen = HashSet::new();
    entries
        .into_iter()
        .filter(|e| seen.insert(e.seq))
        .filter_map(|e| {
            let event = match e.event {
                Recorded::ChatDeleted { .. } => return None,
                Recorded::Chat(m) if deleted.contains(m.id.as_str()) => return None,
                Recorded::Chat(m) => Recorded::Chat(ChatMessage { seq: None, ..m }),
                other => other,
            };
            Some(ReplayEvent {
                at_ms: e.pts.saturating_sub(origin_ms).max(0),
                event,
            })
        })
        .collect()
}

/// Every product some `pin.updated` of the replay shows, in the order they first appear,
/// each with whether it was ever shown with a deal.
pub fn pinned_products(events: &[ReplayEvent]) -> Vec<(ProductId, bool)> {
    let mut out: Vec<(ProductId, bool)> = Vec::new();
    for e in events {
        let Recorded::PinUpdated { pins } = &e.event else {
            continue;
        };
        for pin in pins {
            match out.iter_mut().find(|(id, _)| *id == pin.product_id) {
                Some((_, deal)) => *deal |= pin.deal.is_some(),
                None => out.push((pin.product_id, pin.deal.is_some())),
            }
        }
    }
    out
}

/// A product of the replay as it sells now: today's price and stock (the deal price only
/// while its deal is still open), and whether the deal it was shown with is over.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ReplayProduct {
    pub product_id: ProductId,
    pub title: String,
    pub image_url: Option<String>,
    /// The price a buyer pays now.
    pub price: Money,
    pub regular_price: Money,
    pub stock_left: i64,
    /// The product's deal as it stands now, if it is still pinned with one.
    pub deal: Option<DealView>,
    /// It was shown with a deal that no longer applies (ended, sold out, or unpinned).
    pub deal_ended: bool,
}

impl ReplayProduct {
    /// `now`: the product as a pin view priced now; `had_deal`: the replay shows it with one.
    pub fn new(now: PinView, had_deal: bool) -> ReplayProduct {
        let open = now.deal.as_ref().is_some_and(|d| d.open);
        ReplayProduct {
            product_id: now.product_id,
            title: now.title,
            image_url: now.image_url,
            price: now.price,
            regular_price: now.regular_price,
            stock_left: now.stock_left,
            deal: now.deal,
            deal_ended: had_deal && !open,
        }
    }
}

/// A stretch of the replay, in ms after its origin: a recorded segment, or a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start_ms: i64,
    pub end_ms: i64,
}

/// The clip around a pin at `pin_ms` (`next_ms`: the next pin or deal after it, if any) on
/// the recording's `segments` (in order): from the start of the segment the pin falls in (the
/// next segment's, when it falls in a hole) to the end of the segment in which
/// `min(next_ms, pin_ms + 60 s)` falls (a moment exactly on a boundary ends the clip there),
/// then widened by whole segments, later ones first, to at least 15 s when the recording
/// allows; always inside the recording. `None` without segments.
pub fn highlight(pin_ms: i64, next_ms: Option<i64>, segments: &[Span]) -> Option<Span> {
    let first = segments.first()?;
    let last = segments.last()?;
    let stop = next_ms
        .filter(|&n| n > pin_ms)
        .map_or(pin_ms.saturating_add(HIGHLIGHT_MAX_MS), |n| {
            n.min(pin_ms.saturating_add(HIGHLIGHT_MAX_MS))
        })
        .clamp(first.start_ms, last.end_ms);
    let mut from = segments
        .iter()
        .position(|s| s.end_ms > pin_ms)
        .unwrap_or(segments.len() - 1);
    let mut to = segments
        .iter()
        .rposition(|s| s.start_ms < stop)
        .unwrap_or(0)
        .max(from);
    let long = |from: usize, to: usize| {
        segments[to].end_ms.saturating_sub(segments[from].start_ms) >= HIGHLIGHT_MIN_MS
    };
    while !long(from, to) && to + 1 < segments.len() {
        to += 1;
    }
    while !long(from, to) && from > 0 {
        from -= 1;
    }
    Some(Span {
        start_ms: segments[from].start_ms,
        end_ms: segments[to].end_ms,
    })
}

/// A clip's share link: the show's page opened at the clip, stopping at its end
/// (`?t=12.000&end=27.500`, seconds with three decimals).
pub fn clip_url(public_url: &str, show: ShowId, clip: Span) -> String {
    let secs = |ms: i64| format!("{}.{:03}", ms / 1000, (ms % 1000).abs());
    format!(
        "{public_url}/s/{show}?t={}&end={}",
        secs(clip.start_ms.max(0)),
        secs(clip.end_ms.max(0))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::domain::chat::Author;
    use crate::domain::protocol::seal;

    fn product(n: u128) -> ProductId {
        ProductId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn chat(id: &str) -> Recorded {
        Recorded::Chat(ChatMessage {
            id: id.into(),
            author: Author {
                id: "v1".into(),
                name: "Dana".into(),
            },
            role: Role::Viewer,
            text: format!("hello {id}"),
            at: chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
            seq: Some(3),
        })
    }

    fn entry(pts: i64, seq: u64, event: Recorded) -> TranscriptEntry {
        TranscriptEntry { pts, seq, event }
    }

    fn pin_view(id: ProductId, deal_open: Option<bool>) -> PinView {
        let usd = |amount| Money::price(amount, "USD").unwrap();
        PinView {
            product_id: id,
            title: "Mug".into(),
            image_url: None,
            price: usd(if deal_open == Some(true) { 900 } else { 1200 }),
            regular_price: usd(1200),
            deal: deal_open.map(|open| DealView {
                price: usd(900),
                quantity: 5,
                remaining: 2,
                per_buyer_limit: 1,
                ends_at: chrono::DateTime::from_timestamp_millis(1_700_000_060_000).unwrap(),
                open,
            }),
            stock_left: 4,
        }
    }

    #[test]
    fn the_six_kinds_are_read_back_from_sealed_frames_with_their_time() {
        let at = 1_700_000_000_500;
        let pin = Broadcast::PinUpdated {
            pins: vec![pin_view(product(1), None)],
        };
        assert!(transcribed(&pin));
        let e = TranscriptEntry::from_frame(&seal(&pin.json_prefix(at as u64), 9), 9, 1).unwrap();
        assert_eq!((e.pts, e.seq), (at, 9), "pts wins over the published time");
        assert!(matches!(e.event, Recorded::PinUpdated { ref pins } if pins.len() == 1));

        let cleared = Broadcast::ChatCleared {};
        let e = TranscriptEntry::from_frame(&seal(&cleared.json_prefix(5), 10), 10, 77).unwrap();
        assert_eq!((e.pts, e.event), (77, Recorded::ChatCleared {}));

        for other in [
            Broadcast::Presence { viewers: 2 },
            Broadcast::ChatMode {
                slow_mode_s: 0,
                paused: false,
                links: Default::default(),
            },
        ] {
            assert!(!transcribed(&other));
            assert_eq!(
                TranscriptEntry::from_frame(&seal(&other.json_prefix(5), 1), 1, 5),
                None
            );
        }
        assert!(!transcribed(&Broadcast::ModMessage(match chat("m") {
            Recorded::Chat(m) => m,
            _ => unreachable!(),
        })));
    }

    #[test]
    fn chat_stops_before_the_rest_at_the_caps() {
        assert_eq!(entry(0, 1, chat("a")).cap(), MAX_TRANSCRIPT_CHAT);
        assert_eq!(entry(0, 1, Recorded::ChatCleared {}).cap(), MAX_TRANSCRIPT);
        const { assert!(MAX_TRANSCRIPT_CHAT < MAX_TRANSCRIPT) };
    }

    #[test]
    fn events_are_in_time_order_from_the_origin_without_deleted_chat() {
        let origin = 1_000_000;
        let entries = vec![
            entry(origin + 5_000, 6, Recorded::ChatDeleted { id: "b".into() }),
            entry(origin + 3_000, 4, chat("b")),
            entry(origin + 1_200, 2, Recorded::PinUpdated { pins: vec![] }),
            entry(origin - 800, 1, chat("early")),
            entry(origin + 3_000, 3, chat("a")),
            entry(origin + 7_000, 7, Recorded::ChatCleared {}),
            entry(origin + 7_000, 7, Recorded::ChatCleared {}), // recorded twice
        ];
        let events = replay_events(entries, origin);
        let got: Vec<(i64, String)> = events
            .iter()
            .map(|e| {
                let v = serde_json::to_value(e).unwrap();
                let label = match &e.event {
                    Recorded::Chat(m) => m.id.to_string(),
                    _ => v["type"].as_str().unwrap().to_string(),
                };
                (e.at_ms, label)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0, "early".to_string()),
                (1_200, "pin.updated".into()),
                (3_000, "a".into()),
                (7_000, "chat.cleared".into()),
            ]
        );
        let v = serde_json::to_value(&events[2]).unwrap();
        assert_eq!(v["type"], "chat.message");
        assert_eq!(v["at_ms"], 3_000);
        assert_eq!(v["author"]["name"], "Dana");
        assert!(v.get("seq").is_none(), "{v}");
    }

    #[test]
    fn products_of_the_pins_and_whether_their_deal_is_over() {
        let (a, b) = (product(1), product(2));
        let events = replay_events(
            vec![
                entry(
                    1,
                    1,
                    Recorded::PinUpdated {
                        pins: vec![pin_view(a, None)],
                    },
                ),
                entry(
                    2,
                    2,
                    Recorded::PinUpdated {
                        pins: vec![pin_view(a, None), pin_view(b, Some(true))],
                    },
                ),
            ],
            0,
        );
        assert_eq!(pinned_products(&events), vec![(a, false), (b, true)]);
        let ended = ReplayProduct::new(pin_view(b, Some(false)), true);
        assert!(ended.deal_ended);
        assert_eq!(ended.price.amount, 1200);
        let open = ReplayProduct::new(pin_view(b, Some(true)), true);
        assert!(!open.deal_ended);
        assert_eq!(open.price.amount, 900);
        assert!(
            ReplayProduct::new(pin_view(b, None), true).deal_ended,
            "unpinned"
        );
        assert!(!ReplayProduct::new(pin_view(a, None), false).deal_ended);
    }

    /// Segments of `len` ms one after the other from 0, with a hole where `gap` says.
    fn segments(lens: &[(i64, i64)]) -> Vec<Span> {
        let mut at = 0;
        lens.iter()
            .map(|&(gap, len)| {
                at += gap;
                let s = Span {
                    start_ms: at,
                    end_ms: at + len,
                };
                at += len;
                s
            })
            .collect()
    }

    fn span(start_ms: i64, end_ms: i64) -> Option<Span> {
        Some(Span { start_ms, end_ms })
    }

    #[test]
    fn a_highlight_runs_from_its_pin_to_the_next_pin_on_segment_boundaries() {
        let segs = segments(&[(0, 2_000); 60]); // 2 s segments, 0..120 s
        // Pinned at 10.5 s, the next pin at 31.2 s: 10..32 s.
        assert_eq!(highlight(10_500, Some(31_200), &segs), span(10_000, 32_000));
        // A next pin exactly on a boundary ends the clip there.
        assert_eq!(highlight(10_500, Some(32_000), &segs), span(10_000, 32_000));
        // No next pin (or a later one): 60 s at most.
        assert_eq!(highlight(10_500, None, &segs), span(10_000, 72_000));
        assert_eq!(
            highlight(10_500, Some(100_000), &segs),
            span(10_000, 72_000)
        );
        // A pin before the one we time (a re-pin of another product) is not "next".
        assert_eq!(highlight(10_500, Some(4_000), &segs), span(10_000, 72_000));
    }

    #[test]
    fn a_highlight_is_at_least_fifteen_seconds_when_the_recording_allows() {
        let segs = segments(&[(0, 2_000); 60]);
        // The next pin 3 s later: widened forward to 15 s.
        assert_eq!(highlight(20_100, Some(23_000), &segs), span(20_000, 36_000));
        // Near the end: widened backwards.
        assert_eq!(
            highlight(115_000, Some(117_000), &segs),
            span(104_000, 120_000)
        );
        // A recording shorter than 15 s: all of it.
        let short = segments(&[(0, 2_000); 4]);
        assert_eq!(highlight(3_000, Some(4_000), &short), span(0, 8_000));
        assert_eq!(highlight(0, None, &[]), None);
    }

    #[test]
    fn a_highlight_stays_inside_the_recording_and_skips_holes() {
        // 0..10 s, 10..20 s, a hole, 30..40 s, 40..50 s.
        let segs = segments(&[(0, 10_000), (0, 10_000), (10_000, 10_000), (0, 10_000)]);
        // Stopping in the hole ends with the picture before it.
        assert_eq!(highlight(1_000, Some(25_000), &segs), span(0, 20_000));
        // Pinned in the hole: starts where the picture comes back.
        assert_eq!(highlight(22_000, Some(45_000), &segs), span(30_000, 50_000));
        // Pinned before the recording started, or after it ended.
        assert_eq!(highlight(-5_000, Some(1_000), &segs), span(0, 20_000));
        assert_eq!(highlight(90_000, None, &segs), span(30_000, 50_000));
    }

    #[test]
    fn clip_links_carry_seconds_with_three_decimals() {
        let show = ShowId::from_uuid(uuid::Uuid::nil());
        assert_eq!(
            clip_url(
                "https://x.test",
                show,
                Span {
                    start_ms: 12_000,
                    end_ms: 27_450
                }
            ),
            format!("https://x.test/s/{show}?t=12.000&end=27.450")
        );
        assert_eq!(
            clip_url(
                "http://h",
                show,
                Span {
                    start_ms: 5,
                    end_ms: 999
                }
            ),
            format!("http://h/s/{show}?t=0.005&end=0.999")
        );
    }
}
