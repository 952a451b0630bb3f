//! WebAuthn for passkeys, through `webauthn_rp` (pure Rust, RustCrypto: P-256, P-384, Ed25519
//! and RSA signatures are checked, nothing is ever signed here). This module only translates:
//! it makes a ceremony's options (their JSON form, as the browser's
//! `parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON` take them) with the server
//! state to keep, and checks the browser's answer against that state and a stored credential.
//! Keeping ceremonies and credentials, and who may do what, is `services::accounts`.
//!
//! The relying party is the public URL: its host is the RP id (a domain name: browsers refuse
//! IP addresses) and its origin the one origin accepted. Passkeys are discoverable (resident)
//! and verified (user verification required), so signing in needs no name: the authenticator's
//! answer carries the user handle, which is the creator's id.
//!
//! A stored credential is `<static state>.<dynamic state>` in base64url: the public key as the
//! library encodes it, and the counters and flags that change with each use.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::AuthenticationVerificationOptions;
use webauthn_rp::request::register::{
    CredProtect, Nickname, PublicKeyCredentialUserEntity, RegistrationVerificationOptions,
    UserHandle16, Username,
};
use webauthn_rp::request::{AsciiDomain, ExtensionInfo, PublicKeyCredentialDescriptor, RpId};
use webauthn_rp::response::register::DynamicState;
use webauthn_rp::response::{AuthTransports, CredentialId};
use webauthn_rp::{
    AuthenticatedCredential, DiscoverableAuthentication16, DiscoverableAuthenticationServerState,
    DiscoverableCredentialRequestOptions, PublicKeyCredentialCreationOptions, Registration,
    RegistrationServerState,
};

use crate::domain::Creator;
use crate::domain::account::Passkey;

/// Why a ceremony step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyError {
    /// The browser's answer does not verify (or is not an answer at all); safe to tell.
    #[error("{0}")]
    Rejected(String),
    /// Our own state could not be made or read back.
    #[error("{0}")]
    Internal(String),
}

/// A verified new credential: its id (base64url, as browsers report it) and what to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    pub id: String,
    pub credential: String,
}

/// This server as a WebAuthn relying party.
pub struct RelyingParty {
    rp_id: RpId,
    origin: String,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RelyingParty({})", self.origin)
    }
}

impl RelyingParty {
    /// The relying party of `public_url`, or `None` when its host is not a domain name.
    pub fn new(public_url: &str) -> Option<RelyingParty> {
        let url = url::Url::parse(public_url).ok()?;
        let Some(url::Host::Domain(host)) = url.host() else {
            return None;
        };
        let domain = AsciiDomain::try_from(host.to_ascii_lowercase()).ok()?;
        Some(RelyingParty {
            rp_id: RpId::Domain(domain),
            origin: url.origin().ascii_serialization(),
        })
    }

    /// The creation options for a new passkey of `creator` (its id is the user handle; the
    /// passkeys it has are excluded, so one authenticator never holds two), and the state to
    /// keep until the answer.
    pub fn start_registration(
        &self,
        creator: &Creator,
        existing: &[Passkey],
    ) -> Result<(serde_json::Value, String), PasskeyError> {
        let handle = user_handle(creator.id.0);
        let fallback = creator.id.to_string();
        // The account picker shows these; a name the profile refuses falls back to the id.
        let name = Username::try_from(creator.name.as_str())
            .or_else(|_| Username::try_from(fallback.as_str()))
            .map_err(|e| PasskeyError::Internal(format!("user name: {e}")))?;
        let display_name = Nickname::try_from(creator.name.as_str()).ok();
        let exclude = existing
            .iter()
            .filter_map(|p| {
                let raw = B64.decode(&p.id).ok()?;
                let id = CredentialId::<Vec<u8>>::decode(raw).ok()?;
                // No transports: the browser then tries every way to reach an authenticator.
                let transports = AuthTransports::decode(0).ok()?;
                Some(PublicKeyCredentialDescriptor { id, transports })
            })
            .collect();
        let user = PublicKeyCredentialUserEntity {
            name,
            id: &handle,
            display_name,
        };
        let mut options = PublicKeyCredentialCreationOptions::passkey(&self.rp_id, user, exclude);
        // Ask authenticators to keep the passkey behind user verification, but do not refuse
        // the many (platform ones included) that cannot say so: the library's default makes
        // browsers fail the ceremony on those.
        options.extensions.cred_protect =
            CredProtect::UserVerificationRequired(ExtensionInfo::AllowDontEnforceValue);
        let (server, client) = options
            .start_ceremony()
            .map_err(|e| PasskeyError::Internal(format!("creation options: {e}")))?;
        let options = serde_json::to_value(&client)
            .map_err(|e| PasskeyError::Internal(format!("creation options: {e}")))?;
        let state = server
            .encode()
            .map_err(|e| PasskeyError::Internal(format!("registration state: {e}")))?;
        Ok((options, B64.encode(state)))
    }

