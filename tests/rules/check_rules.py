#!/usr/bin/env python3
"""Checks what promtool does not: the conventions of propmon's rules.

For every alerting rule in RULES_DIR/*.yml:
  - it has `for:`, a `severity` label in {critical, warning, info}, and
    `summary`, `description` and `runbook_url` annotations;
  - runbook_url is `docs/runbooks.md#<anchor>` and RUNBOOKS has a heading
    whose GitHub anchor is <anchor>;
  - TESTS_DIR/*.yml has an alert_rule_test where it fires (non-empty
    exp_alerts, with exp_labels and exp_annotations) and one where it does
    not (empty exp_alerts).
For every recording rule: some promql_expr_test in TESTS_DIR uses its name.

Usage: check_rules.py RULES_DIR TESTS_DIR RUNBOOKS
Exits 0 when all hold; otherwise prints one line per problem and exits 1.
"""
import glob
import os
import re
import sys

try:
    import yaml
except ImportError:  # Debian: python3-yaml
    sys.exit("check_rules.py: needs PyYAML (Debian package python3-yaml)")

SEVERITIES = {"critical", "warning", "info"}
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")
RUNBOOK_PREFIX = "docs/runbooks.md#"


def github_anchor(heading):
    """Returns the anchor GitHub gives a Markdown heading's text."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def load_yaml(path, problems):
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        problems.append(f"{path}: cannot read: {e}")
        return {}


def main(argv):
    if len(argv) != 4:
        sys.exit(__doc__)
    rules_dir, tests_dir, runbooks = argv[1:]
    problems = []

    alerts = {}  # name -> rule file
    records = {}
    rule_files = sorted(glob.glob(os.path.join(rules_dir, "*.yml")))
    if not rule_files:
        problems.append(f"{rules_dir}: no *.yml rule files")
    for path in rule_files:
        doc = load_yaml(path, problems)
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    name = rule["alert"]
                    where = f"{path}: alert {name}"
                    if name in alerts:
                        problems.append(f"{where}: defined twice")
                    alerts[name] = path
                    if not rule.get("for"):
                        problems.append(f"{where}: no for:")
                    severity = (rule.get("labels") or {}).get("severity")
                    if severity not in SEVERITIES:
                        problems.append(
                            f"{where}: severity {severity!r} not in {sorted(SEVERITIES)}")
                    annotations = rule.get("annotations") or {}
                    for key in REQUIRED_ANNOTATIONS:
                        if not annotations.get(key):
                            problems.append(f"{where}: no {key} annotation")
                    url = annotations.get("runbook_url", "")
                    if url and not url.startswith(RUNBOOK_PREFIX):
                        problems.append(f"{where}: runbook_url {url!r} does not start with {RUNBOOK_PREFIX}")
                elif "record" in rule:
                    records[rule["record"]] = path

    # Runbook anchors.
    anchors = set()
    try:
        with open(runbooks, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
                if m:
                    anchors.add(github_anchor(m.group(1)))
    except OSError as e:
        problems.append(f"{runbooks}: cannot read: {e}")
    for path in rule_files:
        doc = load_yaml(path, problems)
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                url = (rule.get("annotations") or {}).get("runbook_url", "")
                if url.startswith(RUNBOOK_PREFIX):
                    anchor = url[len(RUNBOOK_PREFIX):]
                    if anchor not in anchors:
                        problems.append(
                            f"{path}: alert {rule.get('alert')}: runbook anchor #{anchor} not in {runbooks}")

    # Test coverage.
    fires, silent, tested_exprs = set(), set(), []
    test_files = sorted(glob.glob(os.path.join(tests_dir, "*.yml")))
    if not test_files:
        problems.append(f"{tests_dir}: no *.yml test files")
    for path in test_files:
        doc = load_yaml(path, problems)
        for test in doc.get("tests") or []:
            for case in test.get("alert_rule_test") or []:
                name = case.get("alertname")
                exp = case.get("exp_alerts") or []
                if not exp:
                    silent.add(name)
                    continue
                if all(a.get("exp_labels") and a.get("exp_annotations") for a in exp):
                    fires.add(name)
                else:
                    problems.append(
                        f"{path}: alert {name} at {case.get('eval_time')}: an expected alert lacks exp_labels or exp_annotations")
            for case in test.get("promql_expr_test") or []:
                tested_exprs.append(case.get("expr", ""))
    for name in sorted(alerts):
        if name not in fires:
            problems.append(f"{alerts[name]}: alert {name}: no test case where it fires (with labels and annotations)")
        if name not in silent:
            problems.append(f"{alerts[name]}: alert {name}: no test case where it stays silent")
    for name in sorted(set(fires) | set(silent)):
        if name not in alerts:
            problems.append(f"{tests_dir}: tests alert {name}, which no rule file defines")
    for name in sorted(records):
        pattern = re.compile(r"(?<![\w:])" + re.escape(name) + r"(?![\w:])")
        if not any(pattern.search(e) for e in tested_exprs):
            problems.append(f"{records[name]}: recording rule {name}: no promql_expr_test uses it")

    for p in problems:
        print(p)
    print(f"check_rules: {len(alerts)} alerts, {len(records)} recording rules, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
