#!/usr/bin/env bash
# Starts the propmon stack locally, without Docker, with three sample tasks:
#   mosquitto (MQTT broker)          127.0.0.1:${MQTT_PORT:-1883}
#   propmon-exporter                 127.0.0.1:${EXPORTER_PORT:-9652}
#     sample tasks: cpu-burner (intensive), memory-grower (standard),
#                   disk-writer (batch), registered through the REST API
#   propmon-bridge                   127.0.0.1:${BRIDGE_PORT:-9641}
#     Propeller mapping, plus deploy/bridge/demo-devices.yaml for two fake
#     room sensors publishing to demo/rooms/<room>/dht22
#   prometheus with rules/           127.0.0.1:${PROM_PORT:-9090}
#   alertmanager + alert webhook     127.0.0.1:${AM_PORT:-9093}, :${HOOK_PORT:-5001}
# Everything binds to 127.0.0.1 and is stopped (by PID) on Ctrl-C.
# Usage: scripts/demo.sh            (as root on Debian 12; installs packages)
#        PROPMON_DEMO_EXIT_AFTER=N scripts/demo.sh   (stop after N seconds)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/install-deps.sh
build=${PROPMON_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(propmon-exporter workload)
[ -f bridge/CMakeLists.txt ] && targets+=(propmon-bridge)
cmake --build "$build" -j"${PROPMON_JOBS:-2}" --target "${targets[@]}"

MQTT_PORT=${MQTT_PORT:-1883}
EXPORTER_PORT=${EXPORTER_PORT:-9652}
BRIDGE_PORT=${BRIDGE_PORT:-9641}
PROM_PORT=${PROM_PORT:-9090}
AM_PORT=${AM_PORT:-9093}
HOOK_PORT=${HOOK_PORT:-5001}
for p in "$MQTT_PORT" "$EXPORTER_PORT" "$BRIDGE_PORT" "$PROM_PORT" "$AM_PORT" "$HOOK_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "demo: port $p is in use; set the matching *_PORT variable" >&2
    exit 1
  fi
done

run_dir=$(mktemp -d /tmp/propmon-demo-XXXXXX)
pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping (${#pids[@]} processes)"
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "demo: logs were in $run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start() {  # start NAME CMD...: runs CMD in the background, logging to run_dir
  local name=$1; shift
  "$@" >"$run_dir/$name.log" 2>&1 &
  pids+=($!)
}
wait_http() {  # wait_http URL NAME
  for _ in $(seq 100); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.2
  done
  echo "demo: $2 did not come up; see $run_dir/$2.log" >&2
  tail -20 "$run_dir/$2.log" >&2 || true
  exit 1
}

# 1. MQTT broker.
cat >"$run_dir/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
# Persistent sessions survive a broker restart: the bridge's queued messages
# are kept (docs/bridge.md, "No loss across restarts").
persistence true
persistence_location $run_dir/
autosave_interval 60
# As deploy/mosquitto/mosquitto.conf: hold up to 100000 messages for the
# bridge while it restarts, not mosquitto's default 1000.
max_queued_messages 100000
CONF
start mosquitto /usr/sbin/mosquitto -c "$run_dir/mosquitto.conf"

# 2. Exporter, publishing as proplet "demo-proplet" in domain/channel "demo".
cat >"$run_dir/exporter.yml" <<YML
proplet_id: demo-proplet
mqtt:
  url: tcp://127.0.0.1:$MQTT_PORT
  domain_id: demo
  channel_id: demo
  client_id: demo-proplet
YML
start exporter "$build/exporter/propmon-exporter" --config.file "$run_dir/exporter.yml" \
  --web.listen-address "127.0.0.1:$EXPORTER_PORT"
wait_http "http://127.0.0.1:$EXPORTER_PORT/-/ready" exporter

# 3. Three sample tasks, registered through the REST API.
start cpu-burner "$build/tests/workload" spin 0.5
cpu_pid=${pids[-1]}
start memory-grower "$build/tests/workload" grow 8 512
mem_pid=${pids[-1]}
start disk-writer "$build/tests/workload" writeloop "$run_dir/disk-writer.dat" 4
disk_pid=${pids[-1]}
register() {  # register ID PID PROFILE
  curl -sf -X POST "http://127.0.0.1:$EXPORTER_PORT/api/v1/tasks" \
    -H 'Content-Type: application/json' \
    -d "{\"id\":\"$1\",\"name\":\"$1\",\"pid\":$2,\"monitoring_profile\":\"$3\"}" >/dev/null \
    || { echo "demo: registering $1 failed" >&2; exit 1; }
}
register cpu-burner "$cpu_pid" intensive
register memory-grower "$mem_pid" standard
register disk-writer "$disk_pid" batch
# A short batch job every 20 s under `propmon-exporter run`, so that results
# (one in four fails with exit 3) reach the MQTT results topic and the
# completed/failed counters.
start batch-jobs bash -c '
  n=0
  while true; do
    n=$((n+1)); code=0; [ $((n % 4)) -eq 0 ] && code=3
    "$0" run --config.file "$1" --task-id "batch-$n" --profile intensive -- \
      "$2" burn 1 exit "$code" || true
    sleep 20
  done' "$build/exporter/propmon-exporter" "$run_dir/exporter.yml" "$build/tests/workload"

# 4. Bridge.
have_bridge=false
if [ -x "$build/bridge/propmon-bridge" ]; then
  have_bridge=true
  start bridge "$build/bridge/propmon-bridge" --web.listen-address "127.0.0.1:$BRIDGE_PORT" \
    --mqtt.url "tcp://127.0.0.1:$MQTT_PORT" --config.file deploy/bridge/demo-devices.yaml
  wait_http "http://127.0.0.1:$BRIDGE_PORT/-/ready" bridge
  # Two fake room sensors for the bridge's configurable mapping, every 5 s.
  start fake-sensors bash -c '
    while true; do
      for room in kitchen office; do
        t=$((200 + RANDOM % 60)); h=$((40 + RANDOM % 20))
        mosquitto_pub -h 127.0.0.1 -p "$0" -t "demo/rooms/$room/dht22" \
          -m "{\"temperature\":${t:0:2}.${t:2},\"humidity\":$h,\"battery\":\"ok\"}" || true
      done
      sleep 5
    done' "$MQTT_PORT"
fi

# 5. Alert webhook, Alertmanager, Prometheus with the rules.
start alert-log python3 deploy/webhook/alert_log.py --listen "127.0.0.1:$HOOK_PORT"
sed "s#http://127.0.0.1:5001/#http://127.0.0.1:$HOOK_PORT/#" alertmanager/alertmanager.yml \
  >"$run_dir/alertmanager.yml"
start alertmanager prometheus-alertmanager --config.file "$run_dir/alertmanager.yml" \
  --web.listen-address "127.0.0.1:$AM_PORT" --storage.path "$run_dir/am-data" \
  --cluster.listen-address ""
bridge_target=""
$have_bridge && bridge_target="
  - job_name: propmon-bridge
    static_configs:
      - targets: ['127.0.0.1:$BRIDGE_PORT']"
cat >"$run_dir/prometheus.yml" <<YML
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $root/rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:$AM_PORT']
scrape_configs:
  - job_name: propmon-exporter
    static_configs:
      - targets: ['127.0.0.1:$EXPORTER_PORT']$bridge_target
YML
start prometheus prometheus --config.file "$run_dir/prometheus.yml" \
  --web.listen-address "127.0.0.1:$PROM_PORT" --storage.tsdb.path "$run_dir/prom-data"
wait_http "http://127.0.0.1:$PROM_PORT/-/ready" prometheus

graph="http://127.0.0.1:$PROM_PORT/graph?g0.expr=proplet_task_cpu_usage_ratio&g0.tab=0&g0.range_input=15m&g1.expr=proplet_task_memory_bytes&g1.tab=0&g1.range_input=15m"
cat <<MSG

propmon demo is running (logs in $run_dir). Open:
  Prometheus graph of the sample tasks  $graph
  Prometheus alerts                     http://127.0.0.1:$PROM_PORT/alerts
  exporter metrics                      http://127.0.0.1:$EXPORTER_PORT/metrics
  exporter tasks (JSON)                 http://127.0.0.1:$EXPORTER_PORT/api/v1/tasks
  exporter system information           http://127.0.0.1:$EXPORTER_PORT/api/v1/system
  one task's history (Propeller format) http://127.0.0.1:$EXPORTER_PORT/api/v1/tasks/cpu-burner/metrics
MSG
if $have_bridge; then
cat <<MSG
  bridge metrics                        http://127.0.0.1:$BRIDGE_PORT/metrics
  bridge proplets (JSON)                http://127.0.0.1:$BRIDGE_PORT/api/v1/proplets
  manager-compatible task history       http://127.0.0.1:$BRIDGE_PORT/tasks/cpu-burner/metrics
  bridge mappings, last message each    http://127.0.0.1:$BRIDGE_PORT/api/v1/debug/mappings
  fake room sensors (configured mapping) curl -s http://127.0.0.1:$BRIDGE_PORT/metrics | grep ^room_
MSG
fi
cat <<MSG
  Alertmanager                          http://127.0.0.1:$AM_PORT
  MQTT feed: mosquitto_sub -p $MQTT_PORT -t 'm/+/c/+/control/proplet/#' -v
Press Ctrl-C to stop everything.
MSG

if [ -n "${PROPMON_DEMO_EXIT_AFTER:-}" ]; then
  sleep "$PROPMON_DEMO_EXIT_AFTER"
  exit 0
fi
while true; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "demo: process $pid exited; see $run_dir" >&2
      exit 1
    fi
  done
  sleep 2
done
