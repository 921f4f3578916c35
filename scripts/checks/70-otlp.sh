#!/usr/bin/env bash
# Vigil built with the package trait OTLP exporting its traces to a local OTLP/HTTP receiver,
# and what arrives checked (issue 17: "a refund's trace links back to its order webhook in the
# test receiver"):
#
#   - the exporter posts to /v1/traces in the configured encoding, with service.name as configured;
#   - the HTTP request spans (server) and webhook spans continue the caller's `traceparent`:
#     same trace id, the caller's span as parent;
#   - a committed store transaction's span sits in the webhook's trace;
#   - `task open_session` and `task refund` run in traces of their own, each with a span link to
#     the trace that caused it: the order webhook's for open_session, the decline decision's
#     webhook for the refund (a span of that trace that really arrived);
#   - `provider open_session` and `provider refund` spans sit inside their task's span.
#
# Twice: VIGIL_OTLP_PROTOCOL=http/json, then http/protobuf (the default). The receiver is Python's
# standard library (http.server, and a small Protobuf wire-format reader) on a free loopback port;
# Vigil runs on a temporary SQLite file with sandbox providers and no webhook secrets
# (development accepts unsigned webhooks). One order webhook, its session opened, a decline
# decision, the refund run; then SIGTERM, so the exporter sends what it still holds. A few
# seconds per protocol when all goes well, bounded to about 2.5 minutes in all beyond the build;
# stops both processes and removes its files.
#
# Runs only with VIGIL_CHECK_OTLP=1 (or VIGIL_OTLP_BIN set); otherwise it says it skipped and
# passes. The binary: $VIGIL_OTLP_BIN if set, else built here with
#   swift build --traits OTLP --product vigil --scratch-path .build-otlp
# (a scratch path of its own, so the default build in .build is left as it is).
# Usage: VIGIL_CHECK_OTLP=1 bash scripts/checks/70-otlp.sh (VIGIL_OTLP_KEEP=1 keeps the receiver's
# records, the logs and the check scripts in the temporary folder it names)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/private-postgres.sh
. scripts/private-postgres.sh   # free_port

# Building with the trait is a second build of everything (its own scratch path, plus swift-otel
# and SwiftProtobuf): 14.5 min from a fresh clone on this project's two shared cores (16 min of
# CPU), well past what CI's budget has left; under a minute once .build-otlp exists. So the stage
# runs only when asked for, or given a binary.
if [[ ${VIGIL_CHECK_OTLP:-} != 1 && -z ${VIGIL_OTLP_BIN:-} ]]; then
    echo "otlp: skipped: set VIGIL_CHECK_OTLP=1 to build vigil with the OTLP trait and check its export" \
        "(or VIGIL_OTLP_BIN to a vigil built with it)"
    exit 0
fi

if [[ -n ${VIGIL_OTLP_BIN:-} ]]; then
    vigil=$VIGIL_OTLP_BIN
else
    echo "otlp: building vigil with the OTLP trait (swift build --traits OTLP --product vigil --scratch-path .build-otlp)"
    started=$(date +%s)
    swift build --traits OTLP --product vigil --scratch-path .build-otlp
    echo "otlp: built in $(( $(date +%s) - started )) s"
    vigil="$(swift build --traits OTLP --scratch-path .build-otlp --show-bin-path)/vigil"
fi
[[ -x $vigil ]] || { echo "otlp: no vigil binary at $vigil"; exit 1; }

work=$(mktemp -d /tmp/vigil-otlp.XXXXXX)
vigil_pid=
receiver_pid=
# shellcheck disable=SC2329   # run by the EXIT trap
cleanup() {
    local pid
    for pid in $vigil_pid $receiver_pid; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $vigil_pid $receiver_pid; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n ${VIGIL_OTLP_KEEP:-} ]]; then echo "otlp: files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The receiver: every POST /v1/traces is answered like a collector (200, an empty
# ExportTraceServiceResponse in the request's encoding) and appended to requests.jsonl with its
# content type, the body as OTLP JSON (a Protobuf body decoded by the few lines below, its ids
# written in hex); anything else is refused and recorded too. It binds port 0 and writes the port.
cat >"$work/receiver.py" <<'PY'
import json, os, struct, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out_path, port_path = sys.argv[1:3]
lock = threading.Lock()

