//! Whole numbers from JSON. JSON has one number type, and JSON Schema's `integer` is any number
//! with no fraction, so `220.0` is the integer 220; serde's `i64`/`u64` refuse it. Fields of
//! request bodies that are counts or amounts take it through these (`deserialize_with`), and
//! still refuse `1.5` and numbers out of range.

use serde::{Deserialize, Deserializer, de::Error};

/// A whole JSON number as an `i64`.
pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        // 2^63 is the first f64 past i64::MAX.
        Some(f)
            if f.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) =>
        {
            Ok(f as i64)
        }
        _ => Err(D::Error::custom(format!(
            "invalid value: {n}, expected a whole number (i64)"
        ))),
    }
}

/// An optional whole JSON number as an `i64` (with `#[serde(default)]`).
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "i64")] i64);
    Ok(Option::<Whole>::deserialize(d)?.map(|w| w.0))
}

/// A whole JSON number as a `u64`.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (0.0..1.844_674_407_370_955_2e19).contains(&f) => {
            Ok(f as u64)
        }
        _ => Err(D::Error::custom(format!(
            "invalid value: {n}, expected a whole number (u64)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct Count {
        #[serde(deserialize_with = "super::i64")]
        n: i64,
        #[serde(deserialize_with = "super::u64")]
        u: u64,
    }

    fn parse(json: &str) -> Option<(i64, u64)> {
        serde_json::from_str::<Count>(json).ok().map(|c| (c.n, c.u))
    }

    #[test]
    fn whole_numbers_in_any_spelling_are_taken() {
        assert_eq!(parse(r#"{"n": 220, "u": 3}"#), Some((220, 3)));
        assert_eq!(parse(r#"{"n": 220.0, "u": 3.0}"#), Some((220, 3)));
        assert_eq!(parse(r#"{"n": -2e3, "u": 1e2}"#), Some((-2000, 100)));
    }

    #[test]
    fn fractions_strings_and_out_of_range_are_refused() {
        for bad in [
            r#"{"n": 1.5, "u": 1}"#,
            r#"{"n": "1", "u": 1}"#,
            r#"{"n": 1e19, "u": 1}"#,
            r#"{"n": 1, "u": -1}"#,
            r#"{"n": 1, "u": -1.0}"#,
            r#"{"n": null, "u": 1}"#,
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
