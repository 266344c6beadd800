#!/usr/bin/env python3
"""A minimal Alertmanager webhook receiver that logs what it gets.

Every POST (any path: Alertmanager's receivers use /critical, /warning, ...)
must carry Alertmanager's webhook JSON; it is answered 200 and written as one
JSON line: {"time", "path", "status", "receiver", "alerts": [{"status",
"labels", "annotations", "startsAt", "endsAt"}]}. A body that is not JSON is
answered 400 and logged as {"time", "path", "error"}. GET / answers "ok".

Usage: alert_log.py [--listen HOST:PORT] [--output FILE]
  --listen  address to bind (default 127.0.0.1:5001)
  --output  append lines to FILE instead of standard output
Stops on SIGINT or SIGTERM. Standard library only.
"""
import argparse
import http.server
import json
import signal
import sys
import threading
import time

MAX_BODY = 4 << 20  # 4 MiB; Alertmanager batches are far smaller.


class Handler(http.server.BaseHTTPRequestHandler):
    out = sys.stdout
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # keep stdout for the alert lines
        pass

    def _reply(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _write(self, record):
        line = json.dumps(record, sort_keys=True)
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()

    def do_GET(self):
        self._reply(200, "ok\n")

    def do_POST(self):
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._write({"time": now, "path": self.path, "error": "bad Content-Length"})
            self._reply(400, "bad Content-Length\n")
            return
        raw = self.rfile.read(length)
        try:
            msg = json.loads(raw)
            alerts = [{
                "status": a.get("status"),
                "labels": a.get("labels", {}),
                "annotations": a.get("annotations", {}),
                "startsAt": a.get("startsAt"),
                "endsAt": a.get("endsAt"),
            } for a in msg.get("alerts", [])]
            record = {"time": now, "path": self.path, "status": msg.get("status"),
                      "receiver": msg.get("receiver"), "alerts": alerts}
        except (ValueError, AttributeError, TypeError) as e:
            self._write({"time": now, "path": self.path, "error": f"invalid webhook JSON: {e}"})
            self._reply(400, "invalid webhook JSON\n")
            return
        self._write(record)
        self._reply(200, "ok\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:5001")
    parser.add_argument("--output")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    if args.output:
        Handler.out = open(args.output, "a", encoding="utf-8")
    server = http.server.ThreadingHTTPServer((host or "0.0.0.0", int(port)), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"alert_log: listening on {args.listen}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()


if __name__ == "__main__":
    main()
