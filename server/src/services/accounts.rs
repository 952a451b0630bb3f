//! The accounts service: how creators sign in and out and what the operator sees. Sign-in
//! links (a creator token of the creator's current generation, in a link's fragment), the
//! creators' listing and display names, sign-out everywhere (the generation moves on, so every
//! older token is refused on every node), passkeys (registration by a signed-in creator,
//! discoverable sign-in by anyone holding one, ceremonies kept in the store and used once),
//! and the operator's overview (readiness, the store, the nodes' heartbeats, live shows).
//!
//! WebAuthn itself (options, attestation and assertion checks) is `crate::passkeys`; this
//! service keeps the records and the rules around it. It knows nothing of HTTP.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::TokenSigner;
use crate::clock::SharedClock;
use crate::domain::account::{
    self, Ceremony, CeremonyKind, Heartbeat, NodeInfo, Passkey, ceremony_gone,
};
use crate::domain::{Code, Creator, CreatorId, DomainError, Principal, Show, ShowStatus};
use crate::hub::Hub;
use crate::passkeys::{PasskeyError, RelyingParty};
use crate::store::{Page, PageAfter, SharedStore, StoreError};

/// Why the accounts service refused a request.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error(transparent)]
    Refused(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type AccountsResult<T> = Result<T, AccountsError>;

/// The settings the service works with, taken from the config once.
#[derive(Debug, Clone)]
pub struct AccountsSettings {
    /// Base URL for links, without a trailing slash.
    pub public_url: String,
    pub creator_token_ttl_s: u64,
    /// How long a passkey ceremony waits for its answer.
    pub ceremony_ttl: Duration,
    /// How often this node writes its heartbeat; it counts for three of these.
    pub heartbeat_every: Duration,
}

/// What the operator's page shows.
#[derive(Debug, Clone)]
pub struct Overview {
    pub ready: bool,
    pub store: &'static str,
    pub nodes: Vec<NodeInfo>,
    pub live_shows: Vec<Show>,
}

/// A ceremony's first half: its id and the options the browser's WebAuthn call takes.
#[derive(Debug, Clone)]
pub struct Started {
    pub ceremony: String,
    pub public_key: serde_json::Value,
}

/// A passkey sign-in that worked: a fresh creator token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub creator_id: CreatorId,
}

pub struct AccountsService {
    store: SharedStore,
    hub: Arc<Hub>,
    signer: TokenSigner,
    clock: SharedClock,
    settings: AccountsSettings,
    /// `None` when the public URL has no domain name (passkeys are bound to one).
    rp: Option<RelyingParty>,
    /// This node as its heartbeat describes it.
    node: NodeInfo,
}

impl AccountsService {
    pub fn new(
        store: SharedStore,
        hub: Arc<Hub>,
        signer: TokenSigner,
        clock: SharedClock,
        settings: AccountsSettings,
        node_id: &str,
    ) -> Self {
        let now = clock.now();
        let node = NodeInfo {
            id: node_id.to_string(),
            url: settings.public_url.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started_at: now,
            seen_at: now,
        };
        let rp = RelyingParty::new(&settings.public_url);
        if rp.is_none() {
            tracing::info!(
                public_url = %settings.public_url,
                "passkeys are off: they need --public-url with a domain name (localhost works)"
            );
        }
        AccountsService {
            store,
            hub,
            signer,
            clock,
            settings,
            rp,
            node,
        }
    }

    // ---- sign-in links and sign-out ----------------------------------------------------------

    /// A creator token of the creator's current generation.
    pub async fn creator_token(&self, creator: CreatorId) -> AccountsResult<String> {
        let generation = self.store.token_generation(creator).await?;
        let principal = Principal::Creator {
            creator_id: creator,
        };
        Ok(self.signer.mint_generation(
            &principal,
            generation,
            self.clock.now(),
            self.settings.creator_token_ttl_s,
        ))
    }

    /// The sign-in link that carries `token`.
    pub fn signin_url(&self, token: &str) -> String {
        account::signin_url(&self.settings.public_url, token)
    }

    /// A fresh sign-in link for an existing creator (404 `creator_not_found` otherwise).
    pub async fn signin_link(&self, creator: CreatorId) -> AccountsResult<String> {
        self.creator(creator).await?;
        let token = self.creator_token(creator).await?;
        Ok(self.signin_url(&token))
    }

    /// Whether a creator token of `generation` was signed out since it was minted.
    pub async fn is_signed_out(&self, creator: CreatorId, generation: u64) -> AccountsResult<bool> {
        let current = self.store.token_generation(creator).await?;
        Ok(account::signed_out(generation, current))
    }

