"""Part B of bench/web_load.py (its docstring says what and why): a large first sync in the
worker, unpolled and polled by 200 browsers (bench/browsers.py) in turn, with the CPU of each
process involved and the statements that waited for a lock."""

from __future__ import annotations

import collections
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from support import pct, record, summary, verdict

ROOT = Path(__file__).resolve().parent.parent
POLLERS = 200
NMBRS_LATENCY_MS = int(os.environ.get("BENCH_NMBRS_LATENCY_MS", "50"))
# Part B's company: large enough for a first sync to take several seconds.
B_ACCOUNT = {
    "username": "lon@jatte.se",
    "token": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "domain": "jatte",
    "companies": 1,
    "employees": int(os.environ.get("BENCH_SYNC_EMPLOYEES", "30000")),
    "wage_types": 300,
    "cost_centers": 1000,
    "cost_units": 200,
}
B_ROUNDS = ("quiet", "polled", "quiet", "polled", "quiet")


def cpu_seconds(proc) -> float:
    """CPU a process tree has used: itself, its live children and the children it reaped (the
    worker's work horse of each finished job)."""
    import psutil

    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


class DatabaseWatch(threading.Thread):
    """What the database did for one database (a local server), sampled every 0.2 s: the CPU
    of its backends (a backend's last fraction of a sample before it exits is missed, alike in
    every round) and the statements found waiting for a lock, by their first words."""

    def __init__(self, url: str, database: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.database = database
        self.seen: dict[int, float] = {}
        self.cpu = 0.0
        self.waits: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def run(self) -> None:
        import psutil
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stopped.wait(0.2):
                waiting = conn.execute(
                    "SELECT query FROM pg_stat_activity WHERE datname = %s "
                    "AND wait_event_type = 'Lock'",
                    (self.database,),
                ).fetchall()
                for p in psutil.process_iter(["cmdline", "cpu_times"]):
                    line = " ".join(p.info["cmdline"] or ())
                    if f" {self.database} " not in line or not p.info["cpu_times"]:
                        continue
                    used = p.info["cpu_times"].user + p.info["cpu_times"].system
                    with self.lock:
                        self.cpu += used - self.seen.get(p.pid, used)
                        self.seen[p.pid] = used
                with self.lock:
                    self.waits.update(" ".join(q.split()[:4]) for (q,) in waiting)

    def read(self) -> tuple[float, collections.Counter[str]]:
        with self.lock:
            return self.cpu, collections.Counter(self.waits)


def part_b(base, database_url, web_port, cookies, org_id, admin_id, tmp, web, worker, agent):
    import psutil
    import requests
    from sqlalchemy import make_url

    from webapp.extensions import db
    from webapp.models.organization import User
    from webapp.models.recipient import NmbrsConnection, RecipientKind, ReportRecipient
    from webapp.models.sync import SyncRun, SyncStatus, SyncTrigger
    from webapp.services import sync

    requests.post(base + "/_sandbox/call/add_large_account", json=B_ACCOUNT, timeout=300)
    requests.post(base + "/_sandbox/latency", json={"ms": NMBRS_LATENCY_MS}, timeout=10)
    summary_ = requests.get(base + "/_sandbox/summary", timeout=30).json()
    account = next(a for a in summary_["accounts"] if a["username"] == B_ACCOUNT["username"])
    company = account["debtors"][0]["companies"][0]
    connection = {key: account[key] for key in ("username", "token", "domain")} | {
        "environment": "se",
        "token_last4": account["token"][-4:],
        "debtor_id": account["debtors"][0]["id"],
        "company_id": company["id"],
        "company_name": company["name"],
    }

    def start() -> tuple[int, int]:
        """A first sync: a new recipient of the company, every item inserted."""
        recipient = ReportRecipient(
            organization_id=org_id, kind=RecipientKind.NMBRS, display_name=company["name"]
        )
        recipient.nmbrs = NmbrsConnection(**connection)
        db.session.add(recipient)
        db.session.commit()
        run_ = sync.request_sync(
            recipient, trigger=SyncTrigger.MANUAL, user=db.session.get(User, admin_id)
        )
        return recipient.id, run_.id

    def finished(run_id: int, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = db.session.scalar(db.select(SyncRun.status).where(SyncRun.id == run_id))
            db.session.rollback()
            if status not in (SyncStatus.QUEUED, SyncStatus.RUNNING):
                return status
            time.sleep(0.02)
        raise RuntimeError("sync did not finish")

    cookie_file = tmp / "cookies"
    cookie_file.write_text("\n".join(cookies[i % len(cookies)] for i in range(POLLERS)))
    browsers = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "browsers.py"), str(web_port), str(cookie_file),
         agent],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    meters = {
        "worker": psutil.Process(worker.pid),
        "web": psutil.Process(web.pid),
        "browsers": psutil.Process(browsers.pid),
    }
    plain = make_url(database_url)
    database = DatabaseWatch(
        plain.set(drivername="postgresql").render_as_string(False), plain.database
    )
    database.start()
    rounds: list[dict] = []
    try:
        for kind in ("warm-up", *B_ROUNDS):
            time.sleep(1)  # what the round before left behind settles
            before = {k: cpu_seconds(p) for k, p in meters.items()}
            before["database"], waits = database.read()
            started = time.monotonic()
            recipient_id, run_id = start()
            if kind == "polled":  # the tab whose click started it, and 199 more
                url = f"/settings/recipients/{recipient_id}/sync/{run_id}"
                browsers.stdin.write(json.dumps({"url": url, "seconds": 300}) + "\n")
                browsers.stdin.flush()
            status = finished(run_id)
            seconds = time.monotonic() - started
            polls = json.loads(browsers.stdout.readline()) if kind == "polled" else None
            assert status == SyncStatus.SUCCEEDED, status
            time.sleep(0.5)  # the work horse is reaped: its CPU counts
            after = {k: cpu_seconds(p) for k, p in meters.items()}
            after["database"], waits_after = database.read()
            cpu = {k: after[k] - before[k] for k in after}
            rounds.append(
                {
                    "kind": kind,
                    "seconds": seconds,
                    "cpu": cpu,
                    "polls": polls,
                    "waits": waits_after - waits,
                }
            )
    finally:
        database.stopped.set()
        browsers.stdin.close()
        browsers.wait(30)
    return report_b(rounds[1:], company)


