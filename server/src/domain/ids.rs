//! Newtyped identifiers, so a show id can never be passed where a product id is expected.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps a fresh uuid produced by the caller (the domain never makes randomness).
            pub fn from_uuid(id: Uuid) -> Self {
                $name(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }
    };
}

id_type!(
    /// A show (one live broadcast, scheduled, live or ended).
    ShowId
);
id_type!(
    /// A product in a creator's catalog.
    ProductId
);
id_type!(
    /// A creator account.
    CreatorId
);
id_type!(
    /// A guest viewer identity inside one show.
    ViewerId
);
id_type!(
    /// One minted moderator or camera invitation.
    InviteId
);
id_type!(
    /// An order placed by a checkout (serialised as the bare uuid, like every id here).
    OrderId
);
