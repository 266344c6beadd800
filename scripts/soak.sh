#!/usr/bin/env bash
# Soak test of the shipped stack (tests/integration/soak_test.py): for
# MINUTES, 10 000 short-lived tasks a minute (1-3 s each; half found by the
# exporter's discovery, half registered through its API) and a 5 000 msg/s
# MQTT flood into the bridge. Prints, every minute, the RSS and CPU of both
# daemons, series counts, drops and stale series (series of ended tasks past
# their grace period). Fails on any stale series and, from 5 minutes on, on
# RSS growing more than 5 % after minute 3. docs/reliability.md has the
# 30-minute figures.
# Usage: scripts/soak.sh MINUTES [BUILD_DIR]   (default build dir: build,
#        configured and built here as scripts/test.sh does when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:?usage: scripts/soak.sh MINUTES [BUILD_DIR]}
build_dir=${2:-build}
if [ ! -x "$build_dir/exporter/propmon-exporter" ] ||
  [ ! -x "$build_dir/bridge/propmon-bridge" ]; then
  scripts/install-deps.sh
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build_dir" -j"${PROPMON_JOBS:-2}" \
    --target propmon-exporter propmon-bridge
fi
exec python3 tests/integration/soak_test.py "$build_dir" . "$minutes"
