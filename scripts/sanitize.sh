#!/usr/bin/env bash
# Builds the parts that read untrusted input (common/: HTTP, MQTT, the
# Propeller codec; bridge/: mappings, config, REST) with AddressSanitizer and
# UndefinedBehaviorSanitizer (the `asan` CMake preset) and runs their test
# binaries: any memory error, leak or undefined behaviour fails the run.
# Usage: scripts/sanitize.sh [gtest filter]      (CI runs it after test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build_dir=${PROPMON_ASAN_BUILD_DIR:-build-asan}
jobs=${PROPMON_JOBS:-2}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DPROPMON_SANITIZE=address \
  -DPROPMON_BUILD_TESTS=ON -DPROPMON_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build_dir" -j"$jobs" --target common_test bridge_test propmon-bridge

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
filter=${1:-*}
status=0
for t in common_test bridge_test; do
  echo "sanitize: $t (address, undefined)"
  if ! "$build_dir/tests/$t" --gtest_filter="$filter" --gtest_brief=1; then
    echo "sanitize: $t FAILED" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "sanitize: common_test and bridge_test passed under ASan+UBSan"
exit "$status"
