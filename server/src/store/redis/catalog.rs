//! RedisStore's catalog area: products (the record as JSON, the stock in the creator's stock
//! hash, the SKU index, the catalog listing) and show lineups.

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::named::{named_plain_script, script_params};
use super::{Keys, RedisStore, decode, encode, eval, evalsha, parse_id, redis_error, score};
use crate::domain::{CreatorId, Product, ProductId, Show, Timestamp};
use crate::store::{CatalogStore, LineupRemoval, Page, PageAfter, ProductInsert, StoreError};

script_params! {
    /// The product scripts' named keys.
    struct ProductKeys<'a> {
        skus: &'a str,
        product: &'a str,
        stock: &'a str,
        catalog: &'a str,
    }
}

script_params! {
    /// The product scripts' named arguments.
    struct ProductArgs<'a> {
        product_id: &'a str,
        sku: &'a str,
        json: &'a str,
        stock: i64,
        created_ms: i64,
    }
}

/// Inserts a product unless its creator already uses the SKU or already has the most products
/// allowed (the catalog's size, the argument after the named ones).
/// Returns 1 inserted, 0 duplicate SKU, -1 over the quota.
const INSERT_PRODUCT: &str = r"
if redis.call('HEXISTS', k.skus, a.sku) == 1 then return 0 end
if redis.call('ZCARD', k.catalog) >= tonumber(ARGV[#arg_names + 1]) then return -1 end
redis.call('HSET', k.skus, a.sku, a.product_id)
redis.call('SET', k.product, a.json)
redis.call('HSET', k.stock, a.product_id, a.stock)
redis.call('ZADD', k.catalog, a.created_ms, a.product_id)
return 1
";
static INSERT_PRODUCT_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| named_plain_script(ProductKeys::NAMES, ProductArgs::NAMES, INSERT_PRODUCT));

/// Replaces a product (stock included) and moves its SKU index entry if the SKU changed.
/// Returns -1 when the stored record is not JSON.
const UPDATE_PRODUCT: &str = r"
local old = redis.call('GET', k.product)
if old then
  local ok, rec = pcall(cjson.decode, old)
  if not ok or type(rec) ~= 'table' or type(rec.sku) ~= 'string' then return -1 end
  if rec.sku ~= a.sku then
    if redis.call('HGET', k.skus, rec.sku) == a.product_id then
      redis.call('HDEL', k.skus, rec.sku)
    end
    redis.call('HSET', k.skus, a.sku, a.product_id)
  end
end
redis.call('SET', k.product, a.json)
redis.call('HSET', k.stock, a.product_id, a.stock)
redis.call('ZADD', k.catalog, a.created_ms, a.product_id)
return 1
";
static UPDATE_PRODUCT_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| named_plain_script(ProductKeys::NAMES, ProductArgs::NAMES, UPDATE_PRODUCT));

/// An `EVALSHA` of a product script with `product`'s named keys and arguments.
fn product_call(
    store: &RedisStore,
    script: &Script,
    product: &Product,
) -> Result<redis::Cmd, StoreError> {
    let c = product.creator_id;
    let mut call = evalsha(script, ProductKeys::NAMES.len());
    ProductKeys {
        skus: &store.keys.skus(c),
        product: &store.keys.product(c, product.id),
        stock: &store.keys.stock(c),
        catalog: &store.keys.catalog(c),
    }
    .push(&mut call);
    ProductArgs {
        product_id: &product.id.to_string(),
        sku: &product.sku,
        json: &encode_product(product)?,
        stock: product.stock,
        created_ms: score(product.created_at),
    }
    .push(&mut call);
    Ok(call)
}

/// Appends a product to a lineup once; scores count up, so ZRANGE is insertion order.
/// KEYS: lineup. ARGV: product id.
const ADD_TO_LINEUP: &str = r"
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local n = 1
if last[2] then n = tonumber(last[2]) + 1 end
redis.call('ZADD', KEYS[1], n, ARGV[1])
return 1
";
static ADD_TO_LINEUP_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ADD_TO_LINEUP));

/// A creator's edit of a product: saves the record if it was last updated at the expected
/// time, and sets the stock when one is given (checkouts change the stock hash alone, so a
/// record edit never undoes one).
/// KEYS: product, stock. ARGV: expected updated_at, json, product id, stock or ''.
/// Returns {1, stock} saved, {0} changed or gone, {-1} stored record bad.
const EDIT_PRODUCT: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then return {0} end
local ok, rec = pcall(cjson.decode, cur)
if not ok or type(rec) ~= 'table' then return {-1} end
if rec.updated_at ~= ARGV[1] then return {0} end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], ARGV[3], ARGV[4]) end
return {1, redis.call('HGET', KEYS[2], ARGV[3])}
";
static EDIT_PRODUCT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(EDIT_PRODUCT));

