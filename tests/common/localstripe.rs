//! localstripe (PyPI, the version in tests/localstripe/requirements.txt), a stateful
//! Stripe-compatible server with a Stripe.js stand-in, for the Stripe tests. Each
//! [`LocalStripe`] is its own process on a free port of 127.0.0.1 with its state in memory
//! (tests/localstripe/serve.py says why localstripe's own entry point is not used), killed when
//! dropped. The interpreter is `LIVESALE_TEST_LOCALSTRIPE_PYTHON`, a venv's python that
//! scripts/test.sh makes; without it the tests fail and say how to make one.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use url::Url;

/// The secret key tests use: localstripe takes any `sk_…` key.
pub const SECRET_KEY: &str = "sk_test_livesale_localstripe";

/// Test cards localstripe knows (its resources.py): one that pays, one whose PaymentIntents
/// are declined, one that needs 3-D Secure.
pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000341";
pub const CARD_3DS: &str = "4000002500003155";

const ENV: &str = "LIVESALE_TEST_LOCALSTRIPE_PYTHON";

pub struct LocalStripe {
    pub port: u16,
    child: Child,
    // Held open: serve.py exits when its stdin closes, even if this process is killed.
    _stdin: ChildStdin,
    http: reqwest::Client,
}

fn python() -> String {
    match std::env::var(ENV) {
        Ok(path) if std::path::Path::new(&path).is_file() => path,
        Ok(path) => panic!(
            "{ENV}={path} is not a file: run scripts/test.sh, which makes the venv, or point it \
             at a python with localstripe installed"
        ),
        Err(_) => panic!(
            "{ENV} is not set. The Stripe tests run localstripe with it: run scripts/test.sh, or \
             `python3 -m venv target/localstripe-venv && target/localstripe-venv/bin/pip install \
             -r tests/localstripe/requirements.txt` and export \
             {ENV}=$PWD/target/localstripe-venv/bin/python"
        ),
    }
}

impl LocalStripe {
    /// Starts localstripe and waits until it answers.
    pub async fn start() -> LocalStripe {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/localstripe/serve.py");
        let mut child = Command::new(python())
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start localstripe with {}: {e}", python()));
        let stdin = child.stdin.take().expect("localstripe's stdin");
        let stdout = child.stdout.take().expect("localstripe's stdout");
        let first_line = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::task::spawn_blocking(move || {
                let mut line = String::new();
                BufReader::new(stdout).read_line(&mut line).map(|_| line)
            }),
        )
        .await;
        let port = match first_line {
            Ok(Ok(Ok(line))) => line.trim().parse::<u16>().ok(),
            _ => None,
        };
        let Some(port) = port else {
            let _ = child.kill();
            let status = child.wait();
            panic!("localstripe did not print its port (exit: {status:?}); see its stderr above");
        };
        let mut stripe = LocalStripe {
            port,
            child,
            _stdin: stdin,
            http: reqwest::Client::new(),
        };
        stripe.wait_ready().await;
        stripe
    }

    async fn wait_ready(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match self.http.get(self.js_url()).send().await {
                Ok(answer) if answer.status().is_success() => return,
                _ => {}
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("localstripe exited ({status}) before answering; see its stderr above");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "localstripe on port {} did not answer within 30 s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:PORT`, what `--stripe-api-base` takes.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn api_base(&self) -> Url {
        Url::parse(&self.base()).expect("localstripe's URL")
    }

    /// Its Stripe.js stand-in, what `--stripe-js-url` takes.
    pub fn js_url(&self) -> String {
        format!("{}/js.stripe.com/v3/", self.base())
    }

    /// Has localstripe POST its events to `url`, signed with `secret`.
    pub async fn register_webhook(&self, name: &str, url: &str, secret: &str) {
        let answer = self
            .http
            .post(format!("{}/_config/webhooks/{name}", self.base()))
            .form(&[("url", url), ("secret", secret)])
            .send()
            .await
            .expect("register a localstripe webhook");
        assert!(
            answer.status().is_success(),
            "localstripe refused the webhook: {}",
            answer.status()
        );
    }

    /// A card payment method (`pm_…`) made server-side, as Stripe.js would make it in a page.
    /// (Real Stripe refuses raw card numbers from servers; localstripe takes them.)
    pub async fn card(&self, number: &str) -> String {
        let answer = self
            .http
            .post(format!("{}/v1/payment_methods", self.base()))
            .bearer_auth(SECRET_KEY)
            .form(&[
                ("type", "card"),
                ("card[number]", number),
                ("card[exp_month]", "12"),
                ("card[exp_year]", "2030"),
                ("card[cvc]", "123"),
            ])
            .send()
            .await
            .expect("create a payment method in localstripe");
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.expect("a JSON payment method");
        assert!(status.is_success(), "localstripe refused the card: {body}");
        body["id"]
            .as_str()
            .expect("a payment method id")
            .to_string()
    }

    /// Confirms a SetupIntent with a payment method, as Stripe.js's `confirmCardSetup` does
    /// (with the publishable key, which localstripe accepts for this route).
    pub async fn confirm_setup_intent(&self, id: &str, payment_method: &str) -> serde_json::Value {
        let answer = self
            .http
            .post(format!("{}/v1/setup_intents/{id}/confirm", self.base()))
            .form(&[
                ("key", "pk_test_livesale"),
                ("payment_method", payment_method),
            ])
            .send()
            .await
            .expect("confirm a SetupIntent in localstripe");
        let status = answer.status();
        let body: serde_json::Value = answer.json().await.expect("a JSON SetupIntent");
        assert!(
            status.is_success(),
            "localstripe refused the SetupIntent: {body}"
        );
        body
    }
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
