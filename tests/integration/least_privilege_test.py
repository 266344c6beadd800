#!/usr/bin/env python3
"""Least privilege of propmon-exporter on the real binary (docs/security.md).

Workloads run as one throwaway uid W; the exporter runs as another, X, on a
free loopback port. The workloads are:
  t1  writes 1 MiB with fsync, then sleeps (registered through the REST API);
  t2  sleeps in its own network namespace (registered through the REST API);
  t3  a copy of sleep started through a symlink, so that only the
      /proc/PID/exe link names the copy (found by an `exe:` config matcher).
The exporter is run six ways:
  ambient    setpriv with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH as ambient
             capabilities, a bounding set of those two and no_new_privs (the
             command of docs/security.md): t1's disk bytes
             and open fds equal what root reads in /proc, t2's network series
             are there, t3 is discovered, no read errors;
  none       the same uid without capabilities: t1's disk bytes and open fds
             and t2's network series are absent (not 0), t3 is not
             discovered, propmon_exporter_errors_total{reason="read_failed"}
             grows, CPU and memory are still there;
  file       a copy of the binary with file capabilities
             cap_dac_read_search,cap_sys_ptrace=ep (deploy/Dockerfile.exporter)
             and a bounding set of only those two (compose's cap_drop: ALL,
             cap_add): as `ambient`;
  file_nnp_kept     the copy with no_new_privs, the two capabilities still in
             the permitted set at exec (Docker with moby/moby#45511): as
             `ambient`;
  file_nnp_dropped  the copy with no_new_privs, exec'ed by a non-root shell
             (an empty permitted set at exec, as Docker without
             moby/moby#45511 starts a non-root entrypoint): as `none`;
  bounding   the copy with SYS_PTRACE missing from the bounding set (cap_add
             lacks it): exec fails with "Operation not permitted".
Each run also checks the exporter's own capability sets in
/proc/PID/status: exactly the two capabilities, or none.

Usage: least_privilege_test.py EXPORTER_BIN WORK_DIR
WORK_DIR must be on a disk-backed file system (write_bytes counts block I/O).
Exits 0 when all hold, 1 with the reasons, 77 (skipped) unless run as root
with setpriv and unshare (util-linux).
"""
import json
import os
import pwd
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77
DEADLINE_S = 20  # bounds a hang only
WRITE_BYTES = 1 << 20
CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE = 2, 19
TWO_CAPS = (1 << CAP_DAC_READ_SEARCH) | (1 << CAP_SYS_PTRACE)
CAPS = "sys_ptrace,+dac_read_search"

problems = []
procs = []


def check(cond, what):
    if not cond:
        problems.append(what)
    return cond


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_uids(n):
    """Uids with no passwd entry and no process, so nothing else is theirs."""
    used = set()
    for pid in os.listdir("/proc"):
        try:
            used.add(os.stat(f"/proc/{pid}").st_uid)
        except (FileNotFoundError, ValueError):
            pass
    out = []
    for uid in range(61700, 62700):
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        if uid not in used:
            out.append(uid)
        if len(out) == n:
            return out
    raise RuntimeError("no free uids in 61700..62699")


def as_uid(uid, *extra):
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *extra]


def status_caps(pid):
    caps = {}
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("Cap") or line.startswith("NoNewPrivs"):
                k, v = line.split(":", 1)
                caps[k] = int(v.strip(), 16) if k.startswith("Cap") else int(v)
    return caps


def truth(pid):
    """What root reads: write_bytes of /proc/PID/io and entries of fd/."""
    with open(f"/proc/{pid}/io", encoding="utf-8") as f:
        io = dict(line.split(": ") for line in f.read().splitlines())
    return int(io["write_bytes"]), len(os.listdir(f"/proc/{pid}/fd"))


