#!/usr/bin/env python3
"""End to end on real components: mosquitto, propmon-exporter (tasks registered
through its API, publishing over MQTT), `propmon-exporter run` jobs that end
with exit 0 and 3, propmon-bridge, and prometheus with rules/ scraping both
daemons. Checks:
  1. the bridge's per-task series carry domain, channel, proplet_id, task_id
     and agree with the exporter's own /metrics (same PromQL, both jobs);
  2. results become completed/failed counters;
  3. every dashboard query returns data (tests/dashboards/check_queries.py);
  4. rules load and evaluate without errors.
Usage: stack_test.py BUILD_DIR SOURCE_DIR"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

build, src = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="propmon-stack-")
procs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(name, argv):
    log = open(os.path.join(tmp, name + ".log"), "w")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    procs.append((name, p))
    return p


def http(url, data=None, method=None):
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode()


def wait_http(url, name, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            http(url)
            return
        except Exception:
            time.sleep(0.2)
    fail(f"{name} did not come up at {url}")


def fail(msg):
    print("FAIL:", msg)
    for name, _ in procs:
        path = os.path.join(tmp, name + ".log")
        if os.path.exists(path):
            print(f"--- {name}.log (tail)")
            print("".join(open(path).readlines()[-15:]))
    raise SystemExit(1)


def query(prom, expr):
    _, body = http(f"http://127.0.0.1:{prom}/api/v1/query?" +
                   urllib.parse.urlencode({"query": expr}))
    j = json.loads(body)
    if j.get("status") != "success":
        fail(f"query {expr} failed: {body}")
    return j["data"]["result"]


def main():
    mqtt, exp, brg, prom = free_port(), free_port(), free_port(), free_port()
    with open(os.path.join(tmp, "mosquitto.conf"), "w") as f:
        f.write(f"listener {mqtt} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    start("mosquitto", ["/usr/sbin/mosquitto", "-c", os.path.join(tmp, "mosquitto.conf")])
    end = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", mqtt), timeout=1).close()
            break
        except OSError:
            if time.time() > end:
                fail("mosquitto did not come up")
            time.sleep(0.1)
    cfg = os.path.join(tmp, "exporter.yml")
    with open(cfg, "w") as f:
        f.write(f"proplet_id: stack-proplet\nmqtt:\n  url: tcp://127.0.0.1:{mqtt}\n"
                "  domain_id: dom1\n  channel_id: chan1\n  client_id: stack-proplet\n"
                "  liveliness_interval_seconds: 2\n  metrics_interval_seconds: 2\n")
    exporter = os.path.join(build, "exporter", "propmon-exporter")
    workload = os.path.join(build, "tests", "workload")
    bridge = os.path.join(build, "bridge", "propmon-bridge")
    start("bridge", [bridge, "--web.listen-address", f"127.0.0.1:{brg}",
                     "--mqtt.url", f"tcp://127.0.0.1:{mqtt}"])
    start("exporter", [exporter, "--config.file", cfg,
                       "--web.listen-address", f"127.0.0.1:{exp}"])
    wait_http(f"http://127.0.0.1:{exp}/-/ready", "exporter")
    # Ready = connected and subscribed: results published before that would
    # be lost to the bridge (it uses a clean session).
    wait_http(f"http://127.0.0.1:{brg}/-/ready", "bridge")

    mem = start("task-mem", [workload, "alloc", "64", "sleep", "600"])
    spin = start("task-spin", [workload, "spin", "0.3"])
    for tid, p, prof in (("mem", mem, "intensive"), ("spin", spin, "intensive")):
        status, body = http(f"http://127.0.0.1:{exp}/api/v1/tasks",
                            json.dumps({"id": tid, "name": tid, "pid": p.pid,
                                        "monitoring_profile": prof}).encode(), "POST")
        if status != 201:
            fail(f"registering {tid}: {status} {body}")
    # Two short jobs under `run`, publishing their results over MQTT.
    for tid, code in (("job-ok", "0"), ("job-fail", "3")):
        r = subprocess.run([exporter, "run", "--config.file", cfg, "--task-id", tid,
                            "--profile", "intensive", "--", workload, "burn", "0.3",
                            "exit", code], capture_output=True, text=True, timeout=60)
        if r.returncode != int(code):
            fail(f"run {tid} exited {r.returncode}: {r.stderr}")

    rules = sorted(os.path.join(src, "rules", f) for f in os.listdir(os.path.join(src, "rules"))
                   if f.endswith(".yml"))
    pcfg = os.path.join(tmp, "prometheus.yml")
    with open(pcfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n")
        f.write("rule_files:\n" + "".join(f"  - {r}\n" for r in rules))
        f.write("scrape_configs:\n"
                f"  - job_name: propmon-exporter\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{exp}']\n"
                f"  - job_name: propmon-bridge\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{brg}']\n")
    start("prometheus", ["prometheus", "--config.file", pcfg,
                         "--web.listen-address", f"127.0.0.1:{prom}",
                         "--storage.tsdb.path", os.path.join(tmp, "data")])
    wait_http(f"http://127.0.0.1:{prom}/-/ready", "prometheus")

    # 1. Both paths carry the task, with the same numbers.
    end = time.time() + 60
    while time.time() < end:
        b = query(prom, 'proplet_task_memory_bytes{job="propmon-bridge",task_id="mem"}')
        e = query(prom, 'proplet_task_memory_bytes{job="propmon-exporter",task_id="mem"}')
        if b and e:
            break
        time.sleep(1)
    else:
        fail("proplet_task_memory_bytes{task_id=\"mem\"} never reached Prometheus from both paths")
    labels = b[0]["metric"]
    for k, v in (("domain", "dom1"), ("channel", "chan1"), ("proplet_id", "stack-proplet"),
                 ("task_id", "mem")):
        if labels.get(k) != v:
            fail(f"bridge series label {k}={labels.get(k)!r}, want {v!r}: {labels}")
    bv, ev = float(b[0]["value"][1]), float(e[0]["value"][1])
    if ev < 64 * 2**20 or abs(bv - ev) > 0.02 * ev:
        fail(f"memory via bridge {bv} vs exporter {ev} (want equal within 2 %, >= 64 MiB)")
    time.sleep(4)
    cb = query(prom, 'proplet_task_cpu_usage_ratio{job="propmon-bridge",task_id="spin"}')
    ce = query(prom, 'proplet_task_cpu_usage_ratio{job="propmon-exporter",task_id="spin"}')
    if not cb or not ce:
        fail("proplet_task_cpu_usage_ratio{task_id=\"spin\"} missing from a path")
    cbv, cev = float(cb[0]["value"][1]), float(ce[0]["value"][1])
    if not (0.1 < cev < 0.6) or abs(cbv - cev) > 0.15:
        fail(f"cpu ratio via bridge {cbv} vs exporter {cev} (spin at 0.3 of a core)")
    print(f"ok: memory bridge={bv:.0f} exporter={ev:.0f}; cpu bridge={cbv:.3f} exporter={cev:.3f}")

    # 1b. One sample, one form: the exporter's history page and the bridge's
    # (the Propeller manager's format) are byte-identical for the same task
    # once every sample has arrived. The spin task ends, so its history stops.
    spin.terminate()
    spin.wait(timeout=10)
    end = time.time() + 30
    while True:
        _, e_page = http(f"http://127.0.0.1:{exp}/api/v1/tasks/spin/metrics?limit=1000")
        e_total = json.loads(e_page)["total"]
        try:
            _, b_page = http(f"http://127.0.0.1:{brg}/tasks/spin/metrics?limit=1000")
            b_total = json.loads(b_page)["total"]
        except urllib.error.HTTPError:
            b_page, b_total = "", -1
        _, task = http(f"http://127.0.0.1:{exp}/api/v1/tasks/spin")
        if json.loads(task)["state"] == "ended" and e_total == b_total and e_total > 1:
            break
        if time.time() > end:
            fail(f"history totals never met: exporter {e_total}, bridge {b_total}")
        time.sleep(0.5)
    if e_page != b_page:
        at = next(i for i, (x, y) in enumerate(zip(e_page + " ", b_page + "  ")) if x != y)
        fail(f"history pages differ at byte {at}:\nexporter ...{e_page[max(0, at - 80):at + 80]!r}"
             f"\nbridge   ...{b_page[max(0, at - 80):at + 80]!r}")
    print(f"ok: history pages byte-identical ({e_total} samples, {len(e_page)} bytes)")

    # 2. Results: one completed, one failed.
    comp = query(prom, 'sum(proplet_tasks_completed_total{job="propmon-bridge"})')
    failed = query(prom, 'sum(proplet_tasks_failed_total{job="propmon-bridge"})')
    if not comp or not failed or float(failed[0]["value"][1]) < 1:
        fail(f"results not counted: completed={comp} failed={failed}")
    print(f"ok: completed={comp[0]['value'][1]} failed={failed[0]['value'][1]}")

    # 3. Every dashboard query returns data.
    time.sleep(5)
    r = subprocess.run([sys.executable, os.path.join(src, "tests", "dashboards", "check_queries.py"),
                        "--prometheus-url", f"http://127.0.0.1:{prom}",
                        "--dashboards", os.path.join(src, "dashboards"), "--rate-interval", "10s"],
                       capture_output=True, text=True, timeout=120)
    print(r.stdout[-3000:])
    if r.returncode != 0:
        fail("dashboard queries failed:\n" + r.stderr[-2000:])

    # 4. Rules evaluate without errors.
    _, body = http(f"http://127.0.0.1:{prom}/api/v1/rules")
    bad = [(g["name"], x["name"], x.get("lastError")) for g in json.loads(body)["data"]["groups"]
           for x in g["rules"] if x.get("health") not in ("ok", None) or x.get("lastError")]
    if bad:
        fail(f"rules with errors: {bad}")
    print("ok: rules healthy")


try:
    main()
    print("PASS")
finally:
    for name, p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for name, p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
