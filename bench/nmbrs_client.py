"""Benchmark: the Nmbrs client against a bare ``requests.post`` + ``lxml.etree.fromstring``.

Starts the sandbox in a process of its own on loopback (as Nmbrs is: its XML work holds
neither this process's GIL nor its garbage collector) with a generated company of 10,000
employees and 1,000 cost centers, fetches employees and cost centers with each in turn (one rep
of the bare fetch, one of the client, and again: the machine's other work hits both alike),
and prints both medians, their ratio (goal: at most 1.3) with its spread rep by rep, each
side's own CPU, and the client's peak memory (tracemalloc).

    .venv/bin/python bench/nmbrs_client.py [--employees 10000] [--cost-centers 1000] [--reps 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import requests
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import record, start_sandbox, stop  # noqa: E402

from sandbox.data import LARGE_DOMAIN, LARGE_TOKEN, LARGE_USERNAME  # noqa: E402
from webapp.nmbrs import Credentials, NmbrsClient, RetryPolicy, Timeouts  # noqa: E402
from webapp.nmbrs.soap.envelope import (  # noqa: E402
    CONTENT_TYPE,
    build_envelope,
    service_url,
    soap_action,
)


def serve_sandbox(port: int) -> None:
    """The sandbox process (`--sandbox PORT`): the company the parent asked for."""
    import logging

    from werkzeug.serving import make_server

    from sandbox.app import create_sandbox

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app, _state = create_sandbox(large=json.loads(os.environ["BENCH_CLIENT_COMPANY"]))
    server = make_server("127.0.0.1", port, app, threaded=True)
    print("ready", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--cost-centers", type=int, default=1_000)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--sandbox", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sandbox:
        return serve_sandbox(args.sandbox)

    os.environ["BENCH_CLIENT_COMPANY"] = json.dumps(
        {"employees": args.employees, "cost_centers": args.cost_centers}
    )
    procs: list[subprocess.Popen] = []
    try:
        run(args, f"http://127.0.0.1:{start_sandbox(__file__, procs)}")
    finally:
        stop(procs)


def run(args: argparse.Namespace, base: str) -> None:

    credentials = Credentials(LARGE_USERNAME, LARGE_TOKEN, LARGE_DOMAIN)
    client = NmbrsClient(
        credentials,
        environment="sandbox",
        base_url=base,
        timeouts=Timeouts(connect=5, read=60, total=120),
        retry=RetryPolicy(attempts=1),
    )
    company_id = client.companies()[0].id
    # The generator gives employees type 1 (~60 %), 2 and 3; fetch every type like a sync does.
    types = [t.id for t in client.employee_types()]

    def with_client() -> int:
        employees = [e for t in types for e in client.employees(company_id, t)]
        return len(employees) + len(client.cost_centers(company_id))

    # The bare baseline posts byte-identical envelopes and only parses the reply.
    calls = [
        (
            "EmployeeService",
            "List_GetByCompany",
            [("CompanyId", company_id), ("EmployeeType", t)],
        )
        for t in types
    ] + [("CompanyService", "CostCenter_GetList", [("CompanyId", company_id)])]
    prepared = [
        (
            service_url(base, service),
            build_envelope(service, operation, credentials, params),
            {"Content-Type": CONTENT_TYPE, "SOAPAction": soap_action(service, operation)},
        )
        for service, operation, params in calls
    ]
    session = requests.Session()

    def bare() -> int:
        total = 0
        for url, body, headers in prepared:
            root = etree.fromstring(session.post(url, data=body, headers=headers).content)
            total += len(root[0][0][0])
        return total

    assert with_client() == bare(), "client and baseline must fetch the same items"

    def timed(fn) -> tuple[float, float]:
        """Wall and this thread's CPU: the client's own work, without the sandbox's."""
        started, cpu = time.perf_counter(), time.thread_time()
        fn()
        return time.perf_counter() - started, time.thread_time() - cpu

    for _ in range(2):  # warm both: connections, parsers, the sandbox's caches
        bare(), with_client()
    # Alternate the two rep by rep, so that whatever else the machine does hits both alike.
    bare_runs, client_runs = [], []
    for _ in range(args.reps):
        bare_runs.append(timed(bare))
        client_runs.append(timed(with_client))
    bare_median = statistics.median(w for w, _ in bare_runs)
    client_median = statistics.median(w for w, _ in client_runs)
    ratios = sorted(c[0] / b[0] for b, c in zip(bare_runs, client_runs, strict=True))
    bare_cpu = statistics.median(c for _, c in bare_runs)
    client_cpu = statistics.median(c for _, c in client_runs)

    tracemalloc.start()
    with_client()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    items = with_client()
    print(f"company: {args.employees} employees, {args.cost_centers} cost centers ({items} items)")
    print(
        f"{args.reps} reps of each, alternating; medians (the sandbox answers from its own process)"
    )
    print(
        f"bare requests.post + lxml.etree.fromstring: {bare_median * 1000:7.1f} ms "
        f"(its own CPU {bare_cpu * 1000:5.1f} ms)"
    )
    print(
        f"NmbrsClient (typed dataclasses):            {client_median * 1000:7.1f} ms "
        f"(its own CPU {client_cpu * 1000:5.1f} ms)"
    )
    ratio = client_median / bare_median
    quartiles = statistics.quantiles(ratios, n=4)
    print(
        f"ratio client/bare: {ratio:.2f} (goal <= 1.3: {'ok' if ratio <= 1.3 else 'MISSED'}); "
        f"rep by rep {ratios[0]:.2f}-{ratios[-1]:.2f}, middle half {quartiles[0]:.2f}-"
        f"{quartiles[2]:.2f}"
    )
    print(
        f"the client's own CPU beyond the bare fetch: {(client_cpu - bare_cpu) * 1000:.1f} ms for "
        f"{items:,} items (building the typed items; the parse and the HTTP are the same)"
    )
    record("Nmbrs client fetch / bare requests.post + lxml", ratio, "≤ 1.3", ratio <= 1.3)
    print(f"client peak memory (tracemalloc): {peak / 1024 / 1024:.1f} MiB")

    client.close()


if __name__ == "__main__":
    main()
