#!/usr/bin/env python3
"""Soak: the shipped stack under task churn and an MQTT flood for MINUTES.

harness.py starts mosquitto (deploy/mosquitto), propmon-bridge (its
defaults) and propmon-exporter (publishing, with a discovery entry). Then,
every second, until the end:
  - 83 processes named `soak-task` (a copy of sleep) start and live 1-3 s;
    the exporter's discovery (`discovery_interval: 1`) finds them as tasks
    `disc-PID`;
  - 83 processes named `soak-api` start and live 1-3 s, each registered
    through the REST API as task `api-N`;
    together 10 000 short-lived tasks a minute, sampled every second;
  - 5 000 task_metrics messages a second go to the broker (mosquitto_pub -l,
    QoS 1) for 5 000 flood tasks of 100 proplets; each flood task id lives
    60 s, and 1/60 of them is replaced every second.
Every minute it reports the RSS (VmRSS) and CPU of both daemons, their
series counts, what was dropped, and every series of an ended task still
present after its grace period: on the exporter 2 intervals after the end
(allowed: 10 s), on the bridge its expiry of 30 s (allowed: 60 s).

Pass: zero stale series at every check; and, for runs of 5 minutes or more,
RSS flat once the retention is full (the exporter's 1000 newest ended tasks,
the bridge's history at its memory cap, `limits.history_memory_bytes`, 256
MiB by default; and at least 3 minutes in): the median RSS of the last 5
minutes within 5 % of that of the first 5 warm minutes (a trend; bursts of
churn move the heap's high-water mark for a minute or two).

With PROPMON_SOAK_HEAP=1 it also asks each daemon's allocator, every
minute, how much memory it holds from the system and how much of that is in
use (gdb calls jemalloc's malloc_stats_print(): resident and allocated
bytes, or glibc's malloc_stats() in a build without jemalloc; the daemon
pauses for about a second): heap in use that stays flat while RSS grows is
fragmentation, not a leak.

Usage: soak_test.py BUILD_DIR SOURCE_DIR MINUTES
       (scripts/soak.sh MINUTES builds and runs it; scripts/test.sh runs a
       one-minute version as the ctest `soak_1min`)"""
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402

build, src, minutes = sys.argv[1], sys.argv[2], float(sys.argv[3])
st = Stack(build, src, "soak")
PER_SECOND = 83              # each of discovery and API: 2 x 83 x 60 ~ 10 000/min
FLOOD_RATE = 5000            # messages/s to the bridge
FLOOD_TASKS = 5000
FLOOD_LIFE = 60              # seconds a flood task id lives
EXPORTER_GRACE = 10.0        # seconds after a task's end its series may stay
BRIDGE_GRACE = 60.0
WARMUP_MIN = 3

ended = {}                   # task id -> Unix time it ended
ended_lock = threading.Lock()
stop = threading.Event()


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return cpu, rss


HEAP = os.environ.get("PROPMON_SOAK_HEAP") == "1"


def heap(daemon, pid):
    """(system, in use) bytes of the daemon's allocator, from gdb calling
    jemalloc's malloc_stats_print() (resident, allocated) or glibc's
    malloc_stats(); the report goes to the daemon's log."""
    with open(f"/proc/{pid}/maps") as f:
        jemalloc = "libjemalloc" in f.read()
    call = ('call (void) malloc_stats_print(0, 0, "gmdablxeh")' if jemalloc
            else "call (void) malloc_stats()")
    subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", call],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    text = st.log_text(daemon)
    if jemalloc:
        m = list(re.finditer(r"Allocated: (\d+), active: \d+, metadata: \d+.*?"
                             r"resident: (\d+)", text))
        return (int(m[-1].group(2)), int(m[-1].group(1))) if m else (0, 0)
    m = list(re.finditer(r"Total \(incl\. mmap\):\s*system bytes\s*=\s*(\d+)\s*"
                         r"in use bytes\s*=\s*(\d+)", text))
    return (int(m[-1].group(1)), int(m[-1].group(2))) if m else (0, 0)


def flood(pub):
    """5000 msg/s of task_metrics with current timestamps for rotating ids."""
    t0 = time.time()
    s = 0
    per_tick = FLOOD_RATE // 100
    while not stop.is_set():
        now = time.time()
        time.sleep(max(0.0, t0 + s - now))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z"
        for tick in range(100):
            lines = []
            for k in range(tick * per_tick, (tick + 1) * per_tick):
                gen = (s + k) // FLOOD_LIFE
                lines.append(
                    '{"task_id":"f%d-%d","proplet_id":"fp%d","metrics":'
                    '{"cpu_percent":1.5,"memory_bytes":%d},"timestamp":"%s"}\n'
                    % (k, gen, k % 100, 1048576 + k, stamp))
            try:
                pub.stdin.write("".join(lines).encode())
                pub.stdin.flush()
            except (BrokenPipeError, ValueError):
                return
            time.sleep(max(0.0, t0 + s + (tick + 1) / 100 - time.time()))
        # Ids whose last second was s have ended.
        with ended_lock:
            for k in range(FLOOD_TASKS):
                if (s + 1 + k) // FLOOD_LIFE != (s + k) // FLOOD_LIFE:
                    ended[f"f{k}-{(s + k) // FLOOD_LIFE}"] = time.time()
        s += 1


