"""The sandbox's one SOAP ↔ REST id mapping: every SOAP int id has a stable REST GUID.

``rest_id(kind, int_id)`` is uuid5 of a fixed namespace and ``"{kind}:{int_id}"``, so it is the
same in every run and process; ``soap_id`` goes back. Codes and numbers (wage code, employee
number, cost-center code, company number) are the same in both APIs, which is what an app
moving from SOAP to REST matches on; the GUIDs let tests check that it matched right.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from typing import Protocol

from .data import Dataset

NAMESPACE = uuid.UUID("6f1d2c7e-4b3a-5e8f-9a0b-1c2d3e4f5a6b")
KINDS = (
    "debtor",
    "company",
    "employee",
    "costcenter",
    "costunit",
    "department",
    "component",
    "wagemodel",
    "wagecode",
)
_REVERSE: dict[str, tuple[str, int]] = {}
_REVERSE_LOCK = threading.Lock()


def rest_id(kind: str, int_id: int) -> str:
    """The REST GUID of a SOAP int id (stable across runs and processes)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    guid = str(uuid.uuid5(NAMESPACE, f"{kind}:{int(int_id)}"))
    with _REVERSE_LOCK:
        _REVERSE[guid] = (kind, int(int_id))
    return guid


class Indexable(Protocol):
    """What the mapping needs of the sandbox's state to find every id it holds."""

    @property
    def data(self) -> Dataset: ...

    @property
    def stored(self) -> Mapping[int, object]: ...


def soap_id(kind: str, guid: str, state: Indexable | None = None) -> int | None:
    """The SOAP int id behind a GUID, or ``None``. With ``state``, GUIDs this process has not
    handed out yet (a sandbox restarted under a running app) are found by indexing the data."""
    key = (guid or "").strip().lower()
    with _REVERSE_LOCK:
        found = _REVERSE.get(key)
    if found is None and state is not None:
        _index(state)
        with _REVERSE_LOCK:
            found = _REVERSE.get(key)
    return found[1] if found and found[0] == kind else None


def _index(state: Indexable) -> None:
    data = state.data
    for debtor in data.debtors.values():
        rest_id("debtor", debtor.id)
        for row in debtor.departments.values():
            rest_id("department", row.id)
    for company in data.companies.values():
        rest_id("company", company.id)
        for kind, rows in (
            ("employee", company.employees),
            ("costcenter", company.cost_centers),
            ("costunit", company.cost_units),
        ):
            for int_id in rows:
                rest_id(kind, int_id)
    for int_id in state.stored:
        rest_id("component", int_id)
