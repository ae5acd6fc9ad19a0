#!/usr/bin/env bash
# End-to-end benchmark of the `micelio` daemon driven by `micelio-loadgen` over the wire
# protocol, on 127.0.0.1 only:
#   1. relay throughput: one node relaying chat from a sending to a receiving connection,
#      as fast as it takes it, compared with this machine's ED25519 verify ceiling;
#   2. accepted handshakes per second (fresh identities, 32 in flight);
#   3. RSS per idle connection with 1,000 idle peers (node with -max-peers 1100);
#   4. a 3-node chain A - B - C: latency at 100 msgs/s and 2,000 msgs/s, then saturation,
#      sending into A and receiving from C.
# Each scenario gets fresh nodes (a node whose seen cache is full of recent ids refuses new
# ones, so a saturated node would skew the next scenario).
# Results: bench/results/<scenario>.json (loadgen summaries), bench/results/summary.txt,
# node logs in bench/results/logs/. Takes about 2 minutes after the build.
#
# Usage: bench/e2e.sh            (BENCH_NO_BUILD=1 skips the cargo build)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=$ROOT/bench/results
NODE=$ROOT/target/release/micelio
LOADGEN=$ROOT/target/release/micelio-loadgen
WORK=$(mktemp -d "${TMPDIR:-/tmp}/micelio-bench.XXXXXX")
STARTED=$SECONDS
declare -A PID=() PORT=() ID=()
SUMMARY=()

note() { printf '\n### %s\n' "$*" >&2; }

# Picks a TCP port on 127.0.0.1 that nothing listens on and that this run has not used yet;
# the result is in REPLY (not printed: a subshell would lose the list of used ports).
USED_PORTS=" "
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    [[ $USED_PORTS == *" $port "* ]] && continue
    USED_PORTS+="$port "
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      REPLY=$port
      return
    fi
  done
}

# start_node NAME [daemon flags...]: a node on a free port with its own data dir and log;
# returns once it listens (PID, PORT and ID hold its process id, port and node id).
start_node() {
  local name=$1 attempt port
  shift
  for attempt in 1 2 3; do
    free_port
    port=$REPLY
    "$NODE" -data-dir "$WORK/$name" -listen "127.0.0.1:$port" -ssh-listen 127.0.0.1:0 \
      -name "$name" -log-level info "$@" >"$WORK/$name.log" 2>&1 &
    PID[$name]=$!
    PORT[$name]=$port
    for _ in $(seq 200); do
      grep -q 'msg="transport listening"' "$WORK/$name.log" && break
      kill -0 "${PID[$name]}" 2>/dev/null || break
      sleep 0.05
    done
    if kill -0 "${PID[$name]}" 2>/dev/null && grep -q 'msg="transport listening"' "$WORK/$name.log"; then
      ID[$name]=$(grep -o 'node_id=[0-9a-f]*' "$WORK/$name.log" | head -1 | cut -d= -f2)
      return
    fi
    stop_node "$name"
    echo "node $name did not start (attempt $attempt):" >&2
    tail -3 "$WORK/$name.log" >&2
  done
  exit 1
}

stop_node() {
  local pid=${PID[$1]:-}
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PID[$1]"
}

# The node's own counters (SIGUSR1 makes it log a `node stats` line), plus how many
# "send buffer full" drops it logged.
node_stats() {
  local name=$1 before now drops
  before=$(grep -c 'msg="node stats"' "$WORK/$name.log" || true)
  kill -USR1 "${PID[$name]}"
  for _ in $(seq 60); do
    now=$(grep -c 'msg="node stats"' "$WORK/$name.log" || true)
    ((now > before)) && break
    sleep 0.05
  done
  drops=$(grep -c 'send buffer full' "$WORK/$name.log" || true)
  printf '%s: %s send_buffer_full_warnings=%s\n' "$name" \
    "$(grep 'msg="node stats"' "$WORK/$name.log" | tail -1 | sed 's/^.*msg="node stats" //; s/ component=[a-z]*//')" \
    "$drops"
}

