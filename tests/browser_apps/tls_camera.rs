//! The phone camera page over HTTPS with the self-signed certificate
//! (tests/browser/camera-https.mjs): the server runs with `--tls-self-signed` (explicit bind on
//! 127.0.0.1, so it stays there); a browser that has not accepted the certificate gets the
//! certificate error, one that has opens `https://…/camera/{invite}` at phone size as a secure
//! context, publishes over WHIP on https://, keeps its tally room on wss://, and shows ON AIR
//! when the creator takes it. The same page on a plain-http LAN origin is no secure context.

use std::time::Duration;

use crate::Fixture;
use crate::common::browser::{print_log, require_browser_harness, run_node};
use crate::common::server::{Backend, test_config};

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_phone_camera_goes_on_air_over_https_with_the_self_signed_certificate() {
    require_browser_harness();
    let mut config = test_config(Backend::Redis);
    config.tls_self_signed = true;
    let fx = Fixture::with_config(config, true).await;
    assert!(
        fx.srv.base.starts_with("https://127.0.0.1:"),
        "an explicit 127.0.0.1 bind stays there, over https: {}",
        fx.srv.base
    );
    let cert = fx.srv.tls.clone().expect("the server serves TLS");

    // Plain HTTP on the HTTPS port gets no page.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(format!("http://{}/healthz", fx.srv.addr))
        .send()
        .await;
    assert!(
        !matches!(&plain, Ok(r) if r.status().is_success()),
        "plain http answered on the https port: {plain:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("livesale-cert.pem");
    std::fs::write(&pem, cert.pem()).unwrap();
    let mut args = fx.args();
    args.extend([
        "--ca-pem".into(),
        pem.to_str().unwrap().to_string(),
        "--fingerprint".into(),
        cert.fingerprint.clone(),
        "--deadline-ms".into(),
        (RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string(),
    ]);
    let run = run_node("camera-https.mjs", &args, RUN_TIMEOUT).await;
    print_log("camera over https", &run);
    run.expect_ok("the phone camera page over HTTPS");
    let r = &run.result;
    assert_eq!(r["page"]["secure_context"], true, "{r}");
    assert_eq!(r["page"]["media_devices"], true, "{r}");
    assert!(
        r["cert_warning"]
            .as_str()
            .is_some_and(|e| e.contains("ERR_CERT")),
        "{r}"
    );
    assert!(
        r["ws"].as_array().is_some_and(|w| !w.is_empty()
            && w.iter()
                .all(|u| u.as_str().is_some_and(|u| u.starts_with("wss://")))),
        "{r}"
    );
    assert_eq!(r["insecure"]["secure_context"], false, "{r}");
    println!(
        "camera over https: {} ({}), room {}, WHIP {}, ON AIR {} ms after the take; before \
         accepting: {}; node without the certificate: {}; plain http LAN origin: secure context {}",
        r["tls"]["protocol"],
        r["tls"]["subject"],
        r["ws"],
        r["whip"],
        r["take"]["tally_ms"],
        r["cert_warning"],
        r["untrusted_fetch"],
        r["insecure"]["secure_context"]
    );

    // The server's side while the phone was connected, as the script read it over HTTPS
    // (once the script ends, Chromium closes and the camera's session with it): listed, and on
    // air.
    let camera = r["camera_id"]
        .as_str()
        .expect("the camera's id")
        .to_string();
    let cams = &r["server"]["cameras"];
    assert!(
        cams.as_array()
            .is_some_and(|c| c.iter().any(|c| c["id"] == camera.as_str())),
        "GET cameras did not list {camera}: {cams}"
    );
    assert_eq!(r["server"]["program"], camera.as_str(), "{r}");
    // And this test's own client, trusting only the served certificate, is answered over HTTPS.
    let (status, cams) = fx
        .srv
        .get(
            &format!("/api/shows/{}/cameras", fx.show),
            Some(&fx.creator),
        )
        .await;
    assert_eq!(status, 200, "{cams}");
    fx.srv.stop().await;
}
