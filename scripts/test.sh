#!/usr/bin/env bash
# Runs every test: installs missing Debian packages, configures, builds and
# runs ctest (unit, integration against real mosquitto/prometheus, rules,
# dashboards). Exits non-zero on any failure. Usage: scripts/test.sh [ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build_dir=${PROPMON_BUILD_DIR:-build}
jobs=${PROPMON_JOBS:-2}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPROPMON_BUILD_TESTS=ON -DPROPMON_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build_dir" -j"$jobs"

cd "$build_dir"
ctest --output-on-failure -j"$jobs" --timeout 600 "$@"
