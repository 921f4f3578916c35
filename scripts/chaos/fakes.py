#!/usr/bin/env python3
"""Fake Veriff, SendGrid, Stripe and Lightspeed for the chaos harness (issue 16).

One process, one port, routed by path: Vigil's base URLs are
`http://127.0.0.1:PORT/<provider>/<launch>` (provider: veriff, sendgrid, stripe, lightspeed;
launch: the harness's name for one start of one Vigil process), so every request says which
process made it. The fakes speak the wire formats of Sources/VigilProviders/Live/*.swift:

  veriff      POST /v1/sessions         X-AUTH-CLIENT, X-HMAC-SIGNATURE (hex HMAC-SHA256 of the body)
  sendgrid    POST /v3/mail/send        Bearer key; 202; custom_args.idempotency_key
              GET  /v3/scopes           {"scopes":["mail.send",...]}
  stripe      POST /v1/refunds          Bearer key; form body; Idempotency-Key honoured
              GET  /v1/balance
  lightspeed  PUT  /orders/{id}.json    HTTP Basic KEY:SECRET; {"order":{"status"|"memo"}}: the action is
                                        hold (the hold status), cancel (status cancelled), release (any
                                        other status) or annotate (memo only)
              GET  /shop.json

Every request is one JSON line in the records file: provider, operation, launch, idempotency key
(Stripe's header; SendGrid's custom_args.idempotency_key; Veriff's vendorData, the order id;
Lightspeed's order id and action), order id, the fault injected and whether the fake "acted"
(created the session or refund, sent the email, updated the order), with times.

Faults (a share of calls each, while enabled; read-only checks are never faulted):
  500, 503         before acting or after acting (after: the provider did it, then failed)
  429              before acting, with Retry-After: 1
  delay            acts, then answers 2xx after --delay seconds (slow, under Vigil's timeout)
  reset            closes the connection without an answer (RST), before or after acting
  timeout          holds the connection past Vigil's provider timeout, then closes it unanswered,
                   before or after acting

Control (same port): POST /__control {"faults": true|false}; GET /__state (counts, in flight);
GET /__sessions?order=ID (the Veriff session ids issued for an order, newest last).
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

FAULT_KINDS = ["500", "503", "429", "delay", "reset", "timeout"]


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.records = open(args.records, "a", buffering=1)
        self.faults_on = False
        self.shares = dict(args.shares)
        self.rng = random.Random(args.seed)
        self.seq = 0
        self.in_flight = 0
        self.veriff_sessions = {}  # order -> [session id]
        self.refunds = {}  # idempotency key -> {"params", "response"}
        self.refunded_payments = {}  # payment id -> refund id
        self.counts = {}

    def record(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.records.write(json.dumps(entry, sort_keys=True) + "\n")
            key = (entry["provider"], entry["op"], entry.get("fault") or "none")
            self.counts[key] = self.counts.get(key, 0) + 1

    def draw_fault(self):
        """One fault kind (or None) and its phase, by the configured shares."""
        with self.lock:
            if not self.faults_on:
                return None, None
            r = self.rng.random()
            phase = "before" if self.rng.random() < 0.5 else "after"
        acc = 0.0
        for kind in FAULT_KINDS:
            acc += self.shares.get(kind, 0.0)
            if r < acc:
                if kind == "429":
                    phase = "before"
                if kind == "delay":
                    phase = "after"
                return kind, phase
        return None, None


def hex_hmac(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chaos-fakes/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    # -- plumbing ---------------------------------------------------------------------------

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def answer(self, status, obj=None, headers=()):
        data = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True

    def reset(self):
        """Close without answering, with an RST (SO_LINGER 0)."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        try:
            self.connection.close()
        except OSError:
            pass

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    # -- routing ----------------------------------------------------------------------------

    def route(self, method):
        st = self.server.state
        url = urlsplit(self.path)
        raw = self.body()
        if url.path.startswith("/__"):
            return self.control(method, url, raw)
        parts = url.path.split("/")
        # "", provider, launch, rest...
        if len(parts) < 4:
            return self.answer(404, {"error": "no such route"})
        provider, launch, rest = parts[1], parts[2], "/" + "/".join(parts[3:])
        entry = {"provider": provider, "launch": launch, "method": method, "path": rest, "t": time.time(),
                 "fault": None, "phase": None, "acted": False, "status": None}
        with st.lock:
            st.in_flight += 1
        try:
            handler = {
                ("veriff", "POST", "/v1/sessions"): self.veriff_session,
                ("sendgrid", "POST", "/v3/mail/send"): self.sendgrid_send,
                ("sendgrid", "GET", "/v3/scopes"): self.sendgrid_scopes,
                ("stripe", "POST", "/v1/refunds"): self.stripe_refund,
                ("stripe", "GET", "/v1/balance"): self.stripe_balance,
                ("lightspeed", "GET", "/shop.json"): self.lightspeed_shop,
            }.get((provider, method, rest))
            if handler is None and provider == "lightspeed" and method == "PUT" and rest.startswith("/orders/") \
                    and rest.endswith(".json"):
                handler = self.lightspeed_update
            if handler is None:
                entry["op"] = "unknown"
                entry["wire_error"] = f"no route {method} {provider}{rest}"
                entry["status"] = 404
                self.answer(404, {"error": "no such route"})
            else:
                handler(entry, raw)
        except (BrokenPipeError, ConnectionResetError, OSError) as error:
            entry["client_error"] = str(error)
        finally:
            entry["t_end"] = time.time()
            with st.lock:
                st.in_flight -= 1
            st.record(entry)

    def control(self, method, url, raw):
        st = self.server.state
        if url.path == "/__control" and method == "POST":
            req = json.loads(raw or b"{}")
            with st.lock:
                if "faults" in req:
                    st.faults_on = bool(req["faults"])
                if "shares" in req:
                    st.shares = {k: float(v) for k, v in req["shares"].items()}
                return self.answer(200, {"faults": st.faults_on, "shares": st.shares})
        if url.path == "/__state":
            with st.lock:
                counts = {"/".join(k): v for k, v in st.counts.items()}
                return self.answer(200, {"faults": st.faults_on, "inFlight": st.in_flight, "counts": counts})
        if url.path == "/__sessions":
            order = dict(parse_qsl(url.query)).get("order", "")
            with st.lock:
                return self.answer(200, {"order": order, "sessions": list(st.veriff_sessions.get(order, []))})
        return self.answer(404, {"error": "no such control"})

    # -- faults -----------------------------------------------------------------------------

    def fault_before(self, entry):
        """Injects a before-acting fault; True when the request was answered (or dropped) by it."""
        kind, phase = self.server.state.draw_fault()
        entry["fault"], entry["phase"] = kind, phase
        if kind is None or phase != "before":
            return False
        self.inject(entry, kind)
        return True

    def fault_after(self, entry):
        kind = entry["fault"]
        if kind is None or entry["phase"] != "after":
            return False
        if kind == "delay":
            time.sleep(self.server.state.args.delay)
            return False  # then answer normally
        self.inject(entry, kind)
        return True

    def inject(self, entry, kind):
        args = self.server.state.args
        if kind in ("500", "503"):
            entry["status"] = int(kind)
            self.answer(int(kind), {"error": {"message": f"injected {kind}"}})
        elif kind == "429":
            entry["status"] = 429
            self.answer(429, {"error": {"message": "injected throttle"}}, headers=[("Retry-After", "1")])
        elif kind == "reset":
            entry["status"] = 0
            self.reset()
        elif kind == "timeout":
            entry["status"] = 0
            time.sleep(args.timeout_hold)
            self.reset()

    # -- providers --------------------------------------------------------------------------

    def check_bearer(self, entry, expected):
        if self.headers.get("Authorization") != f"Bearer {expected}":
            entry["wire_error"] = "bad or missing bearer key"
            entry["status"] = 401
            self.answer(401, {"errors": [{"message": "authorization required"}]})
            return False
        return True

    def veriff_session(self, entry, raw):
        args = self.server.state.args
        entry["op"] = "create_session"
        try:
            body = json.loads(raw)
            order = body["verification"]["vendorData"]
        except (ValueError, KeyError, TypeError):
            entry["wire_error"] = "body is not {verification:{vendorData}}"
            entry["status"] = 400
            return self.answer(400, {"status": "fail", "code": 1102, "message": "mandatory parameters missing"})
        entry["order"] = entry["key"] = order
        if self.headers.get("X-AUTH-CLIENT") != args.veriff_key:
            entry["wire_error"] = "bad X-AUTH-CLIENT"
            entry["status"] = 401
            return self.answer(401, {"status": "fail", "code": 1801, "message": "mandatory X-AUTH-CLIENT missing"})
        if not hmac.compare_digest(self.headers.get("X-HMAC-SIGNATURE", ""), hex_hmac(args.veriff_secret, raw)):
            entry["wire_error"] = "bad X-HMAC-SIGNATURE"
            entry["status"] = 401
            return self.answer(401, {"status": "fail", "code": 1812, "message": "signature mismatch"})
        if self.fault_before(entry):
            return
        st = self.server.state
        sid = str(uuid.uuid4())
        with st.lock:
            st.veriff_sessions.setdefault(order, []).append(sid)
        entry["acted"] = True
        entry["resp_id"] = sid
        if self.fault_after(entry):
            return
        entry["status"] = 201
        self.answer(201, {"status": "success", "verification": {
            "id": sid, "url": f"https://alchemy.veriff.com/v/{sid}", "vendorData": order,
            "host": "https://alchemy.veriff.com", "status": "created", "sessionToken": "tok"}})

    def sendgrid_send(self, entry, raw):
        args = self.server.state.args
        entry["op"] = "send_email"
        if not self.check_bearer(entry, args.sendgrid_key):
            return
        try:
            body = json.loads(raw)
            custom = body["custom_args"]
            entry["key"] = custom["idempotency_key"]
            entry["order"] = custom["order_id"]
            data = body["personalizations"][0]["dynamic_template_data"]
            entry["kind"] = data.get("kind")
            entry["template"] = body["template_id"]
            entry["to"] = body["personalizations"][0]["to"][0]["email"]
            if not body.get("from", {}).get("email"):
                raise KeyError("from")
        except (ValueError, KeyError, TypeError, IndexError) as error:
            entry["wire_error"] = f"mail/send body: missing {error}"
            entry["status"] = 400
            return self.answer(400, {"errors": [{"message": "bad request"}]})
        if self.fault_before(entry):
            return
        entry["acted"] = True
        if self.fault_after(entry):
            return
        entry["status"] = 202
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.send_header("X-Message-Id", uuid.uuid4().hex[:22])
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def sendgrid_scopes(self, entry, raw):
        entry["op"] = "check"
        if not self.check_bearer(entry, self.server.state.args.sendgrid_key):
            return
        entry["status"] = 200
        self.answer(200, {"scopes": ["mail.send", "templates.read"]})

    def stripe_refund(self, entry, raw):
        st = self.server.state
        entry["op"] = "refund"
        if not self.check_bearer(entry, st.args.stripe_key):
            return
        form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        key = self.headers.get("Idempotency-Key")
        entry["key"] = key
        entry["order"] = form.get("metadata[order_id]")
        payment = form.get("payment_intent") or form.get("charge")
        entry["payment"] = payment
        entry["amount"] = form.get("amount")
        if not key or not payment or not (form.get("amount") or "").isdigit() or not entry["order"]:
            entry["wire_error"] = "refund without Idempotency-Key, payment, amount or metadata[order_id]"
            entry["status"] = 400
            return self.answer(400, {"error": {"type": "invalid_request_error", "message": "bad refund request"}})
        if self.fault_before(entry):
            return
        params = json.dumps(sorted(form.items()))
        with st.lock:
            known = st.refunds.get(key)
            if known is None:
                other = st.refunded_payments.get(payment)
                if other is not None:
                    entry["double_refund"] = other
                    status, response = 400, {"error": {"type": "invalid_request_error", "code": "charge_already_refunded",
                                                       "message": f"{payment} has already been refunded ({other})"}}
                else:
                    rid = "re_" + uuid.uuid4().hex[:24]
                    response = {"id": rid, "object": "refund", "amount": int(form["amount"]), "status": "succeeded",
                                "payment_intent": form.get("payment_intent"), "charge": form.get("charge"),
                                "metadata": {"order_id": entry["order"]}}
                    st.refunds[key] = {"params": params, "response": response}
                    st.refunded_payments[payment] = rid
                    status = 200
                    entry["acted"] = True
                    entry["resp_id"] = rid
            elif known["params"] != params:
                entry["key_reuse"] = True
                status, response = 400, {"error": {"type": "idempotency_error",
                                                   "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}}
            else:
                status, response = 200, known["response"]
                entry["replay"] = True
                entry["resp_id"] = response["id"]
        if status != 200:
            entry["status"] = status
            return self.answer(status, response)
        if self.fault_after(entry):
            return
        entry["status"] = 200
        headers = [("Idempotent-Replayed", "true")] if entry.get("replay") else []
        self.answer(200, response, headers=headers)

    def stripe_balance(self, entry, raw):
        entry["op"] = "check"
        if not self.check_bearer(entry, self.server.state.args.stripe_key):
            return
        entry["status"] = 200
        self.answer(200, {"object": "balance", "available": [{"amount": 0, "currency": "usd"}], "livemode": False})

    def check_basic(self, entry):
        expected = "Basic " + base64.b64encode(self.server.state.args.lightspeed_token.encode()).decode()
        if self.headers.get("Authorization") != expected:
            entry["wire_error"] = "bad or missing HTTP Basic credentials"
            entry["status"] = 401
            self.answer(401, {"error": {"code": 401, "message": "Unauthorized"}})
            return False
        return True

    def lightspeed_update(self, entry, raw):
        args = self.server.state.args
        entry["op"] = "update_order"
        order = unquote(entry["path"][len("/orders/"):-len(".json")])
        entry["order"] = order
        if not self.check_basic(entry):
            return
        try:
            fields = json.loads(raw)["order"]
            status = fields.get("status")
            if status is None:
                action = "annotate" if "memo" in fields else None
            elif status == "cancelled":
                action = "cancel"
            elif status == args.hold_status:
                action = "hold"
            else:
                action = "release"
            if action is None:
                raise KeyError("status or memo")
        except (ValueError, KeyError, TypeError) as error:
            entry["wire_error"] = f"order body: {error}"
            entry["status"] = 400
            return self.answer(400, {"error": {"code": 400, "message": "bad order body"}})
        entry["action"] = action
        entry["key"] = f"{order}/{action}"
        entry["fields"] = fields
        if self.fault_before(entry):
            return
        entry["acted"] = True
        if self.fault_after(entry):
            return
        entry["status"] = 200
        self.answer(200, {"order": {"id": order, **fields}})

    def lightspeed_shop(self, entry, raw):
        entry["op"] = "check"
        if not self.check_basic(entry):
            return
        entry["status"] = 200
        self.answer(200, {"shop": {"id": 1, "title": "chaos shop"}})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--records", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--shares", default="{}", help="JSON {kind: share}")
    p.add_argument("--delay", type=float, default=1.0)
    p.add_argument("--timeout-hold", type=float, default=4.0)
    p.add_argument("--veriff-key", required=True)
    p.add_argument("--veriff-secret", required=True)
    p.add_argument("--sendgrid-key", required=True)
    p.add_argument("--stripe-key", required=True)
    p.add_argument("--lightspeed-token", required=True)
    p.add_argument("--hold-status", default="on_hold")
    args = p.parse_args()
    args.shares = json.loads(args.shares)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    server.state = State(args)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
