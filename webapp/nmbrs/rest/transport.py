"""How REST calls reach Nmbrs: bearer token and subscription key, whole lists, error mapping.

The REST client speaks in paths and JSON; this module adds Nmbrs' headers, the token (refreshed
shortly before it expires, and once after a 401), reading a list page by page (``pages.py``)
and turning every failure reply into a typed ``NmbrsError`` (``errors.error_from_rest``).
Timeouts, retries, bounded reads, network errors and scrubbing are the shared HTTP layer's
(``webapp.nmbrs.http``), the same under SOAP; see there for what is retried. On top of that a
401 that a token refresh can fix is sent once more, writes too: Nmbrs did not take the call.

Neither the access token nor the subscription key ever appears in logs, reprs or error text.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from ..errors import NmbrsAuthError, NmbrsError, NmbrsProtocolError
from ..http import HttpChannel, RetryPolicy, Timeouts
from .errors import error_from_rest
from .oauth import REFRESH_MARGIN, Tokens, TokenSource
from .pages import MAX_PAGES, PAGE_SIZE, PagedList, rows_of

log = logging.getLogger("webapp.nmbrs.rest")

REST_BASE_URL = "https://api.nmbrsapp.com"


class RestTransport:
    """JSON over the shared HTTP channel with Nmbrs' headers and retry rules.

    ``tokens`` supplies and refreshes the OAuth tokens; ``subscription_key`` is the
    deployment's ``X-Subscription-Key``. ``refresh_margin`` caps how long before expiry a token
    is refreshed (see ``Tokens.needs_refresh``). ``sleep`` and ``clock`` are injectable for
    tests; ``throttle`` is called before every HTTP request (a shared rate limit).
    """

    def __init__(
        self,
        base_url: str | None,
        tokens: TokenSource,
        subscription_key: str,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        pool_size: int = 8,
        max_reply_bytes: int = 256 * 1024 * 1024,
        refresh_margin: float = REFRESH_MARGIN,
        max_retry_after: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        throttle: Callable[[], object] | None = None,
    ):
        self.base_url = (base_url or REST_BASE_URL).rstrip("/")
        self.tokens = tokens
        self._subscription_key = subscription_key
        self.refresh_margin = refresh_margin
        self._clock = clock
        self.http = HttpChannel(
            timeouts=timeouts,
            retry=retry
            if max_retry_after is None
            else dataclasses.replace(retry or RetryPolicy(), max_retry_after=max_retry_after),
            session=session,
            pool_size=pool_size,
            max_reply_bytes=max_reply_bytes,
            sleep=sleep,
            throttle=throttle,
        )
        self._origin = _origin(self.base_url)

    def __repr__(self) -> str:
        return f"RestTransport(base_url={self.base_url!r})"

    @property
    def session(self) -> requests.Session:
        return self.http.session

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.http.close()

    # --- one call ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        write: bool = False,
        allow: tuple[int, ...] = (),
    ) -> tuple[int, Any]:
        """One call; returns ``(status, decoded JSON or None)``.

        ``path`` is relative to the base (``/api/...``) or an absolute URL on the base URL's
        origin (a page of a list). Statuses in ``allow`` (e.g. 404 for a delete) are returned
        instead of raised.
        """
        url = self._url(path, params)
        data = _encode_json(body) if body is not None else None
        label = f"{method} {urlsplit(url).path}"
        tokens: Tokens | None = None
        refreshed = False

        def attempt() -> tuple[int, Any]:
            nonlocal tokens, refreshed
            tokens = self._fresh_tokens(tokens)
            while True:
                status, headers, content = self._send(method, url, data, tokens)
                if status in allow or 200 <= status < 300:
                    return status, (_decode(status, headers, content) if content else None)
                error = self._error(status, headers, content, label)
                # A 401 the token can explain (expired early, clock skew, revoked): refresh
                # once; if the consent is gone the refresh raises NmbrsConsentExpired.
                if refreshed or status != 401 or not isinstance(error, NmbrsAuthError):
                    raise error
                if _gateway_key(error):
                    raise error  # the subscription key: a new token cannot help
                refreshed = True
                log.info("nmbrs %s: HTTP 401, refreshing the access token once", label)
                tokens = self.tokens.refresh(tokens)

        return self.http.call(attempt, write=write, label=label, secrets=self._secrets)

    def read_list(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        key: str | None,
        rows: Callable[[Any], Any] = rows_of,
    ) -> list[dict[str, Any]]:
        """GET every page of a list and return its records, once each by ``key`` (their id).

        See ``pages.py`` for how pages are found and the count is checked; raises
        ``NmbrsIncompleteList`` rather than return a list shorter than Nmbrs says it is.
        """
        listing = PagedList(self._url(path, params), key=key, rows=rows, page_size=PAGE_SIZE)
        url: str | None = listing.url(1)
        for _ in range(MAX_PAGES):
            if url is None:
                return listing.records
            _, body = self.request("GET", url)
            url = listing.add(body)
        raise NmbrsProtocolError(f"{listing.what}: more than {MAX_PAGES} pages")

    # --- internals -----------------------------------------------------------------------

    def _fresh_tokens(self, current: Tokens | None = None) -> Tokens:
        tokens = self.tokens.current() if current is None else current
        if tokens.needs_refresh(self._clock(), max_margin=self.refresh_margin):
            tokens = self.tokens.refresh(tokens)
        return tokens

    def _url(self, path: str, params: Mapping[str, Any] | None) -> str:
        if path.startswith(("http://", "https://")):
            if _origin(path) != self._origin:
                # Only pages of a list are absolute, and they are built on our origin.
                raise ValueError("refusing to send the bearer token to another origin")
            url = path
        else:
            url = urljoin(self.base_url + "/", path.lstrip("/"))
        if params:
            query = urlencode({k: v for k, v in params.items() if v is not None})
            if query:
                url += ("&" if "?" in url else "?") + query
        return url

    def _send(
        self, method: str, url: str, data: bytes | None, tokens: Tokens
    ) -> tuple[int, Mapping[str, str], bytes]:
        # One HTTP request (an override point: the app's rate-limited transport wraps it).
        headers = {
            "Authorization": f"Bearer {tokens.access_token}",
            "X-Subscription-Key": self._subscription_key,
            "Accept": "application/json",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        reply = self.http.send(method, url, data=data, headers=headers)
        return reply.status, reply.headers, reply.content

    def _error(
        self, status: int, headers: Mapping[str, str], content: bytes, label: str
    ) -> NmbrsError:
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = None
        error = error_from_rest(
            status, body, retry_after=_retry_after(headers.get("Retry-After")), what=f"{label}: "
        )
        error.http_status = status  # type: ignore[attr-defined]
        return error

    def _secrets(self) -> list[str]:
        secrets = [self._subscription_key]
        try:
            tokens = self.tokens.current()
            secrets += [tokens.access_token, tokens.refresh_token or ""]
        except Exception:  # noqa: BLE001 - scrubbing must never mask the real error
            pass
        return [s for s in secrets if s]


def _decode(status: int, headers: Mapping[str, str], content: bytes) -> Any:
    content_type = (headers.get("Content-Type") or "").lower()
    try:
        # parse_float=Decimal: amounts come back exactly as Nmbrs stores them.
        return json.loads(content, parse_float=Decimal)
    except ValueError:
        kind = content_type.split(";")[0] or "no content type"
        raise NmbrsProtocolError(f"HTTP {status} reply is not JSON ({kind})") from None


def _encode_json(body: dict[str, Any]) -> bytes:
    """JSON with ``Decimal`` written as an exact number (``1234.50``), never via float."""
    decimals: dict[str, str] = {}

    def default(value: object) -> object:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError("amount is not a finite number")
            marker = f"\x00decimal{len(decimals)}\x00"
            decimals[marker] = format(value, "f")
            return marker
        raise TypeError(f"cannot send {type(value).__name__} as JSON")

    text = json.dumps(body, default=default, ensure_ascii=False, separators=(",", ":"))
    for marker, number in decimals.items():
        text = text.replace(json.dumps(marker), number)
    return text.encode()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _gateway_key(exc: NmbrsError) -> bool:
    # A 401 from the API gateway about the subscription key: refreshing the token cannot help.
    return "subscription key" in exc.message.lower()
