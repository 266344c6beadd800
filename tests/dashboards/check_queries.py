#!/usr/bin/env python3
"""Runs every query of propmon's dashboards against a live Prometheus.

Template variables are resolved the way Grafana would: each query variable's
label_values(...) is asked of Prometheus (variables it refers to substituted
first, in dashboard order); a single-value variable takes the first value, a
multi-value or "All" variable all values as a regex alternation. Grafana's
built-in variables take fixed values ($__rate_interval and $__interval from
the flags, $__range from --range, ...). Then every panel target's expr is run
through /api/v1/query.

A query fails if Prometheus answers an error or an empty result, and a
variable fails if it has no values. A query whose metric names match an
--allow-empty pattern may be empty (hardware or setup dependent series, by
default: GPUs, hardware sensors, per-task network outside a network namespace,
firing alerts); such queries are listed as ALLOWED-EMPTY, never hidden.

Usage: check_queries.py --prometheus-url URL [--dashboards DIR]
         [--rate-interval 1m] [--interval 15s] [--range 1h]
         [--allow-empty REGEX]... [--no-default-allow-empty] [--verbose]
Exits 0 when no query or variable failed, 1 otherwise, 2 when Prometheus
cannot be reached.
"""
import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboards_lib as lib  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# (pattern, why it may legitimately be empty)
DEFAULT_ALLOW_EMPTY = [
    (r"DCGM_FI_.*", "no NVIDIA GPU on the host"),
    (r"proplet_task_gpu_memory_bytes", "no task uses an NVIDIA GPU"),
    (r"node_hwmon_.*", "no hardware sensors (virtual machines)"),
    (r"proplet_task_network_.*", "tasks in the host's network namespace have no per-task network series"),
    (r"ALERTS", "no alert is firing"),
]


class PromError(Exception):
    pass


class Prometheus:
    def __init__(self, url, timeout):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path, params):
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=self.timeout) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:  # 400/422 carry a JSON error
            try:
                body = json.loads(e.read())
            except ValueError:
                raise PromError(f"HTTP {e.code}") from e
        except ValueError as e:
            raise PromError(f"invalid JSON from Prometheus: {e}") from e
        if body.get("status") != "success":
            raise PromError(f"{body.get('errorType', 'error')}: {body.get('error', body)}")
        return body.get("data")

    def query(self, expr):
        data = self.get("/api/v1/query", {"query": expr})
        result = data.get("result")
        if data.get("resultType") in ("scalar", "string"):
            return [result] if result else []
        return result or []

    def label_values(self, label, match):
        params = {"match[]": [match]} if match else {}
        return sorted(self.get(f"/api/v1/label/{urllib.parse.quote(label)}/values", params) or [])


def regex_escape(value):
    # Grafana escapes regex metacharacters of multi-value Prometheus variables.
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", value)


def substitute(text, values):
    """Replaces $name, ${name}, ${name:format} and [[name]] by values[name]."""
    return re.sub(r"\$\{(\w+)(:\w+)?\}|\$(\w+)|\[\[(\w+)\]\]",
                  lambda m: values.get(m.group(1) or m.group(3) or m.group(4), m.group(0)), text)


def builtin_values(args):
    def seconds(d):
        m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", d)
        if not m:
            sys.exit(f"check_queries.py: bad duration {d!r}")
        n, unit = int(m.group(1)), m.group(2)
        return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    rng = seconds(args.range)
    return {
        "__rate_interval": args.rate_interval, "__interval": args.interval,
        "__interval_ms": str(int(seconds(args.interval) * 1000)),
        "__range": args.range, "__range_s": str(int(rng)), "__range_ms": str(int(rng * 1000)),
        "__auto_interval": args.interval, "__dashboard": "check", "__name": "check",
    }


