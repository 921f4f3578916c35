#!/usr/bin/env python3
"""The chaos run's checker (issue 16): proves from Vigil's database (sessions, tasks, events,
outbox, webhook_events, reviews, provider_attempts), from what the fake providers recorded (fakes.jsonl) and from
what the harness did (journal.jsonl) that

  - every accepted order reached exactly one final state (approved, declined, expired), the one
    Vigil answered to a decision, and no acknowledged order or decision was lost;
  - exactly one refund per refundable order at the fake Stripe (distinct idempotency keys it
    honoured: a repeat with the same key is merged, not a second refund), for the right payment
    and amount, and none for approved orders;
  - no email of one kind went twice to one order, no Veriff session was opened twice and no
    Lightspeed update was made twice, except repeats that are explained: a kill -9 of the calling
    process while the call was in flight or before its outcome committed ("the crash window"),
    a PostgreSQL restart in that same window, a fault the fake injected after acting (the
    provider did it, then failed), or Vigil's own provider timeout; every repeat is attributed
    and the crash-window ones measured;
  - the emails and order updates each final state calls for were made, and no others, and the
    shop's last update of an order matches its outcome (not left on hold after a decision);
  - no task is left running, scheduled or retrying after the settle, and none is dead;
  - the outbox and the event log agree (refund <-> refund.completed, send_email <-> email.sent,
    update_order <-> order.released/annotated, create_session <-> verification.session_opened),
    and the outbox agrees with the fakes (refund ids, Veriff session ids);
  - the fakes saw no malformed or unauthenticated request;
  - every provider call attempt left without an outcome was cut off (its task ran again) or
    handed back by a postponement or a shutdown, and every attempt that answered after one still
    without an outcome wrote provider.call_repeated for it; how many of the crash-window and
    database-restart repeats at the fakes the timeline names is counted (see README.md).

Run standalone on a kept work folder (scripts/chaos.sh --keep):
  python3 scripts/chaos/check.py --backend sqlite --workdir DIR [--database-url URL]
  python3 scripts/chaos/check.py --backend postgres --workdir DIR --snapshot   (rows kept in DIR/db.json)
"""

import argparse
import csv
import hashlib
import io
import json
import os
import sqlite3
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

FINAL = ("approved", "declined", "expired", "cancelled", "not_required")
# Transition events that end a session, and the state each leaves.
FINAL_EVENTS = {"session.approved": ("approved",), "session.declined": ("declined",), "session.expired": ("expired",),
                "session.cancelled": ("cancelled",), "session.not_required": ("not_required",),
                "session.returning_customer": ("approved", "not_required")}
NEGATIVE_SHOP_ACTIONS = {"cancel", "annotate"}
LINK_EMAILS = {"verification_link", "reminder", "resubmission"}
# Seconds: the re-check and the call are not one atomic step; on a loaded machine (two cores,
# PostgreSQL just back, a backlog of tasks) over a second was seen to pass between them.
LATE_MARGIN = 2.5
IN_CALL_GAP = 1.6  # seconds: the longest wait between two tries of one provider call (jitter < 1 s, Retry-After 1 s)
ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF",
                "XOF", "XPF"}
THREE_DECIMAL = {"BHD", "JOD", "KWD", "OMR", "TND"}


# -- loading ---------------------------------------------------------------------------------

def read_jsonl(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


class Database:
    def __init__(self, backend, database_url):
        self.backend = backend
        self.url = database_url

    def t(self, column):
        """A time column as integer milliseconds since 1970."""
        if self.backend == "sqlite":
            return column
        return f"(extract(epoch from {column}) * 1000)::bigint"

    def query(self, sql):
        if self.backend == "sqlite":
            path = self.url[len("sqlite://"):]
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            conn.row_factory = sqlite3.Row
            try:
                return [dict(r) for r in conn.execute(sql)]
            finally:
                conn.close()
        proc = subprocess.run(["psql", self.url, "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1", "-c", sql],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr.decode(errors='replace')}")
        rows = list(csv.DictReader(io.StringIO(proc.stdout.decode())))
        return [{k: (None if v == "" else v) for k, v in r.items()} for r in rows]

    def load(self):
        t = self.t
        d = {}
        d["sessions"] = self.query(
            f"SELECT order_id, state, refund_status, order_total, currency, payment_id, verification_id, "
            f"{t('deadline')} AS deadline, {t('created_at')} AS created_at, {t('decided_at')} AS decided_at FROM sessions")
        d["tasks"] = self.query(
            f"SELECT id, name, queue, kind, order_id, payload, state, attempts, {t('run_at')} AS run_at, lease_owner, last_error, "
            f"{t('finished_at')} AS finished_at, {t('updated_at')} AS updated_at FROM tasks")
        d["events"] = self.query(f"SELECT id, order_id, type, {t('at')} AS at, data FROM events ORDER BY id")
        d["outbox"] = self.query(
            f"SELECT id, idempotency_key, provider, operation, order_id, task_id, mode, request, response, "
            f"{t('at')} AS at FROM outbox ORDER BY id")
        d["webhook_events"] = self.query(
            f"SELECT provider, event_id, kind, order_id, {t('received_at')} AS received_at FROM webhook_events")
        d["reviews"] = self.query(f"SELECT order_id, reason, event_id, {t('created_at')} AS created_at FROM reviews")
        # One row per provider call attempt, committed before the call (migration 8); outcome NULL
        # until the transaction that records the answer or the failure ends it.
        try:
            d["provider_attempts"] = self.query(
                f"SELECT id, task_id, order_id, kind, attempt, owner, {t('started_at')} AS started_at, "
                f"{t('ended_at')} AS ended_at, outcome, error FROM provider_attempts ORDER BY id")
        except Exception as error:  # a binary from before migration 8: the checks are skipped, and said so
            if "provider_attempts" not in str(error) or not any(
                    w in str(error) for w in ("no such table", "does not exist")):
                raise
            d["provider_attempts"] = None
        for table in ("tasks", "events", "outbox", "provider_attempts"):
            for r in d[table] or []:
                for k in ("id", "task_id", "attempts", "attempt", "run_at", "finished_at", "updated_at", "at",
                          "started_at", "ended_at"):
                    if k in r and r[k] is not None:
                        r[k] = int(r[k])
        for r in d["sessions"]:
            for k in ("deadline", "created_at", "decided_at"):
                if r[k] is not None:
                    r[k] = int(r[k])
        return d


def minor_units(total, currency):
    code = (currency or "").upper()
    exp = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return int((Decimal(str(total)) * (Decimal(10) ** exp)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(q * (len(values) - 1)))))
    return values[k]


def fmt_s(seconds):
    if seconds is None:
        return "-"
    if abs(seconds) < 1:
        return f"{round(seconds * 1000) or 0} ms"
    return f"{seconds:.2f} s"


# -- the analysis ----------------------------------------------------------------------------

