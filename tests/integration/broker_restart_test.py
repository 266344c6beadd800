#!/usr/bin/env python3
"""No silent loss across broker restarts, with the shipped configuration.

mosquitto runs deploy/mosquitto (start.sh, mosquitto.conf with persistence,
the ACL) on a free loopback port; propmon-bridge runs with its defaults (a
persistent session keyed by host and port); propmon-exporter publishes as the
domain's account. 20 tasks are sampled every second (profile intensive) while
the broker is restarted 10 times: with SIGTERM, and twice with SIGKILL.

Checks, by task and sample timestamp:
  1. every sample in the exporter's history taken while SIGTERM restarts
     happened reached the bridge's history (the manager API);
  2. across the SIGKILL restarts too, every sample reached the bridge or is
     counted: samples missing at the bridge <= propmon_bridge_samples_missed_total
     (a broker killed with SIGKILL loses what it acknowledged but had not
     saved or forwarded; the bridge must say so, never lose it silently);
  3. duplicates (QoS 1 redelivery) are allowed and counted
     (propmon_bridge_samples_duplicate_total), and no sample is listed twice
     with different values;
  4. nothing the exporter dropped is uncounted: the exporter's own
     propmon_exporter_mqtt_dropped_total is 0 (its buffer held everything).
Usage: broker_restart_test.py BUILD_DIR SOURCE_DIR"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime

build, src = sys.argv[1], sys.argv[2]
deploy = os.path.join(src, "deploy", "mosquitto")
tmp = tempfile.mkdtemp(prefix="propmon-restart-")
os.chmod(tmp, 0o755)  # mosquitto may drop privileges to its own user
procs = []
TASKS = 20
RESTARTS = 10
KILL_AT = {3, 7}  # restarts done with SIGKILL
DOMAIN, CHANNEL, KEY = "propmon", "restart", "restart-test-key"


def fail(msg):
    print("FAIL " + msg, flush=True)
    for name in ("mosquitto", "bridge", "exporter"):
        path = os.path.join(tmp, name + ".log")
        if os.path.exists(path):
            print(f"--- {name}.log (tail)")
            with open(path, errors="replace") as f:
                print("".join(f.readlines()[-30:]))
    cleanup()
    sys.exit(1)


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def post(url, body):
    req = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def wait_until(fn, what, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if fn():
                return
        except Exception:
            pass
        time.sleep(0.2)
    fail(what)


def metric(port, name):
    text = get(f"http://127.0.0.1:{port}/metrics")
    total = 0.0
    found = False
    for m in re.finditer(r"^" + re.escape(name) + r"(\{[^}]*\})? (\S+)$", text,
                         re.M):
        total += float(m.group(2))
        found = True
    return total if found else None


def ts(text):
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp(), 3)


# The shipped broker config, with its container paths mapped into tmp.
mqtt_port = free_port()
with open(os.path.join(deploy, "mosquitto.conf")) as f:
    conf = f.read()
data_dir = os.path.join(tmp, "data")
os.makedirs(data_dir)
os.chmod(data_dir, 0o777)
for old, new in (("listener 1883\n", f"listener {mqtt_port} 127.0.0.1\n"),
                 ("/mosquitto/data/passwd", os.path.join(tmp, "passwd")),
                 ("/mosquitto/config/acl", os.path.join(tmp, "acl")),
                 ("persistence_location /mosquitto/data/",
                  f"persistence_location {data_dir}/")):
    if old not in conf:
        fail(f"deploy/mosquitto/mosquitto.conf: expected {old.strip()!r}")
    conf = conf.replace(old, new)
if not re.search(r"^persistence true$", conf, re.M):
    fail("deploy/mosquitto/mosquitto.conf does not keep persistence on")
if os.environ.get("PROPMON_TEST_MQTT_DEBUG"):
    conf += "log_type all\n"
with open(os.path.join(tmp, "mosquitto.conf"), "w") as f:
    f.write(conf)
shutil.copy(os.path.join(deploy, "acl"), os.path.join(tmp, "acl"))
os.chmod(os.path.join(tmp, "acl"), 0o644)
BRIDGE_KEY = "restart-bridge-key"
broker_env = dict(os.environ, PROPMON_MQTT_EXPORTER_KEY=KEY,
                  PROPMON_MQTT_EXPORTER_USER=DOMAIN,
                  PROPMON_MQTT_BRIDGE_KEY=BRIDGE_KEY,
                  PROPMON_MOSQUITTO_PASSWD=os.path.join(tmp, "passwd"),
                  PROPMON_MOSQUITTO_CONF=os.path.join(tmp, "mosquitto.conf"))
broker_log = open(os.path.join(tmp, "mosquitto.log"), "a")
broker = None


def start_broker():
    global broker
    broker = subprocess.Popen(["sh", os.path.join(deploy, "start.sh")],
                              env=broker_env, stdout=broker_log,
                              stderr=subprocess.STDOUT)
    procs.append(broker)

    def up():
        with socket.create_connection(("127.0.0.1", mqtt_port), timeout=1):
            return True
    wait_until(up, "mosquitto did not start")


def main():
    start_broker()
    bridge_port = free_port()
    log = open(os.path.join(tmp, "bridge.log"), "w")
    # The bridge's defaults, but for the addresses, logged in as compose.yaml
    # does it (the broker's read-only account).
    procs.append(subprocess.Popen(
        [os.path.join(build, "bridge", "propmon-bridge"),
         f"--web.listen-address=127.0.0.1:{bridge_port}",
         f"--mqtt.url=tcp://127.0.0.1:{mqtt_port}",
         "--mqtt.username=propmon-bridge"],
        env=dict(os.environ, PROPMON_MQTT_PASSWORD=BRIDGE_KEY),
        stdout=log, stderr=subprocess.STDOUT))
    wait_until(lambda: get(f"http://127.0.0.1:{bridge_port}/-/ready"),
               "the bridge did not subscribe")

    exp_port = free_port()
    cfg = os.path.join(tmp, "exporter.yml")
    with open(cfg, "w") as f:
        f.write(f"proplet_id: restart-proplet\nmqtt:\n"
                f"  url: tcp://127.0.0.1:{mqtt_port}\n"
                f"  username: {DOMAIN}\n  password: {KEY}\n"
                f"  client_id: {DOMAIN}\n"
                f"  domain_id: {DOMAIN}\n  channel_id: {CHANNEL}\n")
    log = open(os.path.join(tmp, "exporter.log"), "w")
    procs.append(subprocess.Popen(
        [os.path.join(build, "exporter", "propmon-exporter"),
         f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{exp_port}"],
        stdout=log, stderr=subprocess.STDOUT))
    wait_until(lambda: get(f"http://127.0.0.1:{exp_port}/-/ready"),
               "the exporter did not start")
    sleepers = []
    for i in range(TASKS):
        p = subprocess.Popen(["sleep", "600"])
        procs.append(p)
        sleepers.append(p)
        post(f"http://127.0.0.1:{exp_port}/api/v1/tasks",
             json.dumps({"id": f"r{i:02d}", "name": "sleeper", "pid": p.pid,
                         "monitoringProfile": "intensive"}))
    wait_until(lambda: metric(exp_port, "propmon_exporter_mqtt_connected") == 1,
               "the exporter did not connect to the broker")
    time.sleep(3)

    # Restarts. Samples taken from kill_from on may be lost (and must then be
    # counted); before that, none may be lost.
    kill_from = None
    for n in range(RESTARTS):
        time.sleep(3)
        sig = signal.SIGKILL if n in KILL_AT else signal.SIGTERM
        if sig == signal.SIGKILL and kill_from is None:
            kill_from = time.time() - 2
        broker.send_signal(sig)
        broker.wait(timeout=20)
        time.sleep(1.5)
        start_broker()
        print(f"restart {n + 1}: {'SIGKILL' if sig == signal.SIGKILL else 'SIGTERM'}",
              flush=True)
    time.sleep(4)
    # The final sample of an ended task stays in the exporter's history but
    # is not published (it has counters and no gauges): compare only what
    # was sampled while the tasks ran.
    ended_at = time.time()
    for p in sleepers:
        p.terminate()
    # The exporter drains its buffer; the bridge catches up.
    wait_until(lambda: metric(exp_port, "propmon_exporter_mqtt_buffered_messages") == 0,
               "the exporter's buffer did not drain", timeout=60)
    time.sleep(3)

    missing_before_kill = []
    missing_after = 0
    missing_examples = []
    exported = 0
    for i in range(TASKS):
        tid = f"r{i:02d}"
        page = json.loads(get(f"http://127.0.0.1:{exp_port}/api/v1/tasks/{tid}/metrics?offset=0&limit=1000"))
        sent = [ts(m["timestamp"]) for m in page["metrics"]]
        sent = [t for t in sent if t < ended_at - 0.5]
        exported += len(sent)
        page = json.loads(get(f"http://127.0.0.1:{bridge_port}/tasks/{tid}/metrics?offset=0&limit=1000"))
        got = [ts(m["timestamp"]) for m in page["metrics"]]
        got_set = set(got)
        for t in sent:
            if t in got_set:
                continue
            if kill_from is not None and t >= kill_from:
                missing_after += 1
                missing_examples.append((tid, t, len(sent), sent.index(t)))
            else:
                missing_before_kill.append((tid, t))
    missed = metric(bridge_port, "propmon_bridge_samples_missed_total") or 0
    dups = metric(bridge_port, "propmon_bridge_samples_duplicate_total")
    dropped = metric(exp_port, "propmon_exporter_mqtt_dropped_total")
    print(f"exported {exported} samples of {TASKS} tasks over {RESTARTS} broker "
          f"restarts; missing at the bridge: {len(missing_before_kill)} before "
          f"the first SIGKILL, {missing_after} after; counted missed {missed:.0f}, "
          f"duplicates {dups}, exporter dropped {dropped}", flush=True)
    ok = True
    if exported < TASKS * 30:
        print(f"FAIL too few samples exported ({exported})")
        ok = False
    if missing_before_kill:
        print(f"FAIL samples lost across SIGTERM restarts: {missing_before_kill[:10]}")
        ok = False
    if missing_after > missed:
        print(f"FAIL {missing_after} samples lost after a SIGKILL but only "
              f"{missed:.0f} counted by propmon_bridge_samples_missed_total: "
              f"(task, timestamp, samples, index) {missing_examples[:5]}")
        ok = False
    if dups is None:
        print("FAIL propmon_bridge_samples_duplicate_total is absent")
        ok = False
    if dropped != 0:
        print(f"FAIL the exporter dropped {dropped} messages")
        ok = False
    if not ok:
        fail("see above")
    cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
    print("broker restarts: no silent loss")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        cleanup()
