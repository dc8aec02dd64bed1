#!/usr/bin/python3
"""Checks everything in deploy/ that can be checked without a service manager, a container
engine or a cluster; run by ctest (test `deploy.check`) and so by CI.

  deploy/check.py BUILD_DIR

- systemd unit: `systemd-analyze verify` with no complaint (ExecStart pointed at the build).
- Config examples (deploy/hush-relay.conf.example and the one in the ConfigMap):
  `hush-relay --check-config` accepts them.
- Dockerfile: known instructions, stages, COPY sources that exist, a non-root final USER,
  runtime packages that exist in Debian 12 and cover every library the binary needs; then
  the build stage's own cmake commands run on a copy holding only what it COPYs.
- Kubernetes manifests: yamllint, and the fields Kubernetes requires, probes on /healthz and
  /readyz, resource limits, no privilege escalation.
- Prometheus: `promtool check config`, `check rules`, `test rules`.
- Every hush_* metric named in alerts, dashboard and docs exists in a live /metrics.
"""
import glob
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def systemd_unit(binary, tmp):
    unit = open(os.path.join(ROOT, "deploy/systemd/hush-relay.service")).read()
    unit = unit.replace("/usr/local/bin/hush-relay", binary)
    path = os.path.join(tmp, "hush-relay.service")
    open(path, "w").write(unit)
    r = run(["systemd-analyze", "verify", path])
    out = (r.stdout + r.stderr).strip()
    check(r.returncode == 0 and out == "", "systemd-analyze verify hush-relay.service" + (": " + out if out else ""))
    for key in ["NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "MemoryDenyWriteExecute=yes",
                "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "SystemCallFilter=@system-service", "User=hush"]:
        check(key in unit, "unit sets " + key)


def config_examples(binary, tmp):
    secret = os.path.join(tmp, "secret")
    open(secret, "w").write("a-test-secret-of-enough-length-0123\n")
    commands = [("deploy/hush-relay.conf.example",
                 [binary, "--config", os.path.join(ROOT, "deploy/hush-relay.conf.example")])]
    docs = [d for d in yaml.safe_load_all(open(os.path.join(ROOT, "deploy/kubernetes/hush-relay.yaml"))) if d]
    conf = os.path.join(tmp, "configmap.conf")
    open(conf, "w").write(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["hush-relay.conf"])
    args = next(d for d in docs if d["kind"] == "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["args"]
    args = [conf if a == "/etc/hush/hush-relay.conf" else a.replace("$(NODE_IP)", "192.0.2.10") for a in args]
    commands.append(("the DaemonSet's ConfigMap and args", [binary] + args))
    for what, cmd in commands:
        r = run(cmd + ["--secret-file", secret, "--check-config"])
        check(r.returncode == 0, "hush-relay --check-config accepts " + what + " " + r.stderr.strip())
    bad = os.path.join(tmp, "bad.conf")
    open(bad, "w").write("max-allocations = lots\n")
    r = run([binary, "--config", bad, "--secret-file", secret, "--check-config"])
    check(r.returncode == 2 and "--max-allocations" in r.stderr, "--check-config names the bad key and exits 2")


DOCKER_INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                       "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def dockerfile_instructions(path):
    lines, current = [], ""
    for raw in open(path):
        line = raw.rstrip("\n")
        if not current and (line.strip().startswith("#") or not line.strip()):
            continue
        if line.strip().startswith("#"):
            continue  # comment inside a continuation
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        lines.append(current.strip())
        current = ""
    check(current == "", "Dockerfile: no dangling line continuation")
    return [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l else "") for l in lines]


def dockerfile(binary, tmp):
    path = os.path.join(ROOT, "deploy/docker/Dockerfile")
    ins = dockerfile_instructions(path)
    check(all(i in DOCKER_INSTRUCTIONS for i, _ in ins), "Dockerfile: only known instructions")
    check(ins and ins[0][0] == "FROM", "Dockerfile: starts with FROM")
    stages, users, copies, runs, stage = [], {}, [], {}, None
    for i, arg in ins:
        if i == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", arg, re.I)
            check(m is not None, "Dockerfile: FROM " + arg)
            stage = m.group(2) or "final-%d" % len(stages)
            stages.append(stage)
            check(m.group(1).startswith("debian:bookworm"), "Dockerfile: stage %s is Debian 12" % stage)
        elif i == "USER":
            users[stage] = arg
        elif i == "COPY":
            copies.append((stage, shlex.split(arg)))
        elif i == "RUN":
            runs.setdefault(stage, []).append(arg)
        elif i in ("ENTRYPOINT", "CMD"):
            check(isinstance(json.loads(arg), list), "Dockerfile: %s in exec form" % i)
    final = stages[-1]
    check(users.get(final, "root").split(":")[0] not in ("root", "0"), "Dockerfile: final stage runs as non-root")
    sources = []
    for st, args in copies:
        frm = [a for a in args if a.startswith("--from=")]
        rest = [a for a in args if not a.startswith("--")]
        if frm:
            check(frm[0][7:] in stages[:-1], "Dockerfile: COPY --from names an earlier stage")
        else:
            for src in rest[:-1]:
                check(os.path.exists(os.path.join(ROOT, src)), "Dockerfile: COPY source %s exists" % src)
                sources.append(src)
    # Runtime packages exist in Debian and hold every library the binary links.
    final_runs = " ".join(runs.get(final, []))
    m = re.search(r"apt-get install -y --no-install-recommends ([^&]+)", final_runs)
    packages = m.group(1).split() if m else []
    check(packages, "Dockerfile: runtime packages listed")
    for p in packages:
        check(run(["apt-cache", "show", p]).returncode == 0, "Dockerfile: Debian package %s exists" % p)
    needed = set()
    for line in run(["ldd", binary]).stdout.splitlines():
        lib = re.search(r"=> (\S+)", line)
        if lib and "linux-vdso" not in line:
            real = os.path.realpath(lib.group(1))
            # usrmerge: dpkg knows a library under /lib or under /usr/lib.
            candidates = [real, real[4:] if real.startswith("/usr/") else "/usr" + real]
            owners = [run(["dpkg", "-S", c]).stdout.split(":")[0] for c in candidates]
            needed.add(next((o for o in owners if o), "unknown owner of " + real))
    base = {"libc6", "libstdc++6", "libgcc-s1"}  # in debian:bookworm-slim
    missing = sorted(needed - base - set(packages))
    check(not missing, "Dockerfile: runtime stage installs every linked library's package" +
          (" (missing %s)" % missing if missing else ""))
    # The build stage, on a copy holding only what it COPYs.
    src = os.path.join(tmp, "docker-src")
    os.makedirs(src)
    for s in sources:
        (shutil.copytree if os.path.isdir(os.path.join(ROOT, s)) else shutil.copy)(os.path.join(ROOT, s),
                                                                                    os.path.join(src, s))
    build_cmd = [r for r in runs[stages[0]] if "cmake -S" in r][0]
    r = subprocess.run(["bash", "-c", build_cmd], cwd=src, capture_output=True, text=True)
    check(r.returncode == 0 and os.path.exists(os.path.join(src, "build/hush-relay")),
          "Dockerfile: the build stage builds hush-relay from only the COPYed files" + (
              "\n" + r.stdout[-2000:] + r.stderr[-2000:] if r.returncode else ""))


def kubernetes():
    files = sorted(glob.glob(os.path.join(ROOT, "deploy/kubernetes/*.yaml")))
    r = run(["yamllint", "-d", "{extends: default, rules: {line-length: {max: 180}, document-start: disable}}"] + files
            + glob.glob(os.path.join(ROOT, "deploy/prometheus/*.yml")))
    check(r.returncode == 0, "yamllint deploy/kubernetes deploy/prometheus " + r.stdout.strip())
    for f in files:
        for doc in yaml.safe_load_all(open(f)):
            if not doc:
                continue
            name = "%s %s/%s" % (os.path.basename(f), doc.get("kind"), doc.get("metadata", {}).get("name"))
            check(all(k in doc for k in ("apiVersion", "kind", "metadata")) and "name" in doc["metadata"],
                  name + ": apiVersion, kind, metadata.name")
            if doc["kind"] in ("DaemonSet", "Deployment"):
                spec = doc["spec"]
                check(spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items(),
                      name + ": selector matches the template")
                pod = spec["template"]["spec"]
                check(pod.get("securityContext", {}).get("runAsNonRoot") is True, name + ": runAsNonRoot")
                volumes = {v["name"] for v in pod.get("volumes", [])}
                for c in pod["containers"]:
                    ports = {p["name"] for p in c.get("ports", [])}
                    check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", name + ": liveness /healthz")
                    check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", name + ": readiness /readyz")
                    for probe in ("livenessProbe", "readinessProbe"):
                        check(c[probe]["httpGet"]["port"] in ports, name + ": %s port is declared" % probe)
                    check({"cpu", "memory"} <= set(c.get("resources", {}).get("limits", {})), name + ": resource limits")
                    check(c.get("securityContext", {}).get("allowPrivilegeEscalation") is False,
                          name + ": no privilege escalation")
                    check(all(m["name"] in volumes for m in c.get("volumeMounts", [])), name + ": mounts name volumes")
                grace = pod.get("terminationGracePeriodSeconds", 30)
                for d in yaml.safe_load_all(open(f)):
                    if d and d.get("kind") == "ConfigMap":
                        m = re.search(r"drain-timeout = (\d+)", d["data"]["hush-relay.conf"])
                        check(m and grace > int(m.group(1)), name + ": grace period exceeds drain-timeout")


def prometheus():
    d = os.path.join(ROOT, "deploy/prometheus")
    for cmd in (["promtool", "check", "config", "prometheus.yml"], ["promtool", "check", "rules", "hush-alerts.yml"],
                ["promtool", "test", "rules", "hush-alerts.test.yml"]):
        r = run(cmd, cwd=d)
        check(r.returncode == 0, " ".join(cmd) + ("\n" + r.stdout + r.stderr if r.returncode else ""))


def metric_names(binary):
    port = free_port()
    udp = free_port()
    p = subprocess.Popen([binary, "--listen", "127.0.0.1:%d" % udp, "--metrics", "127.0.0.1:%d" % port,
                          "--relay-ports", "61000-61099", "--threads", "1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = ""
    try:
        for _ in range(50):
            try:
                text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.1)
    finally:
        p.send_signal(2)
        p.wait(timeout=10)
    live = set(re.findall(r"^# TYPE (\w+)", text, re.M))
    check(len(live) > 20, "a live relay serves /metrics (%d families)" % len(live))
    used = {}
    for f in ["deploy/prometheus/hush-alerts.yml", "deploy/grafana/hush-dashboard.json", "docs/operations.md",
              "docs/scaling.md"]:
        path = os.path.join(ROOT, f)
        if os.path.exists(path):
            for n in re.findall(r"\bhush_[a-z_]+", open(path).read()):
                used.setdefault(re.sub(r"_(bucket|sum|count)$", "", n), set()).add(f)
    for n, where in sorted(used.items()):
        check(n in live, "metric %s (used in %s) exists" % (n, ", ".join(sorted(where))))
    dash = json.load(open(os.path.join(ROOT, "deploy/grafana/hush-dashboard.json")))
    check(all(t.get("expr") for p in dash["panels"] for t in p["targets"]), "dashboard: every panel has queries")
    check(len({p["id"] for p in dash["panels"]}) == len(dash["panels"]), "dashboard: panel ids are unique")


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
    binary = os.path.join(build, "hush-relay")
    with tempfile.TemporaryDirectory() as tmp:
        systemd_unit(binary, tmp)
        config_examples(binary, tmp)
        kubernetes()
        prometheus()
        metric_names(binary)
        dockerfile(binary, tmp)
    if failures:
        print("\n%d deploy check(s) failed" % len(failures))
        return 1
    print("\nall deploy checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
