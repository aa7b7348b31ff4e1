"""The sandbox's in-memory state and its control methods (the same ones the control API calls).

One ``RLock`` guards everything: the server is threaded, and tests mutate data while a client
is reading.
"""

from __future__ import annotations

import random
import secrets
import threading
from dataclasses import dataclass

from .data import (
    Account,
    CompanyRow,
    ComponentRow,
    Dataset,
    EmployeeRow,
    Row,
    add_large_account,
    demo_dataset,
)
from .oauth import OAuthServer
from .rest_control import RestControl

FAILURE_MODES = (
    "fault",  # HTTP 500 with a SOAP fault (code configurable, default 9999)
    "html503",  # an HTML "503 Service Unavailable" page, as a load balancer sends
    "html502",  # an HTML "502 Bad Gateway" page
    "drop",  # the connection is closed without an answer
    "malformed",  # HTTP 200 with broken XML
    "unexpected",  # HTTP 200 with well-formed XML that is not the expected SOAP reply
    "stall",  # headers and a little of the body, then silence
    "endless",  # a body that keeps trickling in and never ends
    "xxe",  # a reply with a DOCTYPE declaring an external entity
    "billion_laughs",  # a reply with nested entity expansion
)


@dataclass
class Failure:
    """Which calls fail, and how."""

    mode: str
    share: float = 1.0
    times: int | None = None  # fail only this many more calls
    operations: frozenset[str] | None = None  # e.g. {"List_GetByCompany"}; None = all
    code: int = 9999  # for mode "fault"
    # Fail only after the call was carried out (a write is stored, then the answer is lost):
    # what a client sees when Nmbrs times out or drops the connection after committing.
    after: bool = False