def churn(bin_task, bin_api):
    """83 discovery and 83 API tasks a second, each living 1-3 s."""
    alive = []           # (popen, id)
    n = 0
    url = f"http://127.0.0.1:{st.exporter_port}/api/v1/tasks"
    started = refused = 0
    next_tick = time.time()
    while not stop.is_set():
        for _ in range(PER_SECOND):
            life = f"{random.uniform(1, 3):.2f}"
            p = subprocess.Popen([bin_task, life])
            alive.append((p, f"disc-{p.pid}"))
            with ended_lock:
                ended.pop(f"disc-{p.pid}", None)  # a reused pid: alive again
            p = subprocess.Popen([bin_api, f"{random.uniform(1, 3):.2f}"])
            tid = f"api-{n}"
            n += 1
            alive.append((p, tid))
            body = json.dumps({"id": tid, "pid": p.pid, "name": "soak",
                               "monitoringProfile": "intensive"}).encode()
            req = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=10).read()
                started += 1
            except Exception:
                refused += 1
        still = []
        for p, tid in alive:
            if p.poll() is None:
                still.append((p, tid))
            else:
                with ended_lock:
                    ended[tid] = time.time()
        alive = still
        next_tick += 1
        time.sleep(max(0.0, next_tick - time.time()))
    for p, _ in alive:
        p.kill()
        p.wait()
    churn.counts = (started, refused, n)


def task_ids(text):
    ids = {}
    for m in re.finditer(r'^(proplet_task_[a-z_]+)\{[^}]*task_id="([^"]+)"', text, re.M):
        ids.setdefault(m.group(2), m.group(1))
    return ids


def stale(daemon, grace):
    text = (st.get_bridge if daemon == "bridge" else st.get_exporter)("/metrics")
    ids = task_ids(text)
    now = time.time()
    with ended_lock:
        old = [(tid, round(now - ended[tid], 1), series) for tid, series in ids.items()
               if tid in ended and now - ended[tid] > grace]
    return old, len(ids), text


