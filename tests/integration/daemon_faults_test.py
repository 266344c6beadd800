#!/usr/bin/env python3
"""Faults of the daemons themselves, on the shipped configuration
(harness.py: deploy/mosquitto with persistence and the ACL, the bridge's
default persistent session). One scenario per run:

bridge_kill      The bridge is killed with SIGKILL while 100 tasks publish
                 every second and restarted 15 s later (same host and port,
                 so the same session): the backlog the broker queued for it
                 (more than mosquitto's default 1000-message queue) arrives,
                 every sample the exporter took while the bridge was away is
                 in the bridge's history, and none is counted as missed.
exporter_sigterm The broker is stopped; the exporter buffers 5 s of samples
                 of 20 tasks. (a) The broker comes back and the exporter gets
                 SIGTERM at once: it reconnects and publishes its buffer before
                 it exits (every buffered sample reaches the bridge, or the
                 exporter's exit log counts what it dropped and no more is
                 missing). (b) With the broker down, SIGTERM: the exporter
                 exits within 5 s and logs the buffered messages as dropped.
shutdown_load    SIGTERM under full load exits within 5 s: the exporter
                 sampling 1000 tasks every second while /metrics is scraped in
                 a loop; the bridge receiving a mosquitto_pub flood with an SSE
                 client and scrapes running.
fork_churn       A task whose tree forks and reaps children non-stop (at most
                 300 alive, each living 0-50 ms, some leaving grandchildren
                 that outlive them) is sampled every second for 20 s: no error
                 counted but process_vanished, no task counter decreasing
                 between scrapes or between history samples.
Usage: daemon_faults_test.py BUILD_DIR SOURCE_DIR SCENARIO"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, get, parse_metrics, timed_exit  # noqa: E402

build, src, scenario = sys.argv[1], sys.argv[2], sys.argv[3]
st = Stack(build, src, scenario.replace("_", "-"))
EXIT_LIMIT_S = 5.0


def check(ok, msg, failures):
    if not ok:
        print("FAIL " + msg, flush=True)
        failures.append(msg)


def sleepers(n, prefix, profile="intensive"):
    procs = []
    for i in range(n):
        p = st.spawn(["sleep", "600"])
        procs.append(p)
        st.register(f"{prefix}{i:03d}", p.pid, profile)
    return procs


def bridge_kill():
    failures = []
    tasks = 100
    st.start_broker()
    st.start_bridge()
    st.start_exporter("bkill")
    sleepers(tasks, "k")
    st.wait_exporter_connected()
    time.sleep(4)
    st.bridge.send_signal(signal.SIGKILL)
    st.bridge.wait()
    killed_at = time.time()
    time.sleep(15)
    st.start_bridge()
    restarted_at = time.time()
    # The backlog: every sample taken while the bridge was away.
    expect = {}
    for i in range(tasks):
        tid = f"k{i:03d}"
        expect[tid] = [t for t in st.exporter_samples(tid)
                       if killed_at + 0.5 <= t <= restarted_at]

    def arrived():
        return all(set(expect[t]) <= set(st.bridge_samples(t)) for t in list(expect)[-5:])
    st.wait_until(arrived, "the backlog did not arrive", timeout=60)
    time.sleep(2)
    backlog = sum(len(v) for v in expect.values())
    missing = []
    for tid, want in expect.items():
        got = set(st.bridge_samples(tid))
        missing += [(tid, t) for t in want if t not in got]
    missed = st.metric("bridge", "propmon_bridge_samples_missed_total")
    print(f"bridge away {restarted_at - killed_at:.1f} s: backlog of {backlog} "
          f"task samples, {len(missing)} missing at the bridge, "
          f"samples_missed_total {missed}", flush=True)
    check(backlog >= tasks * 12, f"too small a backlog ({backlog})", failures)
    check(not missing, f"samples lost while the bridge was away: {missing[:10]}",
          failures)
    check(missed == 0, f"propmon_bridge_samples_missed_total is {missed}", failures)
    return failures


def exporter_buffered(prefix, tasks):
    """Stops the broker and lets the exporter buffer 5 s of samples; returns
    (time the broker stopped, messages buffered)."""
    st.stop_broker(signal.SIGTERM)
    stopped_at = time.time()
    time.sleep(5)
    buffered = st.metric("exporter", "propmon_exporter_mqtt_buffered_messages")
    return stopped_at, buffered


def dropped_at_exit(log):
    m = re.findall(r"stopped with (\d+) message\(s\) not acknowledged", log)
    return sum(int(x) for x in m)


def exporter_sigterm():
    failures = []
    tasks = 20
    st.start_broker()
    st.start_bridge()
    # (a) the broker comes back as the exporter is told to stop.
    st.start_exporter("sigterm")
    sleepers(tasks, "s")
    st.wait_exporter_connected()
    time.sleep(3)
    stopped_at, buffered = exporter_buffered("s", tasks)
    expect = {}
    for i in range(tasks):
        tid = f"s{i:03d}"
        expect[tid] = [t for t in st.exporter_samples(tid) if t >= stopped_at]
    st.start_broker()
    took, code = timed_exit(st.exporter)
    log = st.log_text("exporter")
    dropped = dropped_at_exit(log)
    # The bridge reconnects (its own backoff) and receives what was published.
    want = sum(len(v) for v in expect.values())

    def missing():
        out = []
        for tid, ts in expect.items():
            got = set(st.bridge_samples(tid))
            out += [(tid, t) for t in ts if t not in got]
        return out
    end = time.time() + 40
    while time.time() < end and len(missing()) > dropped:
        time.sleep(0.5)
    lost = missing()
    print(f"(a) {buffered:.0f} messages buffered ({want} task samples); SIGTERM as "
          f"the broker returned: exit {code} after {took:.2f} s, {dropped} "
          f"logged as dropped, {len(lost)} samples missing at the bridge",
          flush=True)
    check(buffered >= tasks * 3, f"the buffer held only {buffered} messages", failures)
    check(code == 0, f"the exporter exited with {code}", failures)
    check(took <= EXIT_LIMIT_S, f"the exporter took {took:.2f} s to exit", failures)
    check(len(lost) <= dropped,
          f"{len(lost)} samples missing but {dropped} logged as dropped: {lost[:5]}",
          failures)
    check(dropped == 0 or "counted as dropped" in log,
          "drops at exit were not logged", failures)

    # (b) the broker stays down: the buffer cannot go anywhere.
    st.exporter_port = None
    os.rename(os.path.join(st.tmp, "exporter.log"), os.path.join(st.tmp, "exporter-a.log"))
    st.start_exporter("sigterm")
    sleepers(tasks, "b")
    st.wait_exporter_connected()
    time.sleep(2)
    _, buffered = exporter_buffered("b", tasks)
    time.sleep(0.3)
    buffered = st.metric("exporter", "propmon_exporter_mqtt_buffered_messages")
    took, code = timed_exit(st.exporter)
    dropped = dropped_at_exit(st.log_text("exporter"))
    print(f"(b) broker down, {buffered:.0f} messages buffered: exit {code} after "
          f"{took:.2f} s, {dropped} logged as dropped", flush=True)
    check(code == 0, f"the exporter exited with {code}", failures)
    check(took <= EXIT_LIMIT_S, f"the exporter took {took:.2f} s to exit", failures)
    check(dropped >= buffered > 0,
          f"{buffered} messages were buffered but {dropped} logged as dropped",
          failures)
    return failures


def hammer(url, stop):
    while not stop.is_set():
        try:
            get(url)
        except Exception:
            pass


def shutdown_load():
    failures = []
    st.start_broker()
    st.start_bridge()
    st.start_exporter("load")
    sleepers(1000, "L")
    st.wait_exporter_connected()
    stop = threading.Event()
    threads = [threading.Thread(target=hammer, args=(url, stop), daemon=True)
               for url in (f"http://127.0.0.1:{st.exporter_port}/metrics",
                           f"http://127.0.0.1:{st.exporter_port}/api/v1/tasks",
                           f"http://127.0.0.1:{st.bridge_port}/metrics")]
    for t in threads:
        t.start()
    time.sleep(5)
    took, code = timed_exit(st.exporter)
    print(f"exporter, 1000 tasks at 1 s, scraped non-stop: exit {code} after "
          f"{took:.2f} s", flush=True)
    check(code == 0, f"the exporter exited with {code}", failures)
    check(took <= EXIT_LIMIT_S, f"the exporter took {took:.2f} s to exit", failures)

    # The bridge under a flood, with an SSE client connected.
    gen = ("import sys\nfor i in range(10**7):\n"
           "    t = i % 5000\n"
           "    sys.stdout.write('{\"task_id\":\"t%05d\",\"proplet_id\":\"p%03d\","
           "\"metrics\":{\"cpu_percent\":1.5,\"memory_bytes\":1048576},"
           "\"timestamp\":\"2026-01-01T00:00:%02d.%06dZ\"}\\n' % (t, t // 50, i // 5000 % 60, i % 1000000))\n")
    pub = subprocess.Popen(
        f"python3 -c '{gen}' | mosquitto_pub -h 127.0.0.1 -p {st.mqtt_port} "
        f"-u {st.DOMAIN} -P {st.EXPORTER_KEY} -q 1 -l "
        f"-t m/{st.DOMAIN}/c/load/control/proplet/task_metrics",
        shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    st.procs.append(pub)
    sse = subprocess.Popen(["curl", "-sN", f"http://127.0.0.1:{st.bridge_port}/api/v1/stream"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    st.procs.append(sse)
    st.wait_until(lambda: (st.metric("bridge", "propmon_bridge_series") or 0) > 10000,
                  "the flood did not reach the bridge", timeout=60)
    received = st.metric("bridge", "propmon_bridge_messages_received_total")
    took, code = timed_exit(st.bridge)
    stop.set()
    os.killpg(pub.pid, signal.SIGKILL)
    print(f"bridge, {received:.0f} messages received, flood running, SSE client "
          f"connected: exit {code} after {took:.2f} s", flush=True)
    check(code == 0, f"the bridge exited with {code}", failures)
    check(took <= EXIT_LIMIT_S, f"the bridge took {took:.2f} s to exit", failures)
    return failures


CHURN = r"""
import os, random, sys, time
alive, cap = 0, 300
end = time.time() + float(sys.argv[1])
while time.time() < end:
    while alive < cap:
        pid = os.fork()
        if pid == 0:
            # Burn a little CPU and write a little, then leave; now and then
            # leave a grandchild behind that outlives us (reparented away).
            if random.random() < 0.05 and os.fork() == 0:
                time.sleep(random.uniform(0, 0.2))
                os._exit(0)
            x = 0
            for i in range(random.randint(0, 20000)):
                x += i
            with open("/dev/null", "w") as f:
                f.write("x" * 4096)
            time.sleep(random.uniform(0, 0.05))
            os._exit(0)
        alive += 1
    os.wait()
    alive -= 1
