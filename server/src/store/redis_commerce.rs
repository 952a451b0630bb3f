//! RedisStore's commerce operations: being written (owned by the commerce-store helper).
#![allow(unused_variables)]

use super::commerce::{CheckoutOutcome, CheckoutRequest, Completion, OutboxEvent, PinState, Webhook};
use super::redis::RedisStore;
use super::StoreError;
use crate::domain::commerce::{CartLine, CartLines, Order, Pin};
use crate::domain::{CreatorId, DomainError, ProductId, Show, ShowId, Timestamp, ViewerId};

pub(super) async fn pins(store: &RedisStore, show: &Show) -> Result<Vec<PinState>, StoreError> {
    let _ = (store, show);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn pin(store: &RedisStore, show: &Show, pin: &Pin) -> Result<Result<Vec<PinState>, DomainError>, StoreError> {
    let _ = (store, show, pin);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn unpin(store: &RedisStore, show: &Show, product: ProductId) -> Result<Option<Vec<PinState>>, StoreError> {
    let _ = (store, show, product);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn cart(store: &RedisStore, show: &Show, viewer: ViewerId) -> Result<CartLines, StoreError> {
    let _ = (store, show, viewer);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn set_cart_line(store: &RedisStore, show: &Show, viewer: ViewerId, product: ProductId, line: Option<CartLine>) -> Result<(), StoreError> {
    let _ = (store, show, viewer, product, line);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn deal_bought(store: &RedisStore, show: &Show, product: ProductId, viewer: ViewerId) -> Result<i64, StoreError> {
    let _ = (store, show, product, viewer);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn checkout(store: &RedisStore, show: &Show, req: &CheckoutRequest) -> Result<CheckoutOutcome, StoreError> {
    let _ = (store, show, req);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn complete_order(store: &RedisStore, show: &Show, order: uuid::Uuid, outcome: &Completion) -> Result<Option<Order>, StoreError> {
    let _ = (store, show, order, outcome);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn expire_reservations(store: &RedisStore, show: &Show, now: Timestamp) -> Result<Vec<Order>, StoreError> {
    let _ = (store, show, now);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn shows_with_reservations(store: &RedisStore) -> Result<Vec<ShowId>, StoreError> {
    let _ = store;
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn orders(store: &RedisStore, show: &Show) -> Result<Vec<Order>, StoreError> {
    let _ = (store, show);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn viewer_orders(store: &RedisStore, show: &Show, viewer: ViewerId) -> Result<Vec<Order>, StoreError> {
    let _ = (store, show, viewer);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn order(store: &RedisStore, show: &Show, id: uuid::Uuid) -> Result<Option<Order>, StoreError> {
    let _ = (store, show, id);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn set_webhook(store: &RedisStore, creator: CreatorId, hook: Option<&Webhook>) -> Result<(), StoreError> {
    let _ = (store, creator, hook);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn webhook(store: &RedisStore, creator: CreatorId) -> Result<Option<Webhook>, StoreError> {
    let _ = (store, creator);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn webhook_creators(store: &RedisStore) -> Result<Vec<CreatorId>, StoreError> {
    let _ = store;
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn outbox_pending(store: &RedisStore, creator: CreatorId, max: usize) -> Result<Vec<OutboxEvent>, StoreError> {
    let _ = (store, creator, max);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}

pub(super) async fn outbox_ack(store: &RedisStore, creator: CreatorId, event_id: &str) -> Result<(), StoreError> {
    let _ = (store, creator, event_id);
    Err(StoreError::Unavailable("the Redis commerce store is not written yet".into()))
}
