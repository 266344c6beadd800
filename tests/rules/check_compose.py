#!/usr/bin/env python3
"""Checks that compose.yaml and the files it mounts fit together.

Renders compose.yaml with `docker-compose config` (no Docker engine needed),
then checks: every bind-mounted path and Dockerfile exists in the repository;
Grafana's dashboard provider path is where ./dashboards is mounted; the
provisioned datasource URL, Prometheus's scrape and Alertmanager targets and
Alertmanager's webhook URLs name compose services; the exporter's
--path.procfs/--path.sysfs are mount targets of /proc and /sys; every file
under rules/ that Prometheus loads is mounted.

Usage: check_compose.py DOCKER_COMPOSE_BIN REPO_ROOT
Exits 0 when all hold, 1 with the reasons otherwise.
"""
import glob
import os
import re
import subprocess
import sys
from urllib.parse import urlparse

try:
    import yaml
except ImportError:
    sys.exit("check_compose.py: needs PyYAML (Debian package python3-yaml)")


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    compose_bin, root = argv[1], os.path.abspath(argv[2])
    problems = []
    out = subprocess.run([compose_bin, "-f", os.path.join(root, "compose.yaml"), "config"],
                         capture_output=True, text=True, cwd=root)
    if out.returncode != 0:
        print(f"docker-compose config failed:\n{out.stderr}")
        return 1
    compose = yaml.safe_load(out.stdout)
    services = compose.get("services") or {}

    mounts = {}  # service -> {target: source}
    for name, svc in services.items():
        mounts[name] = {}
        for vol in svc.get("volumes") or []:
            if isinstance(vol, dict):
                src, dst, typ = vol.get("source"), vol.get("target"), vol.get("type")
            else:
                parts = vol.split(":")
                src, dst = parts[0], parts[1]
                typ = "bind" if src.startswith("/") or src.startswith(".") else "volume"
            mounts[name][dst] = src
            if typ == "bind" and src.startswith(root) and not os.path.exists(src):
                problems.append(f"{name}: mounts {src}, which does not exist")
        build = svc.get("build")
        if build:
            ctx = build.get("context", root) if isinstance(build, dict) else build
            dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile")) if isinstance(build, dict) else os.path.join(ctx, "Dockerfile")
            if not os.path.isfile(dockerfile):
                problems.append(f"{name}: Dockerfile {dockerfile} does not exist")

    def service_of(host):
        return host if host in services else None

    # Grafana: provider path and datasource URL.
    graf = mounts.get("grafana", {})
    dash_dir = os.path.join(root, "dashboards")
    dash_target = next((t for t, s in graf.items() if os.path.normpath(s) == dash_dir), None)
    if not dash_target:
        problems.append("grafana: ./dashboards is not mounted")
    prov_target = next((t for t, s in graf.items() if os.path.normpath(s) == os.path.join(root, "grafana", "provisioning")), None)
    if prov_target != "/etc/grafana/provisioning":
        problems.append(f"grafana: ./grafana/provisioning mounted at {prov_target}, want /etc/grafana/provisioning")
    for path in glob.glob(os.path.join(root, "grafana", "provisioning", "dashboards", "*.yml")):
        for prov in load(path).get("providers") or []:
            p = (prov.get("options") or {}).get("path")
            if dash_target and p != dash_target:
                problems.append(f"{path}: provider path {p} is not where compose mounts ./dashboards ({dash_target})")
    for path in glob.glob(os.path.join(root, "grafana", "provisioning", "datasources", "*.yml")):
        for ds in load(path).get("datasources") or []:
            host = urlparse(ds.get("url", "")).hostname
            if not service_of(host):
                problems.append(f"{path}: datasource URL host {host!r} is not a compose service")

    # Prometheus: config and rules mounted, targets are services.
    prom = mounts.get("prometheus", {})
    prom_cfg = prom.get("/etc/prometheus/prometheus.yml")
    if not prom_cfg:
        problems.append("prometheus: /etc/prometheus/prometheus.yml is not mounted")
    else:
        cfg = load(prom_cfg)
        for rf in cfg.get("rule_files") or []:
            d = os.path.dirname(rf)
            if d not in prom:
                problems.append(f"prometheus: rule_files {rf}: {d} is not mounted")
            elif os.path.normpath(prom[d]) != os.path.join(root, "rules"):
                problems.append(f"prometheus: {d} is mounted from {prom[d]}, want ./rules")
        targets = []
        for sc in cfg.get("scrape_configs") or []:
            for st in sc.get("static_configs") or []:
                targets += [(sc.get("job_name"), t) for t in st.get("targets") or []]
        for am in (cfg.get("alerting") or {}).get("alertmanagers") or []:
            for st in am.get("static_configs") or []:
                targets += [("alerting", t) for t in st.get("targets") or []]
        for job, t in targets:
            host = t.rsplit(":", 1)[0]
            if host != "localhost" and not service_of(host):
                problems.append(f"prometheus.yml: {job} target {t}: {host} is not a compose service")
        jobs = {j for j, _ in targets}
        for want in ("propmon-exporter", "propmon-bridge"):
            if want not in jobs:
                problems.append(f"prometheus.yml: no job {want} (the rules and dashboards use it)")

    # Alertmanager webhooks name services.
    am = mounts.get("alertmanager", {}).get("/etc/alertmanager/alertmanager.yml")
    if not am:
        problems.append("alertmanager: /etc/alertmanager/alertmanager.yml is not mounted")
    else:
        for rcv in load(am).get("receivers") or []:
            for wh in rcv.get("webhook_configs") or []:
                host = urlparse(wh.get("url", "")).hostname
                if not service_of(host):
                    problems.append(f"{am}: receiver {rcv.get('name')}: webhook host {host!r} is not a compose service")

    # Exporter: procfs/sysfs flags point at the mounts.
    exp = services.get("propmon-exporter", {})
    cmd = exp.get("command") or []
    cmd = cmd if isinstance(cmd, list) else cmd.split()
    for flag, host_path in (("--path.procfs", "/proc"), ("--path.sysfs", "/sys")):
        val = next((c.split("=", 1)[1] for c in cmd if c.startswith(flag + "=")), None)
        if not val:
            problems.append(f"propmon-exporter: no {flag}=")
        elif mounts["propmon-exporter"].get(val) != host_path:
            problems.append(f"propmon-exporter: {flag}={val} but {host_path} is not mounted there")
    if exp.get("pid") != "host":
        problems.append("propmon-exporter: pid: host is missing")
    for var in ("PROPLET_MQTT_ADDRESS", "PROPLET_DOMAIN_ID", "PROPLET_CHANNEL_ID",
                "PROPLET_CLIENT_ID", "PROPLET_CLIENT_KEY"):
        if var not in (exp.get("environment") or {}):
            problems.append(f"propmon-exporter: environment lacks {var}")
    mqtt = (exp.get("environment") or {}).get("PROPLET_MQTT_ADDRESS", "")
    if not service_of(urlparse(mqtt).hostname):
        problems.append(f"propmon-exporter: PROPLET_MQTT_ADDRESS {mqtt!r} is not a compose service")
    bcmd = services.get("propmon-bridge", {}).get("command") or []
    burl = next((c.split("=", 1)[1] for c in bcmd if c.startswith("--mqtt.url=")), "")
    if not service_of(urlparse(burl).hostname):
        problems.append(f"propmon-bridge: --mqtt.url {burl!r} is not a compose service")

    # Mosquitto: the ACL's publishing account is the exporter's client id.
    acl = os.path.join(root, "deploy", "mosquitto", "acl")
    users = re.findall(r"^user\s+(\S+)", open(acl, encoding="utf-8").read(), re.M)
    cid = (exp.get("environment") or {}).get("PROPLET_CLIENT_ID")
    if cid not in users:
        problems.append(f"propmon-exporter: PROPLET_CLIENT_ID {cid!r} has no account in {acl} ({users})")

    for p in problems:
        print(p)
    print(f"check_compose: {len(services)} services, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
