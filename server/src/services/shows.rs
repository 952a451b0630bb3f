//! The shows service: creators, shows and their lifecycle (schedule, list, read, go live, end;
//! cancel, edit and the creator's own listing in `manage.rs`),
//! invites for moderators and cameras, and guests joining a show as viewers (identities kept
//! across joins, bans, the join rate per address). It loads the show, authorises the caller,
//! applies the `domain::` rules, saves through the store, mints tokens and tells the room about
//! status changes; it knows nothing of HTTP.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::auth::TokenSigner;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::domain::access::{Action, authorize};
use crate::domain::limits::{Budget, BudgetKey, DeviceId};
use crate::domain::protocol::Broadcast;
use crate::domain::{
    Code, Creator, CreatorId, DomainError, InviteId, NewShow, Principal, Role, Show, ShowId,
    Timestamp, Viewer, ViewerId, names,
};
use crate::hub::Hub;
use crate::limits::{JoinRefusal, JoinStores};
use crate::store::{
    LimitsStore, ModerationStore, Page, PageAfter, SharedStore, ShowStore, StoreError,
};

mod manage;

/// Why the shows service refused a request.
#[derive(Debug, thiserror::Error)]
pub enum ShowsError {
    /// A rule refused it; the error's kind and code say which.
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// Too many joins from the caller's address; another is possible after the wait.
    #[error("too many joins from this address; retry in {0:?}")]
    JoinRateLimited(Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type ShowsResult<T> = Result<T, ShowsError>;

/// Who asks for the operator's one action (creating creators), as the token proved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    /// The operator's admin token.
    Operator,
    /// No token.
    Anonymous,
    /// A creator, invite or viewer token.
    Principal,
}

/// A listing request: a page after a cursor, or (the old API) everything at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ListQuery {
    Page {
        after: Option<PageAfter>,
        limit: usize,
    },
    All,
}

/// A listing's answer, matching its [`ListQuery`].
#[derive(Debug)]
pub enum Listing<T> {
    Page(Page<T>),
    All(Vec<T>),
}

/// A minted invite: the token and the page it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub token: String,
    pub url: String,
}

/// A guest asking to join a show as a viewer.
#[derive(Debug, Clone, Copy)]
pub struct Join<'a> {
    pub display_name: &'a str,
    /// The browser's stable id, unchecked.
    pub device_id: Option<&'a str>,
    pub address: IpAddr,
    /// The viewer of an earlier viewer token the guest presented (of any show).
    pub earlier: Option<ViewerId>,
}

/// A guest who joined: their (possibly earlier) viewer identity and a fresh viewer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub viewer_id: ViewerId,
    pub token: String,
}

/// The settings the service works with, taken from the config once.
#[derive(Debug, Clone)]
pub struct ShowsSettings {
    /// Base URL for invite links, without a trailing slash.
    pub public_url: String,
    pub creator_token_ttl_s: u64,
    pub invite_token_ttl_s: u64,
    pub viewer_token_ttl_s: u64,
    /// Joins per address (`--join-rate`); `None` when unlimited.
    pub join_budget: Option<Budget>,
    /// How long a device tie and a join address are remembered.
    pub device_memory: Duration,
}

impl ShowsSettings {
    pub fn new(config: &Config, public_url: &str) -> Self {
        let join_budget = (config.join_rate != 0).then(|| {
            Budget::new(
                config.join_rate,
                Duration::from_secs(config.join_rate_period_s),
            )
        });
        ShowsSettings {
            public_url: public_url.to_string(),
            creator_token_ttl_s: config.creator_token_ttl_s,
            invite_token_ttl_s: config.invite_token_ttl_s,
            viewer_token_ttl_s: config.viewer_token_ttl_s,
            join_budget,
            device_memory: Duration::from_secs(config.device_memory_days.saturating_mul(86_400)),
        }
    }
}

pub struct ShowsService {
    shows: Arc<dyn ShowStore>,
    moderation: Arc<dyn ModerationStore>,
    limits: Arc<dyn LimitsStore>,
    hub: Arc<Hub>,
    signer: TokenSigner,
    clock: SharedClock,
    settings: ShowsSettings,
}

