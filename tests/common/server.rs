//! The real server for tests: in-process on port 0 ([`TestServer`]) or as the real binary in
//! its own process ([`ServerProcess`]) when a test needs to kill or restart it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use livesale::config::Config;
use livesale::domain::Principal;
use livesale::{App, Links};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const SECRET: &str = "test-secret-0123456789";
pub const ADMIN: &str = "test-admin-token";

/// Which store a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Redis,
}

/// A config for tests: known secret and admin token, no demo, and for Redis a unique key
/// prefix on the private test Redis so tests never see each other's data.
pub fn test_config(backend: Backend) -> Config {
    let mut config = Config::defaults();
    config.bind = "127.0.0.1:0".parse().expect("literal address");
    config.secret = Some(SECRET.into());
    config.admin_token = Some(ADMIN.into());
    config.no_demo = true;
    config.redis_url = match backend {
        Backend::Memory => None,
        Backend::Redis => Some(super::redis::redis_url()),
    };
    config.redis_prefix = super::redis::unique_prefix("srv");
    // Test receivers listen on loopback.
    config.webhook_allow_private = true;
    // Every test client is one address (loopback); tests of the per-address limits
    // (tests/limits.rs) set them.
    config.join_rate = 0;
    config.deal_buyers_per_address = 0;
    config.ws_max_per_address = 0;
    // Recordings of each test server in a folder of their own.
    config.recordings_dir =
        std::env::temp_dir().join(format!("livesale-rec-{}", uuid::Uuid::now_v7()));
    config
}

pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub links: Option<Links>,
    pub config: Config,
    /// With TLS (`config.tls_*`): the certificate served, which `http` trusts (and nothing else).
    pub tls: Option<ServedCert>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The server's clock: the wall clock until a test advances it past a deadline.
    pub clock: std::sync::Arc<livesale::clock::TestClock>,
    /// The server's store, for tests that set up what no route makes (a recording's index).
    pub store: livesale::store::SharedStore,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(test_config(backend)).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        // `LIVESALE_TEST_LOG=livesale=debug` shows the server's logs in a failing test's
        // output (the harness captures them like any other output).
        if let Ok(filter) = std::env::var("LIVESALE_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .expect("bind a test port");
        let addr = listener.local_addr().expect("local addr");
        let clock = livesale::clock::TestClock::new();
        let app = App::build_with_clock(config.clone(), addr, clock.clone())
            .await
            .expect("the test server builds");
        let links = app.links().cloned();
        let store = app.state().store.clone();
        let fingerprint = app.tls().map(|t| t.fingerprint.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.serve(listener, async move {
                let _ = rx.await;
            })
            .await
            .expect("the test server serves");
        });
        let (base, http, tls) = match fingerprint {
            None => (
                format!("http://{addr}"),
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(20))
                    .build()
                    .expect("http client"),
                None,
            ),
            Some(fingerprint) => {
                let base = format!("https://{addr}");
                let cert = ServedCert::fetch(&base, fingerprint).await;
                let http = reqwest::Client::builder()
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(
                        reqwest::Certificate::from_der(&cert.der).expect("a DER certificate"),
                    )
                    .timeout(Duration::from_secs(20))
                    .build()
                    .expect("https client");
                (base, http, Some(cert))
            }
        };
        TestServer {
            base,
            addr,
            http,
            links,
            config,
            tls,
            shutdown: Some(tx),
            task: Some(task),
            clock,
            store,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the server and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }

    /// A token signed with the test secret (valid for `ttl_s`, or already expired if 0).
    pub fn mint(&self, principal: &Principal, ttl_s: u64) -> String {
        let signer = livesale::auth::TokenSigner::new(SECRET);
        if ttl_s == 0 {
            let past = chrono::Utc::now() - chrono::Duration::hours(2);
            signer.mint(principal, past, 60)
        } else {
            signer.mint(principal, chrono::Utc::now(), ttl_s)
        }
    }

    /// POSTs JSON with an optional bearer token; returns status and parsed body (Null if empty).
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::finish(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::finish(req.send().await.expect("request sent")).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.delete(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::finish(req.send().await.expect("request sent")).await
    }

    pub async fn finish(resp: reqwest::Response) -> (u16, Value) {
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, body)
    }

    /// Creates a creator; returns (id, token).
    pub async fn creator(&self, name: &str) -> (String, String) {
        let (status, body) = self
            .post("/api/creators", Some(ADMIN), json!({ "name": name }))
            .await;
        assert_eq!(status, 201, "create creator: {body}");
        (s(&body["id"]), s(&body["token"]))
    }

    /// Schedules a show for the creator; returns its id.
    pub async fn show(&self, creator_token: &str, title: &str) -> String {
        let (status, body) = self
            .post("/api/shows", Some(creator_token), json!({ "title": title }))
            .await;
        assert_eq!(status, 201, "create show: {body}");
        s(&body["id"])
    }

    /// Creates a product in USD; returns its id.
    pub async fn product(&self, creator_token: &str, sku: &str, cents: i64, stock: i64) -> String {
        let body = json!({
            "sku": sku, "title": format!("Product {sku}"),
            "price": { "amount": cents, "currency": "USD" }, "stock": stock,
        });
        let (status, body) = self.post("/api/products", Some(creator_token), body).await;
        assert_eq!(status, 201, "create product: {body}");
        s(&body["id"])
    }

    /// Mints an invite through the API; returns the token.
    pub async fn invite(&self, creator_token: &str, show: &str, role: &str) -> String {
        let (status, body) = self
            .post(
                &format!("/api/shows/{show}/invites"),
                Some(creator_token),
                json!({ "role": role }),
            )
            .await;
        assert_eq!(status, 201, "invite: {body}");
        s(&body["token"])
    }

    /// A new creator `name` with a live show `title`; returns (creator token, show id).
    pub async fn live_show(&self, name: &str, title: &str) -> (String, String) {
        let (_, creator) = self.creator(name).await;
        let show = self.show(&creator, title).await;
        let (status, body) = self
            .post(
                &format!("/api/shows/{show}/start"),
                Some(&creator),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "start the show: {body}");
        (creator, show)
    }

    /// Puts `product` in the show's lineup (its creator).
    pub async fn add_to_lineup(&self, creator_token: &str, show: &str, product: &str) {
        let (status, body) = self
            .post(
                &format!("/api/shows/{show}/lineup"),
                Some(creator_token),
                json!({ "product_id": product }),
            )
            .await;
        assert_eq!(status, 200, "lineup: {body}");
    }

    /// A bid on an auction lot (`POST …/auctions/{auction}/bids`) under the `Idempotency-Key`
    /// `key` (none when `None`); returns the status, the answer and whether it was a replay.
    pub async fn bid(
        &self,
        show: &str,
        auction: &str,
        token: &str,
        key: Option<&str>,
        body: Value,
    ) -> (u16, Value, bool) {
        let mut req = self
            .http
            .post(self.url(&format!("/api/shows/{show}/auctions/{auction}/bids")))
            .bearer_auth(token)
            .json(&body);
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let resp = req.send().await.expect("POST bids");
        let replayed = resp.headers().get("idempotent-replayed").is_some();
        let (status, body) = TestServer::finish(resp).await;
        (status, body, replayed)
    }

    /// Joins a show as a guest; returns (viewer_id, token).
    pub async fn viewer(&self, show: &str, name: &str) -> (String, String) {
        let (status, body) = self
            .post(
                &format!("/api/shows/{show}/viewers"),
                None,
                json!({ "display_name": name }),
            )
            .await;
        assert_eq!(status, 201, "join: {body}");
        (s(&body["viewer_id"]), s(&body["token"]))
    }

    /// Sets `quantity` of `product` in the viewer's cart (`PUT …/cart/items/{product}`).
    pub async fn set_cart(
        &self,
        show: &str,
        token: &str,
        product: &str,
        quantity: i64,
    ) -> (u16, Value) {
        let req = self
            .http
            .put(self.url(&format!("/api/shows/{show}/cart/items/{product}")))
            .bearer_auth(token)
            .json(&json!({ "quantity": quantity }));
        TestServer::finish(req.send().await.expect("PUT cart")).await
    }

    /// Checks the viewer's cart out under the `Idempotency-Key` `key` (`POST …/checkout`).
    pub async fn checkout(&self, show: &str, token: &str, key: &str) -> (u16, Value) {
        let req = self
            .http
            .post(self.url(&format!("/api/shows/{show}/checkout")))
            .bearer_auth(token)
            .header("Idempotency-Key", key);
        TestServer::finish(req.send().await.expect("checkout")).await
    }
}

