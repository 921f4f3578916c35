#!/usr/bin/env python3
"""pgqueuer's dispatch rate on Vigil's bench cluster: the peer for `vigil-bench dispatch` (issue 18).

Installs pgqueuer's schema in the given database (a fresh one; a database where it is already
installed has its queue and logs emptied first), starts one process of queue managers with a
no-op entrypoint, enqueues --jobs no-op jobs in one statement, all due at the same instant or,
with --spread 1, due within one second as Vigil's burst is (job n due at (n mod 1000) ms), and
measures from the first due time until the last job's completion is committed. Prints, in the
style of Vigil's dispatch line:

    pgqueuer: 10000 no-op jobs due within 1 s, 4 manager(s) × batch 100, durability durable: all completed X.XX s after the first was due, N jobs/s
    lag from due time to start: p50 ... ms, p99 ... ms, p99.9 ... ms, max ... ms

Run it with any python3: on first use it creates the venv .build/pgqueuer-venv beside the
repository's other build products, installs the pinned packages below from PyPI, and re-runs
itself there (--prepare does only that).
    usage: pgqueuer_dispatch.py --database postgres://vigil@127.0.0.1:PORT/DB?sslmode=disable
           [--jobs 10000] [--spread 0|1] [--managers 4] [--batch-size 100] [--durability durable]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

# Pinned: the versions this script was written against and measured with. asyncpg rather than
# psycopg because pgqueuer's own benchmark page finds it about 1.7x psycopg's rate (Cython
# protocol, less per-query overhead) and its performance guide recommends it; uvloop is the event
# loop pgqueuer's own CLI (`pgq run`) uses.
PINS = ["pgqueuer==1.6.0", "asyncpg==0.32.0", "uvloop==0.23.0"]
VENV = Path(__file__).resolve().parents[2] / ".build" / "pgqueuer-venv"


def ensure_venv() -> None:
    """Re-runs this script in the venv, creating it and installing PINS first if needed."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    stamp = VENV / "pins.txt"
    if not (python.exists() and stamp.exists() and stamp.read_text() == "\n".join(PINS)):
        print(f"pgqueuer_dispatch: installing {' '.join(PINS)} into {VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS],
                       check=True, stdout=sys.stderr)
        stamp.write_text("\n".join(PINS))
    if "--prepare" in sys.argv:
        sys.exit(0)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prepare", action="store_true", help="only create the venv and install the pinned packages")
    p.add_argument("--database", help="postgres://... (a fresh database)")
    p.add_argument("--jobs", type=int, default=10_000, help="no-op jobs in the burst")
    p.add_argument("--spread", type=float, default=0.0,
                   help="seconds over which the jobs fall due (0: all at one instant; 1: like vigil-bench dispatch)")
    p.add_argument("--managers", type=int, default=4,
                   help="queue managers in this one process, each on its own connection")
    p.add_argument("--batch-size", type=int, default=100, help="jobs per dequeue (and per acknowledgement flush)")
    p.add_argument("--durability", default="durable", choices=["durable", "balanced", "volatile"],
                   help="pgqueuer's table durability at install (durable: all tables logged, as Vigil's are)")
    p.add_argument("--lead", type=float, default=None,
                   help="seconds from enqueueing to the first due time (default 1 + jobs/10000)")
    args = p.parse_args()
    if not args.prepare and not args.database:
        p.error("--database is required")
    return args