/// Takes a product out of a lineup unless the show has it pinned.
/// KEYS: lineup, pins. ARGV: product id. Returns 1 removed, 0 not in the lineup, -1 pinned,
/// -2 a stored pin is not JSON.
const REMOVE_FROM_LINEUP: &str = r"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
for _, raw in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local ok, pin = pcall(cjson.decode, raw)
  if not ok or type(pin) ~= 'table' then return -2 end
  if pin.product_id == ARGV[1] then return -1 end
end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
";
static REMOVE_FROM_LINEUP_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(REMOVE_FROM_LINEUP));

impl Keys {
    fn skus(&self, c: CreatorId) -> String {
        format!("{}:skus", self.tag(c))
    }
    fn catalog(&self, c: CreatorId) -> String {
        format!("{}:products", self.tag(c))
    }
}

impl RedisStore {
    async fn product_owner(&self, id: ProductId) -> Result<Option<CreatorId>, StoreError> {
        if let Some(c) = self.owners(|o| o.products.get(&id).copied()) {
            return Ok(Some(c));
        }
        let owner = self.indexed_owner("idx:product", &id.to_string()).await?;
        if let Some(c) = owner {
            self.owners(|o| o.products.insert(id, c));
        }
        Ok(owner)
    }

    /// Reads one product record and its stock, if the record exists.
    async fn load_product(
        &self,
        creator: CreatorId,
        id: ProductId,
    ) -> Result<Option<Product>, StoreError> {
        let (json, stock): (Option<String>, Option<String>) = redis::pipe()
            .cmd("GET")
            .arg(self.keys.product(creator, id))
            .cmd("HGET")
            .arg(self.keys.stock(creator))
            .arg(id.to_string())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        match json {
            Some(json) => decode_product(&json, stock.as_deref()).map(Some),
            None => Ok(None),
        }
    }

