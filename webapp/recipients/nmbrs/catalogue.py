"""Nmbrs' catalogues for the sync: fetched concurrently, and what a failure or a success means
for the connection (a rejected key, an expired consent, a key or consent that works)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from webapp.models import KeyStatus, NmbrsApi, NmbrsConnection, ReportRecipient
from webapp.nmbrs import (
    NmbrsAuthError,
    NmbrsConsentExpired,
    NmbrsError,
    NmbrsPermissionError,
    NmbrsProtocolError,
    NmbrsUnavailable,
    PayrollApi,
)
from webapp.recipients.nmbrs.access import (
    CONSENT_EXPIRED,
    CONSENT_OK,
    CONSENT_PROBLEMS,
    client_for,
    remote_company_id,
    remote_debtor_id,
)
from webapp.recipients.nmbrs.sunset import RETIRED_CODE, SoapKeyRetired
from webapp.services.sync.catalogue import Fetched
from webapp.services.sync.runner import SyncFailure

POOL_SIZE = 6  # concurrent Nmbrs calls within one sync
_FETCH_ORDER = ("companies", "wage_types", "cost_centers", "cost_units", "departments", "employees")


class SyncProblem(Exception):
    """A failure found by the sync itself rather than by the Nmbrs client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.user_message = message


class NmbrsCatalogues:
    """The sync's view of one Nmbrs recipient (`Kind.catalogues`)."""

    def __init__(self, recipient: ReportRecipient) -> None:
        self.recipient = recipient
        self.connection: NmbrsConnection | None = recipient.nmbrs

    @property
    def calls(self) -> int:
        """Calls that start at once: six, five without a debtor; the employee types add theirs."""
        assert self.connection is not None
        return 6 if remote_debtor_id(self.connection) is not None else 5

    def fetch(self, progress: Callable[..., None]) -> Fetched:
        assert self.connection is not None
        fetched = fetch(self.connection, progress)
        connection = self.connection

        def succeeded(now: datetime) -> None:
            if fetched.company_name:
                connection.company_name = fetched.company_name
            if connection.api == NmbrsApi.REST:
                connection.consent_status = CONSENT_OK  # a sync that got through proves it
            else:
                # A sync that got through proves the key works.
                connection.key_status = KeyStatus.OK
                connection.key_checked_at = now

        fetched.succeeded = succeeded
        return fetched

    def failure(self, exc: Exception) -> SyncFailure | None:
        """What a failure of the fetch means; None for one the sync does not know."""
        rest = self.connection is not None and self.connection.api == NmbrsApi.REST
        if isinstance(exc, SoapKeyRetired):
            # Nmbrs closed the API key: connecting with Nmbrs login is the only way on.
            return SyncFailure(RETIRED_CODE, exc.user_message)
        if isinstance(exc, NmbrsConsentExpired):
            # REST: the refresh was refused (the token store has marked the connection).
            return SyncFailure("consent_expired", exc.user_message, mark=self._consent_problem)
        if isinstance(exc, NmbrsAuthError):
            if rest:
                return SyncFailure("rest_auth", exc.user_message)
            return SyncFailure("key_rejected", exc.user_message, mark=self._key_rejected)
        if isinstance(exc, NmbrsUnavailable):
            return SyncFailure("unavailable", exc.user_message, retryable=True)
        if isinstance(exc, NmbrsProtocolError):
            return SyncFailure("protocol", exc.user_message)
        if isinstance(exc, NmbrsPermissionError):
            return SyncFailure("permission", exc.user_message)
        if isinstance(exc, SyncProblem):
            return SyncFailure(exc.code, exc.user_message)
        if isinstance(exc, NmbrsError):
            return SyncFailure(f"nmbrs_{exc.code}" if exc.code else "nmbrs", exc.user_message)
        return None

    def _key_rejected(self, now: datetime) -> None:
        # Until a new key is saved (the key dialog sets it back to ok); the clock skips it.
        if self.connection is not None:
            self.connection.key_status = KeyStatus.REJECTED
            self.connection.key_checked_at = now

    def _consent_problem(self, now: datetime) -> None:
        # Normally marked already by the token store ("expired" or "revoked"); until the admin
        # connects again (the callback sets it back to ok) the clock skips the recipient.
        connection = self.connection
        if connection is not None and connection.consent_status not in CONSENT_PROBLEMS:
            connection.consent_status = CONSENT_EXPIRED


