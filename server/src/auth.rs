//! Signed, expiring tokens (HS256 JWTs) that carry a [`Principal`].
//!
//! Tokens are standard JWTs signed with HMAC-SHA256, so any JWT library can read them, but they
//! are built here from `hmac` and `sha2` (the same two crates that sign webhooks) instead of a
//! JWT crate that would pull RSA and elliptic-curve code we never use. Only `HS256` is
//! accepted; the signature is checked in constant time before the claims are parsed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::{Code, DomainError, Principal, Timestamp};

type HmacSha256 = Hmac<Sha256>;

const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
/// Refuse absurd tokens before doing any work on them.
const MAX_TOKEN_LEN: usize = 4096;
/// The issuer every token names; a token with another `iss` is someone else's.
const ISSUER: &str = "livesale";
/// How far a node's clock may run behind the one that minted a token before its `nbf` (not
/// before) refuses it.
const CLOCK_SKEW_S: i64 = 30;

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    iss: String,
    iat: i64,
    /// Not before; absent in tokens minted before it was added, which are judged by `iat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    exp: i64,
    /// A creator token's generation (`domain::account`): absent (0) until the creator first
    /// signs out everywhere, so tokens minted before it existed keep their meaning.
    #[serde(default, rename = "gen", skip_serializing_if = "is_zero")]
    generation: u64,
    #[serde(flatten)]
    principal: Principal,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(serde::Deserialize)]
struct Header {
    alg: String,
}

/// Mints and verifies tokens with one secret key.
#[derive(Clone)]
pub struct TokenSigner {
    /// HMAC-SHA256 keyed once (its inner and outer pads hashed); cloned for every token.
    keyed: HmacSha256,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    pub fn new(secret: &str) -> Self {
        TokenSigner {
            keyed: HmacSha256::new_from_slice(secret.as_bytes())
                .expect("HMAC accepts keys of any length"),
        }
    }

    fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }

    /// A token for `principal`, valid from `now` for `ttl_s` seconds.
    pub fn mint(&self, principal: &Principal, now: Timestamp, ttl_s: u64) -> String {
        self.mint_generation(principal, 0, now, ttl_s)
    }

    /// [`Self::mint`] carrying a creator's token generation.
    pub fn mint_generation(
        &self,
        principal: &Principal,
        generation: u64,
        now: Timestamp,
        ttl_s: u64,
    ) -> String {
        let claims = Claims {
            generation,
            iss: ISSUER.into(),
            iat: now.timestamp(),
            nbf: Some(now.timestamp()),
            exp: now
                .timestamp()
                .saturating_add(ttl_s.min(i64::MAX as u64) as i64),
            principal: principal.clone(),
        };
        let payload = serde_json::to_vec(&claims).expect("claims always serialise");
        let signing_input = format!("{}.{}", B64.encode(HEADER_JSON), B64.encode(payload));
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = mac.finalize().into_bytes();
        format!("{signing_input}.{}", B64.encode(sig))
    }

    /// The principal a token proves, if it is well-formed, correctly signed and not expired.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Principal, DomainError> {
        self.verify_generation(token, now).map(|(p, _)| p)
    }

    /// [`Self::verify`], with the token's generation (0 when it carries none).
    pub fn verify_generation(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<(Principal, u64), DomainError> {
        let invalid = || DomainError::unauthenticated(Code::InvalidToken, "the token is not valid");
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid());
        }
        let mut parts = token.trim().split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let header: Header = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(invalid)?;
        if header.alg != "HS256" {
            return Err(invalid());
        }
        let sig = B64.decode(s).map_err(|_| invalid())?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig).map_err(|_| invalid())?;
        let claims: Claims = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(invalid)?;
        if claims.iss != ISSUER {
            return Err(invalid());
        }
        if claims.exp <= now.timestamp() {
            return Err(DomainError::unauthenticated(
                Code::TokenExpired,
                "the token has expired",
            ));
        }
        if claims.nbf.unwrap_or(claims.iat) > now.timestamp().saturating_add(CLOCK_SKEW_S) {
            return Err(DomainError::unauthenticated(
                Code::TokenNotYetValid,
                "the token is not valid yet (check this machine's clock)",
            ));
        }
        Ok((claims.principal, claims.generation))
    }
}

/// A fresh random secret (32 bytes, URL-safe base64).
pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    B64.encode(bytes)
}