    /// The product records (with stock) of catalog members (product ids), in no particular
    /// order; a member whose record is gone is skipped.
    async fn load_products(
        &self,
        creator: CreatorId,
        members: &[String],
    ) -> Result<Vec<Product>, StoreError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let ids = members
            .iter()
            .map(|m| parse_id::<ProductId>(m, "catalog"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut records = redis::cmd("MGET");
        let mut stock = redis::cmd("HMGET");
        stock.arg(self.keys.stock(creator));
        for id in &ids {
            records.arg(self.keys.product(creator, *id));
            stock.arg(id.to_string());
        }
        let (raws, stocks): (Vec<Option<String>>, Vec<Option<String>>) = redis::pipe()
            .add_command(records)
            .add_command(stock)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        raws.iter()
            .zip(&stocks)
            .filter_map(|(raw, stock)| raw.as_ref().map(|r| (r, stock)))
            .map(|(raw, stock)| decode_product(raw, stock.as_deref()))
            .collect()
    }

    /// Writes the product's index entry unless this process already knows it.
    async fn index_product(&self, product: &Product) -> Result<(), StoreError> {
        if self.owners(|o| o.products.contains_key(&product.id)) {
            return Ok(());
        }
        redis::cmd("HSET")
            .arg(self.keys.global("idx:product"))
            .arg(product.id.to_string())
            .arg(product.creator_id.to_string())
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        self.owners(|o| o.products.insert(product.id, product.creator_id));
        Ok(())
    }
}

#[async_trait]
impl CatalogStore for RedisStore {
    async fn insert_product_within(
        &self,
        product: &Product,
        max_products: u64,
    ) -> Result<ProductInsert, StoreError> {
        self.guard("insert_product", async {
            let mut call = product_call(self, &INSERT_PRODUCT_SCRIPT, product)?;
            call.arg(max_products);
            let inserted: i64 = eval(&mut self.conn.clone(), &INSERT_PRODUCT_SCRIPT, &call)
                .await
                .map_err(redis_error)?;
            match inserted {
                1 => {}
                0 => return Ok(ProductInsert::DuplicateSku),
                _ => return Ok(ProductInsert::OverQuota),
            }
            self.index_product(product).await?;
            Ok(ProductInsert::Inserted)
        })
        .await
    }

    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        self.guard("update_product", async {
            let call = product_call(self, &UPDATE_PRODUCT_SCRIPT, product)?;
            let outcome: i64 = eval(&mut self.conn.clone(), &UPDATE_PRODUCT_SCRIPT, &call)
                .await
                .map_err(redis_error)?;
            if outcome != 1 {
                return Err(StoreError::Corrupt(format!(
                    "product {} is not JSON",
                    product.id
                )));
            }
            self.index_product(product).await
        })
        .await
    }

    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        self.guard("product", async {
            match self.product_owner(id).await? {
                Some(creator) => self.load_product(creator, id).await,
                None => Ok(None),
            }
        })
        .await
    }

    async fn product_by_sku(
        &self,
        creator: CreatorId,
        sku: &str,
    ) -> Result<Option<Product>, StoreError> {
        self.guard("product_by_sku", async {
            let raw: Option<String> = redis::cmd("HGET")
                .arg(self.keys.skus(creator))
                .arg(sku)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            match raw {
                Some(raw) => {
                    let id = parse_id::<ProductId>(&raw, "SKU index")?;
                    self.load_product(creator, id).await
                }
                None => Ok(None),
            }
        })
        .await
    }

    async fn products(&self, creator: CreatorId) -> Result<Vec<Product>, StoreError> {
        self.guard("products", async {
            let members: Vec<String> = redis::cmd("ZRANGE")
                .arg(self.keys.catalog(creator))
                .arg(0)
                .arg(-1)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            let mut list = self.load_products(creator, &members).await?;
            list.sort_by_key(PageAfter::product);
            Ok(list)
        })
        .await
    }

    async fn products_page(
        &self,
        creator: CreatorId,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Product>, StoreError> {
        self.guard("products_page", async {
            let key = self.keys.catalog(creator);
            self.page_of(
                &key,
                after,
                limit,
                PageAfter::product,
                |members| async move { self.load_products(creator, &members).await },
            )
            .await
        })
        .await
    }

    async fn add_to_lineup(&self, show: &Show, product: ProductId) -> Result<(), StoreError> {
        self.guard("add_to_lineup", async {
            let _: i64 = ADD_TO_LINEUP_SCRIPT
                .key(self.keys.lineup(show))
                .arg(product.to_string())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            Ok(())
        })
        .await
    }

    async fn lineup(&self, show: &Show) -> Result<Vec<ProductId>, StoreError> {
        self.guard("lineup", async {
            let members: Vec<String> = redis::cmd("ZRANGE")
                .arg(self.keys.lineup(show))
                .arg(0)
                .arg(-1)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            members
                .iter()
                .map(|m| parse_id::<ProductId>(m, "lineup"))
                .collect()
        })
        .await
    }

    async fn edit_product(
        &self,
        product: &Product,
        expected: Timestamp,
        stock: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        self.guard("edit_product", async {
            let c = product.creator_id;
            let expected = serde_json::to_value(expected)
                .map_err(|e| StoreError::Corrupt(format!("cannot encode a time: {e}")))?;
            let outcome: Vec<redis::Value> = EDIT_PRODUCT_SCRIPT
                .key(self.keys.product(c, product.id))
                .key(self.keys.stock(c))
                .arg(expected.as_str().unwrap_or_default())
                .arg(encode_product(product)?)
                .arg(product.id.to_string())
                .arg(stock.map(|n| n.to_string()).unwrap_or_default())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            let number = |v: Option<&redis::Value>| -> Option<i64> {
                redis::from_redis_value::<i64>(v?.clone()).ok()
            };
            match number(outcome.first()) {
                Some(1) => number(outcome.get(1)).map(Some).ok_or_else(|| {
                    StoreError::Corrupt(format!("product {} has no stock entry", product.id))
                }),
                Some(0) => Ok(None),
                _ => Err(StoreError::Corrupt(format!(
                    "product {} is not JSON",
                    product.id
                ))),
            }
        })
        .await
    }

    async fn remove_from_lineup(
        &self,
        show: &Show,
        product: ProductId,
    ) -> Result<LineupRemoval, StoreError> {
        self.guard("remove_from_lineup", async {
            let outcome: i64 = REMOVE_FROM_LINEUP_SCRIPT
                .key(self.keys.lineup(show))
                .key(self.keys.pins(show))
                .arg(product.to_string())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            match outcome {
                1 => Ok(LineupRemoval::Removed),
                0 => Ok(LineupRemoval::NotInLineup),
                -1 => Ok(LineupRemoval::Pinned),
                _ => Err(StoreError::Corrupt(format!(
                    "a pin of show {} is not JSON",
                    show.id
                ))),
            }
        })
        .await
    }

    async fn product_count(&self, creator: CreatorId) -> Result<u64, StoreError> {
        self.guard("product_count", async {
            redis::cmd("ZCARD")
                .arg(self.keys.catalog(creator))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
    }
}

/// The product record without `stock`, which lives in the creator's stock hash.
fn encode_product(product: &Product) -> Result<String, StoreError> {
    let mut value = serde_json::to_value(product)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))?;
    if let Some(fields) = value.as_object_mut() {
        fields.remove("stock");
    }
    encode(&value)
}

fn decode_product(raw: &str, stock: Option<&str>) -> Result<Product, StoreError> {
    let stock: i64 = stock
        .ok_or_else(|| StoreError::Corrupt("product has no stock entry".into()))?
        .parse()
        .map_err(|_| StoreError::Corrupt("product stock is not an integer".into()))?;
    let mut value: serde_json::Value = decode(raw, "product")?;
    let fields = value
        .as_object_mut()
        .ok_or_else(|| StoreError::Corrupt("stored product is not an object".into()))?;
    fields.insert("stock".into(), stock.into());
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt(format!("stored product: {e}")))
}