impl ShowsService {
    /// Keeps, of `store`, only the areas this service uses.
    pub fn new(
        store: SharedStore,
        hub: Arc<Hub>,
        signer: TokenSigner,
        clock: SharedClock,
        settings: ShowsSettings,
    ) -> Self {
        ShowsService {
            shows: store.clone(),
            moderation: store.clone(),
            limits: store,
            hub,
            signer,
            clock,
            settings,
        }
    }

    /// Only the operator's admin token passes (creating and listing creators, sign-in links,
    /// the overview): 401 without a token, 403 with another.
    pub fn authorize_operator(&self, requester: Requester) -> ShowsResult<()> {
        match requester {
            Requester::Operator => Ok(()),
            Requester::Anonymous => Err(DomainError::unauthenticated(
                Code::MissingToken,
                "this needs the operator's admin token",
            )
            .into()),
            Requester::Principal => Err(DomainError::forbidden(
                Code::ForbiddenRole,
                "only the operator's admin token can do this",
            )
            .into()),
        }
    }

    /// A new creator account and its bearer token.
    pub async fn create_creator(&self, name: &str) -> ShowsResult<(CreatorId, String)> {
        let now = self.clock.now();
        let creator = Creator::new(CreatorId(Uuid::now_v7()), name, now)?;
        self.shows.insert_creator(&creator).await?;
        let principal = Principal::Creator {
            creator_id: creator.id,
        };
        let token = self
            .signer
            .mint(&principal, now, self.settings.creator_token_ttl_s);
        tracing::info!(creator = %creator.id, "creator created");
        Ok((creator.id, token))
    }

    /// Schedules a new show of `creator`.
    pub async fn schedule(&self, creator: CreatorId, new: NewShow) -> ShowsResult<Show> {
        let show = Show::schedule(ShowId(Uuid::now_v7()), creator, new, self.clock.now())?;
        self.shows.insert_show(&show).await?;
        tracing::info!(show = %show.id, creator = %creator, "show scheduled");
        Ok(show)
    }

    /// Shows by scheduled time.
    pub async fn list(&self, query: ListQuery) -> ShowsResult<Listing<Show>> {
        Ok(match query {
            ListQuery::All => Listing::All(self.shows.shows().await?),
            ListQuery::Page { after, limit } => {
                Listing::Page(self.shows.shows_page(after, limit).await?)
            }
        })
    }

    /// The show, or 404 `show_not_found`.
    pub async fn get(&self, id: ShowId) -> ShowsResult<Show> {
        self.shows.show(id).await?.ok_or_else(|| {
            DomainError::not_found(Code::ShowNotFound, format!("no show {id}")).into()
        })
    }

    /// The show, when the caller may manage it (its creator): 404, then 401/403.
    pub async fn managed(&self, caller: Option<&Principal>, id: ShowId) -> ShowsResult<Show> {
        let show = self.get(id).await?;
        authorize(caller, Action::ManageShow, Some(&show))?;
        Ok(show)
    }

    /// Go live: Scheduled → Live.
    pub async fn start(&self, caller: Option<&Principal>, id: ShowId) -> ShowsResult<Show> {
        self.transition(caller, id, Show::start).await
    }

    /// End the show: Live → Ended.
    pub async fn end(&self, caller: Option<&Principal>, id: ShowId) -> ShowsResult<Show> {
        self.transition(caller, id, Show::end).await
    }

    /// Applies a lifecycle rule and saves it only if nobody changed the status meanwhile; on a
    /// lost race the rule is re-applied to the fresh show (and usually refuses).
    async fn transition(
        &self,
        caller: Option<&Principal>,
        id: ShowId,
        rule: fn(&mut Show, Timestamp) -> Result<(), DomainError>,
    ) -> ShowsResult<Show> {
        for _ in 0..3 {
            let mut show = self.managed(caller, id).await?;
            let before = show.status;
            rule(&mut show, self.clock.now())?;
            if self.shows.update_show(&show, before).await? {
                tracing::info!(show = %id, status = show.status.as_str(), "show status changed");
                let event = Broadcast::ShowStatus {
                    status: show.status,
                };
                // The change is saved; a room that cannot be told now learns it from `welcome`.
                if let Err(e) = self.hub.publish(&show, &event).await {
                    tracing::warn!(show = %id, error = %e, "show.status not broadcast");
                }
                return Ok(show);
            }
        }
        Err(DomainError::conflict(
            Code::ConcurrentUpdate,
            "the show changed while this request ran; try again",
        )
        .into())
    }

