#!/usr/bin/env bash
# LL-HLS through a real cache: one livesale node, one H.264 camera (GStreamer x264enc +
# whipsink, as an encoder would publish), nginx in front (scripts/nginx/livesale-hls.conf, as
# the current user in a private prefix), and `livesale-load hls` clients that play like hls.js
# in low-latency mode (blocking reloads, preload hints) through nginx: 10 clients, then 2,000.
# For each run: whether every client got every part published in the window, the requests
# that reached livesale per part (its /metrics, `livesale_hls_requests_total{kind}`, read
# before and after), and the CPU of livesale, nginx and the load tool. Then, on the same node,
# 300 WebRTC viewers of a 1.5 Mbit/s program (`livesale-load media`, as scripts/bench/media.sh
# runs it) for the comparison. Appends a dated section to docs/benchmarks.md.
#
#   scripts/bench/hls.sh                    10 and 2,000 clients, 20 s windows, 300 WebRTC viewers
#   scripts/bench/hls.sh --no-record        do not append to docs/benchmarks.md
#   scripts/bench/hls.sh --clients "10 500 2000"
#                                           the client counts to run (the ratio compares the
#                                           last with the first)
#   scripts/bench/hls.sh --duration S       measured seconds per run (default 20)
#   scripts/bench/hls.sh --webrtc-viewers N WebRTC viewers of the comparison (default 300; 0: none)
#   scripts/bench/hls.sh --video-kbps K     the camera's H.264 bitrate (default 1500)
#
# Environment:
#   LIVESALE_BENCH_SKIP_BUILD=1   use the existing release binaries
#   LIVESALE_BENCH_KEEP_TMP=1     keep every process's log and JSON summary
#   GST_PLUGIN_PATH               where whipsink is (default: target/gst-plugins of this
#                                 checkout, then of /work/main; scripts/test.sh builds it)
#   LIVESALE_BENCH_SERVER_BIN, LIVESALE_BENCH_LOAD_BIN
#                                 other livesale / livesale-load binaries (with
#                                 LIVESALE_BENCH_SKIP_BUILD=1), e.g. to try another build
#
# livesale and the camera run on CPU 0; nginx and the load tool on CPU 1 (taskset). Every
# process this script starts is stopped when it ends, fails or is interrupted; a watchdog stops
# them if the script itself is killed.
BENCH_NAME=hls
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SERVER_BIN=${LIVESALE_BENCH_SERVER_BIN:-$SERVER_BIN}
LOAD_BIN=${LIVESALE_BENCH_LOAD_BIN:-$LOAD_BIN}

RECORD=1
CLIENTS="10 2000"
DURATION=20
WARMUP=5
WEBRTC=300
VIDEO_KBPS=1500
ARGS_TEXT="$*"
while (($# > 0)); do
  case $1 in
    --no-record) RECORD=0 ;;
    --clients) CLIENTS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --webrtc-viewers) WEBRTC=$2; shift ;;
    --video-kbps) VIDEO_KBPS=$2; shift ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
for n in $CLIENTS $DURATION $VIDEO_KBPS; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "--clients, --duration and --video-kbps take positive integers"
done
[[ $WEBRTC =~ ^[0-9]+$ ]] || die "--webrtc-viewers takes an integer"

