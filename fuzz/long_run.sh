#!/usr/bin/env bash
# Long local fuzzing at the lowest CPU priority: builds the targets once (as .ci/fuzz does),
# then runs each for LONG_SECONDS (default 1800) under `nice -n 19`, LONG_JOBS (default 2) at
# a time, from its working corpus fuzz/corpus/<target> (seeded from fuzz/seeds/<target> the
# first time, kept and grown between runs). Logs go to fuzz/logs/<target>.log, crashes to
# fuzz/artifacts/<target>/. Meant to be detached:
#
#   nohup bash fuzz/long_run.sh > fuzz/logs/driver.log 2>&1 &
#
# Environment: LONG_SECONDS, LONG_JOBS, LONG_TARGETS (space-separated subset).
set -uo pipefail
cd "$(dirname "$0")/.."

LONG_SECONDS=${LONG_SECONDS:-1800}
LONG_JOBS=${LONG_JOBS:-2}
read -r -a targets <<< "${LONG_TARGETS:-frame_decoder record_decoder envelope_verify exchange_decoder connection_responder connection_established node_inputs}"
export RUSTC_WRAPPER=$PWD/fuzz/rustc-wrapper.sh
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir=fuzz/target/$triple/release
mkdir -p fuzz/logs

stamp() { date '+%F %T'; }

echo "$(stamp) building (sanitizer none)"
nice -n 19 cargo +nightly fuzz build --sanitizer none || exit 1

run_one() {
  local target=$1 corpus=fuzz/corpus/$1 artifacts=fuzz/artifacts/$1/
  mkdir -p "$corpus" "$artifacts"
  [[ -n $(ls -A "$corpus") ]] || cp fuzz/seeds/"$target"/* "$corpus"/
  echo "$(stamp) start  $target ($LONG_SECONDS s, log fuzz/logs/$target.log)"
  local status=0
  nice -n 19 "$bin_dir/$target" "$corpus" \
    -max_total_time="$LONG_SECONDS" -timeout=20 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" -print_final_stats=1 \
    > "fuzz/logs/$target.log" 2>&1 || status=$?
  local done_line
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "fuzz/logs/$target.log" | tail -1)
  echo "$(stamp) finish $target: exit $status; ${done_line:-no DONE line (crash? see the log)}"
}

for target in "${targets[@]}"; do
  while (( $(jobs -rp | wc -l) >= LONG_JOBS )); do
    wait -n
  done
  run_one "$target" &
done
wait
echo "$(stamp) all targets finished; crashes, if any: $(find fuzz/artifacts -type f | wc -l) file(s) under fuzz/artifacts"
