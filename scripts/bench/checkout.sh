#!/usr/bin/env bash
# A flash drop: 500 units, 10,000 buyers with a prepared cart, every checkout fired within
# about one second, against livesale on Redis (a private redis-server on a free port). Then
# the ceiling of that same Redis running nothing but a minimal stock-decrement Lua script
# (DECR if positive, EVALSHA from redis-benchmark), and the ratio. Also the same drop on the
# memory store, to tell Redis's share from the HTTP path's. Appends to docs/benchmarks.md.
#
#   scripts/bench/checkout.sh                 10,000 buyers, 500 units, 1 s
#   scripts/bench/checkout.sh --buyers N --stock S --window-ms W
#   scripts/bench/checkout.sh --no-memory     skip the memory-store run
#   scripts/bench/checkout.sh --no-record     do not append to docs/benchmarks.md
#   scripts/bench/checkout.sh --server-cpus L livesale's CPUs (a taskset list; default 0-1, the
#                                           node's two cores); 1 shares only the load tool's
#                                           CPU, as the runs before 2026-11-23 did
#
# Environment: LIVESALE_BENCH_SKIP_BUILD=1, LIVESALE_BENCH_KEEP_TMP=1 (see fanout.sh).
#
# Redis runs on CPU 0 in both measurements and the load tool on CPU 1 (the ceiling's
# redis-benchmark runs there too); livesale may use both, like a 2-core node running it
# next to its Redis. Traffic stays on loopback; every process this
# script starts is stopped at the end (a watchdog covers a killed script; 20 minutes at most).
BENCH_NAME=checkout
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUYERS=10000
STOCK=500
WINDOW_MS=1000
RECORD=1
MEMORY=1
SERVER_CPUS=
ARGS_TEXT="$*"
while (($# > 0)); do
  case $1 in
    --buyers) BUYERS=$2; shift ;;
    --stock) STOCK=$2; shift ;;
    --window-ms) WINDOW_MS=$2; shift ;;
    --no-record) RECORD=0 ;;
    --no-memory) MEMORY=0 ;;
    --server-cpus) SERVER_CPUS=$2; shift ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ $BUYERS =~ ^[1-9][0-9]*$ && $STOCK =~ ^[1-9][0-9]*$ && $WINDOW_MS =~ ^[1-9][0-9]*$ ]] ||
  die "--buyers, --stock and --window-ms take positive integers"
[[ -z $SERVER_CPUS || $SERVER_CPUS =~ ^[0-9]+([,-][0-9]+)*$ ]] ||
  die "--server-cpus takes a taskset CPU list such as 1 or 0-1"

