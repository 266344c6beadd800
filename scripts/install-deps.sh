#!/usr/bin/env bash
# Installs the Debian 12 packages propmon needs, only those missing, plus
# any packages named on the command line (scripts/fuzz.sh adds clang's).
# Usage: scripts/install-deps.sh [EXTRA_PACKAGE...]
set -euo pipefail

pkgs=(build-essential cmake pkg-config prometheus-cpp-dev libcivetweb-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev libyaml-cpp-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev libdeflate-dev libre2-dev libjemalloc-dev mosquitto
  mosquitto-clients prometheus prometheus-alertmanager prometheus-node-exporter
  prometheus-process-exporter docker-compose openssl curl python3 procps
  iproute2 clang-format-14 python3-yaml libssl-dev libcrypt-dev "$@")

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian packages start daemons where an init system exists; we start our
# own instances on free ports, so stop any that came up here.
for svc in mosquitto prometheus prometheus-alertmanager prometheus-node-exporter prometheus-process-exporter; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
