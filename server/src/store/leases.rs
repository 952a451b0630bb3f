//! The coordination area of the store: named leases, so one node at a time does a job
//! ([`LeaseStore`]).

use async_trait::async_trait;

use super::StoreError;

/// Named leases with a holder and a lifetime.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Takes or renews the named lease for `holder` for `ttl`; `false` while another holder
    /// has it. Nodes use it so that one of them at a time does a job (e.g. delivering one
    /// merchant's webhooks, in order).
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError>;

    /// Who holds the named lease now, if anyone (e.g. which node is a show's media home).
    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError>;
}