command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH; install the Rust toolchain (https://rustup.rs)"
ensure_prereqs "taskset:util-linux" "jq:jq" "curl:curl" "redis-server:redis-server" \
  "redis-cli:redis-tools" "redis-benchmark:redis-tools"
if (($(nproc) >= 2)); then
  REDIS_CPU=0
  APP_CPU=1
  SERVER_CPUS=${SERVER_CPUS:-0-1}
else
  log "$BENCH_NAME: warning: one CPU only; everything shares it"
  REDIS_CPU=0
  APP_CPU=0
fi

start_watchdog 1200
QUIET_BEFORE=1
check_quiet || QUIET_BEFORE=0
MACHINE=$(machine_info)
build_release
STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
BUSY=() # measurements that started while another job was using the CPU

# drop NAME WINDOW_MS [server flags...]: one flash drop against a fresh server; summary in
# NAME.json. A window of 0 fires every checkout at once: the answers then drain at the
# server's capacity, which is what the throughput of such a run measures.
drop() {
  local name=$1 window=$2
  shift 2
  wait_quiet 180 || BUSY+=("$name")
  start_livesale "${SERVER_CPUS:-$APP_CPU}" "$name" "$@"
  local made show product creator other=()
  made=$("$LOAD_BIN" setup --url "$LS_URL" --admin-token "$ADMIN_TOKEN" --stock "$STOCK") ||
    die "setup failed against $LS_URL"
  show=$(jq -r .show_id <<<"$made")
  product=$(jq -r .product_id <<<"$made")
  creator=$(jq -r .creator_token <<<"$made")
  [[ -n ${REDIS_PID:-} ]] && kill -0 "$REDIS_PID" 2>/dev/null && other=(--other-pid "$REDIS_PID")
  log "==> $name: $BUYERS buyers, $STOCK units, checkouts over $window ms"
  timeout 600 taskset -c "$APP_CPU" "$LOAD_BIN" checkout --url "$LS_URL" --show "$show" \
    --product "$product" --creator-token "$creator" --buyers "$BUYERS" \
    --fire-window-ms "$window" --source-ips 127.0.0.2,127.0.0.3 --server-pid "$LS_PID" \
    "${other[@]+"${other[@]}"}" --label "$name" >"$BENCH_TMP/$name.txt" 2>"$BENCH_TMP/$name.log" ||
    { tail -n 20 "$BENCH_TMP/$name.log" >&2; die "the load tool failed in $name"; }
  sed '$d' "$BENCH_TMP/$name.txt" >&2
  tail -n 1 "$BENCH_TMP/$name.txt" >"$BENCH_TMP/$name.json"
  stop_pid "$LS_PID"
}

# ---- livesale on Redis, then the raw script on the same Redis ---------------------------------

start_redis "$REDIS_CPU"
drop ls-redis "$WINDOW_MS" --redis-url "redis://127.0.0.1:$REDIS_PORT/"
drop ls-redis-at-once 0 --redis-url "redis://127.0.0.1:$REDIS_PORT/"

log "==> the ceiling: a minimal DECR-if-positive script on the same Redis (redis-benchmark on CPU $APP_CPU)"
SCRIPT="local n = tonumber(redis.call('GET', KEYS[1]) or '0') if n > 0 then return redis.call('DECR', KEYS[1]) end return -1"
SHA=$(redis-cli -p "$REDIS_PORT" SCRIPT LOAD "$SCRIPT")
wait_quiet 180 || BUSY+=(ceiling)
[[ $SHA =~ ^[0-9a-f]{40}$ ]] || die "SCRIPT LOAD answered '$SHA'"
ceiling() { # ceiling CLIENTS PIPELINE -> requests/s
  redis-cli -p "$REDIS_PORT" SET bench:ceiling:stock 1000000000 >/dev/null
  timeout 120 taskset -c "$APP_CPU" redis-benchmark -p "$REDIS_PORT" -c "$1" -P "$2" -n 1000000 --csv \
    EVALSHA "$SHA" 1 bench:ceiling:stock 2>/dev/null | awk -F'","' 'NR == 2 { print $2 + 0 }'
}
CEIL_50=$(ceiling 50 1)
CEIL_PIPE=$(ceiling 50 16)
redis-cli -p "$REDIS_PORT" DEL bench:ceiling:stock >/dev/null
log "    50 clients: $CEIL_50 scripts/s; 50 clients pipelining 16: $CEIL_PIPE scripts/s"
stop_all
REDIS_PID=""

if ((MEMORY)); then
  drop ls-memory "$WINDOW_MS"
  drop ls-memory-at-once 0
fi

# ---- the report -------------------------------------------------------------------------------

row() {
  local n=$1 mark=""
  [[ " ${BUSY[*]-} " == *" $n "* ]] && mark=" (busy)"
  echo "| $n$mark | $(j "$n" .fire_window_ms) ms | $(j "$n" .fired) | $(j "$n" .orders) | $(j "$n" .sold_out) | $(j "$n" '.other | to_entries | map("\(.key)=\(.value)") | join(", ") | if . == "" then "none" else . end') | $(j "$n" '.orders_listed // "?"') / $(j "$n" '.paid_listed // "?"') / $(j "$n" '.stock_left // "?"') | $(j "$n" '.throughput_per_s | round') | $(ms "$(j "$n" .latency_all.p50_us)") | $(ms "$(j "$n" .latency_all.p99_us)") | $(ms "$(j "$n" .latency_all.max_us)") | $(j "$n" '.server_cores_burst // 0 | . * 100 | round / 100') | $(j "$n" '.other_cores_burst // "-" | if type == "number" then (. * 100 | round / 100) else . end') | $(j "$n" '.tool_cores_burst | . * 100 | round / 100') | $(j "$n" '.cpus | map("\(.busy_pct | round)% (\(.softirq_pct | round))") | join(" / ")') | $(j "$n" '.errors | to_entries | map("\(.key)=\(.value)") | join(", ") | if . == "" then "none" else . end') |"
}

report() {
  local thr ratio ratio_pipe
  thr=$(j ls-redis-at-once .throughput_per_s)
  ratio=$(quotient "$thr" "$CEIL_50")
  ratio_pipe=$(quotient "$thr" "$CEIL_PIPE")
  echo "## $STARTED_AT: flash-drop checkout, livesale on Redis vs the raw stock script"
  echo
  echo "- Command: \`scripts/bench/checkout.sh${ARGS_TEXT:+ $ARGS_TEXT}\`"
  echo "- Machine: $MACHINE$( ((QUIET_BEFORE)) || echo ' (busy: another job was using the CPU)')"
  echo "- livesale: $(build_text), \`--no-demo\`, test payments (approve); $(redis-server --version | cut -d' ' -f1-3) on CPU $REDIS_CPU; livesale on CPU ${SERVER_CPUS:-$APP_CPU}, the load tool on CPU $APP_CPU"
  ((${#BUSY[@]} == 0)) || echo "- Marked (busy): started while another job was using the CPU (waited up to 180 s for it): ${BUSY[*]}"
  echo "- Workload: $STOCK units, one pinned product; $BUYERS buyers each with a token, the product in the cart and a keep-alive connection, prepared beforehand; checkouts spread evenly over $WINDOW_MS ms; latency from each checkout's scheduled send to its full answer"
  echo
  echo "| run | fired over | checkouts | orders (201) | sold_out (409) | other answers | listed orders / paid / stock left | checkouts/s | p50 | p99 | max | server cores | Redis cores | load cores | CPU0 / CPU1 busy (softirq) | errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  local n
  for n in ls-redis ls-redis-at-once ls-memory ls-memory-at-once; do
    [[ -f $BENCH_TMP/$n.json ]] && row "$n"
  done
  echo
  echo "Raw script ceiling on the same Redis (\`redis-benchmark -c 50 -n 1000000 EVALSHA <DECR-if-positive> 1 key\`)$([[ " ${BUSY[*]-} " == *" ceiling "* ]] && echo ' (busy)'): $CEIL_50 scripts/s; pipelining 16: $CEIL_PIPE scripts/s."
  echo "livesale on Redis, every checkout at once (its capacity): $(printf '%.0f' "$thr") checkouts/s = ×$ratio of the ceiling (×$ratio_pipe of the pipelined one). Over $WINDOW_MS ms the throughput is bounded by the arrival rate ($BUYERS / $WINDOW_MS ms)."
  echo
}

REPORT=$(report)
printf '\n%s\n' "$REPORT"
if ((RECORD)); then
  doc="$BENCH_ROOT/docs/benchmarks.md"
  if [[ ! -f $doc ]]; then
    # shellcheck disable=SC2016 # backquotes are Markdown
    printf '# Benchmarks\n\nMeasured numbers only: each section is one run of a script in `scripts/bench/`, with its command, machine, and the peer it was compared with in the same run.\n\n' >"$doc"
  fi
  printf '%s\n\n' "$REPORT" >>"$doc"
  log "$BENCH_NAME: appended to docs/benchmarks.md"
fi
