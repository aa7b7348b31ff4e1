"""Browsers that poll a progress fragment the way htmx does, for bench/web_load.py part B.

A process of its own (its CPU is not the server's GIL), started once and kept for the whole
part; each line on stdin is one round, {"url": ..., "seconds": ceiling}, and its answer one JSON
line on stdout: {"ms": [...], "errors": n, "statuses": {...}, "wall": seconds}.

In a round every browser (one per cookie, on a keep-alive HTTP/1.1 connection of its own,
sending the User-Agent it logged in with) asks for the URL, staggered over the first second.
What it does next is read from the answer, as htmx reads it: the element carrying `hx-get`
and an `hx-trigger` of `load delay:<t>` (or `every <t>`) is asked for again <t> after the
answer arrived; an answer without one (a finished run's fragment) ends that browser's round.
A failed answer is asked again 2 s later (static/app.js does the same). The round ends when
every browser has stopped, or at its ceiling. (The refresh of the page that a finished run's
`HX-Trigger: sync-finished` asks for is not sent: it comes after the sync, which is what the
benchmark times.)

    python bench/browsers.py PORT COOKIES_FILE USER_AGENT     (one Cookie header a line)
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import sys
import time
from html.parser import HTMLParser

RETRY_AFTER_FAILURE_S = 2.0  # static/app.js: a failed poll is asked again 2 s later


class _Triggers(HTMLParser):
    """The first element with both `hx-get` and a timed `hx-trigger`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: tuple[str, float] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found is not None:
            return
        a = dict(attrs)
        delay = _delay(a.get("hx-trigger") or "")
        if a.get("hx-get") and delay is not None:
            self.found = (a["hx-get"], delay)


def _seconds(text: str) -> float | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text.strip())
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 0.001}[m.group(2)]


def _delay(trigger: str) -> float | None:
    """When htmx asks again after the element arrived: `load delay:1s` or `every 1s`."""
    for spec in trigger.split(","):
        words = spec.split()
        if len(words) >= 2 and words[0] == "every":
            return _seconds(words[1])
        if words and words[0] == "load":
            delays = [_seconds(w[6:]) for w in words[1:] if w.startswith("delay:")]
            return delays[0] if delays and delays[0] is not None else 0.0
    return None


def next_poll(body: bytes) -> tuple[str, float] | None:
    """The URL and the wait htmx would poll with after swapping in `body`; None: it stops."""
    parser = _Triggers()
    parser.feed(body.decode("utf-8", "replace"))
    parser.close()
    if parser.found is None:
        return None
    url, delay = parser.found
    return html.unescape(url), delay


async def _request(conn: list, port: int, path: str, cookie: str, agent: str) -> tuple[int, bytes]:
    """One GET on the browser's connection (opened again if the server had closed it)."""
    for attempt in (1, 2):
        if conn[0] is None:
            conn[0] = await asyncio.open_connection("127.0.0.1", port)
        reader, writer = conn[0]
        try:
            head = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
                f"User-Agent: {agent}\r\nHX-Request: true\r\nConnection: keep-alive\r\n\r\n"
            )
            writer.write(head.encode())
            await writer.drain()
            answer = await reader.readuntil(b"\r\n\r\n")
        except (OSError, asyncio.IncompleteReadError):
            writer.close()
            conn[0] = None
            if attempt == 2:
                raise
            continue  # an idle keep-alive connection the server closed: a browser reconnects
        status = int(answer.split(b" ", 2)[1])
        length = re.search(rb"(?i)content-length: *(\d+)", answer)
        body = await reader.readexactly(int(length.group(1))) if length else b""
        if re.search(rb"(?i)\r\nconnection: *close", answer):
            writer.close()
            conn[0] = None
        return status, body
    raise AssertionError("unreachable")


async def _browser(port, cookie, agent, url, offset, deadline, out, conn) -> None:
    await asyncio.sleep(offset)
    while url is not None and time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            status, body = await _request(conn, port, url, cookie, agent)
            ok = status == 200 and b"Traceback" not in body
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status, body, ok = 0, b"", False
        out["ms"].append((time.perf_counter() - started) * 1000)
        out["statuses"][str(status)] = out["statuses"].get(str(status), 0) + 1
        if not ok:
            out["errors"] += 1
            await asyncio.sleep(RETRY_AFTER_FAILURE_S)
            continue
        nxt = next_poll(body)
        if nxt is None:
            break
        url, delay = nxt
        await asyncio.sleep(delay)


async def main(port: int, cookies: list[str], agent: str) -> None:
    conns: list[list] = [[None] for _ in cookies]
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        spec = json.loads(line)
        out = {"ms": [], "errors": 0, "statuses": {}}
        started = time.monotonic()
        deadline = started + spec["seconds"]
        await asyncio.gather(
            *(
                _browser(port, c, agent, spec["url"], i / len(cookies), deadline, out, conns[i])
                for i, c in enumerate(cookies)
            )
        )
        out["wall"] = time.monotonic() - started
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    with open(sys.argv[2], encoding="utf-8") as lines:
        cookies = lines.read().splitlines()
    asyncio.run(main(int(sys.argv[1]), cookies, sys.argv[3]))
