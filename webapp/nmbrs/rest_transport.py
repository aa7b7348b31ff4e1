"""How REST calls reach Nmbrs: bearer token and subscription key, retries, pages, error mapping.

The REST client speaks in paths and JSON; this module owns HTTP, timeouts, the token (proactive
refresh, one refresh after a 401), 42908 backoff, pagination and turning every failure into a
typed ``NmbrsError`` (via ``errors.error_from_rest``, the one REST mapping).

What is retried:
- reads: on ``NmbrsUnavailable`` (5xx, timeouts, dropped connections) and on 42908, with
  backoff, honouring ``Retry-After``;
- writes: only when the server clearly did not accept the call — 429 (42908) and a 401 that a
  token refresh can fix. Never after a 5xx or a timeout: the caller reads back first.
- 42909 (quota used up) is never retried.

Neither the access token nor the subscription key ever appears in logs, reprs or error text.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from .errors import (
    NmbrsAuthError,
    NmbrsError,
    NmbrsProtocolError,
    NmbrsRateLimited,
    NmbrsUnavailable,
    error_from_rest,
)
from .oauth import Tokens, TokenSource
from .transport import RetryPolicy, Timeouts

log = logging.getLogger("webapp.nmbrs.rest")

REST_BASE_URL = "https://api.nmbrsapp.com"
PAGE_SIZE = 100  # Nmbrs' maximum
MAX_PAGES = 10_000  # a loop guard, far above any real account

# Refresh the access token when it expires within this many seconds.
REFRESH_MARGIN = 120.0
# Never sleep longer than this for one Retry-After, whatever the server says.
MAX_RETRY_AFTER = 60.0


class RestTransport:
    """JSON over a pooled ``requests.Session`` with Nmbrs' headers and retry rules.

    ``tokens`` supplies and refreshes the OAuth tokens; ``subscription_key`` is the
    deployment's ``X-Subscription-Key``. ``sleep`` and ``clock`` are injectable for tests.
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
        max_retry_after: float = MAX_RETRY_AFTER,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self.base_url = (base_url or REST_BASE_URL).rstrip("/")
        self.tokens = tokens
        self._subscription_key = subscription_key
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.max_reply_bytes = max_reply_bytes
        self.refresh_margin = refresh_margin
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._clock = clock
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["User-Agent"] = "Brygga-Nmbrs/1.0"
        self.session = session
        self._origin = _origin(self.base_url)

    def __repr__(self) -> str:
        return f"RestTransport(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()

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

        ``path`` is relative to the base (``/api/...``) or an absolute URL on the same origin
        (a ``nextPage`` link). Statuses in ``allow`` (e.g. 404 for a delete) are returned
        instead of raised.
        """
        url = self._url(path, params)
        data = _encode_json(body) if body is not None else None
        label = f"{method} {urlsplit(url).path}"
        attempts = max(1, self.retry.attempts)
        attempt = 0
        refreshed = False
        tokens = self._fresh_tokens()
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                status, headers, content = self._send(method, url, data, tokens)
                if status in allow or 200 <= status < 300:
                    result = _decode(status, headers, content) if content else None
                    log.debug(
                        "nmbrs %s HTTP %s, %d bytes in %.0f ms",
                        label,
                        status,
                        len(content),
                        (time.monotonic() - started) * 1000,
                    )
                    return status, result
                raise self._error(status, headers, content, label)
            except NmbrsAuthError as exc:
                # A 401 the token can explain: expired early, clock skew, revoked. Refresh once;
                # if the consent is gone the refresh raises NmbrsConsentExpired. Safe for writes:
                # a 401 means the call was not accepted.
                if refreshed or getattr(exc, "http_status", None) != 401 or _gateway_key(exc):
                    log.info("nmbrs %s failed: %s", label, exc)
                    raise
                refreshed = True
                log.info("nmbrs %s: HTTP 401, refreshing the access token once", label)
                tokens = self.tokens.refresh(tokens)
                attempt -= 1  # the refresh is not a retry of a failure
                continue
            except NmbrsRateLimited as exc:
                # 429 means "not accepted": writes may be repeated too.
                if attempt >= attempts:
                    log.warning("nmbrs %s rate limited, giving up: %s", label, exc.message)
                    raise
                delay = self._rate_delay(exc, attempt)
                log.info("nmbrs %s rate limited; retry %d in %.1f s", label, attempt, delay)
                self._sleep(delay)
                tokens = self._fresh_tokens(tokens)
                continue
            except NmbrsUnavailable as exc:
                if write or attempt >= attempts:
                    log.warning("nmbrs %s unavailable: %s", label, exc.message)
                    raise
                delay = self.retry.delay(attempt)
                log.info(
                    "nmbrs %s unavailable (%s); retry %d/%d in %.1f s",
                    label,
                    exc.message,
                    attempt,
                    attempts - 1,
                    delay,
                )
                self._sleep(delay)
                tokens = self._fresh_tokens(tokens)
                continue
            except NmbrsError as exc:
                log.info("nmbrs %s failed: %s", label, exc)
                raise

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """GET every page of a list (``pageSize=100``), following ``pagination.nextPage``.

        Yields each page's ``data``. ``nextPage`` links are only ever followed on the base
        URL's origin: the bearer token is never sent anywhere else.
        """
        query = {**(params or {}), "pageNumber": 1, "pageSize": PAGE_SIZE}
        _, page = self.request("GET", path, params=query)
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if not isinstance(page, dict) or "data" not in page:
                raise NmbrsProtocolError(f"GET {path}: reply has no 'data'")
            yield page["data"]
            pagination = page.get("pagination")
            next_page = pagination.get("nextPage") if isinstance(pagination, dict) else None
            if not next_page:
                return
            if not isinstance(next_page, str) or next_page in seen:
                raise NmbrsProtocolError(f"GET {path}: pagination does not advance")
            seen.add(next_page)
            _, page = self.request("GET", next_page)
        raise NmbrsProtocolError(f"GET {path}: more than {MAX_PAGES} pages")

    # --- internals -----------------------------------------------------------------------

    def _fresh_tokens(self, current: Tokens | None = None) -> Tokens:
        tokens = self.tokens.current() if current is None else current
        if tokens.expires_within(self.refresh_margin, self._clock()):
            tokens = self.tokens.refresh(tokens)
        return tokens

    def _url(self, path: str, params: dict[str, Any] | None) -> str:
        if path.startswith(("http://", "https://")):
            # A nextPage link: keep its path and query, but always on our origin.
            parts = urlsplit(path)
            if _origin(path) != self._origin:
                log.info("nmbrs nextPage on another origin (%s); using ours", _origin(path))
            url = self._origin + parts.path + (f"?{parts.query}" if parts.query else "")
        else:
            url = urljoin(self.base_url + "/", path.lstrip("/"))
        if params:
            query = urlencode({k: v for k, v in params.items() if v is not None})
            if query:
                url += ("&" if "?" in url else "?") + query
        return url

    def _send(
        self, method: str, url: str, data: bytes | None, tokens: Tokens
    ) -> tuple[int, requests.structures.CaseInsensitiveDict, bytes]:
        t = self.timeouts
        headers = {
            "Authorization": f"Bearer {tokens.access_token}",
            "X-Subscription-Key": self._subscription_key,
            "Accept": "application/json",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        deadline = time.monotonic() + t.total
        try:
            response = self.session.request(
                method, url, data=data, headers=headers, timeout=(t.connect, t.read), stream=True
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
                return response.status_code, response.headers, b"".join(chunks)
            finally:
                response.close()
        except requests.Timeout:
            raise NmbrsUnavailable("Nmbrs did not answer in time") from None
        except requests.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                raise NmbrsUnavailable("Nmbrs did not answer in time") from None
            raise NmbrsUnavailable(
                "could not reach Nmbrs (connection refused or dropped)"
            ) from None
        except requests.RequestException as exc:
            raise NmbrsUnavailable(f"connection to Nmbrs broke: {type(exc).__name__}") from None

    def _error(self, status: int, headers, content: bytes, label: str) -> NmbrsError:
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = None
        error = error_from_rest(
            status, body, retry_after=_retry_after(headers.get("Retry-After")), what=f"{label}: "
        )
        error.http_status = status  # type: ignore[attr-defined]
        return _scrub(error, self._secrets())

    def _rate_delay(self, exc: NmbrsRateLimited, attempt: int) -> float:
        if exc.retry_after is not None:
            return max(0.0, min(exc.retry_after, self.max_retry_after))
        return self.retry.delay(attempt)

    def _secrets(self) -> list[str]:
        secrets = [self._subscription_key]
        try:
            tokens = self.tokens.current()
            secrets += [tokens.access_token, tokens.refresh_token or ""]
        except Exception:  # noqa: BLE001 - scrubbing must never mask the real error
            pass
        return [s for s in secrets if s]


def _decode(status: int, headers, content: bytes) -> Any:
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
    return f"{parts.scheme}://{parts.netloc}"


def _gateway_key(exc: NmbrsError) -> bool:
    # A 401 from the API gateway about the subscription key: refreshing the token cannot help.
    return "subscription key" in exc.message.lower()


def _scrub(exc: NmbrsError, secrets: list[str]) -> NmbrsError:
    # Belt and braces: a server could echo a token back in an error detail.
    for secret in secrets:
        if secret in exc.message:
            exc.message = exc.message.replace(secret, "***")
    exc.args = (exc.message,)
    return exc
