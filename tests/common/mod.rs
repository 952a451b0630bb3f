//! Helpers shared by the end-to-end tests: a private Redis, the real server on port 0, and
//! localstripe for the Stripe tests.
#![allow(dead_code)]

pub mod browser;
pub mod gst;
pub mod localstripe;
pub mod netns;
pub mod receiver;
pub mod redis;
pub mod sdp;
pub mod server;
pub mod stores;
pub mod ws;

/// `on_both_stores!(a, b, …)`: for each `async fn a(backend: Backend)` of a test file, the tests
/// `memory::a` and `redis::a`, so every end-to-end behaviour runs on both stores.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::server::Backend::Memory).await })*
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::common::server::Backend::Redis).await })*
        }
    };
}
