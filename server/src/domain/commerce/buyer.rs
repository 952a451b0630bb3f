//! What a paid order carries beyond its lines: the buyer's email and shipping address, and the
//! reference of the payment at the provider (a Stripe PaymentIntent), with the pure checks of
//! each. Stripe's own ids (intents, events, customers) are newtypes checked for shape here, so
//! nothing that reaches a store key or a Lua script is an arbitrary string.

use crate::domain::names::is_forbidden_char;
use crate::domain::{Code, DomainError};

/// Longest email address (RFC 5321's path limit less the angle brackets).
pub const MAX_EMAIL: usize = 254;
/// Longest local part of an email address (RFC 5321).
pub const MAX_EMAIL_LOCAL: usize = 64;
/// Longest recipient name, address line, city or state.
pub const MAX_ADDRESS_FIELD: usize = 200;
/// Longest postal code.
pub const MAX_POSTAL_CODE: usize = 20;
/// Longest id of a Stripe object (Stripe documents 255 as the bound for ids it issues).
pub const MAX_PROVIDER_ID: usize = 255;

/// The officially assigned ISO 3166-1 alpha-2 codes (249).
const ISO_3166_ALPHA2: &str = "\
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Where a paid order is sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Shipping {
    /// The recipient's name.
    #[schema(max_length = 200)]
    pub name: String,
    #[schema(max_length = 200)]
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[schema(max_length = 200)]
    pub city: String,
    #[schema(max_length = 20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. `US`.
    #[schema(min_length = 2, max_length = 2, example = "US")]
    pub country: String,
    /// State, province or region, where the country has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub state: Option<String>,
}

impl Shipping {
    /// The address with each field trimmed and checked (present where required, at most its
    /// length, one line with no control or bidi characters, something visible), an empty
    /// optional field as absent, and the country upper-cased and an assigned ISO 3166-1
    /// alpha-2 code. A refusal is `invalid_shipping` naming the field (`shipping.city`).
    pub fn checked(&self) -> Result<Shipping, DomainError> {
        let field = |value: &str, name: &str, max: usize| {
            crate::domain::names::short_text(value, max).map_err(|e| {
                DomainError::invalid(
                    Code::InvalidShipping,
                    e.describe(&format!("shipping.{name}"), max),
                )
            })
        };
        let optional = |value: &Option<String>, name: &str| match value.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => field(v, name, MAX_ADDRESS_FIELD).map(Some),
        };
        Ok(Shipping {
            name: field(&self.name, "name", MAX_ADDRESS_FIELD)?,
            line1: field(&self.line1, "line1", MAX_ADDRESS_FIELD)?,
            line2: optional(&self.line2, "line2")?,
            city: field(&self.city, "city", MAX_ADDRESS_FIELD)?,
            postal_code: field(&self.postal_code, "postal_code", MAX_POSTAL_CODE)?,
            country: country(&self.country)?,
            state: optional(&self.state, "state")?,
        })
    }
}

/// An ISO 3166-1 alpha-2 country code, upper-cased.
pub fn country(raw: &str) -> Result<String, DomainError> {
    let code = raw.trim().to_ascii_uppercase();
    let known = code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && ISO_3166_ALPHA2.split(' ').any(|c| c == code);
    if known {
        Ok(code)
    } else {
        Err(DomainError::invalid(
            Code::InvalidShipping,
            "shipping.country must be an ISO 3166-1 alpha-2 country code such as US or DE",
        ))
    }
}

/// A buyer's email address, trimmed: `local@domain` with one `@`, a local part of 1 to 64
/// characters (no spaces, controls, or dots at its ends or doubled), and a domain of dot-separated
/// labels of letters, digits and inner hyphens whose last label is not all digits. Bounded to
/// 254 characters. A refusal is `invalid_email`.
pub fn email(raw: &str) -> Result<String, DomainError> {
    let text = raw.trim();
    let refuse = |why: &str| {
        Err(DomainError::invalid(
            Code::InvalidEmail,
            format!("email {why}"),
        ))
    };
    if text.is_empty() {
        return refuse("must not be empty");
    }
    if text.chars().count() > MAX_EMAIL {
        return refuse(&format!("must be at most {MAX_EMAIL} characters"));
    }
    let Some((local, domain)) = text.split_once('@') else {
        return refuse("must look like name@example.com");
    };
    if !local_part_ok(local) || !domain_ok(domain) {
        return refuse("must look like name@example.com");
    }
    Ok(text.to_string())
}

