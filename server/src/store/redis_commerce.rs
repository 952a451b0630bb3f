//! RedisStore's commerce operations: pins and deals, carts, the checkout, orders and their
//! reservations, webhooks and the outbox. [`super::MemoryStore`] is the reference: every
//! function here has the same observable behaviour, and tests/commerce_store.rs runs one
//! contract against both.
//!
//! Key layout. Everything that belongs to a show lives under its creator's hash tag
//! (`{prefix}:{c:<creator>}:…`, see `redis.rs`), beside the creator's stock hash and product
//! records, so every script below touches one Cluster slot:
//!
//! | key (after `{prefix}:{c:<creator>}:`)  | type   | content                                      |
//! |----------------------------------------|--------|----------------------------------------------|
//! | `show:<s>:pins`                        | list   | `Pin` JSON, in pinning order                 |
//! | `show:<s>:deal-remaining`              | hash   | product → deal units neither sold nor held   |
//! | `show:<s>:deal-buyers:<p>`             | hash   | viewer → deal units bought or held           |
//! | `show:<s>:cart:<v>`                    | hash   | product → `CartLine` JSON; TTL 7 days, refreshed by every write |
//! | `show:<s>:orders`                      | hash   | order id → `Order` JSON                      |
//! | `show:<s>:order-ids`                   | zset   | order id, scored 1, 2, 3… in creation order  |
//! | `show:<s>:viewer-orders:<v>`           | list   | one viewer's order ids, oldest first         |
//! | `show:<s>:idempotency`                 | hash   | `<viewer>:<key>` → `{order, cart, body}`     |
//! | `show:<s>:reservations`                | zset   | pending order id → `reserved_until` in ms    |
//! | `show:<s>:reservations-indexed`        | string | `1` once the show is in `reservation-shows`  |
//! | `outbox`                               | stream | order events; consumer group `webhooks`      |
//! | `outbox-ids`                           | hash   | event id → stream entry id (for the ack)     |
//! | `webhook`                              | string | `Webhook` JSON                               |
//!
//! Two global sets say where the background workers must look: `reservation-shows` (shows
//! that may hold reservations) and `webhook-creators`. A show enters `reservation-shows`
//! *before* its first reservation exists, so a crash can never leave a reservation the
//! sweeper does not know of: the checkout script creates a reservation only when the show's
//! `reservations-indexed` marker (in the creator's slot) is set, and otherwise answers
//! `unindexed`, writing nothing; the caller then adds the show to the global set and, once
//! Redis has acknowledged that, runs the script again telling it so, and the script sets the
//! marker with the reservation. The marker is only ever set after the acknowledged `SADD`, and
//! nothing removes either, so every show with a reservation is in the set; checkouts that
//! reserve nothing (a sold-out drop) never touch the global set.
//!
//! Atomicity. Each change is one Lua script that reads and writes only keys it was given
//! (Cluster routes a script by its declared keys). Keys that depend on data (product records
//! and deal-buyer hashes of the cart's or order's products) are declared from what the caller
//! expects; when the script finds data the caller did not foresee it writes nothing and
//! answers `retry`, and the caller tries again. Expiring declares them from a read made just
//! before; settling an order the checkout just answered with declares them from that answer
//! (an order's lines never change), other settlements from a read. The checkout declares the
//! products this node last saw in the viewer's cart (none if it saw none) and, on `retry`,
//! exactly the products the script reports it found in the cart (it has read only the
//! declared cart key by then), so a checkout is usually one round trip and at most two while
//! the cart holds still.
//!
//! Numbers and time in Lua. Lua numbers are doubles: integers are exact up to 2^53, and
//! every amount here is at most `MAX_AMOUNT` (10^12) × `MAX_CART_QUANTITY` ×
//! `MAX_CART_ITEMS` = 2·10^15 < 2^53. But `cjson.encode` and `tostring` print numbers with 14
//! significant digits (10^14 becomes `1e+14`), so no JSON that holds an amount is ever
//! written by cjson: orders are written field by field with `string.format('%d')`
//! (`order_json`), and pins and products stay as Rust wrote them. A total that would leave
//! the exact range is refused as `invalid_quantity` (Rust refuses only past `i64::MAX`; the
//! domain's limits keep both far below either). Timestamps stay the RFC 3339 strings chrono
//! writes; scripts compare them through `tkey`, which turns one into 23 digits that sort like
//! the instant (nanosecond precision, like the memory store's comparisons).
//!
//! Outbox. Each event is a stream entry with fields `id` (a UUIDv7, the stable id receivers
//! deduplicate on), `kind`, `at` and `order` (the order as it was at the event). The delivered
//! body is built from them by [`event_body`] when read, so it is exactly the memory store's.
//! `outbox_pending` reads through the consumer group with one consumer name: first the
//! entries delivered before and never acknowledged (id `0`), then new ones (`>`); reading
//! again returns the same events until they are acknowledged, also from a new process.
//! `outbox_ack` acknowledges (XACK) and deletes (XDEL) the entry, bounding the stream.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use redis::{RedisError, Script, Value};

use super::StoreError;
use super::commerce::{
    CheckoutOutcome, CheckoutRequest, Completion, OutboxEvent, PinState, Webhook, event_body,
};
use super::redis::{
    Keys, MAX_CART_HINTS, MAX_SHOW_KEYS, RedisStore, decode, encode, parse_id, redis_error, score,
};
use crate::domain::commerce::{CartLine, CartLines, DealState, MAX_PINS, Order, Pin, add_pin};
use crate::domain::{CreatorId, DomainError, ProductId, Show, ShowId, Timestamp, ViewerId};

/// A cart's lifetime, refreshed by every write to it.
pub const CART_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// The outbox stream's consumer group.
pub const OUTBOX_GROUP: &str = "webhooks";
/// The one consumer of the group: every node reads the same pending entries (at least once).
const OUTBOX_CONSUMER: &str = "delivery";
/// Reads-then-script rounds before a checkout (or settlement) gives up on a changing cart.
const ATTEMPTS: usize = 8;
const EXPIRED: &str = "the reservation expired before the payment finished";

