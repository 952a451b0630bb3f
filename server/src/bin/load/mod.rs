//! The pieces of `livesale-load` (see server/src/bin/livesale-load.rs).

pub mod auction;
pub mod checkout;
pub mod counts;
pub mod fanout;
pub mod hist;
pub mod hls;
pub mod http1;
pub mod m3u8;
pub mod media;
pub mod rawws;
pub mod report;
pub mod setup;
pub mod sys;
