//! Helpers shared by the end-to-end tests: a private Redis, and the real server on port 0.
#![allow(dead_code)]

pub mod receiver;
pub mod redis;
pub mod server;
pub mod stores;
pub mod ws;
