#!/usr/bin/env bash
# The project's test command: the README's second set-up command and CI's entry point.
#
#   scripts/test.sh                         format check, clippy, shape, compose check, all tests
#   scripts/test.sh -- store_contract       the same, with a test-name filter for cargo test
#   scripts/test.sh -- --test e2e -- --nocapture
#                                           args up to a second `--` go to cargo test, the rest
#                                           to the test harness
#   scripts/test.sh --setup                 prerequisites and the media test clients only (no
#                                           lint, no tests): then `cargo test --test media_browser`
#                                           or `--test media_gstreamer` runs alone
#
# Environment:
#   LIVESALE_SKIP_LINT=1     skip fmt, clippy, shape and the compose check (local use; CI never sets it)
#   LIVESALE_TEST_THREADS=N  test harness threads (default 4)
#
# It installs missing prerequisites with apt when run as root, and otherwise prints the exact
# command to run and fails. It starts a private, throw-away redis-server on a free port of
# 127.0.0.1 for the tests and exports:
#   LIVESALE_TEST_REDIS_URL     redis://127.0.0.1:PORT/
#   LIVESALE_TEST_REDIS_PORT    PORT
#   LIVESALE_TEST_REDIS_SERVER  path of redis-server (tests may start their own to test outages)
# REDIS_URL is deliberately left alone: it would change the server's own default store.
#
# The API fuzzer (tests/schemathesis.rs): Schemathesis from PyPI, the version pinned in
# tests/schemathesis/requirements.txt, installed into a venv in target/schemathesis-venv
# (reinstalled when the requirements change) and exported as
#   LIVESALE_TEST_SCHEMATHESIS  path of the venv's `st`
#
# The Stripe tests (tests/stripe_client.rs, tests/common/localstripe.rs): localstripe from PyPI,
# the version pinned in tests/localstripe/requirements.txt, installed the same way into a venv in
# target/localstripe-venv and exported as
#   LIVESALE_TEST_LOCALSTRIPE_PYTHON  path of the venv's `python` (each test starts its own
#                                     localstripe on a free port of 127.0.0.1, state in memory)
#
# The media tests' clients that nobody here wrote (docs/operations.md, "Testing media with real
# clients"): Debian's Chromium driven by playwright-core from npm (tests/browser, `npm ci`, no
# browser download), and GStreamer with the whipsink/whepsrc plugin of the crate
# gst-plugin-webrtchttp (0.10 line, the one that builds against Debian 12's GStreamer 1.22),
# built once with cargo into target/gst-plugins (its own target dir, target/gst-build, so it
# never waits on the project's build lock) and exported as GST_PLUGIN_PATH.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -f Cargo.toml ]] || { echo "test.sh: no Cargo.toml in $(pwd)" >&2; exit 1; }

