//! Settings as the command line and the environment give them: the built-in payment provider
//! stays the default, Stripe needs its three keys and http(s) URLs, secrets never show in
//! `Debug`, and `--help` documents each setting; the WebRTC stack's log filter.

use super::{Config, PaymentsMode, Secret};

const KEYS: [&str; 6] = [
    "--stripe-secret-key=sk_test_SeCrEt1",
    "--stripe-publishable-key=pk_test_pub1",
    "--stripe-webhook-secret=whsec_SeCrEt2",
    "--secret=token-SeCrEt3",
    "--admin-token=admin-SeCrEt4",
    "--payments=stripe",
];

fn load(args: &[&str]) -> Result<Config, clap::Error> {
    Config::load_from(std::iter::once("livesale").chain(args.iter().copied()))
}

#[test]
fn the_built_in_provider_stays_the_default() {
    let config = load(&[]).unwrap();
    assert_eq!(config.payments, PaymentsMode::Approve);
    assert_eq!(config.stripe(), Ok(None));
    assert_eq!(config.stripe_api_base, "https://api.stripe.com/");
    assert_eq!(config.stripe_js_url, "https://js.stripe.com/v3/");
    for (flag, mode) in [
        ("approve", PaymentsMode::Approve),
        ("decline", PaymentsMode::Decline),
        ("hang", PaymentsMode::Hang),
    ] {
        let config = load(&["--payments", flag]).unwrap();
        assert_eq!(config.payments, mode);
        assert!(config.payments.test_mode().is_some());
    }
    assert_eq!(PaymentsMode::Stripe.test_mode(), None);
    // Keys without stripe are allowed (and unused).
    assert_eq!(load(&[KEYS[0]]).unwrap().stripe(), Ok(None));
}

#[test]
fn stripe_needs_all_three_keys_and_names_the_missing_one() {
    let config = load(&KEYS).unwrap();
    let stripe = config.stripe().unwrap().expect("stripe is on");
    assert_eq!(stripe.secret_key.expose(), "sk_test_SeCrEt1");
    assert_eq!(stripe.publishable_key, "pk_test_pub1");
    assert_eq!(stripe.webhook_secret.expose(), "whsec_SeCrEt2");
    assert_eq!(stripe.api_base, "https://api.stripe.com");
    assert_eq!(stripe.js_url, "https://js.stripe.com/v3/");
    for (left_out, flag) in [
        (0, "--stripe-secret-key"),
        (1, "--stripe-publishable-key"),
        (2, "--stripe-webhook-secret"),
    ] {
        let args: Vec<&str> = (0..KEYS.len())
            .filter(|i| *i != left_out)
            .map(|i| KEYS[i])
            .collect();
        let e = load(&args).expect_err("a key is missing").to_string();
        assert!(e.contains(flag), "{flag}: {e}");
        // Blank counts as missing.
        let blank = format!("{flag}=  ");
        let mut args = args.clone();
        args.push(&blank);
        let e = load(&args).expect_err("a key is blank").to_string();
        assert!(e.contains(flag), "{flag}: {e}");
    }
}

#[test]
fn stripe_urls_must_be_http_or_https() {
    let local = load(&[
        "--stripe-api-base=http://127.0.0.1:8420/",
        "--stripe-js-url=http://127.0.0.1:8420/js.stripe.com/v3/",
    ])
    .unwrap();
    assert_eq!(local.stripe_api_base, "http://127.0.0.1:8420/");
    let with = load(&[&KEYS[..], &["--stripe-api-base=http://127.0.0.1:8420/"]].concat());
    assert_eq!(
        with.unwrap().stripe().unwrap().unwrap().api_base,
        "http://127.0.0.1:8420"
    );
    for flag in ["--stripe-api-base", "--stripe-js-url"] {
        for bad in [
            "api.stripe.com",
            "ftp://api.stripe.com",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "https://",
            "https://user:pw@api.stripe.com",
            "",
        ] {
            let arg = format!("{flag}={bad}");
            let e = load(&[&arg]).expect_err(bad).to_string();
            assert!(e.contains(flag), "{arg}: {e}");
        }
    }
}

#[test]
fn secrets_never_show_in_debug_output() {
    let config = load(&KEYS).unwrap();
    let shown = format!("{config:?} {:?} {config:#?}", config.stripe());
    for secret in ["SeCrEt1", "SeCrEt2", "SeCrEt3", "SeCrEt4"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains("pk_test_pub1"),
        "the publishable key is no secret"
    );
    assert_eq!(format!("{:?}", Secret::from("x")), "Secret(***)");
    assert_eq!(
        config.secret.as_ref().map(Secret::expose),
        Some("token-SeCrEt3")
    );
}

#[test]
fn help_documents_the_stripe_settings_without_their_values() {
    use clap::CommandFactory;
    let help = Config::command().render_long_help().to_string();
    for (flag, env) in [
        ("--payments", "LIVESALE_PAYMENTS"),
        ("--stripe-secret-key", "STRIPE_SECRET_KEY"),
        ("--stripe-publishable-key", "STRIPE_PUBLISHABLE_KEY"),
        ("--stripe-webhook-secret", "STRIPE_WEBHOOK_SECRET"),
        ("--stripe-api-base", "LIVESALE_STRIPE_API_BASE"),
        ("--stripe-js-url", "LIVESALE_STRIPE_JS_URL"),
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
        assert!(help.contains(&format!("[env: {env}")), "--help lacks {env}");
    }
    assert!(help.contains("stripe"), "--payments lists stripe");
    assert!(help.contains("https://api.stripe.com"));
}

#[test]
fn auction_settings_have_their_defaults_flags_and_variables() {
    let config = load(&[]).unwrap();
    assert_eq!(
        (
            config.bid_rate,
            config.bid_burst,
            config.auction_payment_window_s
        ),
        (10, 20, 120)
    );
    let config = load(&[
        "--bid-rate=3",
        "--bid-burst",
        "7",
        "--auction-payment-window-s=300",
    ])
    .unwrap();
    assert_eq!(
        (
            config.bid_rate,
            config.bid_burst,
            config.auction_payment_window_s
        ),
        (3, 7, 300)
    );
    assert!(load(&["--bid-rate=-1"]).is_err());
    use clap::CommandFactory;
    let help = Config::command().render_long_help().to_string();
    for env in [
        "LIVESALE_BID_RATE",
        "LIVESALE_BID_BURST",
        "LIVESALE_AUCTION_PAYMENT_WINDOW_S",
    ] {
        assert!(help.contains(&format!("[env: {env}")), "--help lacks {env}");
    }
}

fn filter(log: &str) -> String {
    Config {
        log: log.into(),
        ..Config::defaults()
    }
    .log_filter()
}

#[test]
fn the_webrtc_stack_logs_only_errors_unless_named() {
    assert_eq!(filter("info"), "info,rtc=error,webrtc=error");
    assert_eq!(filter("debug"), "debug,rtc=error,webrtc=error");
    assert_eq!(filter(""), "rtc=error,webrtc=error");
    // Named by the operator: theirs stands.
    assert_eq!(
        filter("info,rtc_ice=debug"),
        "info,rtc_ice=debug,webrtc=error"
    );
    assert_eq!(
        filter("warn,webrtc=info,rtc=warn"),
        "warn,webrtc=info,rtc=warn"
    );
}
