//! HTTPS for phones and QR codes: the real binary with `--tls-self-signed` (certificate names,
//! fingerprint, banner with a QR code a scanner reads back, `wss://` with `welcome` and close
//! 1001 on shutdown), with `--tls-cert`/`--tls-key` from files, refused combinations, the
//! default bind widening, media candidates on a wildcard bind, and `POST /api/qr`.

mod common;

use std::net::IpAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::sdp::MINIMAL_OFFER;
use common::server::{ADMIN, Backend, ServerProcess, TestServer, assert_problem, s, test_config};
use futures::StreamExt;
use livesale::app::{media_config, public_base};
use livesale::config::Config;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// A line of the banner that starts with `label`, trimmed, without the label.
fn banner_value(banner: &str, label: &str) -> String {
    banner
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("the banner has no {label:?}:\n{banner}"))
        .trim()
        .to_string()
}

/// A client that trusts exactly `der` (no system roots).
fn trusting(der: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_der(der).expect("a DER certificate"))
        .timeout(Duration::from_secs(20))
        .build()
        .expect("https client")
}

/// The certificate the server at `url` presents, fetched without verifying it.
async fn peer_certificate(url: &str) -> Vec<u8> {
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .tls_info(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let resp = client.get(url).send().await.expect("an HTTPS answer");
    assert_eq!(resp.status(), 200);
    let info = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .expect("TLS info");
    info.peer_certificate().expect("a certificate").to_vec()
}

/// DNS names and IP addresses of a certificate's subjectAltName.
fn sans(der: &[u8]) -> (Vec<String>, Vec<IpAddr>) {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("an X.509 certificate");
    let san = cert
        .subject_alternative_name()
        .expect("a valid SAN extension")
        .expect("a SAN extension");
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(d) => dns.push(d.to_string()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap())),
                16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap())),
                n => panic!("an IP SAN of {n} bytes"),
            },
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    (dns, ips)
}

/// Reads a QR code from a grid of modules (`true` dark), drawn 4 px a module with a margin.
fn decode_modules(rows: &[Vec<bool>]) -> String {
    const SCALE: usize = 4;
    const MARGIN: usize = 16;
    let h = rows.len();
    let w = rows.iter().map(Vec::len).max().unwrap_or(0);
    let (pw, ph) = (w * SCALE + 2 * MARGIN, h * SCALE + 2 * MARGIN);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(pw, ph, |x, y| {
        if x < MARGIN || y < MARGIN {
            return 255;
        }
        let (mx, my) = ((x - MARGIN) / SCALE, (y - MARGIN) / SCALE);
        let dark = rows
            .get(my)
            .and_then(|r| r.get(mx))
            .copied()
            .unwrap_or(false);
        if dark { 0 } else { 255 }
    });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture");
    grids[0].decode().expect("the QR code decodes").1
}

/// The QR code printed in a banner after `Scan to …:`, read back. Light modules are drawn
/// (█ ▀ ▄), dark ones blank, two rows per line.
fn banner_qr(banner: &str) -> String {
    let lines: Vec<&str> = banner
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Scan to "))
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(lines.len() > 10, "no QR block in the banner:\n{banner}");
    let mut rows = Vec::new();
    for line in lines {
        let cells: Vec<char> = line.trim_start_matches("  ").chars().collect();
        let (top, bottom): (Vec<bool>, Vec<bool>) = cells
            .iter()
            .map(|c| match c {
                '█' => (false, false),
                '▀' => (false, true),
                '▄' => (true, false),
                ' ' => (true, true),
                other => panic!("unexpected {other:?} in the QR block"),
            })
            .unzip();
        rows.push(top);
        rows.push(bottom);
    }
    decode_modules(&rows)
}

/// Reads back the SVG drawn by `POST /api/qr`: a white square of `viewBox` units and one path
/// of `M x y h w v 1 h -w z` rectangles, one unit per module.
fn svg_qr(svg: &str) -> String {
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    let view_box = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
    let size: usize = view_box.split(' ').next().unwrap().parse().unwrap();
    assert!(
        svg.contains(&format!(
            "<rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>"
        )),
        "a white background: {svg}"
    );
    let d = svg
        .split("<path fill=\"#000\" d=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a dark path");
    let mut rows = vec![vec![false; size]; size];
    for rect in d.split('M').filter(|r| !r.is_empty()) {
        let rect = rect.strip_suffix('z').expect("closed rectangles");
        let (xy, rest) = rect.split_once('h').unwrap();
        let (x, y) = xy.split_once(' ').unwrap();
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        let (w, rest) = rest.split_once("v1h-").unwrap();
        assert_eq!(w, rest, "a rectangle goes back as far as it went");
        for cell in &mut rows[y][x..x + w.parse::<usize>().unwrap()] {
            *cell = true;
        }
    }
    // The quiet zone: four light modules on every side.
    for (y, row) in rows.iter().enumerate() {
        for (x, dark) in row.iter().enumerate() {
            let quiet = x.min(y) < 4 || x.max(y) >= size - 4;
            assert!(
                !(quiet && *dark),
                "dark module in the quiet zone at {x},{y}"
            );
        }
    }
    decode_modules(&rows)
}