# Prerequisites, one "check:package" pair a line. The check is a command name looked up on
# PATH, or an absolute path that must exist (for libraries and plugins without a command).
# Add a prerequisite by appending a line.
GST_LIBDIR=/usr/lib/$(uname -m)-linux-gnu
PREREQS=(
  # A C compiler and libc headers: crates compile C with `cc` (ring, and mimalloc, the server's
  # allocator); rustup's Rust links with it too.
  "cc:build-essential"
  "redis-server:redis-server"
  "redis-cli:redis-tools"
  # The webhook destination tests run the server in a private network namespace of their own
  # (tests/webhook_ssrf.rs): unshare makes it, ip sets up its interfaces.
  "unshare:util-linux"
  "ip:iproute2"
  "docker-compose:docker-compose"
  # LL-HLS through a real cache (tests/hls_cache.rs, scripts/bench/hls.sh): Debian's nginx, run
  # as the current user in a private prefix.
  "nginx:nginx"
  # Media tests: Chromium publishes and plays over WHIP/WHEP (tests/media_browser.rs) ...
  "chromium:chromium"
  "node:nodejs"
  "npm:npm"
  # ... and GStreamer does (tests/media_gstreamer.rs): tools, videotestsrc, vp8enc and RTP,
  # webrtcbin, ICE, and the -dev packages the whipsink/whepsrc plugin builds against.
  "gst-launch-1.0:gstreamer1.0-tools"
  "gst-inspect-1.0:gstreamer1.0-tools"
  "$GST_LIBDIR/gstreamer-1.0/libgstvideotestsrc.so:gstreamer1.0-plugins-base"
  "$GST_LIBDIR/gstreamer-1.0/libgstvideoconvertscale.so:gstreamer1.0-plugins-base"
  "$GST_LIBDIR/gstreamer-1.0/libgstvpx.so:gstreamer1.0-plugins-good"
  "$GST_LIBDIR/gstreamer-1.0/libgstrtp.so:gstreamer1.0-plugins-good"
  "$GST_LIBDIR/gstreamer-1.0/libgstwebrtc.so:gstreamer1.0-plugins-bad"
  "$GST_LIBDIR/gstreamer-1.0/libgstnice.so:gstreamer1.0-nice"
  "$GST_LIBDIR/pkgconfig/gstreamer-1.0.pc:libgstreamer1.0-dev"
  "$GST_LIBDIR/pkgconfig/gstreamer-sdp-1.0.pc:libgstreamer-plugins-base1.0-dev"
  "$GST_LIBDIR/pkgconfig/gstreamer-webrtc-1.0.pc:libgstreamer-plugins-bad1.0-dev"
  "$GST_LIBDIR/pkgconfig/openssl.pc:libssl-dev"
  "pkg-config:pkg-config"
  # The API fuzzer's venv (tests/schemathesis.rs): Python 3 with venv and pip.
  "python3:python3"
  # The GStreamer test's launcher: gst-launch's parser from Debian's Python, which also gives the
  # ICE agents their loopback address (tests/media_gstreamer.rs says why).
  "/usr/lib/python3/dist-packages/gi/__init__.py:python3-gi"
  "$GST_LIBDIR/girepository-1.0/Gst-1.0.typelib:gir1.2-gstreamer-1.0"
  # LL-HLS (tests/hls.rs): x264enc publishes H.264 cameras; ffprobe/ffmpeg read and decode the
  # window; GStreamer's hlsdemux (over souphttpsrc, qtdemux, avdec_h264) plays it.
  "ffmpeg:ffmpeg"
  "ffprobe:ffmpeg"
  "$GST_LIBDIR/gstreamer-1.0/libgstx264.so:gstreamer1.0-plugins-ugly"
  "$GST_LIBDIR/gstreamer-1.0/libgsthls.so:gstreamer1.0-plugins-bad"
  "$GST_LIBDIR/gstreamer-1.0/libgstsoup.so:gstreamer1.0-plugins-good"
  "$GST_LIBDIR/gstreamer-1.0/libgstisomp4.so:gstreamer1.0-plugins-good"
  "$GST_LIBDIR/gstreamer-1.0/libgstlibav.so:gstreamer1.0-libav"
)

log() { printf '%s\n' "$*" >&2; }
die() { log "test.sh: error: $*"; exit 1; }

step_no=0
header() {
  step_no=$((step_no + 1))
  printf '\n==> [%d] %s\n' "$step_no" "$*"
}

# Runs one step, prints its duration, and stops the script when it fails.
run_step() {
  local title=$1
  shift
  header "$title"
  local start=$SECONDS
  if ! "$@"; then
    log "==> FAILED: $title (after $((SECONDS - start)) s)"
    exit 1
  fi
  printf '==> ok: %s (%d s)\n' "$title" "$((SECONDS - start))"
}

