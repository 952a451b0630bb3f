#!/usr/bin/env bash
# The auction storm: 1,000 bidders, each with a token and a keep-alive connection, send 5,000
# bids (plain, every fifth a proxy maximum) spread over the last 2 s of a soft-close lot,
# against livesale on Redis (a private redis-server on a free port): bid acknowledgement
# latency p50/p99 from each bid's scheduled send to its answer, and from the creator's log
# afterwards, whether any accepted bid was lost or reordered. Then the peer: the same bid Lua
# script on the same Redis with no server (EVALSHA through the store from 50 connections),
# and the ratio. Appends to docs/benchmarks.md.
#
#   scripts/bench/auction.sh                  1,000 bidders, 5,000 bids, 2 s
#   scripts/bench/auction.sh --bidders N --bids B --window-ms W
#   scripts/bench/auction.sh --no-record      do not append to docs/benchmarks.md
#
# Environment: LIVESALE_BENCH_SKIP_BUILD=1, LIVESALE_BENCH_KEEP_TMP=1 (see fanout.sh).
#
# Redis runs on CPU 0, the load tool on CPU 1, livesale on both (a 2-core node next to its
# Redis). Traffic stays on loopback; every process this script starts is stopped at the end.
BENCH_NAME=auction
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIDDERS=1000
BIDS=5000
WINDOW_MS=2000
RECORD=1
ARGS_TEXT="$*"
while (($# > 0)); do
  case $1 in
    --bidders) BIDDERS=$2; shift ;;
    --bids) BIDS=$2; shift ;;
    --window-ms) WINDOW_MS=$2; shift ;;
    --no-record) RECORD=0 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ $BIDDERS =~ ^[1-9][0-9]*$ && $BIDS =~ ^[1-9][0-9]*$ && $WINDOW_MS =~ ^[1-9][0-9]*$ ]] ||
  die "--bidders, --bids and --window-ms take positive integers"

command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH; install the Rust toolchain (https://rustup.rs)"
ensure_prereqs "taskset:util-linux" "jq:jq" "curl:curl" "redis-server:redis-server" "redis-cli:redis-tools"
if (($(nproc) >= 2)); then
  REDIS_CPU=0
  APP_CPU=1
  SERVER_CPUS=0-1
else
  log "$BENCH_NAME: warning: one CPU only; everything shares it"
  REDIS_CPU=0
  APP_CPU=0
  SERVER_CPUS=0
fi

start_watchdog 1200
QUIET_BEFORE=1
check_quiet || QUIET_BEFORE=0
MACHINE=$(machine_info)
build_release
STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
BUSY=()

start_redis "$REDIS_CPU"
wait_quiet 60 || BUSY+=(storm)
start_livesale "$SERVER_CPUS" ls-redis --redis-url "redis://127.0.0.1:$REDIS_PORT/"
log "==> storm: $BIDDERS bidders, $BIDS bids over the last $WINDOW_MS ms of a soft-close lot"
timeout 600 taskset -c "$APP_CPU" "$LOAD_BIN" auction --url "$LS_URL" --admin-token "$ADMIN_TOKEN" \
  --bidders "$BIDDERS" --bids "$BIDS" --window-ms "$WINDOW_MS" --source-ips 127.0.0.2,127.0.0.3 \
  --server-pid "$LS_PID" --other-pid "$REDIS_PID" --label ls-redis \
  >"$BENCH_TMP/storm.txt" 2>"$BENCH_TMP/storm.log" ||
  { tail -n 20 "$BENCH_TMP/storm.log" >&2; die "the load tool failed in the storm"; }
tail -n 1 "$BENCH_TMP/storm.txt" >"$BENCH_TMP/storm.json"
stop_pid "$LS_PID"

log "==> the ceiling: the bid script through the store on the same Redis, 50 connections (CPU $APP_CPU)"
wait_quiet 30 || BUSY+=(ceiling)
timeout 600 taskset -c "$APP_CPU" "$LOAD_BIN" auction-ceiling --redis-url "redis://127.0.0.1:$REDIS_PORT/" \
  --connections 50 --bids 200000 >"$BENCH_TMP/ceiling.txt" 2>"$BENCH_TMP/ceiling.log" ||
  { tail -n 20 "$BENCH_TMP/ceiling.log" >&2; die "the load tool failed in the ceiling"; }
tail -n 1 "$BENCH_TMP/ceiling.txt" >"$BENCH_TMP/ceiling.json"
stop_all
REDIS_PID=""

report() {
  local thr ceil ratio
  thr=$(j storm .throughput_per_s)
  ceil=$(j ceiling .scripts_per_s)
  ratio=$(quotient "$thr" "$ceil")
  echo "## $STARTED_AT: auction storm, bid acknowledgement on Redis vs the raw bid script"
  echo
  echo "- Command: \`scripts/bench/auction.sh${ARGS_TEXT:+ $ARGS_TEXT}\`"
  echo "- Machine: $MACHINE$( ((QUIET_BEFORE)) || echo ' (busy: another job was using the CPU)')"
  echo "- livesale: $(build_text), \`--no-demo\`, test payments (approve); $(redis-server --version | cut -d' ' -f1-3) on CPU $REDIS_CPU; livesale on CPU $SERVER_CPUS, the load tool on CPU $APP_CPU"
  ((${#BUSY[@]} == 0)) || echo "- Marked (busy): started while another job was using the CPU: ${BUSY[*]}"
  echo "- Workload: one soft-close lot (10 s, extend 5 s, 1-cent increment); $BIDDERS bidders with a token and a keep-alive connection each; $BIDS bids over HTTP (every fifth a \`max_amount\`) spread evenly over the last $WINDOW_MS ms before its first end; latency from each bid's scheduled send to its answer"
  echo
  echo "| run | bids | answers | bids/s | p50 | p99 | max | server cores | Redis cores | log entries / accepted | lost | reordered | end moved | errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  echo "| storm | $(j storm .fired) | $(j storm '.answers | to_entries | map("\(.key)=\(.value)") | join(", ")') | $(j storm '.throughput_per_s | round') | $(ms "$(j storm .latency.p50_us)") | $(ms "$(j storm .latency.p99_us)") | $(ms "$(j storm .latency.max_us)") | $(j storm '.server_cores_burst // 0 | . * 100 | round / 100') | $(j storm '.other_cores_burst // 0 | . * 100 | round / 100') | $(j storm .log_entries) / $(j storm .log_accepted) | $(j storm .lost) | $(j storm .reordered) | $(j storm .ends_moved_s) s | $(j storm '.errors | to_entries | map("\(.key)=\(.value)") | join(", ") | if . == "" then "none" else . end') |"
  echo
  echo "Raw bid script on the same Redis (\`livesale-load auction-ceiling\`: the store's EVALSHA, 50 connections, $(j ceiling .bids) bids on one lot)$([[ " ${BUSY[*]-} " == *" ceiling "* ]] && echo ' (busy)'): $(printf '%.0f' "$ceil") scripts/s, p50 $(ms "$(j ceiling .latency.p50_us)"), p99 $(ms "$(j ceiling .latency.p99_us)")."
  echo "The storm's arrival rate ($(printf '%.0f' "$thr") bids/s) is ×$ratio of that ceiling."
  echo
}

REPORT=$(report)
printf '\n%s\n' "$REPORT"
if ((RECORD)); then
  printf '%s\n\n' "$REPORT" >>"$BENCH_ROOT/docs/benchmarks.md"
  log "$BENCH_NAME: appended to docs/benchmarks.md"
fi
