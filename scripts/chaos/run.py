#!/usr/bin/env python3
"""One chaos run of issue 16 against one backend: fake providers, Vigil instances in live mode
against them, a bounded load of signed orders and decisions, kill -9s and restarts, one
PostgreSQL restart, clock steps; then the system settles and check.py proves the invariants.

Started by scripts/chaos.sh, which owns the temporary folder and the PostgreSQL cluster. Every
process this script starts is in its own session and is ended by its pid here (atexit and on
SIGTERM/SIGINT); the pids are also listed in WORKDIR/pids for chaos.sh's trap.
"""

import argparse
import atexit
import hashlib
import hmac
import heapq
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the repository
import check  # noqa: E402

LIGHTSPEED_SECRET = "chaos-lightspeed-secret"
VERIFF_SECRET = "chaos-veriff-shared-secret"
VERIFF_KEY = "chaos-veriff-api-key"
SENDGRID_KEY = "SG.chaos-sendgrid-key"
STRIPE_KEY = "sk_test_chaos_stripe_key"
LIGHTSPEED_TOKEN = "chaoskey:chaossecret"
ADMIN_TOKEN = "chaos-admin-token"
FAKETIME_LIBS = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/faketime/libfaketimeMT.so.1"]


def log(msg):
    print(f"chaos: {time.strftime('%H:%M:%S')} {msg}", flush=True)


def sign(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class PhaseTimeout(Exception):
    pass


class StartupExit(Exception):
    pass


class Journal:
    """What the harness did and saw, one JSON object a line (read by check.py)."""

    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1)

    def write(self, kind, **fields):
        fields["kind"] = kind
        fields.setdefault("t", time.time())
        with self.lock:
            self.f.write(json.dumps(fields, sort_keys=True) + "\n")


class Processes:
    """Every child this run started, ended by pid."""

    def __init__(self, pidfile):
        self.pidfile = pidfile
        self.lock = threading.Lock()
        self.procs = {}

    def add(self, name, proc):
        with self.lock:
            self.procs[name] = proc
            self._write()

    def remove(self, name):
        with self.lock:
            self.procs.pop(name, None)
            self._write()

    def _write(self):
        with open(self.pidfile, "w") as f:
            for proc in self.procs.values():
                if proc.poll() is None:
                    f.write(f"{proc.pid}\n")

    def stop_all(self):
        with self.lock:
            procs = list(self.procs.items())
        for _, proc in procs:
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for _, proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        with self.lock:
            self.procs.clear()
            self._write()