async def main(args: argparse.Namespace) -> None:
    import asyncio
    import time
    from datetime import timedelta

    import asyncpg
    from pgqueuer import AsyncpgDriver, Queries, QueueManager
    from pgqueuer.adapters.persistence.qb import (
        DBSettings,
        Durability,
        QueryBuilderEnvironment,
        QueryQueueBuilder,
    )
    from pgqueuer.models import Job

    # Settings, tuned for throughput as pgqueuer's own docs advise (its performance-tuning guide
    # and its benchmark tool), and measured on this 2-core machine, 10,000 jobs due within 1 s:
    # - batch_size 100 (default 10): jobs claimed per dequeue statement. The guide says to raise
    #   it for short jobs; the acknowledgement buffer flushes at batch_size completions or every
    #   0.1 s, so it also sets how many completions share one DELETE. One manager gave about
    #   700-2,000 jobs/s at 10, 3,700-5,200 at 50, 100 or 200.
    # - 4 queue managers in this one process (--managers), each on its own direct asyncpg
    #   connection (AsyncpgDriver): pgqueuer's benchmark runs 5 in one process, and the guide
    #   wants a direct connection rather than a pool for a QueueManager. 4 x 100 was the best
    #   of 1, 2, 4 and 8 managers (3,900-6,800 jobs/s, against 3,900-5,200 for one); the
    #   differences are within this machine's run-to-run noise.
    # - durability durable (the default): every table logged, as Vigil's are. balanced (the log
    #   tables unlogged; "~2x" in the guide) gave, in one run, a rate within noise of durable;
    #   --durability selects it.
    # - `pgq autovac`, the guide's checklist item: fillfactor 70 and eager autovacuum on the
    #   queue table, set right after install.
    # - asyncpg on uvloop (see PINS).
    # - max_concurrent_tasks unset (unlimited, the default): a cap adds a count of this worker's
    #   picked rows to every dequeue; no-op jobs never pile up anyway.
    # - heartbeat_timeout and dequeue_timeout 30 s (defaults): a no-op job ends long before its
    #   first heartbeat (at 15 s); an idle manager wakes at a NOTIFY or at the next due job's
    #   ETA (at least 0.1 s on), whichever comes first.
    settings = DBSettings(durability=Durability(args.durability))

    def queries_on(connection: asyncpg.Connection) -> Queries:
        return Queries(AsyncpgDriver(connection), qbe=QueryBuilderEnvironment(settings),
                       qbq=QueryQueueBuilder(settings))

    admin = await asyncpg.connect(args.database)
    setup = queries_on(admin)
    if await setup.schema_is_installed():
        await setup.clear_queue()
        await setup.clear_queue_log()
        await setup.clear_statistics_log()
    else:
        await setup.install()
        await setup.optimize_autovacuum()

    n = args.jobs
    lags: list[float] = []
    acknowledged = 0
    finished = 0.0
    done = asyncio.Event()

    async def noop(job: Job) -> None:
        lags.append(time.time() - job.execute_after.timestamp())

    managers: list[QueueManager] = []
    ready: list[asyncio.Event] = []
    connections: list[asyncpg.Connection] = [admin]
    for _ in range(args.managers):
        connection = await asyncpg.connect(args.database)
        connections.append(connection)
        queries = queries_on(connection)
        # Done means acknowledged: a job counts once the statement that deletes it from the queue
        # (and logs it) has committed, as a Vigil task counts once its completion commits.
        log_jobs = queries.log_jobs

        async def counting_log_jobs(job_status, log_jobs=log_jobs) -> None:
            nonlocal acknowledged, finished
            await log_jobs(job_status)
            acknowledged += sum(1 for _, status, _ in job_status if status == "successful")
            if acknowledged >= n and not done.is_set():
                finished = time.time()
                done.set()

        queries.log_jobs = counting_log_jobs
        # Ready once the manager has installed its LISTEN and asked for work the first time.
        first_dequeue = asyncio.Event()
        dequeue = queries.dequeue

        async def marking_dequeue(*a, dequeue=dequeue, first_dequeue=first_dequeue, **kw):
            first_dequeue.set()
            return await dequeue(*a, **kw)

        queries.dequeue = marking_dequeue
        qm = QueueManager(queries, channel=settings.channel)
        qm.entrypoint("noop")(noop)
        managers.append(qm)
        ready.append(first_dequeue)

    running = [asyncio.create_task(qm.run(batch_size=args.batch_size)) for qm in managers]
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), timeout=30)

        # One statement for the whole burst, so every job's due time has the same NOW() under it.
        lead = args.lead if args.lead is not None else 1 + n / 10_000
        offsets = [timedelta(seconds=lead + (i % 1000) / 1000 * args.spread) for i in range(n)]
        await setup.enqueue(["noop"] * n, [None] * n, [0] * n, offsets)
        first_due = (await admin.fetchval(f"SELECT min(execute_after) FROM {settings.qualified.queue_table}")).timestamp()
        if time.time() >= first_due:
            sys.exit("pgqueuer_dispatch: enqueuing took longer than the lead; use fewer --jobs or a longer --lead")

        # Until the last acknowledgement, or a manager's failure (raised here by result()).
        waiting = asyncio.create_task(done.wait())
        await asyncio.wait([waiting, *running], timeout=lead + args.spread + 60 + n / 100,
                           return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        for task in running:
            if task.done():
                task.result()
        if not done.is_set():
            sys.exit(f"pgqueuer_dispatch: timed out with {acknowledged} of {n} jobs acknowledged")
    finally:
        for qm in managers:
            qm.shutdown.set()
        await asyncio.gather(*running, return_exceptions=True)
        for connection in connections:
            await connection.close()

    span = finished - first_due
    due = f"due within {args.spread:g} s" if args.spread > 0 else "due at one instant"
    print(f"pgqueuer: {n} no-op jobs {due}, {args.managers} manager(s) × batch {args.batch_size}, "
          f"durability {args.durability}: all completed {span:.2f} s after the first was due, {n / span:.0f} jobs/s")
    lags_ms = sorted(lag * 1000 for lag in lags)

    def percentile(p: float) -> float:
        import math
        return lags_ms[min(len(lags_ms) - 1, math.ceil(len(lags_ms) * p) - 1)]

    print(f"lag from due time to start: p50 {percentile(0.5):.2f} ms, p99 {percentile(0.99):.2f} ms, "
          f"p99.9 {percentile(0.999):.2f} ms, max {lags_ms[-1]:.2f} ms")


if __name__ == "__main__":
    ensure_venv()
    arguments = parse_args()
    if arguments.prepare:
        sys.exit(0)
    import uvloop

    uvloop.run(main(arguments))
