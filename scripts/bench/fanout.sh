#!/usr/bin/env bash
# The live room side by side: the same chat and reaction workload against livesale and
# against a Socket.IO 4.8 server on Node (scripts/bench/socketio/server.js), on this machine,
# in this run. Prints each run's numbers and the ratios, and appends them to
# docs/benchmarks.md.
#
#   scripts/bench/fanout.sh                 2,000 viewers (one load process), then 10,000
#                                           (several load processes and source addresses),
#                                           then a capacity sweep; livesale on the memory
#                                           store and on Redis, and Socket.IO
#   scripts/bench/fanout.sh --quick         only the 2,000-viewer runs (about 4 minutes)
#   scripts/bench/fanout.sh --no-record     do not append to docs/benchmarks.md
#   scripts/bench/fanout.sh --no-redis      skip livesale on Redis
#   scripts/bench/fanout.sh --no-sweep      skip the capacity sweep
#   scripts/bench/fanout.sh --viewers N --processes P
#                                           the large run's size (default 10000 and 2)
#   scripts/bench/fanout.sh --duration S    measured seconds per run (default 30)
#   scripts/bench/fanout.sh --only GLOB     only the runs whose name matches, e.g.
#                                           --only 'ls-mem-10k' or --only 'ls-*'
#
# Environment:
#   LIVESALE_BENCH_SKIP_BUILD=1   use the existing release binaries
#   LIVESALE_BENCH_KEEP_TMP=1     keep every process's log and JSON summary
#
# The server under test runs on CPU 0 and the load processes on CPU 1 (taskset), so the
# server never competes with the load for a core; each is reported with the CPU it used.
# All traffic stays on loopback (127.0.0.1, sources 127.0.0.2…). Every process this script
# starts is stopped when it ends, fails or is interrupted; a watchdog stops them if the
# script itself is killed, and the whole run is limited to one hour.
BENCH_NAME=fanout
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

QUICK=0
RECORD=1
REDIS=1
SWEEP=1
BIG_VIEWERS=10000
BIG_PROCS=2
DURATION=30
WARMUP=5
ONLY='*'
ARGS_TEXT="$*"
while (($# > 0)); do
  case $1 in
    --quick) QUICK=1 ;;
    --no-record) RECORD=0 ;;
    --no-redis) REDIS=0 ;;
    --no-sweep) SWEEP=0 ;;
    --viewers) BIG_VIEWERS=$2; shift ;;
    --processes) BIG_PROCS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --only) ONLY=$2; shift ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ $BIG_VIEWERS =~ ^[1-9][0-9]*$ && $BIG_PROCS =~ ^[1-9][0-9]*$ && $DURATION =~ ^[1-9][0-9]*$ ]] ||
  die "--viewers, --processes and --duration take positive integers"

command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH; install the Rust toolchain (https://rustup.rs)"
ensure_prereqs "node:nodejs" "npm:npm" "taskset:util-linux" "jq:jq" "curl:curl" \
  "redis-server:redis-server" "redis-cli:redis-tools"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 18)) || die "Socket.IO 4.8 needs Node 18 or newer; found $(node --version)"

bench_start

SIO_DIR="$BENCH_ROOT/scripts/bench/socketio"
if [[ ! -d $SIO_DIR/node_modules/socket.io ]]; then
  log "==> npm install (socket.io 4.8) in scripts/bench/socketio"
  if [[ -f $SIO_DIR/package-lock.json ]]; then
    (cd "$SIO_DIR" && npm ci --no-audit --no-fund) || die "npm ci failed"
  else
    (cd "$SIO_DIR" && npm install --no-audit --no-fund) || die "npm install failed"
  fi
fi
SIO_VERSION=$(node -p "require('$SIO_DIR/node_modules/socket.io/package.json').version")
NODE_VERSION=$(node --version)

# Per-connection limits out of the way: the load decides the rates.
LS_FLAGS=(--chat-rate 1000000 --chat-rate-period-s 1 --reaction-rate 1000000)

RESULTS=() # name of every merged summary, in order
BUSY=()    # runs that started while another job was using the CPU

