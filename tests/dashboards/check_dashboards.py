#!/usr/bin/env python3
"""Static checks of propmon's Grafana dashboards.

For every dashboards/*.json: valid JSON; a fixed, unique `uid`; `"id": null`;
every Prometheus datasource reference (dashboard, panels, targets, variables)
uses a uid that grafana/provisioning/datasources/*.yml provisions; every panel
other than a row or text has at least one target with an expr; panel ids are
unique. Then every metric name used in a panel expr or a variable query,
except recording rules defined in rules/*.yml and Prometheus's own series
(up, ALERTS, scrape_*), must appear in docs/metrics.md; missing names are
listed with where they are used.

Usage: check_dashboards.py [--dashboards DIR] [--provisioning DIR]
                           [--rules DIR] [--metrics-doc FILE]
Defaults are the repository's paths, relative to the repository root.
Exits 0 when all hold, 1 otherwise.
"""
import argparse
import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboards_lib as lib  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def provisioned_uids(provisioning):
    uids = set()
    for path in glob.glob(os.path.join(provisioning, "datasources", "*.y*ml")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^\s*-?\s*uid:\s*['\"]?([\w.-]+)", line)
                if m:
                    uids.add(m.group(1))
    return uids


def datasource_refs(node, where):
    """Yields (where, datasource dict) for every "datasource" object in node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                yield where, value
            else:
                yield from datasource_refs(value, where)
    elif isinstance(node, list):
        for item in node:
            yield from datasource_refs(item, where)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dashboards", default=os.path.join(ROOT, "dashboards"))
    ap.add_argument("--provisioning", default=os.path.join(ROOT, "grafana", "provisioning"))
    ap.add_argument("--rules", default=os.path.join(ROOT, "rules"))
    ap.add_argument("--metrics-doc", default=os.path.join(ROOT, "docs", "metrics.md"))
    args = ap.parse_args()

    problems = []
    uids = provisioned_uids(args.provisioning)
    if not uids:
        problems.append(f"{args.provisioning}/datasources: no datasource uid provisioned")
    records = lib.recording_rule_names(args.rules)
    used = {}  # metric name -> set of "file: panel"
    seen_uids = {}

    dashboards = lib.load_dashboards(args.dashboards)
    if not dashboards:
        problems.append(f"{args.dashboards}: no *.json dashboards")
    for path, dash, err in dashboards:
        name = os.path.basename(path)
        if err:
            problems.append(f"{name}: invalid JSON: {err}")
            continue
        uid = dash.get("uid")
        if not isinstance(uid, str) or not uid or len(uid) > 40:
            problems.append(f"{name}: uid must be a fixed string of 1-40 characters, got {uid!r}")
        elif uid in seen_uids:
            problems.append(f"{name}: uid {uid!r} also used by {seen_uids[uid]}")
        else:
            seen_uids[uid] = name
        if "id" not in dash or dash["id"] is not None:
            problems.append(f"{name}: \"id\" must be null, got {dash.get('id', '(missing)')!r}")
        if not dash.get("title"):
            problems.append(f"{name}: no title")

        for where, ds in datasource_refs(dash, name):
            if ds.get("type") == "prometheus" and ds.get("uid") not in uids:
                problems.append(f"{name}: datasource uid {ds.get('uid')!r} is not provisioned ({sorted(uids)})")
            elif ds.get("type") not in ("prometheus", "grafana", "datasource"):
                problems.append(f"{name}: unexpected datasource {ds}")

        ids = set()
        for panel in lib.iter_panels(dash):
            title = panel.get("title", "(untitled)")
            pid = panel.get("id")
            if pid in ids:
                problems.append(f"{name}: panel id {pid} used twice")
            ids.add(pid)
            if panel.get("type") in ("row", "text"):
                continue
            queries = lib.panel_queries(panel)
            if not queries:
                problems.append(f"{name}: panel {title!r} has no target with an expr")
            for ref, expr in queries:
                for metric in lib.metric_names(expr):
                    used.setdefault(metric, set()).add(f"{name}: {title} [{ref}]")
        for var in (dash.get("templating") or {}).get("list") or []:
            if var.get("type") != "query":
                continue
            for metric in lib.metric_names(lib.variable_query(var)):
                used.setdefault(metric, set()).add(f"{name}: variable ${var.get('name')}")

    try:
        with open(args.metrics_doc, encoding="utf-8") as f:
            doc = f.read()
    except OSError as e:
        doc = ""
        problems.append(f"{args.metrics_doc}: cannot read: {e}")
    missing = []
    for metric in sorted(used):
        if metric in records or lib.BUILTIN_METRICS.match(metric):
            continue
        if not re.search(r"(?<![\w:])" + re.escape(metric) + r"(?![\w:])", doc):
            missing.append(metric)
    if missing:
        problems.append(f"{len(missing)} metric name(s) used by dashboards are not in "
                        f"{os.path.relpath(args.metrics_doc)}:")
        for metric in missing:
            problems.append(f"  {metric}    used in: {'; '.join(sorted(used[metric]))}")

    for p in problems:
        print(p)
    print(f"check_dashboards: {len(dashboards)} dashboards, {len(used)} metric names "
          f"({len([m for m in used if m in records])} recording rules), {len(problems)} problem line(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
