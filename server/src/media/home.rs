//! Media homes: with several nodes, a show's media lives on one node, its home, named by a
//! lease `media:{show}` in the store whose holder is the node's public URL. This file owns
//! the lease (taking, reading, renewing it) and the answers about another node's show: the
//! program asked of its home, cached for a second, and a recorded file asked of the node that
//! wrote it (`media/replay.rs`). It never decides what a request does with
//! the answer (that is [`super::Media`]'s).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::ShowId;
use crate::domain::media_ids::CameraId;
use crate::store::{SharedStore, StoreError};

/// Where a show's media lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Home {
    Here,
    /// Another node, by its public base URL.
    There(String),
}

/// How a request reached this node: from a client, or forwarded by another node (then it is
/// answered here, whatever the lease says, so two nodes that disagree never bounce a request
/// between them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Client,
    Node,
}

/// What a request gets: its answer from this node, or the base URL of the show's home, which
/// must answer it instead (307 for WHIP/WHEP, forwarded for the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    Here(T),
    AtHome(String),
}

/// Marks a request one node forwarded to a show's home, so the home answers it itself.
pub const FORWARDED_HEADER: &str = "x-livesale-forwarded";

/// How long a node holds a show's media home without renewing it, and how often it renews.
const HOME_TTL: Duration = Duration::from_secs(15);
pub const HOME_RENEW: Duration = Duration::from_secs(5);

/// A program asked of another node is reused this long (so a join storm costs no more).
const REMOTE_PROGRAM_FRESH: Duration = Duration::from_secs(1);
/// Cached programs older than this are forgotten.
const REMOTE_PROGRAM_KEPT: Duration = Duration::from_secs(10);

fn home_lease(show: ShowId) -> String {
    format!("media:{show}")
}

/// This node as a media home: its leases, and what it learnt of other nodes' shows.
pub struct Homes {
    store: SharedStore,
    /// This node's public base URL: its name as a media home.
    public_url: String,
    /// For asking a show's home node (program, cameras) on behalf of a client.
    http: reqwest::Client,
    /// The program of shows whose home is another node, as last asked, for `welcome`.
    remote_programs: Mutex<HashMap<ShowId, (Instant, Option<CameraId>)>>,
}

impl Homes {
    pub fn new(store: SharedStore, public_url: String) -> Homes {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Homes {
            store,
            public_url,
            http,
            remote_programs: Mutex::new(HashMap::new()),
        }
    }

    /// The HTTP client that asks other nodes.
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// For a new session: this node becomes (or stays) the show's media home, unless another
    /// node is.
    pub async fn claim(&self, show: ShowId) -> Result<Home, StoreError> {
        let name = home_lease(show);
        for _ in 0..2 {
            if self.store.lease(&name, &self.public_url, HOME_TTL).await? {
                return Ok(Home::Here);
            }
            match self.store.lease_holder(&name).await? {
                Some(holder) if holder != self.public_url => return Ok(Home::There(holder)),
                _ => {} // it lapsed in between: try again
            }
        }
        Ok(Home::Here)
    }

    /// For reads and program changes: the show's home if another node is it.
    pub async fn find(&self, show: ShowId) -> Result<Home, StoreError> {
        Ok(match self.store.lease_holder(&home_lease(show)).await? {
            Some(holder) if holder != self.public_url => Home::There(holder),
            _ => Home::Here,
        })
    }

    /// Renews this node's lease on a show it has sessions of.
    pub async fn renew(&self, show: ShowId) {
        match self
            .store
            .lease(&home_lease(show), &self.public_url, HOME_TTL)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(%show, "another node took this show's media home; sessions here go on")
            }
            Err(e) => tracing::warn!(%show, error = %e, "media home not renewed"),
        }
    }

    /// The program of another node's show as asked less than a second ago, if it was.
    pub fn recent_program(&self, show: ShowId) -> Option<Option<CameraId>> {
        let cache = self
            .remote_programs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match cache.get(&show) {
            Some((at, camera)) if at.elapsed() < REMOTE_PROGRAM_FRESH => Some(camera.clone()),
            _ => None,
        }
    }

    /// Remembers what [`Self::recent_program`] answers for the next second.
    pub fn remember_program(&self, show: ShowId, camera: Option<CameraId>) {
        let mut cache = self
            .remote_programs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, (at, _)| at.elapsed() < REMOTE_PROGRAM_KEPT);
        cache.insert(show, (Instant::now(), camera));
    }

    /// The program of a show whose home is another node, asked of that node.
    pub async fn ask_program(&self, home: &str, show: ShowId) -> Option<CameraId> {
        let url = format!("{home}/api/shows/{show}/program");
        match self
            .http
            .get(&url)
            .header(FORWARDED_HEADER, "1")
            .timeout(Duration::from_secs(1))
            .send()
            .await
        {
            Ok(resp) if resp.status().is_success() => resp
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| v["camera"].as_str().map(CameraId::new)),
            _ => None,
        }
    }

    /// `node`, if it names another node than this one.
    pub fn other<'a>(&self, node: Option<&'a str>) -> Option<&'a str> {
        node.filter(|n| !n.is_empty() && *n != self.public_url)
    }

    /// A recorded file (or `recording.mp4`) asked of the node that wrote it, at `path`, as a
    /// forwarded request with the caller's `Authorization` if any: its bytes, `Ok(None)` if it
    /// answered 404, or why it gave no file.
    pub async fn ask_recorded(
        &self,
        node: &str,
        path: &str,
        authorization: Option<&str>,
        timeout: Duration,
    ) -> Result<Option<bytes::Bytes>, String> {
        let url = format!("{}{path}", node.trim_end_matches('/'));
        let mut req = self
            .http
            .get(&url)
            .header(FORWARDED_HEADER, "1")
            .timeout(timeout);
        if let Some(auth) = authorization {
            req = req.header(reqwest::header::AUTHORIZATION, auth);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        match resp.status() {
            s if s.is_success() => resp.bytes().await.map(Some).map_err(|e| e.to_string()),
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            s => Err(format!("answered {s}")),
        }
    }
}