# run_load NAME PROTOCOL URL SERVER_PID SHOW VIEWERS PROCS CHATTERS CHAT_RATE TAPS DURATION WARMUP [OTHER_PID]
# Runs PROCS load processes (each 1/PROCS of the viewers, chatters and rates, from its own
# source address) and merges their summaries into $BENCH_TMP/NAME.json.
run_load() {
  local name=$1 proto=$2 url=$3 spid=$4 show=$5 viewers=$6 procs=$7 chatters=$8 rate=$9
  local taps=${10} duration=${11} warmup=${12}
  local per_v=$((viewers / procs)) per_c=$((chatters / procs))
  local per_rate per_taps connect_at start_at p pids=() files=() limit
  per_rate=$(awk -v r="$rate" -v p="$procs" 'BEGIN { printf "%.4f", r / p }')
  per_taps=$(awk -v r="$taps" -v p="$procs" 'BEGIN { printf "%.4f", r / p }')
  wait_quiet 180 || BUSY+=("$name")
  # Tokens at roughly 1,500/s per process, connections at 2,000/s in all.
  connect_at=$(($(now_ms) + 2000 + per_v * 1000 / 1500))
  start_at=$((connect_at + 3000 + viewers * 1000 / 2000))
  limit=$(((start_at - $(now_ms)) / 1000 + warmup + duration + 60))
  log "==> $name: $viewers viewers in $procs process(es), $rate chat msg/s from $chatters chatters, $taps taps/s, ${duration} s"
  for ((p = 0; p < procs; p++)); do
    local args=(fanout --protocol "$proto" --url "$url" --viewers "$per_v" --chatters "$per_c"
      --chat-rate "$per_rate" --reaction-rate "$per_taps" --duration-s "$duration"
      --warmup-s "$warmup" --source-ips "127.0.0.$((2 + p))" --server-pid "$spid"
      --connect-rate "$(awk -v p="$procs" 'BEGIN { printf "%.0f", 2000 / p }')"
      --connect-at "$connect_at" --start-at "$start_at" --process "$p" --label "$name"
      --json-out "$BENCH_TMP/$name.p$p.json")
    [[ -n $show ]] && args+=(--show "$show")
    launch "$BENCH_TMP/$name.p$p.log" timeout "$limit" taskset -c "$LOAD_CPU" "$LOAD_BIN" "${args[@]}"
    pids+=("$BG_PID")
    files+=("$BENCH_TMP/$name.p$p.json")
  done
  local failed=0
  for p in "${!pids[@]}"; do
    if ! wait "${pids[$p]}"; then
      failed=1
      log "$BENCH_NAME: load process $p of $name failed; its log:"
      tail -n 20 "$BENCH_TMP/$name.p$p.log" >&2 || true
    fi
  done
  ((failed == 0)) || return 1
  "$LOAD_BIN" merge --label "$name" "${files[@]}" >"$BENCH_TMP/$name.merged.txt" || return 1
  sed '$d' "$BENCH_TMP/$name.merged.txt" >&2
  tail -n 1 "$BENCH_TMP/$name.merged.txt" >"$BENCH_TMP/$name.json"
  RESULTS+=("$name")
}

# want NAME: whether --only selects this run.
# shellcheck disable=SC2053 # $ONLY is a glob
want() { [[ $1 == $ONLY ]]; }

# with_livesale NAME STORE(memory|redis) then the run_load arguments from VIEWERS on.
# A run that --only leaves out succeeds without running.
with_livesale() {
  local name=$1 store=$2
  want "$name" || return 0
  shift 2
  local extra=()
  if [[ $store == redis ]]; then
    start_redis "$SERVER_CPU"
    extra=(--redis-url "redis://127.0.0.1:$REDIS_PORT/")
  fi
  start_livesale "$SERVER_CPU" "$name" "${LS_FLAGS[@]}" "${extra[@]+"${extra[@]}"}"
  local made show
  made=$("$LOAD_BIN" setup --url "$LS_URL" --admin-token "$ADMIN_TOKEN") || die "setup failed against $LS_URL"
  show=$(jq -r .show_id <<<"$made")
  local rc=0
  run_load "$name" livesale "$LS_URL" "$LS_PID" "$show" "$@" || rc=1
  stop_all
  return $rc
}