impl Keys {
    fn show_key(&self, show: &Show, what: &str) -> String {
        self.show_part(show.creator_id, show.id, what)
    }
    fn pins(&self, show: &Show) -> String {
        self.show_key(show, "pins")
    }
    fn deal_remaining(&self, show: &Show) -> String {
        self.show_key(show, "deal-remaining")
    }
    fn deal_buyers(&self, show: &Show, product: ProductId) -> String {
        self.show_part(
            show.creator_id,
            show.id,
            format_args!("deal-buyers:{product}"),
        )
    }
    fn cart(&self, show: &Show, viewer: ViewerId) -> String {
        self.show_part(show.creator_id, show.id, format_args!("cart:{viewer}"))
    }
    fn orders(&self, show: &Show) -> String {
        self.show_key(show, "orders")
    }
    fn order_ids(&self, show: &Show) -> String {
        self.show_key(show, "order-ids")
    }
    fn viewer_orders(&self, show: &Show, viewer: ViewerId) -> String {
        self.show_part(
            show.creator_id,
            show.id,
            format_args!("viewer-orders:{viewer}"),
        )
    }
    fn idempotency(&self, show: &Show) -> String {
        self.show_key(show, "idempotency")
    }
    fn reservations(&self, show: &Show) -> String {
        self.show_key(show, "reservations")
    }
    fn reservations_indexed(&self, show: &Show) -> String {
        self.show_key(show, "reservations-indexed")
    }
    fn outbox(&self, creator: CreatorId) -> String {
        format!("{}:outbox", self.tag(creator))
    }
    fn outbox_ids(&self, creator: CreatorId) -> String {
        format!("{}:outbox-ids", self.tag(creator))
    }
    fn webhook(&self, creator: CreatorId) -> String {
        format!("{}:webhook", self.tag(creator))
    }
    fn reservation_shows(&self) -> String {
        self.global("reservation-shows")
    }
    fn webhook_creators(&self) -> String {
        self.global("webhook-creators")
    }
}

// ---- Lua ----------------------------------------------------------------------------------

/// Helpers every commerce script starts with.
const PRELUDE: &str = r#"
local function corrupt(what) error({err = 'CORRUPT ' .. what}) end

local function decode(raw, what)
  local ok, v = pcall(cjson.decode, raw)
  if not ok or type(v) ~= 'table' then corrupt(what .. ' is not JSON') end
  return v
end

local function present(v) return v ~= nil and v ~= cjson.null end

