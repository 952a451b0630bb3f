//! Property and fuzz tests of everything that parses outside input: the WebSocket
//! client-message parser (and the chat and display-name rules behind it), the SDP summary of
//! WHIP/WHEP offers, the Shopify CSV import, money parsing and the CSV formula guard.
//!
//! Each target gets arbitrary input (raw bytes or any Unicode) and structured input that is
//! close to valid (so the fuzzer reaches the deep branches), and must never panic; where a
//! property holds (money formats and parses back, accepted text obeys the rules it was checked
//! against), it is asserted too. The toolchain is stable, so this is proptest rather than
//! libFuzzer. A run is bounded and reproducible: 256 cases per property from a fixed seed.
//! The longer run (docs/operations.md, "API document and fuzzing"):
//!
//! ```text
//! PROPTEST_CASES=100000 PROPTEST_RNG_SEED=$RANDOM cargo test --release --test fuzz
//! ```
//!
//! A failing case is shrunk, printed, and saved in `tests/fuzz.proptest-regressions` (commit
//! it: later runs replay it first); then it becomes a named regression test at the end of this
//! file, next to the fix.

use livesale::domain::chat::ChatRules;
use livesale::domain::export::csv_safe;
use livesale::domain::import::{ImportRow, parse_shopify_csv};
use livesale::domain::money::MAX_AMOUNT;
use livesale::domain::names::{self, MAX_DISPLAY_NAME};
use livesale::domain::protocol::ClientMsg;
use livesale::domain::{Currency, Money, catalog};
use livesale::media::sdp::summarize;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed};
use serde_json::{Map, Value};

/// The suite's seed; `PROPTEST_RNG_SEED` picks another (the longer runs).
const SEED: u64 = 0x117e_5a1e;

fn config() -> ProptestConfig {
    // `default()` reads PROPTEST_CASES (256 when unset) and PROPTEST_RNG_SEED.
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::WithSource(
        "proptest-regressions",
    )));
    config
}

// ---------------------------------------------------------------------------------------------
// Text: characters from every class the text rules care about.

/// One character from a class the rules treat specially, or any character at all.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('A', 'Z'),
        1 => prop::sample::select(vec![' ', '\t', '\n', '\r', '\u{3000}', '\u{A0}', '\u{85}']),
        1 => proptest::char::range('\u{0}', '\u{1F}'),
        1 => prop::sample::select(vec![
            '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{2028}', '\u{2029}', '\u{61C}',
        ]),
        2 => prop::sample::select(vec![
            '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{3164}', '\u{115F}',
            '\u{FFA0}', '\u{00AD}', '\u{FE0F}', '\u{FE00}', '\u{E0001}', '\u{E0041}', '\u{E007F}',
            '\u{E0100}', '\u{180E}', '\u{2800}', '\u{034F}',
        ]),
        2 => proptest::char::range('\u{300}', '\u{36F}'),
        1 => prop::sample::select(vec!['\u{20DD}', '\u{0591}', '\u{05BC}', '\u{0E49}']),
        1 => proptest::char::range('\u{FF01}', '\u{FF5E}'),
        1 => prop::sample::select(vec!['é', 'ß', 'İ', 'ﬁ', 'Ω', 'с', 'а', '0', '1', '3', '@', '$']),
        1 => proptest::char::range('\u{1F300}', '\u{1F64F}'),
        1 => any::<char>(),
    ]
}

fn tricky_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..max).prop_map(String::from_iter)
}

/// What every accepted one-line text must satisfy, whatever the input was.
fn assert_clean(text: &str, max: usize) -> Result<(), TestCaseError> {
    prop_assert!(!text.is_empty());
    prop_assert_eq!(text, text.trim());
    prop_assert!(text.chars().count() <= max);
    prop_assert!(!text.chars().any(names::is_forbidden_char), "{:?}", text);
    // Checking again changes nothing: the rules are a fixed point.
    let again = names::short_text(text, max);
    prop_assert_eq!(again.as_deref(), Ok(text));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// JSON: client messages with known and unknown types and fields of every JSON type.

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        tricky_text(12).prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "text", "kind", "last_seq", "viewer_id", "seconds", "reason", "scope", "message_id",
            "add", "remove", "paused", "policy", "type", "amount", "auction_id",
        ])
        .prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

