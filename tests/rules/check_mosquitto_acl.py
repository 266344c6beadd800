#!/usr/bin/env python3
"""Runs deploy/mosquitto (start.sh, mosquitto.conf, acl) in a real mosquitto
on a free loopback port and checks who may do what:

1. an anonymous subscriber to m/+/c/+/control/proplet/# receives what
   propmon-exporter (with the key start.sh was given) publishes there;
2. a message published anonymously to the same topic is not delivered
   (published first, so the subscriber's first message must be the
   exporter's);
3. propmon-exporter with a wrong key is refused;
4. an MQTT 5 shared subscription ($share/GROUP/...) is allowed to anonymous
   readers and receives the exporter's messages, legacy topic included;
5. an anonymous subscriber to a topic outside the ACL receives nothing
   even when the exporter publishes there (the broker drops that publish).

Usage: check_mosquitto_acl.py MOSQUITTO_BIN MOSQUITTO_PUB MOSQUITTO_SUB DEPLOY_MOSQUITTO_DIR
Exits 0 when all hold, 1 with the reasons otherwise.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

DEADLINE_S = 20  # bounds a hang only
KEY = "test-key-" + str(os.getpid())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Subscriber:
    """mosquitto_sub in debug mode; waits for SUBACK, collects messages."""

    def __init__(self, sub_bin, port, topic, count, extra=()):
        self.proc = subprocess.Popen(
            # Line-buffered: mosquitto_sub's debug lines are stdio-buffered.
            ["stdbuf", "-oL", sub_bin, "-h", "127.0.0.1", "-p", str(port), "-d", "-v", "-t", topic,
             "-C", str(count), "-W", str(DEADLINE_S), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines, self.subscribed = [], threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.subscribed.wait(DEADLINE_S):
            raise RuntimeError(f"no SUBACK for {topic}: {self.lines}")

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if "SUBACK" in line:
                self.subscribed.set()

    def messages(self):
        self.proc.wait(timeout=DEADLINE_S + 5)
        time.sleep(0.1)
        return [l for l in self.lines if l.startswith("m/") or l.startswith("other/")]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    mosquitto, pub_bin, sub_bin, deploy = argv[1:]
    problems, subs = [], []
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="propmon-mqtt-") as tmp:
        os.chmod(tmp, 0o755)  # mosquitto may drop privileges to its own user
        with open(os.path.join(deploy, "mosquitto.conf"), encoding="utf-8") as f:
            conf = f.read()
        for old, new in (("listener 1883\n", f"listener {port} 127.0.0.1\n"),
                         ("/mosquitto/data/passwd", os.path.join(tmp, "passwd")),
                         ("/mosquitto/config/acl", os.path.join(tmp, "acl"))):
            if old not in conf:
                problems.append(f"mosquitto.conf: expected {old.strip()!r}")
            conf = conf.replace(old, new)
        with open(os.path.join(tmp, "mosquitto.conf"), "w", encoding="utf-8") as f:
            f.write(conf)
        shutil.copy(os.path.join(deploy, "acl"), os.path.join(tmp, "acl"))
        os.chmod(os.path.join(tmp, "acl"), 0o644)
        env = dict(os.environ, PROPMON_MQTT_EXPORTER_KEY=KEY,
                   PROPMON_MOSQUITTO_PASSWD=os.path.join(tmp, "passwd"),
                   PROPMON_MOSQUITTO_CONF=os.path.join(tmp, "mosquitto.conf"),
                   PATH=os.path.dirname(mosquitto) + os.pathsep + os.environ.get("PATH", ""))
        log = open(os.path.join(tmp, "mosquitto.log"), "w")
        broker = subprocess.Popen(["sh", os.path.join(deploy, "start.sh")], env=env,
                                  stdout=log, stderr=subprocess.STDOUT)

        def pub(topic, msg, user=None, key=None):
            cmd = [pub_bin, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic, "-m", msg]
            if user:
                cmd += ["-u", user, "-P", key]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=DEADLINE_S).returncode

        try:
            end = time.monotonic() + DEADLINE_S
            while time.monotonic() < end:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if broker.poll() is not None:
                        raise RuntimeError("mosquitto exited at start")
                    time.sleep(0.1)
            else:
                raise RuntimeError("mosquitto did not listen")

            plain = Subscriber(sub_bin, port, "m/+/c/+/control/proplet/#", 1)
            shared = Subscriber(sub_bin, port, "$share/bridges/m/+/c/+/metrics/proplet", 1,
                                ["-V", "mqttv5"])
            outside = Subscriber(sub_bin, port, "other/#", 1, ["-W", "3"])
            subs += [plain, shared, outside]

            pub("m/d1/c/c1/control/proplet/alive", "anonymous")
            if pub("m/d1/c/c1/control/proplet/alive", "wrong-key", "propmon-exporter", "nope") == 0:
                problems.append("propmon-exporter with a wrong key was accepted")
            pub("other/topic", "outside", "propmon-exporter", KEY)
            if pub("m/d1/c/c1/control/proplet/alive", "exporter", "propmon-exporter", KEY) != 0:
                problems.append("propmon-exporter with the right key could not publish")
            if pub("m/d1/c/c1/metrics/proplet", "legacy", "propmon-exporter", KEY) != 0:
                problems.append("propmon-exporter could not publish the legacy topic")

            got = plain.messages()
            if got != ["m/d1/c/c1/control/proplet/alive exporter"]:
                problems.append(f"anonymous subscriber got {got}, want only the exporter's message")
            got = shared.messages()
            if got != ["m/d1/c/c1/metrics/proplet legacy"]:
                problems.append(f"shared subscriber got {got}, want the legacy message")
            got = outside.messages()
            if got:
                problems.append(f"subscriber outside the ACL got {got}")
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            problems.append(f"error: {e}")
        finally:
            for s in subs:
                s.stop()
            broker.terminate()
            try:
                broker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()
            if problems:
                log.flush()
                with open(os.path.join(tmp, "mosquitto.log"), encoding="utf-8", errors="replace") as f:
                    problems.append("mosquitto log:\n" + f.read()[-2000:])

    for p in problems:
        print(p)
    print(f"check_mosquitto_acl: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
