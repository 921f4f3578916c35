#!/usr/bin/env bash
# A real Prometheus (Debian's `prometheus` package) scraping a running `vigil serve` every second,
# with deploy/prometheus/alerts.yml loaded. Proves what the file checks in scripts/check-deploy.sh
# can only infer from the sources:
#
#   - Prometheus parses Vigil's exposition format: the target is up, with no scrape error;
#   - every alert rule loads and evaluates against the live series without an error;
#   - every vigil_* metric the alert rules and the Grafana dashboard use is one Prometheus
#     really ingested from Vigil (a histogram by its _bucket, _sum or _count series).
#
# Vigil runs on a temporary SQLite file with sandbox providers and webhook secrets; a signed
# order webhook and its signed decision make the metrics that appear only with traffic (HTTP
# requests, webhooks, tasks). Some series cannot appear in this setup at all; they are listed in
# `lazy` below with the reason, reported as skipped, and still checked against the sources by
# scripts/check-deploy.sh. Bounded to about 30 s; stops both processes and removes its files.
# Usage: VIGIL_BIN_DIR=<folder holding vigil> bash scripts/checks/30-prometheus-scrape.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
# shellcheck source=scripts/private-postgres.sh
. scripts/private-postgres.sh   # free_port

# Metric names no scrape of this setup can show, and why.
lazy="vigil_provider_requests_total vigil_provider_request_duration_seconds vigil_provider_circuit_open
vigil_db_connections_in_use vigil_db_connections_waiting vigil_db_connections_max"
# provider_*: served only with VIGIL_PROVIDERS=live (sandbox mode makes no HTTP exchanges and
#             has no circuit breakers).
# db_connections_*: the PostgreSQL pool; not reported on SQLite.

if ! command -v prometheus >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "prometheus-scrape: installing Debian's prometheus package"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } \
            >/dev/null || { echo "prometheus-scrape: apt-get install prometheus failed"; exit 1; }
    else
        echo "prometheus-scrape: prometheus is missing: apt-get install prometheus (as root)"; exit 1
    fi
fi

bin_dir=${VIGIL_BIN_DIR:-$(swift build --show-bin-path)}
[[ -x $bin_dir/vigil ]] || { echo "prometheus-scrape: no vigil binary in $bin_dir"; exit 1; }

