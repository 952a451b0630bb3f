//! MemoryStore's leases: a holder and a deadline (this process's monotonic clock) per name.

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::{LeaseStore, StoreError};

#[async_trait]
impl LeaseStore for MemoryStore {
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let now = std::time::Instant::now();
        Ok(self.with(|s| match s.leases.get(name) {
            Some((owner, until)) if owner != holder && *until > now => false,
            _ => {
                s.leases
                    .insert(name.to_string(), (holder.to_string(), now + ttl));
                true
            }
        }))
    }

    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let now = std::time::Instant::now();
        Ok(self.with(|s| {
            s.leases
                .get(name)
                .filter(|(_, until)| *until > now)
                .map(|(holder, _)| holder.clone())
        }))
    }
}
