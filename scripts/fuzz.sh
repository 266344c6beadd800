#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang-14, ASan + UBSan) in
# build-fuzz and runs each for SECONDS (default 60). New corpus entries go
# to build-fuzz/fuzz-corpus/TARGET, crashes to build-fuzz/fuzz-artifacts/
# TARGET/, logs to build-fuzz/fuzz-logs/; the seeds in fuzz/corpus/TARGET
# are only read. Exits non-zero when any target crashes.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: payload
#        device_mapping mapping_spec config; default all)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(payload device_mapping mapping_spec config)
fi

# The libraries propmon builds against, plus clang and libFuzzer's runtime.
scripts/install-deps.sh clang-14 libclang-rt-14-dev

build_dir=${PROPMON_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${PROPMON_JOBS:-2}
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROPMON_BUILD_FUZZERS=ON \
  -DPROPMON_BUILD_TESTS=OFF -DPROPMON_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build_dir" -j"$jobs" --target fuzzers

failed=()
for t in "${targets[@]}"; do
  case "$t" in
    payload | mapping_spec) max_len=65536 ;;  # an MQTT payload / topic
    *) max_len=4096 ;;
  esac
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  corpus="$build_dir/fuzz-corpus/$t"
  artifacts="$build_dir/fuzz-artifacts/$t"
  log="$build_dir/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  echo "fuzz: $t for ${seconds}s (max_len $max_len)"
  rc=0
  "$build_dir/fuzz/${t}_fuzz" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -max_len="$max_len" -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "${dict[@]}" "$corpus" "fuzz/corpus/$t" \
    >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  echo "fuzz: $t: rc=$rc, ${execs:-?} runs, ${rate:-?} exec/s," \
    "corpus $(find "$corpus" -type f | wc -l) files"
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    tail -n 40 "$log"
    echo "fuzz: $t FAILED; the input is in $artifacts/, the log in $log"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}"
  exit 1
fi
echo "fuzz: no crashes"
