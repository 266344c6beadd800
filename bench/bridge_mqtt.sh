#!/usr/bin/env bash
# propmon-bridge end to end at saturation: a mosquitto broker and the bridge
# on free loopback ports; N task_metrics messages (5000 tasks, 50 per
# proplet) published by one `mosquitto_pub -l`; reports messages per second,
# the bridge's CPU per message (utime+stime from /proc/PID/stat), the worker's
# share, series and RSS. Polls /health (cheap), not /metrics, while waiting.
#
# Usage: bench/bridge_mqtt.sh [BRIDGE_BINARY]   (env: N=200000 QOS=0)
set -euo pipefail
B=${1:-build/bridge/propmon-bridge}
N=${N:-200000}
QOS=${QOS:-0}
work=$(mktemp -d)
trap 'kill ${BR:-} ${MQ:-} 2>/dev/null || true; rm -rf "$work"' EXIT
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
MP=$(freeport)
HP=$(freeport)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$MP" > "$work/mq.conf"
/usr/sbin/mosquitto -c "$work/mq.conf" > "$work/mq.log" 2>&1 &
MQ=$!
sleep 0.5
"$B" --mqtt.url="tcp://127.0.0.1:$MP" --web.listen-address="127.0.0.1:$HP" > "$work/bridge.log" 2>&1 &
BR=$!
until curl -sf "localhost:$HP/-/ready" > /dev/null; do sleep 0.1; done
python3 - "$N" > "$work/msgs.txt" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    t = i % 5000
    print('{"task_id":"550e8400-e29b-41d4-a716-%012d","proplet_id":"7c9e6679-7425-40de-944b-%012d","metrics":{"cpu_percent":23.5,"memory_bytes":52428800,"memory_percent":1.2,"disk_read_bytes":1048576,"disk_write_bytes":524288,"network_rx_bytes":2048,"network_tx_bytes":4096,"uptime_seconds":45,"thread_count":2,"file_descriptor_count":8},"aggregated":{"avg_cpu_usage":38.2,"max_cpu_usage":65.0,"avg_memory_usage":62914560,"max_memory_usage":71303168,"total_disk_read":2097152,"total_disk_write":1048576,"total_network_rx":12288,"total_network_tx":24576,"sample_count":24},"timestamp":"2025-01-15T10:35:22.123456Z"}' % (t, t // 50))
PY
cpu() { awk '{print $14 + $15}' "/proc/$BR/stat"; }
received() {
  curl -s "localhost:$HP/health" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"]["received"])'
}
c0=$(cpu)
t0=$(date +%s.%N)
mosquitto_pub -h 127.0.0.1 -p "$MP" -q "$QOS" \
  -t m/dom-1/c/chan-1/control/proplet/task_metrics -l < "$work/msgs.txt"
while [ "$(received)" -lt "$N" ]; do sleep 0.2; done
t1=$(date +%s.%N)
c1=$(cpu)
tck=$(getconf CLK_TCK)
python3 - "$N" "$QOS" "$t0" "$t1" "$c0" "$c1" "$tck" <<'PY'
import sys
n, qos, t0, t1, c0, c1, tck = sys.argv[1:]
n = int(n); wall = float(t1) - float(t0); cpu = (float(c1) - float(c0)) / float(tck)
print(f"messages={n} qos={qos} wall_s={wall:.2f} msg_per_s={n / wall:.0f} "
      f"bridge_cpu_s={cpu:.2f} us_per_msg={cpu / n * 1e6:.1f}")
PY
curl -s "localhost:$HP/metrics" |
  grep -E '^propmon_bridge_(series|messages_dropped_total|message_processing_seconds_total|history_bytes) '
echo "rss_kb=$(awk '/VmRSS/{print $2}' "/proc/$BR/status")"
