//! `livesale-load`: a load generator for livesale's live room and checkout, and for a
//! Socket.IO peer under the same workload (scripts/bench/ runs both and compares).
//!
//! ```text
//! livesale-load setup    --url http://127.0.0.1:8080 --admin-token T [--stock 500]
//! livesale-load fanout   --show ID --viewers 2000 --chatters 100 --chat-rate 20 \
//!                        --reaction-rate 2000 --duration-s 30 --server-pid PID
//! livesale-load fanout   --protocol socketio --url http://127.0.0.1:3000 …
//! livesale-load checkout --show ID --product ID --buyers 10000 --fire-window-ms 1000
//! livesale-load auction  --admin-token T --bidders 1000 --bids 5000 --window-ms 2000
//! livesale-load auction-ceiling --redis-url redis://127.0.0.1:6379/ --connections 50
//! livesale-load media    --admin-token T --viewers 300 --video-kbps 1500 \
//!                        --stall-fraction 0.25 --server-pid PID
//! livesale-load hls      --url http://127.0.0.1:8090 --origin-url http://127.0.0.1:8080 \
//!                        --show ID --clients 2000 --duration-s 20 --server-pid PID
//! livesale-load merge    p0.json p1.json …
//! ```
//!
//! Every run is bounded in time and stops by itself. A run prints a human table and, as its
//! last line, a JSON summary; `merge` combines the summaries of several processes (started
//! with the same `--connect-at`/`--start-at` and different `--source-ips`) into one. Chat
//! latency is measured from the sender's wall clock, written into the chat text, to the
//! receiver's: all processes on one machine share that clock.