def fetch(
    connection: NmbrsConnection,
    progress: Callable[..., None] | None = None,
    *,
    client: PayrollApi | None = None,
    pool_size: int = POOL_SIZE,
) -> Fetched:
    """Read every catalogue of the connection's company from Nmbrs, concurrently.

    Companies, wage types (both wage models), cost centers, cost units, departments (via the
    debtor) and employee types start at once; employees of each type follow their types.
    Raises the client's NmbrsError, or SyncProblem when the company is gone.
    """
    progress = progress or (lambda *a, **k: None)
    own_client = client is None
    client = client or client_for(connection, rate_limited=True, pool_size=pool_size)
    company_id, debtor_id = remote_company_id(connection), remote_debtor_id(connection)
    if company_id is None:
        if own_client:
            client.close()
        raise SyncProblem(
            "company_missing",
            _(
                "Företaget %(name)s har inget id i Nmbrs REST ännu. Anslut igen med "
                "Nmbrs-inloggning.",
                name=connection.company_name or "",
            ),
        )
    results: dict[str, list] = {}
    employees: dict[int | str, Any] = {}
    executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="nmbrs-sync")
    try:
        tasks: dict[Future, str] = {}

        def submit(key: str, fn: Callable, *args) -> None:
            tasks[executor.submit(fn, *args)] = key

        # The chain employee types → employees is the longest, so it starts first.
        submit("employee_types", client.employee_types)
        submit("companies", client.companies, debtor_id)
        submit("wage_types", client.wage_types, company_id)
        submit("cost_centers", client.cost_centers, company_id)
        submit("cost_units", client.cost_units, company_id)
        if debtor_id is not None:
            submit("departments", client.departments, debtor_id)
        total, done = len(tasks), 0
        pending = set(tasks)
        outstanding = {k: 1 for k in tasks.values()}
        outstanding["employees"] = 1  # until the types are known
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                key = tasks[future]
                value = future.result()  # raises the call's NmbrsError
                done += 1
                outstanding[key] -= 1
                if key == "employee_types":
                    # SOAP reads employees per type; REST has no types and reads them all
                    # at once (employees(company) without a type gives everyone on both).
                    calls: list[tuple] = [(company_id, kind.id) for kind in value] or [
                        (company_id,)
                    ]
                    outstanding["employees"] = len(calls)
                    total += len(calls)
                    for args in calls:
                        future_e = executor.submit(client.employees, *args)
                        tasks[future_e] = "employees"
                        pending.add(future_e)
                elif key == "employees":
                    for employee in value:
                        employees.setdefault(employee.id, employee)
                else:
                    results[key] = value
            step = next((k for k in _FETCH_ORDER if outstanding.get(k, 0) > 0), "employees")
            progress(step, done, total)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        if own_client:
            client.close()

    company = next((c for c in results["companies"] if c.id == company_id), None)
    if company is None:
        raise SyncProblem(
            "company_missing",
            _(
                "Företaget %(name)s syns inte längre för API-nyckeln i Nmbrs. Kontrollera "
                "behörigheterna i Nmbrs, eller ersätt mottagaren med pennan.",
                name=connection.company_name or company_id,
            ),
        )
    rest = connection.api == NmbrsApi.REST
    fetched = Fetched(company_name=company.name, by_guid=rest)
    fetched.items["wage_types"] = [
        (str(w.code) if rest else w.code, str(w.code), w.description or "")
        for w in results["wage_types"]
    ]
    fetched.items["cost_centers"] = [
        (c.id, c.code or "", c.description or "") for c in results["cost_centers"] if c.id
    ]
    fetched.items["cost_units"] = [
        (c.id, c.code or "", c.description or "") for c in results["cost_units"]
    ]
    if "departments" in results:
        fetched.items["departments"] = [
            (d.id, _text(d.code), d.description or "") for d in results["departments"]
        ]
    fetched.items["employees"] = [
        (e.id, _text(e.number), e.display_name or "") for e in employees.values()
    ]
    progress("saving", done, total)  # apply() writes the step "saving" in its transaction
    return fetched


def _text(value: object) -> str:
    """A code or number as the catalogue shows it: blank when Nmbrs gives none (REST may leave
    an employee's number or a department's code out)."""
    return "" if value is None else str(value)
