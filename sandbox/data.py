"""Demo data that looks like a Swedish Nmbrs customer, and a generator for large accounts.

Everything is built from a seeded ``random.Random``, so the same call gives the same data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

DEMO_USERNAME = "lon@demo.se"
DEMO_TOKEN = "3f9c2e71b8a04d5e9c6f1a2b7d8e4c30"
DEMO_DOMAIN = "demo"

# A second customer, so that tests can reach for data the demo user must not see.
OTHER_USERNAME = "lon@grannbolaget.se"
OTHER_TOKEN = "b41d0c9e8f7a6b5c4d3e2f1a0b9c8d7e"
OTHER_DOMAIN = "grannbolaget"

LARGE_USERNAME = "lon@stor.se"
LARGE_TOKEN = "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
LARGE_DOMAIN = "stor"

FIRST_NAMES = [
    "Anna", "Erik", "Maria", "Lars", "Karin", "Anders", "Eva", "Johan", "Sara", "Per",
    "Emma", "Karl", "Lena", "Mikael", "Kristina", "Nils", "Ingrid", "Olof", "Linnea", "Gustav",
    "Elin", "Fredrik", "Sofia", "Henrik", "Maja", "Oskar", "Astrid", "Björn", "Frida", "Åsa",
    "Hanna", "Ebba", "Axel", "Märta", "Sven", "Ylva", "Göran", "Tove", "Ulf", "Agnes",
]  # fmt: skip
LAST_NAMES = [
    "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson",
    "Persson", "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson",
    "Bengtsson", "Lindberg", "Lindström", "Lindqvist", "Berglund", "Åberg", "Öberg",
    "Sjöberg", "Ström", "Hedlund", "Forsberg", "Sandberg", "Ek", "Holm", "Wallin", "Björk",
]  # fmt: skip

# (code, description, wage model). Codes look like a Swedish Nmbrs wage model; model 2 repeats
# some codes of model 1, as real companies do, so clients must merge and de-duplicate.
WAGE_TYPES: list[tuple[int, str, int]] = [
    (1000, "Månadslön", 1),
    (1010, "Timlön", 1),
    (1300, "Övertid enkel", 1),
    (1310, "Övertid kvalificerad", 1),
    (1500, "Semesterersättning", 1),
    (5100, "Milersättning egen bil skattefri", 1),
    (5101, "Milersättning egen bil skattepliktig", 1),
    (5110, "Milersättning förmånsbil diesel skattefri", 1),
    (5111, "Milersättning förmånsbil bensin skattefri", 1),
    (5112, "Milersättning förmånsbil el skattefri", 1),
    (5113, "Milersättning förmånsbil skattepliktig", 1),
    (5120, "Milersättning motorcykel skattepliktig", 1),
    (5200, "Traktamente inrikes heldag skattefri", 1),
    (5201, "Traktamente inrikes heldag skattepliktig", 1),
    (5210, "Traktamente inrikes halvdag skattefri", 1),
    (5211, "Traktamente inrikes halvdag skattepliktig", 1),
    (5220, "Traktamente inrikes nattschablon skattefri", 1),
    (5221, "Traktamente inrikes nattschablon skattepliktig", 1),
    (5230, "Traktamente endagsförrättning skattepliktig", 1),
    (5300, "Traktamente utrikes heldag skattefri", 2),
    (5301, "Traktamente utrikes heldag skattepliktig", 2),
    (5310, "Traktamente utrikes halvdag skattefri", 2),
    (5320, "Traktamente utrikes nattschablon skattefri", 2),
    (5400, "Måltidsavdrag frukost", 2),
    (5410, "Måltidsavdrag lunch", 2),
    (5420, "Måltidsavdrag middag", 2),
    (5430, "Måltidsavdrag frukost utrikes", 2),
    (5500, "Utlägg", 2),
    (5510, "Utlägg representation", 2),
    (5520, "Utlägg traktamente kvitto", 2),
    (5100, "Milersättning egen bil skattefri", 2),
    (5200, "Traktamente inrikes heldag skattefri", 2),
    (5500, "Utlägg", 1),
]

COST_CENTERS = [
    ("100", "Ledning"),
    ("200", "Produktion"),
    ("210", "Produktion Göteborg"),
    ("300", "Försäljning"),
    ("400", "Ekonomi och lön"),
    ("500", "Service och underhåll"),
]
COST_UNITS = [
    ("P-1001", "Projekt Kvarnbacken"),
    ("P-1002", "Projekt Hamnkontoret"),
    ("P-1003", "Projekt Skolan i Ödsmål"),
    ("INT", "Interna arbeten"),
]
DEPARTMENTS = [(10, "Administration"), (20, "Produktion"), (30, "Försäljning"), (40, "Service")]
EMPLOYEE_TYPES = [(1, "Tjänsteman"), (2, "Kollektivanställd"), (3, "Praktikant")]


@dataclass
class Row:
    """A code/description row (wage type, cost center, cost unit, department)."""

    id: int
    code: str
    description: str


@dataclass
class EmployeeRow:
    """An employee as the sandbox stores it."""

    id: int
    number: int
    name: str
    type_id: int
    company_id: int


@dataclass
class ComponentRow:
    """A stored variable wage component."""

    id: int
    employee_id: int
    code: int
    value: Decimal
    year: int
    period: int
    cost_center_id: int | None
    cost_unit_id: int | None
    comment: str | None


@dataclass
class CompanyRow:
    """A company with everything the sandbox serves for it."""

    id: int
    number: int
    name: str
    debtor_id: int
    period: tuple[int, int, str]
    wage_model: dict[int, str] = field(default_factory=dict)
    wage_model2: dict[int, str] = field(default_factory=dict)
    cost_centers: dict[int, Row] = field(default_factory=dict)
    cost_units: dict[int, Row] = field(default_factory=dict)
    employees: dict[int, EmployeeRow] = field(default_factory=dict)
    declared: set[tuple[int, int]] = field(default_factory=set)

    def wage_codes(self) -> set[int]:
        """Codes valid in either wage model."""
        return set(self.wage_model) | set(self.wage_model2)


@dataclass
class DebtorRow:
    """A debtor with its departments."""

    id: int
    number: str
    name: str
    departments: dict[int, Row] = field(default_factory=dict)


@dataclass
class Account:
    """An Nmbrs user with API access to some debtors."""

    username: str
    token: str
    domain: str
    debtor_ids: list[int]


class IdSource:
    """Hands out ids that never repeat within one sandbox."""

    def __init__(self, start: int = 100_000):
        self.next_id = start

    def __call__(self) -> int:
        self.next_id += 1
        return self.next_id


@dataclass
class Dataset:
    """Everything the sandbox knows, before any control-API change."""

    accounts: dict[str, Account] = field(default_factory=dict)
    debtors: dict[int, DebtorRow] = field(default_factory=dict)
    companies: dict[int, CompanyRow] = field(default_factory=dict)
    employee_types: list[tuple[int, str]] = field(default_factory=lambda: list(EMPLOYEE_TYPES))
    ids: IdSource = field(default_factory=IdSource)


def swedish_name(rng: random.Random) -> str:
    """A plausible Swedish full name."""
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _fill_company(
    data: Dataset,
    company: CompanyRow,
    rng: random.Random,
    *,
    employees: int,
    wage_types: int,
    cost_centers: int,
    cost_units: int,
) -> None:
    ids = data.ids
    base = (
        WAGE_TYPES
        if wage_types <= len(WAGE_TYPES)
        else WAGE_TYPES
        + [
            (7000 + i, f"Löneart {7000 + i}", 1 + i % 2)
            for i in range(wage_types - len(WAGE_TYPES))
        ]
    )
    for code, description, model in base[: max(wage_types, 0)]:
        (company.wage_model if model == 1 else company.wage_model2)[code] = description
    for i in range(cost_centers):
        row_code, description = (
            COST_CENTERS[i] if i < len(COST_CENTERS) else (f"{1000 + i}", f"Kostnadsställe {i}")
        )
        row_id = ids()
        company.cost_centers[row_id] = Row(row_id, row_code, description)
    for i in range(cost_units):
        row_code, description = (
            COST_UNITS[i] if i < len(COST_UNITS) else (f"K-{2000 + i}", f"Kostnadsenhet {i}")
        )
        row_id = ids()
        company.cost_units[row_id] = Row(row_id, row_code, description)
    for i in range(employees):
        emp_id = ids()
        type_id = 1 if rng.random() < 0.6 else (2 if rng.random() < 0.9 else 3)
        company.employees[emp_id] = EmployeeRow(
            emp_id, company.number * 1000 + i + 1, swedish_name(rng), type_id, company.id
        )


def add_account(
    data: Dataset,
    *,
    username: str,
    token: str,
    domain: str,
    debtor_name: str,
    company_names: list[str],
    periods: list[tuple[int, int, str]],
    employees: list[int],
    wage_types: int = len(WAGE_TYPES),
    cost_centers: int = len(COST_CENTERS),
    cost_units: int = len(COST_UNITS),
    seed: int = 1,
) -> Account:
    """Add an account with one debtor and its companies, filled with generated data."""
    rng = random.Random(seed)
    debtor_id = data.ids()
    debtor = DebtorRow(debtor_id, f"D{debtor_id}", debtor_name)
    for code, description in DEPARTMENTS:
        dep_id = data.ids()
        debtor.departments[dep_id] = Row(dep_id, str(code), description)
    data.debtors[debtor_id] = debtor
    for index, name in enumerate(company_names):
        company_id = data.ids()
        company = CompanyRow(company_id, index + 1, name, debtor_id, periods[index % len(periods)])
        _fill_company(
            data,
            company,
            rng,
            employees=employees[index % len(employees)],
            wage_types=wage_types,
            cost_centers=cost_centers,
            cost_units=cost_units,
        )
        data.companies[company_id] = company
    account = Account(username, token, domain, [debtor_id])
    data.accounts[username.lower()] = account
    return account


def demo_dataset(large: dict | None = None) -> Dataset:
    """The demo customer, a neighbouring customer and, if asked, a generated large account.

    ``large`` takes the keyword arguments of ``add_large_account``.
    """
    data = Dataset()
    add_account(
        data,
        username=DEMO_USERNAME,
        token=DEMO_TOKEN,
        domain=DEMO_DOMAIN,
        debtor_name="Fjällviks Bygg & Service",
        company_names=["Fjällviks Bygg AB", "Fjällviks Service AB"],
        periods=[(2026, 11, "M"), (2026, 10, "M")],
        employees=[24, 16],
        seed=2026,
    )
    add_account(
        data,
        username=OTHER_USERNAME,
        token=OTHER_TOKEN,
        domain=OTHER_DOMAIN,
        debtor_name="Grannbolaget i Kungälv",
        company_names=["Grannbolaget AB"],
        periods=[(2026, 11, "M")],
        employees=[5],
        seed=7,
    )
    if large:
        add_large_account(data, **large)
    return data


def add_large_account(
    data: Dataset,
    *,
    employees: int = 10_000,
    companies: int = 1,
    wage_types: int = 300,
    cost_centers: int = 1_000,
    cost_units: int = 200,
    username: str = LARGE_USERNAME,
    token: str = LARGE_TOKEN,
    domain: str = LARGE_DOMAIN,
    seed: int = 42,
) -> Account:
    """Generate a large account for benchmarks: ``companies`` companies of one debtor, each
    with ``employees`` employees, ``wage_types`` wage types, ``cost_centers`` cost centers and
    ``cost_units`` cost units."""
    return add_account(
        data,
        username=username,
        token=token,
        domain=domain,
        debtor_name="Storföretaget Koncern",
        company_names=[f"Storföretaget {i + 1} AB" for i in range(companies)],
        periods=[(2026, 11, "M")],
        employees=[employees],
        wage_types=wage_types,
        cost_centers=cost_centers,
        cost_units=cost_units,
        seed=seed,
    )
