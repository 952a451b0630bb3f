//! An order's [`Money`] (integer minor units of its ISO 4217 currency) as the `amount` Stripe's
//! API takes for that currency, and back, following "Supported currencies"
//! (<https://docs.stripe.com/currencies>):
//!
//! - "Minor units in API amounts": amounts are integers in the currency's smallest unit, and the
//!   currency code is sent in lowercase.
//! - "Zero-decimal currencies" (BIF, CLP, DJF, GNF, JPY, KMF, KRW, MGA, PYG, RWF, VND, VUV, XAF,
//!   XOF, XPF): the amount is whole units, not multiplied by 100. MGA has two decimals in ISO
//!   4217, so only whole ariary reach Stripe.
//! - "Three-decimal currencies" (BHD, JOD, KWD, OMR, TND): three decimals, but for Stripe's
//!   payment partners the last digit must be 0; the integration must round, so a total that is
//!   not a multiple of 10 is refused here rather than changed behind the merchant's back.
//! - "Special cases": ISK and UGX became zero-decimal, but for backwards compatibility Stripe
//!   takes them as two-decimal values whose decimals are always 00 (5 ISK is `500`; Stripe
//!   answers `invalid_charge_amount_no_decimal_compatible` otherwise, see also
//!   <https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds>).
//!   HUF and TWD are zero-decimal for payouts only; charges take two-decimal amounts, as ISO
//!   4217 has them, so they are sent as is.
//!
//! Other ISO three-decimal currencies (IQD, LYD) are not Stripe presentment currencies and are
//! refused. Stripe's per-currency minimum and maximum charges are left to Stripe's answer.

use crate::domain::{Currency, Money};

/// Currencies Stripe takes in whole units ("Zero-decimal currencies").
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "VND", "VUV", "XAF",
    "XOF", "XPF",
];

/// Zero-decimal in fact, two-decimal in Stripe's API with `00` as decimals ("Special cases").
const TWO_DECIMAL_WHOLE: &[&str] = &["ISK", "UGX"];

/// Currencies Stripe takes with three decimals, the last one 0 ("Three-decimal currencies").
const THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

/// An amount as Stripe's API reads it: `amount` in Stripe's unit, `currency` in lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeAmount {
    pub amount: i64,
    pub currency: String,
}

/// Why an amount has no Stripe form (or a Stripe amount no `Money` form).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("Stripe charges and refunds positive amounts; got {amount}")]
    NotPositive { amount: i64 },
    #[error("Stripe sent a negative amount ({amount})")]
    Negative { amount: i64 },
    #[error("'{currency}' is not a currency Stripe charges in")]
    UnsupportedCurrency { currency: String },
    #[error(
        "{amount} in {currency} cannot be charged through Stripe: its amounts are multiples of {step} minor units"
    )]
    NotRepresentable {
        currency: Currency,
        amount: i64,
        step: i64,
    },
    #[error("the amount is too large")]
    TooLarge,
}

/// How Stripe writes a currency: its number of decimals, and the step its amounts move by in
/// those decimals (1, or 10 for three-decimal currencies, or 100 for ISK and UGX).
struct Rule {
    decimals: u32,
    step: i64,
}

fn rule(currency: Currency) -> Result<Rule, AmountError> {
    let code = currency.as_str();
    let (decimals, step) = if ZERO_DECIMAL.contains(&code) {
        (0, 1)
    } else if TWO_DECIMAL_WHOLE.contains(&code) {
        (2, 100)
    } else if THREE_DECIMAL.contains(&code) {
        (3, 10)
    } else if currency.exponent() == 2 {
        (2, 1)
    } else {
        return Err(AmountError::UnsupportedCurrency {
            currency: code.to_string(),
        });
    };
    Ok(Rule { decimals, step })
}