def main():
    st.start_broker()
    st.start_bridge()
    bins = {}
    for name in ("soak-task", "soak-api"):
        bins[name] = os.path.join(st.tmp, name)
        shutil.copy(shutil.which("sleep"), bins[name])
    st.start_exporter("soak", extra_config=(
        "discovery_interval: 1\n"
        "tasks:\n"
        "  - id: \"disc-{{.PID}}\"\n"
        "    comm: [soak-task]\n"
        "    include_children: false\n"
        "    profile: intensive\n"))
    st.wait_exporter_connected()
    pub = subprocess.Popen(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(st.mqtt_port),
         "-u", st.DOMAIN, "-P", st.EXPORTER_KEY, "-q", "1", "-l",
         "-t", f"m/{st.DOMAIN}/c/flood/control/proplet/task_metrics"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    st.procs.append(pub)
    threads = [threading.Thread(target=flood, args=(pub,), daemon=True, name="flood"),
               threading.Thread(target=churn, args=(bins["soak-task"], bins["soak-api"]),
                                daemon=True, name="churn")]
    for t in threads:
        t.start()
    t_start = time.time()
    rows = []
    failures = []
    last = {"exporter": proc_stat(st.exporter.pid), "bridge": proc_stat(st.bridge.pid)}
    received0 = st.metric("bridge", "propmon_bridge_messages_received_total") or 0
    print("min | exporter RSS MiB, CPU % | bridge RSS MiB, CPU % | exporter tasks "
          "(running, ended) / task series | bridge series, msg/s | stale "
          "(exporter, bridge) | dropped (exporter mqtt, bridge queue) | exporter "
          "MQTT buffer MiB | bridge history MiB", flush=True)
    for m in range(1, int(max(1, minutes)) + 1):
        while time.time() < t_start + 60 * m:
            time.sleep(0.5)
            if stop.is_set():
                break
        row = {"minute": m}
        for d, p in (("exporter", st.exporter), ("bridge", st.bridge)):
            cpu, rss = proc_stat(p.pid)
            row[d + "_rss"] = rss
            row[d + "_cpu"] = (cpu - last[d][0]) / 60 * 100
            last[d] = (cpu, rss)
        heap_text = ""
        if HEAP:
            for d, p in (("exporter", st.exporter), ("bridge", st.bridge)):
                system, in_use = heap(d, p.pid)
                heap_text += (f" | {d} heap MiB: system {system / 2**20:.1f}, "
                              f"in use {in_use / 2**20:.1f}")
        ex_stale, ex_ids, ex_text = stale("exporter", EXPORTER_GRACE)
        br_stale, br_ids, br_text = stale("bridge", BRIDGE_GRACE)
        tasks = {m2.group(1): float(m2.group(2)) for m2 in re.finditer(
            r'^propmon_exporter_tasks\{state="(\w+)"\} (\S+)', ex_text, re.M)}
        series = float(re.search(r"^propmon_bridge_series (\S+)", br_text, re.M).group(1))
        received = st.metric("bridge", "propmon_bridge_messages_received_total") or 0
        ex_drop = st.metric("exporter", "propmon_exporter_mqtt_dropped_total") or 0
        ex_buf = st.metric("exporter", "propmon_exporter_mqtt_buffered_bytes") or 0
        hist = st.metric("bridge", "propmon_bridge_history_bytes") or 0
        evicted = st.metric("bridge", "propmon_bridge_history_evicted_total") or 0
        br_drop = st.metric("bridge", "propmon_bridge_messages_dropped_total") or 0
        rate = (received - received0) / 60
        received0 = received
        row.update(ex_stale=len(ex_stale), br_stale=len(br_stale), series=series,
                   full=evicted > 0 and tasks.get("ended", 0) >= 1000)
        rows.append(row)
        print(f"{m:3d} | {row['exporter_rss'] / 2**20:6.1f}, {row['exporter_cpu']:5.1f} | "
              f"{row['bridge_rss'] / 2**20:6.1f}, {row['bridge_cpu']:5.1f} | "
              f"{tasks.get('running', 0):.0f}, {tasks.get('ended', 0):.0f} / {ex_ids} | "
              f"{series:.0f}, {rate:.0f} | {len(ex_stale)}, {len(br_stale)} | "
              f"{ex_drop:.0f}, {br_drop:.0f} | {ex_buf / 2**20:.1f} | "
              f"{hist / 2**20:.0f}{' (full)' if evicted else ''}{heap_text}", flush=True)
        if ex_stale:
            failures.append(f"minute {m}: exporter series of ended tasks "
                            f"(id, seconds since end, a series): {ex_stale[:5]}")
        if br_stale:
            failures.append(f"minute {m}: bridge series of ended tasks "
                            f"(id, seconds since end, a series): {br_stale[:5]}")
    for t in threads:
        if not t.is_alive():
            failures.append(f"the load generator {t.name} died before the end")
    stop.set()
    for t in threads:
        t.join(timeout=30)
    started, refused, n = getattr(churn, "counts", (0, 0, 0))
    print(f"API tasks registered {started}, refused {refused}; discovery "
          f"processes started {n}", flush=True)
    if minutes >= 5:
        # Warm: the retention is full (the exporter keeps its 1000 newest
        # ended tasks, the bridge's history has reached its memory cap and
        # evicts), and at least WARMUP_MIN minutes have passed.
        warm = next((i for i, r in enumerate(rows) if r["full"] and i >= WARMUP_MIN - 1),
                    None)
        if warm is None or warm > len(rows) - 3:
            failures.append("the retention was not full 3 minutes before the end: "
                            "run longer to judge RSS")
        else:
            # A trend, not a peak: the churn comes in bursts when the load
            # generator falls behind (twice the running tasks for a minute),
            # and the heap's high-water mark follows them.
            for d in ("exporter", "bridge"):
                warm_rows = [r[d + "_rss"] for r in rows[warm:]]
                k = max(1, min(5, len(warm_rows) // 3))
                first = statistics.median(warm_rows[:k])
                last = statistics.median(warm_rows[-k:])
                growth = (last - first) / first * 100
                print(f"{d}: RSS from minute {warm + 1} (retention full): median of "
                      f"the first {k} minutes {first / 2**20:.1f} MiB, of the last {k} "
                      f"{last / 2**20:.1f} MiB ({growth:+.1f} %); range "
                      f"{min(warm_rows) / 2**20:.1f}-{max(warm_rows) / 2**20:.1f} MiB",
                      flush=True)
                if growth > 5:
                    failures.append(f"{d} RSS grew {growth:.1f} % after minute {warm + 1}")
    if started == 0:
        failures.append("no API task was registered")
    for f in failures:
        print("FAIL " + f, flush=True)
    if failures:
        st.fail(f"{len(failures)} check(s) failed")
    st.finish()
    print("soak: passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        stop.set()
        st.cleanup()