with_socketio() {
  local name=$1
  want "$name" || return 0
  shift
  local port
  port=$(free_port)
  launch "$BENCH_TMP/$name.server.log" taskset -c "$SERVER_CPU" node "$SIO_DIR/server.js" "$port"
  local pid=$BG_PID
  wait_http "http://127.0.0.1:$port/healthz" "$pid" "socket.io server" "$BENCH_TMP/$name.server.log"
  local rc=0
  run_load "$name" socketio "http://127.0.0.1:$port" "$pid" "" "$@" || rc=1
  stop_all
  return $rc
}

# ---- the runs ---------------------------------------------------------------------------------

STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
SMALL=(2000 1 100 20 2000 "$DURATION" "$WARMUP")
with_livesale ls-mem-2k memory "${SMALL[@]}" || log "$BENCH_NAME: ls-mem-2k failed"
with_socketio sio-2k "${SMALL[@]}" || log "$BENCH_NAME: sio-2k failed"
if ((REDIS)); then
  with_livesale ls-redis-2k redis "${SMALL[@]}" || log "$BENCH_NAME: ls-redis-2k failed"
fi

if ((!QUICK)); then
  BIG=("$BIG_VIEWERS" "$BIG_PROCS" $((BIG_VIEWERS / 20)) 20 2000 "$DURATION" "$WARMUP")
  big=$((BIG_VIEWERS / 1000))k
  with_livesale "ls-mem-$big" memory "${BIG[@]}" || log "$BENCH_NAME: ls-mem-$big failed"
  with_socketio "sio-$big" "${BIG[@]}" || log "$BENCH_NAME: sio-$big failed"
  if ((REDIS)); then
    with_livesale "ls-redis-$big" redis "${BIG[@]}" || log "$BENCH_NAME: ls-redis-$big failed"
  fi
fi

# Capacity: 1,000 viewers, the chat rate rising step by step until a run misses (under
# 99.9 % delivered, p99 over 150 ms, or a viewer lost); the best passing run's delivered
# messages/s count.
passes() {
  jq -e '.derived.delivery_ratio >= 0.999 and .derived.latency.p99_us <= 150000 and .lost == 0 and .failed == 0' \
    "$BENCH_TMP/$1.json" >/dev/null 2>&1
}
SWEEP_BEST_LS=""
SWEEP_BEST_SIO=""
if ((SWEEP && !QUICK)); then
  for side in ls sio; do
    best=""
    for rate in 25 50 75 100 150 200 300 400 600 800; do
      name="sweep-$side-$rate"
      args=(1000 1 100 "$rate" 1000 15 3)
      if [[ $side == ls ]]; then
        with_livesale "$name" memory "${args[@]}" || break
      else
        with_socketio "$name" "${args[@]}" || break
      fi
      passes "$name" || break
      best=$name
    done
    if [[ $side == ls ]]; then SWEEP_BEST_LS=$best; else SWEEP_BEST_SIO=$best; fi
  done
fi

# ---- the report -------------------------------------------------------------------------------

row() {
  local mark=""
  [[ " ${BUSY[*]-} " == *" $1 "* ]] && mark=" (busy)"
  jq -r --arg n "$1$mark" '
    def ms: (. / 1000 * 100 | round / 100 | tostring) + " ms";
    def f1: (. * 10 | round / 10 | tostring);
    def f2: (. * 100 | round / 100 | tostring);
    "| \($n) | \(.protocol) | \(.connected)/\(.viewers) | \(.derived.offered_chat_per_s | f1) | \(.derived.offered_taps_per_s | round) | \(.derived.delivery_ratio * 100 | . * 1000 | round / 1000)% | \(.derived.msgs_delivered_per_s | round) | \(.derived.latency.p50_us | ms) | \(.derived.latency.p99_us | ms) | \(.derived.latency.p999_us | ms) | \(.derived.server_kib_per_conn_idle // 0 | f1) | \(.derived.server_cores_window // 0 | f2) | \(.derived.tool_cores_window | f2) | \(.cpus | map("\(.busy_pct | round)% (\(.softirq_pct | round))") | join(" / ")) | \(if (.errors | length) == 0 then "none" else (.errors | to_entries | map("\(.key)=\(.value)") | join(", ")) end) |"
  ' "$BENCH_TMP/$1.json"
}

