"""Reading a whole REST list page by page, in every reading of ``Pagination`` the spec allows.

Nmbrs' OpenAPI description gives every list a ``pagination`` object with ``pageNumber``,
``pageSize``, ``totalPages``, ``totalRecords`` and a nullable ``nextPage`` link, and requires
none of them; its examples' links are placeholders (``…/{endpoint}?pageNumber=4``) that carry
only ``pageNumber``. So a list is read by these rules, not by trusting one field:

- ``pageSize`` goes with every request, also with a page reached through a link (a link with
  only ``pageNumber`` would otherwise fetch later pages at the default size, 20, and records
  would repeat or be skipped);
- ``nextPage`` is followed only when it is usable: on the base URL's origin (the bearer token
  never goes anywhere else), on the list's own path, and naming the next page. Otherwise the
  next page is asked for by ``pageNumber``;
- the list ends at ``totalPages`` when Nmbrs gives it; without it, when there is no
  ``nextPage`` and ``totalRecords`` is reached or the page came back less than full;
- a record seen twice (by its id) is kept once;
- the number of records must equal ``totalRecords``, which must not change between pages.
  Otherwise ``NmbrsIncompleteList``: a list is never returned shorter than Nmbrs says it is,
  because a sync would archive what is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from ..errors import NmbrsIncompleteList, NmbrsProtocolError

log = logging.getLogger("webapp.nmbrs.rest")

PAGE_SIZE = 100  # the spec's maximum
MAX_PAGES = 10_000  # a loop guard, far above any real account


def rows_of(data: Any) -> Any:
    """A page's records: ``data`` itself (the schema's shape)."""
    return data


@dataclass(frozen=True)
class Pagination:
    """What one page says about the list; every field may be missing (``None``)."""

    number: int | None = None
    size: int | None = None
    total_pages: int | None = None
    total_records: int | None = None
    next_page: str | None = None

    @classmethod
    def read(cls, value: object) -> Pagination:
        if not isinstance(value, dict):
            return cls()
        link = value.get("nextPage")
        return cls(
            number=_count(value.get("pageNumber")),
            size=_count(value.get("pageSize")) or None,
            total_pages=_count(value.get("totalPages")),
            total_records=_count(value.get("totalRecords")),
            next_page=link if isinstance(link, str) and link.strip() else None,
        )


class PagedList:
    """One list being read: give it each page's reply, it says which URL comes next.

    ``first_url`` is the list's URL without paging parameters. ``key`` names each record's id
    (records are kept once per id; records without one are all kept). ``rows`` takes a page's
    ``data`` to its records (for the one reply shape that wraps them).
    """

    def __init__(
        self,
        first_url: str,
        *,
        key: str | None,
        rows: Callable[[Any], Any] = rows_of,
        page_size: int = PAGE_SIZE,
    ):
        parts = urlsplit(first_url)
        self.origin = f"{parts.scheme}://{parts.netloc}".lower()
        self.path = parts.path
        self.params = parse_qsl(parts.query, keep_blank_values=True)
        self.key = key
        self.rows = rows
        self.page_size = page_size
        self.number = 1
        self.records: list[dict[str, Any]] = []
        self._ids: set[str] = set()
        self._totals: set[int] = set()
        self._told_unusable = False

    @property
    def what(self) -> str:
        return f"GET {self.path}"

    def url(self, number: int) -> str:
        """The URL of page ``number``, built from the list's own path and parameters."""
        query = [*self.params, ("pageNumber", str(number)), ("pageSize", str(self.page_size))]
        return f"{self.origin}{self.path}?{urlencode(query)}"

    def add(self, body: Any) -> str | None:
        """Take one page's reply; return the next page's URL, or ``None`` when the list is
        complete. Raises ``NmbrsIncompleteList`` when it ends with the wrong count."""
        if not isinstance(body, dict) or "data" not in body:
            raise NmbrsProtocolError(f"{self.what}: reply has no 'data'")
        rows = self.rows(body["data"])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise NmbrsProtocolError(f"{self.what}: 'data' is not a list of objects")
        page = Pagination.read(body.get("pagination"))
        if page.number is not None and page.number != self.number:
            raise NmbrsProtocolError(
                f"{self.what}: asked for page {self.number}, got page {page.number}"
            )
        if page.total_records is not None:
            self._totals.add(page.total_records)
        new = self._keep(rows)
        if rows and not new:
            raise NmbrsProtocolError(f"{self.what}: page {self.number} repeats earlier pages")
        if not self._more(page, rows):
            self._check()
            return None
        self.number += 1
        return self._next_url(page.next_page)

    def _keep(self, rows: list[dict[str, Any]]) -> int:
        kept = 0
        for row in rows:
            ident = row.get(self.key) if self.key else None
            if isinstance(ident, str) and ident:
                ident = ident.lower()
                if ident in self._ids:
                    continue
                self._ids.add(ident)
            self.records.append(row)
            kept += 1
        return kept

    def _more(self, page: Pagination, rows: list[dict[str, Any]]) -> bool:
        if page.total_pages is not None:
            return self.number < page.total_pages
        if page.next_page is not None:
            return True
        if not rows:
            return False
        if page.total_records is not None:
            return len(self.records) < page.total_records
        # Nothing says how long the list is: a full page (of the size Nmbrs says it served,
        # which may be less than asked) may have another after it.
        return len(rows) >= (page.size or self.page_size)

    def _check(self) -> None:
        if len(self._totals) > 1:
            raise NmbrsIncompleteList(
                f"{self.what}: totalRecords changed while the list was read "
                f"({', '.join(map(str, sorted(self._totals)))})"
            )
        if self._totals:
            (total,) = self._totals
            if len(self.records) != total:
                raise NmbrsIncompleteList(
                    f"{self.what}: read {len(self.records)} records, totalRecords is {total}"
                )

    def _next_url(self, link: str | None) -> str:
        problem = self._unusable(link) if link is not None else "no nextPage"
        if problem is None and link is not None:
            parts = urlsplit(link)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            query["pageSize"] = str(self.page_size)  # always the size asked for
            for name, value in self.params:
                query.setdefault(name, value)
            return f"{self.origin}{self.path}?{urlencode(query)}"
        if link is not None and not self._told_unusable:
            self._told_unusable = True
            log.info(
                "nmbrs %s: nextPage is not usable (%s); asking for pages by number",
                self.what,
                problem,
            )
        return self.url(self.number)

    def _unusable(self, link: str) -> str | None:
        parts = urlsplit(link)
        if f"{parts.scheme}://{parts.netloc}".lower() != self.origin:
            return "another host"
        if unquote(parts.path).rstrip("/") != unquote(self.path).rstrip("/"):
            return "another path"
        number = dict(parse_qsl(parts.query)).get("pageNumber")
        if number != str(self.number):
            return f"pageNumber {number!r}, not {self.number}"
        return None


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