-- Byte order whatever the server's locale (Lua compares strings with strcoll).
local function before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- chrono's RFC 3339 UTC ('2026-11-22T15:52:40.442510407Z', 0 to 9 decimals) as 23 digits
-- that sort like the instants they name.
local function tkey(s)
  if type(s) ~= 'string' then corrupt('a timestamp is not a string') end
  local y, mo, d, h, mi, se, frac = string.match(s,
    '^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)%.?(%d*)Z$')
  if not y or #frac > 9 then corrupt('timestamp ' .. s) end
  return y .. mo .. d .. h .. mi .. se .. frac .. string.rep('0', 9 - #frac)
end

-- An integer as digits (tostring and cjson write 10^14 as 1e+14).
local function int(n)
  if type(n) ~= 'number' then corrupt('expected a number') end
  return string.format('%d', n)
end

-- A JSON string as serde_json writes it (cjson also escapes '/').
local function str(s)
  if type(s) ~= 'string' then corrupt('expected a string') end
  return (string.gsub(cjson.encode(s), '\\/', '/'))
end

local function money(m)
  if type(m) ~= 'table' then corrupt('expected money') end
  return '{"amount":' .. int(m.amount) .. ',"currency":' .. str(m.currency) .. '}'
end

local function opt(v)
  if present(v) then return str(v) end
  return 'null'
end

-- The address key an order's deal units count under, kept with the order for its release;
-- `Order` has no such field, so serde reads past it and the API never shows it.
local function address_json(a)
  if type(a) ~= 'string' or a == '' then return '' end
  return ',"buyer_address":' .. str(a)
end

-- An order, field for field as serde_json writes domain::commerce::Order.
local function order_json(o)
  local items = {}
  for i, l in ipairs(o.items) do
    items[i] = '{"product_id":' .. str(l.product_id) .. ',"title":' .. str(l.title)
      .. ',"quantity":' .. int(l.quantity) .. ',"unit_price":' .. money(l.unit_price)
      .. ',"deal":' .. (l.deal == true and 'true' or 'false') .. '}'
  end
  return '{"id":' .. str(o.id) .. ',"show_id":' .. str(o.show_id)
    .. ',"viewer_id":' .. str(o.viewer_id) .. ',"buyer_name":' .. str(o.buyer_name)
    .. ',"status":' .. str(o.status) .. ',"items":[' .. table.concat(items, ',') .. ']'
    .. ',"total":' .. money(o.total) .. ',"created_at":' .. str(o.created_at)
    .. ',"reserved_until":' .. str(o.reserved_until) .. ',"paid_at":' .. opt(o.paid_at)
    .. ',"failure":' .. opt(o.failure) .. address_json(o.buyer_address) .. '}'
end

local function read_pins(key)
  local pins = {}
  for _, raw in ipairs(redis.call('LRANGE', key, 0, -1)) do
    pins[#pins + 1] = decode(raw, 'a pin')
  end
  return pins
end

-- {'ok', pin JSON, remaining, pin JSON, remaining, ...}
local function pin_states(pins_key, remaining_key)
  local out = {'ok'}
  for _, raw in ipairs(redis.call('LRANGE', pins_key, 0, -1)) do
    local p = decode(raw, 'a pin')
    out[#out + 1] = raw
    out[#out + 1] = redis.call('HGET', remaining_key, p.product_id) or '0'
  end
  return out
end

-- ARGV[at] is a count n, then n product ids; their deal-buyer keys are KEYS[base + 1 ..].
local function declared(at, base)
  local map = {}
  for i = 1, tonumber(ARGV[at]) do map[ARGV[at + i]] = KEYS[base + i] end
  return map
end

-- Whether every deal line's buyers key was declared.
local function covers(buyers, o)
  for _, l in ipairs(o.items) do
    if l.deal == true and not buyers[l.product_id] then return false end
  end
  return true
end

local function append_event(stream, ids, event_id, kind, at, json)
  local entry = redis.call('XADD', stream, '*', 'id', event_id, 'kind', kind, 'at', at,
    'order', json)
  redis.call('HSET', ids, event_id, entry)
end

-- Gives a pending order's stock back, and its deal units and buyer counts when the pinned
-- deal is the one they came from (it started no later than the order): State::release.
local function release(o, stock, pins_key, remaining, buyers)
  local pins = nil
  for _, l in ipairs(o.items) do
    if redis.call('HEXISTS', stock, l.product_id) == 1 then
      redis.call('HINCRBY', stock, l.product_id, int(l.quantity))
    end
    if l.deal == true then
      pins = pins or read_pins(pins_key)
      local created = tkey(o.created_at)
      local same = false
      for _, p in ipairs(pins) do
        if p.product_id == l.product_id and present(p.deal)
            and not before(created, tkey(p.deal.starts_at)) then
          same = true
          break
        end
      end
      if same then
        redis.call('HINCRBY', remaining, l.product_id, int(l.quantity))
        local key = buyers[l.product_id]
        for _, who in ipairs({o.viewer_id, o.buyer_address}) do
          if type(who) == 'string' and who ~= '' then
            local n = redis.call('HGET', key, who)
            if n then
              redis.call('HSET', key, who, int(math.max(tonumber(n) - l.quantity, 0)))
            end
          end
        end
      end
    end
  end
end
"#;

/// `add_pin` against the stored lineup and pins; a deal starts afresh.
/// KEYS: lineup, pins, deal remaining, the product's deal buyers.
/// ARGV: product id, pin JSON, the deal's quantity ('' without a deal), most pins.
const PIN: &str = r#"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {'not_in_lineup'} end
local current = redis.call('LRANGE', KEYS[2], 0, -1)
local kept = {}
for _, raw in ipairs(current) do
  if decode(raw, 'a pin').product_id ~= ARGV[1] then kept[#kept + 1] = raw end
end
if #kept >= tonumber(ARGV[4]) then
  local out = {'too_many_pins'}
  for _, raw in ipairs(current) do out[#out + 1] = raw end
  return out
end
kept[#kept + 1] = ARGV[2]
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], unpack(kept))
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
  redis.call('DEL', KEYS[4])
else
  redis.call('HSET', KEYS[3], ARGV[1], '0')
end
return pin_states(KEYS[2], KEYS[3])
"#;

/// KEYS: pins, deal remaining. ARGV: product id.
const UNPIN: &str = r#"
local kept, found = {}, false
for _, raw in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if decode(raw, 'a pin').product_id == ARGV[1] then found = true else kept[#kept + 1] = raw end
end
if not found then return {'none'} end
redis.call('DEL', KEYS[1])
if #kept > 0 then redis.call('RPUSH', KEYS[1], unpack(kept)) end
redis.call('HDEL', KEYS[2], ARGV[1])
return pin_states(KEYS[1], KEYS[2])
"#;

/// MemoryStore::checkout and `domain::commerce::plan_checkout`, line by line.
/// KEYS: 1 cart, 2 idempotency, 3 orders, 4 order ids, 5 the viewer's orders, 6 reservations,
///   7 stock, 8 pins, 9 deal remaining, 10 outbox, 11 outbox ids, 12 the show record,
///   13 the show's reservations-indexed marker; then, for each declared product, its record
///   and its deal buyers.
/// ARGV: 1 viewer, 2 idempotency field, 3 body fingerprint, 4 order id, 5 show id,
///   6 creator id, 7 buyer name, 8 now, 9 reserved until, 10 reserved until (ms), 11 event id,
///   12 '1' when the caller has just added the show to `reservation-shows`, 13 n, then n
///   declared product ids, then the buyer's address key ('' for none) and how many buyers'
///   allowances of a deal it shares (`check_address_allowance`).
/// Answers `retry` followed by the cart's product ids when they were not all declared, and
/// `unindexed` when it would reserve stock in a show without the marker and ARGV[12] is not
/// '1' (both write nothing).
const CHECKOUT: &str = r#"
local viewer = ARGV[1]
local show_raw = redis.call('GET', KEYS[12])
if show_raw and decode(show_raw, 'a show').status == 'ended' then
  return {'refused', 'show_ended', 'this show has ended'}
end
local raw = redis.call('HGETALL', KEYS[1])
local ids, lines = {}, {}
for i = 1, #raw, 2 do
  local line = decode(raw[i + 1], 'a cart line')
  if type(line.quantity) ~= 'number' then corrupt('a cart line has no quantity') end
  ids[#ids + 1] = raw[i]
  lines[raw[i]] = line
end
-- A BTreeMap<ProductId, _> iterates in the uuids' byte order, which is their text's.
table.sort(ids, before)

-- What cart_fingerprint digests: product, quantity, deal end to the millisecond.
local parts = {}
for i, id in ipairs(ids) do
  local ends = 'None'
  if present(lines[id].deal_ends_at) then ends = string.sub(tkey(lines[id].deal_ends_at), 1, 17) end
  parts[i] = id .. ':' .. int(lines[id].quantity) .. ':' .. ends .. ';'
end
local fingerprint = redis.sha1hex(table.concat(parts))

local used = redis.call('HGET', KEYS[2], ARGV[2])
if used then
  local u = decode(used, 'an idempotency record')
  if (#ids > 0 and u.cart ~= fingerprint) or u.body ~= ARGV[3] then return {'key_reused'} end
  local order = redis.call('HGET', KEYS[3], u.order)
  if not order then return {'key_reused'} end
  return {'replayed', order}
end

local slot = {}
for i = 1, tonumber(ARGV[13]) do slot[ARGV[13 + i]] = 12 + 2 * i end
for _, id in ipairs(ids) do
  if not slot[id] then return {'retry', unpack(ids)} end
end

local function refuse(code, message) return {'refused', code, message} end

local products = {}
for _, id in ipairs(ids) do
  local rec = redis.call('GET', KEYS[slot[id]])
  local p = rec and decode(rec, 'a product')
  if not p or p.creator_id ~= ARGV[6] then
    return refuse('product_not_found', 'product ' .. id .. ' is not sold in this show')
  end
  p.stock = tonumber(redis.call('HGET', KEYS[7], id))
  if not p.stock then corrupt('product ' .. id .. ' has no stock entry') end
  products[id] = p
end
if #ids == 0 then return refuse('empty_cart', 'the cart is empty') end

local pins = read_pins(KEYS[8])
local now = tkey(ARGV[8])
local currency = products[ids[1]].price.currency
local exact = 9007199254740991
local total, items = 0, {}
for i, id in ipairs(ids) do
  local line, p = lines[id], products[id]
  local pin = nil
  for _, candidate in ipairs(pins) do
    if candidate.product_id == id then pin = candidate break end
  end
  local deal = nil
  if pin and present(pin.deal) then deal = pin.deal end
  local remaining = 0
  if pin then remaining = tonumber(redis.call('HGET', KEYS[9], id)) or 0 end
  local bought = tonumber(redis.call('HGET', KEYS[slot[id] + 1], viewer)) or 0
  -- price_in_effect: Deal::is_open
  local open = deal ~= nil and not before(now, tkey(deal.starts_at))
    and before(now, tkey(deal.ends_at)) and remaining > 0
  local unit = p.price
  if open then unit = deal.price end
  if unit.currency ~= currency then
    return refuse('currency_mismatch', 'a cart holds products of one currency')
  end
  if present(line.deal_ends_at) and not open then
    if deal == nil or not before(now, tkey(deal.ends_at)) then
      return refuse('deal_ended', 'the deal on ' .. p.title .. ' has ended')
    end
    return refuse('sold_out', 'the deal on ' .. p.title .. ' is sold out')
  end
  if line.quantity > p.stock then return refuse('sold_out', p.title .. ' is sold out') end
  if open then
    if line.quantity > remaining then
      return refuse('sold_out', 'the deal on ' .. p.title .. ' is sold out')
    end
    if bought + line.quantity > deal.per_buyer_limit then
      return refuse('over_limit', 'the deal allows ' .. int(deal.per_buyer_limit) .. ' per buyer')
    end
  end
  local amount = unit.amount * line.quantity
  total = total + amount
  if math.abs(amount) > exact or math.abs(total) > exact then
    return refuse('invalid_quantity', 'the total is too large')
  end
  items[i] = {product_id = id, title = p.title, quantity = line.quantity, unit_price = unit,
    deal = open}
end

-- check_address_allowance: a client address shares `share` buyers' allowances of each deal.
local declared_count = tonumber(ARGV[13])
local address, share = ARGV[14 + declared_count], tonumber(ARGV[15 + declared_count]) or 0
if address == nil or share <= 0 then address = '' end
if address ~= '' then
  for _, it in ipairs(items) do
    if it.deal then
      local limit = nil
      for _, candidate in ipairs(pins) do
        if candidate.product_id == it.product_id and present(candidate.deal) then
          limit = candidate.deal.per_buyer_limit
        end
      end
      local had = tonumber(redis.call('HGET', KEYS[slot[it.product_id] + 1], address)) or 0
      if limit and had + it.quantity > limit * share then
        return refuse('over_limit', 'the deal allows ' .. int(limit)
          .. ' per buyer, and buyers from one address share ' .. int(limit * share))
      end
    end
  end
end

if redis.call('EXISTS', KEYS[13]) == 0 then
  if ARGV[12] ~= '1' then return {'unindexed'} end
  redis.call('SET', KEYS[13], '1')
end
for _, it in ipairs(items) do
  redis.call('HINCRBY', KEYS[7], it.product_id, int(-it.quantity))
  if it.deal then
    redis.call('HINCRBY', KEYS[9], it.product_id, int(-it.quantity))
    redis.call('HINCRBY', KEYS[slot[it.product_id] + 1], viewer, int(it.quantity))
    if address ~= '' then
      redis.call('HINCRBY', KEYS[slot[it.product_id] + 1], address, int(it.quantity))
    end
  end
end
local json = order_json({id = ARGV[4], show_id = ARGV[5], viewer_id = viewer,
  buyer_name = ARGV[7], status = 'pending_payment', items = items,
  total = {amount = total, currency = currency}, created_at = ARGV[8],
  reserved_until = ARGV[9], buyer_address = address})
redis.call('HSET', KEYS[3], ARGV[4], json)
redis.call('ZADD', KEYS[4], int(redis.call('ZCARD', KEYS[4]) + 1), ARGV[4])
redis.call('RPUSH', KEYS[5], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2],
  cjson.encode({order = ARGV[4], cart = fingerprint, body = ARGV[3]}))
redis.call('ZADD', KEYS[6], ARGV[10], ARGV[4])
redis.call('DEL', KEYS[1])
append_event(KEYS[10], KEYS[11], ARGV[11], 'order.created', ARGV[8], json)
return {'created', json}
"#;

/// Settles a pending order. KEYS: 1 orders, 2 reservations, 3 stock, 4 pins, 5 deal remaining,
///   6 outbox, 7 outbox ids, then the deal buyers of each declared product.
/// ARGV: 1 order id, 2 'paid' or 'failed', 3 the event's time (the payment's when paid),
///   4 failure reason, 5 event id, 6 n, then n declared product ids.
const COMPLETE: &str = r#"
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'none'} end
local o = decode(raw, 'an order')
if o.status ~= 'pending_payment' then return {'order', raw} end
local buyers = declared(6, 7)
if not covers(buyers, o) then return {'retry'} end
local kind
if ARGV[2] == 'paid' then
  o.status = 'paid'
  o.paid_at = ARGV[3]
  kind = 'order.paid'
else
  release(o, KEYS[3], KEYS[4], KEYS[5], buyers)
  o.status = 'failed'
  o.failure = ARGV[4]
  kind = 'order.failed'
end
local json = order_json(o)
redis.call('HSET', KEYS[1], ARGV[1], json)
redis.call('ZREM', KEYS[2], ARGV[1])
append_event(KEYS[6], KEYS[7], ARGV[5], kind, ARGV[3], json)
return {'order', json}
"#;

/// Expires every due reservation of a show, oldest order first.
/// KEYS: 1 orders, 2 order ids, 3 reservations, 4 stock, 5 pins, 6 deal remaining, 7 outbox,
///   8 outbox ids, then the deal buyers of each declared product.
/// ARGV: 1 now, 2 now (ms), 3 failure text, 4 e, then e event ids, then n and n declared
///   product ids.
const EXPIRE: &str = r#"
local now = tkey(ARGV[1])
local due, gone = {}, {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])) do
  local raw = redis.call('HGET', KEYS[1], id)
  if not raw then
    gone[#gone + 1] = id
  else
    local o = decode(raw, 'an order')
    if o.status ~= 'pending_payment' then
      gone[#gone + 1] = id
    elseif not before(now, tkey(o.reserved_until)) then
      due[#due + 1] = {order = o, seq = tonumber(redis.call('ZSCORE', KEYS[2], id)) or 0}
    end
  end
end
local events = tonumber(ARGV[4])
local buyers = declared(5 + events, 8)
if #due > events then return {'retry'} end
for _, d in ipairs(due) do
  if not covers(buyers, d.order) then return {'retry'} end
end
table.sort(due, function(a, b) return a.seq < b.seq end)
for _, id in ipairs(gone) do redis.call('ZREM', KEYS[3], id) end
local out = {'expired'}
for i, d in ipairs(due) do
  local o = d.order
  release(o, KEYS[4], KEYS[5], KEYS[6], buyers)
  o.status = 'expired'
  o.failure = ARGV[3]
  local json = order_json(o)
  redis.call('HSET', KEYS[1], o.id, json)
  redis.call('ZREM', KEYS[3], o.id)
  append_event(KEYS[7], KEYS[8], ARGV[4 + i], 'order.expired', ARGV[1], json)
  out[#out + 1] = json
end
return out
"#;

/// KEYS: outbox, outbox ids. ARGV: event id, group.
const ACK: &str = r#"
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then return 0 end
redis.pcall('XACK', KEYS[1], ARGV[2], entry)
redis.call('XDEL', KEYS[1], entry)
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

static PIN_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(PIN));
static UNPIN_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(UNPIN));
static CHECKOUT_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(CHECKOUT));
static COMPLETE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(COMPLETE));
static EXPIRE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(EXPIRE));
static ACK_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ACK));

// ---- helpers --------------------------------------------------------------------------------

/// A timestamp exactly as serde (chrono) writes it in JSON.
fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A script's `CORRUPT` error (stored data it could not read) is `Corrupt`; the rest as usual.
fn script_error(e: RedisError) -> StoreError {
    if e.code() == Some("CORRUPT") {
        StoreError::Corrupt(format!("redis: {e}"))
    } else {
        redis_error(e)
    }
}

fn unexpected(op: &str, reply: &[String]) -> StoreError {
    StoreError::Corrupt(format!("unexpected reply of the {op} script: {reply:?}"))
}

fn parse_int(raw: &str, what: &str) -> Result<i64, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} holds {raw:?}, not an integer")))
}

