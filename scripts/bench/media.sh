#!/usr/bin/env bash
# Media: how many WHEP viewers one node serves from one 1.5 Mbit/s program feed, with
# in-process webrtc-rs peers as the load (`livesale-load media`): one camera publishes over
# WHIP, N viewers watch over WHEP, every packet is counted end to end and timed. Then a run
# where a quarter of the viewers stop reading while the server's memory is sampled. Prints
# each run's numbers and appends them to docs/benchmarks.md.
#
#   scripts/bench/media.sh                  viewer steps 100, 200, 300, 400, 500, 600 (until a
#                                           step loses 1 % or more), then the stall run
#   scripts/bench/media.sh --quick          steps 100 and 300, shorter phases (about 4 minutes)
#   scripts/bench/media.sh --no-record      do not append to docs/benchmarks.md
#   scripts/bench/media.sh --steps "100 300 500"
#                                           the viewer counts to try, in order
#   scripts/bench/media.sh --stall-viewers N
#                                           viewers of the stall run (default 300)
#   scripts/bench/media.sh --duration S     measured seconds per step (default 20)
#   scripts/bench/media.sh --no-stall       skip the stall run
#
# Environment:
#   LIVESALE_BENCH_SKIP_BUILD=1   use the existing release binaries
#   LIVESALE_BENCH_KEEP_TMP=1     keep every process's log and JSON summary
#
# The server runs on CPU 0 and the load on CPU 1 (taskset); each is reported with the CPU it
# used, the load tool's own per-packet cost included, so a result limited by the tool shows
# it. Each run gets a fresh server (memory store, loopback only). Every process this script
# starts is stopped when it ends, fails or is interrupted; a watchdog stops them if the
# script itself is killed, and the whole run is limited to one hour.
BENCH_NAME=media
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

QUICK=0
RECORD=1
STALL=1
STEPS="100 200 300 400 500 600"
STALL_VIEWERS=300
DURATION=20
WARMUP=5
STALL_S=30
ARGS_TEXT="$*"
while (($# > 0)); do
  case $1 in
    --quick) QUICK=1 ;;
    --no-record) RECORD=0 ;;
    --no-stall) STALL=0 ;;
    --steps) STEPS=$2; shift ;;
    --stall-viewers) STALL_VIEWERS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
if ((QUICK)); then
  [[ $ARGS_TEXT == *--steps* ]] || STEPS="100 300"
  DURATION=10
  STALL_S=15
fi
for n in $STEPS $STALL_VIEWERS $DURATION; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "--steps, --stall-viewers and --duration take positive integers"
done

