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