fn order_at(reply: &[String], index: usize, op: &str) -> Result<Order, StoreError> {
    match reply.get(index) {
        Some(raw) => decode(raw, "order"),
        None => Err(unexpected(op, reply)),
    }
}

/// Pin JSON and remaining pairs, as `pin_states` in Lua answers them.
fn pin_states(pairs: &[String]) -> Result<Vec<PinState>, StoreError> {
    if pairs.len() % 2 != 0 {
        return Err(StoreError::Corrupt("odd pin reply".into()));
    }
    pairs
        .chunks(2)
        .map(|pair| {
            Ok(PinState {
                pin: decode(&pair[0], "pin")?,
                deal: DealState {
                    remaining: parse_int(&pair[1], "deal remaining")?,
                },
            })
        })
        .collect()
}

/// The domain error a checkout script's refusal stands for (codes are `&'static str`).
fn refusal(code: &str, message: String) -> Result<DomainError, StoreError> {
    Ok(match code {
        "empty_cart" => DomainError::invalid("empty_cart", message),
        "currency_mismatch" => DomainError::invalid("currency_mismatch", message),
        "invalid_quantity" => DomainError::invalid("invalid_quantity", message),
        "product_not_found" => DomainError::not_found("product_not_found", message),
        "deal_ended" => DomainError::conflict("deal_ended", message),
        "sold_out" => DomainError::conflict("sold_out", message),
        "over_limit" => DomainError::conflict("over_limit", message),
        "show_ended" => DomainError::conflict("show_ended", message),
        other => {
            return Err(StoreError::Corrupt(format!(
                "the checkout script refused with unknown code {other:?}"
            )));
        }
    })
}

