#!/usr/bin/env bash
# What basic auth (bcrypt, cost 10) and TLS cost a scraped exporter, measured
# on the whole daemon: its own CPU (utime+stime from /proc/PID/stat) over N
# scrapes of /metrics, for plain HTTP, basic auth, and TLS + basic auth.
# The first authenticated scrape pays bcrypt; later ones hit the cache, so a
# Prometheus scraping every 15 s pays bcrypt once per password.
# Usage: bench/web_auth_cost.sh [BUILD_DIR] [SCRAPES]   (default build, 200)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
n=${2:-200}
exporter=$build/exporter/propmon-exporter
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

hash=$(python3 -W ignore -c 'import crypt; print(crypt.crypt("pw", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10)))')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$tmp/server.key" -out "$tmp/server.crt" -days 1 \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
printf 'basic_auth_users:\n  prom: %s\n' "$hash" >"$tmp/auth.yml"
printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prom: %s\n' "$hash" >"$tmp/tls.yml"
: >"$tmp/plain.yml"

ticks=$(getconf CLK_TCK)
cpu_ms() {  # utime+stime of PID in ms
  awk -v t="$ticks" '{ split($0, a, ") "); split(a[2], f, " "); print (f[12] + f[13]) * 1000 / t }' "/proc/$1/stat"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

printf '%-22s %14s %16s\n' "mode" "first scrape" "per scrape (next $n)"
for mode in plain auth tls; do
  port=$(free_port)
  "$exporter" --web.listen-address=127.0.0.1:"$port" \
    --web.config.file="$tmp/$mode.yml" >"$tmp/$mode.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  scheme=http
  curl_args=(-s -o /dev/null)
  [ "$mode" = tls ] && scheme=https && curl_args+=(--cacert "$tmp/server.crt")
  [ "$mode" != plain ] && curl_args+=(-u prom:pw)
  # Up when it answers at all (401 included): no credentials are sent
  # before the measured first scrape, so that one pays bcrypt.
  for _ in $(seq 100); do
    code=$(curl -s -k -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/-/healthy" || true)
    [ "$code" != "000" ] && break
    sleep 0.1
  done
  sleep 1  # let start-up CPU settle
  c0=$(cpu_ms "$pid")
  curl "${curl_args[@]}" "$scheme://127.0.0.1:$port/metrics"
  c1=$(cpu_ms "$pid")
  for _ in $(seq "$n"); do curl "${curl_args[@]}" "$scheme://127.0.0.1:$port/metrics"; done
  c2=$(cpu_ms "$pid")
  awk -v m="$mode" -v a="$c0" -v b="$c1" -v c="$c2" -v n="$n" \
    'BEGIN { printf "%-22s %11.1f ms %13.2f ms\n", m, b - a, (c - b) / n }'
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
