//! The load tool's results: one JSON summary per process (the last line it prints), a merge
//! of several processes' summaries (counters add up, latency histograms merge exactly), and
//! a human table.

use std::collections::BTreeMap;

use super::hist::{self, Percentiles};

/// The server process as seen from /proc during the run.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ServerStats {
    pub pid: u32,
    /// RSS before this run's connections opened.
    pub rss_kib_before: u64,
    /// RSS with every viewer connected and idle (just before traffic starts).
    pub rss_kib_idle: u64,
    /// RSS at the end of the traffic.
    pub rss_kib_end: u64,
    /// CPU seconds the server used during the measured window.
    pub cpu_s_window: f64,
    /// CPU seconds of a second process (Redis) during the window, when given.
    pub other_pid: Option<u32>,
    pub other_cpu_s_window: Option<f64>,
}

/// How busy one CPU of the machine was during the measured window.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CpuUse {
    pub cpu: String,
    pub busy_pct: f64,
    pub softirq_pct: f64,
}

pub fn cpus_line(cpus: &[CpuUse]) -> String {
    cpus.iter()
        .map(|c| {
            format!(
                "{} {:.0}% busy ({:.0}% softirq)",
                c.cpu, c.busy_pct, c.softirq_pct
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The load tool's own cost, so a result limited by the tool shows it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ToolStats {
    pub cpu_s_total: f64,
    pub wall_s_total: f64,
    pub cpu_s_window: f64,
    pub threads: u64,
    /// Cores the tool may run on (its affinity).
    pub cores: u64,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Fanout {
    pub kind: String,
    pub protocol: String,
    pub label: String,
    pub processes: u64,
    pub viewers: u64,
    pub chatters: u64,
    /// Chat messages per second asked of this run (all processes).
    pub chat_rate: f64,
    /// Reaction taps per second asked of this run (all processes).
    pub reaction_rate: f64,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub window_s: f64,
    pub tokens_s: f64,
    pub connect_s: f64,
    pub connected: u64,
    pub failed: u64,
    /// Viewers disconnected before the end.
    pub lost: u64,
    pub chat_sent: u64,
    pub chat_sent_total: u64,
    pub reactions_sent: u64,
    pub reactions_sent_total: u64,
    /// chat.message frames received whose send time was in the window.
    pub chat_delivered: u64,
    pub frames_window: u64,
    pub chat_frames_window: u64,
    pub reaction_frames_window: u64,
    pub presence_frames_window: u64,
    pub other_frames_window: u64,
    pub bytes_window: u64,
    /// Taps as counted by the server, summed from the `reactions` frames one viewer got.
    pub taps_counted: u64,
    /// Sends that left more than 50 ms after their schedule (the tool fell behind).
    pub late_sends: u64,
    pub max_send_lateness_ms: u64,
    pub hist: Vec<[u64; 2]>,
    pub errors: BTreeMap<String, u64>,
    pub server: Option<ServerStats>,
    pub tool: ToolStats,
    pub listen_overflows: u64,
    /// Every CPU of the machine during the window (all processes, kernel included).
    #[serde(default)]
    pub cpus: Vec<CpuUse>,
    pub derived: Derived,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Derived {
    pub latency: Percentiles,
    pub chat_expected: u64,
    pub delivery_ratio: f64,
    /// Broadcast frames delivered per second (chat, reactions, presence, others).
    pub msgs_delivered_per_s: f64,
    pub chat_delivered_per_s: f64,
    pub mbit_in_per_s: f64,
    pub offered_chat_per_s: f64,
    pub offered_taps_per_s: f64,
    pub taps_counted_ratio: f64,
    pub server_kib_per_conn_idle: Option<f64>,
    pub server_kib_per_conn_end: Option<f64>,
    pub server_cores_window: Option<f64>,
    pub other_cores_window: Option<f64>,
    pub tool_cores_window: f64,
    pub tool_cores_total: f64,
}

impl Fanout {
    pub fn derive(&mut self) {
        let w = self.window_s.max(1e-9);
        let d = &mut self.derived;
        d.latency = hist::percentiles(&self.hist);
        d.chat_expected = self.chat_sent * self.connected.saturating_sub(self.lost);
        d.delivery_ratio = if d.chat_expected > 0 {
            self.chat_delivered as f64 / d.chat_expected as f64
        } else {
            0.0
        };
        let delivered = self.chat_frames_window
            + self.reaction_frames_window
            + self.presence_frames_window
            + self.other_frames_window;
        d.msgs_delivered_per_s = delivered as f64 / w;
        d.chat_delivered_per_s = self.chat_frames_window as f64 / w;
        d.mbit_in_per_s = self.bytes_window as f64 * 8.0 / 1e6 / w;
        d.offered_chat_per_s = self.chat_sent as f64 / w;
        d.offered_taps_per_s = self.reactions_sent as f64 / w;
        d.taps_counted_ratio = if self.reactions_sent > 0 {
            self.taps_counted as f64 / self.reactions_sent as f64
        } else {
            0.0
        };
        if let Some(s) = &self.server {
            let conns = self.connected.max(1) as f64;
            d.server_kib_per_conn_idle =
                Some(s.rss_kib_idle.saturating_sub(s.rss_kib_before) as f64 / conns);
            d.server_kib_per_conn_end =
                Some(s.rss_kib_end.saturating_sub(s.rss_kib_before) as f64 / conns);
            d.server_cores_window = Some(s.cpu_s_window / w);
            d.other_cores_window = s.other_cpu_s_window.map(|c| c / w);
        }
        d.tool_cores_window = self.tool.cpu_s_window / w;
        d.tool_cores_total = self.tool.cpu_s_total / self.tool.wall_s_total.max(1e-9);
    }

    /// Several processes' summaries as one run.
    pub fn merge(parts: &[Fanout]) -> Fanout {
        let mut m = parts.first().cloned().unwrap_or_default();
        m.processes = 0;
        for field in [
            &mut m.viewers,
            &mut m.chatters,
            &mut m.connected,
            &mut m.failed,
            &mut m.lost,
            &mut m.chat_sent,
            &mut m.chat_sent_total,
            &mut m.reactions_sent,
            &mut m.reactions_sent_total,
            &mut m.chat_delivered,
            &mut m.frames_window,
            &mut m.chat_frames_window,
            &mut m.reaction_frames_window,
            &mut m.presence_frames_window,
            &mut m.other_frames_window,
            &mut m.bytes_window,
            &mut m.late_sends,
        ] {
            *field = 0;
        }
        m.chat_rate = 0.0;
        m.reaction_rate = 0.0;
        m.hist.clear();
        m.errors.clear();
        m.tool = ToolStats::default();
        m.server = None;
        for p in parts {
            m.processes += p.processes.max(1);
            m.viewers += p.viewers;
            m.chatters += p.chatters;
            m.connected += p.connected;
            m.failed += p.failed;
            m.lost += p.lost;
            m.chat_sent += p.chat_sent;
            m.chat_sent_total += p.chat_sent_total;
            m.reactions_sent += p.reactions_sent;
            m.reactions_sent_total += p.reactions_sent_total;
            m.chat_delivered += p.chat_delivered;
            m.frames_window += p.frames_window;
            m.chat_frames_window += p.chat_frames_window;
            m.reaction_frames_window += p.reaction_frames_window;
            m.presence_frames_window += p.presence_frames_window;
            m.other_frames_window += p.other_frames_window;
            m.bytes_window += p.bytes_window;
            m.late_sends += p.late_sends;
            m.chat_rate += p.chat_rate;
            m.reaction_rate += p.reaction_rate;
            m.max_send_lateness_ms = m.max_send_lateness_ms.max(p.max_send_lateness_ms);
            m.taps_counted = m.taps_counted.max(p.taps_counted);
            m.window_s = m.window_s.max(p.window_s);
            m.tokens_s = m.tokens_s.max(p.tokens_s);
            m.connect_s = m.connect_s.max(p.connect_s);
            m.listen_overflows = m.listen_overflows.max(p.listen_overflows);
            hist::merge(&mut m.hist, &p.hist);
            for (k, v) in &p.errors {
                *m.errors.entry(k.clone()).or_default() += v;
            }
            m.tool.cpu_s_total += p.tool.cpu_s_total;
            m.tool.cpu_s_window += p.tool.cpu_s_window;
            m.tool.wall_s_total = m.tool.wall_s_total.max(p.tool.wall_s_total);
            m.tool.threads += p.tool.threads;
            m.tool.cores = m.tool.cores.max(p.tool.cores);
            if m.server.is_none() {
                m.server = p.server.clone();
            }
            if m.cpus.is_empty() {
                m.cpus = p.cpus.clone();
            }
        }
        m.derive();
        m
    }

    pub fn table(&self) -> String {
        let d = &self.derived;
        let l = &d.latency;
        let mut rows: Vec<(String, String)> = vec![
            (
                "run".into(),
                format!(
                    "{} ({}), {} process(es)",
                    self.label, self.protocol, self.processes
                ),
            ),
            (
                "viewers connected".into(),
                format!(
                    "{} of {} ({} failed, {} lost during the run), connect phase {:.1} s",
                    self.connected, self.viewers, self.failed, self.lost, self.connect_s
                ),
            ),
            (
                "window".into(),
                format!(
                    "{:.1} s after {:.0} s warm-up",
                    self.window_s, self.warmup_s
                ),
            ),
            (
                "offered".into(),
                format!(
                    "{:.1} chat msg/s (asked {:.1}) from {} chatters, {:.0} taps/s (asked {:.0})",
                    d.offered_chat_per_s,
                    self.chat_rate,
                    self.chatters,
                    d.offered_taps_per_s,
                    self.reaction_rate
                ),
            ),
            (
                "chat delivered".into(),
                format!(
                    "{} of {} expected ({:.4}%)",
                    self.chat_delivered,
                    d.chat_expected,
                    d.delivery_ratio * 100.0
                ),
            ),
            (
                "messages delivered/s".into(),
                format!(
                    "{:.0} (chat {:.0}/s; {} reaction, {} presence, {} other frames), {:.1} Mbit/s",
                    d.msgs_delivered_per_s,
                    d.chat_delivered_per_s,
                    self.reaction_frames_window,
                    self.presence_frames_window,
                    self.other_frames_window,
                    d.mbit_in_per_s
                ),
            ),
            (
                "chat latency".into(),
                format!(
                    "p50 {} · p90 {} · p99 {} · p99.9 {} · max {} (n={})",
                    ms(l.p50_us),
                    ms(l.p90_us),
                    ms(l.p99_us),
                    ms(l.p999_us),
                    ms(l.max_us),
                    l.count
                ),
            ),
            (
                "reaction taps counted".into(),
                format!(
                    "{} of {} sent in the window ({:.1}%)",
                    self.taps_counted,
                    self.reactions_sent,
                    d.taps_counted_ratio * 100.0
                ),
            ),
        ];
        if let Some(s) = &self.server {
            rows.push(("server memory".into(), format!(
                "RSS {} → {} idle → {} end MiB; {:.1} KiB/connection idle, {:.1} KiB at the end",
                s.rss_kib_before / 1024, s.rss_kib_idle / 1024, s.rss_kib_end / 1024,
                d.server_kib_per_conn_idle.unwrap_or(0.0), d.server_kib_per_conn_end.unwrap_or(0.0))));
            rows.push((
                "server CPU".into(),
                format!(
                    "{:.2} cores during the window{}",
                    d.server_cores_window.unwrap_or(0.0),
                    match d.other_cores_window {
                        Some(c) => format!(" (+ {c:.2} cores of pid {})", s.other_pid.unwrap_or(0)),
                        None => String::new(),
                    }
                ),
            ));
        }
        rows.push(("load tool CPU".into(), format!(
            "{:.2} cores in the window, {:.2} overall ({} threads, {} cores allowed), {} late sends (max {} ms)",
            d.tool_cores_window, d.tool_cores_total, self.tool.threads, self.tool.cores, self.late_sends, self.max_send_lateness_ms)));
        if !self.cpus.is_empty() {
            rows.push(("machine CPUs".into(), cpus_line(&self.cpus)));
        }
        rows.push(("errors".into(), errors_line(&self.errors)));
        if self.listen_overflows > 0 {
            rows.push((
                "listen overflows".into(),
                format!(
                    "{} (kernel accept queue full during the run)",
                    self.listen_overflows
                ),
            ));
        }
        render(&rows)
    }
}

pub fn errors_line(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "none".into();
    }
    errors
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn ms(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.0} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}

pub fn render(rows: &[(String, String)]) -> String {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&format!("  {k:<w$}  {v}\n"));
    }
    out
}

/// The checkout run's results.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Checkout {
    pub kind: String,
    pub label: String,
    pub buyers: u64,
    pub prepared: u64,
    pub prepare_s: f64,
    pub fire_window_ms: u64,
    pub fired: u64,
    pub orders: u64,
    pub sold_out: u64,
    pub other: BTreeMap<String, u64>,
    /// From the first send to the last answer.
    pub burst_s: f64,
    pub throughput_per_s: f64,
    pub latency_all: Percentiles,
    pub latency_orders: Percentiles,
    /// Orders and paid total as the creator's order list shows them afterwards.
    pub orders_listed: Option<u64>,
    pub paid_listed: Option<u64>,
    pub stock_left: Option<i64>,
    pub server: Option<ServerStats>,
    pub server_cores_burst: Option<f64>,
    pub other_cores_burst: Option<f64>,
    pub tool: ToolStats,
    pub tool_cores_burst: f64,
    pub errors: BTreeMap<String, u64>,
    pub listen_overflows: u64,
    /// Every CPU of the machine during the burst.
    #[serde(default)]
    pub cpus: Vec<CpuUse>,
}

impl Checkout {
    pub fn table(&self) -> String {
        let a = &self.latency_all;
        let o = &self.latency_orders;
        let mut rows: Vec<(String, String)> = vec![
            ("run".into(), self.label.clone()),
            (
                "buyers".into(),
                format!(
                    "{} with a prepared cart of {} (prepared in {:.1} s)",
                    self.prepared, self.buyers, self.prepare_s
                ),
            ),
            (
                "fired".into(),
                format!(
                    "{} checkouts spread over {} ms",
                    self.fired, self.fire_window_ms
                ),
            ),
            (
                "outcome".into(),
                format!(
                    "{} orders (201), {} sold_out (409), other: {}",
                    self.orders,
                    self.sold_out,
                    errors_line(&self.other)
                ),
            ),
            (
                "throughput".into(),
                format!(
                    "{:.0} checkouts/s (all {} answered in {:.3} s)",
                    self.throughput_per_s, self.fired, self.burst_s
                ),
            ),
            (
                "latency, all".into(),
                format!(
                    "p50 {} · p90 {} · p99 {} · p99.9 {} · max {}",
                    ms(a.p50_us),
                    ms(a.p90_us),
                    ms(a.p99_us),
                    ms(a.p999_us),
                    ms(a.max_us)
                ),
            ),
            (
                "latency, orders".into(),
                format!(
                    "p50 {} · p99 {} · max {} (n={})",
                    ms(o.p50_us),
                    ms(o.p99_us),
                    ms(o.max_us),
                    o.count
                ),
            ),
        ];
        if let (Some(n), Some(p)) = (self.orders_listed, self.paid_listed) {
            rows.push((
                "orders listed".into(),
                format!(
                    "{n} orders, {p} paid; stock left {}",
                    self.stock_left.map(|s| s.to_string()).unwrap_or("?".into())
                ),
            ));
        }
        if let Some(c) = self.server_cores_burst {
            rows.push((
                "server CPU".into(),
                format!(
                    "{c:.2} cores during the burst{}",
                    match self.other_cores_burst {
                        Some(r) => format!(", Redis {r:.2} cores"),
                        None => String::new(),
                    }
                ),
            ));
        }
        rows.push((
            "load tool CPU".into(),
            format!(
                "{:.2} cores during the burst, {:.2} overall",
                self.tool_cores_burst,
                self.tool.cpu_s_total / self.tool.wall_s_total.max(1e-9)
            ),
        ));
        if !self.cpus.is_empty() {
            rows.push(("machine CPUs".into(), cpus_line(&self.cpus)));
        }
        rows.push(("errors".into(), errors_line(&self.errors)));
        if self.listen_overflows > 0 {
            rows.push((
                "listen overflows".into(),
                format!("{}", self.listen_overflows),
            ));
        }
        render(&rows)
    }
}

/// What the media run read at one moment: the server's CPU time, memory and counters (from
/// /proc and /metrics), its own CPU time and every CPU's jiffies.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Seconds since the run started.
    pub at_s: f64,
    pub server_cpu_s: Option<f64>,
    pub server_rss_kib: Option<u64>,
    /// `livesale_media_forwarded_packets_total` of the show (video + audio).
    pub forwarded: u64,
    /// `livesale_media_dropped_packets_total` by reason (the whole node).
    pub drops: BTreeMap<String, u64>,
    /// `livesale_media_viewers` of the show: WHEP sessions the server still holds.
    #[serde(default)]
    pub server_viewers: u64,
    pub tool_cpu_s: f64,
    /// Packets every viewer of this process had read so far.
    pub read_total: u64,
    pub jiffies: Vec<(String, u64, u64, u64)>,
}