/// Products of an order's deal lines (their buyer counts may go back).
fn deal_products<'a>(orders: impl IntoIterator<Item = &'a Order>) -> BTreeSet<ProductId> {
    orders
        .into_iter()
        .flat_map(|o| o.items.iter())
        .filter(|l| l.deal)
        .map(|l| l.product_id)
        .collect()
}

async fn orders_by_id(
    store: &RedisStore,
    show: &Show,
    ids: &[String],
) -> Result<Vec<Order>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let raws: Vec<Option<String>> = redis::cmd("HMGET")
        .arg(store.keys.orders(show))
        .arg(ids)
        .query_async(&mut store.conn.clone())
        .await
        .map_err(redis_error)?;
    raws.iter()
        .flatten()
        .map(|raw| decode(raw, "order"))
        .collect()
}

// ---- pins and carts -------------------------------------------------------------------------

pub(super) async fn pins(store: &RedisStore, show: &Show) -> Result<Vec<PinState>, StoreError> {
    store
        .guard("pins", async {
            let (raws, remaining): (Vec<String>, HashMap<String, String>) = redis::pipe()
                .atomic()
                .cmd("LRANGE")
                .arg(store.keys.pins(show))
                .arg(0)
                .arg(-1)
                .cmd("HGETALL")
                .arg(store.keys.deal_remaining(show))
                .query_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)?;
            raws.iter()
                .map(|raw| {
                    let pin: Pin = decode(raw, "pin")?;
                    let remaining = match remaining.get(&pin.product_id.to_string()) {
                        Some(n) => parse_int(n, "deal remaining")?,
                        None => 0,
                    };
                    Ok(PinState {
                        pin,
                        deal: DealState { remaining },
                    })
                })
                .collect()
        })
        .await
}

pub(super) async fn pin(
    store: &RedisStore,
    show: &Show,
    pin: &Pin,
) -> Result<Result<Vec<PinState>, DomainError>, StoreError> {
    store
        .guard("pin", async {
            let k = &store.keys;
            let reply: Vec<String> = PIN_SCRIPT
                .key(k.lineup(show))
                .key(k.pins(show))
                .key(k.deal_remaining(show))
                .key(k.deal_buyers(show, pin.product_id))
                .arg(pin.product_id.to_string())
                .arg(encode(pin)?)
                .arg(
                    pin.deal
                        .as_ref()
                        .map(|d| d.quantity.to_string())
                        .unwrap_or_default(),
                )
                .arg(MAX_PINS)
                .invoke_async(&mut store.conn.clone())
                .await
                .map_err(script_error)?;
            // Refusals come from the domain rule itself, so codes and messages are its own.
            let refused = match reply.first().map(String::as_str) {
                Some("ok") => return Ok(Ok(pin_states(&reply[1..])?)),
                Some("not_in_lineup") => add_pin(&[], pin.clone(), &[]).err(),
                Some("too_many_pins") => {
                    let current = reply[1..]
                        .iter()
                        .map(|raw| decode::<Pin>(raw, "pin"))
                        .collect::<Result<Vec<_>, _>>()?;
                    add_pin(&current, pin.clone(), &[pin.product_id]).err()
                }
                _ => None,
            };
            refused.map(Err).ok_or_else(|| unexpected("pin", &reply))
        })
        .await
}

pub(super) async fn unpin(
    store: &RedisStore,
    show: &Show,
    product: ProductId,
) -> Result<Option<Vec<PinState>>, StoreError> {
    store
        .guard("unpin", async {
            let reply: Vec<String> = UNPIN_SCRIPT
                .key(store.keys.pins(show))
                .key(store.keys.deal_remaining(show))
                .arg(product.to_string())
                .invoke_async(&mut store.conn.clone())
                .await
                .map_err(script_error)?;
            match reply.first().map(String::as_str) {
                Some("ok") => Ok(Some(pin_states(&reply[1..])?)),
                Some("none") => Ok(None),
                _ => Err(unexpected("unpin", &reply)),
            }
        })
        .await
}

pub(super) async fn cart(
    store: &RedisStore,
    show: &Show,
    viewer: ViewerId,
) -> Result<CartLines, StoreError> {
    store
        .guard("cart", async {
            let raw: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(store.keys.cart(show, viewer))
                .query_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)?;
            let lines = raw
                .iter()
                .map(|(product, line)| {
                    Ok((
                        parse_id::<ProductId>(product, "cart")?,
                        decode::<CartLine>(line, "cart line")?,
                    ))
                })
                .collect::<Result<BTreeMap<_, _>, StoreError>>()?;
            remember_cart(store, (show.id, viewer), lines.keys().copied().collect());
            Ok(lines)
        })
        .await
}

pub(super) async fn set_cart_line(
    store: &RedisStore,
    show: &Show,
    viewer: ViewerId,
    product: ProductId,
    line: Option<CartLine>,
) -> Result<(), StoreError> {
    store
        .guard("set_cart_line", async {
            let key = store.keys.cart(show, viewer);
            let mut pipe = redis::pipe();
            pipe.atomic();
            match line {
                Some(line) => pipe
                    .cmd("HSET")
                    .arg(&key)
                    .arg(product.to_string())
                    .arg(encode(&line)?),
                None => pipe.cmd("HDEL").arg(&key).arg(product.to_string()),
            };
            pipe.cmd("EXPIRE").arg(&key).arg(CART_TTL_SECONDS);
            pipe.exec_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)?;
            let hint = (show.id, viewer);
            let mut products = store.recent(|r| r.cart_products.get(&hint).cloned());
            let known = products.is_some();
            let products = products.get_or_insert_with(Vec::new);
            products.retain(|p| *p != product);
            if line.is_some() {
                products.push(product);
            }
            if known || line.is_some() {
                remember_cart(store, hint, std::mem::take(products));
            }
            Ok(())
        })
        .await
}

