//! Who may do what. Every HTTP route and WebSocket command asks [`authorize`]; a UI hiding a
//! button is never the check.

use super::{Code, CreatorId, DomainError, InviteId, Show, ShowId, ViewerId};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Creator,
    Moderator,
    Camera,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Creator => "creator",
            Role::Moderator => "moderator",
            Role::Camera => "camera",
            Role::Viewer => "viewer",
        }
    }
}

/// A verified caller: what a valid token proves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Principal {
    /// A creator; scoped to the shows they own.
    Creator { creator_id: CreatorId },
    /// A moderator invited to one show.
    Moderator {
        show_id: ShowId,
        invite_id: InviteId,
        label: Option<String>,
    },
    /// A camera device invited to one show: it publishes video and nothing else.
    Camera {
        show_id: ShowId,
        invite_id: InviteId,
        label: Option<String>,
    },
    /// A guest viewer of one show.
    Viewer {
        show_id: ShowId,
        viewer_id: ViewerId,
        name: String,
    },
    /// A moderator of every show of one creator, current and future (`POST /api/me/moderators`);
    /// revoked by deleting it, like an invitation.
    CreatorModerator {
        creator_id: CreatorId,
        moderator_id: InviteId,
        label: Option<String>,
    },
}

/// A creator-wide moderator as the creator's settings list it; its token carries
/// [`Principal::CreatorModerator`] with the same id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatorWideModerator {
    #[schema(value_type = String, format = Uuid)]
    pub id: InviteId,
    pub label: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: super::Timestamp,
}

impl Principal {
    pub fn role(&self) -> Role {
        match self {
            Principal::Creator { .. } => Role::Creator,
            Principal::Moderator { .. } | Principal::CreatorModerator { .. } => Role::Moderator,
            Principal::Camera { .. } => Role::Camera,
            Principal::Viewer { .. } => Role::Viewer,
        }
    }

    /// The one show an invite or viewer token is for (`None` for creators and creator-wide
    /// moderators).
    pub fn show_id(&self) -> Option<ShowId> {
        match self {
            Principal::Creator { .. } | Principal::CreatorModerator { .. } => None,
            Principal::Moderator { show_id, .. }
            | Principal::Camera { show_id, .. }
            | Principal::Viewer { show_id, .. } => Some(*show_id),
        }
    }

    /// Whether this principal belongs to `show` at all (owner, or invited/joined for it).
    pub fn is_scoped_to(&self, show: &Show) -> bool {
        match self {
            Principal::Creator { creator_id } | Principal::CreatorModerator { creator_id, .. } => {
                *creator_id == show.creator_id
            }
            other => other.show_id() == Some(show.id),
        }
    }
}

/// Who opened a media session (WHIP or WHEP): besides the show's creator, the one principal
/// that may end or modify it. Invites are told apart by their id, viewers by theirs, so a
/// second camera, a moderator or another viewer of the same show is not the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOwner {
    Creator(CreatorId),
    Moderator(InviteId),
    Camera(InviteId),
    Viewer(ViewerId),
}

impl Principal {
    /// This principal as the owner of a session it opens.
    pub fn as_session_owner(&self) -> SessionOwner {
        match self {
            Principal::Creator { creator_id } => SessionOwner::Creator(*creator_id),
            Principal::Moderator { invite_id, .. } => SessionOwner::Moderator(*invite_id),
            Principal::CreatorModerator { moderator_id, .. } => {
                SessionOwner::Moderator(*moderator_id)
            }
            Principal::Camera { invite_id, .. } => SessionOwner::Camera(*invite_id),
            Principal::Viewer { viewer_id, .. } => SessionOwner::Viewer(*viewer_id),
        }
    }
}

/// Checks that `who` may end or modify a media session of `show` opened by `owner`: only the
/// session's owner or the show's creator.
pub fn may_control_session(
    who: &Principal,
    owner: SessionOwner,
    show: &Show,
) -> Result<(), DomainError> {
    if !who.is_scoped_to(show) {
        return Err(DomainError::forbidden(
            Code::WrongShow,
            "this token is for another show",
        ));
    }
    if matches!(who, Principal::Creator { .. }) || who.as_session_owner() == owner {
        return Ok(());
    }
    Err(DomainError::forbidden(
        Code::NotSessionOwner,
        "only the session's owner or the show's creator can end or change it",
    ))
}