    /// Mints a moderator or camera invite for `show` (already [`Self::managed`]) and records
    /// it, so it can be revoked.
    pub async fn invite(
        &self,
        show: &Show,
        role: Role,
        label: Option<&str>,
    ) -> ShowsResult<Invite> {
        let label = label
            .map(|l| names::required(l, "label", 40, Code::InvalidLabel))
            .transpose()?;
        let invite_id = InviteId(Uuid::now_v7());
        let principal = match role {
            Role::Moderator => Principal::Moderator {
                show_id: show.id,
                invite_id,
                label,
            },
            Role::Camera => Principal::Camera {
                show_id: show.id,
                invite_id,
                label,
            },
            other => {
                return Err(DomainError::invalid(
                    Code::InvalidRole,
                    format!(
                        "invites are for moderators and cameras, not {}",
                        other.as_str()
                    ),
                )
                .into());
            }
        };
        self.shows.record_invite(show.id, invite_id).await?;
        let token = self.signer.mint(
            &principal,
            self.clock.now(),
            self.settings.invite_token_ttl_s,
        );
        let url = invite_url(&self.settings.public_url, &principal, &token);
        Ok(Invite { token, url })
    }

    /// A guest joins `show` as a viewer. A guest who presents an earlier viewer token, or
    /// whose browser joined one of the creator's shows before, keeps that identity, so a
    /// moderator's ban, a deal's per-buyer limit and the chat budget follow them; a banned
    /// identity gets no new token.
    pub async fn join(&self, show: &Show, join: Join<'_>) -> ShowsResult<Joined> {
        manage::cancelled(show)?;
        // The host's name is reserved in their shows (a deleted creator leaves only the role
        // names reserved).
        let host = self.shows.creator(show.creator_id).await?;
        let host_name = host.as_ref().map_or("", |c| c.name.as_str());
        let name = names::viewer_name(join.display_name, host_name)?;
        let device = join.device_id.map(DeviceId::parse).transpose()?;
        self.take_join(join.address).await?;
        let now = self.clock.now();
        let fresh = ViewerId(Uuid::now_v7());
        let stores = JoinStores {
            limits: self.limits.as_ref(),
            moderation: self.moderation.as_ref(),
        };
        let known = crate::limits::resolve_join(
            stores,
            show,
            join.earlier,
            device.as_ref(),
            join.address,
            now,
            fresh,
        );
        let id = match known.await? {
            Ok(id) => id,
            Err(JoinRefusal::Banned) => return Err(banned("you are banned from this show")),
            Err(JoinRefusal::AddressCoolingDown) => {
                return Err(banned(
                    "a viewer banned from this show joined from your address recently; try again later",
                ));
            }
        };
        let viewer = Viewer {
            id,
            show_id: show.id,
            display_name: name.clone(),
            created_at: now,
        };
        self.shows.insert_viewer(show, &viewer).await?;
        let remember = self.settings.device_memory;
        crate::limits::record_join(
            self.limits.as_ref(),
            show,
            id,
            device.as_ref(),
            join.address,
            remember,
        )
        .await?;
        let principal = Principal::Viewer {
            show_id: show.id,
            viewer_id: id,
            name,
        };
        let token = self
            .signer
            .mint(&principal, now, self.settings.viewer_token_ttl_s);
        Ok(Joined {
            viewer_id: id,
            token,
        })
    }

    /// One join from `address` out of its `--join-rate` budget, shared by every node.
    async fn take_join(&self, address: IpAddr) -> ShowsResult<()> {
        let Some(budget) = self.settings.join_budget else {
            return Ok(());
        };
        let key = BudgetKey::Join { address };
        match self
            .limits
            .take_budget(&key, budget, self.clock.now_ms())
            .await?
        {
            Ok(()) => Ok(()),
            Err(wait) => {
                metrics::counter!("livesale_limits_refused_total", "limit" => "join_rate")
                    .increment(1);
                Err(ShowsError::JoinRateLimited(wait))
            }
        }
    }
}

fn banned(detail: &str) -> ShowsError {
    DomainError::forbidden(Code::Banned, detail.to_string()).into()
}