class SandboxState:
    """Accounts, companies, stored wage components, and the knobs tests turn."""

    # Methods the control API may call by name (POST /_sandbox/call/<name>).
    CONTROL_METHODS = frozenset(
        {
            "reset",
            "reset_token",
            "set_latency",
            "set_failure",
            "clear_failure",
            "set_current_period",
            "mark_declared",
            "add_wage_type",
            "rename_wage_type",
            "remove_wage_type",
            "add_cost_center",
            "rename_cost_center",
            "remove_cost_center",
            "add_cost_unit",
            "remove_cost_unit",
            "add_employee",
            "rename_employee",
            "remove_employee",
            "add_large_account",
            "summary",
            "components",
        }
    )

    def __init__(self, large: dict | None = None, seed: int = 1):
        self.lock = threading.RLock()
        self._large = large
        self._seed = seed
        self.closing = threading.Event()
        self._released = threading.Event()
        self.stall_seconds = 30.0
        self.reset()

    # --- lifecycle -----------------------------------------------------------------------

    def reset(self) -> dict:
        """Back to the demo data; latency and failures off; stored components gone."""
        with self.lock:
            self.data: Dataset = demo_dataset(self._large)
            self.stored: dict[int, ComponentRow] = {}
            # Component ids per employee, so that a read-back does not scan every component
            # (Nmbrs indexes them too). Deletions happen in ``stored``; readers skip ids gone.
            self.stored_by_employee: dict[int, list[int]] = {}
            self.latency_ms = 0
            self.failure: Failure | None = None
            self.rng = random.Random(self._seed)
            self.calls = 0
            # The REST + OAuth side: grants and tokens, failures and the request log.
            self.oauth = OAuthServer()
            self.rest = RestControl()
            # Calls still held back on purpose (latency, a stall) were made before the reset,
            # by a test that is over: wake them now, so they never act on the fresh data.
            self._released.set()
            self._released = threading.Event()
        return {"ok": True}

    def close(self) -> None:
        """Release handlers that are stalling on purpose, so a server can shut down."""
        self.closing.set()
        self._released.set()

    def hold(self, seconds: float) -> bool:
        """Hold a call back for `seconds`. False when the sandbox was reset or closed in the
        meantime: the call then belongs to the past and must leave the state alone."""
        if self.closing.is_set():
            return False
        return not self._released.wait(seconds)

    # --- knobs ---------------------------------------------------------------------------

    def reset_token(self, username: str) -> dict:
        """Issue a new token, as "Reset token" in Nmbrs does; the old one then gets 1001."""
        with self.lock:
            account = self.account(username)
            account.token = secrets.token_hex(16)
            return {"username": account.username, "token": account.token}

    def set_latency(self, ms: int) -> dict:
        """Delay every SOAP call by ``ms`` milliseconds."""
        with self.lock:
            self.latency_ms = max(0, int(ms))
            return {"latency_ms": self.latency_ms}

    def set_failure(
        self,
        mode: str,
        share: float = 1.0,
        times: int | None = None,
        operations: list[str] | None = None,
        code: int = 9999,
        stall_seconds: float | None = None,
        after: bool = False,
    ) -> dict:
        """Fail a share of SOAP calls (or the next ``times`` calls) with ``mode``; with
        ``after=True`` the call is carried out first (a write is stored) and only the answer
        fails."""
        if mode not in FAILURE_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; one of {', '.join(FAILURE_MODES)}")
        with self.lock:
            self.failure = Failure(
                mode,
                float(share),
                None if times is None else int(times),
                frozenset(operations) if operations else None,
                int(code),
                bool(after),
            )
            if stall_seconds is not None:
                self.stall_seconds = float(stall_seconds)
            return {"mode": mode, "share": share, "times": times, "after": bool(after)}

    def clear_failure(self) -> dict:
        """Stop failing calls."""
        with self.lock:
            self.failure = None
            return {"ok": True}

    def pick_failure(self, operation: str) -> Failure | None:
        """Decide whether this call fails (called once per SOAP request)."""
        with self.lock:
            self.calls += 1
            f = self.failure
            if f is None or (f.operations is not None and operation not in f.operations):
                return None
            if f.times is not None:
                if f.times <= 0:
                    return None
                f.times -= 1
            elif self.rng.random() >= f.share:
                return None
            return f

    # --- lookups used by the SOAP handlers ------------------------------------------------

    def account(self, username: str) -> Account:
        """The account for a login e-mail (case-insensitive); ``KeyError`` if unknown."""
        return self.data.accounts[username.strip().lower()]

    def authenticate(self, username: str, token: str, domain: str | None) -> Account | None:
        """The account when e-mail, token and (if given) domain match; else ``None``."""
        with self.lock:
            account = self.data.accounts.get((username or "").strip().lower())
            if account is None or not secrets.compare_digest(
                account.token.encode(), (token or "").encode()
            ):
                return None
            if domain and domain.strip().lower() != account.domain:
                return None
            return account

    def company(self, company_id: int) -> CompanyRow:
        """A company by id; ``KeyError`` if unknown."""
        return self.data.companies[int(company_id)]

    def employee(self, employee_id: int) -> EmployeeRow | None:
        """Find an employee in any company."""
        for company in self.data.companies.values():
            row = company.employees.get(employee_id)
            if row is not None:
                return row
        return None

    def store_component(self, **fields) -> int:
        """Store a new variable wage component and return its id."""
        with self.lock:
            row = ComponentRow(id=self.data.ids(), **fields)
            self.stored[row.id] = row
            self.stored_by_employee.setdefault(row.employee_id, []).append(row.id)
            return row.id

    def employee_components(self, employee_id: int) -> list[ComponentRow]:
        """The stored components of one employee, oldest first."""
        with self.lock:
            ids = self.stored_by_employee.get(int(employee_id), [])
            return [self.stored[i] for i in ids if i in self.stored]

    def components(self, employee_id: int | None = None) -> list[dict]:
        """Stored components (for tests and demos), optionally for one employee."""
        with self.lock:
            return [
                {
                    "id": c.id,
                    "employee_id": c.employee_id,
                    "code": c.code,
                    "value": str(c.value),
                    "year": c.year,
                    "period": c.period,
                    "cost_center_id": c.cost_center_id,
                    "cost_unit_id": c.cost_unit_id,
                    "comment": c.comment,
                }
                for c in self.stored.values()
                if employee_id is None or c.employee_id == int(employee_id)
            ]

    def summary(self) -> dict:
        """Accounts, debtors and companies with their ids and sizes, for tests and demos."""
        with self.lock:
            return {
                "accounts": [
                    {
                        "username": a.username,
                        "token": a.token,
                        "domain": a.domain,
                        "debtors": [
                            {
                                "id": d,
                                "name": self.data.debtors[d].name,
                                "departments": len(self.data.debtors[d].departments),
                                "companies": [
                                    {
                                        "id": c.id,
                                        "name": c.name,
                                        "period": "{}-{}-{}".format(*c.period),
                                        "employees": len(c.employees),
                                        "employee_ids": list(c.employees)[:5],
                                        "wage_types": len(c.wage_codes()),
                                        "cost_centers": len(c.cost_centers),
                                        "cost_units": len(c.cost_units),
                                    }
                                    for c in self.data.companies.values()
                                    if c.debtor_id == d
                                ],
                            }
                            for d in a.debtor_ids
                        ],
                    }
                    for a in self.data.accounts.values()
                ]
            }

    # --- data changes (for sync tests) ----------------------------------------------------

    def set_current_period(self, company_id: int, year: int, period: int, kind: str = "M") -> dict:
        """Move a company's current payroll period."""
        with self.lock:
            self.company(company_id).period = (int(year), int(period), kind)
            return {"period": f"{year}-{period}-{kind}"}

    def mark_declared(self, company_id: int, year: int, period: int) -> dict:
        """Mark a period's tax declaration as sent (inserts then fail with 2012)."""
        with self.lock:
            self.company(company_id).declared.add((int(year), int(period)))
            return {"ok": True}

    def add_wage_type(self, company_id: int, code: int, description: str, model: int = 1) -> dict:
        """Add (or overwrite) a wage type in wage model 1 or 2."""
        with self.lock:
            company = self.company(company_id)
            (company.wage_model if int(model) == 1 else company.wage_model2)[int(code)] = (
                description
            )
            return {"code": int(code)}

    def rename_wage_type(self, company_id: int, code: int, description: str) -> dict:
        """Change a wage type's description in whichever model has it."""
        with self.lock:
            company = self.company(company_id)
            found = False
            for model in (company.wage_model, company.wage_model2):
                if int(code) in model:
                    model[int(code)] = description
                    found = True
            if not found:
                raise KeyError(code)
            return {"code": int(code)}

    def remove_wage_type(self, company_id: int, code: int) -> dict:
        """Remove a wage type from both models."""
        with self.lock:
            company = self.company(company_id)
            company.wage_model.pop(int(code), None)
            company.wage_model2.pop(int(code), None)
            return {"code": int(code)}

    def add_cost_center(self, company_id: int, code: str, description: str) -> dict:
        """Add a cost center; returns its new id."""
        with self.lock:
            row_id = self.data.ids()
            self.company(company_id).cost_centers[row_id] = Row(row_id, str(code), description)
            return {"id": row_id}

    def rename_cost_center(self, company_id: int, id: int, description: str) -> dict:
        """Change a cost center's description."""
        with self.lock:
            self.company(company_id).cost_centers[int(id)].description = description
            return {"id": int(id)}

    def remove_cost_center(self, company_id: int, id: int) -> dict:
        """Remove a cost center."""
        with self.lock:
            del self.company(company_id).cost_centers[int(id)]
            return {"id": int(id)}

    def add_cost_unit(self, company_id: int, code: str, description: str) -> dict:
        """Add a cost unit; returns its new id."""
        with self.lock:
            row_id = self.data.ids()
            self.company(company_id).cost_units[row_id] = Row(row_id, str(code), description)
            return {"id": row_id}

    def remove_cost_unit(self, company_id: int, id: int) -> dict:
        """Remove a cost unit."""
        with self.lock:
            del self.company(company_id).cost_units[int(id)]
            return {"id": int(id)}

    def add_employee(
        self, company_id: int, name: str, number: int | None = None, type_id: int = 1
    ) -> dict:
        """Hire someone; returns the new employee id."""
        with self.lock:
            company = self.company(company_id)
            emp_id = self.data.ids()
            if number is None:
                number = max((e.number for e in company.employees.values()), default=0) + 1
            company.employees[emp_id] = EmployeeRow(
                emp_id, int(number), name, int(type_id), company.id
            )
            return {"id": emp_id, "number": int(number)}

    def rename_employee(self, company_id: int, id: int, name: str) -> dict:
        """Change an employee's display name."""
        with self.lock:
            self.company(company_id).employees[int(id)].name = name
            return {"id": int(id)}

    def remove_employee(self, company_id: int, id: int) -> dict:
        """Remove an employee from a company."""
        with self.lock:
            del self.company(company_id).employees[int(id)]
            return {"id": int(id)}

    def add_large_account(self, **spec) -> dict:
        """Generate a large account (see ``sandbox.data.add_large_account``)."""
        with self.lock:
            account = add_large_account(self.data, **spec)
            return {"username": account.username, "token": account.token}
