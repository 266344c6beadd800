"""Shared helpers of check_dashboards.py and check_queries.py: reading Grafana
dashboard JSON, listing panel queries, and finding the metric names a PromQL
expression uses. Standard library only."""
import glob
import json
import os
import re

# PromQL words that look like identifiers but are not metric names.
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "inf", "nan", "atan2", "start", "end",
}
# Series Prometheus itself makes: not documented in docs/metrics.md.
BUILTIN_METRICS = re.compile(
    r"^(up|ALERTS|ALERTS_FOR_STATE|scrape_duration_seconds|scrape_samples_scraped|"
    r"scrape_samples_post_metric_relabeling|scrape_series_added)$")

_GROUPING = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w.:$])[A-Za-z_:][\w:]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]")


def load_dashboards(directory):
    """Returns [(path, dashboard dict or None, error or None)] for *.json."""
    out = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                out.append((path, json.load(f), None))
        except (OSError, ValueError) as e:
            out.append((path, None, str(e)))
    return out


def iter_panels(dashboard):
    """Yields every panel, including those nested in rows."""
    for panel in dashboard.get("panels") or []:
        yield panel
        for inner in panel.get("panels") or []:
            yield inner


def panel_queries(panel):
    """Returns [(refId, expr)] of a panel's targets that have an expr."""
    return [(t.get("refId", "?"), t.get("expr", ""))
            for t in panel.get("targets") or [] if t.get("expr")]


def variable_query(var):
    """Returns the query text of a templating variable ('' if none)."""
    q = var.get("query", "")
    if isinstance(q, dict):
        q = q.get("query", "")
    return q or var.get("definition", "") or ""


def metric_names(expr):
    """Returns the set of metric names an expression selects.

    Strips strings, label matchers, ranges, grouping clauses and template
    variables first; what is left are identifiers that are not followed by
    "(" (functions and aggregations) and are not PromQL keywords. In
    label_values(metric, label) only the metric is a name."""
    names = set()
    m = re.match(r"^\s*label_values\s*\((.*)\)\s*$", expr, re.S)
    if m:
        args = m.group(1)
        depth, split = 0, None
        for i, c in enumerate(args):
            if c in "{(":
                depth += 1
            elif c in "})":
                depth -= 1
            elif c == "," and depth == 0:
                split = i
        if split is None:
            return names  # label_values(label): no metric
        expr = args[:split]
    text = _STRING.sub('""', expr)
    text = _VARIABLE.sub(" ", text)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    prev = None
    while prev != text:
        prev = text
        text = _GROUPING.sub(" ", text)
    for match in _IDENT.finditer(text):
        word = match.group(0)
        rest = text[match.end():].lstrip()
        if rest.startswith("("):
            continue  # function or aggregation
        if word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def recording_rule_names(rules_dir):
    """Returns the names of all recording rules in rules_dir/*.yml (by regex,
    so that no YAML library is needed)."""
    names = set()
    for path in glob.glob(os.path.join(rules_dir, "*.yml")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^\s*-?\s*record:\s*['\"]?([A-Za-z_:][\w:]*)", line)
                if m:
                    names.add(m.group(1))
    return names
