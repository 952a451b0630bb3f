//! The Stripe client (`commerce::stripe`) against a real localstripe on 127.0.0.1: customers,
//! PaymentIntents paid, declined, cancelled and refunded, SetupIntents and saved cards, the
//! typed errors (a bad key, an unknown id, Stripe down, slow or failing), the request's wire
//! form, and a webhook from localstripe verified and parsed. Where localstripe differs from
//! Stripe (it types declines `invalid_request_error`, ignores `Idempotency-Key`), the test says so.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::localstripe::{self, CARD_DECLINED, CARD_OK, LocalStripe};
use common::receiver::{Receiver, Reply};
use livesale::commerce::stripe::objects::{PaymentIntentStatus, SetupIntentStatus};
use livesale::commerce::stripe::{
    AmountError, Event, EventType, NewPaymentIntent, Secret, SignatureError, StripeClient,
    StripeError, signature,
};
use livesale::domain::{Money, OrderId, ShowId, ViewerId};
use url::Url;
use uuid::Uuid;

fn client_at(api_base: Url, key: &str, timeout: Duration) -> StripeClient {
    StripeClient::new(api_base, Secret::new(key), timeout).expect("a Stripe client")
}

fn client(stripe: &LocalStripe) -> StripeClient {
    client_at(
        stripe.api_base(),
        localstripe::SECRET_KEY,
        Duration::from_secs(10),
    )
}

fn usd(cents: i64) -> Money {
    Money::price(cents, "USD").unwrap()
}

fn intent(amount: Money) -> NewPaymentIntent<'static> {
    NewPaymentIntent {
        amount,
        order_id: OrderId(Uuid::new_v4()),
        show_id: ShowId(Uuid::new_v4()),
        customer: None,
        payment_method: None,
        confirm: false,
        off_session: false,
    }
}