# ratio A B FIELD-PATH: A / B of a jq expression, two decimals.
ratio() {
  local a b
  a=$(jq -r "$3" "$BENCH_TMP/$1.json")
  b=$(jq -r "$3" "$BENCH_TMP/$2.json")
  awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}

have() { [[ -f $BENCH_TMP/$1.json ]]; }

report() {
  echo "## $STARTED_AT: fan-out, livesale vs Socket.IO"
  echo
  echo "- Command: \`scripts/bench/fanout.sh${ARGS_TEXT:+ $ARGS_TEXT}\`"
  echo "- Machine: $MACHINE$( ((QUIET_BEFORE)) || echo ' (busy: another job was using the CPU)')"
  echo "- livesale: release build of $(cd "$BENCH_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$BENCH_ROOT" && git diff --quiet HEAD -- server Cargo.toml 2>/dev/null || echo ' with uncommitted changes'), \`--no-demo ${LS_FLAGS[*]}\`, memory store unless the name says redis (a private redis-server on the server's CPU)"
  echo "- Peer: Socket.IO $SIO_VERSION on Node $NODE_VERSION (\`scripts/bench/socketio/server.js\`: one room, chat broadcast to all, reactions counted per 250 ms window; no auth, moderation, rate limits or resume log)"
  ((${#BUSY[@]} == 0)) || echo "- Runs marked (busy) started while another job was using the CPU (waited up to 180 s for it): ${BUSY[*]}"
  echo "- Pinning: server on CPU $SERVER_CPU, load processes on CPU $LOAD_CPU; chat latency is send→receive on the shared wall clock, for every chat.message of the measured window"
  echo
  echo "| run | server | viewers | chat msg/s | taps/s | chat delivered | msgs delivered/s | p50 | p99 | p99.9 | server KiB/conn idle | server cores | load cores | CPU0 / CPU1 busy (softirq) | errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  local n
  for n in "${RESULTS[@]}"; do row "$n"; done
  echo
  local pairs=("ls-mem-2k sio-2k")
  ((QUICK)) || pairs+=("ls-mem-$((BIG_VIEWERS / 1000))k sio-$((BIG_VIEWERS / 1000))k")
  local pair a b
  for pair in "${pairs[@]}"; do
    read -r a b <<<"$pair"
    if ! have "$a" || ! have "$b"; then continue; fi
    echo "Ratios $a ÷ $b: delivered msgs/s ×$(ratio "$a" "$b" .derived.msgs_delivered_per_s)," \
      "p99 latency ×$(ratio "$a" "$b" .derived.latency.p99_us)," \
      "memory per idle connection ×$(ratio "$a" "$b" '.derived.server_kib_per_conn_idle // 0')," \
      "server CPU per delivered message ×$(awk -v a="$(jq -r '.derived.server_cores_window / .derived.msgs_delivered_per_s' "$BENCH_TMP/$a.json")" \
        -v b="$(jq -r '.derived.server_cores_window / .derived.msgs_delivered_per_s' "$BENCH_TMP/$b.json")" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }')"
    echo
  done
  if [[ -n $SWEEP_BEST_LS || -n $SWEEP_BEST_SIO ]]; then
    local ls_best sio_best
    ls_best=$([[ -n $SWEEP_BEST_LS ]] && jq -r '.derived.msgs_delivered_per_s | round' "$BENCH_TMP/$SWEEP_BEST_LS.json" || echo 0)
    sio_best=$([[ -n $SWEEP_BEST_SIO ]] && jq -r '.derived.msgs_delivered_per_s | round' "$BENCH_TMP/$SWEEP_BEST_SIO.json" || echo 0)
    echo "Capacity sweep (1,000 viewers, 1,000 taps/s, chat rate rising 25, 50, 75, 100, 150, 200, 300, 400, 600, 800 msg/s; a run passes with ≥ 99.9 % delivered, p99 ≤ 150 ms, nobody lost):" \
      "livesale's best passing run ${SWEEP_BEST_LS:-none} delivered $ls_best msgs/s, Socket.IO's ${SWEEP_BEST_SIO:-none} $sio_best msgs/s," \
      "ratio ×$(awk -v a="$ls_best" -v b="$sio_best" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }')."
    echo
  fi
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
