"""How calls reach Nmbrs: the ``Transport`` interface and its SOAP-over-HTTP implementation.

The client speaks in operations and parameters; a transport owns the wire format, timeouts,
retries and the mapping of network trouble to ``NmbrsUnavailable``. Nmbrs retires SOAP on
1 March 2027, so a REST transport has to be able to slot in behind the same client.
"""

from __future__ import annotations

import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import requests
from lxml import etree
from requests.adapters import HTTPAdapter

from .envelope import (
    AUTH_HEADER_WITH_DOMAIN,
    CONTENT_TYPE,
    Params,
    build_envelope,
    service_url,
    soap_action,
)
from .errors import NmbrsError, NmbrsProtocolError, NmbrsUnavailable
from .models import Credentials
from .parsing import read_result

log = logging.getLogger("webapp.nmbrs")


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
    """Retries for reads that failed transiently; writes are never retried."""

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0

    def delay(self, attempt: int) -> float:
        """Exponential backoff with jitter, so that parallel workers do not retry in step."""
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return base * random.uniform(0.5, 1.0)


class Transport(ABC):
    """One Nmbrs operation call in, its result element out; typed ``NmbrsError`` on failure."""

    @abstractmethod
    def call(
        self,
        service: str,
        operation: str,
        params: Params,
        *,
        credentials: Credentials,
        header: str = AUTH_HEADER_WITH_DOMAIN,
        write: bool = False,
    ) -> etree._Element | None:
        """Run one operation. ``write=True`` marks calls that change data in Nmbrs, which must
        not be repeated when it is unknown whether the first attempt arrived."""

    def close(self) -> None:  # noqa: B027 - optional hook; not every transport holds resources
        """Release pooled connections."""


class SoapTransport(Transport):
    """SOAP 1.1 over a pooled ``requests.Session``."""

    def __init__(
        self,
        base_url: str,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        pool_size: int = 8,
        max_reply_bytes: int = 256 * 1024 * 1024,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.max_reply_bytes = max_reply_bytes
        self._sleep = sleep
        if session is None:
            session = requests.Session()
            # Sized for a small worker pool sharing one client; urllib3's own retries are off
            # because retrying is decided here, knowing which calls are writes.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["User-Agent"] = "Brygga-Nmbrs/1.0"
        self.session = session

    def call(
        self,
        service: str,
        operation: str,
        params: Params,
        *,
        credentials: Credentials,
        header: str = AUTH_HEADER_WITH_DOMAIN,
        write: bool = False,
    ) -> etree._Element | None:
        """Post one envelope; retry reads on ``NmbrsUnavailable`` with backoff."""
        body = build_envelope(service, operation, credentials, params, header=header)
        url = service_url(self.base_url, service)
        headers = {"Content-Type": CONTENT_TYPE, "SOAPAction": soap_action(service, operation)}
        attempts = 1 if write else max(1, self.retry.attempts)
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            try:
                status, content_type, content = self._post(url, body, headers)
                result = read_result(content, status, content_type, service, operation)
            except NmbrsUnavailable as exc:
                _scrub(exc, credentials.token)
                if attempt >= attempts:
                    log.warning("nmbrs %s.%s unavailable: %s", service, operation, exc.message)
                    raise
                delay = self.retry.delay(attempt)
                log.info(
                    "nmbrs %s.%s unavailable (%s); retry %d/%d in %.1f s",
                    service,
                    operation,
                    exc.message,
                    attempt,
                    attempts - 1,
                    delay,
                )
                self._sleep(delay)
                continue
            except NmbrsError as exc:
                _scrub(exc, credentials.token)
                log.info("nmbrs %s.%s failed: %s", service, operation, exc)
                raise
            log.debug(
                "nmbrs %s.%s HTTP %s, %d bytes in %.0f ms",
                service,
                operation,
                status,
                len(content),
                (time.monotonic() - started) * 1000,
            )
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        t = self.timeouts
        deadline = time.monotonic() + t.total
        try:
            response = self.session.post(
                url, data=body, headers=headers, timeout=(t.connect, t.read), stream=True
            )
            try:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_content(128 * 1024):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > self.max_reply_bytes:
                        raise NmbrsProtocolError(f"reply larger than {self.max_reply_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise NmbrsUnavailable(f"reply took longer than {t.total:g} s")
                return (
                    response.status_code,
                    response.headers.get("Content-Type", ""),
                    b"".join(chunks),
                )
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

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()


def _scrub(exc: NmbrsError, token: str) -> None:
    # Belt and braces: a server could echo the token back in a fault string.
    if token and token in exc.message:
        exc.message = exc.message.replace(token, "***")
        exc.args = (exc.message,)
