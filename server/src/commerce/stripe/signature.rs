//! Stripe's webhook signatures, as "Verify webhook signatures manually" describes them
//! (<https://docs.stripe.com/webhooks#verify-manually>): the `Stripe-Signature` header is
//! `t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`; each `v1` is HMAC-SHA256 of `"{t}.{payload}"`
//! keyed with the endpoint's signing secret; any `v1` may match (an endpoint whose secret is
//! being rolled gets one per secret) and other schemes are ignored; the timestamp must be
//! within a tolerance of the receiver's clock (Stripe's libraries use 300 s) so a captured
//! request cannot be replayed later. Comparison is constant-time (`hmac`'s `verify_slice`).
//! The caller passes `now`: this file reads no clock.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The header's name, as Stripe sends it.
pub const HEADER: &str = "Stripe-Signature";

/// How far the signed timestamp may be from `now`, either way, in seconds.
pub const TOLERANCE_S: i64 = 300;

/// Longest header accepted: Stripe sends a few signatures, never kilobytes.
const MAX_HEADER_LEN: usize = 4096;

/// Why a webhook's signature was refused. None of them says which secret was tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the Stripe-Signature header has no v1 signature")]
    NoV1,
    #[error("the signature's timestamp {t} is more than {TOLERANCE_S} s from now ({now})")]
    OutsideTolerance { t: i64, now: i64 },
    #[error("no v1 signature matches the payload")]
    NoMatch,
}

/// The parts of a `Stripe-Signature` header this file uses.
#[derive(Debug)]
struct Header {
    t: i64,
    v1: Vec<Vec<u8>>,
}

fn parse(header: &str) -> Result<Header, SignatureError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed("too long"));
    }
    let mut t = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let (key, value) = item
            .split_once('=')
            .ok_or(SignatureError::Malformed("an item is not key=value"))?;
        match key.trim() {
            "t" => {
                if t.is_some() {
                    return Err(SignatureError::Malformed("more than one t"));
                }
                let value = value.trim();
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SignatureError::Malformed("t is not a unix time"));
                }
                let seconds = value
                    .parse()
                    .map_err(|_| SignatureError::Malformed("t is not a unix time"))?;
                t = Some(seconds);
            }
            "v1" => v1.push(
                hex_decode(value.trim())
                    .ok_or(SignatureError::Malformed("a v1 is not 64 hex digits"))?,
            ),
            // v0 (test-mode signatures with another scheme) and future schemes are ignored.
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed("no t"))?;
    Ok(Header { t, v1 })
}

fn keyed(secret: &Secret) -> HmacSha256 {
    // HMAC takes a key of any length, so this cannot fail.
    HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC accepts any key length")
}

fn mac(secret: &Secret, t: i64, payload: &[u8]) -> HmacSha256 {
    let mut mac = keyed(secret);
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Checks `header` (the `Stripe-Signature` value, `None` when absent) against the raw request
/// body: some `v1` must be the HMAC of `"{t}.{payload}"` with `secret`, and `t` within
/// [`TOLERANCE_S`] of `now` (unix seconds). Returns the signed timestamp.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secret: &Secret,
    now: i64,
) -> Result<i64, SignatureError> {
    let header = parse(header.ok_or(SignatureError::Missing)?)?;
    if header.v1.is_empty() {
        return Err(SignatureError::NoV1);
    }
    let expected = mac(secret, header.t, payload);
    let matched = header
        .v1
        .iter()
        .any(|signature| expected.clone().verify_slice(signature).is_ok());
    if !matched {
        return Err(SignatureError::NoMatch);
    }
    // Checked after the signature, as Stripe's libraries do: an authentic but old request is
    // a replay, and says so.
    if now.abs_diff(header.t) > TOLERANCE_S.unsigned_abs() {
        return Err(SignatureError::OutsideTolerance { t: header.t, now });
    }
    Ok(header.t)
}

/// The header Stripe would send for `payload` signed at `t` with `secret` (for tests, and for
/// the lead's fixtures): `t=<t>,v1=<hex>`.
pub fn sign(secret: &Secret, t: i64, payload: &[u8]) -> String {
    let digest = mac(secret, t, payload).finalize().into_bytes();
    format!("t={t},v1={}", hex_encode(&digest))
}

fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// A SHA-256 signature in hex (64 digits, either case); anything else is `None`.
fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn secret() -> Secret {
        Secret::new("whsec_test_secret")
    }

    /// The v1 for (t, payload) computed here with the hmac crate directly, not through [`sign`].
    fn independent_v1(key: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(key.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn sign_matches_an_independent_hmac() {
        let header = sign(&secret(), NOW, BODY);
        let v1 = independent_v1("whsec_test_secret", NOW, BODY);
        assert_eq!(header, format!("t={NOW},v1={v1}"));
        assert_eq!(verify(Some(&header), BODY, &secret(), NOW), Ok(NOW));
    }

    #[test]
    fn a_known_vector_verifies() {
        // HMAC-SHA256(key "whsec_test_secret", "1700000000.{BODY}"), computed with openssl:
        // printf '%s' '1700000000.{"id":"evt_1","type":"payment_intent.succeeded"}' |
        //   openssl dgst -sha256 -hmac whsec_test_secret
        let v1 = "22d8dc182f5c588077683bd378368e29765bfe5df2560112b4f28fef120f0e31";
        assert_eq!(independent_v1("whsec_test_secret", NOW, BODY), v1);
        let header = format!("t={NOW},v1={v1}");
        assert_eq!(verify(Some(&header), BODY, &secret(), NOW), Ok(NOW));
        assert_eq!(sign(&secret(), NOW, BODY), header);
    }

    #[test]
    fn any_v1_may_match_and_other_schemes_are_ignored() {
        let good = independent_v1("whsec_test_secret", NOW, BODY);
        let old = independent_v1("whsec_old_secret", NOW, BODY);
        let header = format!("t={NOW},v1={old},v1={good},v0={}", "ab".repeat(32));
        assert_eq!(verify(Some(&header), BODY, &secret(), NOW), Ok(NOW));
        // Upper-case hex and spaces after commas are the same signature.
        let spaced = format!("t={NOW}, v1={}", good.to_uppercase());
        assert_eq!(verify(Some(&spaced), BODY, &secret(), NOW), Ok(NOW));
    }

    #[test]
    fn a_wrong_secret_or_a_changed_body_does_not_match() {
        let header = sign(&secret(), NOW, BODY);
        assert_eq!(
            verify(Some(&header), BODY, &Secret::new("whsec_other"), NOW),
            Err(SignatureError::NoMatch)
        );
        let mut changed = BODY.to_vec();
        changed[2] = b'X';
        assert_eq!(
            verify(Some(&header), &changed, &secret(), NOW),
            Err(SignatureError::NoMatch)
        );
        // The timestamp is signed too: moving it breaks the signature.
        let moved = header.replacen(&NOW.to_string(), &(NOW + 1).to_string(), 1);
        assert_eq!(
            verify(Some(&moved), BODY, &secret(), NOW),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn the_timestamp_must_be_within_the_tolerance_either_way() {
        for (t, ok) in [
            (NOW - TOLERANCE_S, true),
            (NOW + TOLERANCE_S, true),
            (NOW - TOLERANCE_S - 1, false),
            (NOW + TOLERANCE_S + 1, false),
            (0, false),
        ] {
            let header = sign(&secret(), t, BODY);
            let got = verify(Some(&header), BODY, &secret(), NOW);
            if ok {
                assert_eq!(got, Ok(t));
            } else {
                assert_eq!(got, Err(SignatureError::OutsideTolerance { t, now: NOW }));
            }
        }
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        let v1 = independent_v1("whsec_test_secret", NOW, BODY);
        assert_eq!(
            verify(None, BODY, &secret(), NOW),
            Err(SignatureError::Missing)
        );
        for bad in [
            "".to_string(),
            "garbage".to_string(),
            format!("v1={v1}"),
            format!("t=abc,v1={v1}"),
            format!("t=-5,v1={v1}"),
            format!("t=99999999999999999999999,v1={v1}"),
            format!("t={NOW},t={NOW},v1={v1}"),
            format!("t={NOW},v1=zz{}", &v1[2..]),
            format!("t={NOW},v1={}", &v1[1..]),
            format!("t={NOW},v1={v1},{}", "x".repeat(MAX_HEADER_LEN)),
            format!("t={NOW},v1={v1}é"),
        ] {
            assert!(
                matches!(
                    verify(Some(&bad), BODY, &secret(), NOW),
                    Err(SignatureError::Malformed(_))
                ),
                "{bad:?} should be malformed"
            );
        }
    }

    #[test]
    fn a_header_without_v1_is_refused() {
        let header = format!("t={NOW},v0={}", "ab".repeat(32));
        assert_eq!(
            verify(Some(&header), BODY, &secret(), NOW),
            Err(SignatureError::NoV1)
        );
    }

    #[test]
    fn errors_never_carry_the_secret() {
        let secret = Secret::new("whsec_do_not_print");
        let header = sign(&Secret::new("whsec_other"), NOW, BODY);
        let err = verify(Some(&header), BODY, &secret, NOW).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("do_not_print"));
    }
}
