"""The REST face's knobs: failures, readings of the spec, and the request log.

Failures (``set_failure``) make calls fail the ways Nmbrs and its gateway do. Readings
(``set_reading``) choose among the replies Nmbrs' OpenAPI description allows where it allows
more than one, so tests can cover both sides of every bet a client makes:

``links``            how ``pagination`` links look: ``"full"`` (the default: this host, the
                     path, the query with ``pageNumber`` and ``pageSize``), ``"absent"`` (no
                     ``nextPage``/``previousPage`` keys), ``"null"`` (always ``null``),
                     ``"page_number_only"`` (``?pageNumber=N`` and nothing else, as every
                     example in the description; following one gets the default page size),
                     ``"placeholder"`` (the examples' ``…/api/companies/439323/{endpoint}``),
                     ``"other_host"`` (the right path on ``https://api.nmbrsapp.com``);
``totals``           ``"present"`` or ``"absent"`` (no ``totalPages``/``totalRecords``);
``optional_fields``  ``"present"`` or ``"absent"``: every field the description does not
                     require is left out, except each record's own id and its lists of child
                     records (an employee's number, a department's code, a company's number
                     and name, a wage component's code and value …);
``page_size_limit``  serve at most this many records per page, whatever ``pageSize`` asks
                     (``pageSize`` in the reply says so), so that small lists span pages;
``withhold``         leave the last N records of every list out of the pages while
                     ``totalRecords`` still counts them: a list that comes back short.

The short token lifetime is the OAuth server's ``set_token_lifetimes(access=…)``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .ids import rest_id

REST_FAILURE_MODES = {
    "throttle": 42908,  # 429 Too_Many_Calls (+ Retry-After when retry_after is set)
    "quota": 42909,  # 429 Quota_Exceeded
    "unauthorized": 40102,  # 401 Invalid_Token
    "forbidden": 40303,  # 403 Unauthorized_AccessData
    "no_subscription": 40304,  # 403 Invalid_Subscription
    "error500": 50001,  # 500 with the JSON error body
    "error502": 50201,  # 502 Bad_Gateway
    "error503": 50301,  # 503 Service_Unavailable
    "html503": 0,  # an HTML 503 page from a load balancer
    "notjson": 0,  # HTTP 200 with an HTML body
    "unexpected": 0,  # HTTP 200 JSON without "data"
    "drop": 0,  # connection closed without an answer
}

LINK_STYLES = ("full", "absent", "null", "page_number_only", "placeholder", "other_host")


@dataclass
class RestFailure:
    mode: str
    times: int | None = None
    endpoints: frozenset[str] | None = None  # e.g. {"employees", "insert_component"}
    methods: frozenset[str] | None = None
    retry_after: float | None = None
    after: bool = False  # run the call first, then fail (a write that did arrive)


@dataclass
class Readings:
    """Which of the spec's allowed replies the REST face gives (module docstring)."""

    links: str = "full"
    totals: str = "present"
    optional_fields: str = "present"
    page_size_limit: int | None = None
    withhold: int = 0


@dataclass
class RestControl:
    """REST-side knobs and the request log."""

    CONTROL_METHODS = frozenset({"set_failure", "clear_failure", "set_reading", "calls", "rest_id"})

    failure: RestFailure | None = None
    readings: Readings = field(default_factory=Readings)
    log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_failure(
        self,
        mode: str,
        times: int | None = None,
        endpoints: list[str] | None = None,
        methods: list[str] | None = None,
        retry_after: float | None = None,
        after: bool = False,
    ) -> dict[str, Any]:
        """Fail the next ``times`` REST calls (all when ``None``) with ``mode``."""
        if mode not in REST_FAILURE_MODES:
            raise ValueError(
                f"unknown REST failure mode {mode!r}; one of {sorted(REST_FAILURE_MODES)}"
            )
        with self.lock:
            self.failure = RestFailure(
                mode,
                None if times is None else int(times),
                frozenset(endpoints) if endpoints else None,
                frozenset(m.upper() for m in methods) if methods else None,
                None if retry_after is None else float(retry_after),
                bool(after),
            )
            return {"mode": mode, "times": times}

    def clear_failure(self) -> dict[str, Any]:
        """Stop failing REST calls."""
        with self.lock:
            self.failure = None
            return {"ok": True}

    def set_reading(
        self,
        links: str | None = None,
        totals: str | None = None,
        optional_fields: str | None = None,
        page_size_limit: int | None = None,
        withhold: int | None = None,
    ) -> dict[str, Any]:
        """Change some readings (module docstring); the others stay. ``reset`` restores all."""
        if links is not None and links not in LINK_STYLES:
            raise ValueError(f"unknown link style {links!r}; one of {LINK_STYLES}")
        for name, value in (("totals", totals), ("optional_fields", optional_fields)):
            if value is not None and value not in ("present", "absent"):
                raise ValueError(f"{name} is 'present' or 'absent', not {value!r}")
        with self.lock:
            r = self.readings
            r.links = links or r.links
            r.totals = totals or r.totals
            r.optional_fields = optional_fields or r.optional_fields
            if page_size_limit is not None:
                r.page_size_limit = int(page_size_limit) if int(page_size_limit) > 0 else None
            if withhold is not None:
                r.withhold = max(0, int(withhold))
            return dict(vars(r))

    def calls(self, clear: bool = False) -> list[dict[str, Any]]:
        """The REST requests served so far: method, endpoint, status, query."""
        with self.lock:
            result = list(self.log)
            if clear:
                self.log.clear()
            return result

    def rest_id(self, kind: str, id: int) -> dict[str, str]:
        """The GUID of a SOAP id."""
        return {"id": rest_id(kind, id)}

    def pick(self, endpoint: str, method: str) -> RestFailure | None:
        with self.lock:
            f = self.failure
            if f is None:
                return None
            if f.endpoints is not None and endpoint not in f.endpoints:
                return None
            if f.methods is not None and method not in f.methods:
                return None
            if f.times is not None:
                if f.times <= 0:
                    return None
                f.times -= 1
            return f

    def record(self, method: str, endpoint: str, status: int, query: dict) -> dict[str, Any]:
        entry = {"method": method, "endpoint": endpoint, "status": status, "query": query}
        with self.lock:
            self.log.append(entry)
        return entry