    /// Checks the browser's answer to [`Self::start_registration`] (`state` is what it kept).
    pub fn finish_registration(
        &self,
        state: &str,
        answer: &serde_json::Value,
    ) -> Result<NewCredential, PasskeyError> {
        let raw = B64
            .decode(state)
            .map_err(|e| PasskeyError::Internal(format!("registration state: {e}")))?;
        let server = RegistrationServerState::<16>::decode(raw.as_slice())
            .map_err(|e| PasskeyError::Internal(format!("registration state: {e}")))?;
        let json = serde_json::to_vec(answer)
            .map_err(|e| PasskeyError::Rejected(format!("not a registration response: {e}")))?;
        let registration = Registration::from_json_relaxed(&json)
            .map_err(|e| PasskeyError::Rejected(format!("not a registration response: {e}")))?;
        let origins = [self.origin.as_str()];
        let options = RegistrationVerificationOptions::<&str, &str> {
            allowed_origins: &origins,
            ..RegistrationVerificationOptions::default()
        };
        let made = server
            .verify(&self.rp_id, &registration, &options)
            .map_err(|e| PasskeyError::Rejected(format!("the new passkey did not verify: {e}")))?;
        let (id, _, _, static_state, dynamic_state, _) = made.into_parts();
        let id = id
            .encode()
            .map(|bytes| B64.encode(bytes))
            .unwrap_or_default();
        let key = static_state.encode().unwrap_or_default();
        Ok(NewCredential {
            id,
            credential: stored(&key, dynamic_state),
        })
    }

    /// The request options of a sign-in with any passkey of this site, and the state to keep.
    pub fn start_signin(&self) -> Result<(serde_json::Value, String), PasskeyError> {
        let (server, client) = DiscoverableCredentialRequestOptions::passkey(&self.rp_id)
            .start_ceremony()
            .map_err(|e| PasskeyError::Internal(format!("request options: {e}")))?;
        let options = serde_json::to_value(&client)
            .map_err(|e| PasskeyError::Internal(format!("request options: {e}")))?;
        let state = server
            .encode()
            .map_err(|e| PasskeyError::Internal(format!("authentication state: {e}")))?;
        Ok((options, B64.encode(state)))
    }

    /// The credential id (base64url) an assertion names, to find the stored passkey.
    pub fn credential_id(&self, answer: &serde_json::Value) -> Result<String, PasskeyError> {
        let assertion = parse_assertion(answer)?;
        let id = assertion.raw_id();
        Ok(id
            .encode()
            .map(|bytes| B64.encode(bytes))
            .unwrap_or_default())
    }

    /// Checks an assertion against the kept `state` and the stored `passkey` (its user handle
    /// must be the passkey's creator); returns the credential to store back (its counters).
    pub fn finish_signin(
        &self,
        state: &str,
        answer: &serde_json::Value,
        passkey: &Passkey,
    ) -> Result<String, PasskeyError> {
        let raw = B64
            .decode(state)
            .map_err(|e| PasskeyError::Internal(format!("authentication state: {e}")))?;
        let server = DiscoverableAuthenticationServerState::decode(raw.as_slice())
            .map_err(|e| PasskeyError::Internal(format!("authentication state: {e}")))?;
        let assertion = parse_assertion(answer)?;
        let handle = user_handle(passkey.creator_id.0);
        let (key, dynamic) = parse_stored(&passkey.credential)?;
        let static_state = Decode::decode(key.as_slice())
            .map_err(|e| PasskeyError::Internal(format!("stored public key: {e}")))?;
        let mut cred =
            AuthenticatedCredential::new(assertion.raw_id(), &handle, static_state, dynamic)
                .map_err(|e| PasskeyError::Internal(format!("stored passkey: {e}")))?;
        let origins = [self.origin.as_str()];
        let options = AuthenticationVerificationOptions::<&str, &str> {
            allowed_origins: &origins,
            ..AuthenticationVerificationOptions::default()
        };
        server
            .verify(&self.rp_id, &assertion, &mut cred, &options)
            .map_err(|e| PasskeyError::Rejected(format!("the passkey did not verify: {e}")))?;
        Ok(stored(&key, cred.dynamic_state()))
    }
}

