"""The one HTTP layer under both Nmbrs APIs: pooled sessions, timeouts, bounded reads,
``requests``' exceptions as typed errors, retries with backoff, and secrets scrubbed from every
error that leaves.

SOAP (``soap/``) and REST (``rest/``) differ in what they send and how they read a reply; how
bytes travel, when a call is tried again and what an error may say are decided here, once.

What is retried (``HttpChannel.call``):
- ``NmbrsRateLimited`` (HTTP 429): Nmbrs did not take the call, so writes are repeated too,
  after ``Retry-After`` (capped) or the backoff;
- ``NmbrsUnavailable`` (5xx, outage pages, timeouts, dropped connections): reads only. A write
  may have arrived; the caller reads back before sending it again.
- anything else is raised at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_netrc_auth

from .errors import NmbrsError, NmbrsProtocolError, NmbrsRateLimited, NmbrsUnavailable

log = logging.getLogger("webapp.nmbrs")

T = TypeVar("T")

USER_AGENT = "Brygga-Nmbrs/1.0"
CHUNK = 128 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait: to connect, between two reads, and for a whole reply.

    ``total`` catches a reply that keeps trickling in and so never trips the read timeout.
    """

    connect: float = 5.0
    read: float = 60.0
    total: float = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call is tried again (see the module docstring for which
    calls). ``max_retry_after`` caps a server's ``Retry-After``, whatever it asks."""

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int) -> float:
        """Exponential backoff with jitter, so that parallel workers do not retry in step."""
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)

    def delay_after(self, exc: NmbrsError, attempt: int) -> float:
        """The wait before the next attempt: Nmbrs' ``Retry-After`` when it gave one."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return max(0.0, min(float(retry_after), self.max_retry_after))
        return self.delay(attempt)


@dataclass(frozen=True)
class Reply:
    """One HTTP reply, read whole (and no larger than the channel allows)."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "") or ""


def pooled_session(pool_size: int = 8) -> requests.Session:
    """A ``requests.Session`` sized for a small worker pool sharing one client.

    urllib3's own retries are off: retrying is decided in ``HttpChannel.call``, which knows
    which calls are writes.
    """
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


class HttpChannel:
    """Sends requests and runs the retry loop; every failure leaves as an ``NmbrsError``.

    ``throttle`` is called before every HTTP request, retries included (a shared rate limit).
    ``sleep`` is injectable for tests.

    A request goes straight to the session's connection adapter (its pool, TLS settings and
    proxies), not through ``Session.request``: that would scan the environment for proxies and
    a CA bundle, look for a netrc and run the cookie jar and the redirect machinery on every
    call, about a quarter of the client's HTTP time. What the environment says is read
    once per host instead; Nmbrs' APIs neither redirect nor need cookies.
    """

    def __init__(
        self,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        pool_size: int = 8,
        max_reply_bytes: int = 256 * 1024 * 1024,
        sleep: Callable[[float], None] = time.sleep,
        throttle: Callable[[], object] | None = None,
    ):
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.session = session if session is not None else pooled_session(pool_size)
        self.max_reply_bytes = max_reply_bytes
        self.sleep = sleep
        self.throttle = throttle
        self._settings: dict[tuple[str, str], tuple[dict[str, Any], Any]] = {}

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()

    def send(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """One HTTP exchange, read whole within the timeouts and the size limit.

        Raises ``NmbrsUnavailable`` for network trouble and slow replies, and
        ``NmbrsProtocolError`` for a reply larger than ``max_reply_bytes``.
        """
        if self.throttle is not None:
            self.throttle()
        t = self.timeouts
        started = time.monotonic()
        deadline = started + t.total
        try:
            request, settings = self._prepare(method, url, data, headers)
            response = self.session.get_adapter(url).send(
                request, stream=True, timeout=(t.connect, t.read), **settings
            )
            try:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_content(CHUNK):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > self.max_reply_bytes:
                        raise NmbrsProtocolError(f"reply larger than {self.max_reply_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise NmbrsUnavailable(f"reply took longer than {t.total:g} s")
                reply = Reply(response.status_code, response.headers, b"".join(chunks))
            finally:
                response.close()
        except requests.Timeout:
            raise NmbrsUnavailable("Nmbrs did not answer in time") from None
        except requests.ConnectionError as exc:
            # A read timeout while streaming the body also surfaces as ConnectionError.
            if "timed out" in str(exc).lower():
                raise NmbrsUnavailable("Nmbrs did not answer in time") from None
            raise NmbrsUnavailable(
                "could not reach Nmbrs (connection refused or dropped)"
            ) from None
        except requests.RequestException as exc:
            raise NmbrsUnavailable(f"connection to Nmbrs broke: {type(exc).__name__}") from None
        log.debug(
            "nmbrs %s %s: HTTP %s, %d bytes in %.0f ms",
            method,
            url.split("?", 1)[0],
            reply.status,
            len(reply.content),
            (time.monotonic() - started) * 1000,
        )
        return reply

    def _prepare(
        self, method: str, url: str, data: bytes | None, headers: Mapping[str, str] | None
    ) -> tuple[requests.PreparedRequest, dict[str, Any]]:
        """The request as ``Session.request`` would send it (the session's headers under the
        call's), and the proxies, CA bundle and client certificate for its host."""
        split = urlsplit(url)
        key = (split.scheme, split.netloc)
        cached = self._settings.get(key)
        if cached is None:
            session = self.session
            env = session.merge_environment_settings(url, {}, None, None, None)
            auth: Any = session.auth or (get_netrc_auth(url) if session.trust_env else None)
            cached = self._settings[key] = (
                {"proxies": env["proxies"], "verify": env["verify"], "cert": env["cert"]},
                auth,
            )
        settings, auth = cached
        merged = CaseInsensitiveDict(self.session.headers)
        merged.update(headers or {})
        request = requests.PreparedRequest()
        request.prepare_method(method)
        request.prepare_url(url, None)
        request.prepare_headers({k: v for k, v in merged.items() if v is not None})
        request.prepare_body(data, None)
        request.prepare_auth(auth, url)
        return request, settings

    def call(
        self,
        attempt: Callable[[], T],
        *,
        write: bool,
        label: str,
        secrets: Callable[[], Iterable[str]] = tuple,
    ) -> T:
        """Run ``attempt`` until it succeeds or may not be tried again (module docstring).

        Every ``NmbrsError`` that leaves has ``secrets()`` scrubbed from its message.
        """
        attempts = max(1, self.retry.attempts)
        attempt_no = 0
        while True:
            attempt_no += 1
            try:
                return attempt()
            except NmbrsError as exc:
                scrub(exc, secrets())
                retryable = isinstance(exc, NmbrsRateLimited) or (
                    isinstance(exc, NmbrsUnavailable) and not write
                )
                if not retryable:
                    log.info("nmbrs %s failed: %s", label, exc)
                    raise
                if attempt_no >= attempts:
                    log.warning("nmbrs %s unavailable, giving up: %s", label, exc.message)
                    raise
                delay = self.retry.delay_after(exc, attempt_no)
                log.info(
                    "nmbrs %s unavailable (%s); retry %d/%d in %.1f s",
                    label,
                    exc.message,
                    attempt_no,
                    attempts - 1,
                    delay,
                )
                self.sleep(delay)


def scrub(exc: NmbrsError, secrets: Iterable[str]) -> NmbrsError:
    """Replace every secret in the error's message by ``***`` (belt and braces: a server could
    echo a token back in a fault string or an error detail)."""
    for secret in secrets:
        if secret and secret in exc.message:
            exc.message = exc.message.replace(secret, "***")
    exc.args = (exc.message,)
    return exc
