#!/usr/bin/env bash
# bench/compare.sh: both daemons measured whole, as they run, side by side with
# the anchors and the floor, one after another on this machine; prints ONE
# markdown table (stdout, row by row as each measurement ends; progress on
# stderr) and writes it to bench-results/compare-DATE.md (or $COMPARE_OUT).
#
# Usage: bench/compare.sh [exporter|profiles|bridge|all]     (default all)
#        QUICK=1 bench/compare.sh                             (a few minutes)
#
# Needs bash, python3 (stdlib only), curl, and the Debian packages
# prometheus-process-exporter, prometheus-node-exporter, mosquitto and
# mosquitto-clients. Builds what the section needs (propmon-exporter,
# propmon-bridge, bare_proc_read) in $PROPMON_BUILD_DIR (default
# build-release: Release, -DPROPMON_BUILD_BENCHMARKS=ON, -j2) when missing.
# Everything binds 127.0.0.1 on free ports; every process started here is
# killed by its PID on exit; the temporary directory is removed.
#
# How each figure is taken. CPU is utime+stime of the whole process from
# /proc/PID/stat (clock ticks, 10 ms: a figure's resolution is one tick
# divided by what it is divided by; the exporter rows say it); RSS and HWM are VmRSS and VmHWM, threads Threads:,
# from /proc/PID/status at the end of the window. A cell with repeats is
# "median [min-max]" over REPEATS windows.
#
# exporter: for N in EXPORTER_NS idle processes (a copy of /bin/sleep named
#   pmbsleep, fresh for each N), for each profile in EXPORTER_PROFILES:
#   - propmon-exporter (no MQTT: the environment is cleared; max_tasks raised;
#     host collectors on, as deployed), each process registered as a task with
#     POST /api/v1/tasks. `intensive` is sent as {"interval":1,"history_size":
#     EXPORTER_HISTORY} (the issue's setting; EXPORTER_HISTORY=preset sends
#     the preset names, history 1000), `standard` as {"interval":10,...}
#     (its preset history is 100). After WARMUP_INTERVALS intervals, one
#     window: the daemon's CPU over INTENSIVE_SECONDS / STANDARD_SECONDS with
#     no scrape in between, divided by the task samples it counted in that
#     time (propmon_exporter_task_samples_total, read by one scrape just
#     before and one just after): CPU per task-sample of the whole daemon,
#     the issue's definition. Then a burst of back-to-back scrapes of
#     /metrics (at least 5 and ~1 s of them): "scrape CPU ms" per scrape and
#     the latency. Notes: the collection pass alone
#     (propmon_exporter_task_collection_seconds_total / samples); the cost
#     per task-sample with one scrape per sampling interval, computed from
#     the two measured parts; the samples against N x window / interval; how
#     full the history was.
#   - the anchors on the same processes: prometheus-process-exporter with
#     one group per pid ({{.PID}} over comm pmbsleep) and with its default
#     grouping by comm (-procnames pmbsleep), and prometheus-node-exporter
#     --collector.disable-defaults --collector.processes. Each is scraped
#     once per sampling interval over the same window (after 2 warm-up
#     scrapes back to back): CPU per process-scrape = CPU / (N x scrapes);
#     node_exporter reads every process on the host, so it is divided by
#     that count. They work only when scraped, so this is their whole cost.
#   - "/metrics ms": curl's time_total of those scrapes (--compressed, as
#     Prometheus asks), the median within a window (for propmon-exporter, of
#     the scrapes around and after the window).
#   - bare_proc_read (bench/bare_proc_read.c): stat, children, io, limits and
#     the fd directory of each of the N processes, its own CPU per process:
#     the floor.
#   - the idle daemon (0 tasks, scraped once): RSS, HWM, threads, CPU.
# profiles: seven propmon-exporter daemons at once on separate ports, one per
#   preset (standard minimal intensive batch realtime_api daemon, by name),
#   each with its own 10 sleeping processes as 10 tasks, and one with none;
#   no scrapes during PROFILE_SECONDS: CPU as % of one core, RSS, next to the
#   seed's table (minimal < 0.1 % ~1 MB, standard < 0.5 % ~2 MB, intensive
#   < 2 % ~5 MB) and the issue's target (a fifth of the seed's CPU). Notes:
#   the same minus the idle daemon of the same window.
# bridge: one mosquitto (max_queued_messages 0, sys_interval 1) and
#   BRIDGE_MESSAGES Propeller task_metrics messages (BRIDGE_TASKS tasks, 50 per
#   proplet, timestamps 1 s apart per round), pre-generated to a file and
#   published by one `mosquitto_pub -l` (QoS BRIDGE_QOS) flat out, REPEATS
#   times alternately to
#   - propmon-bridge (fresh each time, default settings, clean session): its
#     CPU from just before the publisher starts to the moment /health counts
#     every message (received + dropped), msg/s over that time, CPU per
#     message, RSS and HWM at the end; notes: the worker's own share
#     (propmon_bridge_message_processing_seconds_total / received, wall time)
#     and the REST history's memory (propmon_bridge_history_bytes);
#   - `mosquitto_sub -t 'm/#' -C N > /dev/null` (the receiving floor): CPU and
#     peak RSS from wait4's rusage, msg/s up to its exit.
#   Then the bridge at twice its median sustained rate (paced by python into
#   `mosquitto_pub -l`) for OVERLOAD_SECONDS: published (the broker's
#   $SYS/broker/publish/messages/received), received and dropped from the
#   bridge's /metrics, dropped by the broker ($SYS/.../dropped); "unaccounted"
#   must be 0. Then series: a bridge with history_per_id 0, expiry 1h and a
#   high series limit is fed one message per new task until
#   propmon_bridge_series reaches each of BRIDGE_SERIES; bytes per series =
#   (VmRSS - VmRSS before the first message) / series; /metrics wall time by
#   curl, plain and --compressed, RENDER_REPEATS each (more for small bodies,
#   so that at least ~1 s of scrapes is timed), and the bridge's CPU per
#   scrape. mqtt2prometheus' figures from the issue are a reference row, not
#   measured here (it is not packaged).
#
# Environment (defaults; QUICK=1 values in brackets):
#   PROPMON_BUILD_DIR=build-release  COMPARE_OUT=bench-results/compare-DATE.md
#   REPEATS=3 [1]  EXPORTER_NS="10 100 1000 5000" ["10 100 1000"]
#   EXPORTER_PROFILES="intensive standard"  EXPORTER_HISTORY=100
#   INTENSIVE_SECONDS=30 [5]  STANDARD_SECONDS=60 [10]  WARMUP_INTERVALS=2 [1]
#   IDLE_SECONDS=30 [5]  BARE_SAMPLES=200000 [20000] (process reads per run)
#   PROFILE_SECONDS=300 [30]  PROFILE_REPEATS=1
#   BRIDGE_MESSAGES=200000 [50000]  BRIDGE_TASKS=5000
#   OVERLOAD_SECONDS=10 [5]  BRIDGE_SERIES="10000 100000 300000" ["10000"]
#   RENDER_REPEATS=5 [3]  BRIDGE_QOS=0 (the publisher's QoS; the bridge and
#   mosquitto_sub subscribe at QoS 1)
set -euo pipefail
cd "$(dirname "$0")/.."

