# shellcheck shell=bash
# Shared by scripts/bench/*.sh: prerequisites, the processes a benchmark starts (and stops,
# whatever happens), free ports, the release build, and the machine description.
# Source it; it sets `set -euo pipefail` and the traps.
set -euo pipefail

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_NAME=${BENCH_NAME:-$(basename "$0" .sh)}
LOAD_BIN="$BENCH_ROOT/target/release/livesale-load"
SERVER_BIN="$BENCH_ROOT/target/release/livesale"

log() { printf '%s\n' "$*" >&2; }
die() { log "$BENCH_NAME: error: $*"; exit 1; }
now_ms() { date +%s%3N; }
# The calling script's header comment (up to its BENCH_NAME= line) as its --help.
usage() { sed -n '2,/^BENCH_NAME=/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# ---- prerequisites ----------------------------------------------------------------------------

# ensure_prereqs "command:package" ...: installs what is missing with apt when run as root,
# otherwise prints the command to run and fails.
ensure_prereqs() {
  local entry check pkg missing=()
  for entry in "$@"; do
    check=${entry%%:*}
    pkg=${entry#*:}
    command -v "$check" >/dev/null 2>&1 && continue
    [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    log "$BENCH_NAME: missing prerequisites: ${missing[*]}"
    log "Install them with:"
    log "  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
  log "==> installing prerequisites: ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  for entry in "$@"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || die "${entry%%:*} still missing after installing ${entry#*:}"
  done
}

# ---- processes --------------------------------------------------------------------------------

STARTED_PIDS=()
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/livesale-bench.XXXXXX")
WATCHDOG_PID=""

# Remembers a background process so it is stopped at exit.
track() { STARTED_PIDS+=("$1"); }

# Stops one process we started: TERM, a moment, then KILL.
stop_pid() {
  local pid=$1
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_all() {
  local pid
  for pid in "${STARTED_PIDS[@]+"${STARTED_PIDS[@]}"}"; do
    stop_pid "$pid"
  done
  STARTED_PIDS=()
}

on_exit() {
  local rc=$?
  stop_all
  if [[ -n $WATCHDOG_PID ]]; then
    kill "$WATCHDOG_PID" 2>/dev/null || true
    wait "$WATCHDOG_PID" 2>/dev/null || true
  fi
  if [[ ${LIVESALE_BENCH_KEEP_TMP:-0} == 1 ]]; then
    log "$BENCH_NAME: logs and summaries kept in $BENCH_TMP"
  else
    rm -rf "$BENCH_TMP"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# A watchdog: if this script dies without running its traps (SIGKILL), or runs past
# `max_s`, the processes it started are stopped. Processes register in $BENCH_TMP/pids.
start_watchdog() {
  local max_s=$1 script_pid=$$ tmp=$BENCH_TMP
  (
    trap - EXIT INT TERM HUP
    waited=0
    while kill -0 "$script_pid" 2>/dev/null && ((waited < max_s)); do
      sleep 1
      waited=$((waited + 1))
    done
    if kill -0 "$script_pid" 2>/dev/null; then
      echo "$BENCH_NAME: over the time limit of ${max_s} s; stopping" >&2
      kill "$script_pid" 2>/dev/null || true
      sleep 15
    fi
    if [[ -f $tmp/pids ]]; then
      while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$tmp/pids"
      sleep 1
      while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$tmp/pids"
    fi
    rm -rf "$tmp"
  ) </dev/null >/dev/null 2>&1 &
  WATCHDOG_PID=$!
}

# launch LOG CMD...: starts CMD in the background, output in LOG; sets BG_PID.
launch() {
  local logfile=$1
  shift
  "$@" </dev/null >"$logfile" 2>&1 &
  BG_PID=$!
  track "$BG_PID"
  echo "$BG_PID" >>"$BENCH_TMP/pids"
}

# ---- ports and readiness ----------------------------------------------------------------------

# A port of 127.0.0.1 that nothing listens on right now.
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "found no free port"
}

# wait_http URL PID NAME LOG: until URL answers 200, the process dies, or 30 s pass.
wait_http() {
  local url=$1 pid=$2 name=$3 logfile=$4
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$BENCH_NAME: $name exited at start; its log:"
      tail -n 30 "$logfile" >&2 || true
      exit 1
    fi
    if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "$BENCH_NAME: $name did not answer $url within 30 s; its log:"
  tail -n 30 "$logfile" >&2 || true
  exit 1
}

# ---- redis ------------------------------------------------------------------------------------

# start_redis CPUSET: a private, throw-away redis-server; sets REDIS_PORT and REDIS_PID.
start_redis() {
  local cpus=$1 dir
  dir=$(mktemp -d "$BENCH_TMP/redis.XXXXXX")
  for _ in $(seq 1 10); do
    REDIS_PORT=$(free_port)
    launch "$dir/redis.log" taskset -c "$cpus" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
      --save "" --appendonly no --daemonize no --dir "$dir" --maxclients 20000
    REDIS_PID=$BG_PID
    for _ in $(seq 1 100); do
      kill -0 "$REDIS_PID" 2>/dev/null || break
      if [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null || true) == PONG ]]; then
        if redis-cli -p "$REDIS_PORT" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:$REDIS_PID"; then
          return 0
        fi
      fi
      sleep 0.1
    done
    stop_pid "$REDIS_PID"
  done
  die "could not start redis-server"
}

# ---- livesale ---------------------------------------------------------------------------------

build_release() {
  if [[ ${LIVESALE_BENCH_SKIP_BUILD:-0} == 1 && -x $SERVER_BIN && -x $LOAD_BIN ]]; then
    return 0
  fi
  log "==> cargo build --release --bins"
  (cd "$BENCH_ROOT" && cargo build --release --bins) || die "the release build failed"
}

# bench_start: the common start of a benchmark: server on CPU 0 and load on CPU 1 (sets
# SERVER_CPU, LOAD_CPU), the watchdog, whether the machine was quiet (QUIET_BEFORE), the
# machine's description (MACHINE), and the release build.
bench_start() {
  if (($(nproc) >= 2)); then
    SERVER_CPU=0
    LOAD_CPU=1
  else
    log "$BENCH_NAME: warning: one CPU only; server and load share it"
    SERVER_CPU=0
    LOAD_CPU=0
  fi
  start_watchdog 3600
  QUIET_BEFORE=1
  check_quiet || QUIET_BEFORE=0
  MACHINE=$(machine_info)
  build_release
}

ADMIN_TOKEN="bench-admin-$RANDOM$RANDOM"

# start_livesale CPUSET NAME [extra flags...]: a fresh release server on a free port;
# sets LS_PORT, LS_PID, LS_URL. The load tools are thousands of people on a few loopback
# addresses, so the per-address limits are off (the connection cap is lifted to the total).
start_livesale() {
  local cpus=$1 name=$2
  shift 2
  LS_PORT=$(free_port)
  LS_URL="http://127.0.0.1:$LS_PORT"
  launch "$BENCH_TMP/$name.server.log" taskset -c "$cpus" "$SERVER_BIN" --bind "127.0.0.1:$LS_PORT" \
    --no-demo --admin-token "$ADMIN_TOKEN" --log warn --ws-max-per-address 0 --join-rate 0 --deal-buyers-per-address 0 \
    --max-connections-per-ip 100000000 "$@"
  LS_PID=$BG_PID
  wait_http "$LS_URL/healthz" "$LS_PID" "livesale ($name)" "$BENCH_TMP/$name.server.log"
}

# ---- the report -------------------------------------------------------------------------------

# A field of a run's result: j RUN JQ-FILTER (from $BENCH_TMP/RUN.json).
j() { jq -r "$2" "$BENCH_TMP/$1.json"; }
# Microseconds as "1.2 ms".
ms() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1000 }'; }
# A / B to three decimals, "n/a" when B is zero: quotient A B.
quotient() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.3f", a / b }'; }
# What was measured: "release build of <commit>[ with uncommitted changes]".
build_text() {
  printf 'release build of %s%s' \
    "$(cd "$BENCH_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "$(cd "$BENCH_ROOT" && git diff --quiet HEAD -- server Cargo.toml 2>/dev/null || echo ' with uncommitted changes')"
}

# ---- the machine ------------------------------------------------------------------------------

machine_info() {
  local cpu mem
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  mem=$(free -g | awk '/^Mem:/ {print $2 " GiB total, " $7 " GiB available"}')
  printf 'nproc %s; CPU %s; memory %s; kernel %s; load average before the run: %s' \
    "$(nproc)" "$cpu" "$mem" "$(uname -r)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# Machine-wide CPU use over one second, in percent of one CPU (from /proc/stat).
machine_busy_pct() {
  local a b
  a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
  sleep 1
  b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
  awk -v a="$a" -v b="$b" -v n="$(nproc)" 'BEGIN {
    split(a, x, " "); split(b, y, " ");
    t = y[2] - x[2]; if (t <= 0) { print 0; exit }
    printf "%.0f", (y[1] - x[1]) * 100 * n / t }'
}

# Warns (and returns 1) when something else is using the CPU now: results would be skewed.
check_quiet() {
  local busy
  busy=$(machine_busy_pct)
  if ((busy > 15)); then
    log "$BENCH_NAME: warning: ${busy}% of a CPU is in use by another job; it will skew the numbers"
    return 1
  fi
  return 0
}

# Waits (at most MAX seconds) until the machine has used less than 15 % of one CPU for five
# seconds in a row (between runs nothing of ours runs, so that is someone else, e.g. a build),
# so a run does not start while another job is running. Returns 1 (after a warning) if the
# machine stayed busy.
wait_quiet() {
  local max=${1:-120} quiet=0 waited=0 busy=0
  while ((waited < max)); do
    busy=$(machine_busy_pct)
    if ((busy < 15)); then
      quiet=$((quiet + 1))
      ((quiet >= 5)) && return 0
    else
      quiet=0
    fi
    waited=$((waited + 1))
  done
  log "$BENCH_NAME: warning: the machine stayed busy for ${max} s (${busy}% of a CPU); measuring anyway"
  ps -eo pid,pcpu,etime,comm --sort=-pcpu | head -4 >&2
  return 1
}