    /// Signs the creator out everywhere: every creator token minted before stops working.
    pub async fn sign_out_everywhere(&self, creator: CreatorId) -> AccountsResult<()> {
        let generation = self.store.next_token_generation(creator).await?;
        tracing::info!(creator = %creator, generation, "creator signed out everywhere");
        // Open studio and desk connections of the creator close too, not only new requests.
        // The sign-out holds already; a connection not told now is refused when it reconnects.
        if let Err(e) = super::team::revoke_open_connections(
            self.store.as_ref(),
            &self.hub,
            creator,
            &creator.to_string(),
        )
        .await
        {
            tracing::warn!(creator = %creator, error = %e, "open connections not told of the sign-out");
        }
        Ok(())
    }

    // ---- creators ------------------------------------------------------------------------------

    pub async fn creator(&self, id: CreatorId) -> AccountsResult<Creator> {
        self.store
            .creator(id)
            .await?
            .ok_or_else(|| creator_not_found(id).into())
    }

    pub async fn creators(
        &self,
        after: Option<PageAfter>,
        limit: usize,
    ) -> AccountsResult<Page<Creator>> {
        Ok(self.store.creators_page(after, limit).await?)
    }

    /// Sets the creator's display name (the rules of a creator's name at creation).
    pub async fn rename(&self, id: CreatorId, name: &str) -> AccountsResult<Creator> {
        let checked = Creator::new(id, name, self.clock.now())?;
        self.store
            .rename_creator(id, &checked.name)
            .await?
            .ok_or_else(|| creator_not_found(id).into())
    }

    // ---- passkeys ------------------------------------------------------------------------------

    fn rp(&self) -> AccountsResult<&RelyingParty> {
        self.rp.as_ref().ok_or_else(|| {
            DomainError::conflict(
                Code::PasskeysUnavailable,
                "passkeys need the server's public URL to have a domain name (set --public-url; \
                 http://localhost works for trying them)",
            )
            .into()
        })
    }

    /// Starts adding a passkey for `creator`.
    pub async fn registration_options(&self, creator: CreatorId) -> AccountsResult<Started> {
        let rp = self.rp()?;
        let who = self.creator(creator).await?;
        let existing = self.store.passkeys(creator).await?;
        if existing.len() >= account::MAX_PASSKEYS {
            return Err(DomainError::conflict(
                Code::OverLimit,
                format!(
                    "a creator keeps at most {} passkeys; delete one first",
                    account::MAX_PASSKEYS
                ),
            )
            .into());
        }
        let (public_key, state) = rp
            .start_registration(&who, &existing)
            .map_err(passkey_failure)?;
        let kind = CeremonyKind::Registration {
            creator_id: creator,
        };
        self.open_ceremony(kind, state, public_key).await
    }

    /// Finishes adding a passkey: the browser's answer to [`Self::registration_options`].
    pub async fn register(
        &self,
        creator: CreatorId,
        ceremony: &str,
        credential: &serde_json::Value,
        label: Option<&str>,
    ) -> AccountsResult<Passkey> {
        let rp = self.rp()?;
        let label = account::passkey_label(label)?;
        let now = self.clock.now();
        let open = self.take_ceremony(ceremony).await?;
        if open.kind
            != (CeremonyKind::Registration {
                creator_id: creator,
            })
        {
            return Err(ceremony_gone().into());
        }
        let made = rp
            .finish_registration(&open.state, credential)
            .map_err(|e| match e {
                PasskeyError::Rejected(why) => {
                    DomainError::invalid(Code::InvalidCredential, why).into()
                }
                other => passkey_failure(other),
            })?;
        if self.store.passkey(&made.id).await?.is_some() {
            return Err(DomainError::conflict(
                Code::InvalidCredential,
                "this passkey is registered already",
            )
            .into());
        }
        let passkey = Passkey {
            id: made.id,
            creator_id: creator,
            label,
            created_at: now,
            last_used_at: None,
            credential: made.credential,
        };
        self.store.insert_passkey(&passkey).await?;
        tracing::info!(creator = %creator, "passkey added");
        Ok(passkey)
    }

    pub async fn passkeys(&self, creator: CreatorId) -> AccountsResult<Vec<Passkey>> {
        Ok(self.store.passkeys(creator).await?)
    }

    pub async fn delete_passkey(&self, creator: CreatorId, id: &str) -> AccountsResult<()> {
        if self.store.delete_passkey(creator, id).await? {
            Ok(())
        } else {
            Err(DomainError::not_found(Code::PasskeyNotFound, "you have no such passkey").into())
        }
    }

    /// Starts a passkey sign-in (anyone: the authenticator offers its own passkeys).
    pub async fn signin_options(&self) -> AccountsResult<Started> {
        let (public_key, state) = self.rp()?.start_signin().map_err(passkey_failure)?;
        self.open_ceremony(CeremonyKind::Authentication, state, public_key)
            .await
    }