/// A creator's user handle: the 16 bytes of its id.
fn user_handle(id: uuid::Uuid) -> UserHandle16 {
    match UserHandle16::decode(*id.as_bytes()) {
        Ok(handle) => handle,
        Err(never) => match never {},
    }
}

fn parse_assertion(
    answer: &serde_json::Value,
) -> Result<DiscoverableAuthentication16, PasskeyError> {
    let json = serde_json::to_vec(answer)
        .map_err(|e| PasskeyError::Rejected(format!("not an authentication response: {e}")))?;
    DiscoverableAuthentication16::from_json_relaxed(&json)
        .map_err(|e| PasskeyError::Rejected(format!("not an authentication response: {e}")))
}

fn stored(key: &[u8], dynamic: DynamicState) -> String {
    let dynamic = match dynamic.encode() {
        Ok(bytes) => bytes,
        Err(never) => match never {},
    };
    format!("{}.{}", B64.encode(key), B64.encode(dynamic))
}

fn parse_stored(text: &str) -> Result<(Vec<u8>, DynamicState), PasskeyError> {
    let bad = |what: &str| PasskeyError::Internal(format!("stored passkey: {what}"));
    let (key, dynamic) = text.split_once('.').ok_or_else(|| bad("no separator"))?;
    let key = B64.decode(key).map_err(|_| bad("public key"))?;
    let dynamic: [u8; 7] = B64
        .decode(dynamic)
        .ok()
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| bad("counters"))?;
    let dynamic = DynamicState::decode(dynamic).map_err(|_| bad("counters"))?;
    Ok((key, dynamic))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CreatorId;

    fn creator(name: &str) -> Creator {
        Creator::new(CreatorId(uuid::Uuid::now_v7()), name, chrono::Utc::now()).unwrap()
    }

    #[test]
    fn the_rp_is_the_public_urls_domain_and_never_an_address() {
        let rp = RelyingParty::new("https://shop.example.com/").unwrap();
        assert_eq!(rp.origin, "https://shop.example.com");
        let rp = RelyingParty::new("http://localhost:8080").unwrap();
        assert_eq!(rp.origin, "http://localhost:8080");
        for no in ["http://127.0.0.1:8080", "http://[::1]:8080", "not a url"] {
            assert!(RelyingParty::new(no).is_none(), "{no}");
        }
    }

    #[test]
    fn options_name_the_creator_and_the_state_reads_back() {
        let rp = RelyingParty::new("https://shop.test").unwrap();
        let who = creator("Maya's Ceramics");
        let (options, state) = rp.start_registration(&who, &[]).unwrap();
        assert_eq!(options["rp"]["id"], "shop.test");
        assert_eq!(options["user"]["displayName"], "Maya's Ceramics");
        assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(
            options["authenticatorSelection"]["userVerification"],
            "required"
        );
        assert_eq!(
            options["extensions"]["enforceCredentialProtectionPolicy"],
            false
        );
        let handle = B64.decode(options["user"]["id"].as_str().unwrap()).unwrap();
        assert_eq!(handle, who.id.0.as_bytes());
        // A junk answer is the browser's fault; the state itself decodes.
        let err = rp
            .finish_registration(&state, &serde_json::json!({ "id": "AAAA" }))
            .unwrap_err();
        assert!(matches!(err, PasskeyError::Rejected(_)), "{err:?}");
        let err = rp
            .finish_registration("not state", &serde_json::json!({}))
            .unwrap_err();
        assert!(matches!(err, PasskeyError::Internal(_)), "{err:?}");

        let (request, state) = rp.start_signin().unwrap();
        assert_eq!(request["rpId"], "shop.test");
        assert_eq!(request["userVerification"], "required");
        assert!(rp.credential_id(&serde_json::json!({})).is_err());
        assert!(!state.is_empty());
    }

    #[test]
    fn stored_credentials_round_trip() {
        let dynamic = DynamicState::decode([1, 0, 5, 0, 0, 0, 0]).unwrap();
        let text = stored(&[1, 2, 3], dynamic);
        assert_eq!(parse_stored(&text).unwrap(), (vec![1, 2, 3], dynamic));
        assert!(parse_stored("nope").is_err());
    }
}
