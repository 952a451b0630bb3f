//! RedisStore's leases: one key per name, `{prefix}:lease:<name>`, holding the holder and
//! expiring with the lease.

use async_trait::async_trait;
use redis::Script;

use super::{RedisStore, redis_error};
use crate::store::{LeaseStore, StoreError};

#[async_trait]
impl LeaseStore for RedisStore {
    async fn lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        static LEASE: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| {
            Script::new(
                r"
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
",
            )
        });
        let key = self.keys.global(&format!("lease:{name}"));
        let ms = ttl.as_millis().max(1) as u64;
        self.guard("lease", async {
            let won: i64 = LEASE
                .key(key)
                .arg(holder)
                .arg(ms)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            Ok(won == 1)
        })
        .await
    }

    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let key = self.keys.global(&format!("lease:{name}"));
        self.guard("lease_holder", async {
            redis::cmd("GET")
                .arg(key)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
    }
}
