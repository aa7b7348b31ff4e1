"""`make bench`: every benchmark in turn, then the table of issue 15's figures with goals and
verdicts. Each ratio is measured side by side within one benchmark run.

    .venv/bin/python bench/run.py               every benchmark
    .venv/bin/python bench/run.py transfer sync only these

Missed goals are reported, not failed: a busy machine moves the figures (run it three times and
take the medians). The run fails when a figure of the table is missing (a benchmark broke).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Issue 15's table first, in its order; the other benchmarks' own figures follow.
ORDER = ["transfer", "nightly", "sync", "web_load", "nmbrs_client", "tenant_guard"]
TABLE = [
    "transfer of 10,000 lines / bare Insert_Batch calls with the same payloads",
    "nightly fan-out of 500 recipients / the rate-limit floor",
    "most calls in any 1 s window / the configured rate (fleet, account)",
    "sync at 50 ms latency / the dependent-call bound",
    "next-night sync / a bare fetch of the same data",
    "web pages p95 / a bare route in the same server",
    "progress fragment p95 with 200 pollers (ms)",
]


def main(names: list[str]) -> int:
    names = names or ORDER
    results = Path(tempfile.mkdtemp(prefix="brygga-bench-")) / "results.jsonl"
    env = {**os.environ, "BENCH_RESULTS": str(results)}
    durations = {}
    failed: list[str] = []
    for name in names:
        print(f"== bench/{name}.py", flush=True)
        started = time.monotonic()
        proc = subprocess.run([sys.executable, str(HERE / f"{name}.py")], env=env)
        durations[name] = time.monotonic() - started
        if proc.returncode != 0:
            # Some benchmarks exit non-zero on a missed goal: the table still comes.
            print(f"bench/{name}.py exited {proc.returncode}")
            failed.append(name)
    lines = results.read_text().splitlines() if results.exists() else []
    shutil.rmtree(results.parent, ignore_errors=True)
    entries = [json.loads(line) for line in lines]
    by_figure = {e["figure"]: e for e in entries}
    rows = [by_figure[f] for f in TABLE if f in by_figure]
    rows += [e for e in entries if e["figure"] not in TABLE]
    width = max((len(r["figure"]) for r in rows), default=10)
    print("\n== Issue 15's figures (one run; ratios measured side by side)")
    print(f"{'figure':<{width}}  {'goal':>8}  {'now':>8}  verdict")
    for r in rows:
        detail = f"  ({r['detail']})" if r.get("detail") else ""
        print(
            f"{r['figure']:<{width}}  {r['goal']:>8}  {r['value']:8.2f}  "
            f"{'ok' if r['ok'] else 'MISSED'}{detail}"
        )
    print("durations: " + ", ".join(f"{n} {s:.0f} s" for n, s in durations.items()))
    if failed:
        print("exited non-zero: " + ", ".join(failed))
    # A figure missing from the table means a benchmark broke before reaching it.
    return 1 if any(f not in by_figure for f in TABLE) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