fn key() -> String {
    format!("test-{}", Uuid::new_v4())
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A receiver answering `status`, on a port the kernel picks as it binds (no reserve-then-bind
/// race with the localstripe processes of the other tests).
async fn receiver(status: u16) -> Receiver {
    let any_port = "127.0.0.1:0".parse().unwrap();
    Receiver::scripted(any_port, move |_| Reply::Status(status)).await
}

fn pickle_state() -> Option<SystemTime> {
    std::fs::metadata("/tmp/localstripe.pickle")
        .and_then(|m| m.modified())
        .ok()
}

#[tokio::test]
async fn a_customer_pays_an_order_with_4242() {
    let pickle_before = pickle_state();
    let stripe = LocalStripe::start().await;
    let api = client(&stripe);
    let viewer = ViewerId(Uuid::new_v4());
    let customer = api
        .create_customer(Some("buyer@example.com"), viewer, &key())
        .await
        .unwrap();
    assert!(customer.id.starts_with("cus_"), "{customer:?}");
    assert_eq!(customer.email.as_deref(), Some("buyer@example.com"));
    assert_eq!(customer.viewer_id(), Some(viewer));

    let new = NewPaymentIntent {
        customer: Some(&customer.id),
        ..intent(usd(1999))
    };
    let created = api.create_payment_intent(&new, &key()).await.unwrap();
    assert!(created.id.starts_with("pi_"), "{created:?}");
    assert_eq!(created.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!((created.amount, created.currency.as_str()), (1999, "usd"));
    assert!(
        created
            .client_secret
            .as_deref()
            .unwrap()
            .starts_with(&created.id)
    );
    assert_eq!(created.order_id(), Some(new.order_id));
    assert_eq!(created.show_id(), Some(new.show_id));
    assert_eq!(created.customer.as_deref(), Some(customer.id.as_str()));

    let card = stripe.card(CARD_OK).await;
    let paid = api
        .confirm_payment_intent(&created.id, &card)
        .await
        .unwrap();
    assert_eq!(paid.status, PaymentIntentStatus::Succeeded, "{paid:?}");
    assert_eq!(paid.money(), Ok(usd(1999)));
    let again = api.retrieve_payment_intent(&created.id).await.unwrap();
    assert_eq!(again.status, PaymentIntentStatus::Succeeded);
    assert_eq!(again.payment_method.as_deref(), Some(card.as_str()));

    // The harness keeps localstripe's state in memory: its pickle file is not written.
    assert_eq!(
        pickle_state(),
        pickle_before,
        "/tmp/localstripe.pickle changed"
    );
}

#[tokio::test]
async fn a_declined_card_is_a_typed_decline() {
    let stripe = LocalStripe::start().await;
    let api = client(&stripe);
    let created = api
        .create_payment_intent(&intent(usd(2500)), &key())
        .await
        .unwrap();
    let card = stripe.card(CARD_DECLINED).await;
    let err = api
        .confirm_payment_intent(&created.id, &card)
        .await
        .unwrap_err();
    // localstripe answers 402 with type invalid_request_error (Stripe says card_error).
    match &err {
        StripeError::Declined { code, message, .. } => {
            assert_eq!(code.as_deref(), Some("card_declined"));
            assert_eq!(message, "Your card was declined.");
        }
        other => panic!("expected a decline, got {other:?}"),
    }
    assert!(!err.is_unavailable());
    let after = api.retrieve_payment_intent(&created.id).await.unwrap();
    assert_eq!(after.status, PaymentIntentStatus::RequiresPaymentMethod);
    let last = after.last_payment_error.expect("the decline is recorded");
    assert_eq!(last.code.as_deref(), Some("card_declined"));

    // Real Stripe lets a `requires_payment_method` intent be confirmed again with another
    // card; localstripe keeps the failed charge and refuses, so a retry after a decline needs
    // a new PaymentIntent for the same order (which works on both).
    let good = stripe.card(CARD_OK).await;
    let err = api
        .confirm_payment_intent(&created.id, &good)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StripeError::InvalidRequest { status: 400, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unpaid_intent_is_cancelled_once() {
    let stripe = LocalStripe::start().await;
    let api = client(&stripe);
    let created = api
        .create_payment_intent(&intent(Money::price(1500, "JPY").unwrap()), &key())
        .await
        .unwrap();
    assert_eq!((created.amount, created.currency.as_str()), (1500, "jpy"));
    let cancelled = api.cancel_payment_intent(&created.id).await.unwrap();
    assert_eq!(cancelled.status, PaymentIntentStatus::Canceled);
    let err = api.cancel_payment_intent(&created.id).await.unwrap_err();
    assert!(
        matches!(err, StripeError::InvalidRequest { status: 400, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_paid_intent_is_refunded_in_full_or_in_part() {
    let stripe = LocalStripe::start().await;
    let api = client(&stripe);
    let card = stripe.card(CARD_OK).await;
    // One tap: created with the card and confirmed at once.
    let new = NewPaymentIntent {
        payment_method: Some(&card),
        confirm: true,
        ..intent(Money::price(5120, "KWD").unwrap())
    };
    let paid = api.create_payment_intent(&new, &key()).await.unwrap();
    assert_eq!(paid.status, PaymentIntentStatus::Succeeded, "{paid:?}");
    assert_eq!((paid.amount, paid.currency.as_str()), (5120, "kwd"));

    let part = api
        .create_refund(&paid.id, Some(Money::price(1000, "KWD").unwrap()), &key())
        .await
        .unwrap();
    assert!(part.id.starts_with("re_"), "{part:?}");
    assert_eq!(part.amount, 1000);
    assert_eq!(part.status.as_deref(), Some("succeeded"));
    assert_eq!(part.payment_intent.as_deref(), Some(paid.id.as_str()));
    let full = api.create_refund(&paid.id, None, &key()).await.unwrap();
    assert_eq!(full.amount, 5120);

    // A refund in Stripe's units that cannot exist is refused before anything is sent.
    let err = api
        .create_refund(&paid.id, Some(Money::price(1005, "KWD").unwrap()), &key())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StripeError::Amount(AmountError::NotRepresentable { step: 10, .. })
        ),
        "{err:?}"
    );

    // A declined intent has nothing to refund.
    let declined = api
        .create_payment_intent(&intent(usd(300)), &key())
        .await
        .unwrap();
    let bad_card = stripe.card(CARD_DECLINED).await;
    api.confirm_payment_intent(&declined.id, &bad_card)
        .await
        .unwrap_err();
    let err = api
        .create_refund(&declined.id, None, &key())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StripeError::InvalidRequest { status: 400, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_card_is_saved_with_a_setup_intent_listed_and_removed() {
    let stripe = LocalStripe::start().await;
    let api = client(&stripe);
    let customer = api
        .create_customer(None, ViewerId(Uuid::new_v4()), &key())
        .await
        .unwrap();
    assert_eq!(customer.email, None);
    let setup = api.create_setup_intent(&customer.id, &key()).await.unwrap();
    assert!(setup.id.starts_with("seti_"), "{setup:?}");
    assert_eq!(setup.status, SetupIntentStatus::RequiresPaymentMethod);
    assert_eq!(setup.customer.as_deref(), Some(customer.id.as_str()));
    assert!(setup.client_secret.is_some());
    assert!(
        api.list_payment_methods(&customer.id)
            .await
            .unwrap()
            .is_empty()
    );

    // What Stripe.js's confirmCardSetup does in the page.
    let card = stripe.card(CARD_OK).await;
    let confirmed = stripe.confirm_setup_intent(&setup.id, &card).await;
    assert_eq!(confirmed["status"], "succeeded");
    let setup = api.retrieve_setup_intent(&setup.id).await.unwrap();
    assert_eq!(setup.status, SetupIntentStatus::Succeeded);
    assert_eq!(setup.payment_method.as_deref(), Some(card.as_str()));
    // localstripe's SetupIntent does not attach the card to the customer (Stripe's does);
    // attaching here stands in for that, so the listing below reads a saved card.
    let attach = reqwest::Client::new()
        .post(format!(
            "{}/v1/payment_methods/{card}/attach",
            stripe.base()
        ))
        .bearer_auth(localstripe::SECRET_KEY)
        .form(&[("customer", customer.id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(attach.status().is_success());

    let saved = api.list_payment_methods(&customer.id).await.unwrap();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0].id, card);
    assert_eq!(saved[0].type_, "card");
    let shown = saved[0].card.clone().unwrap();
    assert_eq!(shown.last4.as_deref(), Some("4242"));
    assert_eq!((shown.exp_month, shown.exp_year), (Some(12), Some(2030)));

    // The saved card pays off session, in one request.
    let new = NewPaymentIntent {
        customer: Some(&customer.id),
        payment_method: Some(&card),
        confirm: true,
        off_session: true,
        ..intent(Money::price(7, "ISK").unwrap())
    };
    let paid = api.create_payment_intent(&new, &key()).await.unwrap();
    assert_eq!(paid.status, PaymentIntentStatus::Succeeded);
    assert_eq!((paid.amount, paid.currency.as_str()), (700, "isk"));
    assert_eq!(paid.money(), Ok(Money::price(7, "ISK").unwrap()));

    let detached = api.detach_payment_method(&card).await.unwrap();
    assert_eq!(detached.customer, None);
    assert!(
        api.list_payment_methods(&customer.id)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_bad_key_and_an_unknown_id_are_typed_and_the_key_stays_secret() {
    let stripe = LocalStripe::start().await;
    let wrong = client_at(
        stripe.api_base(),
        "pk_secret_not_for_logs",
        Duration::from_secs(10),
    );
    let err = wrong
        .create_payment_intent(&intent(usd(100)), &key())
        .await
        .unwrap_err();
    assert_eq!(err, StripeError::Authentication { status: 401 });
    let shown = format!("{err} {err:?} {wrong:?}");
    assert!(!shown.contains("not_for_logs"), "{shown}");

    let api = client(&stripe);
    let err = api
        .retrieve_payment_intent("pi_does_not_exist")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StripeError::InvalidRequest { status: 404, .. }),
        "{err:?}"
    );
    // An id cannot reach another route: it stays one (percent-encoded) path segment.
    let err = api
        .retrieve_payment_intent("../customers")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StripeError::InvalidRequest { status: 404, .. }),
        "{err:?}"
    );
    let err = api
        .create_payment_intent(&intent(Money::price(0, "USD").unwrap()), &key())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StripeError::Amount(AmountError::NotPositive { amount: 0 })
    );
}

#[tokio::test]
async fn stripe_down_is_typed_within_the_timeout() {
    // Nothing listens: refused at once.
    let closed = common::receiver::free_addr();
    let api = client_at(
        Url::parse(&format!("http://{closed}")).unwrap(),
        localstripe::SECRET_KEY,
        Duration::from_millis(500),
    );
    let started = Instant::now();
    let err = api.retrieve_payment_intent("pi_1").await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // Accepts the connection and never answers: the timeout ends it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let api = client_at(
        Url::parse(&format!("http://{addr}")).unwrap(),
        localstripe::SECRET_KEY,
        Duration::from_millis(300),
    );
    let started = Instant::now();
    let err = api
        .create_payment_intent(&intent(usd(100)), &key())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        err,
        StripeError::Unavailable {
            reason: "no answer within the timeout".into()
        }
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    held.abort();
}

#[tokio::test]
async fn a_5xx_is_unavailable_and_the_request_has_stripes_form() {
    let failing = receiver(500).await;
    let api = client_at(
        Url::parse(&failing.url()).unwrap(),
        "sk_test_wire_form",
        Duration::from_secs(5),
    );
    let new = NewPaymentIntent {
        customer: Some("cus_123"),
        ..intent(usd(1999))
    };
    let err = api
        .create_payment_intent(&new, "order-key-1")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StripeError::Unavailable { reason } if reason.starts_with("HTTP 500")),
        "{err:?}"
    );
    let got = failing.wait_for(1, Duration::from_secs(5)).await;
    let request = &got[0];
    assert_eq!(request.header("authorization"), "Bearer sk_test_wire_form");
    assert_eq!(request.header("idempotency-key"), "order-key-1");
    assert_eq!(
        request.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert!(!request.header("stripe-version").is_empty());
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    let expected = [
        ("amount", "1999".to_string()),
        ("currency", "usd".to_string()),
        ("metadata[order_id]", new.order_id.to_string()),
        ("metadata[show_id]", new.show_id.to_string()),
        ("payment_method_types[]", "card".to_string()),
        ("customer", "cus_123".to_string()),
    ];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(form, expected);
    // Reads carry no idempotency key.
    let _ = api.retrieve_payment_intent("pi_1").await;
    let got = failing.wait_for(2, Duration::from_secs(5)).await;
    assert!(got[1].headers.get("idempotency-key").is_none());
}

#[tokio::test]
async fn a_webhook_from_localstripe_verifies_and_parses() {
    let stripe = LocalStripe::start().await;
    let receiver = receiver(200).await;
    let secret = Secret::new("whsec_livesale_test");
    stripe
        .register_webhook("livesale", &receiver.url(), secret.expose())
        .await;
    let api = client(&stripe);
    let new = intent(usd(4200));
    let created = api.create_payment_intent(&new, &key()).await.unwrap();
    let card = stripe.card(CARD_OK).await;
    api.confirm_payment_intent(&created.id, &card)
        .await
        .unwrap();

    // localstripe waits a second before sending.
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let delivery = &got[0];
    let header = delivery.header("stripe-signature");
    let t = signature::verify(Some(header), &delivery.body, &secret, unix_now())
        .unwrap_or_else(|e| panic!("localstripe's signature {header:?} did not verify: {e}"));
    assert!(unix_now().abs_diff(t) < 60);
    assert_eq!(
        signature::verify(
            Some(header),
            &delivery.body,
            &Secret::new("whsec_other"),
            unix_now()
        ),
        Err(SignatureError::NoMatch)
    );
    // The same delivery replayed after the tolerance is refused.
    assert_eq!(
        signature::verify(
            Some(header),
            &delivery.body,
            &secret,
            t + signature::TOLERANCE_S + 1
        ),
        Err(SignatureError::OutsideTolerance {
            t,
            now: t + signature::TOLERANCE_S + 1
        })
    );
    // Our signer gives localstripe's header for the same secret, time and body.
    assert_eq!(signature::sign(&secret, t, &delivery.body), header);

    let event = Event::parse(&delivery.body).unwrap();
    assert!(event.id.starts_with("evt_"), "{event:?}");
    assert_eq!(event.type_, EventType::PaymentIntentSucceeded);
    assert_eq!(event.created, t);
    let pi = event.payment_intent().unwrap();
    assert_eq!(pi.id, created.id);
    assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
    assert_eq!(pi.money(), Ok(usd(4200)));
    assert_eq!(pi.order_id(), Some(new.order_id));
    assert_eq!(pi.show_id(), Some(new.show_id));

    // A declined payment sends payment_intent.payment_failed.
    let declined = api
        .create_payment_intent(&intent(usd(100)), &key())
        .await
        .unwrap();
    let bad = stripe.card(CARD_DECLINED).await;
    api.confirm_payment_intent(&declined.id, &bad)
        .await
        .unwrap_err();
    let got = receiver.wait_for(2, Duration::from_secs(10)).await;
    let failed = Event::parse(&got[1].body).unwrap();
    signature::verify(
        Some(got[1].header("stripe-signature")),
        &got[1].body,
        &secret,
        unix_now(),
    )
    .unwrap();
    assert_eq!(failed.type_, EventType::PaymentIntentPaymentFailed);
    assert_eq!(failed.payment_intent().unwrap().id, declined.id);
}
