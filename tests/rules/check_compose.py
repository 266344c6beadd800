#!/usr/bin/env python3
"""Checks that compose.yaml and the files it mounts fit together.

Renders compose.yaml with `docker-compose config` (no Docker engine needed),
then checks: every bind-mounted path and Dockerfile exists in the repository;
Grafana's dashboard provider path is where ./dashboards is mounted; the
provisioned datasource URL, Prometheus's scrape and Alertmanager targets and
Alertmanager's webhook URLs name compose services; the exporter's
--path.procfs/--path.sysfs are mount targets of /proc and /sys; every file
under rules/ that Prometheus loads is mounted; least privilege
(docs/security.md): both daemons' images end as a non-root USER, the
exporter drops ALL capabilities and adds back exactly the file capabilities
its Dockerfile sets (SYS_PTRACE, DAC_READ_SEARCH), without
no-new-privileges, the bridge drops ALL, adds none and sets
no-new-privileges, both run on a read-only root; the exporter's MQTT user
name is its domain and the broker's account (the ACL binds the domain to the
user name); the bridge logs in as the read-only account propmon-bridge
with mosquitto's key and a stable client id.

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

    # Mosquitto: an account publishes under the domain that is its name.
    acl = os.path.join(root, "deploy", "mosquitto", "acl")
    with open(acl, encoding="utf-8") as f:
        rules = [l.split() for l in f if l.strip() and not l.lstrip().startswith("#")]
    for want in (["pattern", "write", "m/%u/c/+/control/proplet/#"],
                 ["pattern", "write", "m/%u/c/+/metrics/proplet"]):
        if want not in rules:
            problems.append(f"{acl}: no {' '.join(want)!r} (accounts publish under their domain)")
    for r in rules:
        access = r[1] if len(r) == 3 else "readwrite"  # `topic [access] TOPIC`
        if r[0] in ("topic", "pattern") and access in ("write", "readwrite") \
                and "%u" not in r[-1]:
            problems.append(f"{acl}: {' '.join(r)!r} grants writes not bound to the user name")
    env = exp.get("environment") or {}
    menv = services.get("mosquitto", {}).get("environment") or {}
    cid, dom = env.get("PROPLET_CLIENT_ID"), env.get("PROPLET_DOMAIN_ID")
    if cid != dom:
        problems.append(f"propmon-exporter: PROPLET_CLIENT_ID (its MQTT user name) {cid!r} is not "
                        f"PROPLET_DOMAIN_ID {dom!r}: the ACL would drop every message")
    if menv.get("PROPMON_MQTT_EXPORTER_USER") != cid:
        problems.append(f"mosquitto: PROPMON_MQTT_EXPORTER_USER "
                        f"{menv.get('PROPMON_MQTT_EXPORTER_USER')!r} is not the exporter's "
                        f"user name {cid!r}")
    if menv.get("PROPMON_MQTT_EXPORTER_KEY") != env.get("PROPLET_CLIENT_KEY"):
        problems.append("mosquitto: PROPMON_MQTT_EXPORTER_KEY is not the exporter's "
                        "PROPLET_CLIENT_KEY")
    # The bridge logs in as the broker's read-only account (mosquitto drops
    # queued messages of anonymous sessions restored after its restart).
    benv = services.get("propmon-bridge", {}).get("environment") or {}
    if "--mqtt.username=propmon-bridge" not in bcmd:
        problems.append("propmon-bridge: not logged in as propmon-bridge (--mqtt.username)")
    if not menv.get("PROPMON_MQTT_BRIDGE_KEY") or \
            benv.get("PROPMON_MQTT_PASSWORD") != menv.get("PROPMON_MQTT_BRIDGE_KEY"):
        problems.append("propmon-bridge: PROPMON_MQTT_PASSWORD is not mosquitto's "
                        "PROPMON_MQTT_BRIDGE_KEY")
    if not any(r[:2] == ["user", "propmon-bridge"] for r in rules):
        problems.append(f"{acl}: no account propmon-bridge for the bridge")
    if not any(c.startswith("--mqtt.client-id=") for c in bcmd):
        problems.append("propmon-bridge: no stable --mqtt.client-id (a container's host "
                        "name changes when it is re-created)")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", str(cid)):
        problems.append(f"propmon-exporter: account name {cid!r} is not [A-Za-z0-9._-]+ (start.sh)")

    # Least privilege: users, capabilities, no-new-privileges, read-only root.
    def caps(lst):
        return {c.upper().removeprefix("CAP_") for c in lst or []}

    def final_stage(dockerfile):
        with open(dockerfile, encoding="utf-8") as f:
            lines = [l for l in f if not l.lstrip().startswith("#")]
        text = re.sub(r"\\\n", " ", "".join(lines))
        stage = re.split(r"(?im)^FROM\s", text)[-1]
        users = re.findall(r"(?im)^USER\s+(\S+)", stage)
        setcap = re.findall(r"\bsetcap\s+(\S+)\s", stage)  # the capability texts
        return (users[-1] if users else None), setcap

    for name, svc in services.items():
        build = svc.get("build")
        if name not in ("propmon-exporter", "propmon-bridge") or not isinstance(build, dict):
            continue
        user, setcap = final_stage(os.path.join(build.get("context", root), build["dockerfile"]))
        if user is None or user.split(":")[0] in ("root", "0"):
            problems.append(f"{name}: the image's final USER is {user!r}, want a non-root user")
        if str(svc.get("user", "")).split(":")[0] in ("root", "0"):
            problems.append(f"{name}: compose overrides the image's user with {svc['user']!r}")
        if "ALL" not in caps(svc.get("cap_drop")):
            problems.append(f"{name}: cap_drop lacks ALL")
        if svc.get("read_only") is not True:
            problems.append(f"{name}: read_only: true is missing")
        nnp = any(o.replace("=", ":") in ("no-new-privileges", "no-new-privileges:true")
                  for o in svc.get("security_opt") or [])
        if name == "propmon-bridge":
            if caps(svc.get("cap_add")):
                problems.append(f"{name}: cap_add {svc['cap_add']}, want none")
            if not nnp:
                problems.append(f"{name}: security_opt lacks no-new-privileges:true")
            continue
        want = {"SYS_PTRACE", "DAC_READ_SEARCH"}
        if caps(svc.get("cap_add")) != want:
            problems.append(f"{name}: cap_add {svc.get('cap_add')}, want exactly {sorted(want)}")
        file_caps = {c.upper().removeprefix("CAP_") for f in setcap
                     for c in re.split(r"[=+]", f)[0].split(",") if c}
        if not any(f.endswith("=ep") or f.endswith("+ep") for f in setcap) \
                or file_caps != caps(svc.get("cap_add")):
            problems.append(f"{name}: the image's setcap {setcap} does not give exactly "
                            f"cap_add's {sorted(caps(svc.get('cap_add')))} with =ep")
        if nnp:
            problems.append(f"{name}: no-new-privileges would leave it without its file "
                            "capabilities on Docker without moby/moby#45511 (see compose.yaml)")

    for p in problems:
        print(p)
    print(f"check_compose: {len(services)} services, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
