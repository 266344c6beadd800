#!/usr/bin/env python3
"""Runs propmon's Alertmanager config in a real Alertmanager and checks it.

1. The local config (alertmanager/alertmanager.yml) and the compose one
   (deploy/alertmanager/alertmanager.yml) are the same apart from the
   webhook host.
2. A real Alertmanager on a free loopback port, with the local config pointed
   at deploy/webhook/alert_log.py on another free port, is sent four alerts:
   critical X@a, warning X@a, warning X@b, warning Y@a. Expected: warning X@a is
   suppressed (inhibited by critical X@a), the other warnings are active; each
   alert routes to the receiver named after its severity; the critical one
   reaches the webhook at /critical.

Usage: check_alertmanager.py ALERTMANAGER_BIN LOCAL_CONFIG COMPOSE_CONFIG ALERT_LOG_PY
Exits 0 when all hold, 1 with the reasons otherwise. Processes it starts are
stopped by PID.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

try:
    import yaml
except ImportError:
    sys.exit("check_alertmanager.py: needs PyYAML (Debian package python3-yaml)")

LOCAL_HOOK = "127.0.0.1:5001"
COMPOSE_HOOK = "alert-log:5001"
DEADLINE_S = 90  # generous: only bounds a hang, never judges speed


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, r.read()


def wait_until(what, fn):
    end = time.monotonic() + DEADLINE_S
    last = None
    while time.monotonic() < end:
        try:
            result = fn()
            if result:
                return result
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = e
        time.sleep(0.2)
    raise RuntimeError(f"gave up waiting for {what} (last error: {last})")


def check_sync(local_path, compose_path, problems):
    with open(local_path, encoding="utf-8") as f:
        local = f.read()
    with open(compose_path, encoding="utf-8") as f:
        compose = f.read()
    if LOCAL_HOOK not in local:
        problems.append(f"{local_path}: webhook {LOCAL_HOOK} not found")
    if COMPOSE_HOOK not in compose:
        problems.append(f"{compose_path}: webhook {COMPOSE_HOOK} not found")
    a = yaml.safe_load(local.replace(LOCAL_HOOK, "HOOK"))
    b = yaml.safe_load(compose.replace(COMPOSE_HOOK, "HOOK"))
    if a != b:
        problems.append(f"{local_path} and {compose_path} differ beyond the webhook host")


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    am_bin, local_cfg, compose_cfg, alert_log = argv[1:]
    problems = []
    check_sync(local_cfg, compose_cfg, problems)

    procs = []
    with tempfile.TemporaryDirectory(prefix="propmon-am-") as tmp:
        try:
            hook_port, am_port = free_port(), free_port()
            hook_out = os.path.join(tmp, "alerts.jsonl")
            procs.append(subprocess.Popen(
                [sys.executable, alert_log, "--listen", f"127.0.0.1:{hook_port}",
                 "--output", hook_out], stderr=subprocess.DEVNULL))
            cfg = os.path.join(tmp, "alertmanager.yml")
            with open(local_cfg, encoding="utf-8") as f:
                text = f.read().replace(LOCAL_HOOK, f"127.0.0.1:{hook_port}")
            with open(cfg, "w", encoding="utf-8") as f:
                f.write(text)
            am_log = open(os.path.join(tmp, "am.log"), "w")
            procs.append(subprocess.Popen(
                [am_bin, f"--config.file={cfg}",
                 f"--web.listen-address=127.0.0.1:{am_port}",
                 "--cluster.listen-address=", f"--storage.path={tmp}/data"],
                stdout=am_log, stderr=subprocess.STDOUT))
            base = f"http://127.0.0.1:{am_port}"
            wait_until("alertmanager ready", lambda: http("GET", base + "/-/ready")[0] == 200)
            wait_until("alert_log up",
                       lambda: http("GET", f"http://127.0.0.1:{hook_port}/")[0] == 200)

            def alert(name, severity, instance):
                return {"labels": {"alertname": name, "severity": severity,
                                   "instance": instance, "job": "propmon-test"},
                        "annotations": {"summary": f"{name} {severity} {instance}"}}
            sent = [alert("X", "critical", "a"), alert("X", "warning", "a"),
                    alert("X", "warning", "b"), alert("Y", "warning", "a")]
            http("POST", base + "/api/v2/alerts", sent)

            def all_alerts():
                _, body = http("GET", base + "/api/v2/alerts")
                got = json.loads(body)
                if len(got) < 4:
                    return None
                # Inhibition is computed as alerts arrive; wait until settled.
                states = {(a["labels"]["alertname"], a["labels"]["severity"],
                           a["labels"]["instance"]): a for a in got}
                x_warn = states.get(("X", "warning", "a"))
                if not x_warn or x_warn["status"]["state"] == "unprocessed":
                    return None
                return states
            states = wait_until("4 alerts in Alertmanager", all_alerts)

            expect = {("X", "critical", "a"): "active", ("X", "warning", "a"): "suppressed",
                      ("X", "warning", "b"): "active", ("Y", "warning", "a"): "active"}
            for key, want in expect.items():
                a = states.get(key)
                if a is None:
                    problems.append(f"alert {key}: not in Alertmanager")
                    continue
                state = a["status"]["state"]
                if state != want:
                    problems.append(f"alert {key}: state {state}, want {want} "
                                    f"(inhibitedBy={a['status'].get('inhibitedBy')})")
                receivers = [r["name"] for r in a.get("receivers", [])]
                if receivers != [key[1]]:
                    problems.append(f"alert {key}: receivers {receivers}, want [{key[1]!r}]")

            def critical_delivered():
                if not os.path.exists(hook_out):
                    return False
                with open(hook_out, encoding="utf-8") as f:
                    for line in f:
                        rec = json.loads(line)
                        if rec.get("path") == "/critical" and any(
                                al["labels"].get("alertname") == "X" for al in rec.get("alerts", [])):
                            return True
                return False
            try:
                wait_until("the critical alert at the webhook", critical_delivered)
            except RuntimeError as e:
                problems.append(str(e))
        except (RuntimeError, OSError, urllib.error.URLError) as e:
            problems.append(f"error: {e}")
            log = os.path.join(tmp, "am.log")
            if os.path.exists(log):
                with open(log, encoding="utf-8", errors="replace") as f:
                    problems.append("alertmanager log:\n" + f.read()[-3000:])
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    for p in problems:
        print(p)
    print(f"check_alertmanager: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