def http(port, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                 method="POST" if body else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode()


def scrape(port):
    """{(name, task_id or None): value} and {(name, reason): value}."""
    out = {}
    for line in http(port, "/metrics")[1].splitlines():
        m = re.match(r'^([a-z_]+)(\{[^}]*\})? (\S+)$', line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        key = labels.get("task_id", labels.get("reason"))
        out[(m.group(1), key)] = float(m.group(3))
    return out


def wait_for(cond, what):
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        try:
            v = cond()
            if v:
                return v
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def start(argv, log_path, **kw):
    log = open(log_path, "w")
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def set_file_caps(path):
    """setcap cap_dac_read_search,cap_sys_ptrace=ep PATH, without libcap2-bin:
    struct vfs_cap_data, revision 2, effective flag, permitted = the two."""
    os.setxattr(path, "security.capability",
                struct.pack("<5I", 0x02000000 | 0x1, TWO_CAPS, 0, 0, 0))


def run_exporter(mode, argv, tmp, workloads, want_caps, want_data):
    """Starts the exporter as `argv`, registers t1 and t2, waits for two
    samples of each and checks the series against the ground truth."""
    port = free_port()
    log_path = os.path.join(tmp, f"exporter-{mode}.log")
    p = start(argv + ["--config.file", workloads["config"],
                      "--web.listen-address", f"127.0.0.1:{port}"], log_path, cwd=tmp)
    tag = f"{mode}:"
    try:
        wait_for(lambda: p.poll() is not None or http(port, "/-/healthy")[0] == 200,
                 f"{mode} exporter to listen")
        if not check(p.poll() is None, f"{tag} exporter exited with {p.returncode}"):
            return
        caps = status_caps(p.pid)
        want = TWO_CAPS if want_caps else 0
        check(caps["CapEff"] == want and caps["CapPrm"] == want,
              f"{tag} exporter capabilities {caps}, want effective = permitted = {want:#x}")
        for tid, pid in (("t1", workloads["t1"]), ("t2", workloads.get("t2"))):
            if pid is None:
                continue
            body = {"id": tid, "name": "w", "pid": pid, "monitoringProfile": {"interval": 1}}
            status, text = http(port, "/api/v1/tasks", json.dumps(body).encode())
            check(status == 201, f"{tag} POST {tid}: {status} {text}")
        # The usage ratio needs two samples: each was read after registering.
        tasks = [t for t in ("t1", "t2") if workloads.get(t)]
        got = wait_for(lambda: (lambda s: s if all(
            ("proplet_task_cpu_usage_ratio", t) in s for t in tasks) else None)(scrape(port)),
            f"{mode}: two samples of {tasks}")
        if workloads.get("t3"):
            # Discovery scans /proc every second (discovery_interval: 1).
            if want_data:
                got = wait_for(lambda: (lambda s: s if ("proplet_task_running", "t3") in s
                                        else None)(scrape(port)), f"{mode}: t3 discovered")
            else:
                time.sleep(2.5)
                got = scrape(port)
        wbytes, nfds = truth(workloads["t1"])
        check(wbytes >= WRITE_BYTES, f"{tag} the workload's write_bytes is {wbytes} (as root), "
              f"want >= {WRITE_BYTES}: is WORK_DIR on tmpfs?")
        for name in ("proplet_task_cpu_seconds_total", "proplet_task_memory_bytes"):
            check((name, "t1") in got, f"{tag} {name} for t1 absent; it needs no capability")
        disk = got.get(("proplet_task_disk_write_bytes_total", "t1"))
        fds = got.get(("proplet_task_open_fds", "t1"))
        errors = got.get(("propmon_exporter_errors_total", "read_failed"))
        net = [got.get((f"proplet_task_network_{d}_bytes_total", "t2"))
               for d in ("receive", "transmit")]
        found = ("proplet_task_running", "t3") in got
        print(f"{mode}: CapEff {caps['CapEff']:#x}; t1 disk_write_bytes_total {disk} "
              f"(root reads {wbytes}), open_fds {fds} ({nfds}); t2 network {net}; "
              f"t3 {'discovered' if found else 'not discovered'}; read_failed {errors}")
        if want_data:
            check(disk is not None and disk >= WRITE_BYTES and abs(disk - wbytes) <= 65536,
                  f"{tag} disk_write_bytes_total for t1 = {disk}, want {wbytes} "
                  f"(/proc/PID/io as root) and >= {WRITE_BYTES}")
            check(fds == nfds, f"{tag} open_fds for t1 = {fds}, want {nfds} (fd/ as root)")
            check(errors == 0, f"{tag} read_failed errors = {errors}, want 0")
            if workloads.get("t2"):
                check(None not in net, f"{tag} network series for t2 (own netns) = {net}, "
                      "want both present")
            if workloads.get("t3"):
                check(found, f"{tag} t3 (exe matcher) not discovered")
        else:
            for name in ("proplet_task_disk_write_bytes_total",
                         "proplet_task_disk_read_bytes_total", "proplet_task_open_fds"):
                check((name, "t1") not in got,
                      f"{tag} {name} for t1 = {got.get((name, 't1'))}, want absent")
            check(errors is not None and errors > 0,
                  f"{tag} read_failed errors = {errors}, want > 0")
            if workloads.get("t2"):
                check(net == [None, None], f"{tag} network series for t2 = {net}, want absent")
            if workloads.get("t3"):
                check(not found, f"{tag} t3 was discovered without /proc/PID/exe")
    except (RuntimeError, OSError) as e:
        problems.append(f"{tag} {e}")
    finally:
        stop(p)
        if any(x.startswith(tag) for x in problems):
            with open(log_path, encoding="utf-8", errors="replace") as f:
                problems.append(f"{tag} exporter log:\n" + f.read()[-1500:])


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    exporter, work = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    if os.geteuid() != 0:
        print("skip: needs root (switches uids with setpriv)")
        return SKIP
    for tool in ("setpriv", "unshare"):
        if not shutil.which(tool):
            print(f"skip: {tool} (util-linux) not found")
            return SKIP
    own = status_caps(os.getpid())
    if own["CapEff"] & TWO_CAPS != TWO_CAPS:
        print(f"skip: this root lacks CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH ({own})")
        return SKIP
    w_uid, x_uid = free_uids(2)
    os.makedirs(work, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="propmon-least-privilege-", dir=work)
    os.chmod(tmp, 0o755)
    workloads = {}
    try:
        wdir = os.path.join(tmp, "w")
        os.mkdir(wdir)
        os.chown(wdir, w_uid, w_uid)
        ready = os.path.join(wdir, "ready")
        # t1: 1 MiB written with fsync by dd; sh reaps dd (its I/O rolls into
        # sh's /proc/PID/io) and becomes sleep.
        t1 = start(as_uid(w_uid) + [
            "sh", "-c", 'dd if=/dev/zero of="$1" bs=64k count=16 conv=fsync 2>/dev/null '
            '&& : > "$2" && exec sleep 600', "sh", os.path.join(wdir, "data"), ready],
            os.path.join(tmp, "t1.log"))
        wait_for(lambda: os.path.exists(ready) or t1.poll() is not None, "t1 to write")
        if t1.poll() is not None:
            raise RuntimeError(f"t1 exited with {t1.returncode}")
        workloads["t1"] = t1.pid
        # t2: a network namespace of its own (unshare execs setpriv execs
        # sleep: one pid).
        t2 = start(["unshare", "--net"] + as_uid(w_uid) + ["sleep", "600"],
                   os.path.join(tmp, "t2.log"))
        time.sleep(0.3)
        if t2.poll() is None:
            workloads["t2"] = t2.pid
        else:
            print("note: unshare --net failed; network namespace checks skipped")
        # t3: argv[0] is a symlink, /proc/PID/exe the copy it points to.
        copy = os.path.join(tmp, "propmon-lp-sleep")
        shutil.copy(shutil.which("sleep"), copy)
        os.chmod(copy, 0o755)
        link = os.path.join(tmp, "lp-sleep-link")
        os.symlink(copy, link)
        t3 = start(as_uid(w_uid) + [link, "600"], os.path.join(tmp, "t3.log"))
        workloads["t3"] = t3.pid
        config = os.path.join(tmp, "exporter.yml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(f"discovery_interval: 1\ntasks:\n  - exe: [{copy}]\n    id: t3\n"
                    "    profile: {interval: 1}\n")
        os.chmod(config, 0o644)
        workloads["config"] = config

        # The binary with file capabilities, as in deploy/Dockerfile.exporter.
        fcap = os.path.join(tmp, "propmon-exporter")
        shutil.copy(exporter, fcap)
        os.chmod(fcap, 0o755)
        set_file_caps(fcap)
        bounding = f"--bounding-set=-all,+{CAPS}"
        # docs/security.md's command, but numeric uids (no passwd entries).
        caps_on = [f"--inh-caps=+{CAPS}", f"--ambient-caps=+{CAPS}", bounding, "--no-new-privs"]
        runs = [
            ("ambient", as_uid(x_uid, *caps_on) + [exporter], True),
            ("none", as_uid(x_uid) + [exporter], False),
            ("file", as_uid(x_uid, bounding) + [fcap], True),
            ("file_nnp_kept", as_uid(x_uid, bounding, "--no-new-privs") + [fcap], True),
            ("file_nnp_dropped", as_uid(x_uid, bounding, "--no-new-privs") +
             ["sh", "-c", 'exec "$0" "$@"', fcap], False),
        ]
        for mode, cmd, want in runs:
            run_exporter(mode, cmd, tmp, workloads, want_caps=want, want_data=want)

        # cap_add without SYS_PTRACE: the kernel refuses to exec a binary
        # whose file capabilities (with the effective bit) it cannot grant.
        r = subprocess.run(as_uid(x_uid, "--bounding-set=-all,+dac_read_search") +
                           [fcap, "--version"], capture_output=True, text=True,
                           timeout=DEADLINE_S)
        check(r.returncode != 0 and "Operation not permitted" in r.stderr,
              f"bounding: exec without SYS_PTRACE in the bounding set gave {r.returncode} "
              f"{r.stderr.strip()!r}, want 'Operation not permitted'")
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        problems.append(f"error: {e}")
    finally:
        for p in procs:
            stop(p)
    for p in problems:
        print(p)
    print(f"least_privilege: {len(problems)} problem(s)")
    if problems:
        print(f"logs in {tmp}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