fn message_type() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "chat.send", "reaction.send", "resume", "ping", "mod.delete", "mod.timeout",
            "mod.ban", "mod.unban", "mod.slow", "mod.terms", "mod.links", "mod.approve",
            "mod.reject", "mod.clear", "mod.pause", "mod.pin", "mod.unpin", "mod.chat",
            "mod.nope", "auction.bid", "",
        ])
        .prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

/// A client frame: mostly an object with a `type`, sometimes a valid chat message, sometimes
/// any JSON, sometimes not JSON at all.
fn client_frame() -> impl Strategy<Value = String> {
    let object = (
        message_type(),
        prop::collection::vec((field_name(), json_value()), 0..4),
    )
        .prop_map(|(ty, fields)| {
            let mut map: Map<String, Value> = fields.into_iter().collect();
            map.insert("type".into(), Value::String(ty));
            Value::Object(map).to_string()
        });
    let chat = tricky_text(40)
        .prop_map(|text| serde_json::json!({"type": "chat.send", "text": text}).to_string());
    prop_oneof![
        4 => object,
        3 => chat,
        1 => json_value().prop_map(|v| v.to_string()),
        1 => any::<String>(),
        1 => prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

// ---------------------------------------------------------------------------------------------
// SDP: offers built from plausible lines, and lines that are not.

fn sdp_line() -> impl Strategy<Value = String> {
    let kind = prop::sample::select(vec!["audio", "video", "application", "", "vídeo"]);
    let pt = prop_oneof![
        prop::sample::select(vec!["96", "97", "102", "111", "0", "x", ""]).prop_map(String::from),
        any::<u8>().prop_map(|n| n.to_string()),
    ];
    let codec = prop::sample::select(vec![
        "VP8/90000",
        "H264/90000",
        "h264/90000",
        "opus/48000/2",
        "rtx/90000",
        "VP9/90000",
        "",
        "/",
    ]);
    let fmtp = prop::sample::select(vec![
        "packetization-mode=1;profile-level-id=42e01f",
        "profile-level-id=42c01f; packetization-mode=1",
        "packetization-mode=0;profile-level-id=640c1f",
        "apt=96",
        ";;==;",
        "",
    ]);
    let port = prop_oneof![
        any::<u16>().prop_map(|p| p.to_string()),
        Just("9/2".to_string()),
        Just("99999".to_string()),
        Just("-1".to_string()),
    ];
    prop_oneof![
        (kind, port, prop::collection::vec(pt.clone(), 0..5))
            .prop_map(|(k, port, pts)| format!("m={k} {port} UDP/TLS/RTP/SAVPF {}", pts.join(" "))),
        (pt.clone(), codec).prop_map(|(p, c)| format!("a=rtpmap:{p} {c}")),
        (pt, fmtp).prop_map(|(p, f)| format!("a=fmtp:{p} {f}")),
        prop::sample::select(vec![
            "a=sendrecv",
            "a=sendonly",
            "a=recvonly",
            "a=inactive",
            "a=mid:0",
            "a=rtpmap",
            "a=fmtp:",
            "c=IN IP4 0.0.0.0",
            "o=- 1 2 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "v=0",
            "m=",
            "=",
            "x",
            "é=1",
            "a=rtpmap:96",
            "m=video",
        ])
        .prop_map(String::from),
        tricky_text(20),
    ]
}

fn sdp_offer() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec(sdp_line(), 0..24),
        prop::sample::select(vec!["\r\n", "\n", "\r"]),
    )
        .prop_map(|(versioned, lines, eol)| {
            let mut all = Vec::with_capacity(lines.len() + 1);
            if versioned {
                all.push("v=0".to_string());
            }
            all.extend(lines);
            all.join(eol)
        })
}

// ---------------------------------------------------------------------------------------------
// CSV: Shopify-like exports with hostile cells.

const COLUMNS: &[&str] = &[
    "Handle",
    "Title",
    "Body (HTML)",
    "Variant SKU",
    "Variant Price",
    "Variant Inventory Qty",
    "Image Src",
    "Variant Image",
    "Option1 Value",
    "Option2 Value",
    "Option3 Value",
    "Vendor",
];

