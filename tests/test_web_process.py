"""The web process exactly as the Procfile starts it (gunicorn, its config, its limits): an
oversize request is refused before its body is read, and the access log keeps no secrets."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support import PATIENCE_SECONDS, wait_for

ROOT = Path(__file__).resolve().parent.parent


def procfile_web() -> str:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return next(line for line in lines if line.startswith("web:")).split(":", 1)[1].strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class WebProcess:
    url: str
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def web(app, tmp_path_factory) -> Iterator[WebProcess]:
    """gunicorn from the Procfile's `web:` line, on the test database and Redis, one worker."""
    tmp = tmp_path_factory.mktemp("web")
    port = _free_port()
    env = {
        **os.environ,
        "BRYGGA_ENV": "test",
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "BRYGGA_INSTANCE_PATH": app.instance_path,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "PYTHONUNBUFFERED": "1",  # every access-log line on disk as soon as it is written
        # The Procfile's `gunicorn`: this interpreter's scripts first on the PATH.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = tmp / "web.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["sh", "-c", "exec " + procfile_web()],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    process = WebProcess(f"http://127.0.0.1:{port}", port, log)
    try:
        wait_for(lambda: _answers(process) or proc.poll() is not None)
        assert proc.poll() is None, process.log_text()
        yield process
    finally:
        proc.terminate()
        proc.wait(PATIENCE_SECONDS)


def _answers(web: WebProcess) -> bool:
    try:
        return requests.get(web.url + "/login", timeout=PATIENCE_SECONDS).status_code == 200
    except requests.ConnectionError:
        return False


def _oversize_login(port: int, language: str) -> bytes:
    """POST /login announcing 1.5 GB and sending only the first 64 kB; the whole answer. Had
    the server waited for the body, no answer would come (the socket would time out)."""
    head = (
        "POST /login HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Cookie: lang={language}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        "Content-Length: 1500000000\r\n\r\n"
    ).encode()
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_SECONDS) as sock:
        sock.sendall(head + b"--xyz\r\n" + b"x" * 65_536)
        while not _complete(answer) and (chunk := sock.recv(65_536)):
            answer += chunk
    return answer


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    return bool(sep and length and len(body) >= int(length.group(1)))


def test_an_anonymous_oversize_post_is_refused_before_its_body_is_sent(web):
    answer = _oversize_login(web.port, "sv")
    head, _, page = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:500]
    assert b"Connection: close" in head  # gunicorn reads no more of it for a next request
    assert "Det du skickade är för stort".encode() in page
    assert "Ett kvitto får vara högst 10 MB".encode() in page
    assert b"What you sent is too large" in _oversize_login(web.port, "en")


def test_request_lines_and_headers_past_the_procfiles_limits_are_refused(web):
    long_path = "/login?" + "x" * 9000
    assert requests.get(web.url + long_path, timeout=PATIENCE_SECONDS).status_code == 414
    many = {f"X-Extra-{i}": "1" for i in range(60)}
    assert (
        requests.get(web.url + "/login", headers=many, timeout=PATIENCE_SECONDS).status_code == 431
    )
    huge_cookie = {"Cookie": "a=" + "b" * 9000}
    answer = requests.get(web.url + "/login", headers=huge_cookie, timeout=PATIENCE_SECONDS)
    assert answer.status_code == 431
    assert requests.get(web.url + "/login", timeout=PATIENCE_SECONDS).status_code == 200


def test_the_access_log_keeps_no_oauth_code_or_state(web):
    secret_code, secret_state = "CODE-d1e2a3d4b5e6e7f8", "STATE-0a1b2c3d4e5f6a7b"
    callback = f"/settings/nmbrs/callback?code={secret_code}&state={secret_state}&lang=sv"
    requests.get(
        web.url + callback,
        headers={"Referer": web.url + callback},
        allow_redirects=False,
        timeout=PATIENCE_SECONDS,
    )
    line = wait_for(
        lambda: next(
            (x for x in web.log_text().splitlines() if "/settings/nmbrs/callback" in x), None
        )
    )
    assert "code=[redacted]&state=[redacted]&lang=sv" in line  # still says what was asked
    log = web.log_text()
    assert secret_code not in log and secret_state not in log
