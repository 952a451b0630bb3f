//! GStreamer pipelines for the media tests (tests/media_gstreamer.rs, tests/hls.rs): a
//! `gst-launch-1.0`-like launcher with loopback ICE for `whipsink`/`whepsrc`, each pipeline a
//! process in its own process group with its output kept for the failure report, and the
//! colour of a 1×1 frame that `fakesink dump=true` prints.
//!
//! It is `gst-launch-1.0` in all but one respect: a few lines of Python (PyGObject) parse the
//! same description with `Gst.parse_launch`, and give each webrtcbin's ICE agent 127.0.0.1 as
//! its address (`add-local-ip-address`) before it plays (libnice leaves loopback out of its
//! host candidates whenever the machine has another interface). A pipeline without webrtcbin
//! (an HLS player) runs as it is. Set `LIVESALE_GST_LAUNCH=gst-launch-1.0` to run the plain
//! tool instead.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// gst-launch-1.0 -e with loopback ICE: the pipeline description comes as arguments, SIGINT
/// sends EOS (whipsink and whepsrc then DELETE their sessions), and an error exits 1.
pub const LAUNCHER: &str = include_str!("../../scripts/bench/gst_loopback.py");

/// The Python that has PyGObject (Debian's python3-gi), whatever python3 comes first on PATH.
pub const PYTHON: &str = "/usr/bin/python3";

/// GST_PLUGIN_PATH for the pipelines: the caller's, else the folder scripts/test.sh builds into.
pub fn plugin_path() -> String {
    let built = repo().join("target/gst-plugins");
    match std::env::var("GST_PLUGIN_PATH") {
        Ok(p) if !p.is_empty() => format!("{p}:{}", built.display()),
        _ => built.display().to_string(),
    }
}

/// Fails (never skips) with the fix when GStreamer or the WHIP/WHEP elements are missing.
pub fn require_gstreamer(elements: &[&str]) {
    const FIX: &str = "run scripts/test.sh (or `scripts/test.sh --setup`): it installs \
                       GStreamer from Debian and builds gst-plugin-webrtchttp 0.10 into \
                       target/gst-plugins";
    if !plain_gst_launch() {
        let out = std::process::Command::new(PYTHON)
            .args([
                "-c",
                "import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst",
            ])
            .output();
        assert!(
            matches!(&out, Ok(o) if o.status.success()),
            "{PYTHON} cannot import GStreamer's introspection (python3-gi, \
             gir1.2-gstreamer-1.0): {out:?}\n{FIX}"
        );
    }
    for &element in elements {
        let out = std::process::Command::new("gst-inspect-1.0")
            .arg(element)
            .env("GST_PLUGIN_PATH", plugin_path())
            .output();
        match out {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "gst-inspect-1.0 finds no {element} (GST_PLUGIN_PATH={}): {}\n{FIX}",
                plugin_path(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!("gst-inspect-1.0 does not run ({e}): {FIX}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Red,
    Blue,
    Black,
    Other,
}

impl Colour {
    /// Names a colour at a glance, as web/test/whep-player.html does: VP8 and the YUV round
    /// trip move a solid colour by a few levels.
    pub fn of(r: u8, g: u8, b: u8) -> Colour {
        let (r, g, b) = (u32::from(r), u32::from(g), u32::from(b));
        if r.max(g).max(b) < 48 {
            Colour::Black
        } else if r > 96 && r > 2 * g && r > 2 * b {
            Colour::Red
        } else if b > 96 && b > 2 * r && b > 2 * g {
            Colour::Blue
        } else {
            Colour::Other
        }
    }

    pub fn pattern(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Blue => "blue",
            _ => unreachable!("cameras are red or blue"),
        }
    }
}

/// One decoded frame of the player: when it was printed and its colour.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub at: Instant,
    pub colour: Colour,
    pub rgb: (u8, u8, u8),
}

/// Parses fakesink's hex dump of a 1×1 RGB frame: `00000000 (0x7f…): fe 00 00 00   ....`.
pub fn parse_dump(line: &str) -> Option<(u8, u8, u8)> {
    let rest = line.strip_prefix("00000000 (0x")?;
    let (_, bytes) = rest.split_once("): ")?;
    let mut it = bytes
        .split_whitespace()
        .take(3)
        .map(|h| u8::from_str_radix(h, 16).ok());
    Some((it.next()??, it.next()??, it.next()??))
}

/// A pipeline's output lines, kept for the failure messages.
pub type Log = Arc<Mutex<Vec<String>>>;

/// A pipeline process in its own process group, with its output kept for the report.
pub struct Pipeline {
    pub name: String,
    child: tokio::process::Child,
    pub pid: u32,
    pub log: Log,
}

impl Pipeline {
    /// Starts the pipeline `description` (the launcher above, or `gst-launch-1.0 -e`);
    /// `frames`, when given, receives every decoded frame that fakesink dumps on stdout.
    pub fn start(
        name: &str,
        description: &[String],
        frames: Option<mpsc::UnboundedSender<Frame>>,
    ) -> Pipeline {
        let mut cmd = if plain_gst_launch() {
            let mut cmd = tokio::process::Command::new("gst-launch-1.0");
            cmd.arg("-e");
            cmd
        } else {
            let mut cmd = tokio::process::Command::new(PYTHON);
            cmd.args(["-c", LAUNCHER]);
            cmd
        };
        cmd.args(description)
            .env("GST_PLUGIN_PATH", plugin_path())
            .env("GST_DEBUG", "*:1,webrtc*:2,whip*:3,whep*:3")
            .env("GST_DEBUG_NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("spawn gst-launch-1.0 for {name}: {e}: run scripts/test.sh")
        });
        let pid = child.id().expect("pid");
        let log: Log = Arc::default();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                let mut dumped = 0u64;
                while let Ok(Some(line)) = lines.next_line().await {
                    let at = Instant::now();
                    if let Some((r, g, b)) = parse_dump(&line) {
                        dumped += 1;
                        if let Some(tx) = &frames {
                            let _ = tx.send(Frame {
                                at,
                                colour: Colour::of(r, g, b),
                                rgb: (r, g, b),
                            });
                        }
                        // The first frames, then one a second, are enough for the report.
                        if dumped > 5 && dumped % 30 != 0 {
                            continue;
                        }
                    }
                    log.lock().expect("log").push(format!("out: {line}"));
                }
            });
        }
        {
            let log = log.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    log.lock().expect("log").push(format!("err: {line}"));
                }
            });
        }
        Pipeline {
            name: name.into(),
            child,
            pid,
            log,
        }
    }

    pub fn report(&self) -> String {
        let log = self.log.lock().expect("log");
        let tail: Vec<&String> = log.iter().rev().take(60).collect();
        let mut out = format!("---- {} (pid {}) ----\n", self.name, self.pid);
        for l in tail.into_iter().rev() {
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    /// Panics with every pipeline's log if this one has exited.
    pub fn assert_running(&mut self, all: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the {} pipeline exited ({status}):\n{}\n{all}",
                self.name,
                self.report()
            );
        }
    }

    /// SIGINT (gst-launch -e sends EOS: whipsink/whepsrc end their sessions with DELETE), then
    /// the whole process group is killed after a grace period.
    pub async fn stop(mut self) -> Option<std::process::ExitStatus> {
        signal(self.pid, "-INT");
        let status = tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        signal_group(self.pid, "-KILL");
        let _ = self.child.kill().await;
        status
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        signal_group(self.pid, "-KILL");
    }
}