/// The certificate a [`TestServer`] with TLS presents.
#[derive(Debug, Clone)]
pub struct ServedCert {
    pub der: Vec<u8>,
    /// SHA-256 of `der`, `AB:CD:…` (what browsers and node show).
    pub fingerprint: String,
}

impl ServedCert {
    /// The certificate the server at `base` presents (read without verifying it), checked to
    /// be the one with `fingerprint` that the App made.
    async fn fetch(base: &str, fingerprint: String) -> ServedCert {
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .tls_info(true)
            .timeout(Duration::from_secs(20))
            .build()
            .expect("https client");
        let resp = client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("an HTTPS answer");
        let der = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .expect("the server's certificate")
            .to_vec();
        assert_eq!(
            livesale::tls::fingerprint(&der),
            fingerprint,
            "the certificate served is not the one the App reports"
        );
        ServedCert { der, fingerprint }
    }

    /// The certificate as PEM.
    pub fn pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // The recordings folder `test_config` made for this server (not one a test chose).
        let dir = &self.config.recordings_dir;
        let ours = dir.parent() == Some(std::env::temp_dir().as_path())
            && dir
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("livesale-rec-"));
        if ours {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A JSON string field as an owned String (panics with the value if it is not a string).
pub fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_string()
}

/// Asserts a problem+json answer with the given status and code.
pub fn assert_problem(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(
        got.0, status,
        "expected {status} {code}, got {} {}",
        got.0, got.1
    );
    assert_eq!(got.1["code"], code, "expected code {code}, got {}", got.1);
    assert_eq!(got.1["status"], status, "problem body status: {}", got.1);
}

/// The real `livesale` binary in its own process, for tests that kill, signal or restart it.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    /// Everything the process printed on stdout up to the banner's end.
    pub banner: String,
    stderr_lines: mpsc::Receiver<String>,
    /// Kept so the process's stdout pipe stays open after the banner.
    _stdout_lines: mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Starts the binary with `args` (plus `--bind 127.0.0.1:0` unless given) and waits for
    /// its banner to learn the address.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> ServerProcess {
        Self::spawn_wrapped(&[], args, envs)
    }

    /// [`ServerProcess::spawn`] through a wrapper command, e.g.
    /// `["prlimit", "--nofile=256:256", "--"]`.
    pub fn spawn_wrapped(wrapper: &[&str], args: &[&str], envs: &[(&str, &str)]) -> ServerProcess {
        let binary = env!("CARGO_BIN_EXE_livesale");
        let mut cmd = match wrapper.split_first() {
            None => Command::new(binary),
            Some((program, rest)) => {
                let mut cmd = Command::new(program);
                cmd.args(rest).arg(binary);
                cmd
            }
        };
        if !args.contains(&"--bind") {
            cmd.args(["--bind", "127.0.0.1:0"]);
        }
        cmd.args(args)
            .env_remove("REDIS_URL")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn the livesale binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (out_tx, out_rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if out_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (err_tx, err_rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        });
        let mut banner = String::new();
        let mut base = None;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            match out_rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(rest) = line.trim().strip_prefix("livesale is running at ") {
                        base = Some(rest.trim().to_string());
                    }
                    banner.push_str(&line);
                    banner.push('\n');
                    if line.trim() == "Press Ctrl-C to stop." {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        let logs: Vec<String> = err_rx.try_iter().collect();
                        panic!("livesale exited early ({status}):\n{}", logs.join("\n"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let base = base.unwrap_or_else(|| {
            let _ = child.kill();
            let logs: Vec<String> = err_rx.try_iter().collect();
            panic!("livesale printed no banner:\n{banner}\n{}", logs.join("\n"))
        });
        ServerProcess {
            child,
            base,
            banner,
            stderr_lines: err_rx,
            _stdout_lines: out_rx,
        }
    }

    /// Log lines printed so far (stderr carries tracing output).
    pub fn logs(&self) -> Vec<String> {
        self.stderr_lines.try_iter().collect()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("livesale did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process at once (a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
