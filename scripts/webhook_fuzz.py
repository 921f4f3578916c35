#!/usr/bin/env python3
"""Fuzzes Vigil's webhook endpoints on a running `vigil serve` (Python standard library only).

Sends correctly signed random and mutated valid bodies to both webhooks, plus malformed HTTP on
raw sockets (bad framing, bodies over the limit, bad headers, early closes), and fails on any 5xx,
on a connection the server neither answers nor closes, or when /healthz stops answering 200.

    python3 scripts/webhook_fuzz.py --port 8080 --lightspeed-secret S1 --veriff-secret S2 \
        [--seconds 45] [--seed 1]
"""

import argparse
import hashlib
import hmac
import http.client
import json
import random
import socket
import sys
import time

ORDER = {
    "event": "order.created", "orderId": "F1", "customerEmail": "fuzz@example.com", "orderTotal": 59.90,
    "currency": "USD", "paymentId": "ch_1", "customerId": "c1", "customerName": "Ada Fuzz",
    "customerTags": ["wholesale"], "shippingAddress": {"country": "US", "state": "CA"},
    "lineItems": [{"sku": "WHISKY-12", "quantity": 1, "tags": ["age-restricted"], "categories": ["spirits"]}],
}
DECISION = {
    "status": "success",
    "verification": {
        "id": "5d7f0b7c-6a3b-4c7e-9d1e-2f3a4b5c6d7e", "status": "approved", "code": 9001, "vendorData": "F1",
        "person": {"dateOfBirth": "1990-04-02"}, "document": {"validUntil": "2031-01-01"},
    },
}
SHORT_DECISION = {"event": "verification.updated", "id": "evt_1", "status": "declined", "orderId": "F1"}
NATIVE_ORDER = {"order": {"id": 123, "number": 1001, "email": "n@example.com", "priceIncl": 10.5, "status": "processing_awaiting_payment"}}

WEIRD = [
    None, True, False, 0, 1, -1, 2**63, -(2**63) - 1, 1e308, -1e308, 0.1, 1e-320, "", " ", "\u0000", "\u202e",
    "é", "😀" * 100, "x" * 5000, "1e38", "12abc", "-5", "NaN", "Infinity", "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z", "100000000000000h", [], {}, [None], {"a": {"b": {"c": []}}}, "order.created:x",
    "C1:send_email", "../../etc/passwd", "%00", "<script>", "' OR 1=1 --",
]
KEYS = ["event", "orderId", "customerEmail", "orderTotal", "currency", "paymentId", "timestamp", "status", "id",
        "verification", "vendorData", "person", "dateOfBirth", "code", "decisionTime", "lineItems", "shippingAddress",
        "customerTags", "X" * 300]


def sign(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def mutate_value(rng, value, depth=0):
    """A random change somewhere inside a JSON value."""
    if isinstance(value, dict) and value and depth < 6:
        key = rng.choice(list(value))
        roll = rng.random()
        copy = dict(value)
        if roll < 0.15:
            del copy[key]
        elif roll < 0.3:
            copy[rng.choice(KEYS)] = rng.choice(WEIRD)
        else:
            copy[key] = mutate_value(rng, value[key], depth + 1)
        return copy
    if isinstance(value, list) and value and depth < 6:
        copy = list(value)
        index = rng.randrange(len(copy))
        copy[index] = mutate_value(rng, copy[index], depth + 1)
        if rng.random() < 0.2:
            copy = copy * rng.randint(2, 50)
        return copy
    return rng.choice(WEIRD) if rng.random() < 0.7 else random_json(rng, depth + 1)


def random_json(rng, depth=0):
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return rng.choice(WEIRD)
    if roll < 0.7:
        return {rng.choice(KEYS): random_json(rng, depth + 1) for _ in range(rng.randint(0, 6))}
    return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))]


def mutate_bytes(rng, body):
    data = bytearray(body)
    for _ in range(rng.randint(1, 8)):
        roll = rng.random()
        position = rng.randrange(len(data) + 1)
        if roll < 0.4 and data:
            data[min(position, len(data) - 1)] = rng.randrange(256)
        elif roll < 0.7:
            data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif data:
            del data[position:position + rng.randint(1, 16)]
    return bytes(data)


def body_for(rng, endpoint):
    base = rng.choice([ORDER, NATIVE_ORDER]) if endpoint == "order" else rng.choice([DECISION, SHORT_DECISION])
    roll = rng.random()
    if roll < 0.1:
        value = dict(base, orderId="F%d" % rng.randrange(10**6)) if endpoint == "order" else base
        return json.dumps(value).encode()
    if roll < 0.55:
        return json.dumps(mutate_value(rng, base), allow_nan=True).encode()
    if roll < 0.75:
        return json.dumps(random_json(rng), allow_nan=True).encode()
    return mutate_bytes(rng, json.dumps(base).encode())


