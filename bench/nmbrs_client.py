"""Benchmark: the Nmbrs client against a bare ``requests.post`` + ``lxml.etree.fromstring``.

Starts the sandbox in-process on loopback with a generated company of 10,000 employees and
1,000 cost centers, fetches employees and cost centers several times with each, and prints both
medians, their ratio (goal: at most 1.3) and the client's peak memory (tracemalloc).

    .venv/bin/python bench/nmbrs_client.py [--employees 10000] [--cost-centers 1000] [--reps 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import requests
from lxml import etree
from werkzeug.serving import WSGIRequestHandler, make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox.app import create_sandbox  # noqa: E402
from sandbox.data import LARGE_DOMAIN, LARGE_TOKEN, LARGE_USERNAME  # noqa: E402
from webapp.nmbrs import Credentials, NmbrsClient, RetryPolicy, Timeouts  # noqa: E402
from webapp.nmbrs.soap.envelope import (  # noqa: E402
    CONTENT_TYPE,
    build_envelope,
    service_url,
    soap_action,
)


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--cost-centers", type=int, default=1_000)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()

    app, state = create_sandbox(
        large={"employees": args.employees, "cost_centers": args.cost_centers}
    )
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"

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

    def timed(fn) -> list[float]:
        times = []
        for _ in range(args.reps):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return times

    bare_times, client_times = [], []
    for _ in range(2):  # interleave so that drift hits both alike
        bare_times += timed(bare)
        client_times += timed(with_client)
    bare_median = statistics.median(bare_times)
    client_median = statistics.median(client_times)

    tracemalloc.start()
    with_client()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    items = with_client()
    print(f"company: {args.employees} employees, {args.cost_centers} cost centers ({items} items)")
    print(f"bare requests.post + lxml.etree.fromstring: median {bare_median * 1000:7.1f} ms")
    print(f"NmbrsClient (typed dataclasses):            median {client_median * 1000:7.1f} ms")
    print(f"ratio client/bare: {client_median / bare_median:.2f} (goal <= 1.3)")
    print(f"client peak memory (tracemalloc): {peak / 1024 / 1024:.1f} MiB")

    client.close()
    state.close()
    server.shutdown()


if __name__ == "__main__":
    main()
