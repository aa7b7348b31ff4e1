"""`make test`'s dependency audit: pip-audit of requirements.lock against PyPI's advisories.

Fails on a known vulnerability that has a fixed version (update the pin: `make lock`).
Vulnerabilities without a fix are printed, not failed. Where PyPI's vulnerability service
cannot be reached, or does not know the locked versions (a private mirror ahead of PyPI),
the audit is skipped with the reason printed — it is not a pass, and CI (which reaches PyPI)
still runs it.

Accepted vulnerabilities go in IGNORED, each with why and until when.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "requirements.lock"
IGNORED: dict[str, str] = {
    # "GHSA-xxxx-xxxx-xxxx": "why it does not apply to Brygga; review by YYYY-MM-DD",
}


def main() -> int:
    command = [
        str(Path(sys.executable).parent / "pip-audit"),
        "--requirement", str(LOCK),
        "--no-deps", "--disable-pip",  # the lock pins everything; nothing to resolve
        "--vulnerability-service", "pypi",
        "--format", "json", "--progress-spinner", "off",
    ]  # fmt: skip
    for vuln_id in IGNORED:
        command += ["--ignore-vuln", vuln_id]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"dependency audit SKIPPED: pip-audit could not ask PyPI ({reason})")
        return 0
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    if dependencies and len(skipped) == len(dependencies):
        print(
            f"dependency audit SKIPPED: PyPI's vulnerability service knows none of the "
            f"{len(dependencies)} locked versions here ({skipped[0]['skip_reason']}); "
            "this machine's package mirror is not PyPI. CI audits against PyPI."
        )
        return 0
    fixable, unfixed = [], []
    for dep in audited:
        for vuln in dep.get("vulns", []):
            line = f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in {vuln['fix_versions']})"
            (fixable if vuln.get("fix_versions") else unfixed).append(line)
    for line in unfixed:
        print(f"known vulnerability without a fix yet: {line}")
    for dep in skipped:
        print(f"not audited: {dep['name']} {dep.get('version', '')}: {dep['skip_reason']}")
    if fixable:
        print("dependency audit FAILED — update these pins (`make lock`):")
        for line in fixable:
            print(f"  {line}")
        return 1
    print(f"dependency audit: {len(audited)} locked packages, no vulnerability with a fix.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
