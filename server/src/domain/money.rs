//! Money in integer minor units with an ISO 4217 currency. Never floats.

use std::fmt;

use super::DomainError;
use crate::domain::Code;

/// Active ISO 4217 codes with their minor-unit exponent.
pub const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWL", 2),
];

/// Largest amount accepted, in minor units (keeps every sum far from i64 overflow).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// An ISO 4217 currency code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(code: &str) -> Result<Self, DomainError> {
        let upper = code.trim().to_ascii_uppercase();
        match CURRENCIES.iter().find(|(c, _)| *c == upper) {
            Some((c, _)) => {
                let b = c.as_bytes();
                Ok(Currency([b[0], b[1], b[2]]))
            }
            None => Err(DomainError::invalid(
                Code::UnknownCurrency,
                format!("'{code}' is not an ISO 4217 currency code"),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Number of digits after the decimal point (2 for USD, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u8 {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == self.as_str())
            .map(|(_, e)| *e)
            .unwrap_or(2)
    }

    /// Writes minor units as the decimal text [`Self::parse_decimal`] reads back: "24.00" for
    /// 2400 in USD, "1500" for 1500 in JPY, "1.250" for 1250 in KWD.
    pub fn format_decimal(&self, minor: i64) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        let exp = u32::from(self.exponent());
        if exp == 0 {
            return format!("{sign}{abs}");
        }
        let unit = 10u64.pow(exp);
        let (whole, frac) = (abs / unit, abs % unit);
        format!("{sign}{whole}.{frac:0width$}", width = exp as usize)
    }

    /// Parses a decimal price such as "24.00" or "7" into minor units of this currency.
    /// More decimals than the currency has, signs, exponents and separators are refused.
    pub fn parse_decimal(&self, text: &str) -> Result<i64, DomainError> {
        let bad = || {
            DomainError::invalid(
                Code::InvalidPrice,
                format!(
                    "'{text}' is not a price in {} (digits, at most {} decimals)",
                    self.as_str(),
                    self.exponent()
                ),
            )
        };
        let text = text.trim();
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let exp = self.exponent() as usize;
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || frac.len() > exp
            || whole.len() > 15
        {
            return Err(bad());
        }
        let mut minor: i64 = whole.parse().map_err(|_| bad())?;
        for i in 0..exp {
            let digit = frac
                .as_bytes()
                .get(i)
                .map(|b| (b - b'0') as i64)
                .unwrap_or(0);
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(digit))
                .ok_or_else(bad)?;
        }
        if minor > MAX_AMOUNT {
            return Err(bad());
        }
        Ok(minor)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::parse(&value).map_err(|e| e.message)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_string()
    }
}

/// An amount in integer minor units of a currency: `{"amount": 1999, "currency": "USD"}`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct Money {
    /// Integer minor units (cents for USD, yen for JPY).
    pub amount: i64,
    /// ISO 4217 code.
    #[schema(value_type = String, example = "USD")]
    pub currency: Currency,
}

impl Money {
    /// A price: a known currency and an amount from 0 to [`MAX_AMOUNT`].
    pub fn price(amount: i64, currency: &str) -> Result<Self, DomainError> {
        let currency = Currency::parse(currency)?;
        if amount < 0 {
            return Err(DomainError::invalid(
                Code::InvalidPrice,
                "a price cannot be negative",
            ));
        }
        if amount > MAX_AMOUNT {
            return Err(DomainError::invalid(
                Code::InvalidPrice,
                "the price is too large",
            ));
        }
        Ok(Money { amount, currency })
    }

    pub fn zero(currency: Currency) -> Self {
        Money {
            amount: 0,
            currency,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_validated_and_normalised() {
        assert_eq!(Currency::parse("usd").unwrap().as_str(), "USD");
        assert_eq!(Currency::parse("XYZ").unwrap_err().code, "unknown_currency");
        assert_eq!(Currency::parse("").unwrap_err().code, "unknown_currency");
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
    }

    #[test]
    fn prices_are_non_negative_and_bounded() {
        assert_eq!(Money::price(1999, "USD").unwrap().amount, 1999);
        assert_eq!(Money::price(-1, "USD").unwrap_err().code, "invalid_price");
        assert_eq!(
            Money::price(MAX_AMOUNT + 1, "USD").unwrap_err().code,
            "invalid_price"
        );
    }

    #[test]
    fn decimal_prices_follow_the_currency_exponent() {
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(usd.parse_decimal("24.00").unwrap(), 2400);
        assert_eq!(usd.parse_decimal("24.5").unwrap(), 2450);
        assert_eq!(usd.parse_decimal("7").unwrap(), 700);
        assert!(usd.parse_decimal("1.999").is_err());
        assert!(usd.parse_decimal("-1.00").is_err());
        assert!(usd.parse_decimal("1e3").is_err());
        assert!(usd.parse_decimal("abc").is_err());
        assert!(usd.parse_decimal(".5").is_err());
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(jpy.parse_decimal("1500").unwrap(), 1500);
        assert!(jpy.parse_decimal("1500.5").is_err());
    }

    #[test]
    fn decimal_text_follows_the_currency_exponent() {
        let code = |c: &str| Currency::parse(c).unwrap();
        assert_eq!(code("USD").format_decimal(2400), "24.00");
        assert_eq!(code("USD").format_decimal(5), "0.05");
        assert_eq!(code("USD").format_decimal(-1999), "-19.99");
        assert_eq!(code("JPY").format_decimal(1500), "1500");
        assert_eq!(code("KWD").format_decimal(1250), "1.250");
        assert_eq!(
            code("USD").format_decimal(i64::MIN),
            "-92233720368547758.08"
        );
        assert_eq!(
            code("USD").parse_decimal("10000000000.00").unwrap(),
            MAX_AMOUNT
        );
        assert_eq!(code("USD").format_decimal(MAX_AMOUNT), "10000000000.00");
    }

    #[test]
    fn money_serialises_as_the_public_shape() {
        let m = Money::price(1999, "usd").unwrap();
        assert_eq!(
            serde_json::to_value(m).unwrap(),
            serde_json::json!({"amount": 1999, "currency": "USD"})
        );
    }
}