ensure_prereqs() {
  local entry check pkg missing=()
  for entry in "${PREREQS[@]}"; do
    check=${entry%%:*}
    pkg=${entry#*:}
    if [[ $check == /* ]]; then
      [[ -e $check ]] && continue
    else
      command -v "$check" >/dev/null 2>&1 && continue
    fi
    # One package can satisfy several checks: list it once.
    [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0

  if [[ $(id -u) -ne 0 ]]; then
    log "test.sh: missing prerequisites: ${missing[*]}"
    log "Install them with:"
    log "  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
  header "installing prerequisites: ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

  for entry in "${PREREQS[@]}"; do
    check=${entry%%:*}
    if [[ $check == /* ]]; then
      [[ -e $check ]] || die "$check still missing after installing ${entry#*:}"
    else
      command -v "$check" >/dev/null 2>&1 || die "$check still missing after installing ${entry#*:}"
    fi
  done
}

# rustfmt and clippy are rustup components that a minimal toolchain lacks.
ensure_rust_components() {
  local comps=()
  cargo fmt --version >/dev/null 2>&1 || comps+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || comps+=(clippy)
  ((${#comps[@]} == 0)) && return 0
  command -v rustup >/dev/null 2>&1 \
    || die "cargo lacks ${comps[*]} and there is no rustup to add them; install them with your toolchain"
  header "adding rust components: ${comps[*]}"
  rustup component add "${comps[@]}"
}

# ---- media test clients -----------------------------------------------------------------------

BROWSER_DIR=tests/browser
GST_PLUGIN_CRATE=gst-plugin-webrtchttp
GST_PLUGIN_VERSION=0.10.8
GST_BUILD_DIR=$PWD/target/gst-build
GST_PLUGIN_DIR=$PWD/target/gst-plugins

# playwright-core and axe-core (the accessibility audit) from tests/browser/package-lock.json;
# playwright-core drives /usr/bin/chromium and never downloads a browser. Skipped when node_modules already matches the lock file.
ensure_browser_harness() {
  local lock=$BROWSER_DIR/package-lock.json installed=$BROWSER_DIR/node_modules/.package-lock.json
  if [[ -f $installed && -f $BROWSER_DIR/node_modules/playwright-core/package.json \
    && -f $BROWSER_DIR/node_modules/axe-core/axe.min.js && ! $lock -nt $installed ]]; then
    echo "$BROWSER_DIR/node_modules is up to date"
    return 0
  fi
  (cd "$BROWSER_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
}

gst_has_plugin() {
  GST_PLUGIN_PATH=$GST_PLUGIN_DIR gst-inspect-1.0 whipsink >/dev/null 2>&1 \
    && GST_PLUGIN_PATH=$GST_PLUGIN_DIR gst-inspect-1.0 whepsrc >/dev/null 2>&1
}

# The plugin is the crate's own cdylib: a throw-away package that depends on the crate makes
# cargo fetch it from crates.io and build it, .so included, in target/gst-build (its own target
# dir and lock). The .so is copied to target/gst-plugins/libgstwebrtchttp.so, the file name
# GStreamer derives the plugin's entry point from. Cached: rebuilt only when the version changes.
ensure_gst_plugin() {
  local so=$GST_PLUGIN_DIR/libgstwebrtchttp.so stamp=$GST_PLUGIN_DIR/.built
  local want="$GST_PLUGIN_CRATE $GST_PLUGIN_VERSION"
  if [[ -f $so && -f $stamp && $(cat "$stamp") == "$want" ]] && gst_has_plugin; then
    echo "$so ($want) is up to date"
    return 0
  fi
  local pkg=$GST_BUILD_DIR/wrapper
  mkdir -p "$pkg/src" "$GST_PLUGIN_DIR"
  cat >"$pkg/Cargo.toml" <<EOF
# Written by scripts/test.sh: builds $want, the GStreamer WHIP/WHEP plugin of the media tests.
[package]
name = "livesale-gst-plugins"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
path = "src/lib.rs"

[dependencies]
$GST_PLUGIN_CRATE = "=$GST_PLUGIN_VERSION"

# The plugin only signals (HTTP and SDP); the media runs in GStreamer's C. Unoptimised and
# without debug info builds fastest.
[profile.dev]
debug = false

[workspace]
EOF
  echo "// Empty: the dependency's own cdylib is the product (scripts/test.sh)." >"$pkg/src/lib.rs"
  CARGO_TARGET_DIR=$GST_BUILD_DIR/target cargo build --manifest-path "$pkg/Cargo.toml" || return 1
  local built
  built=$(ls -t "$GST_BUILD_DIR"/target/debug/deps/libgstwebrtchttp-*.so 2>/dev/null | head -n 1)
  if [[ -z $built ]]; then
    log "test.sh: cargo built no libgstwebrtchttp-*.so in $GST_BUILD_DIR/target/debug/deps"
    return 1
  fi
  cp "$built" "$so.tmp" && mv "$so.tmp" "$so" || return 1
  if ! gst_has_plugin; then
    log "test.sh: gst-inspect-1.0 finds no whipsink/whepsrc in $GST_PLUGIN_DIR:"
    GST_PLUGIN_PATH=$GST_PLUGIN_DIR gst-inspect-1.0 "$so" >&2 || true
    return 1
  fi
  echo "$want" >"$stamp"
  echo "built $so"
}

# ---- API fuzzer --------------------------------------------------------------------------------

ST_REQUIREMENTS=tests/schemathesis/requirements.txt
ST_VENV=$PWD/target/schemathesis-venv

# Schemathesis in its own venv, from PyPI with the machine's pip. Skipped when the venv was made
# from the same requirements file; any failure stops the run (the fuzz test cannot run without it).
ensure_schemathesis() {
  local stamp=$ST_VENV/.requirements
  if [[ -x $ST_VENV/bin/st && -f $stamp ]] && cmp -s "$stamp" "$ST_REQUIREMENTS"; then
    echo "$ST_VENV ($(grep -v '^#' "$ST_REQUIREMENTS" | tr '\n' ' ')) is up to date"
    return 0
  fi
  rm -rf "$ST_VENV"
  if ! python3 -m venv "$ST_VENV"; then
    log "test.sh: python3 -m venv failed; on Debian install python3-venv (apt-get install -y python3-venv)"
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
        && python3 -m venv "$ST_VENV" || return 1
    else
      return 1
    fi
  fi
  "$ST_VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$ST_REQUIREMENTS" \
    || { log "test.sh: pip could not install $ST_REQUIREMENTS from PyPI"; return 1; }
  "$ST_VENV/bin/st" --version || { log "test.sh: $ST_VENV/bin/st does not run"; return 1; }
  cp "$ST_REQUIREMENTS" "$stamp"
}

# ---- localstripe -------------------------------------------------------------------------------

LS_REQUIREMENTS=tests/localstripe/requirements.txt
LS_VENV=$PWD/target/localstripe-venv

# localstripe in its own venv, as Schemathesis above: skipped when the venv was made from the same
# requirements file; any failure stops the run (the Stripe tests cannot run without it).
ensure_localstripe() {
  local stamp=$LS_VENV/.requirements
  if [[ -x $LS_VENV/bin/python && -f $stamp ]] && cmp -s "$stamp" "$LS_REQUIREMENTS"; then
    echo "$LS_VENV ($(grep -v '^#' "$LS_REQUIREMENTS" | tr '\n' ' ')) is up to date"
    return 0
  fi
  rm -rf "$LS_VENV"
  python3 -m venv "$LS_VENV" \
    || { log "test.sh: python3 -m venv failed; on Debian install python3-venv"; return 1; }
  "$LS_VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$LS_REQUIREMENTS" \
    || { log "test.sh: pip could not install $LS_REQUIREMENTS from PyPI"; return 1; }
  "$LS_VENV/bin/python" -c 'import localstripe.server' \
    || { log "test.sh: localstripe does not import in $LS_VENV"; return 1; }
  cp "$LS_REQUIREMENTS" "$stamp"
}

# ---- private redis --------------------------------------------------------------------------

REDIS_PID=""
REDIS_DIR=""
REDIS_PORT=""
WATCHDOG_PID=""

stop_redis() {
  if [[ -n $WATCHDOG_PID ]]; then
    kill "$WATCHDOG_PID" 2>/dev/null || true
    wait "$WATCHDOG_PID" 2>/dev/null || true
    WATCHDOG_PID=""
  fi
  if [[ -n $REDIS_PID ]]; then
    kill "$REDIS_PID" 2>/dev/null || true
    # Give it a moment to exit cleanly, then insist.
    for _ in $(seq 1 50); do
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
  fi
  if [[ -n $REDIS_DIR ]]; then
    rm -rf "$REDIS_DIR"
    REDIS_DIR=""
  fi
}

on_exit() {
  local rc=$?
  stop_redis
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# The EXIT trap cannot run when this script is killed with SIGKILL (or when a signal arrives
# while a foreground command runs and this script is then killed harder): a watchdog stops
# redis-server as soon as this script is gone, so no test run leaves one behind.
start_watchdog() {
  local script_pid=$$ redis_pid=$REDIS_PID redis_dir=$REDIS_DIR
  (
    trap - EXIT INT TERM HUP
    while kill -0 "$script_pid" 2>/dev/null; do sleep 1; done
    kill "$redis_pid" 2>/dev/null || true
    sleep 1
    kill -9 "$redis_pid" 2>/dev/null || true
    rm -rf "$redis_dir"
  ) </dev/null >/dev/null 2>&1 &
  WATCHDOG_PID=$!
}

# Starts redis-server on a random port of 127.0.0.1, retrying another port when the chosen one
# is taken. Binding for real is the only race-free test that a port is free.
start_redis() {
  local redis_server attempt port info
  redis_server=$(command -v redis-server)
  REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/livesale-test-redis.XXXXXX")

  for attempt in $(seq 1 20); do
    port=$((20000 + RANDOM % 40000))
    : >"$REDIS_DIR/redis.log"
    "$redis_server" \
      --port "$port" --bind 127.0.0.1 \
      --save "" --appendonly no \
      --daemonize no \
      --dir "$REDIS_DIR" \
      --logfile "$REDIS_DIR/redis.log" \
      </dev/null >/dev/null 2>&1 &
    REDIS_PID=$!

    # Wait up to ~10 s for PONG.
    for _ in $(seq 1 100); do
      if ! kill -0 "$REDIS_PID" 2>/dev/null; then
        break
      fi
      # PONG alone is not enough: another redis may own the port while ours fails to bind.
      if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true) == PONG ]]; then
        info=$(redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | tr -d '\r' || true)
        if [[ $'\n'$info$'\n' == *$'\n'"process_id:$REDIS_PID"$'\n'* ]]; then
          REDIS_PORT=$port
          start_watchdog
          return 0
        fi
      fi
      sleep 0.1
    done

    if kill -0 "$REDIS_PID" 2>/dev/null; then
      log "test.sh: redis-server on port $port did not answer PING within 10 s; its log:"
      tail -n 20 "$REDIS_DIR/redis.log" >&2 || true
      exit 1
    fi
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
    if grep -qi 'address already in use' "$REDIS_DIR/redis.log"; then
      log "test.sh: port $port is taken (attempt $attempt), trying another"
      continue
    fi
    log "test.sh: redis-server exited at start; its log:"
    tail -n 20 "$REDIS_DIR/redis.log" >&2 || true
    exit 1
  done
  die "found no free port for redis-server after 20 attempts"
}

# ---- arguments ------------------------------------------------------------------------------

# Everything after the first `--` (or all args if there is none) goes to cargo test; after a
# second `--`, to the test harness.
args=("$@")
if ((${#args[@]} > 0)) && [[ ${args[0]} == -- ]]; then
  args=("${args[@]:1}")
fi
setup_only=0
case "${args[0]-}" in
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  --setup)
    ((${#args[@]} == 1)) || die "--setup takes no other arguments"
    setup_only=1
    args=()
    ;;
esac
cargo_args=()
harness_args=()
seen_sep=0
for a in "${args[@]+"${args[@]}"}"; do
  if ((seen_sep == 0)) && [[ $a == -- ]]; then
    seen_sep=1
  elif ((seen_sep)); then
    harness_args+=("$a")
  else
    cargo_args+=("$a")
  fi
done

# --all-targets unless the caller chose targets.
target_flags=(--all-targets)
for a in "${cargo_args[@]+"${cargo_args[@]}"}"; do
  case "$a" in
    --lib | --bins | --bin | --bin=* | --tests | --test | --test=* | --examples | --example | \
      --example=* | --benches | --bench | --bench=* | --doc | --all-targets)
      target_flags=()
      ;;
  esac
done

threads=${LIVESALE_TEST_THREADS:-4}
[[ $threads =~ ^[1-9][0-9]*$ ]] || die "LIVESALE_TEST_THREADS must be a positive integer, got '$threads'"

# ---- run ------------------------------------------------------------------------------------

command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH; install the Rust toolchain (https://rustup.rs)"
ensure_prereqs
run_step "browser harness: npm ci in $BROWSER_DIR (playwright-core)" ensure_browser_harness
run_step "GStreamer plugin: $GST_PLUGIN_CRATE $GST_PLUGIN_VERSION (whipsink, whepsrc)" ensure_gst_plugin
export GST_PLUGIN_PATH="$GST_PLUGIN_DIR${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
run_step "API fuzzer: Schemathesis from $ST_REQUIREMENTS in $ST_VENV" ensure_schemathesis
export LIVESALE_TEST_SCHEMATHESIS=$ST_VENV/bin/st
run_step "Stripe tests: localstripe from $LS_REQUIREMENTS in $LS_VENV" ensure_localstripe
export LIVESALE_TEST_LOCALSTRIPE_PYTHON=$LS_VENV/bin/python
if ((setup_only)); then
  printf '\n==> set-up done (%d s); GST_PLUGIN_PATH=%s LIVESALE_TEST_SCHEMATHESIS=%s LIVESALE_TEST_LOCALSTRIPE_PYTHON=%s\n' \
    "$SECONDS" "$GST_PLUGIN_PATH" "$LIVESALE_TEST_SCHEMATHESIS" "$LIVESALE_TEST_LOCALSTRIPE_PYTHON"
  exit 0
fi

if [[ ${LIVESALE_SKIP_LINT:-0} == 1 ]]; then
  log "test.sh: LIVESALE_SKIP_LINT=1: skipping cargo fmt, cargo clippy and the compose check"
else
  ensure_rust_components
  run_step "cargo fmt --all -- --check" cargo fmt --all -- --check
  run_step "cargo clippy --all-targets -- -D warnings" cargo clippy --all-targets -- -D warnings
  run_step "scripts/shape.py (no import cycle, long file or long function)" python3 scripts/shape.py
  run_step "docker-compose -f docker-compose.yml config -q" docker-compose -f docker-compose.yml config -q
fi

header "starting a private redis-server"
start_redis
export LIVESALE_TEST_REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/"
export LIVESALE_TEST_REDIS_PORT="$REDIS_PORT"
LIVESALE_TEST_REDIS_SERVER=$(command -v redis-server)
export LIVESALE_TEST_REDIS_SERVER
echo "redis-server (pid $REDIS_PID) on port $REDIS_PORT: LIVESALE_TEST_REDIS_URL=$LIVESALE_TEST_REDIS_URL"

test_cmd=(cargo test "${target_flags[@]+"${target_flags[@]}"}" "${cargo_args[@]+"${cargo_args[@]}"}"
  -- "--test-threads=$threads" "${harness_args[@]+"${harness_args[@]}"}")
run_step "${test_cmd[*]}" "${test_cmd[@]}"

printf '\n==> all steps passed (%d s)\n' "$SECONDS"