fn local_part_ok(local: &str) -> bool {
    let count = local.chars().count();
    (1..=MAX_EMAIL_LOCAL).contains(&count)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| {
            !c.is_whitespace()
                && !is_forbidden_char(c)
                && !matches!(
                    c,
                    '@' | '"' | '\\' | '<' | '>' | ',' | ';' | ':' | '(' | ')' | '[' | ']'
                )
        })
}

fn domain_ok(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.chars().count() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()))
}

/// Whether `raw` has the shape of an id Stripe issues with `prefix` (`pi_…`, `evt_…`,
/// `cus_…`): the prefix, then 1 or more ASCII letters, digits or underscores, 255 at most.
fn provider_id_ok(raw: &str, prefix: &str) -> bool {
    raw.len() <= MAX_PROVIDER_ID
        && raw.strip_prefix(prefix).is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// Declares a newtype of a Stripe id whose text starts with `$prefix`.
macro_rules! provider_id {
    ($(#[$m:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The id, if `raw` has its shape (see the module doc); `invalid_body` otherwise.
            pub fn parse(raw: &str) -> Result<Self, DomainError> {
                if provider_id_ok(raw, $prefix) {
                    Ok($name(raw.to_string()))
                } else {
                    Err(DomainError::invalid(
                        Code::InvalidBody,
                        concat!("not a Stripe ", $what, " id (", $prefix, "…)"),
                    ))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(raw: String) -> Result<Self, DomainError> {
                $name::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

provider_id!(
    /// A Stripe PaymentIntent's id (`pi_…`).
    PaymentIntentId, "pi_", "PaymentIntent"
);
provider_id!(
    /// A Stripe event's id (`evt_…`), the unit of webhook idempotency.
    StripeEventId, "evt_", "event"
);
provider_id!(
    /// A Stripe Customer's id (`cus_…`): a viewer's saved card lives under it.
    StripeCustomerId, "cus_", "Customer"
);

/// Who took an order's payment.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PaymentProcessor {
    Stripe,
}

/// Where an order's payment lives at its processor.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PaymentRef {
    pub provider: PaymentProcessor,
    /// The PaymentIntent (`pi_…`) that pays the order; a retry after a decline may replace it.
    #[schema(value_type = String, example = "pi_3Nx…")]
    pub intent_id: PaymentIntentId,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> Shipping {
        Shipping {
            name: "Kim Lee".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "Springfield".into(),
            postal_code: "12345".into(),
            country: "US".into(),
            state: Some("IL".into()),
        }
    }

    fn refused(s: Shipping) -> String {
        let e = s.checked().expect_err("refused");
        assert_eq!(e.code, Code::InvalidShipping);
        e.message
    }

    #[test]
    fn a_good_address_is_trimmed_and_normalised() {
        let s = Shipping {
            name: "  Kim Lee ".into(),
            line2: Some("   ".into()),
            country: " de ".into(),
            state: Some("".into()),
            ..address()
        };
        let ok = s.checked().unwrap();
        assert_eq!(ok.name, "Kim Lee");
        assert_eq!(ok.line2, None);
        assert_eq!(ok.state, None);
        assert_eq!(ok.country, "DE");
        assert_eq!(address().checked().unwrap(), address());
    }

    #[test]
    fn each_field_is_named_when_refused() {
        assert!(
            refused(Shipping {
                name: " ".into(),
                ..address()
            })
            .starts_with("shipping.name ")
        );
        assert!(
            refused(Shipping {
                line1: "".into(),
                ..address()
            })
            .starts_with("shipping.line1 ")
        );
        assert!(
            refused(Shipping {
                city: "a\u{0}b".into(),
                ..address()
            })
            .starts_with("shipping.city ")
        );
        assert!(
            refused(Shipping {
                postal_code: "1".repeat(21),
                ..address()
            })
            .starts_with("shipping.postal_code ")
        );
        assert!(
            refused(Shipping {
                line2: Some("x\u{202E}y".into()),
                ..address()
            })
            .starts_with("shipping.line2 ")
        );
        assert!(
            refused(Shipping {
                state: Some("x".repeat(201)),
                ..address()
            })
            .starts_with("shipping.state ")
        );
        assert!(
            refused(Shipping {
                line1: "a\nb".into(),
                ..address()
            })
            .starts_with("shipping.line1 ")
        );
        for bad in ["", "U", "USA", "XX", "ZZ", "1A", "ÜS", "U S"] {
            let message = refused(Shipping {
                country: bad.into(),
                ..address()
            });
            assert!(
                message.starts_with("shipping.country "),
                "{bad:?}: {message}"
            );
        }
    }

    #[test]
    fn every_listed_country_has_two_letters_and_appears_once() {
        let codes: Vec<&str> = ISO_3166_ALPHA2.split(' ').collect();
        assert_eq!(codes.len(), 249);
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, codes, "sorted and without duplicates");
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
        for c in ["US", "GB", "DE", "JP", "BR", "ZA", "AX", "SS"] {
            assert_eq!(country(&c.to_lowercase()).unwrap(), c);
        }
    }

    #[test]
    fn emails_have_one_plausible_shape() {
        for good in [
            "kim@example.com",
            " kim.lee+shop@mail.example.co.uk ",
            "o'hara@example.ie",
            "zoë@exämple.de",
            "a@b.io",
        ] {
            assert_eq!(email(good).unwrap(), good.trim(), "{good:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long = format!("{}@{}.com", "a".repeat(60), "b".repeat(60).repeat(4));
        for bad in [
            "",
            "   ",
            "kim",
            "kim@",
            "@example.com",
            "kim@example",
            "kim@@example.com",
            "kim@ex@ample.com",
            "kim lee@example.com",
            "kim@exa mple.com",
            ".kim@example.com",
            "kim.@example.com",
            "k..im@example.com",
            "kim@-example.com",
            "kim@example-.com",
            "kim@example..com",
            "kim@example.c",
            "kim@1.2.3.4",
            "kim\u{0}@example.com",
            "kim\u{202E}@example.com",
            "<kim>@example.com",
            long_local.as_str(),
            long.as_str(),
        ] {
            let e = email(bad).expect_err(bad);
            assert_eq!(e.code, Code::InvalidEmail, "{bad:?}");
            assert!(e.message.starts_with("email "), "{bad:?}");
        }
    }

    #[test]
    fn stripe_ids_have_their_prefix_and_a_safe_alphabet() {
        assert_eq!(
            PaymentIntentId::parse("pi_3Nx_abc9").unwrap().as_str(),
            "pi_3Nx_abc9"
        );
        assert!(StripeEventId::parse("evt_1").is_ok());
        assert!(StripeCustomerId::parse("cus_Q1w2").is_ok());
        let too_long = format!("pi_{}", "a".repeat(253));
        for bad in [
            "",
            "pi_",
            "pi",
            "evt_1",
            "pi_a b",
            "pi_a:b",
            "pi_{x}",
            "pi_é",
            too_long.as_str(),
        ] {
            assert!(PaymentIntentId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(StripeEventId::parse("pi_1").is_err());
        // Deserialising checks too, so a stored or posted id is never an arbitrary string.
        let parsed: Result<PaymentIntentId, _> = serde_json::from_str("\"pi_ok\"");
        assert!(parsed.is_ok());
        let parsed: Result<PaymentIntentId, _> = serde_json::from_str("\"pi_no way\"");
        assert!(parsed.is_err());
        assert_eq!(
            serde_json::to_string(&PaymentRef {
                provider: PaymentProcessor::Stripe,
                intent_id: PaymentIntentId::parse("pi_1").unwrap()
            })
            .unwrap(),
            r#"{"provider":"stripe","intent_id":"pi_1"}"#
        );
    }
}