section=${1:-all}
case $section in exporter | profiles | bridge | all) ;; *)
  echo "usage: $0 [exporter|profiles|bridge|all]" >&2
  exit 2
  ;;
esac
if [ "${QUICK:-0}" = 1 ]; then
  q=1
else
  q=0
fi
pick() { if [ "$q" = 1 ]; then echo "$2"; else echo "$1"; fi; }
BUILD=${PROPMON_BUILD_DIR:-build-release}
REPEATS=${REPEATS:-$(pick 3 1)}
EXPORTER_NS=${EXPORTER_NS:-$(pick "10 100 1000 5000" "10 100 1000")}
EXPORTER_PROFILES=${EXPORTER_PROFILES:-intensive standard}
EXPORTER_HISTORY=${EXPORTER_HISTORY:-100}
INTENSIVE_SECONDS=${INTENSIVE_SECONDS:-$(pick 30 5)}
STANDARD_SECONDS=${STANDARD_SECONDS:-$(pick 60 10)}
WARMUP_INTERVALS=${WARMUP_INTERVALS:-$(pick 2 1)}
IDLE_SECONDS=${IDLE_SECONDS:-$(pick 30 5)}
BARE_SAMPLES=${BARE_SAMPLES:-$(pick 200000 20000)}
PROFILE_SECONDS=${PROFILE_SECONDS:-$(pick 300 30)}
PROFILE_REPEATS=${PROFILE_REPEATS:-1}
BRIDGE_MESSAGES=${BRIDGE_MESSAGES:-$(pick 200000 50000)}
BRIDGE_TASKS=${BRIDGE_TASKS:-5000}
OVERLOAD_SECONDS=${OVERLOAD_SECONDS:-$(pick 10 5)}
BRIDGE_SERIES=${BRIDGE_SERIES:-$(pick "10000 100000 300000" "10000")}
RENDER_REPEATS=${RENDER_REPEATS:-$(pick 5 3)}
export BRIDGE_QOS=${BRIDGE_QOS:-0}
if [ -z "${COMPARE_OUT:-}" ]; then
  mkdir -p bench-results
  # Results are not sources: keep them out of git without touching .gitignore.
  [ -e bench-results/.gitignore ] || printf '*\n' >bench-results/.gitignore
  COMPARE_OUT=bench-results/compare-$(date +%Y%m%d-%H%M%S).md
fi

EXPORTER=$BUILD/exporter/propmon-exporter
BRIDGE=$BUILD/bridge/propmon-bridge
BARE=$BUILD/bench/bare_proc_read
need=() # the binaries this section uses that are not built yet
case $section in exporter | profiles | all) [ -x "$EXPORTER" ] || need+=(propmon-exporter) ;; esac
case $section in exporter | all) [ -x "$BARE" ] || need+=(bare_proc_read) ;; esac
case $section in bridge | all) [ -x "$BRIDGE" ] || need+=(propmon-bridge) ;; esac
if ((${#need[@]})); then
  echo "compare: building ${need[*]} in $BUILD" >&2
  export CCACHE_DIR=${CCACHE_DIR:-/work/.ccache} CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPROPMON_BUILD_BENCHMARKS=ON >&2
  cmake --build "$BUILD" -j2 --target "${need[@]}" >&2
fi
tools=(curl python3)
case $section in exporter | all) tools+=(prometheus-process-exporter prometheus-node-exporter) ;; esac
case $section in bridge | all) tools+=(mosquitto_pub mosquitto_sub) ;; esac
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "compare: $tool not found" >&2; exit 1; }
done
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

