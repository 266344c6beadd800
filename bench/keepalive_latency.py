#!/usr/bin/env python3
"""Request latency of propmon-exporter on one kept-alive connection against a
new connection per request: N task registrations (POST /api/v1/tasks, a
201 with a small JSON body) and N GETs of one task. Prints the median and
the 90th percentile of each, in milliseconds.

Before CivetWeb's tcp_nodelay was set, the server wrote a response's head
and body in two writes, and on a kept-alive connection the body waited for
the client's delayed ACK (Nagle): about 40 ms a request.

Usage: bench/keepalive_latency.py [BUILD_DIR] [N]   (default build, 50)"""
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 50


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="pm-keepalive-")
    log = open(os.path.join(tmp, "exporter.log"), "w")
    exporter = subprocess.Popen(
        [os.path.join(build, "exporter", "propmon-exporter"),
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/-/ready")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        headers = {"Content-Type": "application/json"}

        def post(conn, i, tag):
            body = json.dumps({"id": f"{tag}-{i}", "pid": sleeper.pid,
                               "monitoring_profile": "minimal"})
            conn.request("POST", "/api/v1/tasks", body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            assert r.status == 201, r.status

        def get(conn, i, tag):
            conn.request("GET", f"/api/v1/tasks/{tag}-0")
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status

        rows = []
        for what, fn in (("POST /api/v1/tasks", post), ("GET /api/v1/tasks/ID", get)):
            for mode in ("kept-alive", "new connection"):
                tag = f"{mode[:4]}-{what[:3]}".replace(" ", "")
                if fn is get:
                    tag = f"{mode[:4]}-POS".replace(" ", "")
                times = []
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                for i in range(n):
                    if mode == "new connection":
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    t0 = time.perf_counter()
                    fn(conn, i, tag)
                    times.append((time.perf_counter() - t0) * 1000)
                conn.close()
                times.sort()
                rows.append((what, mode, statistics.median(times),
                             times[int(0.9 * (len(times) - 1))]))
        print(f"| request | connection | median ms | p90 ms |  ({n} each)")
        print("|---|---|---|---|")
        for what, mode, med, p90 in rows:
            print(f"| {what} | {mode} | {med:.2f} | {p90:.2f} |")
    finally:
        exporter.terminate()
        sleeper.terminate()
        exporter.wait()
        sleeper.wait()
        log.close()


main()