command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH; install the Rust toolchain (https://rustup.rs)"
ensure_prereqs "taskset:util-linux" "jq:jq" "curl:curl" "nginx:nginx" \
  "gst-launch-1.0:gstreamer1.0-tools" "gst-inspect-1.0:gstreamer1.0-tools"
GST_PATH=${GST_PLUGIN_PATH:-}
for d in "$BENCH_ROOT/target/gst-plugins" /work/main/target/gst-plugins; do
  [[ -d $d ]] && GST_PATH="${GST_PATH:+$GST_PATH:}$d"
done
export GST_PLUGIN_PATH=$GST_PATH
for element in x264enc rtph264pay whipsink videotestsrc; do
  gst-inspect-1.0 "$element" >/dev/null 2>&1 ||
    die "GStreamer has no $element (GST_PLUGIN_PATH=$GST_PLUGIN_PATH): run scripts/test.sh --setup (x264enc is in gstreamer1.0-plugins-ugly, whipsink is built into target/gst-plugins)"
done
/usr/bin/python3 -c "import gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst" 2>/dev/null ||
  die "/usr/bin/python3 cannot import GStreamer (python3-gi, gir1.2-gstreamer-1.0): run scripts/test.sh --setup"

bench_start
NGINX_CPU=$LOAD_CPU
CLK_TCK=$(getconf CLK_TCK)

# CPU seconds (user + system) of a process so far.
proc_cpu_s() {
  awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); split($0, f, " "); printf "%.3f", (f[12] + f[13]) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# The origin's `livesale_hls_requests_total` by kind, and parts and segments, as JSON.
hls_counters() {
  curl -fsS --max-time 5 "$LS_URL/metrics" | awk '
    /^livesale_hls_requests_total\{/ { match($0, /kind="[^"]*"/); k = substr($0, RSTART + 6, RLENGTH - 7); r[k] += $NF }
    /^livesale_hls_parts_total/ { p += $NF }
    /^livesale_hls_segments_total/ { s += $NF }
    END {
      printf "{\"requests\":{"; n = 0
      for (k in r) { printf "%s\"%s\":%s", (n++ ? "," : ""), k, r[k] }
      printf "},\"parts\":%d,\"segments\":%d}\n", p, s
    }'
}

# ---- the node, the show, the camera --------------------------------------------------------------

start_livesale "$SERVER_CPU" node --max-viewers-per-node 100000
log "==> livesale on $LS_URL (pid $LS_PID)"
SETUP=$("$LOAD_BIN" setup --url "$LS_URL" --admin-token "$ADMIN_TOKEN") || die "setup failed"
SHOW=$(jq -r .show_id <<<"$SETUP")
CREATOR=$(jq -r .creator_token <<<"$SETUP")
CAMERA_TOKEN=$(curl -fsS -X POST -H "Authorization: Bearer $CREATOR" -H 'Content-Type: application/json' \
  -d '{"role":"camera","label":"x264 camera"}' "$LS_URL/api/shows/$SHOW/invites" | jq -r .token) ||
  die "camera invite failed"

# The camera: 640×360 at 30 fps, a keyframe every 2 s, x264 without B-frames or look-ahead.
launch "$BENCH_TMP/camera.log" taskset -c "$SERVER_CPU" /usr/bin/python3 "$BENCH_ROOT/scripts/bench/gst_loopback.py" \
  videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 \
  ! videoconvert ! queue ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 \
  "bitrate=$VIDEO_KBPS" ! video/x-h264,profile=constrained-baseline \
  ! rtph264pay pt=102 config-interval=-1 aggregate-mode=zero-latency \
  ! whipsink name=whip "whip-endpoint=$LS_URL/api/shows/$SHOW/whip" "auth-token=$CAMERA_TOKEN"
CAMERA_PID=$BG_PID
PLAYLIST="$LS_URL/api/shows/$SHOW/hls/live.m3u8"
for i in $(seq 1 300); do
  kill -0 "$CAMERA_PID" 2>/dev/null || { tail -n 30 "$BENCH_TMP/camera.log" >&2; die "the camera exited"; }
  if curl -fsS --max-time 2 "$PLAYLIST" 2>/dev/null | grep -q '^#EXT-X-PART:'; then
    break
  fi
  ((i < 300)) || { tail -n 30 "$BENCH_TMP/camera.log" >&2; die "no playlist with parts at $PLAYLIST within 30 s"; }
  sleep 0.1
done
log "==> the camera is on air; $PLAYLIST lists parts"

# ---- nginx ---------------------------------------------------------------------------------------

NGINX_DIR="$BENCH_TMP/nginx"
mkdir -p "$NGINX_DIR"
NGINX_PORT=$(free_port)
NGINX_URL="http://127.0.0.1:$NGINX_PORT"
sed -e "s|\${LIVESALE_NGINX_LISTEN}|127.0.0.1:$NGINX_PORT|g" \
  -e "s|\${LIVESALE_NGINX_ORIGIN}|127.0.0.1:$LS_PORT|g" \
  -e "s|\${LIVESALE_NGINX_STATE}|$NGINX_DIR|g" \
  -e "s|\${LIVESALE_NGINX_WORKERS}|1|g" \
  "$BENCH_ROOT/scripts/nginx/livesale-hls.conf" >"$NGINX_DIR/nginx.conf"
# Workers run as the current user (as root, nginx would switch them to nobody, who cannot
# enter the private temp directory).
launch "$BENCH_TMP/nginx.log" taskset -c "$NGINX_CPU" nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" \
  -g "daemon off; user $(id -un) $(id -gn);"
NGINX_PID=$BG_PID
wait_http "$NGINX_URL/healthz" "$NGINX_PID" nginx "$NGINX_DIR/error.log"
NGINX_PIDS=$(
  echo "$NGINX_PID"
  pgrep -P "$NGINX_PID" || true
)
NGINX_PIDS=$(tr '\n' ',' <<<"$NGINX_PIDS" | sed 's/,$//')
log "==> nginx on $NGINX_URL (pids $NGINX_PIDS)"

# ---- the runs ------------------------------------------------------------------------------------

STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
MACHINE_BUSY=()

# The node with the camera on air and nobody watching.
wait_quiet 120 || MACHINE_BUSY+=(idle)
c0=$(proc_cpu_s "$LS_PID")
m0=$(hls_counters)
sleep "$DURATION"
c1=$(proc_cpu_s "$LS_PID")
m1=$(hls_counters)
IDLE_CORES=$(awk -v a="$c0" -v b="$c1" -v d="$DURATION" 'BEGIN { printf "%.3f", (b - a) / d }')
IDLE_PARTS=$(jq -n --argjson a "$m0" --argjson b "$m1" '$b.parts - $a.parts')
log "==> camera only: livesale $IDLE_CORES cores, $IDLE_PARTS parts in ${DURATION} s"

HLS_RUNS=()
for n in $CLIENTS; do
  name="hls-$n"
  wait_quiet 120 || MACHINE_BUSY+=("$name")
  srcs=()
  if ((n > 1000)); then
    # A few source addresses, so no address pair runs short of ephemeral ports.
    srcs=(--source-ips 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5)
  fi
  hls_counters >"$BENCH_TMP/$name.metrics-before.json"
  log "==> $name: $n clients through nginx, ${DURATION} s window"
  launch "$BENCH_TMP/$name.load.log" timeout $((DURATION + WARMUP + 120)) taskset -c "$LOAD_CPU" "$LOAD_BIN" hls \
    --url "$NGINX_URL" --origin-url "$LS_URL" --show "$SHOW" --clients "$n" \
    --duration-s "$DURATION" --warmup-s "$WARMUP" --server-pid "$LS_PID" --cache-pids "$NGINX_PIDS" \
    --label "$name" --json-out "$BENCH_TMP/$name.json" "${srcs[@]}"
  if ! wait "$BG_PID"; then
    tail -n 30 "$BENCH_TMP/$name.load.log" >&2 || true
    die "the load of $name failed"
  fi
  hls_counters >"$BENCH_TMP/$name.metrics-after.json"
  sed '$d' "$BENCH_TMP/$name.load.log" | grep -v '^\[hls\]' >&2 || true
  HLS_RUNS+=("$name")
done

# The camera stops: the WebRTC run publishes its own program.
stop_pid "$CAMERA_PID"
WEBRTC_RUN=""
if ((WEBRTC > 0)); then
  name="webrtc-$WEBRTC"
  wait_quiet 120 || MACHINE_BUSY+=("$name")
  log "==> $name: $WEBRTC WebRTC viewers of a 1.5 Mbit/s program on the same node"
  launch "$BENCH_TMP/$name.load.log" timeout $((WEBRTC / 5 + DURATION + WARMUP + 180)) taskset -c "$LOAD_CPU" "$LOAD_BIN" media \
    --url "$LS_URL" --admin-token "$ADMIN_TOKEN" --viewers "$WEBRTC" --duration-s "$DURATION" \
    --warmup-s "$WARMUP" --server-pid "$LS_PID" --label "$name" --json-out "$BENCH_TMP/$name.json"
  if wait "$BG_PID"; then
    sed '$d' "$BENCH_TMP/$name.load.log" | grep -v '^\[media\]' >&2 || true
    WEBRTC_RUN=$name
  else
    log "$BENCH_NAME: the WebRTC run failed; its log:"
    tail -n 20 "$BENCH_TMP/$name.load.log" >&2 || true
  fi
fi

# ---- the report ----------------------------------------------------------------------------------

hls_row() {
  local name=$1 mark=""
  [[ " ${MACHINE_BUSY[*]-} " == *" $name "* ]] && mark=" (busy)"
  jq -r --arg n "$name$mark" \
    --slurpfile before "$BENCH_TMP/$name.metrics-before.json" \
    --slurpfile after "$BENCH_TMP/$name.metrics-after.json" '
    def f2: if . == null then "?" else (. * 100 | round / 100 | tostring) end;
    def f3: if . == null then "?" else (. * 1000 | round / 1000 | tostring) end;
    def ms: if . == null then "?" else (. / 1000 | round | tostring) end;
    def kinds: if (. | length) == 0 then "none" else (to_entries | map("\(.key) \(.value | f3)") | join(", ")) end;
    .derived as $d |
    ($before[0]) as $b | ($after[0]) as $a |
    ([$a.requests | to_entries[] | .value - ($b.requests[.key] // 0)] | add // 0) as $run_requests |
    ($a.parts - $b.parts) as $run_parts |
    "| \($n) | \(.started)/\(.clients) | \(.expected_parts) | \($d.got_min) / \($d.got_median) | \(.missing_total) | \($d.origin_per_part_by_kind | kinds) | \($d.origin_per_part | f3) | \($run_requests) / \($run_parts) | \($d.blocking.p50_us | ms) / \($d.blocking.p99_us | ms) | \($d.part_delay.p50_us | ms) / \($d.part_delay.p99_us | ms) | \($d.server_cores | f2) | \($d.cache_cores | f2) | \($d.tool_cores | f2) | \(.requests_window | add // 0) | \(.hints_not_produced // 0) | \(.cpus | map("\(.busy_pct | round)%") | join(" / ")) | \(if (.errors | length) == 0 then "none" else (.errors | to_entries | map("\(.key)=\(.value)") | join(", ")) end) |"
  ' "$BENCH_TMP/$name.json"
}

report() {
  local first=${HLS_RUNS[0]} last=${HLS_RUNS[${#HLS_RUNS[@]} - 1]}
  echo "## $STARTED_AT: LL-HLS through nginx, $(jq -r .clients "$BENCH_TMP/$last.json") clients, vs WebRTC viewers"
  echo
  echo "- Command: \`scripts/bench/hls.sh${ARGS_TEXT:+ $ARGS_TEXT}\`"
  echo "- Machine: $MACHINE$( ((QUIET_BEFORE)) || echo ' (busy: another job was using the CPU)')"
  local build
  if [[ -n ${LIVESALE_BENCH_SERVER_BIN:-} ]]; then
    build="\`$SERVER_BIN\` (LIVESALE_BENCH_SERVER_BIN)"
  else
    build="release build of $(cd "$BENCH_ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$BENCH_ROOT" && git diff --quiet HEAD -- server Cargo.toml 2>/dev/null || echo ' with uncommitted changes')"
  fi
  echo "- livesale: $build, \`--no-demo --max-viewers-per-node 100000\`, HLS defaults (500 ms parts, 2 s segments), memory store, on CPU $SERVER_CPU with the camera"
  echo "- Camera: GStreamer \`videotestsrc pattern=ball\` 640×360 30 fps → \`x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bitrate=$VIDEO_KBPS\` (constrained baseline) → \`whipsink\`, video only"
  echo "- Cache: $(nginx -v 2>&1 | sed 's/^nginx version: //') (Debian), scripts/nginx/livesale-hls.conf, one worker on CPU $NGINX_CPU, as the current user in a private prefix"
  echo "- Load: \`livesale-load hls\` on CPU $LOAD_CPU: each client fetches the playlist, the init segment once, then loops on blocking reloads of the next part while it requests the preload-hinted part; $(jq -r .ramp_s "$BENCH_TMP/$first.json") s ramp, ${WARMUP} s warm-up, ${DURATION} s window, 3 s drain. Expected parts: those an observer reading livesale directly saw appear in the window; origin requests per part: livesale's \`livesale_hls_requests_total\` increase over the window, the observer's own requests taken out, divided by \`livesale_hls_parts_total\`'s increase"
  ((${#MACHINE_BUSY[@]} == 0)) || echo "- Runs marked (busy) started while another job was using the CPU: ${MACHINE_BUSY[*]}"
  echo
  echo "Camera only, nobody watching: livesale ${IDLE_CORES} cores (packaging ${IDLE_PARTS} parts in ${DURATION} s)."
  echo
  echo "| run | clients playing | parts in window | got per client min / median | missing parts | origin requests per part, by kind | origin requests per part | origin requests / parts over the whole run (/metrics before → after) | blocking reload p50 / p99 ms | part after origin p50 / p99 ms | livesale cores | nginx cores | load cores | client requests in window | hinted parts never produced (404) | CPU0 / CPU1 busy | errors |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  local n
  for n in "${HLS_RUNS[@]}"; do hls_row "$n"; done
  echo
  if ((${#HLS_RUNS[@]} >= 2)); then
    jq -rn --slurpfile a "$BENCH_TMP/$first.json" --slurpfile b "$BENCH_TMP/$last.json" '
      ($a[0].derived.origin_per_part) as $x | ($b[0].derived.origin_per_part) as $y |
      if $x == null or $y == null or $x == 0 then "Ratio of origin requests per part: not measured (no livesale_hls metrics)."
      else "Origin requests per part at \($b[0].clients) clients / at \($a[0].clients) clients: \($y * 1000 | round / 1000) / \($x * 1000 | round / 1000) = **\(($y / $x) * 100 | round / 100)** (target ≤ 1.2)." end'
  fi
  jq -r '"Every client got every part published in the window: \(if .missing_total == 0 and .started == .clients then "yes" else "no: \(.missing_total) parts missing over \(.clients) clients (\(.derived.clients_complete) complete)" end) (\(.clients) clients)."' "$BENCH_TMP/$last.json"
  echo
  if [[ -n $WEBRTC_RUN ]]; then
    jq -r --arg hls "$(jq -r '.derived.server_cores' "$BENCH_TMP/$last.json")" --arg hc "$(jq -r .clients "$BENCH_TMP/$last.json")" '
      def f2: if . == null then "?" else (. * 100 | round / 100 | tostring) end;
      .derived.full as $f |
      "Same node, same run, \(.connected[0] + .connected[1]) WebRTC viewers of a 1.5 Mbit/s program (`livesale-load media`, its own webrtc-rs camera; the x264 camera stopped): livesale \($f.server_cores | f2) cores, loss \($f.loss_pct * 1000 | round / 1000)%, \($f.delivered_mbit_per_s | round) Mbit/s delivered. The same node serving \($hc) LL-HLS clients through nginx: \($hls | tonumber | f2) cores."
    ' "$BENCH_TMP/$WEBRTC_RUN.json"
    echo
  fi
}

REPORT=$(report)
printf '\n%s\n' "$REPORT"
if ((RECORD)); then
  printf '%s\n\n' "$REPORT" >>"$BENCH_ROOT/docs/benchmarks.md"
  log "$BENCH_NAME: appended to docs/benchmarks.md"
fi