/// `money` as Stripe's `amount` and `currency`: refused when not positive, in a currency Stripe
/// does not charge in, or not a multiple of what Stripe can charge (1.005 KWD, 12.50 MGA).
pub fn to_stripe(money: Money) -> Result<StripeAmount, AmountError> {
    if money.amount <= 0 {
        return Err(AmountError::NotPositive {
            amount: money.amount,
        });
    }
    let rule = rule(money.currency)?;
    let iso = u32::from(money.currency.exponent());
    let not_representable = |step: i64| AmountError::NotRepresentable {
        currency: money.currency,
        amount: money.amount,
        step,
    };
    let amount = if rule.decimals >= iso {
        money
            .amount
            .checked_mul(10i64.pow(rule.decimals - iso))
            .ok_or(AmountError::TooLarge)?
    } else {
        let unit = 10i64.pow(iso - rule.decimals);
        if money.amount % unit != 0 {
            return Err(not_representable(unit * rule.step));
        }
        money.amount / unit
    };
    if amount % rule.step != 0 {
        // Only three-decimal currencies get here (ISK and UGX are multiplied by 100 above).
        return Err(not_representable(rule.step));
    }
    Ok(StripeAmount {
        amount,
        currency: money.currency.as_str().to_ascii_lowercase(),
    })
}

/// A Stripe `amount` and `currency` (as in a PaymentIntent or an event) as `Money`.
pub fn from_stripe(amount: i64, currency: &str) -> Result<Money, AmountError> {
    let unsupported = || AmountError::UnsupportedCurrency {
        currency: currency.chars().take(16).collect(),
    };
    if currency.len() != 3 {
        return Err(unsupported());
    }
    let parsed = Currency::parse(currency).map_err(|_| unsupported())?;
    if amount < 0 {
        return Err(AmountError::Negative { amount });
    }
    let rule = rule(parsed)?;
    let iso = u32::from(parsed.exponent());
    let minor = if rule.decimals >= iso {
        let unit = 10i64.pow(rule.decimals - iso);
        if amount % unit != 0 {
            return Err(AmountError::NotRepresentable {
                currency: parsed,
                amount,
                step: unit,
            });
        }
        amount / unit
    } else {
        amount
            .checked_mul(10i64.pow(iso - rule.decimals))
            .ok_or(AmountError::TooLarge)?
    };
    Ok(Money {
        amount: minor,
        currency: parsed,
    })
}

impl StripeAmount {
    pub fn from_money(money: Money) -> Result<Self, AmountError> {
        to_stripe(money)
    }

