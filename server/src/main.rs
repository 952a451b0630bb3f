//! The `livesale` binary: parse the config, set up logging, bind, print the links, serve.

use std::process::ExitCode;

use livesale::config::{Config, LogFormat};
use livesale::{App, Links};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc's malloc: checkout on Redis spent a quarter of its CPU in
/// glibc's allocator (docs/benchmarks.md, "What limits checkout on Redis").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::load();
    init_tracing(&config);
    if config.bind_widened {
        tracing::info!(
            bind = %config.bind,
            "--tls-self-signed without --bind: listening on every IPv4 interface so phones on the LAN can connect"
        );
    }
    let listener = match tokio::net::TcpListener::bind(config.bind).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(bind = %config.bind, error = %e, "cannot listen (is another server on that port? use --bind)");
            return ExitCode::FAILURE;
        }
    };
    let bound = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the bound address");
            return ExitCode::FAILURE;
        }
    };
    let app = match App::build(config, bound).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = shutdown_signal();
    tracing::info!(%bound, url = %app.state().public_url, "listening");
    print_banner(&app, bound);
    match app.serve(listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_new(config.log_filter())
        .unwrap_or_else(|_| EnvFilter::new(Config::defaults().log_filter()));
    // Logs go to stderr; stdout carries only the start-up banner (links to open).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// The deliberate start-up banner: the links a person opens next, on stdout.
fn print_banner(app: &App, bound: std::net::SocketAddr) {
    let base = &app.state().public_url;
    let mut out = format!("\n  livesale is running at {base}\n");
    if let Some(tls) = app.tls() {
        out.push_str(&tls_notes(app, tls, bound));
    }
    match app.links() {
        Some(Links {
            seeded_now,
            show_title,
            studio,
            viewer,
            camera,
            moderator,
            signin,
            hls,
        }) => {
            let how = if *seeded_now { "seeded" } else { "existing" };
            out.push_str(&format!(
                "\n  Demo show ({how}): {show_title}\n\
                 \n    Studio (creator):  {studio}\
                 \n    Sign in (creator): {signin}\
                 \n    Viewer:            {viewer}\
                 \n    Camera (phone):    {camera}\
                 \n    Moderator desk:    {moderator}\n"
            ));
            if let Some(hls) = hls {
                // The same program for crowds: the viewer page with LL-HLS, and the playlist
                // itself for any HLS player (ffplay, VLC, Safari).
                out.push_str(&format!(
                    "\n    Viewer (LL-HLS):   {viewer}?hls=1\
                     \n    HLS playlist:      {hls}\n"
                ));
            }
        }
        None => out.push_str("\n  No demo show (--no-demo, or the store already has data).\n"),
    }
    let (admin, generated) = app.admin_token();
    if generated {
        out.push_str(&format!(
            "\n  Admin token (generated for this run; set LIVESALE_ADMIN_TOKEN to keep one):\n    {admin}\
             \n  Operator page: {base}/admin#token={admin}\n"
        ));
    } else {
        // The operator has the token already; the page asks for it.
        out.push_str(&format!("\n  Operator page: {base}/admin\n"));
    }
    if app.tls().is_some() {
        // A phone scans this to join as a camera (or, without a demo, to open the server).
        let (what, link) = match app.links() {
            Some(links) => ("add a phone as a camera of the demo show", &links.camera),
            None => ("open livesale on a phone", base),
        };
        match livesale::qr::terminal(link) {
            Ok(lines) => {
                out.push_str(&format!("\n  Scan to {what}:\n\n"));
                for line in lines {
                    out.push_str(&format!("  {line}\n"));
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot draw the QR code"),
        }
    }
    out.push_str("\n  Press Ctrl-C to stop.\n");
    println!("{out}");
}

/// What the banner says about HTTPS: the certificate, how to accept a self-signed one, and the
/// other addresses the server answers on.
fn tls_notes(app: &App, tls: &livesale::tls::TlsSetup, bound: std::net::SocketAddr) -> String {
    let mut out = String::new();
    match &tls.self_signed_names {
        Some(names) => {
            out.push_str(&format!(
                "\n  HTTPS with a self-signed certificate, generated for this run, valid for:\n    {}\n\
                 \n    SHA-256 fingerprint: {}\n\
                 \n  Browsers warn about it: check that the fingerprint they show matches, then\
                 \n  proceed (Chrome: Advanced > Proceed; Safari: Show Details > visit this website).\n",
                names.join(", "),
                tls.fingerprint
            ));
        }
        None => out.push_str(&format!(
            "\n  HTTPS (certificate SHA-256 fingerprint: {})\n",
            tls.fingerprint
        )),
    }
    let config = &app.state().config;
    if config.public_url.is_none() && config.bind.ip().is_unspecified() {
        // Every address of this machine answers; list the ones a phone might use.
        let port = bound.port();
        let base = &app.state().public_url;
        let others: Vec<String> = livesale::tls::interface_addresses()
            .into_iter()
            .filter(|ip| ip.is_ipv4() || config.bind.is_ipv6())
            .filter(|ip| !matches!(ip, std::net::IpAddr::V6(v6) if v6.is_unicast_link_local()))
            .map(|ip| format!("https://{}", std::net::SocketAddr::new(ip, port)))
            .filter(|url| url != base)
            .collect();
        if !others.is_empty() {
            out.push_str(&format!("\n  Also reachable at: {}\n", others.join("  ")));
        }
    }
    out
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are registered when this is called (before the
/// banner), so a signal that arrives right after start still shuts down gracefully.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (int, term) {
                (Ok(mut int), Ok(mut term)) => tokio::select! {
                    _ = int.recv() => tracing::info!("Ctrl-C received"),
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(error = %e, "cannot listen for signals; stop with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C received");
    }
}
