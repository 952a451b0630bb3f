//! Running a test inside a private network namespace of its own: the test binary runs itself
//! again under `unshare` (a user, network and mount namespace) with only loopback and a veth
//! pair (10.0.0.7), and a hosts file of a few test names. Whatever a bug makes the server
//! call (a webhook URL, Stripe's API base), it can reach nothing beyond that namespace.
//! `in_private_netns!(a, …)` makes `netns_memory::a` and `netns_redis::a` of each
//! `async fn a(backend: Backend)`; inside, Redis must be a `PrivateRedis` started there.

use std::process::Command;
use std::time::Duration;

/// Set in the environment of a test binary re-run inside its network namespace.
pub const IN_NETNS: &str = "LIVESALE_TEST_IN_NETNS";

/// The namespace's /etc/hosts (bind-mounted over the real one in its own mount namespace), so
/// the server's system resolver sees these names. 10.0.0.7 is an address of the namespace's
/// own veth pair: a stand-in for a private network that exists nowhere else.
pub const NETNS_HOSTS: &str = "127.0.0.1 localhost\n::1 localhost\n\
                           127.0.0.1 shop.test\n10.0.0.7 intranet.test\n";

/// Sets the namespace up (loopback up; a veth pair, both ends inside, with 10.0.0.7: WebRTC
/// wants an interface besides loopback), then runs the test binary given as arguments.
pub const NETNS_SETUP: &str = "set -e
ip link set lo up
ip link add lsv0 type veth peer name lsv1
ip addr add 10.0.0.7/24 dev lsv0
ip link set lsv0 up
ip link set lsv1 up
mount --bind \"$LIVESALE_TEST_HOSTS\" /etc/hosts
exec \"$@\"";

/// `in_private_netns!(a, …)`: for each `async fn a(backend: Backend)`, the tests
/// `netns_memory::a` and `netns_redis::a`, each run inside a private network namespace.
#[macro_export]
macro_rules! in_private_netns {
    ($($name:ident),* $(,)?) => {
        mod netns_memory {
            $(#[test]
            fn $name() {
                $crate::common::netns::netns_test(concat!("netns_memory::", stringify!($name)), || {
                    super::$name($crate::common::server::Backend::Memory)
                })
            })*
        }
        mod netns_redis {
            $(#[test]
            fn $name() {
                $crate::common::netns::netns_test(concat!("netns_redis::", stringify!($name)), || {
                    super::$name($crate::common::server::Backend::Redis)
                })
            })*
        }
    };
}

/// Runs `body` if this process is inside its namespace; otherwise runs this one test again in
/// a new user, network and mount namespace and fails with its output if it fails there.
pub fn netns_test<F: std::future::Future<Output = ()>>(name: &str, body: impl FnOnce() -> F) {
    if std::env::var_os(IN_NETNS).is_some() {
        assert_isolated();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let body = body();
        runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(60), body).await })
            .unwrap_or_else(|_| panic!("{name} did not finish within 60 s"));
        return;
    }
    let hosts = tempfile::NamedTempFile::new().expect("a temporary hosts file");
    std::fs::write(hosts.path(), NETNS_HOSTS).expect("write the hosts file");
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--net",
            "--mount",
            "sh",
            "-c",
            NETNS_SETUP,
            "sh",
        ])
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(IN_NETNS, "1")
        .env("LIVESALE_TEST_HOSTS", hosts.path())
        .output()
        .expect("run unshare (util-linux) and ip (iproute2)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{name} failed in its network namespace ({}):\n{text}",
        out.status
    );
}

/// Refuses to run a namespace test anywhere but in a namespace with only our interfaces.
pub fn assert_isolated() {
    let dev = std::fs::read_to_string("/proc/self/net/dev").expect("read /proc/self/net/dev");
    let names: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert!(
        names.iter().all(|n| ["lo", "lsv0", "lsv1"].contains(n)),
        "not inside the test's private network namespace (interfaces {names:?})"
    );
}