    /// Finishes a passkey sign-in: a verified assertion of a stored passkey gets a fresh
    /// creator token; anything else is 401 `passkey_rejected`.
    pub async fn signin(
        &self,
        ceremony: &str,
        credential: &serde_json::Value,
    ) -> AccountsResult<SignedIn> {
        let rp = self.rp()?;
        let open = self.take_ceremony(ceremony).await?;
        if open.kind != CeremonyKind::Authentication {
            return Err(ceremony_gone().into());
        }
        let id = rp.credential_id(credential).map_err(rejected)?;
        let Some(mut passkey) = self.store.passkey(&id).await? else {
            return Err(rejected(PasskeyError::Rejected(
                "this passkey is not registered here (it may have been deleted)".into(),
            )));
        };
        passkey.credential = rp
            .finish_signin(&open.state, credential, &passkey)
            .map_err(rejected)?;
        passkey.last_used_at = Some(self.clock.now());
        if !self.store.update_passkey(&passkey).await? {
            return Err(rejected(PasskeyError::Rejected(
                "this passkey was deleted".into(),
            )));
        }
        let token = self.creator_token(passkey.creator_id).await?;
        tracing::info!(creator = %passkey.creator_id, "signed in with a passkey");
        Ok(SignedIn {
            token,
            creator_id: passkey.creator_id,
        })
    }

    async fn open_ceremony(
        &self,
        kind: CeremonyKind,
        state: String,
        public_key: serde_json::Value,
    ) -> AccountsResult<Started> {
        let now = self.clock.now();
        let id = crate::auth::random_secret();
        let ttl = chrono::Duration::from_std(self.settings.ceremony_ttl)
            .unwrap_or(chrono::Duration::minutes(5));
        let ceremony = Ceremony {
            kind,
            state,
            expires_at: now + ttl,
        };
        self.store.put_ceremony(&id, &ceremony, now).await?;
        Ok(Started {
            ceremony: id,
            public_key,
        })
    }

    async fn take_ceremony(&self, id: &str) -> AccountsResult<Ceremony> {
        // Ids are 43 characters of base64url; anything else names nothing.
        if id.is_empty() || id.len() > 64 {
            return Err(ceremony_gone().into());
        }
        self.store
            .take_ceremony(id, self.clock.now())
            .await?
            .ok_or_else(|| ceremony_gone().into())
    }

    // ---- the operator's overview and the heartbeat ---------------------------------------------

    /// Readiness, the store, the nodes alive and the shows live now.
    pub async fn overview(&self, ready_within: Duration) -> AccountsResult<Overview> {
        let ready = matches!(
            tokio::time::timeout(ready_within, self.store.ping()).await,
            Ok(Ok(()))
        );
        let nodes = self.store.nodes(self.clock.now()).await?;
        let mut live_shows: Vec<Show> = self
            .store
            .shows()
            .await?
            .into_iter()
            .filter(|s| s.status == ShowStatus::Live)
            .collect();
        live_shows.sort_by_key(|s| (s.started_at, s.id));
        Ok(Overview {
            ready,
            store: self.store.kind(),
            nodes,
            live_shows,
        })
    }

    /// Writes this node's heartbeat once.
    pub async fn beat(&self) -> AccountsResult<()> {
        let now = self.clock.now();
        let every = self.settings.heartbeat_every;
        let lasts = every * 3;
        let beat = Heartbeat {
            node: NodeInfo {
                seen_at: now,
                ..self.node.clone()
            },
            expires_at: now + chrono::Duration::from_std(lasts).unwrap_or_default(),
        };
        self.store.beat(&beat, lasts).await?;
        Ok(())
    }

    /// Writes the heartbeat every `heartbeat_every` (the first one after one period: the
    /// server wrote one as it started) until `stop`.
    pub fn spawn_heartbeat(self: &Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let me = self.clone();
        tokio::spawn(async move {
            let every = me.settings.heartbeat_every;
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {
                        if let Err(e) = me.beat().await {
                            tracing::warn!(error = %e, "heartbeat not written");
                        }
                    }
                }
            }
        });
    }
}

fn creator_not_found(id: CreatorId) -> DomainError {
    DomainError::not_found(Code::CreatorNotFound, format!("no creator {id}"))
}

/// A refused assertion, whatever the reason: 401 `passkey_rejected`.
fn rejected(e: PasskeyError) -> AccountsError {
    let why = match e {
        PasskeyError::Rejected(why) | PasskeyError::Internal(why) => why,
    };
    DomainError::unauthenticated(Code::PasskeyRejected, format!("passkey refused: {why}")).into()
}

/// A request the WebAuthn library could not turn into options: our fault, logged.
fn passkey_failure(e: PasskeyError) -> AccountsError {
    match e {
        PasskeyError::Rejected(why) => DomainError::invalid(Code::InvalidCredential, why).into(),
        PasskeyError::Internal(why) => StoreError::Corrupt(format!("passkey state: {why}")).into(),
    }
}
