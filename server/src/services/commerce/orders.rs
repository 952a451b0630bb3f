//! Orders as their creator and their buyer see them, and where the creator's order events are
//! delivered (the webhook; delivery itself is `commerce::webhooks`).

use super::{CommerceError, CommerceService, Shopper};
use crate::commerce::webhooks::check_url;
use crate::domain::access::Action;
use crate::domain::commerce::{Order, OrderStatus};
use crate::domain::{Code, CreatorId, DomainError, Money, Principal, ShowId};
use crate::store::Webhook;

#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ShowOrders {
    pub orders: Vec<Order>,
    /// Sum of the paid orders.
    pub total: Money,
    /// Number of paid orders.
    pub paid: usize,
}

impl CommerceService {
    /// The show's orders with the paid total (the show's creator).
    pub async fn show_orders(
        &self,
        who: Option<&Principal>,
        id: ShowId,
    ) -> Result<ShowOrders, CommerceError> {
        let show = self.show_for(who, id, Action::ManageShow).await?;
        let orders = self.commerce.orders(&show).await?;
        let mut total = Money::zero(self.default_currency(&show).await?);
        let mut paid = 0;
        for o in orders.iter().filter(|o| o.status == OrderStatus::Paid) {
            paid += 1;
            total.currency = o.total.currency;
            total.amount = total.amount.saturating_add(o.total.amount);
        }
        Ok(ShowOrders {
            orders,
            total,
            paid,
        })
    }

    /// The caller's own orders in this show (viewers).
    pub async fn my_orders(
        &self,
        who: Option<&Principal>,
        id: ShowId,
    ) -> Result<Vec<Order>, CommerceError> {
        let Shopper { show, viewer, .. } = self.shopper(who, id).await?;
        Ok(self.commerce.viewer_orders(&show, viewer).await?)
    }

    /// Sets where the creator's order events are delivered, with a new signing secret.
    pub async fn set_webhook(
        &self,
        creator: CreatorId,
        url: &str,
    ) -> Result<Webhook, CommerceError> {
        let url = check_url(url, self.settings.webhook_allow_private)?;
        let hook = Webhook {
            url: url.to_string(),
            secret: crate::auth::random_secret(),
        };
        self.commerce.set_webhook(creator, Some(&hook)).await?;
        Ok(hook)
    }

    /// The creator's webhook, or the refusal `no_webhook`.
    pub async fn webhook(&self, creator: CreatorId) -> Result<Webhook, CommerceError> {
        match self.commerce.webhook(creator).await? {
            Some(hook) => Ok(hook),
            None => Err(DomainError::not_found(Code::NoWebhook, "no webhook is set").into()),
        }
    }

    /// Stops delivering the creator's order events.
    pub async fn delete_webhook(&self, creator: CreatorId) -> Result<(), CommerceError> {
        Ok(self.commerce.set_webhook(creator, None).await?)
    }
}
