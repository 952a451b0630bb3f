//! One service per feature, between the transports (`http/`, the WebSocket) and the store.
//!
//! A service holds what its feature needs (the store traits of its area, the hub, the payment
//! provider, the clock), takes already-extracted input and a caller, applies the rules of
//! `domain/` and returns a typed outcome. Handlers only extract, call one service method and
//! map the outcome to a response or a frame; they hold no rules and make no store calls of
//! their own.

pub mod accounts;
pub mod auction_sales;
pub mod auctions;
pub mod catalog;
pub mod chapters;
pub mod chat;
pub mod commerce;
pub mod moderation;
pub mod payments;
pub mod replay;
pub mod replay_stats;
pub mod shows;
pub mod team;
#[cfg(test)]
pub mod testing;
