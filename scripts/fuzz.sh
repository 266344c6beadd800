#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang-14, ASan + UBSan) in
# build-fuzz and runs each for SECONDS (default 60). New corpus entries go
# to build-fuzz/fuzz-corpus/TARGET, crashes to build-fuzz/fuzz-artifacts/
# TARGET/, logs to build-fuzz/fuzz-logs/; the seeds in fuzz/corpus/TARGET
# are only read. Exits non-zero when any target crashes.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: payload
#        device_mapping mapping_spec config procfs registration
#        exporter_config http_request; default all)
#        PROPMON_FUZZ_RUNS=N scripts/fuzz.sh SECONDS TARGET   (stop each
#        target after N executions, or SECONDS, whichever comes first)
#        PROPMON_FUZZ_BUILD_DIR=build-asan scripts/fuzz.sh 30   (CI: the
#        fuzzers of scripts/sanitize.sh's clang ASan build, no new build)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(payload device_mapping mapping_spec config procfs registration
    exporter_config http_request)
fi

# The libraries propmon builds against, plus clang and libFuzzer's runtime.
scripts/install-deps.sh clang-14 libclang-rt-14-dev

build_dir=${PROPMON_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${PROPMON_JOBS:-2}
# A build dir already configured with the fuzzers (such as scripts/
# sanitize.sh's build-asan, a Debug build: fewer executions per second) is
# used as it is; otherwise it is configured as an optimized fuzzing build.
if ! grep -qs '^PROPMON_BUILD_FUZZERS:BOOL=ON' "$build_dir/CMakeCache.txt"; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROPMON_BUILD_FUZZERS=ON \
    -DPROPMON_BUILD_TESTS=OFF -DPROPMON_BUILD_BENCHMARKS=OFF >/dev/null
fi
cmake --build "$build_dir" -j"$jobs" --target fuzzers

failed=()
for t in "${targets[@]}"; do
  case "$t" in
    # An MQTT payload or topic; a registration body (the server's 64 KiB).
    payload | mapping_spec | registration) max_len=65536 ;;
    http_request) max_len=16384 ;;  # CivetWeb's default max_request_size
    procfs) max_len=8192 ;;
    *) max_len=4096 ;;  # config files
  esac
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  corpus="$build_dir/fuzz-corpus/$t"
  artifacts="$build_dir/fuzz-artifacts/$t"
  log="$build_dir/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
  echo "fuzz: $t for ${seconds}s (max_len $max_len)"
  runs=()
  [ -n "${PROPMON_FUZZ_RUNS:-}" ] && runs=(-runs="$PROPMON_FUZZ_RUNS")
  rc=0
  start=$SECONDS
  "$build_dir/fuzz/${t}_fuzz" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -max_len="$max_len" -timeout=25 -print_final_stats=1 "${runs[@]}" \
    -artifact_prefix="$artifacts/" "${dict[@]}" "$corpus" "fuzz/corpus/$t" \
    >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
  echo "fuzz: $t: rc=$rc, $((SECONDS - start)) s, ${execs:-?} runs," \
    "${rate:-?} exec/s, ${cov:-cov: ?}, corpus" \
    "$(find "$corpus" -type f | wc -l) files" \
    "($(du -sk --apparent-size "$corpus" | cut -f1) KiB)"
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
