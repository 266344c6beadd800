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
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack  # noqa: E402

build, src = sys.argv[1], sys.argv[2]
TASKS = 20
RESTARTS = 10
KILL_AT = {3, 7}  # restarts done with SIGKILL
CHANNEL = "restart"
st = Stack(build, src, "restart")


def main():
    st.start_broker()
    st.start_bridge()
    st.start_exporter(CHANNEL)
    sleepers = []
    for i in range(TASKS):
        p = st.spawn(["sleep", "600"])
        sleepers.append(p)
        st.register(f"r{i:02d}", p.pid)
    st.wait_exporter_connected()
    time.sleep(3)

    # Restarts. Samples taken from kill_from on may be lost (and must then be
    # counted); before that, none may be lost.
    kill_from = None
    for n in range(RESTARTS):
        time.sleep(3)
        sig = signal.SIGKILL if n in KILL_AT else signal.SIGTERM
        if sig == signal.SIGKILL and kill_from is None:
            kill_from = time.time() - 2
        st.stop_broker(sig)
        time.sleep(1.5)
        st.start_broker()
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
    st.wait_until(
        lambda: st.metric("exporter", "propmon_exporter_mqtt_buffered_messages") == 0,
        "the exporter's buffer did not drain", timeout=60)
    time.sleep(3)

    missing_before_kill = []
    missing_after = 0
    missing_examples = []
    exported = 0
    for i in range(TASKS):
        tid = f"r{i:02d}"
        sent = [t for t in st.exporter_samples(tid) if t < ended_at - 0.5]
        exported += len(sent)
        got_set = set(st.bridge_samples(tid))
        for t in sent:
            if t in got_set:
                continue
            if kill_from is not None and t >= kill_from:
                missing_after += 1
                missing_examples.append((tid, t, len(sent), sent.index(t)))
            else:
                missing_before_kill.append((tid, t))
    missed = st.metric("bridge", "propmon_bridge_samples_missed_total") or 0
    dups = st.metric("bridge", "propmon_bridge_samples_duplicate_total")
    dropped = st.metric("exporter", "propmon_exporter_mqtt_dropped_total")
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
        st.fail("see above")
    st.finish()
    print("broker restarts: no silent loss")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        st.cleanup()