    pub fn to_money(&self) -> Result<Money, AmountError> {
        from_stripe(self.amount, &self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(amount: i64, code: &str) -> Money {
        Money {
            amount,
            currency: Currency::parse(code).unwrap(),
        }
    }

    fn sent(amount: i64, code: &str) -> Result<(i64, String), AmountError> {
        to_stripe(money(amount, code)).map(|s| (s.amount, s.currency))
    }

    #[test]
    fn two_decimal_currencies_are_sent_as_is_in_lowercase() {
        assert_eq!(sent(1999, "USD"), Ok((1999, "usd".into())));
        assert_eq!(sent(1, "EUR"), Ok((1, "eur".into())));
        // HUF and TWD: zero-decimal for payouts only; charges are two-decimal.
        assert_eq!(sent(12345, "HUF"), Ok((12345, "huf".into())));
        assert_eq!(sent(12345, "TWD"), Ok((12345, "twd".into())));
    }

    #[test]
    fn zero_decimal_currencies_are_whole_units() {
        assert_eq!(sent(500, "JPY"), Ok((500, "jpy".into())));
        assert_eq!(sent(1, "KRW"), Ok((1, "krw".into())));
        assert_eq!(sent(9, "XOF"), Ok((9, "xof".into())));
        // MGA has two ISO decimals but Stripe takes whole ariary.
        assert_eq!(sent(1200, "MGA"), Ok((12, "mga".into())));
        assert_eq!(
            sent(1250, "MGA"),
            Err(AmountError::NotRepresentable {
                currency: Currency::parse("MGA").unwrap(),
                amount: 1250,
                step: 100,
            })
        );
    }

    #[test]
    fn isk_and_ugx_are_two_decimal_with_zero_decimals() {
        assert_eq!(sent(5, "ISK"), Ok((500, "isk".into())));
        assert_eq!(sent(5, "UGX"), Ok((500, "ugx".into())));
        assert_eq!(sent(1_000, "ISK"), Ok((100_000, "isk".into())));
    }

    #[test]
    fn three_decimal_currencies_must_end_in_zero() {
        assert_eq!(sent(5120, "KWD"), Ok((5120, "kwd".into())));
        assert_eq!(sent(10, "BHD"), Ok((10, "bhd".into())));
        for code in ["BHD", "JOD", "KWD", "OMR", "TND"] {
            let err = sent(5124, code).unwrap_err();
            assert_eq!(
                err,
                AmountError::NotRepresentable {
                    currency: Currency::parse(code).unwrap(),
                    amount: 5124,
                    step: 10,
                }
            );
            assert!(err.to_string().contains("multiples of 10"), "{err}");
        }
    }

    #[test]
    fn refused_amounts_and_currencies() {
        assert_eq!(sent(0, "USD"), Err(AmountError::NotPositive { amount: 0 }));
        assert_eq!(
            sent(-5, "USD"),
            Err(AmountError::NotPositive { amount: -5 })
        );
        for code in ["IQD", "LYD"] {
            assert_eq!(
                sent(1000, code),
                Err(AmountError::UnsupportedCurrency {
                    currency: code.into()
                })
            );
        }
        assert_eq!(sent(i64::MAX / 10, "ISK"), Err(AmountError::TooLarge));
    }

    #[test]
    fn stripe_amounts_come_back_as_money() {
        assert_eq!(from_stripe(1999, "usd"), Ok(money(1999, "USD")));
        assert_eq!(from_stripe(500, "jpy"), Ok(money(500, "JPY")));
        assert_eq!(from_stripe(500, "isk"), Ok(money(5, "ISK")));
        assert_eq!(from_stripe(500, "UGX"), Ok(money(5, "UGX")));
        assert_eq!(from_stripe(12, "mga"), Ok(money(1200, "MGA")));
        assert_eq!(from_stripe(5120, "kwd"), Ok(money(5120, "KWD")));
        assert_eq!(from_stripe(0, "usd"), Ok(money(0, "USD")));
        assert!(matches!(
            from_stripe(550, "isk"),
            Err(AmountError::NotRepresentable { step: 100, .. })
        ));
        assert_eq!(
            from_stripe(-1, "usd"),
            Err(AmountError::Negative { amount: -1 })
        );
        assert!(matches!(
            from_stripe(1, "xyz"),
            Err(AmountError::UnsupportedCurrency { .. })
        ));
        assert!(matches!(
            from_stripe(1, "usdollars"),
            Err(AmountError::UnsupportedCurrency { .. })
        ));
        assert!(matches!(
            from_stripe(1, "lyd"),
            Err(AmountError::UnsupportedCurrency { .. })
        ));
        assert_eq!(from_stripe(i64::MAX, "mga"), Err(AmountError::TooLarge));
    }

    #[test]
    fn every_chargeable_amount_round_trips() {
        for (code, _) in crate::domain::money::CURRENCIES {
            let currency = Currency::parse(code).unwrap();
            for amount in [1, 7, 10, 100, 1234, 5000, 123_456_700] {
                let m = Money { amount, currency };
                if let Ok(s) = to_stripe(m) {
                    assert_eq!(s.to_money(), Ok(m), "{code} {amount}");
                    assert_eq!(StripeAmount::from_money(m), Ok(s));
                }
            }
        }
        // And the common ones are all chargeable.
        for code in ["USD", "EUR", "GBP", "JPY", "ISK", "KWD"] {
            assert!(to_stripe(money(5000, code)).is_ok(), "{code}");
        }
    }
}
