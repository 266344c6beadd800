"""The shipped stack on loopback, for the fault tests of tests/integration.

mosquitto runs deploy/mosquitto (start.sh, mosquitto.conf with persistence,
the ACL) on a free loopback port, its container paths mapped into a scratch
directory; propmon-bridge runs with its defaults but for the addresses,
logged in as compose.yaml does it; propmon-exporter publishes as the
domain's account. Every process started here is stopped by PID at exit.
"""
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


def ts(text):
    """RFC 3339 timestamp -> Unix seconds, rounded to the millisecond."""
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp(), 3)


def parse_metrics(text):
    """{(name, labels text): value} of a /metrics text."""
    out = {}
    for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)", text,
                         re.M):
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


class Stack:
    """The broker, bridge and exporter of one test, in one scratch dir."""

    DOMAIN, EXPORTER_KEY, BRIDGE_KEY = "propmon", "fault-test-key", "fault-bridge-key"

    def __init__(self, build, src, name):
        self.build, self.src = build, src
        self.deploy = os.path.join(src, "deploy", "mosquitto")
        self.tmp = tempfile.mkdtemp(prefix=f"propmon-{name}-")
        os.chmod(self.tmp, 0o755)  # mosquitto may drop privileges to its own user
        self.procs = []
        self.broker = self.bridge = self.exporter = None
        self.mqtt_port = free_port()
        self.bridge_port = self.exporter_port = None
        self._write_broker_config()

    # -- failing and cleaning up -------------------------------------------
    def fail(self, msg):
        print("FAIL " + msg, flush=True)
        for name in ("mosquitto", "bridge", "exporter"):
            path = os.path.join(self.tmp, name + ".log")
            if os.path.exists(path):
                print(f"--- {name}.log (tail)")
                with open(path, errors="replace") as f:
                    print("".join(f.readlines()[-60:]))
        self.cleanup()
        sys.exit(1)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def finish(self):
        """Stops the daemons still running with SIGTERM: each must exit 0 (a
        sanitizer's report makes a sanitized build exit non-zero), then
        everything else, and removes the scratch dir."""
        for name in ("bridge", "exporter"):
            p = getattr(self, name)
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                code = p.wait(timeout=60)
                if code != 0:
                    self.fail(f"the {name} exited with {code} on SIGTERM")
        self.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wait_until(self, fn, what, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            try:
                if fn():
                    return
            except Exception:
                pass
            time.sleep(0.2)
        self.fail(what)

    def spawn(self, argv, log_name=None, **kw):
        out = subprocess.DEVNULL
        if log_name:
            out = open(os.path.join(self.tmp, log_name + ".log"), "a")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
        self.procs.append(p)
        return p

    def log_text(self, name):
        with open(os.path.join(self.tmp, name + ".log"), errors="replace") as f:
            return f.read()

    # -- the broker ----------------------------------------------------------
    def _write_broker_config(self):
        with open(os.path.join(self.deploy, "mosquitto.conf")) as f:
            conf = f.read()
        data_dir = os.path.join(self.tmp, "data")
        os.makedirs(data_dir)
        os.chmod(data_dir, 0o777)
        for old, new in (
                ("listener 1883\n", f"listener {self.mqtt_port} 127.0.0.1\n"),
                ("/mosquitto/data/passwd", os.path.join(self.tmp, "passwd")),
                ("/mosquitto/config/acl", os.path.join(self.tmp, "acl")),
                ("persistence_location /mosquitto/data/",
                 f"persistence_location {data_dir}/")):
            if old not in conf:
                self.fail(f"deploy/mosquitto/mosquitto.conf: expected {old.strip()!r}")
            conf = conf.replace(old, new)
        if not re.search(r"^persistence true$", conf, re.M):
            self.fail("deploy/mosquitto/mosquitto.conf does not keep persistence on")
        if os.environ.get("PROPMON_TEST_MQTT_DEBUG"):
            conf += "log_type all\n"
        with open(os.path.join(self.tmp, "mosquitto.conf"), "w") as f:
            f.write(conf)
        shutil.copy(os.path.join(self.deploy, "acl"), os.path.join(self.tmp, "acl"))
        os.chmod(os.path.join(self.tmp, "acl"), 0o644)

    def start_broker(self):
        env = dict(os.environ, PROPMON_MQTT_EXPORTER_KEY=self.EXPORTER_KEY,
                   PROPMON_MQTT_EXPORTER_USER=self.DOMAIN,
                   PROPMON_MQTT_BRIDGE_KEY=self.BRIDGE_KEY,
                   PROPMON_MOSQUITTO_PASSWD=os.path.join(self.tmp, "passwd"),
                   PROPMON_MOSQUITTO_CONF=os.path.join(self.tmp, "mosquitto.conf"))
        self.broker = self.spawn(["sh", os.path.join(self.deploy, "start.sh")],
                                 "mosquitto", env=env)

        def up():
            with socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=1):
                return True
        self.wait_until(up, "mosquitto did not start")

    def stop_broker(self, sig=signal.SIGTERM):
        self.broker.send_signal(sig)
        self.broker.wait(timeout=20)

    # -- the daemons ---------------------------------------------------------
    def start_bridge(self, *extra):
        """The bridge's defaults (a persistent session keyed by host and
        port), logged in as the broker's read-only account like compose.yaml;
        the same port again after a restart, so the same session."""
        if self.bridge_port is None:
            self.bridge_port = free_port()
        self.bridge = self.spawn(
            [os.path.join(self.build, "bridge", "propmon-bridge"),
             f"--web.listen-address=127.0.0.1:{self.bridge_port}",
             f"--mqtt.url=tcp://127.0.0.1:{self.mqtt_port}",
             "--mqtt.username=propmon-bridge", *extra],
            "bridge", env=dict(os.environ, PROPMON_MQTT_PASSWORD=self.BRIDGE_KEY))
        self.wait_until(lambda: self.get_bridge("/-/ready"),
                        "the bridge did not subscribe")

    def start_exporter(self, channel, extra_config="", mqtt=True):
        """The exporter publishing as the domain's account under `channel`
        (with mqtt=False: not publishing)."""
        if self.exporter_port is None:
            self.exporter_port = free_port()
        cfg = os.path.join(self.tmp, "exporter.yml")
        with open(cfg, "w") as f:
            f.write(f"proplet_id: {channel}-proplet\n")
            if mqtt:
                f.write(f"mqtt:\n  url: tcp://127.0.0.1:{self.mqtt_port}\n"
                        f"  username: {self.DOMAIN}\n  password: {self.EXPORTER_KEY}\n"
                        f"  client_id: {self.DOMAIN}-{channel}\n"
                        f"  domain_id: {self.DOMAIN}\n  channel_id: {channel}\n")
            f.write(extra_config)
        self.exporter = self.spawn(
            [os.path.join(self.build, "exporter", "propmon-exporter"),
             f"--config.file={cfg}",
             f"--web.listen-address=127.0.0.1:{self.exporter_port}"],
            "exporter")
        self.wait_until(lambda: self.get_exporter("/-/ready"),
                        "the exporter did not start")

    def wait_exporter_connected(self):
        self.wait_until(
            lambda: self.metric("exporter", "propmon_exporter_mqtt_connected") == 1,
            "the exporter did not connect to the broker")

    def get_bridge(self, path):
        return get(f"http://127.0.0.1:{self.bridge_port}{path}")

    def get_exporter(self, path):
        return get(f"http://127.0.0.1:{self.exporter_port}{path}")

    def register(self, task_id, pid, profile="intensive", name="sleeper"):
        post(f"http://127.0.0.1:{self.exporter_port}/api/v1/tasks",
             json.dumps({"id": task_id, "name": name, "pid": pid,
                         "monitoringProfile": profile}))

    def metric(self, daemon, name):
        """Sum of every series of `name` on the daemon's /metrics, None if absent."""
        text = (self.get_bridge if daemon == "bridge" else self.get_exporter)("/metrics")
        values = [v for (n, _), v in parse_metrics(text).items() if n == name]
        return sum(values) if values else None

    def exporter_samples(self, task_id):
        page = json.loads(self.get_exporter(
            f"/api/v1/tasks/{task_id}/metrics?offset=0&limit=1000"))
        return [ts(m["timestamp"]) for m in page["metrics"]]

    def bridge_samples(self, task_id):
        page = json.loads(self.get_bridge(
            f"/tasks/{task_id}/metrics?offset=0&limit=1000"))
        return [ts(m["timestamp"]) for m in page["metrics"]]


def timed_exit(proc, sig=signal.SIGTERM, limit=20):
    """Sends `sig` and returns (seconds until the process exited, its code)."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    code = proc.wait(timeout=limit)
    return time.monotonic() - t0, code