/// Adds each line whose product is not in the cart yet, while the cart has fewer than ARGV[1]
/// products (what [`crate::domain::commerce::give_back`] does, in one atomic step).
/// KEYS: 1 the cart. ARGV: 1 the cart's product limit, 2 its TTL in seconds, then product and
/// line pairs.
const GIVE_BACK: &str = r"
local max = tonumber(ARGV[1])
for i = 3, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    if redis.call('HLEN', KEYS[1]) >= max then break end
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
";
static GIVE_BACK_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(GIVE_BACK));

pub(super) async fn give_back_cart(
    store: &RedisStore,
    show: &Show,
    viewer: ViewerId,
    lines: &CartLines,
) -> Result<(), StoreError> {
    if lines.is_empty() {
        return Ok(());
    }
    store
        .guard("give_back_cart", async {
            let mut call = GIVE_BACK_SCRIPT.prepare_invoke();
            call.key(store.keys.cart(show, viewer))
                .arg(crate::domain::commerce::MAX_CART_ITEMS)
                .arg(CART_TTL_SECONDS);
            for (product, line) in lines {
                call.arg(product.to_string()).arg(encode(line)?);
            }
            call.invoke_async::<i64>(&mut store.conn.clone())
                .await
                .map_err(redis_error)?;
            // The cart changed behind this node's hint: the next checkout reads it afresh.
            store.recent(|r| r.cart_products.remove(&(show.id, viewer)));
            Ok(())
        })
        .await
}

pub(super) async fn deal_bought(
    store: &RedisStore,
    show: &Show,
    product: ProductId,
    viewer: ViewerId,
) -> Result<i64, StoreError> {
    store
        .guard("deal_bought", async {
            let raw: Option<String> = redis::cmd("HGET")
                .arg(store.keys.deal_buyers(show, product))
                .arg(viewer.to_string())
                .query_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map_or(Ok(0), |n| parse_int(&n, "deal buyers"))
        })
        .await
}

// ---- checkout and orders --------------------------------------------------------------------

pub(super) async fn checkout(
    store: &RedisStore,
    show: &Show,
    req: &CheckoutRequest,
) -> Result<CheckoutOutcome, StoreError> {
    store
        .guard("checkout", async {
            let k = &store.keys;
            let mut con = store.conn.clone();
            let hint_key = (show.id, req.viewer);
            // The products to declare: what this node last saw in the cart, then what the
            // script found there.
            let mut products: Vec<ProductId> =
                store.recent(|r| r.cart_products.get(&hint_key).cloned().unwrap_or_default());
            let mut indexed = false;
            let cart_key = k.cart(show, req.viewer);
            let event_id = uuid::Uuid::now_v7().to_string();
            let reserved_until = req.now + req.reserve_for;
            let (now, until) = (rfc3339(req.now), rfc3339(reserved_until));
            let idempotency_field = format!("{}:{}", req.viewer, req.key);
            let (viewer, order_id) = (req.viewer.to_string(), req.order_id.to_string());
            let (show_id, creator_id) = (show.id.to_string(), show.creator_id.to_string());
            let show_keys = checkout_keys(store, show);
            let viewer_orders = k.viewer_orders(show, req.viewer);
            for _ in 0..ATTEMPTS {
                let mut call = evalsha(&CHECKOUT_SCRIPT, 13 + 2 * products.len());
                // KEYS as CHECKOUT numbers them: 1 the cart, 2-4 the show's, 5 the viewer's
                // orders, 6-13 the show's.
                call.arg(&cart_key).arg(&show_keys[..3]);
                call.arg(&viewer_orders).arg(&show_keys[3..]);
                for p in &products {
                    call.arg(k.product(show.creator_id, *p))
                        .arg(k.deal_buyers(show, *p));
                }
                call.arg(&viewer)
                    .arg(&idempotency_field)
                    .arg(&req.body_fingerprint)
                    .arg(&order_id)
                    .arg(&show_id)
                    .arg(&creator_id)
                    .arg(&req.buyer_name)
                    .arg(&now)
                    .arg(&until)
                    .arg(score(reserved_until))
                    .arg(&event_id)
                    .arg(if indexed { "1" } else { "0" })
                    .arg(products.len());
                for p in &products {
                    call.arg(p.to_string());
                }
                match &req.address {
                    Some(a) => call.arg(&a.key).arg(a.buyers),
                    None => call.arg("").arg(0),
                };
                let reply: Vec<String> = eval(&mut con, &CHECKOUT_SCRIPT, &call)
                    .await
                    .map_err(script_error)?;
                return match reply.first().map(String::as_str) {
                    Some("created") => {
                        // The script emptied the cart.
                        store.recent(|r| r.cart_products.remove(&hint_key));
                        Ok(CheckoutOutcome::Created(order_at(&reply, 1, "checkout")?))
                    }
                    Some("replayed") => {
                        Ok(CheckoutOutcome::Replayed(order_at(&reply, 1, "checkout")?))
                    }
                    Some("key_reused") => Ok(CheckoutOutcome::KeyReused),
                    Some("refused") if reply.len() == 3 => Ok(CheckoutOutcome::Refused(refusal(
                        &reply[1],
                        reply[2].clone(),
                    )?)),
                    Some("retry") => {
                        products = reply[1..]
                            .iter()
                            .map(|f| parse_id::<ProductId>(f, "cart"))
                            .collect::<Result<Vec<_>, _>>()?;
                        remember_cart(store, hint_key, products.clone());
                        continue;
                    }
                    Some("unindexed") if !indexed => {
                        // Before any reservation of this show exists (see the module doc): a
                        // reservation the sweeper does not know of would hold its stock
                        // forever, an extra show only costs the sweeper one empty look.
                        redis::cmd("SADD")
                            .arg(k.reservation_shows())
                            .arg(&show_id)
                            .exec_async(&mut con)
                            .await
                            .map_err(redis_error)?;
                        indexed = true;
                        continue;
                    }
                    _ => Err(unexpected("checkout", &reply)),
                };
            }
            Err(StoreError::Unavailable(
                "the cart kept changing during the checkout; try again".into(),
            ))
        })
        .await
}

/// The checkout script's keys 2-4 and 6-13 (those that depend only on the show), formatted
/// once per show on this node.
fn checkout_keys(store: &RedisStore, show: &Show) -> Arc<[String]> {
    let id = (show.creator_id, show.id);
    if let Some(keys) = store.recent(|r| r.show_keys.get(&id).cloned()) {
        return keys;
    }
    let k = &store.keys;
    let keys: Arc<[String]> = Arc::new([
        k.idempotency(show),
        k.orders(show),
        k.order_ids(show),
        k.reservations(show),
        k.stock(show.creator_id),
        k.pins(show),
        k.deal_remaining(show),
        k.outbox(show.creator_id),
        k.outbox_ids(show.creator_id),
        k.show(show.creator_id, show.id),
        k.reservations_indexed(show),
    ]);
    store.recent(|r| {
        if r.show_keys.len() >= MAX_SHOW_KEYS {
            r.show_keys.clear();
        }
        r.show_keys.insert(id, keys.clone());
    });
    keys
}

/// `EVALSHA <script's sha1> <keys>`, for the caller to append the keys and arguments to
/// (written once into the command, where `ScriptInvocation` copies each of them twice).
fn evalsha(script: &Script, keys: usize) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(keys);
    cmd
}