fn csv_cell() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "mug", "hat", "SKU-1", "SKU-2", "12.00", "0.5", "7", "1.999", "-1", "1e3", "",
            "  ", "Default Title", "Blue", "3", "-3", "99999999999999999", "1000000001",
            "https://x.test/a.png", "/static/a.svg", "javascript:alert(1)", "=HYPERLINK(\"x\")",
            "+1", "@SUM(A1)", "<p>Big &amp; <b>bold</b></p>", "<", "<p", "&amp;&lt;", "\"",
            "a,b", "line\nbreak", "\u{FEFF}", "\u{202E}", "\u{200B}",
        ])
        .prop_map(String::from),
        2 => tricky_text(16),
        1 => any::<String>(),
        1 => digits(1..18),
    ]
}

fn digits(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(proptest::char::range('0', '9'), len).prop_map(String::from_iter)
}

/// Text shaped like a decimal price, valid or nearly: sign, digits, a fraction, spaces.
fn decimal_text() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "", "-", "+", " "]),
        digits(0..20),
        prop::option::of(digits(0..5)),
        prop::sample::select(vec!["", "", " ", "."]),
    )
        .prop_map(|(sign, whole, frac, tail)| match frac {
            Some(frac) => format!("{sign}{whole}.{frac}{tail}"),
            None => format!("{sign}{whole}{tail}"),
        })
}

fn shopify_csv() -> impl Strategy<Value = Vec<u8>> {
    // Half the files have every column, so rows get past the header check and reach the
    // per-row rules; the rest have any columns in any order.
    let header = prop_oneof![
        Just(COLUMNS.to_vec()),
        prop::sample::subsequence(COLUMNS.to_vec(), 0..=COLUMNS.len()).prop_shuffle(),
    ]
    .prop_map(|cols| cols.into_iter().map(String::from).collect::<Vec<_>>());
    (
        header,
        prop::collection::vec(prop::collection::vec(csv_cell(), 0..14), 0..12),
        any::<bool>(),
    )
        .prop_map(|(header, rows, bom)| {
            let mut writer = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(Vec::new());
            writer.write_record(&header).expect("in memory");
            for row in rows {
                writer.write_record(&row).expect("in memory");
            }
            let mut bytes = if bom { vec![0xEF, 0xBB, 0xBF] } else { vec![] };
            bytes.extend(writer.into_inner().expect("in memory"));
            bytes
        })
}

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["USD", "EUR", "JPY", "KWD", "BHD", "CLP", "GBP", "ISK"])
        .prop_map(|c| Currency::parse(c).expect("a known code"))
}

