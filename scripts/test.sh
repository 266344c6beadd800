#!/usr/bin/env bash
# Runs every test: installs missing Debian packages, configures, builds and
# runs ctest (unit, integration against real mosquitto/prometheus, rules,
# dashboards; the load-dependent `timing` tests last, one at a time). Exits
# non-zero on any failure. Usage: scripts/test.sh [ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build_dir=${PROPMON_BUILD_DIR:-build}
jobs=${PROPMON_JOBS:-2}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPROPMON_BUILD_TESTS=ON -DPROPMON_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build_dir" -j"$jobs"

cd "$build_dir"
# First everything whose outcome does not depend on machine load, in
# parallel; then the `timing` tests (CPU ratios against a known workload,
# sample gaps, broker outages) one at a time, on a machine no longer busy
# with the others. Both phases run; either failing fails the script.
rc=0
ctest --output-on-failure -j"$jobs" --timeout 600 -LE timing "$@" || rc=$?
ctest --output-on-failure -j1 --timeout 600 -L timing "$@" || rc=$?
exit "$rc"
