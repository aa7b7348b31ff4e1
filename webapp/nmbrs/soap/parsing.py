"""The one place that reads Nmbrs replies: safe XML parsing, faults, and results → dataclasses.

Replies are untrusted. The parser never resolves entities, never loads a DTD, never touches the
network and keeps libxml2's size limits; a reply with a DOCTYPE is refused outright, since SOAP
1.1 forbids DTDs and a DTD is how XXE and "billion laughs" replies work. Results are read with
one ``fromstring`` and one walk over the children, so time grows linearly with the reply.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from ..errors import NmbrsProtocolError, NmbrsUnavailable
from ..models import (
    Company,
    CostCenter,
    CostUnit,
    Debtor,
    Department,
    Employee,
    EmployeeType,
    Environment,
    PayrollPeriod,
    WageComponent,
    WageType,
)
from .envelope import SOAP_ENV_NS, namespace
from .faults import error_from_fault

_ENVELOPE = f"{{{SOAP_ENV_NS}}}Envelope"
_BODY = f"{{{SOAP_ENV_NS}}}Body"
_FAULT = f"{{{SOAP_ENV_NS}}}Fault"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"

# Statuses that mean "the service is not there right now", whatever the body says.
_UNAVAILABLE_STATUSES = {429, 502, 503, 504}

_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parser objects must not be shared between threads; the client is used from a pool.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,  # keep libxml2's guards; 50 MB of normal elements is well inside
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def parse_xml(content: bytes) -> etree._Element:
    """Parse untrusted XML bytes; ``NmbrsProtocolError`` for DTDs, entities or broken XML."""
    if _has_doctype(content):
        raise NmbrsProtocolError("reply contains a DOCTYPE (DTD/entities are not allowed)")
    try:
        root = etree.fromstring(content, _parser())
    except etree.XMLSyntaxError as exc:
        raise NmbrsProtocolError(f"reply is not well-formed XML: {exc}") from None
    # The prefix check only looks at the start; a DTD after a long comment still ends here.
    if root.getroottree().docinfo.doctype:
        raise NmbrsProtocolError("reply contains a DOCTYPE (DTD/entities are not allowed)")
    return root


def _has_doctype(content: bytes) -> bool:
    head = content[:4096]
    return b"<!DOCTYPE" in head or b"<!ENTITY" in head or b"<!doctype" in head


def _looks_like_html(content: bytes, content_type: str) -> bool:
    if "html" in content_type.lower():
        return True
    head = content[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


def read_result(
    content: bytes, status: int, content_type: str, service: str, operation: str
) -> etree._Element | None:
    """Check one HTTP reply and return its ``{Operation}Result`` element (``None`` if absent).

    Raises the typed error for a SOAP fault, an outage page, or a reply of the wrong shape.
    """
    if _looks_like_html(content, content_type) or not content.strip():
        if status >= 500 or status in _UNAVAILABLE_STATUSES:
            raise NmbrsUnavailable(f"Nmbrs answered HTTP {status} without a SOAP reply")
        raise NmbrsProtocolError(f"Nmbrs answered HTTP {status} with a non-SOAP page")
    try:
        root = parse_xml(content)
    except NmbrsProtocolError:
        if status in _UNAVAILABLE_STATUSES:
            raise NmbrsUnavailable(f"Nmbrs answered HTTP {status}") from None
        raise
    if root.tag != _ENVELOPE:
        raise NmbrsProtocolError(f"reply is not a SOAP 1.1 envelope (root {root.tag!r})")
    body = root.find(_BODY)
    payload = None if body is None else next(iter(body), None)
    if payload is None:
        raise NmbrsProtocolError("SOAP reply without a body element")
    if payload.tag == _FAULT:
        raise error_from_fault(
            payload.findtext("faultcode") or "", payload.findtext("faultstring") or ""
        )
    if status in _UNAVAILABLE_STATUSES:
        raise NmbrsUnavailable(f"Nmbrs answered HTTP {status}")
    if status != 200:
        raise NmbrsProtocolError(f"Nmbrs answered HTTP {status} without a fault")
    ns = namespace(service)
    expected = f"{{{ns}}}{operation}Response"
    if payload.tag != expected:
        raise NmbrsProtocolError(f"expected {operation}Response, got {payload.tag!r}")
    return payload.find(f"{{{ns}}}{operation}Result")


# --- results → dataclasses -------------------------------------------------------------------
#
# A list result is read one of two ways. The fast way asks libxml2 (in C) for each field's texts
# as one column, by the field's name, so the order .NET writes the children in does not matter;
# it is taken only when no item has more children than there are fields and every column has
# one text per item. Then every child is one of the fields with its text, and the k-th text of
# a column is the k-th item's. (Not caught, as before: an item repeating a field that another
# item lacks; .NET writes each element of an xs:sequence once.) Anything else (an omitted
# optional, an empty or nil element, an extra field) takes the careful way: a dict of each
# item's children. Both are linear.


@dataclass(frozen=True)
class _Spec:
    item: str  # the array's item element, e.g. "Employee"
    fields: tuple[str, ...]  # its children in WSDL order
    convert: tuple[Callable[[str], Any] | None, ...]  # per field, for present texts
    order: tuple[int, ...]  # which field feeds each constructor argument
    make: type  # the dataclass

    def build(self, texts: Sequence[str | None]) -> Any:
        """One item from per-field texts in WSDL order (None or "" when absent)."""
        values = [
            None if not text else (conv(text) if conv else text)
            for text, conv in zip(texts, self.convert, strict=True)
        ]
        return self.make(*(values[i] for i in self.order))


_Reader = tuple[etree.XPath, tuple[etree.XPath, ...]]  # (too many children?, the columns)
_READERS: dict[tuple[str, _Spec], _Reader] = {}


def _reader(ns: str, spec: _Spec) -> _Reader:
    reader = _READERS.get((ns, spec))
    if reader is None:
        # "*[k]" takes libxml2's first-match path: one cheap step, where counting each field's
        # elements would be another walk over every child.
        crowded = etree.XPath(f"boolean(*/*[{len(spec.fields) + 1}])")
        columns = tuple(
            etree.XPath(f"*/p:{name}/text()", namespaces={"p": ns}, smart_strings=False)
            for name in spec.fields
        )
        reader = _READERS[(ns, spec)] = (crowded, columns)
    return reader


def _convert(operation: str, result: etree._Element | None, spec: _Spec) -> list[Any]:
    if result is None:
        return []
    count = len(result)
    if count == 0:
        return []
    crowded, columns = _reader(etree.QName(result).namespace or "", spec)
    if not crowded(result):
        texts = [column(result) for column in columns]
        if all(len(column) == count for column in texts):
            # map() keeps the per-item work in C but for the constructor.
            values = [
                column if conv is None else map(conv, column)
                for column, conv in zip(texts, spec.convert, strict=True)
            ]
            try:
                return _without_collector(
                    lambda: list(map(spec.make, *(values[i] for i in spec.order)))
                )
            except (ValueError, TypeError, InvalidOperation):
                pass  # let the careful way below report the bad item
    try:
        return [spec.build([r.get(f) for f in spec.fields]) for r in _records(result)]
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise NmbrsProtocolError(f"unexpected item in {operation} result: {exc!r}") from None


def _without_collector(build: Callable[[], list[Any]]) -> list[Any]:
    """A list's items built with the cyclic garbage collector paused: they hold numbers and
    strings only, so they can form no cycle, yet 10,000 new ones set the collector off a dozen
    times, now and then for a pass over every object in the process. Back on, it counts them
    once. (Another thread's pause may end inside this one, which then collects as usual.)"""
    if not gc.isenabled():
        return build()
    gc.disable()
    try:
        return build()
    finally:
        gc.enable()


def _records(result: etree._Element) -> Iterator[dict[str, str | None]]:
    """Yield each item of an array result as {local element name: text}, skipping nil items."""
    for item in result:
        if not isinstance(item.tag, str) or item.get(_XSI_NIL) == "true":
            continue
        record: dict[str, str | None] = {}
        for child in item:
            tag = child.tag
            if isinstance(tag, str):
                record[tag[tag.rfind("}") + 1 :]] = child.text
        yield record


_DEBTOR = _Spec("Debtor", ("Id", "Number", "Name"), (int, None, None), (0, 1, 2), Debtor)
_COMPANY = _Spec(
    "Company",
    ("ID", "Number", "Name", "LoonaangifteTijdvak"),
    (int, int, None, None),
    (0, 1, 2, 3),
    Company,
)
_WAGE_CODE = _Spec("WageCode", ("Code", "Description"), (int, None), (0, 1), WageType)
_COST_CENTER = _Spec(
    "CostCenter", ("Code", "Description", "Id"), (None, None, int), (2, 0, 1), CostCenter
)
_COST_UNIT = _Spec(
    "CostUnit", ("Id", "Code", "Description"), (int, None, None), (0, 1, 2), CostUnit
)
_DEPARTMENT = _Spec(
    "Department", ("Id", "Code", "Description"), (int, int, None), (0, 1, 2), Department
)
_EMPLOYEE_TYPE = _Spec("EmployeeType", ("Id", "Description"), (int, None), (0, 1), EmployeeType)
_EMPLOYEE = _Spec(
    "Employee", ("Id", "Number", "DisplayName"), (int, int, None), (0, 1, 2), Employee
)
_WAGE_COMPONENT = _Spec(
    "WageComponent", ("Id", "Code", "Value"), (int, int, Decimal), (0, 1, 2), WageComponent
)


def debtors(result: etree._Element | None) -> list[Debtor]:
    """DebtorService ``List_GetAll`` → debtors."""
    return _convert("List_GetAll", result, _DEBTOR)


def companies(result: etree._Element | None) -> list[Company]:
    """CompanyService ``List_GetAll`` / ``List_GetByDebtor`` → companies (note upper-case ID)."""
    return _convert("Company list", result, _COMPANY)


def wage_types(result: etree._Element | None) -> list[WageType]:
    """``WageModel_GetWageCodes`` / ``WageModel2_GetWageCodes`` → wage types."""
    return _convert("WageCodes", result, _WAGE_CODE)


def cost_centers(result: etree._Element | None) -> list[CostCenter]:
    """``CostCenter_GetList`` → cost centers."""
    return _convert("CostCenter_GetList", result, _COST_CENTER)


def cost_units(result: etree._Element | None) -> list[CostUnit]:
    """``CostUnit_GetList`` → cost units."""
    return _convert("CostUnit_GetList", result, _COST_UNIT)


def departments(result: etree._Element | None) -> list[Department]:
    """DebtorService ``Department_GetList`` → departments."""
    return _convert("Department_GetList", result, _DEPARTMENT)


def employee_types(result: etree._Element | None) -> list[EmployeeType]:
    """``EmployeeType_GetList`` → employee types."""
    return _convert("EmployeeType_GetList", result, _EMPLOYEE_TYPE)


def employees(result: etree._Element | None) -> list[Employee]:
    """``List_GetByCompany`` → employees."""
    return _convert("List_GetByCompany", result, _EMPLOYEE)


def wage_components(result: etree._Element | None) -> list[WageComponent]:
    """``WageComponentVar_Get`` → wage components (Value as Decimal)."""
    return _convert("WageComponentVar_Get", result, _WAGE_COMPONENT)


def environment(result: etree._Element | None) -> Environment:
    """``Environment_Get`` → domain and subdomain (either may be absent)."""
    if result is None:
        return Environment(None, None)
    record = {c.tag[c.tag.rfind("}") + 1 :]: c.text for c in result if isinstance(c.tag, str)}
    return Environment(record.get("Domain") or None, record.get("SubDomain") or None)


def scalar_text(operation: str, result: etree._Element | None) -> str:
    """The text of a scalar result; ``NmbrsProtocolError`` when it is missing."""
    if result is None or result.text is None:
        raise NmbrsProtocolError(f"{operation} returned no value")
    return result.text.strip()


def scalar_int(operation: str, result: etree._Element | None) -> int:
    """An ``xs:int`` result, e.g. the Id ``WageComponentVar_Insert`` returns."""
    text = scalar_text(operation, result)
    try:
        return int(text)
    except ValueError:
        raise NmbrsProtocolError(f"{operation} returned {text[:40]!r}, not a number") from None


def scalar_bool(operation: str, result: etree._Element | None) -> bool:
    """An ``xs:boolean`` result."""
    text = scalar_text(operation, result)
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise NmbrsProtocolError(f"{operation} returned {text[:40]!r}, not a boolean")


def period(result: etree._Element | None) -> PayrollPeriod:
    """``Company_GetCurrentPeriod`` → ``PayrollPeriod`` from ``yyyy-p-type``."""
    text = scalar_text("Company_GetCurrentPeriod", result)
    try:
        return PayrollPeriod.parse(text)
    except ValueError:
        raise NmbrsProtocolError(f"unexpected period {text[:40]!r}") from None