def complete(answer):
    """True once `answer` holds a whole response framed by its Content-Length."""
    end = answer.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = 0
    for line in answer[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return False
    return len(answer) >= end + 4 + length


class Fuzzer:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.statuses = {}
        self.failures = []

    def record(self, what, status):
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500:
            self.failures.append("%s answered %d" % (what, status))

    def signed_webhook(self, connection):
        endpoint = self.rng.choice(["order", "decision"])
        body = body_for(self.rng, endpoint)
        if endpoint == "order":
            path, header, secret = "/api/v1/post-purchase/webhook", "X-Signature", self.args.lightspeed_secret
        else:
            path, secret = "/api/v1/veriff/webhook", self.args.veriff_secret
            header = self.rng.choice(["X-HMAC-SIGNATURE", "VRF-HMAC-SIGNATURE", "X-Signature"])
        headers = {"Content-Type": "application/json", header: sign(secret, body)}
        if endpoint == "order" and self.rng.random() < 0.2:
            headers["X-Event"] = self.rng.choice(["orders/created", "orders/updated", "orders/paid", "x" * 300])
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        self.record("signed %s webhook %r" % (endpoint, body[:200]), response.status)
        return response.getheader("Connection", "").lower() == "close"

    def raw(self, payload, what, send_all=True):
        """Sends raw bytes; the server must answer (not 5xx) or close, within the timeout."""
        with socket.create_connection(("127.0.0.1", self.args.port), timeout=10) as sock:
            try:
                if send_all:
                    sock.sendall(payload)
                else:
                    sock.send(payload[:65536])
                sock.shutdown(socket.SHUT_WR) if self.rng.random() < 0.5 else None
                answer = b""
                while not complete(answer):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
            except socket.timeout:
                self.failures.append("%s: no answer and no close within 10 s" % what)
                return
            except (ConnectionResetError, BrokenPipeError):
                return
        if answer.startswith(b"HTTP/1.1 "):
            status = int(answer[9:12])
            self.record(what, status)

    def malformed(self):
        secret = self.args.lightspeed_secret
        body = json.dumps(dict(ORDER, orderId="R%d" % self.rng.randrange(10**6))).encode()
        head = ("POST /api/v1/post-purchase/webhook HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\n"
                "X-Signature: %s\r\n" % sign(secret, body)).encode()
        cases = [
            (head + b"Transfer-Encoding: chunked\r\n\r\nZZZ\r\n" + body + b"\r\n0\r\n\r\n", "bad chunk size"),
            (head + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % (len(body) + 5) + body + b"\r\n0\r\n\r\n", "short chunk"),
            (head + b"Content-Length: 10\r\nContent-Length: 12\r\n\r\n" + body, "two lengths"),
            (head + b"Content-Length: -1\r\n\r\n" + body, "negative length"),
            (head + b"Content-Length: 99999999999999999999\r\n\r\n", "huge length"),
            (head + b"Content-Length: %d\r\n\r\n" % (5 << 20), "announced over the limit"),
            (head + b"Content-Length: %d\r\n\r\n" % (2 << 20) + b"a" * (2 << 20), "whole body over the limit"),
            (head + b"Transfer-Encoding: chunked\r\n\r\n" + (b"10000\r\n" + b"a" * 65536 + b"\r\n") * 20 + b"0\r\n\r\n",
             "chunked over the limit"),
            (b"GARBAGE\r\n\r\n", "garbage request line"),
            (b"GET /healthz HTTP/1.1\r\nHost: vigil\r\nBad Header: x\r\n\r\n", "bad header name"),
            (b"GET /healthz HTTP/9.9\r\nHost: vigil\r\n\r\n", "unknown version"),
            (b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: vigil\r\n\r\n", "huge path"),
            (b"GET /healthz HTTP/1.1\r\nHost: vigil\r\nX: " + b"b" * 100000 + b"\r\n\r\n", "huge header"),
            (b"POST /api/v1/veriff/webhook HTTP/1.1\r\nHost: vigil\r\nContent-Type: application/json\r\n"
             b"Content-Length: 5\r\n\r\n\xff\xfe\x00\x01\x02", "binary body"),
            (bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 400))), "random bytes"),
            (mutate_bytes(self.rng, head + b"Content-Length: %d\r\n\r\n" % len(body) + body), "mutated request"),
        ]
        payload, what = self.rng.choice(cases)
        self.raw(payload, what)

    def healthy(self):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.args.port, timeout=10)
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False

    def run(self):
        deadline = time.monotonic() + self.args.seconds
        sent = 0
        connection = None
        while time.monotonic() < deadline:
            try:
                if self.rng.random() < 0.15:
                    self.malformed()
                else:
                    if connection is None:
                        connection = http.client.HTTPConnection("127.0.0.1", self.args.port, timeout=15)
                    if self.signed_webhook(connection):
                        connection.close()
                        connection = None
            except (http.client.HTTPException, OSError) as error:
                if isinstance(error, socket.timeout):
                    self.failures.append("a signed webhook got no answer within 15 s")
                if connection is not None:
                    connection.close()
                connection = None
            sent += 1
            if sent % 200 == 0 and not self.healthy():
                self.failures.append("/healthz stopped answering 200 after %d requests" % sent)
                break
        if not self.healthy():
            self.failures.append("/healthz does not answer 200 after the run")
        summary = ", ".join("%d×%d" % (count, status) for status, count in sorted(self.statuses.items()))
        print("webhook-fuzz: %d requests in %d s (seed %d): %s" % (sent, self.args.seconds, self.args.seed, summary))
        for failure in self.failures[:20]:
            print("webhook-fuzz: FAIL %s" % failure, file=sys.stderr)
        return not self.failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lightspeed-secret", required=True)
    parser.add_argument("--veriff-secret", required=True)
    parser.add_argument("--seconds", type=int, default=45)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(0 if Fuzzer(args).run() else 1)


if __name__ == "__main__":
    main()