pub fn plain_gst_launch() -> bool {
    std::env::var("LIVESALE_GST_LAUNCH").is_ok_and(|v| v == "gst-launch-1.0")
}

pub fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

pub fn signal_group(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
}

/// gst-launch's description as separate arguments (no shell, so values need no quoting
/// beyond GStreamer's own).
pub fn launch_args(description: &str) -> Vec<String> {
    description.split_whitespace().map(String::from).collect()
}

/// Waits (20 s at most) until `show` lists the camera `label` as connected and returns its id;
/// `p`, the pipeline publishing it, must keep running meanwhile (`logs`: what a failure prints
/// besides its own log).
pub async fn connected_camera(
    srv: &super::server::TestServer,
    show: &str,
    creator: &str,
    label: &str,
    p: &mut Pipeline,
    logs: impl Fn(&Pipeline) -> String,
) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, list) = srv
            .get(&format!("/api/shows/{show}/cameras"), Some(creator))
            .await;
        if let Some(c) = list["cameras"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["label"] == label && c["connected"] == true)
        {
            return c["id"].as_str().unwrap_or_default().to_string();
        }
        let all = logs(p);
        p.assert_running(&all);
        assert!(
            Instant::now() < until,
            "{label} was not connected within 20 s: {list}\n{all}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A WHIP camera of H.264 (a `pattern` test picture, 320×240 at 30 fps, a keyframe every
/// `key_int` frames, `kbps`) and Opus (a sine at `freq` Hz), as the replay tests publish.
pub fn h264_opus_camera(
    pattern: &str,
    freq: u32,
    key_int: u32,
    kbps: u32,
    endpoint: &str,
    token: &str,
) -> Vec<String> {
    launch_args(&format!(
        "videotestsrc is-live=true pattern={pattern} \
         ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! videoconvert ! queue \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={key_int} bitrate={kbps} \
         ! video/x-h264,profile=constrained-baseline \
         ! rtph264pay pt=102 config-interval=-1 aggregate-mode=zero-latency \
         ! whipsink name=whip whip-endpoint={endpoint} auth-token={token} \
         audiotestsrc is-live=true wave=sine freq={freq} ! audioconvert ! audioresample \
         ! opusenc ! rtpopuspay pt=111 ! queue ! whip."
    ))
}