/// Runs an [`evalsha`] command; when Redis does not know the script (a restart, a flush),
/// loads it and runs the command again, like `ScriptInvocation::invoke_async`.
async fn eval<T: redis::FromRedisValue>(
    con: &mut redis::aio::ConnectionManager,
    script: &Script,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    match cmd.query_async(con).await {
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            script.load_async(con).await?;
            cmd.query_async(con).await
        }
        result => result,
    }
}

/// Records what this node saw in a viewer's cart (a hint for the checkout's declared keys).
fn remember_cart(store: &RedisStore, key: (ShowId, ViewerId), products: Vec<ProductId>) {
    store.recent(|r| {
        if r.cart_products.len() >= MAX_CART_HINTS && !r.cart_products.contains_key(&key) {
            r.cart_products.clear();
        }
        r.cart_products.insert(key, products);
    });
}

/// Settles `order`. The script's keys name the deal-buyer hashes of the order's deal lines:
/// taken from `placed` (the order as its checkout answered) on the first try when given, else
/// from a read of the stored order just before; a script that finds the stored order needs
/// other keys writes nothing and answers `retry`, and the next try reads.
pub(super) async fn complete_order(
    store: &RedisStore,
    show: &Show,
    order: uuid::Uuid,
    outcome: &Completion,
    placed: Option<&Order>,
) -> Result<Option<Order>, StoreError> {
    store
        .guard("complete_order", async {
            let k = &store.keys;
            let mut con = store.conn.clone();
            let (status, at, reason) = match outcome {
                Completion::Paid { at } => ("paid", *at, ""),
                Completion::Failed { reason } => ("failed", chrono::Utc::now(), reason.as_str()),
            };
            let event_id = uuid::Uuid::now_v7().to_string();
            let mut placed = placed.filter(|p| p.id == order);
            for _ in 0..ATTEMPTS {
                let products = match placed.take() {
                    Some(p) => deal_products([p]),
                    None => {
                        let raw: Option<String> = redis::cmd("HGET")
                            .arg(k.orders(show))
                            .arg(order.to_string())
                            .query_async(&mut con)
                            .await
                            .map_err(redis_error)?;
                        let Some(raw) = raw else { return Ok(None) };
                        let current: Order = decode(&raw, "order")?;
                        deal_products([&current])
                    }
                };
                let mut call = evalsha(&COMPLETE_SCRIPT, 7 + products.len());
                call.arg(k.orders(show))
                    .arg(k.reservations(show))
                    .arg(k.stock(show.creator_id))
                    .arg(k.pins(show))
                    .arg(k.deal_remaining(show))
                    .arg(k.outbox(show.creator_id))
                    .arg(k.outbox_ids(show.creator_id));
                for p in &products {
                    call.arg(k.deal_buyers(show, *p));
                }
                call.arg(order.to_string())
                    .arg(status)
                    .arg(rfc3339(at))
                    .arg(reason)
                    .arg(&event_id)
                    .arg(products.len());
                for p in &products {
                    call.arg(p.to_string());
                }
                let reply: Vec<String> = eval(&mut con, &COMPLETE_SCRIPT, &call)
                    .await
                    .map_err(script_error)?;
                return match reply.first().map(String::as_str) {
                    Some("order") => Ok(Some(order_at(&reply, 1, "complete_order")?)),
                    Some("none") => Ok(None),
                    Some("retry") => continue,
                    _ => Err(unexpected("complete_order", &reply)),
                };
            }
            Err(StoreError::Unavailable(
                "the order kept changing while settling it; try again".into(),
            ))
        })
        .await
}

pub(super) async fn expire_reservations(
    store: &RedisStore,
    show: &Show,
    now: Timestamp,
) -> Result<Vec<Order>, StoreError> {
    store
        .guard("expire_reservations", async {
            let k = &store.keys;
            let mut con = store.conn.clone();
            for _ in 0..ATTEMPTS {
                let due: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                    .arg(k.reservations(show))
                    .arg("-inf")
                    .arg(score(now))
                    .query_async(&mut con)
                    .await
                    .map_err(redis_error)?;
                if due.is_empty() {
                    return Ok(Vec::new());
                }
                let candidates = orders_by_id(store, show, &due).await?;
                let products = deal_products(&candidates);
                let mut call = EXPIRE_SCRIPT.prepare_invoke();
                call.key(k.orders(show))
                    .key(k.order_ids(show))
                    .key(k.reservations(show))
                    .key(k.stock(show.creator_id))
                    .key(k.pins(show))
                    .key(k.deal_remaining(show))
                    .key(k.outbox(show.creator_id))
                    .key(k.outbox_ids(show.creator_id));
                for p in &products {
                    call.key(k.deal_buyers(show, *p));
                }
                call.arg(rfc3339(now))
                    .arg(score(now))
                    .arg(EXPIRED)
                    .arg(due.len());
                for _ in &due {
                    call.arg(uuid::Uuid::now_v7().to_string());
                }
                call.arg(products.len());
                for p in &products {
                    call.arg(p.to_string());
                }
                let reply: Vec<String> = call.invoke_async(&mut con).await.map_err(script_error)?;
                return match reply.first().map(String::as_str) {
                    Some("expired") => reply[1..].iter().map(|raw| decode(raw, "order")).collect(),
                    Some("retry") => continue,
                    _ => Err(unexpected("expire_reservations", &reply)),
                };
            }
            Err(StoreError::Unavailable(
                "reservations kept changing while expiring them; try again".into(),
            ))
        })
        .await
}

pub(super) async fn shows_with_reservations(store: &RedisStore) -> Result<Vec<ShowId>, StoreError> {
    sorted_ids(store, store.keys.reservation_shows(), "reservation shows").await
}

/// The members of a set of ids, parsed and sorted.
async fn sorted_ids<T>(
    store: &RedisStore,
    key: String,
    what: &'static str,
) -> Result<Vec<T>, StoreError>
where
    T: std::str::FromStr + Ord,
{
    store
        .guard(what, async {
            let members: Vec<String> = redis::cmd("SMEMBERS")
                .arg(key)
                .query_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)?;
            let mut ids = members
                .iter()
                .map(|m| parse_id::<T>(m, what))
                .collect::<Result<Vec<_>, _>>()?;
            ids.sort();
            Ok(ids)
        })
        .await
}

pub(super) async fn orders(store: &RedisStore, show: &Show) -> Result<Vec<Order>, StoreError> {
    store
        .guard("orders", async {
            let ids: Vec<String> = redis::cmd("ZRANGE")
                .arg(store.keys.order_ids(show))
                .arg(0)
                .arg(-1)
                .query_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)?;
            orders_by_id(store, show, &ids).await
        })
        .await
}

pub(super) async fn viewer_orders(
    store: &RedisStore,
    show: &Show,
    viewer: ViewerId,
) -> Result<Vec<Order>, StoreError> {
    store
        .guard("viewer_orders", async {
            let ids: Vec<String> = redis::cmd("LRANGE")
                .arg(store.keys.viewer_orders(show, viewer))
                .arg(0)
                .arg(-1)
                .query_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)?;
            orders_by_id(store, show, &ids).await
        })
        .await
}