mod load;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "livesale-load",
    version,
    about = "Load generator for livesale's live room, checkout and media"
)]
struct Cli {
    /// Worker threads (default: the cores this process may use).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a creator, a live show and a pinned product; print their ids as JSON.
    Setup {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// The server's `--admin-token`.
        #[arg(long, env = "LIVESALE_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
        /// Units of the product.
        #[arg(long, default_value_t = 500)]
        stock: i64,
        /// Its price in cents.
        #[arg(long, default_value_t = 4999)]
        price: i64,
        #[arg(long)]
        allow_remote: bool,
    },
    /// Viewers join one show over WebSocket, chat and react; report delivery and latency.
    Fanout(load::fanout::FanoutArgs),
    /// A flash drop: buyers with prepared carts check out within about a second.
    Checkout(load::checkout::CheckoutArgs),
    /// One camera publishes a synthetic feed over WHIP, N webrtc-rs viewers watch it over
    /// WHEP; report loss, latency, and the server's CPU per forwarded packet and memory.
    Media(load::media::MediaArgs),
    /// N LL-HLS clients follow a show's live playlist like hls.js (blocking reloads, preload
    /// hints), usually through a cache; report parts got, requests reaching the origin per
    /// part, blocking-reload latency and CPU.
    Hls(load::hls::HlsArgs),
    /// The auction storm: bidders send their bids over the last seconds of a soft-close lot;
    /// report acknowledgement latency, and check the bid log (no accepted bid lost or
    /// reordered).
    Auction(load::auction::AuctionArgs),
    /// The bid Lua script's ceiling on a Redis, through the store from many connections.
    AuctionCeiling(load::auction::CeilingArgs),
    /// Merge the JSON summaries of several fanout (or hls) processes into one report.
    Merge {
        /// Files holding one summary each (the JSON line a process printed).
        files: Vec<std::path::PathBuf>,
        /// Name of the merged run.
        #[arg(long)]
        label: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let (soft, hard) = load::sys::raise_nofile();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = cli.threads {
        rt.worker_threads(t.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("livesale-load: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Setup {
                url,
                admin_token,
                stock,
                price,
                allow_remote,
            } => {
                let server = load::setup::server_addr(&url, allow_remote).await?;
                let made = load::setup::setup(server, &admin_token, stock, price).await?;
                println!("{}", serde_json::to_string(&made).unwrap_or_default());
                Ok(())
            }
            Command::Fanout(args) => {
                let need = args.viewers as u64 + 64;
                if soft < need {
                    return Err(format!(
                        "{} viewers need about {need} open files but the limit is {soft} (hard {hard}); \
                         run fewer viewers per process, or raise the limit (ulimit -n)",
                        args.viewers
                    ));
                }
                let json_out = args.json_out.clone();
                let summary = load::fanout::run(args).await?;
                print!("{}", summary.table());
                emit(&summary, json_out.as_deref())
            }
            Command::Checkout(args) => {
                let need = args.buyers as u64 + 64;
                if soft < need {
                    return Err(format!(
                        "{} buyers need about {need} open files but the limit is {soft} (hard {hard})",
                        args.buyers
                    ));
                }
                let json_out = args.json_out.clone();
                let summary = load::checkout::run(args).await?;
                print!("{}", summary.table());
                emit(&summary, json_out.as_deref())
            }
            Command::Media(args) => {
                // A peer connection holds a UDP socket, plus the HTTP request that set it up.
                let need = args.viewers as u64 * 2 + 64;
                if soft < need {
                    return Err(format!(
                        "{} viewers need about {need} open files but the limit is {soft} (hard {hard})",
                        args.viewers
                    ));
                }
                let json_out = args.json_out.clone();
                let summary = load::media::run(args).await?;
                print!("{}", summary.table());
                emit(&summary, json_out.as_deref())
            }
            Command::Hls(args) => {
                // Each client may hold two connections (a blocking reload and a part).
                let need = args.clients as u64 * 2 + 64;
                if soft < need {
                    return Err(format!(
                        "{} clients need about {need} open files but the limit is {soft} (hard {hard})",
                        args.clients
                    ));
                }
                let json_out = args.json_out.clone();
                let summary = load::hls::run(args).await?;
                print!("{}", summary.table());
                emit(&summary, json_out.as_deref())
            }
            Command::Auction(args) => {
                let need = args.bidders as u64 + 64;
                if soft < need {
                    return Err(format!(
                        "{} bidders need about {need} open files but the limit is {soft} (hard {hard})",
                        args.bidders
                    ));
                }
                let summary = load::auction::run(args).await?;
                emit(&summary, None)
            }
            Command::AuctionCeiling(args) => {
                let summary = load::auction::ceiling(args).await?;
                emit(&summary, None)
            }
            Command::Merge { files, label } => {
                let mut lines = Vec::new();
                for f in &files {
                    let text = std::fs::read_to_string(f)
                        .map_err(|e| format!("cannot read {}: {e}", f.display()))?;
                    let line = text
                        .lines()
                        .rev()
                        .find(|l| l.trim_start().starts_with('{'))
                        .ok_or_else(|| format!("{} holds no JSON summary", f.display()))?;
                    lines.push((f.display().to_string(), line.to_string()));
                }
                if lines.is_empty() {
                    return Err("merge needs at least one summary file".into());
                }
                let hls = lines[0].1.contains("\"kind\":\"hls\"");
                if hls {
                    let mut parts = Vec::new();
                    for (f, line) in &lines {
                        let part: load::hls::HlsReport =
                            serde_json::from_str(line).map_err(|e| format!("{f}: {e}"))?;
                        parts.push(part);
                    }
                    let mut merged = load::hls::HlsReport::merge(&parts);
                    if let Some(label) = label {
                        merged.label = label;
                    }
                    print!("{}", merged.table());
                    return emit(&merged, None);
                }
                let mut parts = Vec::new();
                for (f, line) in &lines {
                    let part: load::report::Fanout =
                        serde_json::from_str(line).map_err(|e| format!("{f}: {e}"))?;
                    parts.push(part);
                }
                let mut merged = load::report::Fanout::merge(&parts);
                if let Some(label) = label {
                    merged.label = label;
                }
                print!("{}", merged.table());
                emit(&merged, None)
            }
        }
    });
    // Viewer tasks still closing must not hold the exit up.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("livesale-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn emit(summary: &impl serde::Serialize, file: Option<&std::path::Path>) -> Result<(), String> {
    let json = serde_json::to_string(summary).map_err(|e| e.to_string())?;
    println!("{json}");
    if let Some(f) = file {
        std::fs::write(f, format!("{json}\n"))
            .map_err(|e| format!("cannot write {}: {e}", f.display()))?;
    }
    Ok(())
}
