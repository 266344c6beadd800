#!/usr/bin/env python3
"""Runs deploy/mosquitto (start.sh, mosquitto.conf, acl) in a real mosquitto
on a free loopback port and checks who may do what. Accounts: "propmon"
(start.sh's default, the exporter's account in compose.yaml) and "dom-b"
(from PROPMON_MQTT_ACCOUNTS_FILE); an account may publish only under the
domain that is its name.

1. an anonymous subscriber to m/+/c/+/control/proplet/# receives what the
   propmon account (with the key start.sh was given) publishes under its own
   domain;
2. a message published anonymously to the same topic is not delivered
   (published first, so the subscriber's first message must be the
   account's);
3. the propmon account with a wrong key is refused;
4. an MQTT 5 shared subscription ($share/GROUP/...) is allowed to anonymous
   readers and receives the account's messages, legacy topic included;
5. an anonymous subscriber to a topic outside the ACL receives nothing
   even when the account publishes there (the broker drops that publish);
6. one account publishing as another: propmon's messages under dom-b's
   domain (current and legacy topics) are not delivered, dom-b's own are;
7. the manager's topics (m/propmon/c/+/control/manager/#, which the propmon
   account may read): neither the anonymous reader nor a proplet account may
   publish there, so no one poses as the manager;
8. accounts do not read other domains: dom-b subscribed to m/propmon/#
   receives nothing of what propmon publishes (mosquitto grants a wildcard
   subscription and filters each message);
9. start.sh refuses an account name that would add topic levels ("a/b")
   and starts no broker;
10. the bridge's account (propmon-bridge, PROPMON_MQTT_BRIDGE_KEY) reads
   every domain's proplet topics and may publish nothing.

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
BRIDGE_KEY = "bridge-key-" + str(os.getpid())
KEY_B = "key:b-" + str(os.getpid())  # a ':' in a password is kept


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
                         ("/mosquitto/config/acl", os.path.join(tmp, "acl")),
                         ("persistence_location /mosquitto/data/",
                          f"persistence_location {tmp}/")):
            if old not in conf:
                problems.append(f"mosquitto.conf: expected {old.strip()!r}")
            conf = conf.replace(old, new)
        with open(os.path.join(tmp, "mosquitto.conf"), "w", encoding="utf-8") as f:
            f.write(conf)
        shutil.copy(os.path.join(deploy, "acl"), os.path.join(tmp, "acl"))
        os.chmod(os.path.join(tmp, "acl"), 0o644)
        accounts = os.path.join(tmp, "accounts")
        with open(accounts, "w", encoding="utf-8") as f:
            f.write(f"# more domains\n\ndom-b:{KEY_B}\n")
        env = dict(os.environ, PROPMON_MQTT_EXPORTER_KEY=KEY,
                   PROPMON_MQTT_BRIDGE_KEY=BRIDGE_KEY,
                   PROPMON_MQTT_ACCOUNTS_FILE=accounts,
                   PROPMON_MOSQUITTO_PASSWD=os.path.join(tmp, "passwd"),
                   PROPMON_MOSQUITTO_CONF=os.path.join(tmp, "mosquitto.conf"),
                   PATH=os.path.dirname(mosquitto) + os.pathsep + os.environ.get("PATH", ""))
        env.pop("PROPMON_MQTT_EXPORTER_USER", None)  # start.sh's default, "propmon"

        # 9. A name with '/' is refused before the broker starts.
        bad = os.path.join(tmp, "bad-accounts")
        with open(bad, "w", encoding="utf-8") as f:
            f.write("a/b:secret\n")
        r = subprocess.run(["sh", os.path.join(deploy, "start.sh")],
                           env=dict(env, PROPMON_MQTT_ACCOUNTS_FILE=bad),
                           capture_output=True, text=True, timeout=DEADLINE_S)
        if r.returncode == 0 or "a/b" not in r.stderr:
            problems.append(f"start.sh accepted the account name 'a/b': "
                            f"{r.returncode} {r.stderr!r}")

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
            dom_b = Subscriber(sub_bin, port, "m/dom-b/c/+/#", 2)
            manager = Subscriber(sub_bin, port, "m/propmon/c/+/control/manager/#", 1,
                                 ["-u", "propmon", "-P", KEY, "-W", "3"])
            foreign = Subscriber(sub_bin, port, "m/propmon/#", 1,
                                 ["-u", "dom-b", "-P", KEY_B, "-W", "3"])
            bridge = Subscriber(sub_bin, port, "m/+/c/+/control/proplet/#", 2,
                                ["-u", "propmon-bridge", "-P", BRIDGE_KEY])
            subs += [plain, shared, outside, dom_b, manager, foreign, bridge]

            pub("m/propmon/c/c1/control/proplet/alive", "anonymous")
            if pub("m/propmon/c/c1/control/proplet/alive", "wrong-key", "propmon", "nope") == 0:
                problems.append("propmon with a wrong key was accepted")
            pub("other/topic", "outside", "propmon", KEY)
            # One account publishing as another: dropped by the broker.
            pub("m/dom-b/c/c1/control/proplet/alive", "propmon-as-b", "propmon", KEY)
            pub("m/dom-b/c/c1/metrics/proplet", "propmon-as-b-legacy", "propmon", KEY)
            # No one poses as the manager.
            pub("m/propmon/c/c1/control/manager/start", "anonymous-manager")
            pub("m/propmon/c/c1/control/manager/start", "proplet-manager", "propmon", KEY)
            # The bridge's account reads only.
            pub("m/propmon/c/c1/control/proplet/alive", "bridge-writes",
                "propmon-bridge", BRIDGE_KEY)
            if pub("m/propmon/c/c1/control/proplet/alive", "exporter", "propmon", KEY) != 0:
                problems.append("propmon with the right key could not publish")
            if pub("m/propmon/c/c1/metrics/proplet", "legacy", "propmon", KEY) != 0:
                problems.append("propmon could not publish the legacy topic")
            if pub("m/dom-b/c/c1/control/proplet/alive", "b-itself", "dom-b", KEY_B) != 0:
                problems.append("dom-b (from PROPMON_MQTT_ACCOUNTS_FILE) could not publish")
            pub("m/dom-b/c/c1/metrics/proplet", "b-itself-legacy", "dom-b", KEY_B)

            got = plain.messages()
            if got != ["m/propmon/c/c1/control/proplet/alive exporter"]:
                problems.append(f"anonymous subscriber got {got}, want only the account's message")
            got = shared.messages()
            if got != ["m/propmon/c/c1/metrics/proplet legacy"]:
                problems.append(f"shared subscriber got {got}, want the legacy message")
            got = outside.messages()
            if got:
                problems.append(f"subscriber outside the ACL got {got}")
            got = dom_b.messages()
            if got != ["m/dom-b/c/c1/control/proplet/alive b-itself",
                       "m/dom-b/c/c1/metrics/proplet b-itself-legacy"]:
                problems.append(f"subscriber to dom-b got {got}, want only dom-b's own messages "
                                "(propmon may not publish under dom-b)")
            got = manager.messages()
            if got:
                problems.append(f"manager topics got {got}: someone posed as the manager")
            got = foreign.messages()
            if got:
                problems.append(f"dom-b read propmon's domain: {got}")
            got = bridge.messages()
            if got != ["m/propmon/c/c1/control/proplet/alive exporter",
                       "m/dom-b/c/c1/control/proplet/alive b-itself"]:
                problems.append(f"propmon-bridge got {got}, want every domain's proplet "
                                "messages and none of its own")
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
