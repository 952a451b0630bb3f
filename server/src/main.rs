//! The `livesale` binary: parse the config, set up logging, bind, print the links, serve.

use std::process::ExitCode;

use clap::Parser;
use livesale::config::{Config, LogFormat};
use livesale::{App, Links};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    init_tracing(&config);
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
    print_banner(&app);
    match app.serve(listener, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
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
fn print_banner(app: &App) {
    let base = &app.state().public_url;
    let mut out = format!("\n  livesale is running at {base}\n");
    match app.links() {
        Some(Links {
            seeded_now,
            show_title,
            studio,
            viewer,
            camera,
            moderator,
        }) => {
            let how = if *seeded_now { "seeded" } else { "existing" };
            out.push_str(&format!(
                "\n  Demo show ({how}): {show_title}\n\
                 \n    Studio (creator):  {studio}\
                 \n    Viewer:            {viewer}\
                 \n    Camera (phone):    {camera}\
                 \n    Moderator desk:    {moderator}\n"
            ));
        }
        None => out.push_str("\n  No demo show (--no-demo, or the store already has data).\n"),
    }
    let (admin, generated) = app.admin_token();
    if generated {
        out.push_str(&format!(
            "\n  Admin token (generated for this run; set LIVESALE_ADMIN_TOKEN to keep one):\n    {admin}\n"
        ));
    }
    out.push_str("\n  Press Ctrl-C to stop.\n");
    println!("{out}");
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