/// Everything a caller can ask to do, at the granularity of roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create shows and products, import the catalog (creator, no show involved).
    ManageCatalog,
    /// Start, end, edit the lineup, mint invites, read orders of a show (its owner).
    ManageShow,
    /// Pin and unpin products (owner, moderators).
    Pin,
    /// Moderate chat (owner, moderators).
    Moderate,
    /// Chat and react (owner, moderators, viewers).
    Chat,
    /// Use a cart and check out (viewers only: a buyer has a viewer identity).
    Shop,
    /// Publish a camera over WHIP (owner, cameras).
    Publish,
    /// Watch the program feed (owner, moderators, viewers).
    Watch,
    /// Watch a single camera, list cameras (owner, moderators).
    Preview,
    /// Choose what is on air (owner).
    Direct,
    /// Create, open and stop auction lots, read their bid logs (owner, moderators).
    RunAuctions,
}

impl Action {
    /// The roles this action is open to.
    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Action::ManageCatalog | Action::ManageShow | Action::Direct => &[Creator],
            Action::Pin | Action::Moderate | Action::Preview | Action::RunAuctions => {
                &[Creator, Moderator]
            }
            Action::Chat | Action::Watch => &[Creator, Moderator, Viewer],
            Action::Shop => &[Viewer],
            Action::Publish => &[Creator, Camera],
        }
    }
}