/// What every imported product must satisfy, whatever the file was.
fn assert_import_rows(rows: &[ImportRow], currency: Currency) -> Result<(), TestCaseError> {
    let mut skus = std::collections::HashSet::new();
    let mut last_line = 0;
    for row in rows {
        let line = match row {
            ImportRow::Product { line, fields } => {
                let again = fields.clone().validate();
                prop_assert_eq!(again.as_ref(), Ok(fields));
                prop_assert_eq!(fields.price.currency, currency);
                prop_assert!((0..=MAX_AMOUNT).contains(&fields.price.amount));
                prop_assert!((0..=catalog::MAX_STOCK).contains(&fields.stock));
                prop_assert!(skus.insert(fields.sku.clone()), "SKU twice: {}", fields.sku);
                *line
            }
            ImportRow::Rejected { line, reason } => {
                prop_assert!(!reason.is_empty());
                *line
            }
        };
        // Line 1 is the header; rows come in file order.
        prop_assert!(
            line >= 2 && line >= last_line,
            "line {} after {}",
            line,
            last_line
        );
        last_line = line;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(config())]

    #[test]
    fn client_frames_never_panic_and_errors_are_named(frame in client_frame()) {
        match ClientMsg::parse(&frame) {
            Ok(ClientMsg::ChatSend { text }) => {
                let rules = ChatRules { max_chars: 500 };
                match rules.text(&text) {
                    Ok(clean) => assert_clean(&clean, 500)?,
                    Err(e) => prop_assert!(
                        ["empty_message", "message_too_long", "forbidden_characters"]
                            .contains(&e.code.as_str()),
                        "{}", e.code
                    ),
                }
            }
            Ok(_) => {}
            Err(e) => prop_assert!(
                ["bad_message", "unknown_type"].contains(&e.code.as_str()),
                "{}: {}", e.code, e.message
            ),
        }
    }

    #[test]
    fn chat_text_rules_hold_for_any_text(text in tricky_text(80), max in 1usize..60) {
        if let Ok(clean) = (ChatRules { max_chars: max }).text(&text) {
            assert_clean(&clean, max)?;
        }
    }

    #[test]
    fn display_names_hold_for_any_text(name in tricky_text(48), host in tricky_text(16)) {
        if let Ok(clean) = names::viewer_name(&name, &host) {
            assert_clean(&clean, MAX_DISPLAY_NAME)?;
            let again = names::viewer_name(&clean, &host);
            prop_assert_eq!(again.as_deref(), Ok(clean.as_str()));
            // The host's own (valid) name is never accepted as a viewer's.
            if let Ok(host) = names::display_name(&host) {
                prop_assert!(names::viewer_name(&host, &host).is_err());
            }
        }
    }

    #[test]
    fn sdp_offers_never_panic(offer in sdp_offer()) {
        if let Ok(summary) = summarize(&offer) {
            prop_assert!(!summary.sections.is_empty());
            for section in &summary.sections {
                prop_assert!(
                    ["sendrecv", "sendonly", "recvonly", "inactive"]
                        .contains(&section.direction.as_str()),
                    "{}", section.direction
                );
                let fams = &section.families;
                let unique = fams.iter().enumerate().all(|(i, f)| !fams[..i].contains(f));
                prop_assert!(unique, "{:?}", fams);
            }
        }
    }

    #[test]
    fn any_text_as_sdp_never_panics(text in any::<String>()) {
        let _ = summarize(&text);
        let _ = summarize(&format!("v=0\r\n{text}"));
    }

    #[test]
    fn shopify_imports_never_panic(bytes in shopify_csv(), currency in currency()) {
        if let Ok(rows) = parse_shopify_csv(&bytes, currency) {
            assert_import_rows(&rows, currency)?;
        }
    }

    #[test]
    fn any_bytes_as_csv_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let usd = Currency::parse("USD").expect("USD");
        if let Ok(rows) = parse_shopify_csv(&bytes, usd) {
            assert_import_rows(&rows, usd)?;
        }
        let mut with_header = b"Handle,Title,Variant SKU,Variant Price\n".to_vec();
        with_header.extend(&bytes);
        if let Ok(rows) = parse_shopify_csv(&with_header, usd) {
            assert_import_rows(&rows, usd)?;
        }
    }

    #[test]
    fn money_formats_and_parses_back(currency in currency(), amount in 0..=MAX_AMOUNT) {
        let text = currency.format_decimal(amount);
        prop_assert_eq!(currency.parse_decimal(&text).ok(), Some(amount), "{}", text);
    }

    #[test]
    fn decimal_text_never_panics_and_parses_into_range(
        currency in currency(),
        text in prop_oneof![
            decimal_text(),
            tricky_text(24),
            any::<String>(),
        ],
    ) {
        if let Ok(amount) = currency.parse_decimal(&text) {
            prop_assert!((0..=MAX_AMOUNT).contains(&amount));
            let again = currency.format_decimal(amount);
            prop_assert_eq!(currency.parse_decimal(&again).ok(), Some(amount));
        }
    }

    #[test]
    fn money_json_never_panics(value in json_value(), amount in any::<i64>(), code in any::<String>()) {
        let _ = serde_json::from_value::<Money>(value);
        let body = serde_json::json!({"amount": amount, "currency": code});
        if let Ok(money) = serde_json::from_value::<Money>(body) {
            prop_assert_eq!(money.amount, amount);
            let _ = Money::price(money.amount, money.currency.as_str());
        }
    }

    #[test]
    fn csv_cells_never_start_a_formula(field in prop_oneof![tricky_text(12), csv_cell()]) {
        let safe = csv_safe(&field);
        let quoted = format!("'{}", field);
        prop_assert!(*safe == field || *safe == quoted, "{:?}", safe);
        let first = safe.chars().find(|c| !matches!(c, ' ' | '\n'));
        prop_assert!(
            !matches!(first, Some('=' | '+' | '-' | '@' | '\t' | '\r' | '＝' | '＋' | '－' | '＠')),
            "{:?}", safe
        );
    }
}
