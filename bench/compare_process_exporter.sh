#!/usr/bin/env bash
# Side-by-side: CPU cost per process per scrape of Debian's
# prometheus-process-exporter on N sleeping processes, next to the bare C
# floor of the same /proc reads. (propmon's own cost on the same N comes from
# build-release/bench/task_collection_bench.)
# Usage: bench/compare_process_exporter.sh [N] [SCRAPES]   (needs a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
SCRAPES=${2:-20}
BUILD=${PROPMON_BUILD_DIR:-build-release}
tmp=$(mktemp -d)
pids=()
cleanup() {
  [ -n "${pe_pid:-}" ] && kill "$pe_pid" 2>/dev/null || true
  kill "${pids[@]}" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
cp /bin/sleep "$tmp/pmbenchsleep"
for _ in $(seq "$N"); do "$tmp/pmbenchsleep" 600 & pids+=($!); done
sleep 1
cat > "$tmp/pe.yml" <<YML
process_names:
  - name: "{{.PID}}"
    comm:
      - pmbenchsleep
YML
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
prometheus-process-exporter -config.path "$tmp/pe.yml" -web.listen-address "127.0.0.1:$port" >"$tmp/pe.log" 2>&1 &
pe_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/metrics" >/dev/null && break; sleep 0.2; done
ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{ s=$0; sub(/.*\) /, "", s); split(s, f, " "); print (f[12]+f[13])/t }' "/proc/$1/stat"; }
c0=$(cpu "$pe_pid")
for _ in $(seq "$SCRAPES"); do curl -sf "http://127.0.0.1:$port/metrics" >/dev/null; done
c1=$(cpu "$pe_pid")
groups=$(curl -sf "http://127.0.0.1:$port/metrics" | grep -c '^namedprocess_namegroup_num_procs{' || true)
echo "process-exporter: processes=$N groups=$groups scrapes=$SCRAPES cpu_us_per_process_scrape=$(awk -v a="$c0" -v b="$c1" -v n="$N" -v s="$SCRAPES" 'BEGIN{printf "%.1f", (b-a)*1e6/(n*s)}')"
printf '%s\n' "${pids[@]}" | "$BUILD/bench/bare_proc_read" "$SCRAPES" | sed 's/^/bare C reads: /'