/// The page an invite opens. Tokens for pages that take the show in the path travel in the
/// fragment, which browsers never send to servers or log.
pub fn invite_url(base: &str, principal: &Principal, token: &str) -> String {
    match principal {
        Principal::Camera { .. } => format!("{base}/camera/{token}"),
        Principal::Moderator { show_id, .. } => format!("{base}/moderate/{show_id}#token={token}"),
        Principal::Creator { .. } => format!("{base}/#token={token}"),
        Principal::Viewer { show_id, .. } => format!("{base}/s/{show_id}#token={token}"),
        // Valid in every show of the creator; a show's desk is `/moderate/{show}#token=`.
        Principal::CreatorModerator { .. } => format!("{base}/#token={token}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, TestClock};
    use crate::domain::ShowStatus;
    use crate::domain::error::ErrorKind;
    use crate::hub::{Bus, MemoryBus};
    use crate::store::MemoryStore;

    struct Fixture {
        service: ShowsService,
        store: SharedStore,
        bus: Arc<MemoryBus>,
        clock: Arc<TestClock>,
        signer: TokenSigner,
    }

    fn fixture(join_budget: Option<Budget>) -> Fixture {
        let config = Config::defaults();
        let store: SharedStore = Arc::new(MemoryStore::new());
        let clock = TestClock::new();
        let (hub, bus) = crate::services::testing::memory_hub(clock.clone());
        let signer = TokenSigner::new("a test secret");
        let settings = ShowsSettings {
            join_budget,
            ..ShowsSettings::new(&config, "https://shop.test")
        };
        let service =
            ShowsService::new(store.clone(), hub, signer.clone(), clock.clone(), settings);
        Fixture {
            service,
            store,
            bus,
            clock,
            signer,
        }
    }

    fn refusal<T: std::fmt::Debug>(result: ShowsResult<T>) -> DomainError {
        match result {
            Err(ShowsError::Refused(e)) => e,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    async fn creator_and_show(f: &Fixture) -> (Principal, Show) {
        let (creator_id, _) = f.service.create_creator("Maker").await.unwrap();
        let new = NewShow {
            title: "Friday drop".into(),
            ..Default::default()
        };
        let show = f.service.schedule(creator_id, new).await.unwrap();
        (Principal::Creator { creator_id }, show)
    }

    #[tokio::test]
    async fn only_the_operator_creates_creators_and_gets_a_working_token() {
        let f = fixture(None);
        let s = &f.service;
        assert!(s.authorize_operator(Requester::Operator).is_ok());
        let e = refusal(s.authorize_operator(Requester::Anonymous));
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ErrorKind::Unauthenticated, "missing_token")
        );
        let e = refusal(s.authorize_operator(Requester::Principal));
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ErrorKind::Forbidden, "forbidden_role")
        );
        let (id, token) = s.create_creator("Maker").await.unwrap();
        let proven = f.signer.verify(&token, f.clock.now()).unwrap();
        assert_eq!(proven, Principal::Creator { creator_id: id });
        assert!(f.store.creator(id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn shows_are_stamped_by_the_clock_and_found_again() {
        let f = fixture(None);
        f.clock.advance(Duration::from_secs(86_400));
        let (_, show) = creator_and_show(&f).await;
        assert!(show.created_at > chrono::Utc::now() + chrono::Duration::hours(23));
        assert_eq!(f.service.get(show.id).await.unwrap(), show);
        let e = refusal(f.service.get(ShowId(Uuid::now_v7())).await);
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ErrorKind::NotFound, "show_not_found")
        );
        let Listing::All(all) = f.service.list(ListQuery::All).await.unwrap() else {
            panic!("asked for all");
        };
        assert_eq!(all, vec![show]);
    }

    #[tokio::test]
    async fn going_live_and_ending_are_saved_and_told_to_the_room() {
        let f = fixture(None);
        let (creator, show) = creator_and_show(&f).await;
        let e = refusal(f.service.end(Some(&creator), show.id).await);
        assert_eq!(e.code, "illegal_transition");
        let live = f.service.start(Some(&creator), show.id).await.unwrap();
        assert_eq!(live.status, ShowStatus::Live);
        assert_eq!(
            live.started_at,
            f.store.show(show.id).await.unwrap().unwrap().started_at
        );
        let snapshot = f.bus.snapshot(&show).await.unwrap();
        assert_eq!(snapshot.seq, 1, "one show.status frame");
        let ended = f.service.end(Some(&creator), show.id).await.unwrap();
        assert_eq!(ended.status, ShowStatus::Ended);
        assert_eq!(f.bus.snapshot(&show).await.unwrap().seq, 2);
    }

    #[tokio::test]
    async fn only_the_shows_creator_manages_it() {
        let f = fixture(None);
        let (_, show) = creator_and_show(&f).await;
        let (other, _) = creator_and_show(&f).await;
        let e = refusal(f.service.start(Some(&other), show.id).await);
        assert_eq!(e.kind, ErrorKind::Forbidden);
        let e = refusal(f.service.start(None, show.id).await);
        assert_eq!(e.code, "missing_token");
        let e = refusal(
            f.service
                .managed(Some(&other), ShowId(Uuid::now_v7()))
                .await,
        );
        assert_eq!(e.code, "show_not_found");
        let stored = f.store.show(show.id).await.unwrap().unwrap();
        assert_eq!(stored.status, ShowStatus::Scheduled);
    }

    #[tokio::test]
    async fn invites_are_for_moderators_and_cameras_and_are_recorded() {
        let f = fixture(None);
        let (_, show) = creator_and_show(&f).await;
        let e = refusal(f.service.invite(&show, Role::Viewer, None).await);
        assert_eq!(e.code, "invalid_role");
        let invite = f
            .service
            .invite(&show, Role::Moderator, Some(" Sam "))
            .await
            .unwrap();
        let Principal::Moderator {
            show_id,
            invite_id,
            label,
        } = f.signer.verify(&invite.token, f.clock.now()).unwrap()
        else {
            panic!("a moderator token");
        };
        assert_eq!((show_id, label.as_deref()), (show.id, Some("Sam")));
        let expected = format!(
            "https://shop.test/moderate/{}#token={}",
            show.id, invite.token
        );
        assert_eq!(invite.url, expected);
        assert!(f.store.revoke_invite(show.id, invite_id).await.unwrap());
        let camera = f.service.invite(&show, Role::Camera, None).await.unwrap();
        assert_eq!(
            camera.url,
            format!("https://shop.test/camera/{}", camera.token)
        );
    }

    fn guest(name: &'static str, device: Option<&'static str>) -> Join<'static> {
        Join {
            display_name: name,
            device_id: device,
            address: IpAddr::from([203, 0, 113, 7]),
            earlier: None,
        }
    }

    #[tokio::test]
    async fn a_device_keeps_its_viewer_and_the_hosts_name_is_reserved() {
        let f = fixture(None);
        let (_, show) = creator_and_show(&f).await;
        let e = refusal(f.service.join(&show, guest("maker", None)).await);
        assert_eq!(e.code, "reserved_display_name");
        let e = refusal(f.service.join(&show, guest("Ann", Some("short"))).await);
        assert_eq!(e.code, "invalid_device_id");
        let device = Some("device-0123456789abcdef");
        let first = f.service.join(&show, guest("Ann", device)).await.unwrap();
        let again = f.service.join(&show, guest("Annie", device)).await.unwrap();
        assert_eq!(first.viewer_id, again.viewer_id);
        let other = f.service.join(&show, guest("Bob", None)).await.unwrap();
        assert_ne!(other.viewer_id, first.viewer_id);
        let proven = f.signer.verify(&again.token, f.clock.now()).unwrap();
        let expected = Principal::Viewer {
            show_id: show.id,
            viewer_id: first.viewer_id,
            name: "Annie".into(),
        };
        assert_eq!(proven, expected);
    }

    #[tokio::test]
    async fn joins_beyond_the_rate_wait_for_the_clock() {
        let f = fixture(Some(Budget::new(2, Duration::from_secs(60))));
        let (_, show) = creator_and_show(&f).await;
        for name in ["Ann", "Bob"] {
            f.service.join(&show, guest(name, None)).await.unwrap();
        }
        match f.service.join(&show, guest("Cid", None)).await {
            Err(ShowsError::JoinRateLimited(wait)) => assert!(wait <= Duration::from_secs(60)),
            other => panic!("expected the join rate, got {other:?}"),
        }
        f.clock.advance(Duration::from_secs(60));
        f.service.join(&show, guest("Cid", None)).await.unwrap();
    }
}