def report_b(rounds: list[dict], company: dict) -> list:
    print(
        f"\nB. {POLLERS} browsers polling the progress fragment of a running sync as htmx does "
        f"(asking again a second after each answer, stopping at the first answer without a poll "
        f"trigger), while the worker runs a first sync (a new recipient: every item inserted) "
        f"of a company of {company['employees']:,} employees, {company['cost_centers']:,} cost "
        f"centers and {company['wage_types']} wage types, Nmbrs answering in "
        f"{NMBRS_LATENCY_MS} ms per call; the same sync unpolled before and after each polled one"
    )
    print("   round    sync s   CPU s: worker  database     web  browsers   polls  lock waits")
    for r in rounds:
        c = r["cpu"]
        print(
            f"   {r['kind']:7} {r['seconds']:7.2f}   {c['worker']:13.2f} {c['database']:9.2f} "
            f"{c['web']:7.2f} {c['browsers']:9.2f}   "
            f"{len(r['polls']['ms']) if r['polls'] else 0:5d}  {sum(r['waits'].values()):10d}"
        )
    polled = [r for r in rounds if r["kind"] == "polled"]
    quiet = [r for r in rounds if r["kind"] == "quiet"]
    entry = {"ms": [], "errors": 0, "statuses": {}}
    for r in polled:
        entry["ms"] += r["polls"]["ms"]
        entry["errors"] += r["polls"]["errors"]
        for k, v in r["polls"]["statuses"].items():
            entry["statuses"][k] = entry["statuses"].get(k, 0) + v
    slower = [
        r["seconds"] / statistics.mean(rounds[j]["seconds"] for j in (i - 1, i + 1)) - 1
        for i, r in enumerate(rounds)
        if r["kind"] == "polled"
    ]
    median_slower = statistics.median(slower)
    p95 = pct(entry["ms"], 95)
    polls = len(entry["ms"])

    def mean_cpu(rs: list[dict], key: str) -> float:
        return statistics.mean(r["cpu"][key] for r in rs)

    per_poll = {
        key: (mean_cpu(polled, key) - mean_cpu(quiet, key)) * len(polled) / polls * 1000
        for key in ("web", "database", "browsers")
    }
    busy = sum(r["seconds"] for r in polled)
    polling_cores = sum(
        r["cpu"][k] - mean_cpu(quiet, k) for r in polled for k in ("web", "database", "browsers")
    )
    sync_work = {k: mean_cpu(polled, k) / mean_cpu(quiet, k) - 1 for k in ("worker", "database")}
    print(summary("progress fragment", entry) + f"   statuses {entry['statuses']}")
    print(f"   p95 {p95:.1f} ms   goal ≤ 20 ms: {verdict(p95 <= 20)}")
    print(f"   errors {entry['errors']}   goal 0: {verdict(entry['errors'] == 0)}")
    print(
        f"   each poll cost the web {per_poll['web']:.2f} ms of CPU, the database "
        f"{per_poll['database']:.2f} ms and the simulated browsers (on this machine too) "
        f"{per_poll['browsers']:.2f} ms: the polling took {polling_cores / busy:.2f} of the "
        f"machine's {os.cpu_count()} cores while the polled syncs ran"
    )
    print(
        f"   the sync's own work, polled against unpolled: the worker's CPU "
        f"{sync_work['worker'] * 100:+.0f} %, the database's (the sync's and the polls') "
        f"{sync_work['database'] * 100:+.0f} %"
    )
    waited = {
        kind: sum((r["waits"] for r in rounds if r["kind"] == kind), collections.Counter())
        for kind in ("quiet", "polled")
    }
    for kind, waits in waited.items():
        print(
            f"   statements seen waiting for a lock, {kind}: "
            + (", ".join(f"{q}… ×{n}" for q, n in waits.most_common()) or "none")
        )
    print(
        "   polled sync / the unpolled ones either side: "
        + ", ".join(f"{s * 100:+.1f} %" for s in slower)
        + f"   median {median_slower * 100:+.1f} %   goal ≤ +10 %: {verdict(median_slower <= 0.10)}"
    )
    only_heartbeats = all("heartbeat_at" in q for q in waited["polled"])
    if median_slower > 0.10 and only_heartbeats:
        print(
            "   (no statement waited for a lock but the worker's heartbeat, behind the sync's "
            f"own transaction, and the worker's CPU for the sync changed by "
            f"{sync_work['worker'] * 100:+.0f} %: the sync waited for the CPU the polls took, "
            f"on {os.cpu_count()} cores shared by the web, the worker, the database and the "
            "simulated browsers)"
        )
    record("progress fragment p95 with 200 pollers (ms)", p95, "≤ 20", p95 <= 20)
    record(
        "large first sync polled by 200 tabs / unpolled",
        1 + median_slower,
        "≤ 1.1",
        median_slower <= 0.10,
    )
    return [
        ("B: 0 errors", entry["errors"] == 0),
        ("B: fragment p95 ≤ 20 ms", p95 <= 20),
        ("B: sync ≤ 10 % slower", median_slower <= 0.10),
    ]
