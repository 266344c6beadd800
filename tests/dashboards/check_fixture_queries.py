#!/usr/bin/env python3
"""Proves every dashboard query against a real Prometheus fed with fixtures.

Serves tests/dashboards/fixtures/exporter.prom and bridge.prom as two /metrics
targets (jobs propmon-exporter and propmon-bridge, as in
deploy/prometheus/prometheus.yml), starts a real Prometheus on a free loopback
port that scrapes them every second and evaluates rules/*.yml, waits for a
few scrapes and rule evaluations, then runs check_queries.py with no default
empty-allowances (the fixtures hold GPU, sensor and per-task network series
too); only ALERTS may be empty. The live-stack test (real exporter and bridge)
is the integrator's; this one pins the queries to the documented schema.

Usage: check_fixture_queries.py PROMETHEUS_BIN
Exits with check_queries.py's status, or 1 if the setup fails.
"""
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEADLINE_S = 120  # bounds a hang only


def serve(path):
    with open(path, "rb") as f:
        body = f.read()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())["data"]["result"]


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    prometheus = argv[1]
    servers = [serve(os.path.join(HERE, "fixtures", f)) for f in ("exporter.prom", "bridge.prom")]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="propmon-dash-") as tmp:
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - {os.path.join(ROOT, 'rules')}/*.yml
scrape_configs:
  - job_name: propmon-exporter
    static_configs: [{{targets: ['127.0.0.1:{servers[0].server_address[1]}']}}]
  - job_name: propmon-bridge
    static_configs: [{{targets: ['127.0.0.1:{servers[1].server_address[1]}']}}]
""")
        log = open(os.path.join(tmp, "prometheus.log"), "w")
        proc = subprocess.Popen([prometheus, f"--config.file={cfg}",
                                 f"--web.listen-address=127.0.0.1:{port}",
                                 f"--storage.tsdb.path={tmp}/data"],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            end = time.monotonic() + DEADLINE_S
            ready = False
            while time.monotonic() < end and proc.poll() is None:
                try:
                    if (query(base, 'count_over_time(up{job="propmon-bridge"}[1m]) >= 4')
                            and query(base, "count_over_time(fleet:task_completions:rate5m[1m]) >= 2")):
                        ready = True
                        break
                except OSError:
                    pass
                time.sleep(0.5)
            if not ready:
                log.flush()
                with open(os.path.join(tmp, "prometheus.log"), encoding="utf-8", errors="replace") as f:
                    print(f.read()[-3000:])
                print("check_fixture_queries: Prometheus did not scrape and evaluate the rules in time")
                return 1
            return subprocess.call([sys.executable, os.path.join(HERE, "check_queries.py"),
                                    "--prometheus-url", base, "--rate-interval", "30s",
                                    "--no-default-allow-empty", "--allow-empty", "ALERTS"])
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for s in servers:
                s.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