/// Checks that `who` may perform `action` on `show` (or outside any show when `None`).
pub fn authorize(
    who: Option<&Principal>,
    action: Action,
    show: Option<&Show>,
) -> Result<(), DomainError> {
    let who = who.ok_or_else(|| {
        DomainError::unauthenticated(
            Code::MissingToken,
            "this needs a token (Authorization: Bearer)",
        )
    })?;
    if !action.roles().contains(&who.role()) {
        return Err(DomainError::forbidden(
            Code::ForbiddenRole,
            format!("a {} cannot do this", who.role().as_str()),
        ));
    }
    if let Some(show) = show
        && !who.is_scoped_to(show)
    {
        return Err(DomainError::forbidden(
            Code::WrongShow,
            "this token is for another show",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewShow, Timestamp};
    use uuid::Uuid;

    fn ids() -> (CreatorId, ShowId) {
        (CreatorId(Uuid::from_u128(1)), ShowId(Uuid::from_u128(2)))
    }

    fn show() -> Show {
        let (c, s) = ids();
        let new = NewShow {
            title: "t".into(),
            ..Default::default()
        };
        Show::schedule(s, c, new, Timestamp::default()).unwrap()
    }

    #[test]
    fn only_the_owner_or_the_creator_controls_a_session() {
        let s = show();
        let (owner, show_id) = ids();
        let camera = |n| Principal::Camera {
            show_id,
            invite_id: InviteId(Uuid::from_u128(n)),
            label: None,
        };
        let viewer = |n| Principal::Viewer {
            show_id,
            viewer_id: ViewerId(Uuid::from_u128(n)),
            name: "v".into(),
        };
        let moderator = Principal::Moderator {
            show_id,
            invite_id: InviteId(Uuid::from_u128(30)),
            label: None,
        };
        let creator = Principal::Creator { creator_id: owner };
        let stranger = Principal::Creator {
            creator_id: CreatorId(Uuid::from_u128(77)),
        };
        let code = |who: &Principal, owner| {
            may_control_session(who, owner, &s)
                .err()
                .map(|e| e.code.as_str())
        };
        let cam_session = camera(10).as_session_owner();
        let viewer_session = viewer(20).as_session_owner();
        // Owners and the show's creator.
        assert_eq!(code(&camera(10), cam_session), None);
        assert_eq!(code(&viewer(20), viewer_session), None);
        assert_eq!(code(&creator, cam_session), None);
        assert_eq!(code(&creator, viewer_session), None);
        // Everyone else of the same show, and another creator.
        for who in [&camera(11), &viewer(21), &moderator] {
            assert_eq!(code(who, cam_session), Some("not_session_owner"), "{who:?}");
            assert_eq!(
                code(who, viewer_session),
                Some("not_session_owner"),
                "{who:?}"
            );
        }
        // The same viewer id through a token for another show is not the owner either.
        let elsewhere = Principal::Viewer {
            show_id: ShowId(Uuid::from_u128(99)),
            viewer_id: ViewerId(Uuid::from_u128(20)),
            name: "v".into(),
        };
        assert_eq!(code(&elsewhere, viewer_session), Some("wrong_show"));
        assert_eq!(code(&stranger, cam_session), Some("wrong_show"));
    }

    #[test]
    fn a_creator_wide_moderator_moderates_every_show_of_its_creator_only() {
        let s = show();
        let (owner, _) = ids();
        let theirs = Principal::CreatorModerator {
            creator_id: owner,
            moderator_id: InviteId(Uuid::from_u128(40)),
            label: Some("Sam".into()),
        };
        assert_eq!(theirs.role(), Role::Moderator);
        assert_eq!(theirs.show_id(), None);
        for action in [Action::Moderate, Action::Pin, Action::Chat, Action::Watch] {
            assert!(
                authorize(Some(&theirs), action, Some(&s)).is_ok(),
                "{action:?}"
            );
        }
        for action in [
            Action::ManageShow,
            Action::ManageCatalog,
            Action::Direct,
            Action::Shop,
        ] {
            assert_eq!(
                authorize(Some(&theirs), action, Some(&s)).unwrap_err().code,
                "forbidden_role"
            );
        }
        let elsewhere = Principal::CreatorModerator {
            creator_id: CreatorId(Uuid::from_u128(77)),
            moderator_id: InviteId(Uuid::from_u128(40)),
            label: None,
        };
        assert_eq!(
            authorize(Some(&elsewhere), Action::Moderate, Some(&s))
                .unwrap_err()
                .code,
            "wrong_show"
        );
        // The token's claims name its kind.
        let claims = serde_json::to_value(&theirs).unwrap();
        assert_eq!(claims["role"], "creator_moderator");
        assert_eq!(serde_json::from_value::<Principal>(claims).unwrap(), theirs);
    }

    #[test]
    fn every_action_checks_role_and_scope() {
        let s = show();
        let (owner, show_id) = ids();
        let other_show = ShowId(Uuid::from_u128(9));
        let invite = InviteId(Uuid::from_u128(3));
        let principals = [
            Principal::Creator { creator_id: owner },
            Principal::Moderator {
                show_id,
                invite_id: invite,
                label: None,
            },
            Principal::Camera {
                show_id,
                invite_id: invite,
                label: None,
            },
            Principal::Viewer {
                show_id,
                viewer_id: ViewerId(Uuid::from_u128(4)),
                name: "v".into(),
            },
        ];
        let actions = [
            Action::ManageShow,
            Action::Pin,
            Action::Moderate,
            Action::Chat,
            Action::Shop,
            Action::Publish,
            Action::Watch,
            Action::Preview,
            Action::Direct,
        ];
        for action in actions {
            assert_eq!(
                authorize(None, action, Some(&s)).unwrap_err().code,
                "missing_token"
            );
            for p in &principals {
                let allowed = action.roles().contains(&p.role());
                let got = authorize(Some(p), action, Some(&s));
                assert_eq!(got.is_ok(), allowed, "{action:?} by {:?}", p.role());
                if !allowed {
                    assert_eq!(got.unwrap_err().code, "forbidden_role");
                }
            }
        }
        // Right role, wrong show.
        let foreign_creator = Principal::Creator {
            creator_id: CreatorId(Uuid::from_u128(7)),
        };
        assert_eq!(
            authorize(Some(&foreign_creator), Action::ManageShow, Some(&s))
                .unwrap_err()
                .code,
            "wrong_show"
        );
        let foreign_viewer = Principal::Viewer {
            show_id: other_show,
            viewer_id: ViewerId(Uuid::from_u128(4)),
            name: "v".into(),
        };
        assert_eq!(
            authorize(Some(&foreign_viewer), Action::Shop, Some(&s))
                .unwrap_err()
                .code,
            "wrong_show"
        );
        // Cameras can never chat, moderate or buy.
        let cam = &principals[2];
        for action in [Action::Chat, Action::Moderate, Action::Shop, Action::Pin] {
            assert!(authorize(Some(cam), action, Some(&s)).is_err());
        }
    }
}