while alive:
    os.wait()
    alive -= 1
time.sleep(600)
"""


def fork_churn():
    failures = []
    st.start_exporter("churn", mqtt=False)
    seconds = 20
    churn = st.spawn([sys.executable, "-c", CHURN, str(seconds)])
    st.register("churn", churn.pid)
    errors_before = {k: v for k, v in parse_metrics(st.get_exporter("/metrics")).items()
                     if k[0] == "propmon_exporter_errors_total"}
    last = {}
    decreases = []
    procs_seen = set()
    scrapes = 0
    end = time.time() + seconds
    while time.time() < end:
        for (name, labels), v in parse_metrics(st.get_exporter("/metrics")).items():
            if 'task_id="churn"' not in labels:
                continue
            if name == "proplet_task_processes":
                procs_seen.add(v)
            if not name.endswith("_total"):
                continue
            if v < last.get((name, labels), 0):
                decreases.append((name, last[(name, labels)], v))
            last[(name, labels)] = v
        scrapes += 1
        time.sleep(0.25)
    errors = {k: v for k, v in parse_metrics(st.get_exporter("/metrics")).items()
              if k[0] == "propmon_exporter_errors_total"}
    grown = {k[1]: v - errors_before.get(k, 0) for k, v in errors.items()
             if v != errors_before.get(k, 0)}
    page = json.loads(st.get_exporter("/api/v1/tasks/churn/metrics?offset=0&limit=1000"))
    history = page["metrics"]
    for key in ("disk_read_bytes", "disk_write_bytes"):
        values = [m["metrics"].get(key) for m in history if m["metrics"].get(key) is not None]
        for a, b in zip(values, values[1:]):
            if b < a:
                decreases.append(("history " + key, a, b))
    cpu = last.get(("proplet_task_cpu_seconds_total", next(
        (lbl for (n, lbl) in last if n == "proplet_task_cpu_seconds_total"), "")), 0)
    print(f"{scrapes} scrapes, {len(history)} samples, processes seen "
          f"{int(min(procs_seen or {0}))}..{int(max(procs_seen or {0}))}, task CPU "
          f"{cpu:.2f} s, errors counted during the churn: {grown or 'none'}",
          flush=True)
    check(len(history) >= seconds - 3, f"only {len(history)} samples", failures)
    check(max(procs_seen or {0}) >= 50,
          f"the churn never showed many processes ({procs_seen})", failures)
    check(cpu > 0, "no CPU time counted for the churning tree", failures)
    check(not decreases, f"counters decreased: {decreases[:10]}", failures)
    other = {k: v for k, v in grown.items() if 'reason="process_vanished"' not in k}
    check(not other, f"errors other than process_vanished: {other}", failures)
    return failures


def main():
    failures = {"bridge_kill": bridge_kill, "exporter_sigterm": exporter_sigterm,
                "shutdown_load": shutdown_load, "fork_churn": fork_churn}[scenario]()
    if failures:
        st.fail(f"{len(failures)} check(s) failed")
    st.finish()
    print(f"{scenario}: passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        st.cleanup()