def resolve_variables(prom, dash, base, problems, name):
    """Returns {variable: substituted value} for the dashboard's variables."""
    values = dict(base)
    for var in (dash.get("templating") or {}).get("list") or []:
        vname, vtype = var.get("name"), var.get("type")
        if vtype == "query":
            q = substitute(lib.variable_query(var), values)
            m = re.match(r"^\s*label_values\s*\((?:(.*),)?\s*([\w]+)\s*\)\s*$", q, re.S)
            if not m:
                problems.append(f"{name}: variable ${vname}: unsupported query {q!r}")
                continue
            match, label = (m.group(1) or "").strip(), m.group(2)
            try:
                got = prom.label_values(label, match)
            except (PromError, urllib.error.URLError, OSError) as e:
                problems.append(f"{name}: variable ${vname}: {q}: ERROR {e}")
                continue
            if not got:
                problems.append(f"{name}: variable ${vname}: {q}: no values")
                continue
        elif vtype == "custom":
            got = [o.strip() for o in str(var.get("query", "")).split(",") if o.strip()]
        elif vtype in ("constant", "textbox"):
            got = [str(var.get("query", ""))]
        elif vtype == "interval":
            got = [args_interval(var)]
        else:
            continue  # datasource and adhoc variables do not change queries here
        if var.get("multi") or var.get("includeAll"):
            escaped = [regex_escape(v) for v in got]
            values[vname] = escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
        else:
            values[vname] = got[0]
        print(f"  ${vname} = {values[vname]}")
    return values


def args_interval(var):
    opts = [o.strip() for o in str(var.get("query", "1m")).split(",") if o.strip()]
    return opts[0] if opts else "1m"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prometheus-url", required=True)
    ap.add_argument("--dashboards", default=os.path.join(ROOT, "dashboards"))
    ap.add_argument("--rate-interval", default="1m")
    ap.add_argument("--interval", default="15s")
    ap.add_argument("--range", default="1h")
    ap.add_argument("--allow-empty", action="append", default=[], metavar="REGEX",
                    help="metric names whose queries may be empty (repeatable)")
    ap.add_argument("--no-default-allow-empty", action="store_true",
                    help="do not allow the default hardware-dependent names to be empty")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--verbose", action="store_true", help="print every query, not only failures")
    args = ap.parse_args()

    allow = [] if args.no_default_allow_empty else list(DEFAULT_ALLOW_EMPTY)
    allow += [(p, "--allow-empty") for p in args.allow_empty]
    allow_re = [(re.compile(p + r"\Z"), why) for p, why in allow]

    prom = Prometheus(args.prometheus_url, args.timeout)
    try:
        prom.get("/api/v1/status/buildinfo", {})
    except (PromError, urllib.error.URLError, OSError) as e:
        print(f"check_queries: cannot reach Prometheus at {args.prometheus_url}: {e}")
        return 2

    base = builtin_values(args)
    problems, allowed = [], []
    counts = {"ok": 0, "allowed": 0, "failed": 0}
    dashboards = lib.load_dashboards(args.dashboards)
    if not dashboards:
        problems.append(f"{args.dashboards}: no *.json dashboards")
    for path, dash, err in dashboards:
        name = os.path.basename(path)
        if err:
            problems.append(f"{name}: invalid JSON: {err}")
            continue
        print(f"{name}:")
        values = resolve_variables(prom, dash, base, problems, name)
        for panel in lib.iter_panels(dash):
            for ref, expr in lib.panel_queries(panel):
                where = f"{name}: {panel.get('title', '(untitled)')} [{ref}]"
                q = substitute(expr, values)
                leftover = re.findall(r"\$\{?\w+\}?|\[\[\w+\]\]", re.sub(r'"(?:[^"\\]|\\.)*"', "", q))
                if leftover:
                    problems.append(f"{where}: unresolved variables {leftover} in: {q}")
                    counts["failed"] += 1
                    continue
                try:
                    result = prom.query(q)
                except (PromError, urllib.error.URLError, OSError) as e:
                    problems.append(f"{where}: ERROR {e}\n      query: {q}")
                    counts["failed"] += 1
                    continue
                if result:
                    counts["ok"] += 1
                    if args.verbose:
                        print(f"  OK ({len(result)}) {where}")
                    continue
                reasons = sorted({why for metric in lib.metric_names(expr)
                                  for rx, why in allow_re if rx.match(metric)})
                if reasons:
                    counts["allowed"] += 1
                    allowed.append(f"{where}: empty ({'; '.join(reasons)})\n      query: {q}")
                else:
                    counts["failed"] += 1
                    problems.append(f"{where}: EMPTY result\n      query: {q}")

    for a in allowed:
        print(f"ALLOWED-EMPTY {a}")
    for p in problems:
        print(f"FAIL {p}")
    print(f"check_queries: {counts['ok']} queries with data, {counts['allowed']} allowed empty, "
          f"{counts['failed']} failed, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
