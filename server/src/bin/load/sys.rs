//! What the load tool reads from the operating system: open-file limits, a process's memory
//! and CPU time from /proc, its own CPU time, the kernel's TCP listen-queue counters, and the
//! wall clock that every process on the machine shares.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock microseconds since the Unix epoch (shared by all processes of the machine).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

pub fn now_ms() -> u64 {
    now_us() / 1000
}

/// The `tokio` instant that corresponds to wall-clock `unix_ms` (now if it is past).
pub fn instant_at_ms(unix_ms: u64) -> tokio::time::Instant {
    let now = now_ms();
    tokio::time::Instant::now() + Duration::from_millis(unix_ms.saturating_sub(now))
}

/// Raises the soft open-file limit to the hard one; returns (soft, hard) after.
pub fn raise_nofile() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return (0, 0);
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    (lim.rlim_cur, lim.rlim_max)
}

/// Resident memory of a process, in KiB (`VmRSS` of /proc/<pid>/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User + system CPU seconds of a process (all its threads), from /proc/<pid>/stat.
pub fn cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Some((utime + stime) / ticks)
}

/// This process's own user + system CPU seconds (getrusage, microsecond precision).
pub fn self_cpu_s() -> f64 {
    // SAFETY: an all-zero rusage is a valid value; getrusage only writes it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The kernel's `TcpExt` counters `ListenOverflows` and `ListenDrops` (connections refused
/// because an accept queue was full), machine-wide.
pub fn listen_drops() -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string("/proc/net/netstat") else {
        return (0, 0);
    };
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
    if lines.len() < 2 {
        return (0, 0);
    }
    let names: Vec<&str> = lines[0].split_whitespace().collect();
    let values: Vec<&str> = lines[1].split_whitespace().collect();
    let get = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .and_then(|i| values.get(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("ListenOverflows"), get("ListenDrops"))
}

/// Threads of this process (for the report).
pub fn self_threads() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A TCP connection to `server` from source address `src` (any port). With
/// `IP_BIND_ADDRESS_NO_PORT` the kernel picks the port at connect time, per destination, so
/// one source address reaches the whole ephemeral range for each server port.
pub async fn connect_from(
    src: Option<IpAddr>,
    server: SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = match server {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(ip) = src {
        if ip.is_ipv4() {
            use std::os::fd::AsRawFd;
            let one: libc::c_int = 1;
            // SAFETY: a valid socket descriptor and a c_int option value of the right size.
            unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_BIND_ADDRESS_NO_PORT,
                    &one as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Jiffies per CPU from /proc/stat: (name, busy, softirq, total).
pub fn cpu_jiffies() -> Vec<(String, u64, u64, u64)> {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?.to_string();
            let v: Vec<u64> = it.filter_map(|x| x.parse().ok()).collect();
            // user nice system idle iowait irq softirq steal …
            if v.len() < 8 {
                return None;
            }
            let total: u64 = v[..8].iter().sum();
            let idle = v[3] + v[4];
            Some((name, total - idle, v[6], total))
        })
        .collect()
}

/// How busy each CPU was between two `cpu_jiffies` readings: (name, busy %, softirq %).
/// Softirq time (the kernel's network processing, which on loopback includes the receiving
/// side of every packet) is not charged to any process, so it shows only here.
pub fn cpu_use(
    before: &[(String, u64, u64, u64)],
    after: &[(String, u64, u64, u64)],
) -> Vec<super::report::CpuUse> {
    before
        .iter()
        .zip(after)
        .filter(|(a, b)| a.0 == b.0)
        .map(|(a, b)| {
            let total = (b.3.saturating_sub(a.3)).max(1) as f64;
            super::report::CpuUse {
                cpu: a.0.clone(),
                busy_pct: b.1.saturating_sub(a.1) as f64 * 100.0 / total,
                softirq_pct: b.2.saturating_sub(a.2) as f64 * 100.0 / total,
            }
        })
        .collect()
}