pub(super) async fn order(
    store: &RedisStore,
    show: &Show,
    id: uuid::Uuid,
) -> Result<Option<Order>, StoreError> {
    store
        .guard("order", async {
            let raw: Option<String> = redis::cmd("HGET")
                .arg(store.keys.orders(show))
                .arg(id.to_string())
                .query_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|r| decode(&r, "order")).transpose()
        })
        .await
}

// ---- webhooks and the outbox ----------------------------------------------------------------

pub(super) async fn set_webhook(
    store: &RedisStore,
    creator: CreatorId,
    hook: Option<&Webhook>,
) -> Result<(), StoreError> {
    store
        .guard("set_webhook", async {
            let k = &store.keys;
            let mut pipe = redis::pipe();
            pipe.atomic();
            match hook {
                Some(hook) => pipe
                    .cmd("SET")
                    .arg(k.webhook(creator))
                    .arg(encode(hook)?)
                    .cmd("SADD")
                    .arg(k.webhook_creators())
                    .arg(creator.to_string()),
                None => pipe
                    .cmd("DEL")
                    .arg(k.webhook(creator))
                    .cmd("SREM")
                    .arg(k.webhook_creators())
                    .arg(creator.to_string()),
            };
            pipe.exec_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
}

pub(super) async fn webhook(
    store: &RedisStore,
    creator: CreatorId,
) -> Result<Option<Webhook>, StoreError> {
    store
        .guard("webhook", async {
            let raw: Option<String> = redis::cmd("GET")
                .arg(store.keys.webhook(creator))
                .query_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|r| decode(&r, "webhook")).transpose()
        })
        .await
}

pub(super) async fn webhook_creators(store: &RedisStore) -> Result<Vec<CreatorId>, StoreError> {
    sorted_ids(store, store.keys.webhook_creators(), "webhook creators").await
}

/// One stream entry as XREADGROUP answers it: id, and fields (none when it was deleted).
type Entry = (String, Option<HashMap<String, String>>);

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// The entries of the one stream an XREADGROUP read (RESP2 arrays or RESP3 maps).
fn stream_entries(reply: Value) -> Result<Vec<Entry>, StoreError> {
    let bad = || StoreError::Corrupt("unexpected XREADGROUP reply".into());
    let streams: Vec<Value> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|s| match s {
                Value::Array(mut pair) if pair.len() == 2 => Ok(pair.remove(1)),
                _ => Err(bad()),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_, v)| v).collect(),
        _ => return Err(bad()),
    };
    let mut out = Vec::new();
    for entries in streams {
        let Value::Array(entries) = entries else {
            return Err(bad());
        };
        for entry in entries {
            let Value::Array(parts) = entry else {
                return Err(bad());
            };
            let [id, fields] = <[Value; 2]>::try_from(parts).map_err(|_| bad())?;
            let id = text(&id).ok_or_else(bad)?;
            let fields = match fields {
                Value::Nil => None,
                Value::Array(flat) => Some(
                    flat.chunks(2)
                        .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
                        .collect(),
                ),
                Value::Map(pairs) => Some(
                    pairs
                        .iter()
                        .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                        .collect(),
                ),
                _ => return Err(bad()),
            };
            out.push((id, fields));
        }
    }
    Ok(out)
}

fn outbox_event(
    creator: CreatorId,
    fields: &HashMap<String, String>,
) -> Result<OutboxEvent, StoreError> {
    let field = |name: &str| {
        fields
            .get(name)
            .ok_or_else(|| StoreError::Corrupt(format!("outbox entry without {name}")))
    };
    let id = field("id")?.clone();
    let kind = field("kind")?.clone();
    let at: Timestamp = serde_json::from_value(serde_json::Value::String(field("at")?.clone()))
        .map_err(|e| StoreError::Corrupt(format!("outbox entry time: {e}")))?;
    let order: Order = decode(field("order")?, "outbox order")?;
    let body = event_body(&id, &kind, at, &order);
    Ok(OutboxEvent {
        id,
        creator,
        kind,
        body,
    })
}

/// XREADGROUP from `from` (`0`: delivered and never acknowledged; `>`: never delivered),
/// creating the group on first use.
async fn read_group(
    store: &RedisStore,
    key: &str,
    count: usize,
    from: &str,
) -> Result<Vec<Entry>, StoreError> {
    let mut con = store.conn.clone();
    let mut created = false;
    loop {
        let read: Result<Value, RedisError> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(OUTBOX_GROUP)
            .arg(OUTBOX_CONSUMER)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS")
            .arg(key)
            .arg(from)
            .query_async(&mut con)
            .await;
        match read {
            Ok(reply) => return stream_entries(reply),
            Err(e) if e.code() == Some("NOGROUP") && !created => {
                // From id 0: events appended before the group existed are delivered too.
                let made: Result<(), RedisError> = redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(key)
                    .arg(OUTBOX_GROUP)
                    .arg("0")
                    .arg("MKSTREAM")
                    .exec_async(&mut con)
                    .await;
                match made {
                    Ok(()) => {}
                    Err(e) if e.code() == Some("BUSYGROUP") => {}
                    Err(e) => return Err(redis_error(e)),
                }
                created = true;
            }
            Err(e) => return Err(redis_error(e)),
        }
    }
}

pub(super) async fn outbox_pending(
    store: &RedisStore,
    creator: CreatorId,
    max: usize,
) -> Result<Vec<OutboxEvent>, StoreError> {
    store
        .guard("outbox_pending", async {
            if max == 0 {
                return Ok(Vec::new());
            }
            let key = store.keys.outbox(creator);
            // Delivered before and never acknowledged (older than anything new), then new.
            let mut entries = read_group(store, &key, max, "0").await?;
            if entries.len() < max {
                let fresh = read_group(store, &key, max - entries.len(), ">").await?;
                entries.extend(fresh);
            }
            let mut events = Vec::with_capacity(entries.len());
            for (entry, fields) in entries {
                match fields {
                    Some(fields) => events.push(outbox_event(creator, &fields)?),
                    None => {
                        // Deleted but still pending: nothing left to deliver.
                        redis::cmd("XACK")
                            .arg(&key)
                            .arg(OUTBOX_GROUP)
                            .arg(&entry)
                            .exec_async(&mut store.conn.clone())
                            .await
                            .map_err(redis_error)?;
                    }
                }
            }
            Ok(events)
        })
        .await
}

pub(super) async fn outbox_ack(
    store: &RedisStore,
    creator: CreatorId,
    event_id: &str,
) -> Result<(), StoreError> {
    store
        .guard("outbox_ack", async {
            let _: i64 = ACK_SCRIPT
                .key(store.keys.outbox(creator))
                .key(store.keys.outbox_ids(creator))
                .arg(event_id)
                .arg(OUTBOX_GROUP)
                .invoke_async(&mut store.conn.clone())
                .await
                .map_err(script_error)?;
            Ok(())
        })
        .await
}
