#!/usr/bin/env bash
# Builds everything that reads untrusted input or runs many threads (common/:
# HTTP, MQTT, the Propeller codec, regexes; exporter/: /proc parsers, the
# sampler, the monitor, the API, discovery, the publisher; bridge/: mappings,
# config, REST, the worker and the MQTT client threads) with
# AddressSanitizer + UndefinedBehaviorSanitizer (the `asan` build) and with
# ThreadSanitizer (the `tsan` build), and runs under each:
#   - the unit and component tests: common_test, exporter_test, bridge_test;
#   - the daemons themselves, propmon-exporter and propmon-bridge, against a
#     real mosquitto (tests/integration/daemon_faults_test.py: the exporter
#     stopped with a full buffer, a fork-and-exit churn, the bridge killed and
#     restarted), each stopped with SIGTERM and required to exit 0;
#   - (ASan only) every committed fuzz corpus file (ctest -L fuzz).
# The ASan build (clang-14) also builds the libFuzzer targets, which
# `.ci/run` then runs with `PROPMON_FUZZ_BUILD_DIR=build-asan scripts/fuzz.sh`.
# Any memory error, leak, undefined behaviour or data race fails the run.
# docs/reliability.md says what is suppressed and why.
# Usage: scripts/sanitize.sh [gtest filter]      (CI runs it after test.sh)
#        PROPMON_SANITIZERS="address" scripts/sanitize.sh   (one of them)
set -euo pipefail
cd "$(dirname "$0")/.."

# The ASan build is made with clang and carries the libFuzzer targets too
# (PROPMON_BUILD_FUZZERS=ON), so that `.ci/run` fuzzes with it instead of
# compiling everything a third time (docs/fuzzing.md).
scripts/install-deps.sh clang-14 libclang-rt-14-dev

jobs=${PROPMON_JOBS:-2}
filter=${1:-*}
sanitizers=${PROPMON_SANITIZERS:-address thread}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# Paho's tokens are freed inside the uninstrumented libpaho-mqttpp3: the
# suppressions file says which reports that gives, and why they are false;
# it names only Paho's libraries, never a propmon frame.
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
  compiler=()
  extra=()
  if [ "$san" = address ]; then
    # An older build-asan made by gcc: start it over with clang.
    if [ -f "$build_dir/CMakeCache.txt" ] &&
      ! grep -q '^CMAKE_CXX_COMPILER:.*clang++-14' "$build_dir/CMakeCache.txt"; then
      rm -rf "$build_dir/CMakeCache.txt" "$build_dir/CMakeFiles"
    fi
    compiler=(CC=clang-14 CXX=clang++-14)
    # -O1, as ASan recommends: clang's -O0 frames (no stack slot reuse, a
    # redzone per local) overflowed a CivetWeb worker's 100 KiB stack.
    extra=(-DPROPMON_BUILD_FUZZERS=ON "-DCMAKE_C_FLAGS_DEBUG=-g -O1"
      "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1")
  fi
  env "${compiler[@]}" cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug \
    -DPROPMON_SANITIZE="$san" "${extra[@]}" \
    -DPROPMON_BUILD_TESTS=ON -DPROPMON_BUILD_BENCHMARKS=OFF >/dev/null
  replays=()
  [ "$san" = address ] && replays=(fuzz_replays fuzzers)
  cmake --build "$build_dir" -j"$jobs" --target common_test exporter_test \
    bridge_test propmon-exporter propmon-bridge workload "${replays[@]}"
  for t in common_test exporter_test bridge_test; do
    echo "sanitize: $t ($what)"
    # One test compares the proplet metrics' rss_bytes with the test
    # process's own RSS read a moment later: a sanitizer's runtime makes
    # that RSS move by tens of MiB in between (docs/reliability.md).
    run_filter=$filter
    [ "$t" = exporter_test ] && [ "$filter" = "*" ] &&
      run_filter="*-MqttPublishTest.EveryTopicMatchesGroundTruthAndProfileIntervals"
    if ! "$build_dir/tests/$t" --gtest_filter="$run_filter" --gtest_brief=1; then
      echo "sanitize: $t FAILED under $what" >&2
      status=1
    fi
  done
  if [ "$san" = address ] && [ "$filter" = "*" ]; then
    echo "sanitize: every committed fuzz corpus file ($what)"
    if ! ctest --test-dir "$build_dir" -L fuzz --output-on-failure; then
      echo "sanitize: a fuzz corpus replay FAILED under $what" >&2
      status=1
    fi
  fi
  if [ "$filter" = "*" ]; then
    for scenario in exporter_sigterm fork_churn bridge_kill; do
      echo "sanitize: the daemons, $scenario ($what)"
      if ! python3 tests/integration/daemon_faults_test.py "$build_dir" . \
        "$scenario"; then
        echo "sanitize: the daemons FAILED $scenario under $what" >&2
        status=1
      fi
    done
  fi
done
[ "$status" -eq 0 ] && echo "sanitize: the tests and the daemons passed under: $sanitizers"
exit "$status"