/// Compares two secrets without leaking where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CreatorId, ShowId, ViewerId};
    use chrono::Duration;
    use uuid::Uuid;

    fn viewer() -> Principal {
        Principal::Viewer {
            show_id: ShowId(Uuid::from_u128(1)),
            viewer_id: ViewerId(Uuid::from_u128(2)),
            name: "Dana".into(),
        }
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let signer = TokenSigner::new("k");
        let now = chrono::Utc::now();
        let token = signer.mint(&viewer(), now, 60);
        assert_eq!(signer.verify(&token, now).unwrap(), viewer());
        let later = now + Duration::seconds(61);
        assert_eq!(
            signer.verify(&token, later).unwrap_err().code,
            "token_expired"
        );
    }

    #[test]
    fn forged_and_foreign_tokens_are_refused() {
        let now = chrono::Utc::now();
        let token = TokenSigner::new("k").mint(&viewer(), now, 60);
        let other = TokenSigner::new("other");
        assert_eq!(other.verify(&token, now).unwrap_err().code, "invalid_token");
        // Swap the payload for a creator's: the signature no longer matches.
        let creator = TokenSigner::new("x").mint(
            &Principal::Creator {
                creator_id: CreatorId(Uuid::from_u128(5)),
            },
            now,
            60,
        );
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged_payload = creator.split('.').nth(1).unwrap();
        parts[1] = forged_payload;
        let forged = parts.join(".");
        assert_eq!(
            TokenSigner::new("k").verify(&forged, now).unwrap_err().code,
            "invalid_token"
        );
        // alg=none is never accepted.
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none"}"#),
            token.split('.').nth(1).unwrap()
        );
        assert!(TokenSigner::new("k").verify(&none, now).is_err());
        for junk in ["", "a.b", "a.b.c.d", "....", &"x".repeat(10_000)] {
            assert!(TokenSigner::new("k").verify(junk, now).is_err());
        }
    }

    /// Signs `claims` as a token with key `k`, for claims `mint` would never write.
    fn signed(claims: serde_json::Value) -> String {
        let signing_input = format!(
            "{}.{}",
            B64.encode(HEADER_JSON),
            B64.encode(claims.to_string())
        );
        let mut mac = TokenSigner::new("k").mac();
        mac.update(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            B64.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn issuer_and_not_before_are_checked() {
        let signer = TokenSigner::new("k");
        let now = chrono::Utc::now();
        let t = now.timestamp();
        let claims = |iss: &str, nbf: Option<i64>, iat: i64| {
            let mut c = serde_json::json!({
                "iss": iss, "iat": iat, "exp": t + 600,
                "role": "viewer", "show_id": Uuid::from_u128(1), "viewer_id": Uuid::from_u128(2),
                "name": "Dana",
            });
            if let Some(nbf) = nbf {
                c["nbf"] = nbf.into();
            }
            c
        };
        // The shape is right: the same claims from here verify.
        assert_eq!(
            signer
                .verify(&signed(claims("livesale", Some(t), t)), now)
                .unwrap(),
            viewer()
        );
        // Old tokens without nbf still verify.
        assert!(
            signer
                .verify(&signed(claims("livesale", None, t)), now)
                .is_ok()
        );
        assert_eq!(
            signer
                .verify(&signed(claims("someone-else", Some(t), t)), now)
                .unwrap_err()
                .code,
            "invalid_token"
        );
        for (nbf, iat) in [(Some(t + 3600), t), (None, t + 3600)] {
            assert_eq!(
                signer
                    .verify(&signed(claims("livesale", nbf, iat)), now)
                    .unwrap_err()
                    .code,
                "token_not_yet_valid"
            );
        }
        // A clock a few seconds behind the minting node's still accepts a fresh token.
        let minted = signer.mint(&viewer(), now + chrono::Duration::seconds(10), 60);
        assert!(signer.verify(&minted, now).is_ok());
    }

    #[test]
    fn the_generation_travels_in_the_token() {
        let signer = TokenSigner::new("k");
        let now = chrono::Utc::now();
        let creator = Principal::Creator {
            creator_id: CreatorId(Uuid::from_u128(5)),
        };
        let plain = signer.mint(&creator, now, 60);
        assert_eq!(
            signer.verify_generation(&plain, now).unwrap(),
            (creator.clone(), 0)
        );
        assert!(!plain.split('.').nth(1).is_some_and(|p| {
            String::from_utf8(B64.decode(p).unwrap())
                .unwrap()
                .contains("gen")
        }));
        let later = signer.mint_generation(&creator, 3, now, 60);
        assert_eq!(
            signer.verify_generation(&later, now).unwrap(),
            (creator.clone(), 3)
        );
        assert_eq!(signer.verify(&later, now).unwrap(), creator);
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
