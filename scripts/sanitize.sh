#!/usr/bin/env bash
# Builds the parts that read untrusted input or run many threads (common/:
# HTTP, MQTT, the Propeller codec, regexes; bridge/: mappings, config, REST,
# the worker and the MQTT client threads) with AddressSanitizer +
# UndefinedBehaviorSanitizer (the `asan` build) and with ThreadSanitizer
# (the `tsan` build), and runs their test binaries under each: any memory
# error, leak, undefined behaviour or data race fails the run.
# Usage: scripts/sanitize.sh [gtest filter]      (CI runs it after test.sh)
#        PROPMON_SANITIZERS="address" scripts/sanitize.sh   (one of them)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=${PROPMON_JOBS:-2}
filter=${1:-*}
sanitizers=${PROPMON_SANITIZERS:-address thread}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# Paho's tokens are freed inside the uninstrumented libpaho-mqttpp3: the
# suppressions file says which reports that gives, and why they are false.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/common/mqtt_tsan.supp}
status=0
for san in $sanitizers; do
  case "$san" in
    address)
      build_dir=${PROPMON_ASAN_BUILD_DIR:-build-asan}
      what="address, undefined"
      ;;
    thread)
      build_dir=${PROPMON_TSAN_BUILD_DIR:-build-tsan}
      what="thread"
      ;;
    *)
      echo "sanitize: unknown sanitizer $san (address, thread)" >&2
      exit 2
      ;;
  esac
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DPROPMON_SANITIZE="$san" \
    -DPROPMON_BUILD_TESTS=ON -DPROPMON_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$build_dir" -j"$jobs" --target common_test bridge_test propmon-bridge
  for t in common_test bridge_test; do
    echo "sanitize: $t ($what)"
    if ! "$build_dir/tests/$t" --gtest_filter="$filter" --gtest_brief=1; then
      echo "sanitize: $t FAILED under $what" >&2
      status=1
    fi
  done
done
[ "$status" -eq 0 ] && echo "sanitize: common_test and bridge_test passed under: $sanitizers"
exit "$status"
