"""Nmbrs SOAP API v3 client: typed operations, typed errors, no Flask and no database.

Typical use::

    from webapp.nmbrs import Credentials, NmbrsClient, NmbrsAuthError

    client = NmbrsClient(Credentials(email, token, domain), environment="se",
                         base_url=config.get("NMBRS_BASE_URL"))
    companies = client.companies()
"""

from .client import NmbrsClient, resolve_base_url
from .errors import (
    NmbrsAuthError,
    NmbrsError,
    NmbrsPermissionError,
    NmbrsProtocolError,
    NmbrsUnavailable,
    NmbrsValidationError,
)
from .models import (
    ENVIRONMENTS,
    Company,
    CostCenter,
    CostUnit,
    Credentials,
    Debtor,
    Department,
    Employee,
    EmployeeType,
    Environment,
    NewWageComponent,
    PayrollPeriod,
    WageComponent,
    WageType,
)
from .transport import RetryPolicy, SoapTransport, Timeouts, Transport

__all__ = [
    "ENVIRONMENTS",
    "Company",
    "CostCenter",
    "CostUnit",
    "Credentials",
    "Debtor",
    "Department",
    "Employee",
    "EmployeeType",
    "Environment",
    "NewWageComponent",
    "NmbrsAuthError",
    "NmbrsClient",
    "NmbrsError",
    "NmbrsPermissionError",
    "NmbrsProtocolError",
    "NmbrsUnavailable",
    "NmbrsValidationError",
    "PayrollPeriod",
    "RetryPolicy",
    "SoapTransport",
    "Timeouts",
    "Transport",
    "WageComponent",
    "WageType",
    "resolve_base_url",
]