class Instance:
    """One Vigil slot (a fixed port); each start is a new launch with its own name (A1, A2, ...),
    which is also in its provider base URLs, so the fakes know which process called."""

    def __init__(self, run, slot, port):
        self.run, self.slot, self.port = run, slot, port
        self.gen = 0
        self.proc = None
        self.label = None
        self.lock = threading.Lock()
        self.clock_file = os.path.join(run.workdir, f"clock-{slot}")
        with open(self.clock_file, "w") as f:
            f.write("+0\n")
        self.clock_offset = 0.0
        self.killed = set()

    @property
    def up(self):
        return self.proc is not None and self.proc.poll() is None

    def env(self, label):
        r = self.run
        base = f"http://127.0.0.1:{r.fake_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        env.update({
            "VIGIL_ENV": "development", "VIGIL_HOST": "127.0.0.1", "VIGIL_PORT": str(self.port),
            "VIGIL_DATABASE_URL": r.database_url, "VIGIL_PROVIDERS": "live",
            "VIGIL_LOG_LEVEL": "info", "VIGIL_LOG_FORMAT": "json",
            "VIGIL_LIGHTSPEED_WEBHOOK_SECRET": LIGHTSPEED_SECRET, "VIGIL_VERIFF_SHARED_SECRET": VERIFF_SECRET,
            "VIGIL_VERIFF_API_KEY": VERIFF_KEY, "VIGIL_VERIFF_BASE_URL": f"{base}/veriff/{label}",
            "VIGIL_SENDGRID_API_KEY": SENDGRID_KEY, "VIGIL_SENDGRID_BASE_URL": f"{base}/sendgrid/{label}",
            "VIGIL_EMAIL_FROM": "verify@chaos.example.com",
            "VIGIL_SENDGRID_TEMPLATE_VERIFICATION_LINK": "d-link", "VIGIL_SENDGRID_TEMPLATE_REMINDER": "d-reminder",
            "VIGIL_SENDGRID_TEMPLATE_APPROVED": "d-approved", "VIGIL_SENDGRID_TEMPLATE_DECLINED": "d-declined",
            "VIGIL_SENDGRID_TEMPLATE_EXPIRED": "d-expired", "VIGIL_SENDGRID_TEMPLATE_RESUBMISSION": "d-resubmission",
            "VIGIL_PAYMENTS_GATEWAY": "stripe", "VIGIL_PAYMENTS_API_KEY": STRIPE_KEY,
            "VIGIL_PAYMENTS_BASE_URL": f"{base}/stripe/{label}",
            "VIGIL_LIGHTSPEED_HOLD_STATUS": "on_hold", "VIGIL_LIGHTSPEED_RELEASE_STATUS": "off_hold",
            "VIGIL_LIGHTSPEED_API_TOKEN": LIGHTSPEED_TOKEN, "VIGIL_LIGHTSPEED_BASE_URL": f"{base}/lightspeed/{label}",
            "VIGIL_ADMIN_TOKEN": ADMIN_TOKEN,
            "VIGIL_TASK_LEASE": f"{r.args.lease}s",
            "VIGIL_REMINDER_AFTER": f"{r.args.reminder}s", "VIGIL_VERIFICATION_DEADLINE": f"{r.args.deadline}s",
            "VIGIL_PROVIDER_TIMEOUT": f"{r.args.provider_timeout}s",
            "VIGIL_PROVIDER_BREAKER_COOLDOWN": "3s",
            "VIGIL_DB_POOL_MAX": "8", "VIGIL_DB_CONNECT_TIMEOUT": "3s", "VIGIL_DB_QUERY_TIMEOUT": "10s",
        })
        for item in r.args.vigil_env:
            name, _, value = item.partition("=")
            env[name] = value
        if r.faketime_lib:
            env.update({"LD_PRELOAD": r.faketime_lib, "FAKETIME_TIMESTAMP_FILE": self.clock_file,
                        "FAKETIME_CACHE_DURATION": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
        return env

    def start(self):
        with self.lock:
            if self.up:
                return
            self.gen += 1
            label = f"{self.slot}{self.gen}"
            logf = open(os.path.join(self.run.workdir, "logs", f"vigil-{label}.log"), "wb")
            # Under LD_PRELOAD=libfaketime the Swift binary loses its arguments (prints its
            # usage, exits 0) when started straight from a process without libfaketime; started
            # through env(1), which itself runs under libfaketime, it keeps them.
            cmd = (["env"] if self.run.faketime_lib else []) + [self.run.vigil, "serve"]
            self.proc = subprocess.Popen(cmd, env=self.env(label), stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            self.label = label
            self.run.procs.add(f"vigil-{self.slot}", self.proc)
            self.run.journal.write("launch", slot=self.slot, launch=label, pid=self.proc.pid, port=self.port,
                                   clock=self.clock_offset)

    def kill9(self, reason="chaos"):
        with self.lock:
            if not self.up:
                return False
            os.kill(self.proc.pid, signal.SIGKILL)
            t = time.time()
            self.killed.add(self.label)
            self.proc.wait(timeout=10)
            self.run.journal.write("kill", slot=self.slot, launch=self.label, pid=self.proc.pid, reason=reason, t=t)
            self.run.procs.remove(f"vigil-{self.slot}")
            return True

    def stop(self, timeout=20):
        with self.lock:
            if not self.up:
                return
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
                self.run.journal.write("stop", slot=self.slot, launch=self.label, code=self.proc.returncode)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
                self.run.journal.write("kill", slot=self.slot, launch=self.label, pid=self.proc.pid,
                                       reason="did not stop on SIGTERM within 20s")
            self.run.procs.remove(f"vigil-{self.slot}")

    def set_clock(self, offset):
        """Steps this slot's wall clock (libfaketime re-reads the file within a second)."""
        if not self.run.faketime_lib:
            return
        tmp = self.clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{offset:+g}\n")
        os.replace(tmp, self.clock_file)
        self.run.journal.write("clock", slot=self.slot, launch=self.label if self.up else None,
                               offset=offset, previous=self.clock_offset)
        self.clock_offset = offset

    def start_until_healthy(self, deadline):
        """Starts the slot and waits until it answers, starting it again when it exits during
        start-up (as an orchestrator would; e.g. Vigil exits 1 when PostgreSQL is down)."""
        while True:
            self.start()
            try:
                self.wait_healthy(deadline)
                return
            except StartupExit as error:
                if self.label in self.killed:
                    return  # killed by the chaos while starting; its own restart follows
                self.run.journal.write("launch.exit", slot=self.slot, launch=self.label, code=self.proc.returncode)
                self.run.procs.remove(f"vigil-{self.slot}")
                if time.time() > deadline:
                    raise PhaseTimeout(str(error))
                log(f"{error}; starting it again in 1s")
                time.sleep(1)

    def wait_healthy(self, deadline):
        while time.time() < deadline:
            if not self.up:
                raise StartupExit(f"vigil {self.label} exited with {self.proc.returncode} during start-up "
                                  f"(logs/vigil-{self.label}.log)")
            try:
                status, _ = http_request(self.port, "GET", "/healthz", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise PhaseTimeout(f"vigil {self.label} not healthy in time")


def http_request(port, method, path, body=None, headers=None, timeout=12):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data
    finally:
        conn.close()


class Run:
    def __init__(self, args):
        self.args = args
        self.workdir = args.workdir
        os.makedirs(os.path.join(self.workdir, "logs"), exist_ok=True)
        self.rng = random.Random(args.seed)  # choices made while running (threads)
        # The load's and the chaos' plans each from their own generator: the same seed gives
        # the same plans whatever the threads do.
        self.plan_rng = random.Random(args.seed * 2 + 1)
        self.chaos_rng = random.Random(args.seed * 2 + 2)
        self.journal = Journal(os.path.join(self.workdir, "journal.jsonl"))
        self.procs = Processes(os.path.join(self.workdir, "pids"))
        # A private copy, so a rebuild during the run cannot swap the binary.
        self.vigil = os.path.join(self.workdir, "vigil")
        shutil.copy2(args.vigil, self.vigil)
        self.faketime_lib = None
        if args.clock_steps:
            self.faketime_lib = next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)
            if not self.faketime_lib:
                log("libfaketime not found (apt-get install faketime): clock steps skipped")
        if args.backend == "sqlite":
            self.database_url = f"sqlite://{os.path.join(self.workdir, 'vigil.sqlite')}"
        else:
            self.database_url = args.pg_url
        self.stop_load = threading.Event()
        self.stats = {"kills": 0, "restarts": 0, "pg_restarts": 0, "clock_steps": 0}
        self.prefix = f"cx{random.Random(args.seed).randrange(16 ** 6):06x}"

    # -- fakes ------------------------------------------------------------------------------

    def start_fakes(self):
        port_file = os.path.join(self.workdir, "fakes.port")
        a = self.args
        shares = {"500": a.fault_share * 0.2, "503": a.fault_share * 0.15, "429": a.fault_share * 0.15,
                  "delay": a.fault_share * 0.2, "reset": a.fault_share * 0.15, "timeout": a.fault_share * 0.15}
        self.shares = shares
        cmd = [sys.executable, os.path.join(HERE, "fakes.py"), "--port-file", port_file,
               "--records", os.path.join(self.workdir, "fakes.jsonl"), "--seed", str(a.seed),
               "--shares", json.dumps(shares), "--delay", str(a.delay), "--timeout-hold", str(a.provider_timeout + 1.5),
               "--veriff-key", VERIFF_KEY, "--veriff-secret", VERIFF_SECRET, "--sendgrid-key", SENDGRID_KEY,
               "--stripe-key", STRIPE_KEY, "--lightspeed-token", LIGHTSPEED_TOKEN, "--hold-status", "on_hold"]
        logf = open(os.path.join(self.workdir, "logs", "fakes.log"), "wb")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.add("fakes", proc)
        deadline = time.time() + 15
        while not os.path.exists(port_file):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the fake providers did not start; see logs/fakes.log")
            time.sleep(0.05)
        self.fake_port = int(open(port_file).read())
        self.journal.write("fakes", port=self.fake_port, shares=shares)

    def fakes(self, method, path, body=None):
        status, data = http_request(self.fake_port, method, path,
                                    body=None if body is None else json.dumps(body).encode(), timeout=5)
        return json.loads(data) if data else None

    # -- instances --------------------------------------------------------------------------

    def start_instances(self):
        n = 1 if self.args.backend == "sqlite" else self.args.instances
        self.instances = []
        for i in range(n):
            port = free_port()
            self.instances.append(Instance(self, "ABCDEFGH"[i], port))
        deadline = time.time() + self.args.startup_timeout
        # One at a time on SQLite; together on PostgreSQL (migrations under an advisory lock).
        for inst in self.instances:
            inst.start()
        for inst in self.instances:
            # Started again when it exits during start-up (journalled as launch.exit, reported).
            inst.start_until_healthy(deadline)
        status, data = http_request(self.instances[0].port, "GET", "/__selftest", timeout=30)
        selftest = json.loads(data)
        self.journal.write("selftest", status=status, body=selftest)
        bad = {k: selftest.get(k) for k in ("veriff", "sendgrid", "payments", "lightspeed", "datastore", "scheduler")
               if selftest.get(k) != "ok"}
        if status != 200 or bad:
            raise RuntimeError(f"/__selftest against the fakes is not all ok: {status} {bad} {selftest.get('details')}")
        log(f"{len(self.instances)} vigil instance(s) up on ports {[i.port for i in self.instances]}; "
            f"/__selftest ok against the fakes on port {self.fake_port}")

    def live_instance(self):
        ups = [i for i in self.instances if i.up]
        return self.rng.choice(ups) if ups else None

    # -- load -------------------------------------------------------------------------------

    def deliver(self, kind, order, path, body, header, secret, budget):
        """Sends one webhook until Vigil answers it (as the sender would: retries on 5xx and
        connection errors), within `budget` seconds. Journals every answer."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", header: sign(secret, raw)}
        deadline = time.time() + budget
        tries = 0
        while True:
            tries += 1
            inst = self.live_instance()
            if inst is not None:
                t = time.time()
                try:
                    status, data = http_request(inst.port, "POST", path, body=raw, headers=headers)
                    try:
                        answer = json.loads(data)
                    except ValueError:
                        answer = {"raw": data[:200].decode(errors="replace")}
                    self.journal.write(kind, order=order, status=status, answer=answer, launch=inst.label,
                                       tries=tries, t=t, body=body)
                    if status < 500:
                        return status, answer
                except OSError as error:
                    self.journal.write(kind + ".error", order=order, error=str(error), launch=inst.label, t=t)
            if time.time() > deadline:
                self.journal.write(kind + ".gave_up", order=order, tries=tries)
                return None, None
            time.sleep(0.3 + self.rng.random() * 0.4)

    def send_order(self, i, order, total, currency, payment, kind="order"):
        body = {"event": "order.created", "orderId": order, "customerEmail": f"customer{i}@chaos.example.com",
                "customerName": f"Customer {i}", "orderTotal": total, "currency": currency}
        if payment:
            body["paymentId"] = payment
        status, answer = self.deliver(kind, order, "/api/v1/post-purchase/webhook", body, "X-Signature",
                                      LIGHTSPEED_SECRET, self.args.deliver_budget)
        return status

    def session_id(self, order, until):
        while time.time() < until and not self.stop_load.is_set():
            try:
                sessions = self.fakes("GET", f"/__sessions?order={order}")["sessions"]
                if sessions:
                    return sessions[-1]
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        return None

    def send_decision(self, order, decision, session_id, kind="decision"):
        code = 9001 if decision == "approved" else 9102
        body = {"status": "success", "verification": {"id": session_id, "status": decision, "code": code,
                                                      "vendorData": order}}
        if decision == "declined":
            body["verification"]["reason"] = "Document not valid"
        else:
            # What Veriff's decision carries for an approval; Vigil's age policy reads them.
            body["verification"]["person"] = {"firstName": "Customer", "lastName": order,
                                              "dateOfBirth": "1980-05-17"}
            body["verification"]["document"] = {"type": "PASSPORT", "country": "US", "validUntil": "2034-01-31"}
        return self.deliver(kind, order, "/api/v1/veriff/webhook", body, "X-HMAC-SIGNATURE", VERIFF_SECRET,
                            self.args.deliver_budget)

    def plan_load(self):
        """(time offset, action) pairs for the whole load; deterministic for a seed."""
        a = self.args
        span = max(5.0, a.duration - a.deadline - 10)
        actions = []
        for i in range(a.orders):
            order = f"{self.prefix}-{i:05d}"
            t = span * i / a.orders + self.plan_rng.random() * span / a.orders
            currency = self.plan_rng.choice(["USD", "USD", "EUR", "JPY"])
            total = self.plan_rng.randrange(500, 20000) if currency == "JPY" else round(self.plan_rng.randrange(100, 50000) / 100, 2)
            payment = None if self.plan_rng.random() < 0.05 else \
                self.plan_rng.choice(["pi_", "ch_"]) + hashlib.sha1(order.encode()).hexdigest()[:20]
            r = self.plan_rng.random()
            plan = "approve" if r < 0.40 else "decline" if r < 0.65 else "late_approve" if r < 0.70 else "none"
            decide_at = t + 1.5 + self.plan_rng.random() * (a.deadline - 5.5)
            actions.append((t, "order", dict(i=i, order=order, total=total, currency=currency, payment=payment,
                                             plan=plan, decide_at=decide_at,
                                             dup_order=self.plan_rng.random() < 0.10,
                                             dup_decision=self.plan_rng.random() < 0.10,
                                             contradict=self.plan_rng.random() < 0.10)))
        return actions

    def run_load(self):
        actions = self.plan_load()
        start = time.time()
        self.journal.write("load.start", orders=len(actions), t=start)
        heap = [(start + t, n, kind, data) for n, (t, kind, data) in enumerate(actions)]
        heapq.heapify(heap)
        seq = [len(heap)]
        lock = threading.Lock()
        pending = [0]

        def schedule(at, kind, data):
            with lock:
                seq[0] += 1
                heapq.heappush(heap, (at, seq[0], kind, data))

        def act(kind, data):
            try:
                if kind == "order":
                    status = self.send_order(data["i"], data["order"], data["total"], data["currency"], data["payment"])
                    if status not in (200, 202):
                        return
                    data["accepted_at"] = time.time()
                    if data["dup_order"]:
                        schedule(time.time() + 1 + self.rng.random() * 2, "order_dup", data)
                    if data["plan"] in ("approve", "decline"):
                        schedule(start + data["decide_at"], "decide", data)
                    elif data["plan"] == "late_approve":
                        schedule(time.time() + self.args.deadline + 2 + self.rng.random() * 2, "decide", data)
                elif kind == "order_dup":
                    self.send_order(data["i"], data["order"], data["total"], data["currency"], data["payment"],
                                    kind="order_dup")
                elif kind == "decide":
                    late = data["plan"] == "late_approve"
                    # Wait for the customer's link (the session Veriff issued), at most until shortly
                    # before the order's deadline.
                    until = time.time() + 3 if late else data["accepted_at"] + self.args.deadline - 1.5
                    sid = self.session_id(data["order"], until)
                    if sid is None:
                        self.journal.write("decision.skipped", order=data["order"], reason="no Veriff session issued yet")
                        return
                    decision = "declined" if data["plan"] == "decline" else "approved"
                    self.send_decision(data["order"], decision, sid)
                    if data["dup_decision"]:
                        schedule(time.time() + 0.5 + self.rng.random() * 1.5, "decide_dup", dict(data, sid=sid, decision=decision))
                    if data["contradict"] and decision == "approved" and not late:
                        schedule(time.time() + 1 + self.rng.random() * 2, "decide_contra", dict(data, sid=sid))
                elif kind == "decide_dup":
                    self.send_decision(data["order"], data["decision"], data["sid"], kind="decision_dup")
                elif kind == "decide_contra":
                    self.send_decision(data["order"], "declined", data["sid"], kind="decision_contra")
            except Exception as error:  # a harness bug must not hang the run
                self.journal.write("harness.error", action=kind, order=data.get("order"), error=repr(error))
                log(f"harness error in {kind} {data.get('order')}: {error!r}")
            finally:
                with lock:
                    pending[0] -= 1

        hard = start + self.args.duration + self.args.load_grace
        with ThreadPoolExecutor(max_workers=12) as pool:
            while True:
                now = time.time()
                if now > hard:
                    self.journal.write("load.timeout", remaining=len(heap), pending=pending[0])
                    log(f"load phase hit its hard timeout with {len(heap)} actions left and {pending[0]} running")
                    self.stop_load.set()
                    break
                with lock:
                    if not heap and pending[0] == 0:
                        break
                    due = []
                    while heap and heap[0][0] <= now:
                        due.append(heapq.heappop(heap))
                        pending[0] += 1
                for _, _, kind, data in due:
                    pool.submit(act, kind, data)
                time.sleep(0.05)
            pool.shutdown(wait=True, cancel_futures=True)
        self.journal.write("load.end")

    # -- chaos ------------------------------------------------------------------------------

    def chaos_plan(self):
        a = self.args
        d = a.duration
        plan = []
        n_kills = a.kills if a.kills is not None else max(3, round(d / (10 if a.backend == "sqlite" else 8)))
        times = sorted(d * (0.08 + 0.84 * self.chaos_rng.random()) for _ in range(n_kills))
        for t in times:
            plan.append((t, "kill", None))
        if a.backend == "postgres" and a.pg_restarts > 0:
            for k in range(a.pg_restarts):
                plan.append((d * (0.35 + 0.3 * (k + 1) / (a.pg_restarts + 1)), "pg_restart", None))
        if self.faketime_lib:
            step = a.clock_step
            plan += [(d * 0.22, "clock", step), (d * 0.40, "clock", -step), (d * 0.55, "clock", 0.0)]
            if a.backend == "sqlite" and a.restart_offset:
                # A kill at 60% of the run whose restart comes up with its clock ahead; the next
                # start (or the settle phase) goes back to true time: steps between processes.
                plan.append((d * 0.60, "restart_offset", float(a.restart_offset)))
        plan.sort(key=lambda p: p[0])
        return plan

    def run_chaos(self, start):
        plan = self.chaos_plan()
        self.journal.write("chaos.plan", plan=plan)
        pending_offset = None
        restart_threads = []
        for t, action, arg in plan:
            while time.time() < start + t:
                if self.stop_load.is_set():
                    return
                time.sleep(0.05)
            try:
                pending_offset = self.chaos_action(action, arg, pending_offset, restart_threads)
            except Exception as error:  # one failed action must not end the chaos
                self.journal.write("harness.error", action=action, error=repr(error))
                log(f"harness error in {action}: {error!r}")
        for th in restart_threads:
            th.join(timeout=30)

    def chaos_action(self, action, arg, pending_offset, restart_threads):
        if action in ("kill", "restart_offset"):
            inst = self.chaos_rng.choice(self.instances) if action == "kill" else self.instances[0]
            if action == "restart_offset":
                pending_offset = arg
            if inst.kill9():
                self.stats["kills"] += 1
                down = 0.5 + self.chaos_rng.random() * (2.0 if self.args.backend == "sqlite" else 3.0)
                log(f"kill -9 {inst.label} (pid {inst.proc.pid}); restart in {down:.1f}s")
                offset = None
                if pending_offset is not None:
                    offset, pending_offset = pending_offset, None
                elif inst.clock_offset and self.args.backend == "sqlite" and self.stats.get("offset_started"):
                    offset = 0.0
                th = threading.Thread(target=self.restart_later, args=(inst, down, offset), daemon=True)
                th.start()
                restart_threads.append(th)
        elif action == "pg_restart":
            self.restart_postgres()
        elif action == "clock":
            inst = self.instances[0]
            if inst.clock_offset != arg:
                log(f"clock of slot {inst.slot} ({inst.label}) stepped {arg - inst.clock_offset:+g}s (offset {arg:+g}s)")
                inst.set_clock(arg)
                self.stats["clock_steps"] += 1
        return pending_offset

    def restart_later(self, inst, down, offset):
        time.sleep(down)
        if offset is not None and self.faketime_lib:
            log(f"slot {inst.slot} restarts with its clock at {offset:+g}s (a step of {offset - inst.clock_offset:+g}s "
                f"between processes)")
            inst.set_clock(offset)
            self.stats["clock_steps"] += 1
            if offset:
                self.stats["offset_started"] = True
        try:
            inst.start_until_healthy(time.time() + self.args.startup_timeout)
            self.stats["restarts"] += 1
        except Exception as error:
            self.journal.write("harness.error", action="restart", slot=inst.slot, error=repr(error))
            log(f"restart of slot {inst.slot} failed: {error!r}")

    def restart_postgres(self):
        """Stops the cluster (fast: clients are disconnected), keeps it down for
        --pg-downtime seconds, and starts it again on the same port."""
        a = self.args
        data = os.path.join(a.pg_dir, "data")
        port = urlsplit(a.pg_url).port
        pg_ctl = os.path.join(a.pg_bin, "pg_ctl")
        as_pg = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        out_path = os.path.join(self.workdir, "logs", "pg_ctl.log")
        t0 = time.time()
        self.journal.write("pg_restart.start", t=t0)
        log(f"stopping PostgreSQL (pg_ctl stop -m fast) for {a.pg_downtime:g}s")
        with open(out_path, "ab") as out:
            stop = subprocess.run(as_pg + [pg_ctl, "-D", data, "-m", "fast", "-w", "-t", "60", "stop"],
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=90)
            time.sleep(a.pg_downtime)
            # -l: the server logs to the cluster's file (and holds no pipe of ours open).
            start = subprocess.run(as_pg + [pg_ctl, "-D", data, "-l", os.path.join(a.pg_dir, "server.log"), "-w",
                                            "-t", "60", "-o",
                                            f"-c listen_addresses=127.0.0.1 -p {port} -k {a.pg_dir} -c max_connections=400",
                                            "start"],
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=90)
        t1 = time.time()
        self.journal.write("pg_restart", t=t0, t_end=t1, code=[stop.returncode, start.returncode])
        if stop.returncode != 0 or start.returncode != 0:
            raise RuntimeError(f"pg_ctl stop/start failed ({stop.returncode}/{start.returncode}); see logs/pg_ctl.log")
        self.stats["pg_restarts"] += 1
        log(f"PostgreSQL back after {t1 - t0:.1f}s")

    # -- settle -----------------------------------------------------------------------------

    def settle(self):
        """Faults off, every slot up on true time; then wait until no task is scheduled,
        retrying or running (all timers have fired and all calls are done), bounded."""
        self.fakes("POST", "/__control", {"faults": False})
        self.journal.write("faults.off")
        for inst in self.instances:
            if inst.clock_offset:
                inst.set_clock(0.0)
                self.stats["clock_steps"] += 1
        for inst in self.instances:
            if not inst.up:
                self.stats["restarts"] += 1
            inst.start_until_healthy(time.time() + self.args.startup_timeout)
        t0 = time.time()
        deadline = t0 + self.args.settle_timeout
        quiet = 0
        last = None
        while time.time() < deadline:
            counts = {}
            try:
                inst = self.live_instance()
                for state in ("scheduled", "retrying", "running"):
                    status, data = http_request(inst.port, "GET", f"/api/v1/tasks?state={state}&limit=1000",
                                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
                    if status != 200:
                        raise OSError(f"tasks answered {status}")
                    # The hourly maintenance task is always scheduled for the next hour.
                    counts[state] = len([t for t in json.loads(data)["tasks"] if t.get("kind") != "maintenance"])
                in_flight = self.fakes("GET", "/__state")["inFlight"]
            except (OSError, ValueError, KeyError, TypeError) as error:
                last = f"error: {error}"
                time.sleep(1)
                continue
            last = dict(counts, provider_calls_in_flight=in_flight)
            if sum(counts.values()) == 0 and in_flight == 0:
                quiet += 1
                if quiet >= 2:
                    self.journal.write("settled", seconds=time.time() - t0)
                    log(f"settled after {time.time() - t0:.1f}s")
                    return True
            else:
                quiet = 0
            time.sleep(1)
        self.journal.write("settle.timeout", last=last)
        log(f"did not settle within {self.args.settle_timeout}s: {last}")
        return False

    def stop_instances(self):
        for inst in self.instances:
            inst.stop()

    # -- the whole run ----------------------------------------------------------------------

    def execute(self):
        a = self.args
        log(f"{a.backend}: {a.orders} orders over ~{a.duration:.0f}s, faults {a.fault_share:.0%} of provider calls, "
            f"lease {a.lease}s, reminder {a.reminder}s, deadline {a.deadline}s, provider timeout {a.provider_timeout}s; "
            f"workdir {self.workdir}")
        self.start_fakes()
        self.start_instances()
        self.fakes("POST", "/__control", {"faults": True})
        self.journal.write("faults.on")
        start = time.time()
        chaos = threading.Thread(target=self.guard, args=(self.run_chaos, start), daemon=True)
        chaos.start()
        self.run_load()
        chaos.join(timeout=max(1.0, start + a.duration + a.load_grace + 30 - time.time()))
        if chaos.is_alive():
            self.stop_load.set()
            chaos.join(timeout=30)
        settled = self.settle()
        self.stop_instances()
        self.fakes("GET", "/__state")
        self.procs.stop_all()
        self.journal.write("done", settled=settled, stats=self.stats)
        return settled

    def guard(self, fn, *args):
        try:
            fn(*args)
        except Exception as error:
            self.journal.write("harness.error", action=fn.__name__, error=repr(error))
            log(f"harness error in {fn.__name__}: {error!r}")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--vigil", required=True, help="the vigil binary (copied into the workdir)")
    p.add_argument("--minutes", type=float, default=1.0, help="length of the load and fault phase")
    p.add_argument("--orders", type=int, default=None, help="orders to send (default 150 a minute)")
    p.add_argument("--instances", type=int, default=2, help="Vigil instances on PostgreSQL")
    p.add_argument("--kills", type=int, default=None, help="kill -9s (default one per ~10s on SQLite, ~8s on PostgreSQL)")
    p.add_argument("--pg-restarts", type=int, default=1)
    p.add_argument("--pg-downtime", type=float, default=3.0, help="seconds PostgreSQL stays down in a restart")
    p.add_argument("--pg-url")
    p.add_argument("--pg-bin")
    p.add_argument("--pg-dir")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--vigil-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for every Vigil instance (repeatable)")
    p.add_argument("--fault-share", type=float, default=0.30, help="share of provider calls that fail or are slow")
    p.add_argument("--delay", type=float, default=1.0, help="seconds of a slow answer")
    p.add_argument("--provider-timeout", type=float, default=2.0, help="VIGIL_PROVIDER_TIMEOUT, seconds")
    p.add_argument("--lease", type=int, default=5)
    p.add_argument("--reminder", type=int, default=5)
    p.add_argument("--deadline", type=int, default=15)
    p.add_argument("--clock-steps", type=int, default=1, help="1: step clocks with libfaketime when installed")
    p.add_argument("--clock-step", type=float, default=None,
                   help="seconds of a runtime clock step (default: lease/3, under the lease-renewal margin)")
    p.add_argument("--restart-offset", type=float, default=10.0,
                   help="SQLite: one restart comes up with its clock this far ahead (0: never)")
    p.add_argument("--settle-timeout", type=float, default=None)
    p.add_argument("--startup-timeout", type=float, default=40.0)
    p.add_argument("--deliver-budget", type=float, default=45.0)
    p.add_argument("--load-grace", type=float, default=40.0)
    args = p.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    args.duration = args.minutes * 60
    if args.orders is None:
        args.orders = max(20, round(150 * args.minutes))
    if args.clock_step is None:
        args.clock_step = round(args.lease / 3, 1)
    if args.settle_timeout is None:
        args.settle_timeout = 90 + 30 * max(0.0, args.minutes - 1)
    if args.backend == "postgres" and not (args.pg_url and args.pg_bin and args.pg_dir):
        p.error("postgres needs --pg-url, --pg-bin and --pg-dir")

    run = Run(args)

    def on_signal(signum, frame):
        run.procs.stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    atexit.register(run.procs.stop_all)
    run.journal.write("run", backend=args.backend, seed=args.seed, minutes=args.minutes, orders=args.orders,
                      instances=1 if args.backend == "sqlite" else args.instances, lease=args.lease,
                      reminder=args.reminder, deadline=args.deadline, provider_timeout=args.provider_timeout,
                      fault_share=args.fault_share, faketime=bool(run.faketime_lib), clock_step=args.clock_step,
                      vigil_env=args.vigil_env)
    log(f"seed {args.seed} (rerun with --seed {args.seed})")
    try:
        run.execute()
    except Exception as error:
        run.journal.write("harness.error", action="execute", error=repr(error))
        log(f"run failed: {error!r}")
        run.procs.stop_all()
        print(f"chaos: {args.backend}: the run itself failed ({error}); the checker still runs on what happened",
              flush=True)
    run.procs.stop_all()
    return check.main_for(args.backend, args.workdir, database_url=run.database_url)


if __name__ == "__main__":
    sys.exit(main())