# Waits until NAME's log shows COUNT "peer connected" lines.
wait_peers() {
  local name=$1 count=$2
  for _ in $(seq 300); do
    (($(grep -c 'msg="peer connected"' "$WORK/$name.log" || true) >= count)) && return 0
    sleep 0.05
  done
  echo "node $name did not reach $count peers" >&2
  return 1
}

loadgen() {
  local label=$1
  shift
  "$LOADGEN" --label "$label" --json "$RESULTS/$label.json" "$@"
}

cleanup() {
  local name
  for name in "${!PID[@]}"; do stop_node "$name"; done
  mkdir -p "$RESULTS/logs"
  cp "$WORK"/*.log "$RESULTS/logs/" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z ${BENCH_NO_BUILD:-} ]]; then
  note "build (release)"
  (cd "$ROOT" && cargo build --release -p micelio-node -p micelio-loadgen)
fi
mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json "$RESULTS"/logs/*.log
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

note "1. relay throughput: one node, sending and receiving connection, as fast as it takes"
start_node relay -max-peers 0
loadgen relay --target "127.0.0.1:${PORT[relay]}" --target-pid "${PID[relay]}" \
  --rate 0 --duration 5 --max-in-flight 1000 --max-messages 120000 --ceiling-secs 1
SUMMARY+=("$(node_stats relay)")
stop_node relay

note "2. accepted handshakes per second"
start_node handshakes -max-peers 0
loadgen handshakes --target "127.0.0.1:${PORT[handshakes]}" --target-pid "${PID[handshakes]}" \
  --connections 3000 --concurrency 32 --ceiling-secs 0
SUMMARY+=("$(node_stats handshakes)")
stop_node handshakes

note "3. RSS per idle connection, 1,000 idle peers"
start_node idle -max-peers 1100
sleep 1
loadgen idle --target "127.0.0.1:${PORT[idle]}" --target-pid "${PID[idle]}" \
  --idle-connections 1000 --idle-hold 5 --concurrency 32 --ceiling-secs 0
SUMMARY+=("$(node_stats idle)")
stop_node idle

note "4. chain A - B - C"
# A and C advertise addresses where nothing listens: B passes them on in its peer exchanges,
# so A and C learn of each other but every dial between them fails and the chain stays a
# chain. BENCH_CHAIN_ADVERTISE=0 leaves the advertised addresses alone (A and C then connect
# directly once discovery runs, within about 10 s).
start_node B
advertise_a=() advertise_c=()
if [[ ${BENCH_CHAIN_ADVERTISE:-1} != 0 ]]; then
  free_port; advertise_a=(-advertise-addr "127.0.0.1:$REPLY")
  free_port; advertise_c=(-advertise-addr "127.0.0.1:$REPLY")
fi
start_node A -bootstrap "127.0.0.1:${PORT[B]}" "${advertise_a[@]}"
start_node C -bootstrap "127.0.0.1:${PORT[B]}" "${advertise_c[@]}"
wait_peers B 2
wait_peers A 1
wait_peers C 1
chain=(--send-to "127.0.0.1:${PORT[A]}" --receive-from "127.0.0.1:${PORT[C]}" --target-pid "${PID[B]}" --ceiling-secs 0)
loadgen chain-light "${chain[@]}" --rate 100 --duration 10
loadgen chain-heavy "${chain[@]}" --rate 2000 --duration 10
loadgen chain-saturated "${chain[@]}" --rate 0 --duration 5 --max-in-flight 1000 --max-messages 40000
for name in A B C; do SUMMARY+=("$(node_stats "$name")"); done
if grep 'msg="peer connected"' "$WORK/A.log" | grep -q "peer=${ID[C]}" ||
  grep 'msg="peer connected"' "$WORK/C.log" | grep -q "peer=${ID[A]}"; then
  TOPOLOGY="A and C connected directly at some point: chain figures are NOT through B only"
else
  TOPOLOGY="A and C never connected: every message crossed A -> B -> C"
fi
for name in A B C; do stop_node "$name"; done

table() {
  printf '%-16s %12s %8s %8s %8s %12s %14s %7s %14s\n' \
    scenario "delivered/s" "p50 ms" "p99 ms" "max ms" "handshake/s" "RSS/idle conn" "ratio" "node µs/msg"
  for label in relay handshakes idle chain-light chain-heavy chain-saturated; do
    [[ -f $RESULTS/$label.json ]] || continue
    jq -r --arg l "$label" '[
        $l,
        (.traffic.delivered_per_sec // null | if . then (. | floor | tostring) else "-" end),
        (.traffic.latency.p50_ms // null | if . then (. * 100 | round / 100 | tostring) else "-" end),
        (.traffic.latency.p99_ms // null | if . then (. * 100 | round / 100 | tostring) else "-" end),
        (.traffic.latency.max_ms // null | if . then (. * 100 | round / 100 | tostring) else "-" end),
        (.handshakes.per_sec // null | if . then (. | floor | tostring) else "-" end),
        (.idle.rss_per_connection_bytes // null | if . then ((. / 1024 * 10 | round / 10 | tostring) + " KiB") else "-" end),
        (.ratio_to_ceiling // null | if . then (. * 1000 | round / 1000 | tostring) else "-" end),
        (.traffic.target_cpu.us_per_message // null | if . then (. * 10 | round / 10 | tostring) else "-" end)
      ] | @tsv' "$RESULTS/$label.json" |
      awk -F'\t' '{ printf "%-16s %12s %8s %8s %8s %12s %14s %7s %14s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
  done
}

# The figures the loadgen JSON files hold, as lines and a table (needs jq).
figures() {
  if [[ -f $RESULTS/relay.json ]]; then
    jq -r '"verify ceiling: \(.ceiling.verify_per_sec | floor) envelopes/s (envelope::verify, \(1e6 / .ceiling.verify_per_sec * 10 | round / 10) µs each; best of \(.ceiling_samples | map(.verify_per_sec | floor | tostring) | join(" and ")) measured before and after the relay run), raw ed25519 verify \(.ceiling.raw_verify_per_sec | floor)/s",
      "relay: delivered/ceiling \(.ratio_to_ceiling * 1000 | round / 1000), delivered/raw verify \(.ratio_to_raw_verify * 1000 | round / 1000), node busy \(.traffic.target_cpu.busy * 100 | round)% of a core",
      "CPU-time ratio: node relays \(1e6 / .traffic.target_cpu.us_per_message | floor) msgs per CPU-second, one core verifies \(.ceiling.verify_per_cpu_sec | floor) envelopes per CPU-second: \(.ratio_cpu_bound // 0 | . * 1000 | round / 1000)"' "$RESULTS/relay.json"
  fi
  echo
  table
  if [[ -f $RESULTS/handshakes.json ]]; then
    jq -r '"handshakes: \(.handshakes.established)/\(.handshakes.attempted) in \(.handshakes.elapsed_s * 100 | round / 100) s; node CPU \(.handshakes.target_cpu_us_per_handshake // 0 | round) µs per handshake (\(1e6 / (.handshakes.target_cpu_us_per_handshake // 1e6) | floor) per CPU-second)"' "$RESULTS/handshakes.json"
  fi
  if [[ -f $RESULTS/idle.json ]]; then
    jq -r '"idle: \(.idle.held) connections held, node RSS \(.idle.rss_before_kib) KiB -> \(.idle.rss_held_kib) KiB"' "$RESULTS/idle.json"
  fi
}

{
  echo "micelio end-to-end benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average before: $LOAD_BEFORE"
  if command -v jq >/dev/null; then figures; else echo "(jq not found: the figures are in $RESULTS/*.json)"; fi
  echo
  echo "chain topology: $TOPOLOGY"
  echo "node counters at the end of each scenario (rejected = gossip drops of any reason, duplicates included):"
  printf '  %s\n' "${SUMMARY[@]}"
  echo "total time: $((SECONDS - STARTED)) s"
} | tee "$RESULTS/summary.txt"