work=$(mktemp -d /tmp/vigil-scrape.XXXXXX)
vigil_pid=
prom_pid=
# shellcheck disable=SC2329   # run by the EXIT trap
cleanup() {
    local pid
    for pid in $prom_pid $vigil_pid; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $prom_pid $vigil_pid; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

vigil_port=$(free_port)
prom_port=$(free_port)
while [[ $prom_port == "$vigil_port" ]]; do prom_port=$(free_port); done

lightspeed_secret=scrape-lightspeed-secret
veriff_secret=scrape-veriff-secret
(cd "$work" && VIGIL_PORT=$vigil_port VIGIL_HOST=127.0.0.1 VIGIL_DATABASE_URL="sqlite://$work/vigil.sqlite" \
    VIGIL_PROVIDERS=sandbox VIGIL_LOG_LEVEL=warning \
    VIGIL_LIGHTSPEED_WEBHOOK_SECRET=$lightspeed_secret VIGIL_VERIFF_SHARED_SECRET=$veriff_secret \
    exec "$bin_dir/vigil" serve >"$work/vigil.log" 2>&1) &
vigil_pid=$!

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $root/deploy/prometheus/alerts.yml
scrape_configs:
  - job_name: vigil    # the rules select job="vigil"
    static_configs:
      - targets: ["127.0.0.1:$vigil_port"]
EOF
promtool check config "$work/prometheus.yml" >"$work/promtool.log" 2>&1 \
    || { cat "$work/promtool.log"; echo "prometheus-scrape: generated configuration rejected"; exit 1; }
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!

echo "prometheus-scrape: $(prometheus --version 2>&1 | head -1 | cut -d' ' -f1-3) on 127.0.0.1:$prom_port scraping vigil serve on 127.0.0.1:$vigil_port"

# The rest in Python (standard library only): traffic, then polling Prometheus's HTTP API until
# everything holds or the deadline passes, then one line per check.
status=0
python3 - "$root" "$vigil_port" "$prom_port" "$lightspeed_secret" "$veriff_secret" "$lazy" <<'PY' || status=$?
import hashlib, hmac, json, re, sys, time, urllib.error, urllib.parse, urllib.request

root, vigil_port, prom_port, ls_secret, vf_secret, lazy = sys.argv[1:7]
lazy = set(lazy.split())
vigil = f"http://127.0.0.1:{vigil_port}"
prom = f"http://127.0.0.1:{prom_port}"
started = time.monotonic()
deadline = started + 30

def get(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()

def api(path, **params):
    q = ("?" + urllib.parse.urlencode(params)) if params else ""
    _, body = get(prom + path + q)
    doc = json.loads(body)
    if doc.get("status") != "success":
        raise RuntimeError(f"{path}: {doc}")
    return doc["data"]

def wait_for(what, probe):
    while time.monotonic() < deadline:
        try:
            if probe():
                return True
        except (OSError, urllib.error.URLError, ValueError, RuntimeError):
            pass
        time.sleep(0.2)
    print(f"FAIL  {what}: not within {deadline - started:.0f} s")
    return False

def healthy(url):
    return lambda: get(url)[0] == 200

if not wait_for("vigil serve answers /healthz", healthy(vigil + "/healthz")):
    sys.exit(1)
if not wait_for("Prometheus is ready", healthy(prom + "/-/ready")):
    sys.exit(1)

# Traffic: a signed order webhook, its signed approval, and one refused for its signature.
def post(path, header, secret, body):
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest() if secret else "00" * 32
    req = urllib.request.Request(vigil + path, data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json", header: sig})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code

order = json.dumps({"event": "order.created", "orderId": "scrape-1", "customerEmail": "ada@example.com",
                    "orderTotal": 59.90, "currency": "USD", "paymentId": "ch_scrape"})
decision = json.dumps({"status": "success", "verification": {
    "id": "5d7f0b7c-6a3b-4c7e-9d1e-2f3a4b5c6d7e", "status": "approved", "code": 9001, "vendorData": "scrape-1",
    "person": {"dateOfBirth": "1990-04-02"}, "document": {"validUntil": "2031-01-01"}}})
answers = [post("/api/v1/post-purchase/webhook", "X-Signature", ls_secret, order),
           post("/api/v1/veriff/webhook", "X-HMAC-SIGNATURE", vf_secret, decision),
           post("/api/v1/post-purchase/webhook", "X-Signature", None, order)]
if answers != [202, 202, 401]:
    print(f"FAIL  webhooks answered {answers}, expected [202, 202, 401]")
    sys.exit(1)

# What the rules and the dashboard use. The rules come from Prometheus itself (what it loaded);
# their count is held to the file's, so a rule Prometheus dropped cannot go unnoticed.
alerts_text = open(f"{root}/deploy/prometheus/alerts.yml").read()
alerts_in_file = len(re.findall(r"^\s*-\s*alert:", alerts_text, re.M))
dashboard = json.load(open(f"{root}/deploy/grafana/vigil-dashboard.json"))
dash_exprs = []
def walk(panels):
    for p in panels:
        dash_exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
        walk(p.get("panels", []))
walk(dashboard.get("panels", []))
for v in dashboard.get("templating", {}).get("list", []):
    q = v.get("query")
    if isinstance(q, dict):
        q = q.get("query")
    if v.get("type") == "query" and q:
        dash_exprs.append(q)
names = lambda expr: set(re.findall(r"\b(vigil_[a-z0-9_]+)", expr))
suffixes = ("_bucket", "_sum", "_count")   # a histogram's series
def excused(n):
    return next((l for l in lazy if n == l or n in (l + s for s in suffixes)), None)

state = {}
def all_rules():
    return [r for g in api("/api/v1/rules")["groups"] for r in g["rules"]]
def check():
    targets = api("/api/v1/targets")["activeTargets"]
    state["targets"] = targets
    if not any(t["labels"].get("job") == "vigil" and t["health"] == "up" for t in targets):
        return False
    rules = all_rules()
    state["rules"] = rules
    # Every rule evaluated at least once (health leaves "unknown") after a few scrapes.
    if len(rules) < alerts_in_file or any(r.get("health") == "unknown" for r in rules):
        return False
    served = set(api("/api/v1/label/__name__/values", match="{job=\"vigil\"}"))
    state["served"] = served
    wanted = set()
    for r in rules:
        wanted |= names(r["query"])
    for e in dash_exprs:
        wanted |= names(e)
    state["wanted"] = wanted
    def present(n):
        return n in served or any(n + s in served for s in suffixes)
    # Polled until the tasks the traffic caused have run and a scrape has counted them.
    state["missing"] = sorted(n for n in wanted if not excused(n) and not present(n))
    return not state["missing"]

ok = wait_for("target up, rules evaluated, metrics present", check)
failures = 0
def report(good, line, detail=""):
    global failures
    print(("ok    " if good else "FAIL  ") + line + (f"\n      {detail}" if detail and not good else ""))
    failures += 0 if good else 1

targets = state.get("targets", [])
vigil_targets = [t for t in targets if t["labels"].get("job") == "vigil"]
report(bool(vigil_targets) and all(t["health"] == "up" and not t.get("lastError") for t in vigil_targets),
       "target job=\"vigil\" is up with no scrape error",
       "; ".join(f"{t['scrapeUrl']}: {t['health']} {t.get('lastError', '')}" for t in vigil_targets) or "no such target")
rules = state.get("rules", [])
bad = [f"{r['name']}: {r.get('health')} {r.get('lastError', '')}" for r in rules if r.get("health") != "ok"]
report(len(rules) == alerts_in_file and not bad,
       f"{len(rules)} of {alerts_in_file} alert rules loaded and evaluated with health ok",
       "; ".join(bad) or f"Prometheus loaded {len(rules)} rules, alerts.yml has {alerts_in_file}")
wanted, missing = state.get("wanted", set()), state.get("missing", ["(never computed)"])
checked = sorted(n for n in wanted if not excused(n))
report(ok and not missing and len(checked) >= 10,
       f"{len(checked)} vigil_* metric names used by alerts.yml and the dashboard were scraped from vigil",
       f"not in Prometheus: {', '.join(missing)}" if missing else f"only {len(wanted)} names found")
skipped = sorted(n for n in wanted if excused(n))
if skipped:
    print(f"skip  {', '.join(skipped)} (live providers or PostgreSQL only; see `lazy` in this script)")
unused_lazy = sorted(lazy - {excused(n) for n in wanted})
report(not unused_lazy, "every name excused as lazy is used by the alerts or the dashboard",
       f"no longer used, remove from `lazy`: {', '.join(unused_lazy)}")
print(f"prometheus-scrape: {'all checks passed' if not failures else f'{failures} check(s) failed'}"
      f" in {time.monotonic() - started:.0f} s")
sys.exit(1 if failures else 0)
PY
if [[ $status -ne 0 ]]; then
    echo "--- vigil serve log (last 20 lines)"; tail -20 "$work/vigil.log"
    echo "--- prometheus log (last 20 lines)"; tail -20 "$work/prometheus.log"
fi
exit "$status"