tmp=$(mktemp -d)
PIDS=()     # daemons and helpers running now
SLEEPERS=() # the idle processes of the current N
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((${#PIDS[@]})); then kill "${PIDS[@]}" 2>/dev/null || true; fi
  if ((${#SLEEPERS[@]})); then kill "${SLEEPERS[@]}" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "compare: $*" >&2; }
forget() { # forget PID: drop it from PIDS
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
spawn() { # spawn LOG CMD...: start CMD in the background; its pid in SPAWNED
  local out=$1
  shift
  "$@" >"$out" 2>&1 &
  SPAWNED=$!
  PIDS+=("$SPAWNED")
}
stop() { # stop PID: SIGTERM, reap, forget
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}
run() { # run CMD...: in the background and wait, so a signal ends us at once
  "$@" &
  local p=$! rc=0
  PIDS+=("$p")
  wait "$p" || rc=$?
  forget "$p"
  return "$rc"
}
nap() { run sleep "$1"; }
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() { # wait_http URL: up to 20 s for a 200
  local i
  for i in $(seq 200); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  log "no answer from $1"
  return 1
}
start_sleepers() { # start_sleepers N
  local i
  for ((i = 0; i < $1; i++)); do
    "$tmp/pmbsleep" 86400 &
    SLEEPERS+=($!)
  done
}
stop_sleepers() {
  if ((${#SLEEPERS[@]})); then
    kill "${SLEEPERS[@]}" 2>/dev/null || true
    wait "${SLEEPERS[@]}" 2>/dev/null || true
  fi
  SLEEPERS=()
}
cp /bin/sleep "$tmp/pmbsleep"

# ---------------------------------------------------------------------------
# The Python half: measurement windows, registration, message generation and
# pacing, and the table (records in $tmp/records.jsonl, one per repeat).
cat >"$tmp/h.py" <<'PY'
import datetime, http.client, json, math, os, re, signal, statistics
import subprocess, sys, threading, time, urllib.request

TCK = os.sysconf("SC_CLK_TCK")
RECORDS = os.environ["CMP_RECORDS"]
TABLE = os.environ["CMP_TABLE"]
CHILDREN = []


def on_signal(sig, _frame):
    for p in CHILDREN:
        if p.returncode is None:
            try:
                p.kill()
            except OSError:
                pass
    os._exit(128 + sig)


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)


def popen(*a, **kw):
    p = subprocess.Popen(*a, **kw)
    CHILDREN.append(p)
    return p


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    f = s[s.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / TCK


def status(pid):
    d = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                d[k] = int(v.split()[0])
    return {"rss_mb": d["VmRSS"] / 1024, "hwm_mb": d["VmHWM"] / 1024,
            "threads": d["Threads"]}


def metric(text, name):
    """Sum of every sample of NAME in Prometheus text; None when absent."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name) or len(line) == len(name):
            continue
        c = line[len(name)]
        if c == "{":
            rest = line[line.rindex("}") + 1:]
        elif c == " ":
            rest = line[len(name):]
        else:
            continue
        total += float(rest.split()[0])
        found = True
    return total if found else None


def get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def record(**kw):
    with open(RECORDS, "a") as f:
        f.write(json.dumps(kw) + "\n")


def curl(url, out=os.devnull, gz=True):
    cmd = ["curl", "-s", "-o", out, "-w", "%{time_total} %{http_code} %{size_download}"]
    if gz:
        cmd.append("--compressed")
    r = subprocess.run(cmd + [url], capture_output=True, text=True)
    t, code, size = r.stdout.split()
    if code != "200":
        sys.exit(f"compare: {url} answered {code}")
    return float(t), int(size)


def args_dict(argv):
    d = {}
    for a in argv:
        k, _, v = a.partition("=")
        d[k.lstrip("-")] = v
    return d


# -- exporter -----------------------------------------------------------------
def cmd_register(a):
    """POST one task per pid; profile is a JSON value (name or object)."""
    port, prof = int(a["port"]), json.loads(a["profile"])
    pids = [int(x) for x in open(a["pids"]).read().split()]
    t0 = time.monotonic()
    for i, pid in enumerate(pids):
        body = json.dumps({"id": f"{a['prefix']}-{i}", "functionName": "bench",
                           "pid": pid, "monitoringProfile": prof})
        # One connection per request: on a kept-alive connection each POST
        # waited ~40 ms (delayed ACK against Nagle) on this VM.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/api/v1/tasks", body,
                     {"Content-Type": "application/json", "Connection": "close"})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        if r.status != 201:
            sys.exit(f"compare: registering pid {pid}: {r.status} {data[:200]!r}")
    print(f"compare: registered {len(pids)} tasks in {time.monotonic() - t0:.1f} s",
          file=sys.stderr)


def scrape_burst(pid, url, first_latency):
    """Back-to-back scrapes (at least 5, and ~1 s of them, at most 100): the
    daemon's CPU per scrape in ms and curl's wall times."""
    n = min(100, max(5, math.ceil(1.0 / max(first_latency, 1e-3))))
    c0 = cpu_s(pid)
    lat = [curl(url)[0] for _ in range(n)]
    return (cpu_s(pid) - c0) / n * 1000, lat


def cmd_xwindow(a):
    """propmon-exporter: CPU over SECONDS with no scrape in between (the
    samples counter read by one scrape just before and one just after),
    per task-sample; then a burst of scrapes, timed and costed apart."""
    pid, url, n = int(a["pid"]), a["url"], int(a["n"])
    interval, secs = float(a["interval"]), float(a["seconds"])
    first, last = a["tmp"] + "/first.txt", a["tmp"] + "/last.txt"
    lat = [curl(url, first)[0]]
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(secs)
    c1, t1 = cpu_s(pid), time.monotonic()
    st = status(pid)
    lat.append(curl(url, last)[0])
    scrape_ms, burst = scrape_burst(pid, url, lat[-1])
    lat += burst
    b0, b1 = open(first).read(), open(last).read()
    name = "propmon_exporter_task_samples_total"
    s = metric(b1, name) - metric(b0, name)
    col = metric(b1, "propmon_exporter_task_collection_seconds_total") - \
        metric(b0, "propmon_exporter_task_collection_seconds_total")
    cpu = c1 - c0
    extra = {}
    if s:
        extra["collection pass us/sample"] = col / s * 1e6
        # The whole cost if Prometheus scraped once per sampling interval.
        extra["with a scrape per interval us/sample"] = \
            (cpu + scrape_ms / 1000 * (t1 - t0) / interval) / s * 1e6
    extra["scrape CPU ms"] = scrape_ms
    hist = float(a["history"])
    if hist:
        extra["history full %"] = min(100.0, metric(b1, name) / n / hist * 100)
    notes = (f"{s:.0f} samples in {t1 - t0:.0f} s (N x s/interval = "
             f"{n * (t1 - t0) / interval:.0f}); tick = {1e6 / TCK / s:.2g} us"
             if s else "no samples")
    record(key=a["key"], section="exporter", subject=a["subject"], setting=a["setting"],
           target=a.get("target", ""), cpu=cpu / s * 1e6 if s else None,
           cpu_unit="us/task-sample", lat_ms=statistics.median(lat) * 1000,
           extra=extra, notes=notes, **st)


def cmd_window(a):
    """An anchor: scrape URL once, then every INTERVAL s SCRAPES times; its
    CPU in between per process and scrape."""
    pid, url, n = int(a["pid"]), a["url"], int(a["n"])
    interval, k = float(a["interval"]), int(a["scrapes"])
    last = a["tmp"] + "/last.txt"
    for _ in range(int(a.get("warm", "0"))):
        curl(url)
    lat = [curl(url)[0]]
    c0, t0 = cpu_s(pid), time.monotonic()
    for i in range(1, k + 1):
        d = t0 + i * interval - time.monotonic()
        if d > 0:
            time.sleep(d)
        lat.append(curl(url, last if i == k else os.devnull)[0])
    c1, t1 = cpu_s(pid), time.monotonic()
    st = status(pid)
    host = sum(1 for d in os.listdir("/proc") if d.isdigit())
    if a["denom"] == "host":
        procs = host
        notes = f"divided by the processes on the host ({host})"
    else:
        procs = n
        body = open(last).read()
        groups = sum(1 for l in body.splitlines()
                     if l.startswith("namedprocess_namegroup_num_procs{"))
        seen = metric(body, "namedprocess_namegroup_num_procs") or 0
        notes = (f"divided by N; it saw {seen:.0f} processes, groups: {groups}; "
                 f"{host} processes on the host")
    if (t1 - t0) > k * interval * 1.2:
        notes += f"; scrapes overran: {k} in {t1 - t0:.0f} s"
    record(key=a["key"], section="exporter", subject=a["subject"], setting=a["setting"],
           target=a.get("target", ""), cpu=(c1 - c0) / (procs * k) * 1e6,
           cpu_unit="us/process-scrape", lat_ms=statistics.median(lat) * 1000,
           extra={}, notes=notes, **st)


def cmd_idle(a):
    pid, secs = int(a["pid"]), float(a["seconds"])
    c0, t0 = cpu_s(pid), time.monotonic()
    time.sleep(secs)
    c1, t1 = cpu_s(pid), time.monotonic()
    record(key=a["key"], section="exporter", subject=a["subject"],
           setting=a["setting"], target=a.get("target", ""),
           cpu=(c1 - c0) / (t1 - t0) * 100, cpu_unit="% core", extra={},
           notes="after one scrape", **status(pid))


def cmd_bare(a):
    out = subprocess.run([a["bin"], a["rounds"]], stdin=open(a["pids"]),
                         capture_output=True, text=True, check=True).stdout
    us = float(re.search(r"cpu_us_per_process_sample=([0-9.]+)", out).group(1))
    record(key=a["key"], section="exporter", subject=a["subject"],
           setting=a["setting"], target="", cpu=us, cpu_unit="us/process-read",
           extra={}, notes=f"{a['rounds']} rounds of N processes, flat out")


def cmd_flatness(a):
    """Max/min of the exporter's median CPU per task-sample over N >= 100."""
    recs = [json.loads(l) for l in open(RECORDS)]
    for prof in a["profiles"].split():
        meds = {}
        for r in recs:
            if r["section"] == "exporter" and r["subject"] == "propmon-exporter" \
                    and r["setting"].endswith(f" {prof}") and r.get("cpu"):
                n = int(r["setting"].split(",")[0][2:])
                if n >= 100:
                    meds.setdefault(n, []).append(r["cpu"])
        if len(meds) < 2:
            continue
        m = {n: statistics.median(v) for n, v in meds.items()}
        lo, hi = min(m.values()), max(m.values())
        ns = sorted(m)
        record(key=f"flat-{prof}", section="exporter",
               subject="propmon-exporter, cost flatness", setting=f"N={ns[0]}..{ns[-1]}, {prof}",
               target="<= 1.5x", cpu_text=f"{hi / lo:.2f}x (max/min of medians)", extra={},
               notes=", ".join(f"N={n}: {m[n]:.1f}" for n in ns))


# -- profiles -----------------------------------------------------------------
def cmd_profiles(a):
    """a: secs, repeats, then name=pid:port,... ; 'idle' is the baseline."""
    secs, reps = float(a["seconds"]), int(a["repeats"])
    inst = {}
    for item in a["instances"].split(","):
        name, pp = item.split("=")
        pid, port = pp.split(":")
        inst[name] = (int(pid), int(port))
    seed = {"minimal": ("< 0.1 %, ~1 MB", 0.02), "standard": ("< 0.5 %, ~2 MB", 0.1),
            "intensive": ("< 2 %, ~5 MB", 0.4)}
    for rep in range(reps):
        s0 = {n: metric(get(f"http://127.0.0.1:{p}/metrics"), "propmon_exporter_task_samples_total")
              for n, (pid, p) in inst.items()}
        c0 = {n: cpu_s(pid) for n, (pid, p) in inst.items()}
        t0 = time.monotonic()
        time.sleep(secs)
        c1 = {n: cpu_s(pid) for n, (pid, p) in inst.items()}
        t1 = time.monotonic()
        st = {n: status(pid) for n, (pid, p) in inst.items()}
        s1 = {n: metric(get(f"http://127.0.0.1:{p}/metrics"), "propmon_exporter_task_samples_total")
              for n, (pid, p) in inst.items()}
        pct = {n: (c1[n] - c0[n]) / (t1 - t0) * 100 for n in inst}
        print(f"compare: profiles window {rep + 1}/{reps}: " +
              ", ".join(f"{n} {pct[n]:.3f} %" for n in inst), file=sys.stderr)
        for n in inst:
            if n == "idle":
                target, setting = "", "0 tasks"
            else:
                s, t = seed.get(n, (None, None))
                target = f"seed {s}; <= {t} % (a fifth)" if s else "no seed figure"
                setting = f"10 tasks, {n}"
            extra = {}
            if n != "idle" and "idle" in inst:
                extra = {"CPU - idle %": pct[n] - pct["idle"],
                         "RSS - idle MB": st[n]["rss_mb"] - st["idle"]["rss_mb"]}
            record(key=f"prof-{n}", section="profiles", subject="propmon-exporter",
                   setting=setting, target=target, cpu=pct[n], cpu_unit="% core",
                   extra=extra, notes=f"{s1[n] - s0[n]:.0f} samples in {t1 - t0:.0f} s; "
                   f"tick = {100 / TCK / (t1 - t0):.2g} %",
                   **st[n])


# -- bridge -------------------------------------------------------------------
TOPIC = "m/dom-1/c/chan-1/control/proplet/task_metrics"
QOS = os.environ.get("BRIDGE_QOS", "0")
BASE = datetime.datetime(2025, 1, 15, 10, 0, 0)


def payloads(count, tasks, first=0):
    """COUNT task_metrics lines over TASKS tasks (ids from FIRST), 50 tasks
    per proplet, one timestamp per round of TASKS messages, 1 s apart."""
    tmpl = ('{"task_id":"550e8400-e29b-41d4-a716-%012d","proplet_id":'
            '"7c9e6679-7425-40de-944b-%012d","metrics":{"cpu_percent":23.5,'
            '"memory_bytes":52428800,"memory_percent":1.2,"disk_read_bytes":1048576,'
            '"disk_write_bytes":524288,"network_rx_bytes":2048,"network_tx_bytes":4096,'
            '"uptime_seconds":45,"thread_count":2,"file_descriptor_count":8},'
            '"aggregated":{"avg_cpu_usage":38.2,"max_cpu_usage":65.0,'
            '"avg_memory_usage":62914560,"max_memory_usage":71303168,'
            '"total_disk_read":2097152,"total_disk_write":1048576,'
            '"total_network_rx":12288,"total_network_tx":24576,"sample_count":24},'
            '"timestamp":"%s"}\n')
    for i in range(count):
        t = first + i % tasks
        if i % tasks == 0:
            ts = (BASE + datetime.timedelta(seconds=i // tasks)).strftime("%Y-%m-%dT%H:%M:%S.123456Z")
        yield (tmpl % (t, t // 50, ts)).encode()


def cmd_gen(a):
    with open(a["out"], "wb") as f:
        for line in payloads(int(a["count"]), int(a["tasks"]), int(a.get("first", "0"))):
            f.write(line)


def broker_sys(port):
    """$SYS publish counters of the broker, once they stopped changing (they
    are retained and refreshed every second)."""
    prev = broker_sys_once(port)
    while True:
        time.sleep(1.5)
        cur = broker_sys_once(port)
        if cur == prev:
            return cur
        prev = cur


def broker_sys_once(port):
    out = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-v", "-C", "2", "-W", "5",
         "-t", "$SYS/broker/publish/messages/received",
         "-t", "$SYS/broker/publish/messages/dropped"],
        capture_output=True, text=True).stdout
    d = {}
    for line in out.splitlines():
        k, _, v = line.rpartition(" ")
        d[k.rsplit("/", 1)[-1]] = int(v)
    return d


def health(port):
    h = json.loads(get(f"http://127.0.0.1:{port}/health"))
    return h["messages"]["received"] + h["messages"]["dropped"], h


def publisher(port, msgs, rate, count, tasks):
    cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", QOS,
           "-t", TOPIC, "-l"]
    if not rate:
        return popen(cmd, stdin=open(msgs, "rb")), None
    p = popen(cmd, stdin=subprocess.PIPE)
    done = {}

    def pace():
        batch = max(1, int(rate / 200))
        t0 = time.monotonic()
        buf, sent = [], 0
        for line in payloads(count, tasks):
            buf.append(line)
            if len(buf) == batch:
                p.stdin.write(b"".join(buf))
                sent += len(buf)
                buf = []
                d = t0 + sent / rate - time.monotonic()
                if d > 0:
                    time.sleep(d)
        p.stdin.write(b"".join(buf))
        sent += len(buf)
        p.stdin.close()
        done["s"] = time.monotonic() - t0
        done["n"] = sent

    th = threading.Thread(target=pace, daemon=True)
    th.start()
    return p, (th, done)


def wait_sub_log(log, cid, timeout=20):
    pat = re.compile(rf": {re.escape(cid)} \d+ ")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(pat.search(l) for l in open(log, errors="replace")):
            return
        time.sleep(0.05)
    sys.exit(f"compare: {cid} did not subscribe")


def cmd_feed(a):
    """Publish COUNT messages (file, flat out; or generated at RATE) and
    measure the receiver: the bridge (pid, http) or a mosquitto_sub."""
    mport, count = int(a["mport"]), int(a["count"])
    rate = float(a.get("rate", "0"))
    tasks = int(a.get("tasks", "5000"))
    stall = float(a.get("stall", "15"))
    kind = a["kind"]
    if kind == "sub":
        cid = f"benchsub-{os.getpid()}"
        sub = popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mport), "-i", cid,
                     "-q", "1", "-t", "m/#", "-C", str(count)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_sub_log(a["mqlog"], cid)
    else:
        pid, hport = int(a["pid"]), int(a["hport"])
        n0, _ = health(hport)
        c0 = cpu_s(pid)
    sys0 = broker_sys(mport) if a.get("sys") else None
    t0 = time.monotonic()
    pub, pacer = publisher(mport, a.get("msgs"), rate, count, tasks)
    rec = dict(key=a["key"], section="bridge", subject=a["subject"],
               setting=a["setting"], target=a.get("target", ""), extra={})
    if kind == "sub":
        end = t0 + float(a.get("timeout", "600"))
        while True:
            wpid, st, ru = os.wait4(sub.pid, os.WNOHANG)
            if wpid:
                sub.returncode = st
                break
            if time.monotonic() > end:
                sub.kill()
                sys.exit("compare: mosquitto_sub timed out (messages lost?)")
            time.sleep(0.005)
        t1 = time.monotonic()
        pub.wait()
        rec.update(cpu=(ru.ru_utime + ru.ru_stime) / count * 1e6, cpu_unit="us/msg",
                   rate=count / (t1 - t0), hwm_mb=ru.ru_maxrss / 1024,
                   notes=f"{count} received; peak RSS from rusage")
    else:
        last_n, last_change = n0, time.monotonic()
        while True:
            n, _ = health(hport)
            now = time.monotonic()
            if n != last_n:
                last_n, last_change = n, now
            if n - n0 >= count:
                break
            if pub.poll() is not None and now - last_change > stall:
                break
            time.sleep(0.02)
        t1 = time.monotonic()
        c1 = cpu_s(pid)
        pub.wait()
        got = last_n - n0
        rec.update(cpu=(c1 - c0) / max(got, 1) * 1e6, cpu_unit="us/msg",
                   rate=got / (t1 - t0), **status(pid))
        m = get(f"http://127.0.0.1:{hport}/metrics")
        recv = metric(m, "propmon_bridge_messages_received_total")
        drop = metric(m, "propmon_bridge_messages_dropped_total")
        series = metric(m, "propmon_bridge_series")
        work = metric(m, "propmon_bridge_message_processing_seconds_total")
        rec["extra"]["worker wall us/msg"] = work / recv * 1e6 if recv else None
        rec["extra"]["history MB"] = metric(m, "propmon_bridge_history_bytes") / 1048576
        if sys0 is not None:
            sys1 = broker_sys(mport)
            published = sys1["received"] - sys0["received"]
            bdrop = sys1["dropped"] - sys0["dropped"]
            offered = pacer[1]["n"] / pacer[1]["s"] if pacer else 0
            un = published - recv - drop - bdrop
            rec["notes"] = (f"offered {offered:.0f} msg/s (2x = {rate:.0f}); published {published:.0f}, "
                            f"received {recv:.0f}, dropped by the bridge {drop:.0f}, "
                            f"by the broker {bdrop:.0f}; unaccounted {un:.0f}")
        else:
            rec["notes"] = f"received {recv:.0f}, dropped {drop:.0f}, {series:.0f} series"
            if got < count:
                rec["notes"] += f"; MISSING {count - got}"
    record(**rec)


def cmd_series(a):
    """Grow the bridge's series to each target; RSS per series, render time."""
    pid, hport, mport = int(a["pid"]), int(a["hport"]), int(a["mport"])
    reps = int(a["renders"])
    url = f"http://127.0.0.1:{hport}/metrics"
    base_rss = status(pid)["rss_mb"]
    sent = 0

    def send(ntasks):
        nonlocal sent
        f = a["tmp"] + "/series.txt"
        with open(f, "wb") as out:
            for line in payloads(ntasks, ntasks, sent):
                out.write(line)
        n0, _ = health(hport)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mport), "-q", "0",
                        "-t", TOPIC, "-l"], stdin=open(f, "rb"), check=True)
        end = time.monotonic() + 120
        while health(hport)[0] - n0 < ntasks:
            if time.monotonic() > end:
                sys.exit("compare: the bridge did not receive the series messages")
            time.sleep(0.05)
        sent += ntasks
        return health(hport)[1]["series"]

    series = send(100)
    per_task = series / 100
    for target in [int(x) for x in a["targets"].split()]:
        while series < target:
            series = send(max(1, math.ceil((target - series) / per_task)))
        time.sleep(1)
        st = status(pid)
        # Timed: RENDER_REPEATS scrapes of each kind, or more for small
        # bodies, so that the CPU figure covers at least ~1 s (ticks).
        t, _ = curl(url, gz=False)
        n = min(300, max(reps, math.ceil(1.0 / max(t, 1e-3))))
        plain, gz = [], []
        c0 = cpu_s(pid)
        for _ in range(n):
            t, size_plain = curl(url, gz=False)
            plain.append(t)
        c1 = cpu_s(pid)
        for _ in range(n):
            t, size_gz = curl(url, gz=True)
            gz.append(t)
        c2 = cpu_s(pid)
        cpu = f"plain {fmt((c1 - c0) / n * 1000)}; gzip {fmt((c2 - c1) / n * 1000)} ms/scrape"
        for i in range(n):
            record(key=f"series-{target}", section="bridge", subject="propmon-bridge",
                   setting=f"{target // 1000}k series", cpu_text=cpu,
                   lat_ms=plain[i] * 1000, lat_gz_ms=gz[i] * 1000,
                   target="<= 250 B/series" + ("; gzip <= 120 ms" if target >= 300000 else ""),
                   extra={"B/series": (st["rss_mb"] - base_rss) * 1048576 / series} if i == 0 else {},
                   notes=f"{series} series from {sent} tasks; body {size_plain / 1e6:.1f} MB, gzip {size_gz / 1e6:.2f} MB; "
                   f"{n} scrapes each; history off",
                   **(st if i == 0 else {}))


def cmd_bridge_ratio(a):
    recs = [json.loads(l) for l in open(RECORDS)]
    br = [r for r in recs if r["key"] == "bridge-flat"]
    sub = [r for r in recs if r["key"] == "sub-flat"]
    if not br or not sub:
        return
    mb = statistics.median
    cpu = mb([r["cpu"] for r in br]) / mb([r["cpu"] for r in sub])
    rate = mb([r["rate"] for r in br]) / mb([r["rate"] for r in sub])
    record(key="bridge-ratio", section="bridge", subject="propmon-bridge / mosquitto_sub",
           setting="medians of the rows above", cpu_text=f"{cpu:.2f}x",
           rate_text=f"{rate * 100:.0f} %", target="CPU <= 1.5x; msg/s >= 90 %",
           extra={}, notes="")


def cmd_median_rate(a):
    recs = [json.loads(l) for l in open(RECORDS) if '"bridge-flat"' in l]
    print(f"{statistics.median(r['rate'] for r in recs):.0f}")


def cmd_reference(a):
    record(key="m2p", section="bridge",
           subject="mqtt2prometheus (reference, not measured here)",
           setting="the issue's figures, a 2-core VM", cpu_text="~44 us/msg",
           rate_text="~20k per core", rss_text="18", lat_text="4500 at 300k series",
           target="", extra={}, notes="not packaged in Debian; bytes: ~4 KB per device")


# -- the table ----------------------------------------------------------------
COLS = ["section", "subject", "setting", "CPU", "msg/s", "RSS MB", "HWM MB",
        "threads", "/metrics ms", "notes", "target"]


def fmt(v):
    if v is None:
        return ""
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def agg(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return ""
    if all(isinstance(v, int) for v in vals):
        m = statistics.median_low(vals)
        return str(m) if min(vals) == max(vals) else f"{m} [{min(vals)}-{max(vals)}]"
    m = statistics.median(vals)
    if len(vals) == 1 or min(vals) == max(vals):
        return fmt(m)
    return f"{fmt(m)} [{fmt(min(vals))}-{fmt(max(vals))}]"


def cmd_header(a):
    print("| " + " | ".join(COLS) + " |")
    print("|" + "---|" * len(COLS))


def cmd_row(a):
    recs = [json.loads(l) for l in open(RECORDS)]
    recs = [r for r in recs if r["key"] == a["key"]]
    if not recs:
        return
    r0 = recs[-1]
    col = lambda k: agg([r.get(k) for r in recs])
    cpu = r0.get("cpu_text") or (col("cpu") + (" " + r0["cpu_unit"] if col("cpu") else ""))
    lat = r0.get("lat_text") or col("lat_ms")
    if any(r.get("lat_gz_ms") is not None for r in recs):
        lat = f"plain {col('lat_ms')}; gzip {col('lat_gz_ms')}"
    extras, keys = [], []
    for r in recs:
        keys += [k for k in r.get("extra", {}) if k not in keys]
    for k in keys:
        v = agg([r.get("extra", {}).get(k) for r in recs])
        if v:
            extras.append(f"{k} {v}")
    notes = "; ".join(x for x in extras + [r0.get("notes", "")] if x)
    cells = [r0["section"], r0["subject"], r0["setting"], cpu,
             r0.get("rate_text") or col("rate"), r0.get("rss_text") or col("rss_mb"),
             col("hwm_mb"), col("threads"), lat, notes, r0.get("target", "")]
    line = "| " + " | ".join(c.replace("|", "/") for c in cells) + " |"
    print(line, flush=True)
    with open(TABLE, "a") as f:
        f.write(line + "\n")


if __name__ == "__main__":
    try:
        globals()["cmd_" + sys.argv[1].replace("-", "_")](args_dict(sys.argv[2:]))
    finally:
        for p in CHILDREN:
            if p.returncode is None and p.poll() is None:
                p.kill()
                p.wait()
PY
export CMP_RECORDS=$tmp/records.jsonl CMP_TABLE=$tmp/rows.md
: >"$CMP_RECORDS"
: >"$CMP_TABLE"
h() { run python3 "$tmp/h.py" "$@"; }
row() { python3 "$tmp/h.py" row "key=$1"; }
# anchor KEY SUBJECT DENOM LOG CMD...: one anchor exporter on the same
# processes (@ADDR@ in CMD becomes 127.0.0.1:PORT), scraped once per interval over REPEATS windows; CPU is
# divided by N (DENOM n) or by the processes on the host (DENOM host). Uses
# the caller's n, prof, setting, interval, scrapes.
anchor() {
  local key=$1 subject=$2 denom=$3 log_file=$4
  shift 4
  log "exporter: N=$n $prof: $subject"
  local port pid r
  port=$(freeport)
  spawn "$log_file" "${@//@ADDR@/127.0.0.1:$port}"
  pid=$SPAWNED
  wait_http "http://127.0.0.1:$port/metrics"
  for ((r = 1; r <= REPEATS; r++)); do
    h window key="$key" subject="$subject" setting="$setting" \
      pid="$pid" url="http://127.0.0.1:$port/metrics" interval="$interval" \
      scrapes="$scrapes" n="$n" denom="$denom" warm=$((r == 1 ? 2 : 0)) tmp="$tmp"
  done
  stop "$pid"
  row "$key"
}

# ---------------------------------------------------------------------------
exporter_profile_json() { # exporter_profile_json PROFILE
  local interval
  case $1 in intensive) interval=1 ;; standard) interval=10 ;; *)
    log "EXPORTER_PROFILES: only intensive and standard"
    exit 2
    ;;
  esac
  if [ "$EXPORTER_HISTORY" = preset ]; then
    echo "\"$1\""
  else
    echo "{\"interval\":$interval,\"history_size\":$EXPORTER_HISTORY}"
  fi
}
interval_of() { case $1 in intensive) echo 1 ;; standard) echo 10 ;; esac; }
history_of() {
  if [ "$EXPORTER_HISTORY" != preset ]; then
    echo "$EXPORTER_HISTORY"
  elif [ "$1" = intensive ]; then
    echo 1000
  else
    echo 100
  fi
}
exporter_target() { # exporter_target N PROFILE
  local t=()
  { [ "$1" = 1000 ] && [ "$2" = intensive ]; } && t+=("<= 30 us")
  { [ "$1" = 5000 ] && [ "$2" = standard ]; } && t+=("<= 30 us")
  [ "$1" = 1000 ] && t+=("RSS <= 12 MB (history 100)")
  [ "$1" = 5000 ] && t+=("RSS <= 40 MB (history 100)" "scrape <= 50 ms")
  local IFS=';' s
  s="${t[*]}"
  echo "${s//;/; }"
}

start_exporter() { # start_exporter PORT NAME [max_tasks]: pid in SPAWNED
  printf 'max_tasks: %s\n' "${3:-100000}" >"$tmp/$2.yml"
  spawn "$tmp/$2.log" env -i PATH="$PATH" "$EXPORTER" \
    --web.listen-address="127.0.0.1:$1" --config.file="$tmp/$2.yml"
  wait_http "http://127.0.0.1:$1/-/ready"
}

section_exporter() {
  local n prof port pid interval secs scrapes r key setting
  log "exporter: idle daemon"
  port=$(freeport)
  start_exporter "$port" idle
  pid=$SPAWNED
  curl -s -o /dev/null "http://127.0.0.1:$port/metrics"
  for ((r = 1; r <= REPEATS; r++)); do
    h idle key=idle pid="$pid" seconds="$IDLE_SECONDS" subject="propmon-exporter, idle" \
      setting="0 tasks" target="RSS <= 4 MB; threads <= 4"
  done
  stop "$pid"
  row idle

  for n in $EXPORTER_NS; do
    log "exporter: N=$n: starting $n idle processes"
    start_sleepers "$n"
    printf '%s\n' "${SLEEPERS[@]}" >"$tmp/pids.txt"
    for prof in $EXPORTER_PROFILES; do
      interval=$(interval_of "$prof")
      if [ "$prof" = intensive ]; then secs=$INTENSIVE_SECONDS; else secs=$STANDARD_SECONDS; fi
      scrapes=$(((secs + interval - 1) / interval))
      setting="N=$n, $prof"

      log "exporter: N=$n $prof: propmon-exporter"
      port=$(freeport)
      start_exporter "$port" "e$n$prof"
      pid=$SPAWNED
      h register port="$port" profile="$(exporter_profile_json "$prof")" \
        pids="$tmp/pids.txt" prefix=bench
      nap $((WARMUP_INTERVALS * interval))
      key="px-$n-$prof"
      for ((r = 1; r <= REPEATS; r++)); do
        h xwindow key="$key" subject=propmon-exporter setting="$setting" pid="$pid" \
          url="http://127.0.0.1:$port/metrics" interval="$interval" seconds="$secs" \
          n="$n" history="$(history_of "$prof")" tmp="$tmp" \
          target="$(exporter_target "$n" "$prof")"
      done
      stop "$pid"
      row "$key"

      printf 'process_names:\n  - name: "{{.PID}}"\n    comm:\n      - pmbsleep\n' >"$tmp/pe.yml"
      anchor "pe-pid-$n-$prof" "process-exporter, group per pid" n "$tmp/pe.log" \
        prometheus-process-exporter -config.path "$tmp/pe.yml" -web.listen-address @ADDR@
      anchor "pe-comm-$n-$prof" "process-exporter, by comm" n "$tmp/pe.log" \
        prometheus-process-exporter -procnames pmbsleep -web.listen-address @ADDR@
      anchor "ne-$n-$prof" "node_exporter, processes collector" host "$tmp/ne.log" \
        prometheus-node-exporter --collector.disable-defaults \
        --collector.processes --web.listen-address=@ADDR@
    done

    log "exporter: N=$n: bare C reads"
    key="bare-$n"
    for ((r = 1; r <= REPEATS; r++)); do
      h bare key="$key" subject="bare C reads (floor)" setting="N=$n" bin="$BARE" \
        pids="$tmp/pids.txt" rounds=$(((BARE_SAMPLES + n - 1) / n))
    done
    row "$key"
    stop_sleepers
  done
  h flatness profiles="$EXPORTER_PROFILES"
  local p
  for p in $EXPORTER_PROFILES; do row "flat-$p"; done
}

section_profiles() {
  local name port inst="" i
  local presets="minimal standard intensive batch realtime_api daemon"
  log "profiles: 7 daemons (6 presets x 10 tasks, 1 idle), $PROFILE_REPEATS x $PROFILE_SECONDS s"
  for name in idle $presets; do
    port=$(freeport)
    start_exporter "$port" "p-$name" 4096
    inst+="${inst:+,}$name=$SPAWNED:$port"
    if [ "$name" != idle ]; then
      start_sleepers 10
      printf '%s\n' "${SLEEPERS[@]: -10}" >"$tmp/pids.txt"
      h register port="$port" profile="\"$name\"" pids="$tmp/pids.txt" prefix="$name"
    fi
  done
  nap 5
  h profiles seconds="$PROFILE_SECONDS" repeats="$PROFILE_REPEATS" instances="$inst"
  for name in $presets idle; do row "prof-$name"; done
  for i in ${inst//,/ }; do
    i=${i#*=}
    stop "${i%%:*}"
  done
  stop_sleepers
}

start_bridge() { # start_bridge NAME MPORT [EXTRA YAML]: pid in SPAWNED, port in BPORT
  BPORT=$(freeport)
  {
    printf 'mqtt:\n  url: tcp://127.0.0.1:%s\n  clean_start: true\n' "$2"
    printf 'web:\n  listen_address: 127.0.0.1:%s\n' "$BPORT"
    printf '%s' "${3:-}"
  } >"$tmp/$1.yml"
  spawn "$tmp/$1.log" env -i PATH="$PATH" "$BRIDGE" --config.file="$tmp/$1.yml"
  local i
  for i in $(seq 200); do
    curl -s "http://127.0.0.1:$BPORT/health" | grep -q '"subscribed":true' && return 0
    sleep 0.1
  done
  log "bridge $1 did not subscribe"
  return 1
}

section_bridge() {
  local mport pid r rate
  mport=$(freeport)
  {
    printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$mport"
    printf 'max_queued_messages 0\nsys_interval 1\n'
    # As root, mosquitto would drop to user mosquitto and fail to open its log.
    printf 'user %s\n' "$(id -un)"
    printf 'log_dest file %s\n' "$tmp/mq.log"
    printf 'log_type error\nlog_type warning\nlog_type notice\nlog_type subscribe\n'
  } >"$tmp/mq.conf"
  spawn "$tmp/mq.out" "$MOSQUITTO" -c "$tmp/mq.conf"
  local mq=$SPAWNED
  for r in $(seq 50); do
    [ -s "$tmp/mq.log" ] && grep -q running "$tmp/mq.log" && break
    sleep 0.1
  done
  log "bridge: generating $BRIDGE_MESSAGES messages ($BRIDGE_TASKS tasks)"
  h gen out="$tmp/msgs.txt" count="$BRIDGE_MESSAGES" tasks="$BRIDGE_TASKS"
  for ((r = 1; r <= REPEATS; r++)); do
    log "bridge: flat out $r/$REPEATS: propmon-bridge"
    start_bridge "b$r" "$mport"
    pid=$SPAWNED
    h feed kind=bridge key=bridge-flat subject=propmon-bridge \
      setting="$BRIDGE_MESSAGES msgs, QoS $BRIDGE_QOS, flat out" pid="$pid" hport="$BPORT" \
      mport="$mport" msgs="$tmp/msgs.txt" count="$BRIDGE_MESSAGES"
    stop "$pid"
    log "bridge: flat out $r/$REPEATS: mosquitto_sub"
    h feed kind=sub key=sub-flat subject="mosquitto_sub > /dev/null" \
      setting="$BRIDGE_MESSAGES msgs, QoS $BRIDGE_QOS, flat out" mport="$mport" mqlog="$tmp/mq.log" \
      msgs="$tmp/msgs.txt" count="$BRIDGE_MESSAGES"
  done
  row bridge-flat
  row sub-flat
  h bridge-ratio
  row bridge-ratio

  rate=$(python3 "$tmp/h.py" median-rate)
  rate=$((rate * 2))
  log "bridge: overload at $rate msg/s for $OVERLOAD_SECONDS s"
  start_bridge overload "$mport"
  pid=$SPAWNED
  h feed kind=bridge key=overload subject=propmon-bridge \
    setting="2x its sustained rate, QoS $BRIDGE_QOS, $OVERLOAD_SECONDS s" pid="$pid" hport="$BPORT" \
    mport="$mport" rate="$rate" count=$((rate * OVERLOAD_SECONDS)) tasks="$BRIDGE_TASKS" \
    sys=1 target="nothing silent: unaccounted 0"
  stop "$pid"
  row overload

  log "bridge: series $BRIDGE_SERIES"
  start_bridge series "$mport" \
    "$(printf 'limits:\n  series_limit: 5000000\n  history_per_id: 0\n  expiry: 1h\n')"
  pid=$SPAWNED
  h series pid="$pid" hport="$BPORT" mport="$mport" targets="$BRIDGE_SERIES" \
    renders="$RENDER_REPEATS" tmp="$tmp"
  stop "$pid"
  local s
  for s in $BRIDGE_SERIES; do row "series-$s"; done
  h reference
  row m2p
  stop "$mq"
}

# ---------------------------------------------------------------------------
{
  echo "# bench/compare.sh $section$([ "$q" = 1 ] && echo ' (QUICK)')"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -n), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo '+changes'), build $BUILD"
  echo "REPEATS=$REPEATS EXPORTER_NS=\"$EXPORTER_NS\" EXPORTER_HISTORY=$EXPORTER_HISTORY INTENSIVE_SECONDS=$INTENSIVE_SECONDS STANDARD_SECONDS=$STANDARD_SECONDS PROFILE_SECONDS=$PROFILE_SECONDS BRIDGE_MESSAGES=$BRIDGE_MESSAGES BRIDGE_SERIES=\"$BRIDGE_SERIES\""
  echo
} >"$tmp/head.md"
python3 "$tmp/h.py" header | tee -a "$tmp/head.md" >/dev/null
python3 "$tmp/h.py" header
case $section in
  exporter) section_exporter ;;
  profiles) section_profiles ;;
  bridge) section_bridge ;;
  all)
    section_exporter
    section_profiles
    section_bridge
    ;;
esac
mkdir -p "$(dirname "$COMPARE_OUT")"
cat "$tmp/head.md" "$CMP_TABLE" >"$COMPARE_OUT"
log "table written to $COMPARE_OUT"