def fields(buf):
    """Protobuf wire format: (field number, wire type, value) for each field of a message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            size, i = varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value

def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]; i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7

# Field numbers from opentelemetry/proto (trace/v1, common/v1, resource/v1).
def any_value(buf):
    for n, _, v in fields(buf):
        if n == 1: return {"stringValue": v.decode()}
        if n == 2: return {"boolValue": bool(v)}
        if n == 3: return {"intValue": str(v - (1 << 64) if v >= 1 << 63 else v)}
        if n == 4: return {"doubleValue": struct.unpack("<d", v)[0]}
    return {}

def key_value(buf):
    kv = {}
    for n, _, v in fields(buf):
        if n == 1: kv["key"] = v.decode()
        if n == 2: kv["value"] = any_value(v)
    return kv

def link(buf):
    l = {"attributes": []}
    for n, _, v in fields(buf):
        if n == 1: l["traceId"] = v.hex()
        if n == 2: l["spanId"] = v.hex()
        if n == 4: l["attributes"].append(key_value(v))
    return l

def span(buf):
    s = {"attributes": [], "links": []}
    for n, _, v in fields(buf):
        if n == 1: s["traceId"] = v.hex()
        elif n == 2: s["spanId"] = v.hex()
        elif n == 4: s["parentSpanId"] = v.hex()
        elif n == 5: s["name"] = v.decode()
        elif n == 6: s["kind"] = v
        elif n == 9: s["attributes"].append(key_value(v))
        elif n == 13: s["links"].append(link(v))
        elif n == 15: s["status"] = {("message" if m == 2 else "code"): (x.decode() if m == 2 else x)
                                      for m, _, x in fields(v) if m in (2, 3)}
    return s

def export_request(buf):
    resource_spans = []
    for n, _, v in fields(buf):
        if n != 1: continue
        rs = {"resource": {"attributes": []}, "scopeSpans": []}
        for m, _, w in fields(v):
            if m == 1:
                rs["resource"]["attributes"] = [key_value(a) for k, _, a in fields(w) if k == 1]
            elif m == 2:
                rs["scopeSpans"].append({"spans": [span(x) for k, _, x in fields(w) if k == 2]})
        resource_spans.append(rs)
    return {"resourceSpans": resource_spans}

class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        record = {"path": self.path, "contentType": content_type, "userAgent": self.headers.get("User-Agent")}
        try:
            record["body"] = (json.loads(body) if content_type == "application/json"
                              else export_request(body) if content_type == "application/x-protobuf" else None)
        except (ValueError, IndexError, UnicodeDecodeError) as e:
            record["body"], record["error"] = None, str(e)
        with lock, open(out_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.path != "/v1/traces" or record["body"] is None:
            self.send_response(404 if self.path != "/v1/traces" else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = b"{}" if content_type == "application/json" else b""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
with open(port_path + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_path + ".tmp", port_path)
server.serve_forever()
PY

# Traffic, in Python (standard library only): the order webhook and the decline decision, each
# with a traceparent of a trace of its own; waits (bounded) for open_session and then the refund
# to have run, and writes what the checks need to traffic.json.
cat >"$work/traffic.py" <<'PY'
import json, os, sys, time, urllib.error, urllib.request

port, token, out = sys.argv[1:4]
vigil = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 45
order_id = "otlp-1"

def call(method, path, body=None, headers=None, timeout=5):
    req = urllib.request.Request(vigil + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")

def wait_for(what, probe):
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    print(f"FAIL  {what}: not within 45 s")
    sys.exit(1)

def order():
    status, body = call("GET", f"/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {token}"})
    return body if status == 200 else None

def task(kind):
    def probe():
        detail = order()
        done = [t for t in (detail or {}).get("tasks", []) if t["kind"] == kind and t["state"] == "succeeded"]
        return (detail, done[0]) if done else None
    return probe

wait_for("vigil serve answers /healthz", lambda: call("GET", "/healthz")[0] == 200)

trace_order, parent_order = os.urandom(16).hex(), os.urandom(8).hex()
trace_decline, parent_decline = os.urandom(16).hex(), os.urandom(8).hex()
status, body = call("POST", "/api/v1/post-purchase/webhook",
                    {"event": "order.created", "orderId": order_id, "customerEmail": "ada@example.com",
                     "orderTotal": 59.90, "currency": "USD", "paymentId": "ch_otlp"},
                    {"traceparent": f"00-{trace_order}-{parent_order}-01"})
if status != 202:
    print(f"FAIL  order webhook answered {status}: {body}")
    sys.exit(1)
detail, open_session = wait_for("the order's open_session task succeeded", task("open_session"))
verification_id = detail.get("verificationId") or "5d7f0b7c-6a3b-4c7e-9d1e-2f3a4b5c6d7e"
status, body = call("POST", "/api/v1/veriff/webhook",
                    {"status": "success", "verification": {
                        "id": verification_id, "attemptId": "otlp-a1", "status": "declined", "code": 9102,
                        "vendorData": order_id, "reason": "Physical document not used"}},
                    {"traceparent": f"00-{trace_decline}-{parent_decline}-01"})
if status != 202:
    print(f"FAIL  decline webhook answered {status}: {body}")
    sys.exit(1)
detail, refund = wait_for("the decline's refund task succeeded", task("refund"))
print(f"otlp: order {order_id} declined and refunded (open_session task {open_session['id']}, refund task {refund['id']})")
json.dump({"orderId": order_id, "traceOrder": trace_order, "parentOrder": parent_order,
           "traceDecline": trace_decline, "parentDecline": parent_decline,
           "openSessionTask": open_session["id"], "refundTask": refund["id"],
           "tasks": [{"id": t["id"], "kind": t["kind"], "state": t["state"]} for t in detail["tasks"]]},
          open(out, "w"))
PY
# What arrived.
cat >"$work/check.py" <<'PY'
import base64, binascii, json, os, re, sys

requests_path, traffic_path, service_name, vigil_status, protocol = sys.argv[1:6]
content_type = {"http/json": "application/json", "http/protobuf": "application/x-protobuf"}[protocol]
t = json.load(open(traffic_path))
requests = [json.loads(line) for line in open(requests_path)] if os.path.exists(requests_path) else []
failures = 0

def report(good, line, detail=""):
    global failures
    print(("ok    " if good else "FAIL  ") + line + (f"\n      {detail}" if detail and not good else ""))
    failures += 0 if good else 1

report(vigil_status == "0", "vigil serve exited 0 on SIGTERM", f"exit {vigil_status}")
exports = [r for r in requests if r["path"] == "/v1/traces" and r["body"] is not None]
report(bool(requests) and len(exports) == len(requests) and all(r["contentType"] == content_type for r in exports),
       f"{len(exports)} OTLP/HTTP export(s) posted to /v1/traces as {content_type}",
       "; ".join(f"{r['path']} {r['contentType']}" for r in requests) or "nothing arrived")

# OTLP JSON wants trace and span ids in hex; proto3 JSON's default for bytes is base64. Either
# is read here, and which one arrived is said.
encodings = set()
def ident(value, size):
    if not value:
        return None
    if re.fullmatch(r"[0-9a-fA-F]{%d}" % (2 * size), value):
        encodings.add("hex")
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return "invalid:" + value
    encodings.add("base64")
    return raw.hex() if len(raw) == size else "invalid:" + value

def value_of(v):
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    return v

def attributes(items):
    return {a["key"]: value_of(a.get("value", {})) for a in items or []}

kinds = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
def kind(k):
    if isinstance(k, int):
        return kinds.get(k, str(k))
    return str(k).replace("SPAN_KIND_", "").lower() if k else "unspecified"

spans, services = [], []
for r in exports:
    for rs in r["body"].get("resourceSpans", []):
        resource = attributes(rs.get("resource", {}).get("attributes"))
        services.append(resource.get("service.name"))
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                spans.append({
                    "name": s.get("name"), "kind": kind(s.get("kind")),
                    "traceId": ident(s.get("traceId"), 16), "spanId": ident(s.get("spanId"), 8),
                    "parentSpanId": ident(s.get("parentSpanId"), 8),
                    "attributes": attributes(s.get("attributes")),
                    "links": [{"traceId": ident(l.get("traceId"), 16), "spanId": ident(l.get("spanId"), 8),
                               "attributes": attributes(l.get("attributes"))} for l in s.get("links", [])],
                    "status": s.get("status", {}),
                })
print(f"otlp: {len(spans)} spans received: " + ", ".join(
    f"{n} ×{c}" for n, c in sorted({s['name']: sum(1 for x in spans if x['name'] == s['name']) for s in spans}.items())))
report(bool(services) and all(s == service_name for s in services),
       f"service.name is {service_name!r} on every resource", f"got {sorted(set(map(str, services)))}")
bad_ids = [s["name"] for s in spans if not s["traceId"] or not s["spanId"]
           or any(str(i).startswith("invalid:") for i in (s["traceId"], s["spanId"], s["parentSpanId"]))]
report(not bad_ids, "every span has a 16-byte trace id and an 8-byte span id", f"bad: {bad_ids[:5]}")
by_id = {s["spanId"]: s for s in spans}

def one(what, matches):
    found = [s for s in spans if matches(s)]
    report(len(found) >= 1, what, "no such span")
    return found[0] if found else None

def in_trace(trace, name=None, kind_=None):
    return lambda s: s["traceId"] == trace and (name is None or s["name"] == name) and (kind_ is None or s["kind"] == kind_)

# The webhooks' requests continue the caller's traceparent; the webhook span is their child.
for label, path, webhook, trace, parent in [
        ("order", "/api/v1/post-purchase/webhook", "webhook lightspeed order", t["traceOrder"], t["parentOrder"]),
        ("decline", "/api/v1/veriff/webhook", "webhook veriff decision", t["traceDecline"], t["parentDecline"])]:
    request = one(f"{label}: request span (server, {path}) in the caller's trace {trace[:8]}…, child of the caller's span",
                  lambda s: in_trace(trace, kind_="server")(s) and path in (s["name"], s["attributes"].get("http.route"))
                  and s["parentSpanId"] == parent)
    hook = one(f"{label}: span {webhook!r} in the same trace, inside the request span, vigil.order_id set",
               lambda s: in_trace(trace, webhook)(s) and request is not None and s["parentSpanId"] == request["spanId"]
               and s["attributes"].get("vigil.order_id") == t["orderId"])
    one(f"{label}: a committed store.transaction span (client, sqlite) in the webhook's trace",
        lambda s: in_trace(trace, kind_="client")(s) and s["name"].startswith("store.transaction")
        and s["attributes"].get("db.system.name") == "sqlite")

# Task runs: a trace of their own, linked to the trace that caused them; provider calls inside.
for kind_name, task_id, cause, cause_label in [
        ("open_session", t["openSessionTask"], t["traceOrder"], "the order webhook's"),
        ("refund", t["refundTask"], t["traceDecline"], "the decline webhook's")]:
    run = one(f"span 'task {kind_name}' (consumer) for task {task_id}",
              lambda s: s["name"] == f"task {kind_name}" and s["kind"] == "consumer"
              and s["attributes"].get("vigil.task.id") == task_id)
    if run is None:
        continue
    report(run["traceId"] not in (t["traceOrder"], t["traceDecline"]) and not run["parentSpanId"],
           f"task {kind_name} runs in a trace of its own (a root span)",
           f"trace {run['traceId']}, parent {run['parentSpanId']}")
    links = [l for l in run["links"] if l["traceId"] == cause]
    report(bool(links), f"task {kind_name} links to {cause_label} trace {cause[:8]}…",
           f"links: {run['links']}")
    report(any(l["spanId"] in by_id and by_id[l["spanId"]]["traceId"] == cause for l in links),
           f"task {kind_name}'s link names a span of that trace that was exported",
           f"linked span ids {[l['spanId'] for l in links]} not among the received spans of that trace")
    report(run["attributes"].get("vigil.task.outcome") == "succeeded" and run["attributes"].get("vigil.order_id") == t["orderId"],
           f"task {kind_name}: vigil.task.outcome succeeded, vigil.order_id {t['orderId']}",
           f"attributes {run['attributes']}")
    one(f"span 'provider {kind_name}' (client, sandbox) inside the task {kind_name} span",
        lambda s: s["name"] == f"provider {kind_name}" and s["kind"] == "client" and s["traceId"] == run["traceId"]
        and s["parentSpanId"] == run["spanId"] and s["attributes"].get("vigil.provider.mode") == "sandbox")

# Every run of the order's tasks links back to one of the two webhooks' traces.
order_runs = [s for s in spans if s["name"].startswith("task ") and s["attributes"].get("vigil.order_id") == t["orderId"]]
unlinked = [s["name"] for s in order_runs
            if not any(l["traceId"] in (t["traceOrder"], t["traceDecline"]) for l in s["links"])]
report(len(order_runs) >= 2 and not unlinked,
       f"all {len(order_runs)} task runs of the order link to a webhook's trace ({', '.join(sorted({s['name'] for s in order_runs}))})",
       f"unlinked: {unlinked}")
if protocol != "http/json" or encodings == {"hex"}:
    print("ok    ids are " + ("hex, as OTLP/HTTP JSON asks" if protocol == "http/json" else "Protobuf bytes of 16 and 8"))
else:
    print(f"note  ids arrived as {' and '.join(sorted(encodings))}: OTLP/HTTP JSON asks for hex (the OpenTelemetry "
          "Collector rejects base64 ids); http/protobuf, the default, has no such question")
print(f"otlp ({protocol}): {'all checks passed' if not failures else f'{failures} check(s) failed'}")
sys.exit(1 if failures else 0)
PY

service_name="vigil-otlp-check"
admin_token=otlp-admin-token
# The standard OTEL_* variables would refine (or redirect) the export: none from outside.
unset_otel=()
while IFS= read -r name; do unset_otel+=(-u "$name"); done < <(env | sed -n 's/^\(OTEL_[A-Za-z0-9_]*\)=.*/\1/p')

# One run per protocol: its own receiver, database and vigil serve; traffic; SIGTERM; checks.
check_protocol() {
    local pid protocol=$1 dir="$work/${1#http/}" receiver_port vigil_port vigil_status=0 status=0
    mkdir "$dir"
    python3 "$work/receiver.py" "$dir/requests.jsonl" "$dir/receiver.port" &
    receiver_pid=$!
    for _ in $(seq 50); do [[ -s $dir/receiver.port ]] && break; sleep 0.1; done
    [[ -s $dir/receiver.port ]] || { echo "otlp: the receiver did not start"; return 1; }
    receiver_port=$(cat "$dir/receiver.port")
    vigil_port=$(free_port)
    (cd "$dir" && exec env "${unset_otel[@]}" VIGIL_ENV=development VIGIL_PORT="$vigil_port" VIGIL_HOST=127.0.0.1 \
        VIGIL_DATABASE_URL="sqlite://$dir/vigil.sqlite" VIGIL_PROVIDERS=sandbox VIGIL_LOG_LEVEL=info \
        VIGIL_ADMIN_TOKEN=$admin_token \
        VIGIL_OTLP_ENDPOINT="http://127.0.0.1:$receiver_port" VIGIL_OTLP_PROTOCOL="$protocol" \
        VIGIL_OTLP_SERVICE_NAME=$service_name \
        "$vigil" serve >"$dir/vigil.log" 2>&1) &
    vigil_pid=$!
    echo "otlp: vigil serve on 127.0.0.1:$vigil_port exporting $protocol to the receiver on 127.0.0.1:$receiver_port"

    python3 "$work/traffic.py" "$vigil_port" "$admin_token" "$dir/traffic.json" || status=$?
    if [[ $status -eq 0 ]]; then
        # SIGTERM: graceful shutdown, the exporter last, sending the spans it still holds.
        kill -TERM "$vigil_pid"
        for _ in $(seq 200); do kill -0 "$vigil_pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$vigil_pid" 2>/dev/null; then
            echo "FAIL  vigil serve did not stop within 20 s of SIGTERM"; status=1
        else
            wait "$vigil_pid" || vigil_status=$?
            vigil_pid=
            echo "otlp: vigil serve stopped on SIGTERM (exit $vigil_status)"
            python3 "$work/check.py" "$dir/requests.jsonl" "$dir/traffic.json" "$service_name" "$vigil_status" "$protocol" \
                || status=$?
        fi
    fi
    if [[ $status -ne 0 ]]; then
        echo "--- vigil serve log (last 30 lines)"; tail -30 "$dir/vigil.log" || true
    fi
    for pid in $vigil_pid $receiver_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in $vigil_pid $receiver_pid; do wait "$pid" 2>/dev/null || true; done
    vigil_pid=""
    receiver_pid=""
    return "$status"
}

# http/json as the issue's receiver reads it; http/protobuf, the default and what a Collector
# is usually sent.
failed=0
check_protocol http/json || failed=1
check_protocol http/protobuf || failed=1
exit "$failed"