command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH; install the Rust toolchain (https://rustup.rs)"
ensure_prereqs "taskset:util-linux" "jq:jq" "curl:curl"

bench_start

# Capacity is what is measured: the per-node viewer cap must not be what stops it.
LS_FLAGS=(--max-viewers-per-node 100000)

RESULTS=() # every run's name, in order
BUSY=()    # runs that started while another job was using the CPU

# run_media NAME VIEWERS DURATION STALL_FRACTION STALL_S: a fresh server, one load process.
run_media() {
  local name=$1 viewers=$2 duration=$3 fraction=$4 stall_s=$5
  wait_quiet 180 || BUSY+=("$name")
  start_livesale "$SERVER_CPU" "$name" "${LS_FLAGS[@]}"
  log "==> $name: $viewers viewers, ${duration} s$( [[ $fraction != 0 ]] && echo ", then $fraction of them stop reading for ${stall_s} s")"
  local limit=$((viewers / 5 + WARMUP + duration + stall_s + 120)) rc=0
  launch "$BENCH_TMP/$name.load.log" timeout "$limit" taskset -c "$LOAD_CPU" "$LOAD_BIN" media \
    --url "$LS_URL" --admin-token "$ADMIN_TOKEN" --viewers "$viewers" --duration-s "$duration" \
    --warmup-s "$WARMUP" --stall-fraction "$fraction" --stall-s "$stall_s" \
    --server-pid "$LS_PID" --label "$name" --json-out "$BENCH_TMP/$name.json"
  if ! wait "$BG_PID"; then
    rc=1
    log "$BENCH_NAME: the load of $name failed; its log:"
    tail -n 20 "$BENCH_TMP/$name.load.log" >&2 || true
  else
    sed '$d' "$BENCH_TMP/$name.load.log" | grep -v '^\[media\]' >&2 || true
    RESULTS+=("$name")
  fi
  stop_all
  return $rc
}

# A step passes with every viewer connected and under 1 % of the packets lost.
passes() {
  jq -e '.derived.full.loss_pct < 1 and .failed == 0 and .lost == 0' "$BENCH_TMP/$1.json" >/dev/null 2>&1
}

STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
BEST=""
for n in $STEPS; do
  run_media "step-$n" "$n" "$DURATION" 0 0 || break
  if ! passes "step-$n" && [[ " ${BUSY[*]-} " == *" step-$n "* ]]; then
    # Another job was using the CPU: once more, so a shared machine does not end the sweep.
    log "$BENCH_NAME: step-$n missed while the machine was busy; running it again"
    RESULTS=("${RESULTS[@]/step-$n/step-$n-busy}")
    mv "$BENCH_TMP/step-$n.json" "$BENCH_TMP/step-$n-busy.json"
    BUSY+=("step-$n-busy")
    run_media "step-$n" "$n" "$DURATION" 0 0 || break
  fi
  passes "step-$n" || break
  BEST="step-$n"
done
STALL_RUN=""
if ((STALL)); then
  if run_media "stall-$STALL_VIEWERS" "$STALL_VIEWERS" "$DURATION" 0.25 "$STALL_S"; then
    STALL_RUN="stall-$STALL_VIEWERS"
  fi
fi

# ---- the report -------------------------------------------------------------------------------

row() {
  local mark=""
  [[ " ${BUSY[*]-} " == *" $1 "* ]] && mark=" (busy)"
  jq -r --arg n "$1$mark" '
    def f1: if . == null then "?" else (. * 10 | round / 10 | tostring) end;
    def f2: if . == null then "?" else (. * 100 | round / 100 | tostring) end;
    def f3: if . == null then "?" else (. * 1000 | round / 1000 | tostring) end;
    def ms: (. / 1000 * 10 | round / 10 | tostring) + " ms";
    def drops: if (. | length) == 0 then "none" else (to_entries | map("\(.key)=\(.value)") | join(", ")) end;
    .derived as $d |
    "| \($n) | \(.connected[0] + .connected[1])/\(.viewers) | \($d.full.loss_pct | f3)% | \($d.latency.p50_us | ms) / \($d.latency.p99_us | ms) | \($d.full.delivered_mbit_per_s | round) | \($d.full.forwarded_per_s | round) | \($d.full.server_cores | f2) | \($d.full.server_us_per_forwarded | f2) | \($d.full.tool_cores | f2) | \($d.full.tool_us_per_delivered | f2) | \($d.rss_mib[0] | f1) → \($d.rss_mib[1] | f1) | \($d.server_kib_per_viewer | round) | \($d.full.cpus | map("\(.busy_pct | round)% (\(.softirq_pct | round))") | join(" / ")) | \($d.full.drops | drops) | \(if (.errors | length) == 0 then "none" else (.errors | to_entries | map("\(.key)=\(.value)") | join(", ")) end) |"
  ' "$BENCH_TMP/$1.json"
}

stall_report() {
  local f=$BENCH_TMP/$1.json
  jq -r '
    def f1: if . == null then "?" else (. * 10 | round / 10 | tostring) end;
    def f2: if . == null then "?" else (. * 100 | round / 100 | tostring) end;
    def f3: if . == null then "?" else (. * 1000 | round / 1000 | tostring) end;
    .derived as $d |
    "Stall run \(.label): \(.connected[0] + .connected[1]) viewers connected, \(.connected[1]) of them stop reading their tracks after the \(.full_s | round) s full phase; the stall phase lasts \(.stall_s | round) s.\n",
    "- Loss: full phase (everyone reading) \($d.full.loss_pct | f3)%; stall phase, the viewers still reading \($d.stall.loss_pct | f3)%; the stalling viewers while they still read \($d.stalled_loss_before_pct | f3)%. RTP sequence gaps seen by readers: \(.rtp_gaps).",
    "- Server CPU: \($d.full.server_cores | f2) cores, \($d.full.server_us_per_forwarded | f2) µs per forwarded packet (full); \($d.stall.server_cores | f2) cores, \($d.stall.server_us_per_forwarded | f2) µs per forwarded packet (stall; its counter still counts the packets written to the stalled viewers, whose peers keep receiving and discard them). Forwarded by its counter: \($d.full.forwarded_per_s | round)/s and \($d.stall.forwarded_per_s | round)/s; read by the viewers: \($d.full.delivered_per_s | round)/s and \($d.stall.delivered_per_s | round)/s.",
    "- Server RSS (MiB): camera only \($d.rss_mib[0] | f1), all connected \($d.rss_mib[1] | f1), end of the full phase \($d.rss_mib[2] | f1), end of the stall \($d.rss_mib[3] | f1), after the viewers left (\(.after.server_viewers) of their sessions still open) \($d.rss_mib[4] | f1). Slope: \($d.full.rss_slope_kib_per_min | f1) KiB/min over the full phase, \($d.stall.rss_slope_kib_per_min | f1) KiB/min over the stall.",
    "- RSS during the stall phase, every 5 s (s since the run started: MiB): " +
      ((.at_stall_start.at_s // 0) as $a | (.at_stall_end.at_s // 0) as $b
        | [.server.rss_series[] | select(.[0] >= $a and .[0] <= $b)]
        | [to_entries[] | select(.key % 5 == 0) | .value]
        | map("\(.[0] | round): \(.[1] / 1024 | f1)") | join(", ")) + ".",
    "- Load tool: \($d.full.tool_cores | f2) cores (full), \($d.stall.tool_cores | f2) cores (stall); drops by the server during the stall: \(if ($d.stall.drops | length) == 0 then "none" else ($d.stall.drops | to_entries | map("\(.key)=\(.value)") | join(", ")) end)."
  ' "$f"
}

report() {
  echo "## $STARTED_AT: media, viewers of one 1.5 Mbit/s feed"
  echo
  echo "- Command: \`scripts/bench/media.sh${ARGS_TEXT:+ $ARGS_TEXT}\`"
  echo "- Machine: $MACHINE$( ((QUIET_BEFORE)) || echo ' (busy: another job was using the CPU)')"
  echo "- livesale: release build of $(cd "$BENCH_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$BENCH_ROOT" && git diff --quiet HEAD -- server Cargo.toml 2>/dev/null || echo ' with uncommitted changes'), \`--no-demo ${LS_FLAGS[*]}\`, memory store, a fresh server per run"
  echo "- Load: \`livesale-load media\`: one webrtc-rs camera over WHIP (VP8-shaped video, 1500 kbit/s averaged, 30 fps, ≤ 1200-byte payloads, a keyframe 5× a delta frame every 2 s and on PLI; Opus-shaped audio 64 kbit/s in 20 ms packets), N webrtc-rs viewers over WHEP without interceptors; loss counted end to end against what the camera sent in the phase"
  echo "- Peer: none (see the findings)"
  ((${#BUSY[@]} == 0)) || echo "- Runs marked (busy) started while another job was using the CPU (waited up to 180 s for it): ${BUSY[*]}"
  echo "- Pinning: server on CPU $SERVER_CPU, the load process (camera and viewers) on CPU $LOAD_CPU; latency is the camera's send to a viewer's read, on the shared clock"
  echo
  echo "| run | viewers | loss | latency p50 / p99 | delivered Mbit/s | forwarded pkts/s | server cores | server µs/forwarded pkt | load cores | load µs/pkt read | server RSS MiB camera only → connected | server KiB/viewer | CPU0 / CPU1 busy (softirq) | server drops | errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  local n
  for n in "${RESULTS[@]}"; do row "$n"; done
  echo
  if [[ -n $BEST ]]; then
    echo "Most viewers with under 1 % loss among the steps ($STEPS): $(jq -r '.connected[0] + .connected[1]' "$BENCH_TMP/$BEST.json") ($BEST)."
  else
    echo "No step had under 1 % loss."
  fi
  echo
  if [[ -n $STALL_RUN ]]; then
    stall_report "$STALL_RUN"
    echo
  fi
}

REPORT=$(report)
printf '\n%s\n' "$REPORT"
if ((RECORD)); then
  doc="$BENCH_ROOT/docs/benchmarks.md"
  printf '%s\n\n' "$REPORT" >>"$doc"
  log "$BENCH_NAME: appended to docs/benchmarks.md"
fi