impl Snapshot {
    fn cpu_between(&self, later: &Snapshot) -> Option<f64> {
        Some(later.server_cpu_s? - self.server_cpu_s?)
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MediaServer {
    pub pid: u32,
    /// `[seconds since the run started, RSS KiB]`, every `--rss-interval-ms`.
    pub rss_series: Vec<[f64; 2]>,
}

/// Indexes: `[phase]` is full (everyone reads) then stall; `[kind]` is video then audio;
/// `[group]` is the viewers that keep reading, then those that stall.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MediaReport {
    pub kind: String,
    pub label: String,
    pub show: String,
    pub viewers: u64,
    pub stalled_viewers: u64,
    pub video_kbps: f64,
    pub audio_kbps: f64,
    pub fps: f64,
    pub keyframe_interval_s: f64,
    pub packet_bytes: u64,
    pub warmup_s: f64,
    pub full_s: f64,
    pub stall_s: f64,
    pub tokens_s: f64,
    pub connect_s: f64,
    /// Connected viewers by group.
    pub connected: [u64; 2],
    pub failed: u64,
    pub lost: u64,
    /// Packets (bytes) the camera sent, `[phase][kind]`.
    pub sent: [[u64; 2]; 2],
    pub sent_bytes: [[u64; 2]; 2],
    pub sent_total: [u64; 2],
    /// Packets (bytes) the viewers read, `[group][phase][kind]`, by the phase of their send time.
    pub delivered: [[[u64; 2]; 2]; 2],
    pub delivered_bytes: [[[u64; 2]; 2]; 2],
    /// RTP sequence numbers the viewers never saw (between two they did), while reading.
    pub rtp_gaps: u64,
    pub keyframes: u64,
    pub plis: u64,
    /// Camera frames that left more than a frame late (the tool fell behind).
    pub late_frames: u64,
    /// Send → read latency of every measured packet, µs.
    pub hist: Vec<[u64; 2]>,
    pub server: Option<MediaServer>,
    /// With the camera on air, before any viewer.
    pub before: Snapshot,
    /// Every viewer connected, warm-up over: the full phase starts.
    pub at_window: Snapshot,
    pub at_full_end: Snapshot,
    /// The stall phase starts (the stalling viewers have stopped reading).
    pub at_stall_start: Option<Snapshot>,
    pub at_stall_end: Option<Snapshot>,
    /// After the viewers closed: once the server holds none of their sessions (or 20 s).
    pub after: Snapshot,
    pub tool: ToolStats,
    pub errors: BTreeMap<String, u64>,
    pub derived: MediaDerived,
}

/// One measured phase.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MediaPhase {
    pub seconds: f64,
    /// Viewers that read during the phase.
    pub reading_viewers: u64,
    pub expected: u64,
    pub delivered: u64,
    /// Percent of the expected packets (video + audio) the reading viewers did not get.
    pub loss_pct: f64,
    pub video_loss_pct: f64,
    pub delivered_per_s: f64,
    pub delivered_mbit_per_s: f64,
    /// The server's forwarded-packet counter over the phase.
    pub forwarded: u64,
    pub forwarded_per_s: f64,
    pub server_cores: Option<f64>,
    /// Server CPU time per forwarded packet (its counter), µs.
    pub server_us_per_forwarded: Option<f64>,
    /// Server CPU time per packet a viewer read, µs.
    pub server_us_per_delivered: Option<f64>,
    pub tool_cores: f64,
    pub tool_us_per_delivered: f64,
    /// `livesale_media_dropped_packets_total` increase by reason.
    pub drops: BTreeMap<String, u64>,
    pub cpus: Vec<CpuUse>,
    /// Least-squares slope of the server's RSS over the phase, KiB per minute.
    pub rss_slope_kib_per_min: Option<f64>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct MediaDerived {
    pub full: MediaPhase,
    pub stall: Option<MediaPhase>,
    /// The stalling viewers' loss while they still read (the full phase).
    pub stalled_loss_before_pct: Option<f64>,
    pub latency: Percentiles,
    /// Server RSS, MiB: camera only, all connected, end of full phase, end of stall, after.
    pub rss_mib: [Option<f64>; 5],
    pub server_kib_per_viewer: Option<f64>,
    pub tool_cores_total: f64,
}

fn pct_lost(expected: u64, delivered: u64) -> f64 {
    if expected == 0 {
        return 0.0;
    }
    (expected.saturating_sub(delivered)) as f64 * 100.0 / expected as f64
}

/// Least-squares slope of `[t, y]` points with `from <= t <= to`, in y per second.
pub fn slope(points: &[[f64; 2]], from: f64, to: f64) -> Option<f64> {
    let p: Vec<&[f64; 2]> = points
        .iter()
        .filter(|[t, _]| *t >= from && *t <= to)
        .collect();
    if p.len() < 3 {
        return None;
    }
    let n = p.len() as f64;
    let mt = p.iter().map(|x| x[0]).sum::<f64>() / n;
    let my = p.iter().map(|x| x[1]).sum::<f64>() / n;
    let num: f64 = p.iter().map(|x| (x[0] - mt) * (x[1] - my)).sum();
    let den: f64 = p.iter().map(|x| (x[0] - mt).powi(2)).sum();
    (den > 0.0).then(|| num / den)
}

fn drops_between(a: &Snapshot, b: &Snapshot) -> BTreeMap<String, u64> {
    b.drops
        .iter()
        .filter_map(|(k, v)| {
            let d = v.saturating_sub(a.drops.get(k).copied().unwrap_or(0));
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

impl MediaReport {
    fn phase(
        &self,
        phase: usize,
        groups: &[usize],
        a: &Snapshot,
        b: &Snapshot,
        seconds: f64,
    ) -> MediaPhase {
        let s = seconds.max(1e-9);
        let reading: u64 = groups.iter().map(|g| self.connected[*g]).sum();
        let sent = self.sent[phase];
        let expected = (sent[0] + sent[1]) * reading;
        let delivered: u64 = groups
            .iter()
            .map(|g| self.delivered[*g][phase][0] + self.delivered[*g][phase][1])
            .sum();
        let delivered_video: u64 = groups.iter().map(|g| self.delivered[*g][phase][0]).sum();
        let bytes: u64 = groups
            .iter()
            .map(|g| self.delivered_bytes[*g][phase][0] + self.delivered_bytes[*g][phase][1])
            .sum();
        let forwarded = b.forwarded.saturating_sub(a.forwarded);
        let cpu = a.cpu_between(b);
        let tool_cpu = b.tool_cpu_s - a.tool_cpu_s;
        let read = b.read_total.saturating_sub(a.read_total).max(1);
        MediaPhase {
            seconds,
            reading_viewers: reading,
            expected,
            delivered,
            loss_pct: pct_lost(expected, delivered),
            video_loss_pct: pct_lost(sent[0] * reading, delivered_video),
            delivered_per_s: delivered as f64 / s,
            delivered_mbit_per_s: bytes as f64 * 8.0 / 1e6 / s,
            forwarded,
            forwarded_per_s: forwarded as f64 / s,
            server_cores: cpu.map(|c| c / s),
            server_us_per_forwarded: cpu.map(|c| c * 1e6 / forwarded.max(1) as f64),
            server_us_per_delivered: cpu.map(|c| c * 1e6 / read as f64),
            tool_cores: tool_cpu / s,
            tool_us_per_delivered: tool_cpu * 1e6 / read as f64,
            drops: drops_between(a, b),
            cpus: super::sys::cpu_use(&a.jiffies, &b.jiffies),
            rss_slope_kib_per_min: self
                .server
                .as_ref()
                .and_then(|sv| slope(&sv.rss_series, a.at_s, b.at_s))
                .map(|k| k * 60.0),
        }
    }

    pub fn derive(&mut self) {
        let full = self.phase(0, &[0, 1], &self.at_window, &self.at_full_end, self.full_s);
        let stall = match (&self.at_stall_start, &self.at_stall_end) {
            (Some(a), Some(b)) => Some(self.phase(1, &[0], a, b, self.stall_s)),
            _ => None,
        };
        let mib = |s: &Snapshot| s.server_rss_kib.map(|k| k as f64 / 1024.0);
        let d = &mut self.derived;
        d.full = full;
        d.stall = stall;
        d.stalled_loss_before_pct = (self.connected[1] > 0).then(|| {
            pct_lost(
                (self.sent[0][0] + self.sent[0][1]) * self.connected[1],
                self.delivered[1][0][0] + self.delivered[1][0][1],
            )
        });
        d.latency = hist::percentiles(&self.hist);
        d.rss_mib = [
            mib(&self.before),
            mib(&self.at_window),
            mib(&self.at_full_end),
            self.at_stall_end.as_ref().and_then(mib),
            mib(&self.after),
        ];
        let viewers = (self.connected[0] + self.connected[1]).max(1) as f64;
        d.server_kib_per_viewer = match (self.before.server_rss_kib, self.at_window.server_rss_kib)
        {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / viewers),
            _ => None,
        };
        d.tool_cores_total = self.tool.cpu_s_total / self.tool.wall_s_total.max(1e-9);
    }

    pub fn table(&self) -> String {
        let d = &self.derived;
        let l = &d.latency;
        let f1 = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or("?".into());
        let f2 = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or("?".into());
        let mut rows: Vec<(String, String)> = vec![
            ("run".into(), format!("{} (show {})", self.label, self.show)),
            (
                "feed".into(),
                format!(
                    "video {:.0} kbit/s, {:.0} fps, keyframe every {:.1} s, payloads ≤ {} B; audio {:.0} kbit/s",
                    self.video_kbps,
                    self.fps,
                    self.keyframe_interval_s,
                    self.packet_bytes,
                    self.audio_kbps
                ),
            ),
            (
                "viewers connected".into(),
                format!(
                    "{} of {} ({} to stall; {} failed, {} lost during the run), connect phase {:.1} s",
                    self.connected[0] + self.connected[1],
                    self.viewers,
                    self.connected[1],
                    self.failed,
                    self.lost,
                    self.connect_s
                ),
            ),
            (
                "camera".into(),
                format!(
                    "{} video + {} audio packets sent, {} keyframes ({} PLIs answered), {} late frames",
                    self.sent_total[0],
                    self.sent_total[1],
                    self.keyframes,
                    self.plis,
                    self.late_frames
                ),
            ),
        ];
        let mut phase_rows = |name: &str, p: &MediaPhase| {
            rows.push((
                format!("{name}: delivered"),
                format!(
                    "{} of {} expected by {} reading viewers over {:.1} s: loss {:.3}% (video {:.3}%), {:.0} packets/s, {:.1} Mbit/s",
                    p.delivered, p.expected, p.reading_viewers, p.seconds, p.loss_pct, p.video_loss_pct,
                    p.delivered_per_s, p.delivered_mbit_per_s
                ),
            ));
            rows.push((
                format!("{name}: server"),
                format!(
                    "{} cores; {} packets forwarded ({:.0}/s by its counter); {} µs CPU per forwarded packet ({} per packet read); drops {}",
                    f2(p.server_cores), p.forwarded, p.forwarded_per_s,
                    f2(p.server_us_per_forwarded), f2(p.server_us_per_delivered),
                    errors_line(&p.drops)
                ),
            ));
            rows.push((
                format!("{name}: load tool"),
                format!(
                    "{:.2} cores, {:.2} µs CPU per packet read",
                    p.tool_cores, p.tool_us_per_delivered
                ),
            ));
            rows.push((
                format!("{name}: server RSS slope"),
                format!("{} KiB/min", f1(p.rss_slope_kib_per_min)),
            ));
            if !p.cpus.is_empty() {
                rows.push((format!("{name}: machine CPUs"), cpus_line(&p.cpus)));
            }
        };
        phase_rows("full", &d.full);
        if let Some(s) = &d.stall {
            phase_rows("stall", s);
        }
        if let Some(x) = d.stalled_loss_before_pct {
            rows.push((
                "stalling viewers".into(),
                format!("loss {x:.3}% while they still read (full phase)"),
            ));
        }
        rows.push((
            "latency (send → read)".into(),
            format!(
                "p50 {} · p90 {} · p99 {} · p99.9 {} · max {} (n={})",
                ms(l.p50_us),
                ms(l.p90_us),
                ms(l.p99_us),
                ms(l.p999_us),
                ms(l.max_us),
                l.count
            ),
        ));
        rows.push(("RTP sequence gaps".into(), format!("{}", self.rtp_gaps)));
        let r = &d.rss_mib;
        rows.push((
            "server RSS".into(),
            format!(
                "{} MiB camera only → {} connected → {} end of full → {} end of stall → {} after the viewers left; {} KiB per viewer",
                f1(r[0]), f1(r[1]), f1(r[2]), f1(r[3]), f1(r[4]), f1(d.server_kib_per_viewer)
            ),
        ));
        rows.push((
            "load tool CPU".into(),
            format!(
                "{:.2} cores overall ({} threads, {} cores allowed)",
                d.tool_cores_total, self.tool.threads, self.tool.cores
            ),
        ));
        rows.push(("errors".into(), errors_line(&self.errors)));
        render(&rows)
    }
}