/// Connects `wss://` to a show's room, trusting `der`, and returns the socket.
async fn wss(
    base: &str,
    show: &str,
    der: &[u8],
) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der.to_vec()))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let authority = base.strip_prefix("https://").expect("an https base");
    let (host, _) = authority.rsplit_once(':').unwrap();
    let tcp = tokio::net::TcpStream::connect(authority).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("a TLS handshake the certificate's names verify");
    let url = format!("wss://{authority}/api/shows/{show}/ws");
    let (ws, resp) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("a WebSocket upgrade over TLS");
    assert_eq!(resp.status(), 101);
    ws
}

/// The next text frame as JSON (pings skipped), within 5 s.
async fn next_json<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("the socket is open")
            .expect("a frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[test]
fn self_signed_serves_https_and_wss_and_prints_links_and_a_qr_code() {
    let mut srv = ServerProcess::spawn(&["--tls-self-signed"], &[("LIVESALE_ADMIN_TOKEN", ADMIN)]);
    let banner = srv.banner.clone();
    let base = srv.base.clone();
    assert!(base.starts_with("https://127.0.0.1:"), "{banner}");
    let camera = banner_value(&banner, "Camera (phone):");
    let viewer = banner_value(&banner, "Viewer:");
    let studio = banner_value(&banner, "Studio (creator):");
    let hls = banner_value(&banner, "HLS playlist:");
    assert_eq!(
        banner_value(&banner, "Viewer (LL-HLS):"),
        format!("{viewer}?hls=1")
    );
    for link in [&camera, &viewer, &studio, &hls] {
        assert!(link.starts_with(&format!("{base}/")), "{link} in\n{banner}");
    }
    let fingerprint = banner_value(&banner, "SHA-256 fingerprint:");
    // The QR code under the links reads as the camera link.
    assert_eq!(banner_qr(&banner), camera, "{banner}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let der = peer_certificate(&format!("{base}/healthz")).await;
        assert_eq!(livesale::tls::fingerprint(&der), fingerprint);
        let (dns, ips) = sans(&der);
        assert_eq!(dns, ["localhost"]);
        let mut expected: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        expected.extend(livesale::tls::interface_addresses());
        for ip in &expected {
            assert!(ips.contains(ip), "{ip} missing from the SANs {ips:?}");
        }
        assert_eq!(ips.len(), expected.len(), "{ips:?}");
        for ip in ips.iter().filter(|ip| !ip.is_loopback()) {
            assert!(
                banner.contains(&ip.to_string()),
                "{ip} not named:\n{banner}"
            );
        }

        // A client that trusts the certificate verifies it by address and by name.
        let client = trusting(&der);
        // The playlist link names the demo show's program: not packaged before a camera is on
        // air (a wrong show would be show_not_found).
        let answer = client.get(&hls).send().await.unwrap();
        assert_eq!(answer.status(), 404);
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(problem["code"], "hls_not_started", "{problem}");
        let port = base.rsplit(':').next().unwrap();
        for url in [
            format!("{base}/healthz"),
            format!("https://localhost:{port}/healthz"),
        ] {
            let resp = client.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{url}");
            assert_eq!(resp.version(), reqwest::Version::HTTP_11);
        }
        let page = client.get(&viewer).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let camera_page = client.get(&camera).send().await.unwrap();
        assert_eq!(camera_page.status(), 200);
        // Invites minted through the API point at the https base too.
        let (_, token) = studio.split_once("#token=").unwrap();
        let show = viewer.rsplit('/').next().unwrap();
        let invite: Value = client
            .post(format!("{base}/api/shows/{show}/invites"))
            .bearer_auth(token)
            .json(&json!({ "role": "camera" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            s(&invite["url"]).starts_with(&format!("{base}/camera/")),
            "{invite}"
        );

        // wss: the room's welcome, then close 1001 when the server shuts down.
        let mut ws = wss(&base, show, &der).await;
        let welcome = next_json(&mut ws).await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        let pid = srv.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let close = loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => break frame,
                Ok(Some(Ok(_))) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        };
        let close = close.expect("a close code");
        assert_eq!(u16::from(close.code), 1001, "{close:?}");
    });
    let status = srv.terminate();
    assert!(status.success(), "exit status {status}");
    let addr = base.trim_start_matches("https://").to_string();
    assert!(std::net::TcpStream::connect(addr).is_err(), "port closed");
}

#[test]
fn own_certificate_from_pem_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let srv = ServerProcess::spawn(
        &[
            "--no-demo",
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(srv.base.starts_with("https://127.0.0.1:"), "{}", srv.banner);
    let fingerprint = livesale::tls::fingerprint(cert.der());
    assert!(srv.banner.contains(&fingerprint), "{}", srv.banner);
    assert!(!srv.banner.contains("self-signed"), "{}", srv.banner);
    // TLS on: the QR code opens the server.
    assert_eq!(banner_qr(&srv.banner), srv.base);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = trusting(cert.der());
        let resp = client
            .get(format!("{}/readyz", srv.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        // Plain HTTP on the TLS port gets no answer.
        let plain = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
            .get(srv.base.replace("https://", "http://") + "/healthz")
            .send()
            .await;
        assert!(plain.is_err(), "{plain:?}");
    });
}

/// Runs the binary to completion with a bounded wait; returns (status code, stderr).
fn run_to_exit(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_livesale"));
    cmd.args(["--bind", "127.0.0.1:0", "--no-demo"])
        .args(args)
        .env_remove("REDIS_URL")
        .env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run livesale");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn tls_settings_that_do_not_go_together_fail_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    /// Arguments, environment, and what the usage error says.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let usage: &[Case] = &[
        (&["--tls-cert", cert], &[], "--tls-cert needs --tls-key"),
        (&["--tls-key", key], &[], "--tls-key needs --tls-cert"),
        (
            &["--tls-cert", cert, "--tls-key", key, "--tls-self-signed"],
            &[],
            "--tls-self-signed cannot be used with --tls-cert/--tls-key",
        ),
        (
            &["--tls-cert", cert, "--tls-key", key],
            &[("LIVESALE_TLS_SELF_SIGNED", "true")],
            "--tls-self-signed cannot be used with --tls-cert/--tls-key",
        ),
        (
            &["--tls-self-signed"],
            &[("LIVESALE_TLS_KEY", key)],
            "--tls-self-signed cannot be used with --tls-cert/--tls-key",
        ),
    ];
    for (args, envs, message) in usage {
        let (code, stderr) = run_to_exit(args, envs);
        assert_eq!(code, Some(2), "{args:?} {envs:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?} {envs:?}: {stderr}");
    }
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let garbage = garbage.to_str().unwrap();
    let other_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let other = dir.path().join("other-key.pem");
    std::fs::write(&other, other_key).unwrap();
    let broken: &[(&[&str], &str)] = &[
        (
            &["--tls-cert", missing, "--tls-key", key],
            "cannot read --tls-cert",
        ),
        (&["--tls-cert", cert, "--tls-key", missing], "--tls-key"),
        (
            &["--tls-cert", garbage, "--tls-key", key],
            "holds no CERTIFICATE",
        ),
        (&["--tls-cert", cert, "--tls-key", garbage], "private key"),
        (
            &["--tls-cert", cert, "--tls-key", other.to_str().unwrap()],
            "do not work together",
        ),
    ];
    for (args, message) in broken {
        let (code, stderr) = run_to_exit(args, &[]);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("cannot set up HTTPS"), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // LIVESALE_TLS_SELF_SIGNED=false is no conflict.
    let srv = ServerProcess::spawn(
        &["--no-demo", "--tls-cert", cert, "--tls-key", key],
        &[("LIVESALE_TLS_SELF_SIGNED", "false")],
    );
    assert!(srv.base.starts_with("https://"), "{}", srv.banner);
}

#[test]
fn self_signed_without_bind_listens_on_the_lan_and_links_to_it() {
    let config = Config::load_from(["livesale", "--tls-self-signed"]).unwrap();
    assert!(config.bind_widened);
    assert_eq!(config.bind.to_string(), "0.0.0.0:8080");
    let lan = livesale::tls::lan_address();
    let expected = match lan {
        Some(ip) => format!("https://{}", std::net::SocketAddr::new(ip, 8080)),
        None => "https://127.0.0.1:8080".to_string(),
    };
    assert_eq!(public_base(&config, config.bind), expected);
    // Media follows the bind address: every interface, so LAN host candidates are offered.
    assert!(media_config(&config).ip.is_unspecified());

    let explicit =
        Config::load_from(["livesale", "--tls-self-signed", "--bind", "127.0.0.1:9000"]).unwrap();
    assert!(!explicit.bind_widened);
    assert_eq!(
        public_base(&explicit, explicit.bind),
        "https://127.0.0.1:9000"
    );
    let given = Config::load_from([
        "livesale",
        "--tls-self-signed",
        "--public-url",
        "https://shop.example/",
    ])
    .unwrap();
    assert_eq!(public_base(&given, given.bind), "https://shop.example");
    let plain = Config::load_from(["livesale"]).unwrap();
    assert!(!plain.bind_widened);
    assert_eq!(public_base(&plain, plain.bind), "http://127.0.0.1:8080");
    let err = Config::load_from(["livesale", "--tls-key", "k.pem"]).unwrap_err();
    assert_eq!(err.exit_code(), 2);
}

/// What `--tls-self-signed` without `--bind` gives media (the wildcard): host candidates on
/// the LAN addresses, which a phone can reach.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_bind_offers_lan_host_candidates() {
    let Some(lan) = livesale::tls::interface_addresses()
        .into_iter()
        .find(IpAddr::is_ipv4)
    else {
        eprintln!("this machine has no non-loopback IPv4 address; nothing to check");
        return;
    };
    let mut config = test_config(Backend::Memory);
    config.bind = "0.0.0.0:0".parse().unwrap();
    let srv = TestServer::start_with(config).await;
    let (_, creator) = srv.creator("Phone shop").await;
    let show = srv.show(&creator, "LAN show").await;
    let resp = srv
        .http
        .post(srv.url(&format!("/api/shows/{show}/whip")))
        .bearer_auth(&creator)
        .header("content-type", "application/sdp")
        .body(MINIMAL_OFFER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let answer = resp.text().await.unwrap();
    let hosts: Vec<&str> = answer
        .lines()
        .filter(|l| l.starts_with("a=candidate:") && l.contains(" typ host"))
        .collect();
    assert!(
        hosts.iter().any(|l| l.contains(&format!(" {lan} "))),
        "no host candidate on {lan}:\n{answer}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_endpoint_draws_svg_and_refuses_bad_input() {
    let srv = TestServer::start(Backend::Memory).await;
    let link = "https://192.168.1.20:8080/camera/eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiY2FtZXJhIn0.sig";
    let resp = srv
        .http
        .post(srv.url("/api/qr"))
        .json(&json!({ "text": link }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let svg = resp.text().await.unwrap();
    assert_eq!(svg_qr(&svg), link);

    // Any text up to 2048 bytes, with or without a token.
    let long = format!("https://example.com/{}", "é".repeat(1000));
    assert!(long.len() <= 2048);
    let (status, body) = srv.post("/api/qr", None, json!({ "text": long })).await;
    assert_eq!(status, 200);
    assert_eq!(svg_qr(body.as_str().unwrap()), long);
    let (_, creator) = srv.creator("QR shop").await;
    let (status, _) = srv
        .post("/api/qr", Some(&creator), json!({ "text": "hello" }))
        .await;
    assert_eq!(status, 200);

    let too_long = "a".repeat(2049);
    assert_problem(
        &srv.post("/api/qr", None, json!({ "text": too_long })).await,
        422,
        "qr_text_too_long",
    );
    assert_problem(
        &srv.post("/api/qr", None, json!({ "text": "" })).await,
        422,
        "qr_text_empty",
    );
    assert_problem(
        &srv.post("/api/qr", None, json!({ "url": "x" })).await,
        422,
        "unknown_field",
    );
    assert_problem(
        &srv.post("/api/qr", None, json!({ "text": 7 })).await,
        422,
        "invalid_body",
    );
    assert_problem(
        &srv.post("/api/qr", None, json!({ "text": "a".repeat(5000) }))
            .await,
        413,
        "payload_too_large",
    );
    let resp = srv
        .http
        .post(srv.url("/api/qr"))
        .header("content-type", "text/plain")
        .body("https://example.com")
        .send()
        .await
        .unwrap();
    assert_problem(
        &TestServer::finish(resp).await,
        415,
        "unsupported_media_type",
    );
    // POST only: the text never goes in a URL.
    let resp = srv
        .http
        .get(srv.url("/api/qr?text=https://example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let (_, doc) = srv.get("/api/openapi.json", None).await;
    assert!(
        doc["paths"]["/api/qr"]["post"].is_object(),
        "in the OpenAPI document"
    );
    srv.stop().await;
}
