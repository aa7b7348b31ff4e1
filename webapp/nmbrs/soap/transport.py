"""How SOAP calls reach Nmbrs: the ``Transport`` interface and its SOAP-over-HTTP implementation.

The client speaks in operations and parameters; a transport owns the wire format. Timeouts,
retries, bounded reads, network errors and scrubbing are the shared HTTP layer's
(``webapp.nmbrs.http``), the same under REST.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable

import requests
from lxml import etree

from ..http import HttpChannel, RetryPolicy, Timeouts
from .credentials import Credentials
from .envelope import (
    AUTH_HEADER_WITH_DOMAIN,
    CONTENT_TYPE,
    Params,
    build_envelope,
    service_url,
    soap_action,
)
from .parsing import read_result


class Transport(ABC):
    """One Nmbrs operation call in, its result element out; typed ``NmbrsError`` on failure."""

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
        return self.prepare(
            service, operation, params, credentials=credentials, header=header, write=write
        )()

    @abstractmethod
    def prepare(
        self,
        service: str,
        operation: str,
        params: Params,
        *,
        credentials: Credentials,
        header: str = AUTH_HEADER_WITH_DOMAIN,
        write: bool = False,
    ) -> Callable[[], etree._Element | None]:
        """One operation with its request built now, run when the returned function is called
        (as ``call`` runs it): a caller that sends one call after another builds the next
        while the one before is on the wire."""

    def close(self) -> None:  # noqa: B027 - optional hook; not every transport holds resources
        """Release pooled connections."""


class SoapTransport(Transport):
    """SOAP 1.1 over the shared HTTP channel (a pooled ``requests.Session``).

    ``throttle`` is called before every HTTP request, retries included (a shared rate limit).
    """

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
        throttle: Callable[[], object] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.http = HttpChannel(
            timeouts=timeouts,
            retry=retry,
            session=session,
            pool_size=pool_size,
            max_reply_bytes=max_reply_bytes,
            sleep=sleep,
            throttle=throttle,
        )

    @property
    def session(self) -> requests.Session:
        return self.http.session

    @property
    def timeouts(self) -> Timeouts:
        return self.http.timeouts

    @property
    def retry(self) -> RetryPolicy:
        return self.http.retry

    def prepare(
        self,
        service: str,
        operation: str,
        params: Params,
        *,
        credentials: Credentials,
        header: str = AUTH_HEADER_WITH_DOMAIN,
        write: bool = False,
    ) -> Callable[[], etree._Element | None]:
        """The envelope, built now; posted when called (reads retried on ``NmbrsUnavailable``
        with backoff)."""
        body = build_envelope(service, operation, credentials, params, header=header)
        url = service_url(self.base_url, service)
        headers = {"Content-Type": CONTENT_TYPE, "SOAPAction": soap_action(service, operation)}

        def attempt() -> etree._Element | None:
            status, content_type, content = self._post(url, body, headers)
            return read_result(content, status, content_type, service, operation)

        def run() -> etree._Element | None:
            return self.http.call(
                attempt,
                write=write,
                label=f"{service}.{operation}",
                secrets=lambda: (credentials.token,),
            )

        return run

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        # One HTTP request (an override point: the app's rate-limited transport wraps it).
        reply = self.http.send("POST", url, data=body, headers=headers)
        return reply.status, reply.content_type, reply.content

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.http.close()