class Checker:
    def __init__(self, backend, workdir, db):
        self.backend = backend
        self.workdir = workdir
        self.journal = read_jsonl(os.path.join(workdir, "journal.jsonl"))
        self.fakes = read_jsonl(os.path.join(workdir, "fakes.jsonl"))
        self.db = db
        self.violations = []
        self.notes = []
        self.harness_errors = [j for j in self.journal if j["kind"] == "harness.error"]
        run = next((j for j in self.journal if j["kind"] == "run"), {})
        self.config = run
        self.provider_timeout = float(run.get("provider_timeout", 2.0))
        self.lease = float(run.get("lease", 5))

    def violation(self, what, order=None, **evidence):
        self.violations.append({"what": what, "order": order, **evidence})

    # journal views
    def jk(self, *kinds):
        return [j for j in self.journal if j["kind"] in kinds]

    def analyse(self):
        d = self.db
        sessions = {s["order_id"]: s for s in d["sessions"]}
        events_by_order = defaultdict(list)
        for e in d["events"]:
            events_by_order[e["order_id"]].append(e)
        outbox_by_order = defaultdict(list)
        for o in d["outbox"]:
            outbox_by_order[o["order_id"]].append(o)
        tasks_by_id = {t["id"]: t for t in d["tasks"]}

        # --- what the harness sent and what Vigil answered ---------------------------------
        orders_sent = {}
        for j in self.jk("order", "order_dup", "order.error", "order.gave_up"):
            if j["kind"] in ("order", "order.error", "order.gave_up"):
                orders_sent.setdefault(j["order"], j.get("body"))
        acked = set()
        created_202 = Counter()
        dup_sent, dup_idempotent = set(), set()
        for j in self.jk("order", "order_dup"):
            ans = j.get("answer") or {}
            if j["status"] == 202:
                created_202[j["order"]] += 1
                acked.add(j["order"])
            elif j["status"] == 200 and ans.get("idempotent"):
                acked.add(j["order"])
            elif j["status"] not in (503,):
                self.violation("order webhook answered unexpectedly", j["order"], status=j["status"], answer=ans)
            if j["kind"] == "order_dup":
                dup_sent.add(j["order"])
                if j["status"] == 200 and ans.get("idempotent"):
                    dup_idempotent.add(j["order"])
        for order, n in created_202.items():
            if n > 1:
                self.violation("order webhook answered 202 (created) more than once", order, times=n)
        gave_up = {j["order"] for j in self.jk("order.gave_up")} - acked
        accepted = acked | (set(orders_sent) & set(sessions))
        for order in set(sessions) - set(orders_sent):
            self.violation("session for an order the harness never sent", order)
        lw = Counter(w["order_id"] for w in d["webhook_events"] if w["provider"] == "lightspeed")
        for order, n in lw.items():
            if n > 1:
                self.violation("order webhook recorded more than once", order, times=n)

        decisions = defaultdict(list)
        delivered = set()
        for j in self.jk("decision", "decision_dup", "decision_contra"):
            decisions[j["order"]].append(j)
            if j["status"] is not None and j["status"] < 500:
                delivered.add((j["kind"], j["body"]["verification"]["status"], j["order"]))
            ans = j.get("answer") or {}
            if j["status"] not in (200, 202, 503):
                self.violation("decision webhook answered unexpectedly", j["order"], status=j["status"], answer=ans)
            if j["kind"] == "decision_dup" and j["status"] == 202 and not ans.get("idempotent"):
                # Same event again: must be recognised, unless the original never got through.
                firsts = [x for x in decisions[j["order"]] if x["kind"] == "decision" and x["status"] == 202]
                if firsts:
                    self.violation("repeated decision event applied again", j["order"], answer=ans)
        dec_counts = Counter((k, v) for k, v, _ in delivered)
        for j in self.jk("decision.gave_up"):
            self.notes.append(f"decision for {j['order']} never got an answer (gave up)")

        # --- final states ----------------------------------------------------------------
        final_counts = Counter()
        for order in sorted(accepted):
            s = sessions.get(order)
            if s is None:
                self.violation("acknowledged order has no session (lost)", order)
                continue
            final_counts[s["state"]] += 1
            if s["state"] not in FINAL:
                past = s["deadline"] is not None and s["deadline"] < max(
                    (j["t"] for j in self.journal), default=0) * 1000
                self.violation("session not in a final state" + (" past its deadline" if past else ""), order,
                               state=s["state"], deadline_ms=s["deadline"])
            transitions = [e["type"] for e in events_by_order[order] if e["type"] in FINAL_EVENTS]
            if len(transitions) != 1 or (transitions and s["state"] not in FINAL_EVENTS[transitions[0]]):
                self.violation("not exactly one final transition in the event log", order, state=s["state"],
                               transitions=transitions)
            for j in decisions.get(order, []):
                ans = j.get("answer") or {}
                if j["status"] == 202 and ans.get("status") in FINAL and ans["status"] != s["state"]:
                    self.violation("state differs from what Vigil answered to a decision", order, state=s["state"],
                                   answer=ans, decision=j["body"]["verification"]["status"])
                if j["status"] == 202 and ans.get("event") == "decision.late":
                    if not any(r["order_id"] == order for r in d["reviews"]):
                        self.violation("late or contradicting decision left no review item", order, answer=ans)

        # --- what the fakes did ----------------------------------------------------------
        calls = [f for f in self.fakes if f.get("op") != "check"]
        checks = [f for f in self.fakes if f.get("op") == "check"]
        for f in self.fakes:
            if f.get("wire_error"):
                self.violation("malformed or unauthenticated provider request", f.get("order"),
                               provider=f["provider"], error=f["wire_error"], path=f.get("path"))
        faults = Counter(f["fault"] for f in calls if f.get("fault"))
        fault_phases = Counter(f"{f['fault']}/{f['phase']}" for f in calls if f.get("fault"))
        by_provider = Counter(f["provider"] for f in calls)

        acted = defaultdict(list)  # (provider, key) -> records, in time order
        for f in sorted(calls, key=lambda f: f["t"]):
            if f.get("acted") or f.get("replay"):
                acted[(f["provider"], f.get("key"))].append(f)

        # Stripe
        refunds_by_order = defaultdict(dict)  # order -> key -> creating record
        replays = 0
        for f in calls:
            if f["provider"] != "stripe":
                continue
            if f.get("acted"):
                refunds_by_order[f["order"]][f["key"]] = f
            if f.get("replay"):
                replays += 1
            if f.get("double_refund"):
                self.violation("a second refund of one payment under a new idempotency key", f["order"],
                               key=f["key"], payment=f.get("payment"), first_refund=f["double_refund"])
            if f.get("key_reuse"):
                self.violation("an idempotency key reused with different refund parameters", f["order"], key=f["key"])

        emails = defaultdict(lambda: defaultdict(list))  # order -> kind -> acted records
        updates = defaultdict(lambda: defaultdict(list))  # order -> action -> acted records
        veriff = defaultdict(list)
        for f in sorted(calls, key=lambda f: f["t"]):
            if not f.get("acted"):
                continue
            if f["provider"] == "sendgrid":
                emails[f["order"]][f.get("kind")].append(f)
            elif f["provider"] == "lightspeed":
                updates[f["order"]][f.get("action")].append(f)
            elif f["provider"] == "veriff":
                veriff[f["order"]].append(f)

        expected_email = {"approved": "approved", "declined": "declined", "expired": "expired"}
        refundable = refunded_ok = 0
        approved_refunded = 0
        for order in sorted(accepted):
            s = sessions.get(order)
            if s is None or s["state"] not in ("approved", "declined", "expired"):
                continue
            state = s["state"]
            keys = refunds_by_order.get(order, {})
            if state == "approved":
                if keys:
                    approved_refunded += 1
                    self.violation("approved order refunded", order, refunds=list(keys))
                if s["refund_status"] != "none":
                    self.violation("approved order has a refund status", order, refund_status=s["refund_status"])
            elif s["payment_id"]:
                refundable += 1
                if len(keys) != 1:
                    self.violation(f"{len(keys)} refunds at Stripe for a refundable order (want exactly 1)", order,
                                   state=state, keys=list(keys), refund_status=s["refund_status"])
                else:
                    (key, rec), = keys.items()
                    want = minor_units(s["order_total"], s["currency"])
                    if rec.get("payment") != s["payment_id"] or int(rec.get("amount") or -1) != want:
                        self.violation("refund for the wrong payment or amount", order, payment=rec.get("payment"),
                                       amount=rec.get("amount"), want_payment=s["payment_id"], want_amount=want)
                    else:
                        refunded_ok += 1
                if s["refund_status"] != "refunded":
                    self.violation("refundable order's refund status is not refunded", order,
                                   refund_status=s["refund_status"])
            else:
                if keys:
                    self.violation("refund for an order without a paymentId", order, keys=list(keys))
                if s["refund_status"] != "refund_failed" or not any(r["order_id"] == order for r in d["reviews"]):
                    self.violation("order without paymentId not sent to manual review", order,
                                   refund_status=s["refund_status"])
            # emails the final state calls for, and no others of the final kinds
            sent_kinds = {k for k, v in emails[order].items() if v}
            want = expected_email[state]
            if want not in sent_kinds:
                self.violation(f"no {want} email was sent", order, state=state, sent=sorted(sent_kinds))
            wrong = sent_kinds & (set(expected_email.values()) - {want})
            if wrong:
                self.violation("email of another outcome sent", order, state=state, wrong=sorted(wrong))
            # order updates
            # order updates at the shop: approved -> released (when it was held); declined/expired
            # -> cancelled (or annotated); a hold while pending. The shop's last word must match.
            acts = {a for a, v in updates[order].items() if v}
            if state == "approved":
                # With holds off (VIGIL_LIGHTSPEED_HOLD_STATUS=none) there is nothing to lift.
                if "release" not in acts and "hold" in acts:
                    self.violation("no Lightspeed release for an approved order held at the shop", order,
                                   made=sorted(acts))
                if acts & NEGATIVE_SHOP_ACTIONS:
                    self.violation(f"Lightspeed {sorted(acts & NEGATIVE_SHOP_ACTIONS)} for an approved order", order)
            else:
                if not acts & NEGATIVE_SHOP_ACTIONS:
                    self.violation(f"no Lightspeed cancel or note for a {state} order", order, made=sorted(acts))
                if "release" in acts:
                    self.violation(f"Lightspeed release for a {state} order", order)
            history = sorted((f for recs in updates[order].values() for f in recs), key=lambda f: f["t"])
            if history and history[-1].get("action") == "hold":
                before = [f.get("action") for f in history]
                self.violation(f"the shop's last update left the {state} order on hold", order, updates=before,
                               last=summary_of(history[-1]))
            # Veriff: the stored session id is one the fake issued for this order
            issued = [f["resp_id"] for f in veriff[order]]
            if s["verification_id"] and s["verification_id"] not in issued:
                self.violation("session's verification id was never issued by Veriff for this order", order,
                               verification_id=s["verification_id"], issued=issued)

        # --- repeats: each explained, or a violation --------------------------------------
        kills = defaultdict(list)  # launch -> [t]
        for j in self.jk("kill"):
            kills[j["launch"]].append(j["t"])
        pg_restarts = [(j["t"], j.get("t_end", j["t"])) for j in self.jk("pg_restart")]
        finished_restarts = {j["t"] for j in self.jk("pg_restart")}
        # A restart whose pg_ctl never reported back: its window is taken as 60 s.
        pg_restarts += [(j["t"], j["t"] + 60) for j in self.jk("pg_restart.start") if j["t"] not in finished_restarts]
        clock_launches = defaultdict(list)
        for j in self.jk("clock"):
            if j.get("launch"):
                clock_launches[j["launch"]].append(j["t"])
        timeouts = self.client_timeouts()

        repeats = Counter()
        repeat_detail = defaultdict(Counter)  # cause -> provider/op(kind)
        crash_windows = []  # seconds from the provider's answer to the kill
        per_kill = defaultdict(set)  # (launch, kill time) -> seqs of the calls the kill made repeat
        unexplained = []
        pairs = []  # (cause, provider, key, earlier record, repeat record): for the attempts' checks
        for (provider, key), recs in acted.items():
            for prev, rep in zip(recs, recs[1:]):
                cause, info = self.explain(prev, rep, kills, pg_restarts, clock_launches, timeouts)
                pairs.append((cause, provider, key, prev, rep))
                label = f"{provider}/{prev.get('kind') or prev.get('action') or prev.get('op')}"
                if provider == "stripe":
                    # Same key: merged by the gateway, not a second refund; still attributed.
                    label = "stripe/refund (merged)"
                repeats[cause] += 1
                repeat_detail[cause][label] += 1
                if cause == "crash":
                    crash_windows.append(info["window"])
                    per_kill[(prev["launch"], info["kill"])].add(prev["seq"])
                if cause == "unexplained" and provider != "stripe":
                    unexplained.append((provider, key))
                    self.violation(f"{label} repeated without a crash or fault to explain it", prev.get("order"),
                                   key=key, first=summary_of(prev), repeat=summary_of(rep), **info)
                elif cause == "unexplained":
                    self.notes.append(f"Stripe refund {key} repeated without an explanation (merged by its key): "
                                      f"{summary_of(prev)} then {summary_of(rep)}")

        # --- the window: provider reached -> completion committed --------------------------
        # Task times are written on the committing process's clock; where clocks were stepped,
        # SQLite's one process is corrected by its known offset, and on PostgreSQL (which
        # process committed is unknown) samples near a stepped clock are left out.
        # The committing process is taken to be the one that made the last call before the
        # commit (a task runs in one process at a time).
        life = {}
        for j in self.jk("launch"):
            life[j["launch"]] = [j["slot"], j["t"], float("inf")]
        for j in self.jk("kill", "stop"):
            if j["launch"] in life:
                life[j["launch"]][2] = j["t"]
        steps = defaultdict(list)  # slot -> [(t, offset, fuzzy)]
        for j in self.jk("clock"):
            # A step of a running process takes effect within libfaketime's one-second re-read;
            # one written before a start is exact.
            steps[j["slot"]].append((j["t"], j["offset"], j.get("launch") is not None))

        def real_time(fake, launch):
            """The true time of a reading of `launch`'s clock, or None when it is ambiguous."""
            slot, start, end = life.get(launch, (None, float("-inf"), float("inf")))
            timeline = sorted(steps.get(slot, []))
            if not timeline:
                return fake
            # Each offset holds from its step until the next one (plus the re-read second, when
            # the next is a runtime step): readings inside an overlap fit two offsets.
            intervals = []
            prev_t, prev_o = float("-inf"), 0.0
            for t, o, fuzzy in timeline:
                intervals.append((prev_t, t + (1.2 if fuzzy else 0.0), prev_o))
                prev_t, prev_o = t, o
            intervals.append((prev_t, float("inf"), prev_o))
            candidates = {round(fake - o, 6) for a, b, o in intervals
                          if a <= fake - o < b and start - 0.5 <= fake - o <= end + 0.5}
            return candidates.pop() if len(candidates) == 1 else None

        slots = {j["slot"] for j in self.jk("launch")}

        def latest_real(fake):
            """The latest true time a reading `fake` of any Vigil process's clock can stand for
            (its process is not known: on PostgreSQL any slot, each with its own steps)."""
            best = None
            for slot in slots:
                timeline = sorted(steps.get(slot, []))
                intervals = []
                prev_t, prev_o = float("-inf"), 0.0
                for t, o, fuzzy in timeline:
                    intervals.append((prev_t, t + (1.2 if fuzzy else 0.0), prev_o))
                    prev_t, prev_o = t, o
                intervals.append((prev_t, float("inf"), prev_o))
                for a, b, o in intervals:
                    if a - 1.2 <= fake - o < b:
                        best = fake - o if best is None else max(best, fake - o)
            return fake if best is None else best

        # --- provider call attempts and provider.call_repeated (promise 4) -------------------
        attempts = self.check_attempts(calls, pairs, kills, real_time)

        # --- calls no longer needed: made after the order's outcome committed -----------------
        # Opening a Veriff session, a link or reminder email and a hold at the shop are for a
        # pending order only; Vigil re-checks the order before such a call (issue 16). A call
        # that reached the fake more than LATE_MARGIN after the latest true time the outcome can
        # have committed (decided_at, on the committing process's possibly stepped clock) is a
        # violation; the margin covers the race between the re-check and the call.
        late_calls = []
        in_call_late = []  # in-call retries of an attempt that began before the decision
        race_late = []  # begun within LATE_MARGIN after the decision (the re-check raced it)
        for order in sorted(accepted):
            s = sessions.get(order)
            if s is None or not s["decided_at"] or s["state"] not in FINAL:
                continue
            decided = latest_real(s["decided_at"] / 1000)
            for f in sorted(calls, key=lambda f: f["t"]):
                if f.get("order") != order or not f.get("acted"):
                    continue
                what = None
                if f["provider"] == "veriff":
                    what = "Veriff session opened"
                elif f["provider"] == "sendgrid" and f.get("kind") in LINK_EMAILS:
                    what = f"{f.get('kind')} email sent"
                elif f["provider"] == "lightspeed" and f.get("action") == "hold":
                    what = "order put on hold at the shop"
                if not what or f["t"] <= decided:
                    continue
                label = f"{f['provider']}/{f.get('kind') or f.get('action') or f['op']}"
                first = dict(self.call_chain_start(f, calls))
                # The attempt's own first request, where its attempt row is known: the client's
                # backoff between tries sleeps until a wall-clock time, so a clock stepped back
                # meanwhile stretches it past IN_CALL_GAP.
                began = self.attempt_first_try(f)
                if began is not None and began < first["t"]:
                    first["t"] = began
                if first["t"] <= decided:
                    # A retry inside one provider call (timeouts, 5xx, 429: the HTTP client's own
                    # retries) whose first try, and so the task's re-check, came before the decision.
                    in_call_late.append(label)
                    continue
                if first["t"] <= decided + LATE_MARGIN:
                    race_late.append(label)
                    continue
                late_calls.append(label)
                self.violation(f"{what} after the order was {s['state']}", order,
                               decided_real=round(decided, 3), call=summary_of(f),
                               after_s=round(f["t"] - decided, 3), attempt_started=round(first["t"], 3))

        commit = {}  # (fake provider, fake key) -> real time the task's outcome committed
        unknown_commit = set()  # committed, but when is unclear (a stepped clock)
        fake_key = {"veriff": lambda o, req: o["order_id"],
                    "sendgrid": lambda o, req: o["idempotency_key"],
                    "payments": lambda o, req: o["idempotency_key"],
                    "lightspeed": lambda o, req: f"{o['order_id']}/{req.get('action')}"}
        fake_name = {"veriff": "veriff", "sendgrid": "sendgrid", "payments": "stripe", "lightspeed": "lightspeed"}
        widths = defaultdict(list)
        for o in d["outbox"]:
            if o["mode"] != "live":
                self.violation("outbox entry not in live mode", o["order_id"], mode=o["mode"])
            try:
                req = json.loads(o["request"]) if o["request"] else {}
            except ValueError:
                req = {}
            prov = fake_name.get(o["provider"])
            if prov is None:
                self.violation("outbox entry for an unknown provider", o["order_id"], provider=o["provider"])
                continue
            key = (prov, fake_key[o["provider"]](o, req))
            recs = acted.get(key, [])
            if not recs:
                self.violation("outbox records a call the provider never acted on", o["order_id"],
                               provider=o["provider"], operation=o["operation"], key=o["idempotency_key"])
                continue
            if o["provider"] == "payments":
                try:
                    rid = json.loads(o["response"] or "{}").get("refundId")
                except ValueError:
                    rid = None
                if rid not in {r.get("resp_id") for r in recs}:
                    self.violation("outbox refund id is not the one Stripe issued for its key", o["order_id"],
                                   refund_id=rid, issued=[r.get("resp_id") for r in recs])
            task = tasks_by_id.get(o["task_id"])
            if not task or not task["finished_at"]:
                continue
            # Which launch committed: the last to call before the commit (by the fakes' clock).
            fin = task["finished_at"] / 1000
            guess = [r for r in recs if r["t"] <= fin + 12]
            done = real_time(fin, (guess or recs)[-1]["launch"])
            if done is None:
                unknown_commit.add(key)
                continue
            commit[key] = done
            before = [r for r in recs if r["t"] <= done + 0.05]
            if before:
                widths[o["provider"]].append(max(0.0, done - before[-1]["t"]))

        # Calls caught in the window by each kill: the killed process had reached the provider
        # but its outcome was not committed before the kill.
        exposed = []
        for launch, ks in kills.items():
            for k in ks:
                repeated = per_kill.get((launch, k), set())
                caught = [f for key, recs in acted.items() for f in recs
                          if f["seq"] in repeated or (
                              f["launch"] == launch and f["t"] <= k + 1.0 and key not in unknown_commit
                              and (commit.get(key) is None or commit[key] > k)
                              and (f.get("status") or 0) // 100 == 2)]
                exposed.append({"launch": launch, "kill": k, "caught": len(caught), "repeated": len(repeated),
                                "calls": sorted(f"{f['provider']}/{f.get('kind') or f.get('action') or f['op']}"
                                                for f in caught)})

        # --- tasks -------------------------------------------------------------------------
        dead = []
        # The hourly maintenance task (retention) is always scheduled for the next hour.
        for t in (t for t in d["tasks"] if not (t["kind"] == "maintenance" and t["state"] == "scheduled")):
            if t["state"] == "running":
                self.violation("task left running (its lease has lapsed)", t["order_id"], task=t["name"],
                               attempts=t["attempts"], lease_owner=t["lease_owner"])
            elif t["state"] in ("scheduled", "retrying"):
                self.violation(f"task still {t['state']} after the settle", t["order_id"], task=t["name"],
                               attempts=t["attempts"], last_error=t["last_error"])
            elif t["state"] == "dead":
                dead.append(t)
                self.violation("dead task", t["order_id"], task=t["name"], attempts=t["attempts"],
                               last_error=(t["last_error"] or "")[:300])

        # --- the outbox and the event log agree ----------------------------------------------
        pairs = [("refund", ("refund.completed",)), ("send_email", ("email.sent",)),
                 ("update_order", ("order.held", "order.released", "order.cancelled_at_shop", "order.annotated")),
                 ("create_session", ("verification.session_opened",))]
        for order in set(outbox_by_order) | set(events_by_order):
            if order is None:
                continue
            ops = Counter(o["operation"] for o in outbox_by_order[order])
            evs = Counter(e["type"] for e in events_by_order[order])
            for op, types in pairs:
                n_ev = sum(evs[t] for t in types)
                if ops[op] != n_ev:
                    self.violation(f"outbox {op} ({ops[op]}) and event log {'/'.join(types)} ({n_ev}) disagree", order)
            if ops["refund"] > 1:
                self.violation("more than one refund in the outbox", order, n=ops["refund"])
            kinds_out = Counter()
            for o in outbox_by_order[order]:
                if o["operation"] == "send_email":
                    # The request is sealed at rest (it holds the address): the kind comes from the task.
                    try:
                        kinds_out[json.loads(tasks_by_id[o["task_id"]]["payload"]).get("kind")] += 1
                    except (ValueError, TypeError, KeyError):
                        pass
            kinds_ev = Counter()
            for e in events_by_order[order]:
                if e["type"] == "email.sent":
                    try:
                        kinds_ev[json.loads(e["data"]).get("kind")] += 1
                    except (ValueError, TypeError):
                        pass
            if kinds_out != kinds_ev:
                self.violation("outbox emails and email.sent events differ by kind", order,
                               outbox=dict(kinds_out), events=dict(kinds_ev))

        for j in self.jk("launch.exit"):
            tail = ""
            path = os.path.join(self.workdir, "logs", f"vigil-{j['launch']}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    lines = [line.strip() for line in f if line.strip()]
                tail = lines[-1][:200] if lines else ""
            down = any(a - 1 <= j["t"] <= b + 5 for a, b in
                       [(x["t"], x.get("t_end", x["t"] + 60)) for x in self.jk("pg_restart", "pg_restart.start")])
            self.notes.append(f"vigil {j['launch']} exited with {j.get('code')} during start-up"
                              f"{' (PostgreSQL was down)' if down else ' (not a PostgreSQL outage)'}; started again; "
                              f"last log line: {tail}")
        for j in self.jk("settle.timeout"):
            self.notes.append(f"the system did not settle in time: {j.get('last')}")

        n_kills = len(self.jk("kill")) - len([j for j in self.jk("kill") if j.get("reason") != "chaos"])
        launches = self.jk("launch")
        slots = {j["slot"] for j in launches}
        self.result = {
            "backend": self.backend,
            "seed": self.config.get("seed"),
            "instances": len(slots),
            "orders_sent": len(orders_sent),
            "orders_accepted": len(accepted),
            "orders_gave_up": len(gave_up),
            "order_duplicates": len(dup_sent),
            "order_duplicates_idempotent": len(dup_idempotent),
            "decisions": {f"{k}:{v}": n for (k, v), n in sorted(dec_counts.items())},
            "decisions_skipped": len(self.jk("decision.skipped")),
            "final_states": dict(final_counts),
            "kills": n_kills,
            "restarts": len(launches) - len(slots),
            "failed_starts": len(self.jk("launch.exit")),
            "pg_restarts": len(pg_restarts),
            "pg_restart_seconds": [round(b - a, 1) for a, b in pg_restarts],
            "clock_steps": len(self.jk("clock")),
            "faketime": self.config.get("faketime"),
            "faults": dict(faults),
            "fault_phases": dict(fault_phases),
            "provider_calls": dict(by_provider),
            "provider_calls_total": len(calls),
            "checks": len(checks),
            "refundable_orders": refundable,
            "refunds_at_stripe": sum(len(v) for v in refunds_by_order.values()),
            "refunds_ok": refunded_ok,
            "stripe_key_replays": replays,
            "approved_refunded": approved_refunded,
            "repeats": dict(repeats),
            "repeat_detail": {k: dict(v) for k, v in repeat_detail.items()},
            "crash_repeats_per_kill": round(repeats["crash"] / n_kills, 2) if n_kills else None,
            "crash_repeat_windows_s": sorted(round(w, 3) for w in crash_windows),
            "kills_with_repeats": len({k for k in per_kill}),
            "per_kill": sorted(exposed, key=lambda e: e["kill"]),
            "window_provider_to_commit_s": {
                p: {"n": len(v), "p50": pct(v, 0.5), "p95": pct(v, 0.95), "max": max(v)} for p, v in widths.items() if v},
            "late_calls": dict(Counter(late_calls)),
            "late_in_call_retries": dict(Counter(in_call_late)),
            "late_within_margin": dict(Counter(race_late)),
            "attempts": attempts,
            "dead_tasks": len(dead),
            "harness_errors": len(self.harness_errors),
            "violations": len(self.violations),
        }
        return self.result

    def check_attempts(self, calls, pairs, kills, real_time):
        """Promise 4's record of every provider call attempt (table provider_attempts, migration
        8) and the provider.call_repeated events, against what the fakes saw. Returns the
        figures, or None for a database from before migration 8.

        By construction (FlowTaskHandler.once, QueueWorker): an attempt row is committed before
        its call; the transaction that records the answer (or the failure) of attempt N ends every
        row of N still open; a run that answers lists, before its call, the rows of earlier
        attempt numbers still open and writes one provider.call_repeated per row with its answer.
        A postponement (the provider's circuit is open: ProviderUnavailable) and a shutdown in
        mid-call hand the task back without ending its row and without using up the attempt, so
        the next run has the same number."""
        self.attempt_first_try = lambda f: None
        if self.db.get("provider_attempts") is None:
            return None
        rows = [dict(r) for r in self.db["provider_attempts"]]
        d = self.db
        tasks_by_id = {t["id"]: t for t in d["tasks"]}

        # Which Vigil launch made a row: its owner is "<host>-<pid>-<8 hex>", one per process,
        # and the journal has each launch's pid (Vigil is started through env(1), which execs it).
        launches = {j["launch"]: j for j in self.jk("launch")}
        by_pid = defaultdict(list)
        for j in launches.values():
            by_pid[j.get("pid")].append(j)
        stopped = {j["launch"] for j in self.jk("stop")}

        def launch_of(row):
            try:
                pid = int(str(row["owner"]).rsplit("-", 2)[-2])
            except (ValueError, IndexError):
                return None
            found = sorted(by_pid.get(pid, []), key=lambda j: j["t"] if "t" in j else 0)
            if len(found) <= 1:
                return found[0]["launch"] if found else None
            # A pid used twice: the last launch begun before the row (its clock within 15 s).
            before = [j for j in found if j.get("t", 0) <= row["started_at"] / 1000 + 15]
            return (before or found)[-1]["launch"]

        def started(row):
            """The true time a row was begun (its process's clock taken back across steps)."""
            t = row["started_at"] / 1000
            launch = row["_launch"]
            if launch is None:
                return t
            real = real_time(t, launch)
            return real if real is not None else t - float(launches[launch].get("clock") or 0)

        rows_by_task = defaultdict(list)
        for r in rows:
            r["_launch"] = launch_of(r)
            rows_by_task[r["task_id"]].append(r)
        for rs in rows_by_task.values():
            rs.sort(key=lambda r: r["id"])

        # Which task made a call at a fake: SendGrid and Stripe carry the task's key ("vigil_" +
        # 20 bytes of SHA-256 of its name); Veriff's is the order (its open_session task), and
        # Lightspeed's the order and the action (its update_order task).
        key_task = {}
        by_kind = defaultdict(list)
        for t in d["tasks"]:
            key_task["vigil_" + hashlib.sha256(t["name"].encode()).hexdigest()[:40]] = t["id"]
            action = None
            if t["kind"] == "update_order":
                try:
                    action = json.loads(t["payload"] or "{}").get("action")
                except (ValueError, AttributeError):
                    pass
            by_kind[(t["kind"], t["order_id"], action)].append(t["id"])

        def task_of(f):
            if f["provider"] in ("sendgrid", "stripe"):
                return key_task.get(f.get("key"))
            if f["provider"] == "veriff":
                ids = by_kind.get(("open_session", f.get("order"), None), [])
            elif f["provider"] == "lightspeed":
                ids = by_kind.get(("update_order", f.get("order"), f.get("action")), [])
            else:
                return None
            return ids[0] if len(ids) == 1 else None

        def attempt_of(f, task_id):
            """The attempt row a request at a fake belongs to: its task's, by its launch, the
            last begun before the request."""
            mine = [r for r in rows_by_task.get(task_id, []) if r["_launch"] == f["launch"]]
            before = [r for r in mine if started(r) <= f["t"] + 0.5]
            return (before or mine or [None])[-1]

        calls_by_task = defaultdict(list)
        for f in sorted(calls, key=lambda f: f["t"]):
            tid = task_of(f)
            if tid is not None:
                calls_by_task[tid].append(f)

        events = []
        for e in d["events"]:
            if e["type"] != "provider.call_repeated":
                continue
            try:
                data = json.loads(e["data"] or "{}")
            except ValueError:
                data = {}
            events.append({"order": e["order_id"], "event": e["id"], **data})
        for e in events:
            if bool(e.get("keyed")) != (e.get("task") in ("refund", "refund_payment")):
                self.notes.append(f"provider.call_repeated {e['event']} for a {e.get('task')} task says keyed "
                                  f"{e.get('keyed')}")
        named = {(e.get("taskId"), e.get("unknownAttempt")) for e in events}
        named3 = {(e.get("taskId"), e.get("attempt"), e.get("unknownAttempt")) for e in events}
        named_tasks = {e.get("taskId") for e in events}

        def brief(r):
            return None if r is None else {k: r.get(k) for k in
                                           ("id", "task_id", "kind", "attempt", "owner", "started_at", "outcome", "error")} | {
                "launch": r.get("_launch")}

        # 1. Strict, from the database alone: an attempt answered after an earlier attempt of
        #    its task whose outcome is still unknown wrote provider.call_repeated for it.
        for tid, rs in rows_by_task.items():
            for u in (r for r in rs if r["outcome"] is None):
                for a in (r for r in rs if r["outcome"] == "answered"):
                    if a["attempt"] > u["attempt"] and a["id"] > u["id"] and \
                            (tid, a["attempt"], u["attempt"]) not in named3:
                        self.violation("a call made again after an attempt whose outcome is unknown, and no "
                                       "provider.call_repeated names it", u["order_id"], task=tid, kind=u["kind"],
                                       unknown=brief(u), answered=brief(a))

        # 2. Every attempt left with no outcome was cut off: its task ran again (its process was
        #    killed, lost the database or its lease), or it was handed back by a postponement or
        #    a shutdown (reported, below). Anything else is an attempt never ended.
        unknown = [r for r in rows if r["outcome"] is None]
        cut_killed, cut_other, left_open, unmapped = [], [], [], []

        def killed_while_open(u, until=float("inf")):
            return any(started(u) - 1.0 <= k <= until + 1.0 for k in kills.get(u["_launch"], []))

        def calls_of(r):
            """The requests the fakes saw from attempt row r: its task's, from its launch, from its
            start until that launch's next attempt of the task (or its kill)."""
            mine = [x for x in rows_by_task[r["task_id"]] if x["_launch"] == r["_launch"] and x["id"] > r["id"]]
            until = min([started(x) for x in mine] + [min(kills.get(r["_launch"], [float("inf")])) + 1.0])
            return [f for f in calls_by_task.get(r["task_id"], [])
                    if f["launch"] == r["_launch"] and started(r) - 0.5 <= f["t"] < until]

        for u in unknown:
            t = tasks_by_id.get(u["task_id"])
            if u["_launch"] is None:
                unmapped.append(u)
            nxt = [started(r) for r in rows_by_task[u["task_id"]] if r["attempt"] > u["attempt"]]
            if nxt or (t is not None and t["attempts"] > u["attempt"]):
                # Run again: killed while open, before the task's next attempt began (a kill while
                # PostgreSQL was down counts as a kill), or not (the database or the lease lost).
                (cut_killed if killed_while_open(u, min(nxt, default=float("inf"))) else cut_other).append(u)
                continue
            if t is None or t["state"] in ("running", "scheduled", "retrying"):
                continue  # still in hand (and a violation of its own after the settle)
            if "circuit open" in (t["last_error"] or "") or u["_launch"] in stopped:
                left_open.append(u)
                continue
            if t["state"] != "succeeded" and killed_while_open(u):
                cut_killed.append(u)  # killed, and the task cancelled before it ran again
                continue
            self.violation("provider attempt never ended: no outcome, its task finished with no later attempt, "
                           "and it was neither postponed nor handed back at a shutdown", u["order_id"],
                           attempt=brief(u), task_state=t["state"], task_attempts=t["attempts"],
                           last_error=(t["last_error"] or "")[:200])
        def first_try(f):
            """When the attempt that sent request f sent its first request (the fakes' clock)."""
            tid = task_of(f)
            r = attempt_of(f, tid) if tid is not None else None
            return min((x["t"] for x in calls_of(r)), default=None) if r is not None else None

        self.attempt_first_try = first_try
        left_open_reached = sum(1 for u in left_open if any(f.get("acted") or f.get("replay") for f in calls_of(u)))
        for u in unmapped:
            self.notes.append(f"provider attempt {u['id']} (owner {u['owner']}) matches no launch in the journal")

        # 3. The fakes' repeats from the crash window or a database restart, each named by a
        #    provider.call_repeated of its task? Not by construction (see README.md): only a
        #    repeat after an attempt still open at the end, by a later attempt that answered, must
        #    be named; that one is also check 1's, and a violation here too.
        window = Counter()
        not_named = defaultdict(list)
        for cause, provider, key, prev, rep in pairs:
            if cause not in ("crash", "db_restart"):
                continue
            tid = task_of(rep)
            first = attempt_of(prev, tid) if tid is not None and task_of(prev) == tid else None
            label = f"{provider}/{prev.get('kind') or prev.get('action') or prev.get('op')}"
            if tid is None or task_of(prev) != tid:
                why = "calls not matched to one task"
            elif first is not None and (tid, first["attempt"]) in named:
                window["named"] += 1
                continue
            elif first is None:
                if tid in named_tasks:
                    window["named"] += 1
                    continue
                why = "no attempt row for the earlier call"
            elif first["outcome"] == "failed":
                why = "earlier attempt recorded as failed"
            elif first["outcome"] == "answered":
                why = "earlier attempt answered"
            elif (attempt_of(rep, tid) or {}).get("attempt") == first["attempt"]:
                why = "repeated under the same attempt number (handed back)"
            elif not any(r["outcome"] == "answered" and r["attempt"] > first["attempt"] for r in rows_by_task[tid]):
                why = "no later attempt answered"
            else:
                why = "VIOLATION"
                self.violation(f"{label} repeated after an attempt whose outcome is unknown, and no "
                               "provider.call_repeated names it", prev.get("order"), cause=cause, task=tid,
                               earlier_attempt=brief(first), first=summary_of(prev), repeat=summary_of(rep))
            window["not named"] += 1
            not_named[why].append({"order": prev.get("order"), "call": label, "cause": cause, "task": tid,
                                   "attempt": brief(first), "first": summary_of(prev), "repeat": summary_of(rep)})
            if why != "VIOLATION":
                self.notes.append(f"{cause} repeat of {label} for {prev.get('order')} (task {tid}) not named on the "
                                  f"timeline: {why}" + (f" ({(first.get('error') or '')[:120]})"
                                                        if first and first.get("error") else ""))

        # 4. What each event named: the unknown attempt's call acted at the fake (a real duplicate,
        #    or one merged by its key), reached it without acting, or never reached it (the process
        #    died between committing the row and sending the request, or the circuit refused it).
        cause_after = {prev["seq"]: cause for cause, _, _, prev, _ in pairs}  # an acted call -> why it was repeated
        reached = Counter()
        for e in events:
            rs = [r for r in rows_by_task.get(e.get("taskId"), []) if r["attempt"] == e.get("unknownAttempt")]
            best = "never reached the provider" if rs else "no such attempt row"
            for r in rs:
                seen = calls_of(r)
                did = [f for f in seen if f.get("acted") or f.get("replay")]
                if did:
                    # The repeat it names, as the fakes saw it (the last acted call of the attempt).
                    best = "acted, repeat: " + cause_after.get(did[-1]["seq"], "none at the fake")
                    break
                if seen:
                    best = "reached the provider without acting"
            reached[best] += 1

        return {
            "recorded": len(rows),
            "outcomes": dict(Counter(r["outcome"] or "unknown" for r in rows)),
            "unknown": len(unknown),
            "unknown_cut_by_kill": len(cut_killed),
            "unknown_cut_other": len(cut_other),
            "unknown_left_open": len(left_open),
            "unknown_left_open_acted": left_open_reached,
            "left_open": [brief(u) for u in left_open],
            "call_repeated": len(events),
            "call_repeated_keyed": sum(1 for e in events if e.get("keyed")),
            "call_repeated_tasks": len(named_tasks),
            "call_repeated_unknown_call": dict(reached),
            "window_repeats": sum(window.values()),
            "window_repeats_named": window["named"],
            "window_not_named": {why: len(v) for why, v in not_named.items()},
            "window_not_named_detail": dict(not_named),
        }

    def call_chain_start(self, rec, calls):
        """The first request of the provider call `rec` belongs to: Vigil's HTTP client retries a
        call itself (3 tries, full-jitter backoff under 1 s, Retry-After 1 s here, each try cut
        at the provider timeout), so requests of one launch for one key that follow each other
        within that span are one call of one task attempt."""
        same = sorted((c for c in calls if c["provider"] == rec["provider"] and c.get("key") == rec.get("key")
                       and c["launch"] == rec["launch"] and c["t"] <= rec["t"]), key=lambda c: c["t"])
        first = rec
        for prev in reversed(same[:-1] if same and same[-1] is rec else same):
            ended = min(prev.get("t_end", prev["t"]), prev["t"] + self.provider_timeout)
            if first["t"] - ended <= IN_CALL_GAP:
                first = prev
            else:
                break
        return first

    def client_timeouts(self):
        """Times at which a Vigil launch logged a provider exchange that failed with a timeout
        or connection error ("provider call failed; retrying"), by launch and provider."""
        out = defaultdict(list)
        logs = os.path.join(self.workdir, "logs")
        if not os.path.isdir(logs):
            return out
        for name in os.listdir(logs):
            if not name.startswith("vigil-"):
                continue
            launch = name[len("vigil-"):-len(".log")]
            with open(os.path.join(logs, name), errors="replace") as f:
                for line in f:
                    if "provider call failed" not in line:
                        continue
                    try:
                        j = json.loads(line)
                    except ValueError:
                        continue
                    err = str(j.get("error", "")) + str(j.get("metadata", {}).get("error", ""))
                    t = j.get("ts") or j.get("timestamp") or j.get("time")
                    prov = j.get("provider") or j.get("metadata", {}).get("provider")
                    out[(launch, prov)].append((parse_time(t), err))
        return out

    def explain(self, prev, rep, kills, pg_restarts, clock_launches, timeouts):
        """Why the provider acted again after `prev`."""
        if prev.get("fault") in ("500", "503", "reset", "timeout") and prev.get("phase") == "after":
            return "fault", {"fault": prev["fault"]}
        if not prev.get("status") or not (200 <= prev["status"] < 300):
            return "fault", {"fault": prev.get("fault") or f"status {prev.get('status')}"}
        # PostgreSQL went down while the call was answered or just after (its outcome could
        # not be written).
        for a, b in pg_restarts:
            if a <= prev.get("t_end", prev["t"]) + 1.0 and b >= prev["t"]:
                return "db_restart", {"pg_restart": a}
        # The earlier call's process was killed after making it (a request written just before
        # the kill reaches the fake a moment later, hence the second of slack) and before the
        # repeat: the crash window.
        for k in kills.get(prev["launch"], []):
            if prev["t"] - 1.0 <= k <= rep["t"]:
                return "crash", {"kill": k, "window": k - prev.get("t_end", prev["t"])}
        for a, b in pg_restarts:
            if a <= rep["t"] and b + self.lease >= prev["t"]:
                return "db_restart", {"pg_restart": a}
        took = prev.get("t_end", prev["t"]) - prev["t"]
        if took >= self.provider_timeout - 0.25:
            return "client_timeout", {"answer_took_s": round(took, 2)}
        info = {}
        # Not an explanation (the log line names no task), but a hint for whoever reads it.
        vigil_provider = {"stripe": "payments"}.get(prev["provider"], prev["provider"])
        for t, err in timeouts.get((prev["launch"], vigil_provider), []):
            if t is not None and prev["t"] - 0.5 <= t <= prev["t"] + self.provider_timeout + 1 and \
                    any(w in err.lower() for w in ("timeout", "timed out", "deadline")):
                info["vigil_logged_timeout_nearby"] = err[:160]
                break
        for t in clock_launches.get(prev["launch"], []) + clock_launches.get(rep["launch"], []):
            if prev["t"] - self.lease <= t <= rep["t"]:
                info["clock_step_nearby"] = t
        if rep["launch"] != prev["launch"]:
            info["other_launch"] = rep["launch"]
        return "unexplained", info


def parse_time(text):
    if not text:
        return None
    from datetime import datetime
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def summary_of(rec):
    return {k: rec.get(k) for k in ("launch", "t", "t_end", "status", "fault", "phase", "resp_id", "seq")}


# -- output ----------------------------------------------------------------------------------

def table(result, violations, notes, harness_errors):
    r = result
    rows = []
    rows.append(("backend", f"{r['backend']} ({r['instances']} instance{'s' if r['instances'] != 1 else ''}), seed {r['seed']}"))
    rows.append(("orders", f"{r['orders_sent']} sent, {r['orders_accepted']} accepted"
                           f"{', ' + str(r['orders_gave_up']) + ' never answered' if r['orders_gave_up'] else ''}; "
                           f"{r['order_duplicates']} re-sent, {r['order_duplicates_idempotent']} answered idempotent"))
    dec = r["decisions"]
    rows.append(("decisions", f"approved {dec.get('decision:approved', 0)}, declined {dec.get('decision:declined', 0)}, "
                              f"contradicting {dec.get('decision_contra:declined', 0)}, repeated "
                              f"{sum(v for k, v in dec.items() if k.startswith('decision_dup'))}, "
                              f"no session yet {r['decisions_skipped']}"))
    fs = r["final_states"]
    rows.append(("final states", ", ".join(f"{k} {fs.get(k, 0)}" for k in ("approved", "declined", "expired", "pending"))
                 + "".join(f", {k} {v}" for k, v in fs.items() if k not in ("approved", "declined", "expired", "pending"))))
    rows.append(("kills", f"{r['kills']} kill -9"))
    rows.append(("restarts", f"{r['restarts']} Vigil restarts"
                             + (f" ({r['failed_starts']} of them exited at start-up and were retried)"
                                if r['failed_starts'] else "")
                             + f"; PostgreSQL restarts {r['pg_restarts']}"
                             f"{' (' + ', '.join(f'{s}s' for s in r['pg_restart_seconds']) + ')' if r['pg_restarts'] else ''}"))
    rows.append(("clock steps", f"{r['clock_steps']}" if r["faketime"] else "skipped (no libfaketime)"))
    faults = r["faults"]
    rows.append(("faults injected", ", ".join(f"{k} {faults.get(k, 0)}" for k in ("500", "503", "429", "delay", "reset", "timeout"))
                 + f" (total {sum(faults.values())})"))
    pc = r["provider_calls"]
    rows.append(("provider calls", f"{r['provider_calls_total']}: " + ", ".join(f"{k} {pc.get(k, 0)}" for k in
                                                                             ("veriff", "sendgrid", "stripe", "lightspeed"))
                 + f" (+{r['checks']} checks)"))
    rows.append(("refunds", f"{r['refunds_at_stripe']} at Stripe for {r['refundable_orders']} refundable orders "
                            f"({r['refunds_ok']} right payment and amount); {r['stripe_key_replays']} same-key repeats merged; "
                            f"{r['approved_refunded']} approved orders refunded"))
    rp = r["repeats"]
    rows.append(("repeats in crash window", f"{rp.get('crash', 0)}"
                 + (f" ({r['crash_repeats_per_kill']} per kill; "
                    + ", ".join(f"{k} {v}" for k, v in sorted(r['repeat_detail'].get('crash', {}).items())) + ")"
                    if rp.get("crash") else "")))
    cw = r.get("crash_repeat_windows_s") or []
    if cw:
        rows.append(("  answered → kill", f"min {fmt_s(cw[0])}, median {fmt_s(statistics.median(cw))}, max {fmt_s(cw[-1])} "
                                          "(negative: the kill came while the call was in flight)"))
    pk = r.get("per_kill", [])
    if pk:
        rows.append(("caught per kill", " ".join(f"{e['caught']}/{e['repeated']}" for e in pk)
                     + f"  (calls answered but not committed / repeated; {sum(e['caught'] for e in pk)} caught in all)"))
    other = [f"{c} {rp[c]}" for c in ("db_restart", "fault", "client_timeout", "unexplained") if rp.get(c)]
    rows.append(("other repeats", ", ".join(other) if other else "0"))
    w = r["window_provider_to_commit_s"]
    rows.append(("window (call→commit)", "; ".join(f"{p} p50 {fmt_s(v['p50'])} p95 {fmt_s(v['p95'])} max {fmt_s(v['max'])}"
                                                  for p, v in sorted(w.items())) or "-"))
    a = r.get("attempts")
    if a is None:
        rows.append(("provider attempts", "not recorded (a database from before migration 8)"))
    else:
        oc = a["outcomes"]
        rows.append(("provider attempts", f"{a['recorded']} recorded: {oc.get('answered', 0)} answered, "
                                          f"{oc.get('failed', 0)} failed, {oc.get('not_sent', 0)} not sent, {a['unknown']} outcome unknown "
                                          f"({a['unknown_cut_by_kill']} cut off by a kill, {a['unknown_cut_other']} "
                                          f"run again without a kill, {a['unknown_left_open']} left open by a "
                                          f"postponement, {a.get('unknown_left_open_acted', 0)} of them after a try "
                                          "the provider acted on)"))
        nn = a["window_not_named"]
        uc = a["call_repeated_unknown_call"]
        over = uc.get("reached the provider without acting", 0) + uc.get("never reached the provider", 0)
        rows.append(("call_repeated events", f"{a['call_repeated']} ({a['call_repeated_keyed']} keyed) on "
                                             f"{a['call_repeated_tasks']} tasks; they name {a['window_repeats_named']} of "
                                             f"{a['window_repeats']} crash/db_restart repeats"
                     + (" (not named: " + ", ".join(f"{k} {v}" for k, v in sorted(nn.items())) + ")" if nn else "")))
        acted = sorted((k[len("acted, repeat: "):], v) for k, v in uc.items() if k.startswith("acted"))
        rows.append(("  the unknown call", (("acted " + str(sum(v for _, v in acted)) + " (repeat "
                                             + ", ".join(f"{k} {v}" for k, v in acted) + ")") if acted else "acted 0")
                     + f"; {over} over-report{'s' if over != 1 else ''}: "
                       f"{uc.get('reached the provider without acting', 0)} reached the provider without acting, "
                       f"{uc.get('never reached the provider', 0)} never reached it"
                     + (f"; {uc['no such attempt row']} name no attempt row" if uc.get("no such attempt row") else "")))
    lc, li = r["late_calls"], r["late_in_call_retries"]
    rows.append(("calls after decision", (", ".join(f"{k} {v}" for k, v in sorted(lc.items())) if lc else "0")
                 + " (sessions, link emails, holds begun after the order was final: violations)"))
    rows.append(("  in-call retries", (", ".join(f"{k} {v}" for k, v in sorted(li.items())) if li else "0")
                 + " (a retry inside a call whose attempt began before the decision: reported)"))
    lm = r["late_within_margin"]
    rows.append(("  re-check raced", (", ".join(f"{k} {v}" for k, v in sorted(lm.items())) if lm else "0")
                 + f" (begun within {LATE_MARGIN:g} s of the decision's commit: reported)"))
    rows.append(("dead tasks", str(r["dead_tasks"])))
    if harness_errors:
        rows.append(("harness errors", str(len(harness_errors))))
    rows.append(("violations", str(r["violations"])))
    width = max(len(k) for k, _ in rows)
    out = [f"chaos summary: {r['backend']}", "-" * 100]
    for k, v in rows:
        out.append(f"{k.ljust(width)}  {v}")
    out.append("-" * 100)
    if violations:
        out.append(f"violations ({len(violations)}; first 40):")
        for v in violations[:40]:
            out.append("  " + json.dumps(v, default=str, sort_keys=True)[:600])
    for h in harness_errors[:10]:
        out.append("harness error: " + json.dumps(h)[:400])
    for n in notes[:20]:
        out.append("note: " + n[:400])
    return "\n".join(out)


def main_for(backend, workdir, database_url=None, snapshot=False):
    """Checks one run; the rows read are kept in WORKDIR/db.json (evidence, and the input of a
    later `check.py --snapshot` once the PostgreSQL cluster is gone)."""
    path = os.path.join(workdir, "db.json")
    if snapshot:
        with open(path) as f:
            db = json.load(f)
    else:
        if database_url is None:
            database_url = f"sqlite://{os.path.join(workdir, 'vigil.sqlite')}"
        try:
            db = Database(backend, database_url).load()
        except Exception as error:
            print(f"chaos: {backend}: cannot read the database: {error}", flush=True)
            return 1
        with open(path, "w") as f:
            json.dump(db, f, default=str)
    checker = Checker(backend, workdir, db)
    result = checker.analyse()
    with open(os.path.join(workdir, "summary.json"), "w") as f:
        json.dump({"result": result, "violations": checker.violations, "notes": checker.notes,
                   "harness_errors": checker.harness_errors}, f, indent=2, default=str)
    print(table(result, checker.violations, checker.notes, checker.harness_errors), flush=True)
    ok = not checker.violations and not checker.harness_errors and result["orders_accepted"] > 0
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--database-url")
    p.add_argument("--snapshot", action="store_true", help="check the rows kept in WORKDIR/db.json")
    a = p.parse_args()
    return main_for(a.backend, a.workdir, a.database_url, a.snapshot)


if __name__ == "__main__":
    sys.exit(main())
