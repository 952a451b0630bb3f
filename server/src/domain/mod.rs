//! Pure rules of the product, with no I/O: ids, money, the show lifecycle, the catalog,
//! display names, which addresses webhooks may reach, and who may do what.
//!
//! Nothing here imports tokio, axum, redis or webrtc. Time, ids and randomness come in as
//! arguments, so every rule is a plain unit test. Adapters (store, http, hub, media) call in
//! and perform the effects.

pub mod access;
pub mod account;
pub mod auction;
pub mod catalog;
pub mod chapter;
pub mod chat;
pub mod code;
pub mod commerce;
pub mod error;
pub mod export;
pub mod ice;
pub mod ids;
pub mod import;
pub mod limits;
pub mod media_ids;
pub mod moderation;
pub mod money;
pub mod names;
pub mod net;
pub mod protocol;
pub mod replay;
pub mod replay_stats;
pub mod show;
pub mod whole;

pub use access::{Action, Principal, Role, SessionOwner};
pub use catalog::{NewProduct, Product, ProductEdit};
pub use error::{Code, DomainError};
pub use ids::{CreatorId, InviteId, OrderId, ProductId, ShowId, ViewerId};
pub use money::{Currency, Money};
pub use show::{NewShow, Show, ShowEdit, ShowStatus, ShowsWhen};

/// Current time as the domain sees it: UTC with millisecond precision.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// A creator account: the owner of a catalog and of shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Creator {
    pub id: CreatorId,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl Creator {
    pub fn new(id: CreatorId, name: &str, now: Timestamp) -> Result<Self, DomainError> {
        let name = names::display_name(name).map_err(|_| {
            DomainError::invalid(
                Code::InvalidName,
                "creator name must be 1-32 printable characters",
            )
        })?;
        Ok(Creator {
            id,
            name,
            created_at: now,
        })
    }
}

/// A guest viewer's identity within one show: the name others see in chat and purchases.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Viewer {
    pub id: ViewerId,
    pub show_id: ShowId,
    pub display_name: String,
    pub created_at: Timestamp,
}
