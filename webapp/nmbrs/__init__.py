"""Nmbrs clients: SOAP API v3 (``NmbrsClient``, user token) and REST (``NmbrsRestClient``,
OAuth), typed operations behind one protocol (``PayrollApi``), typed errors, no Flask and no
database.

Typical use::

    from webapp.nmbrs import Credentials, NmbrsClient, NmbrsAuthError

    client = NmbrsClient(Credentials(email, token, domain), environment="se",
                         base_url=config.get("NMBRS_BASE_URL"))
    companies = client.companies()

    client = NmbrsRestClient(token_store, subscription_key=key, base_url=...)  # after 2027-03
"""

from .api import PayrollApi
from .client import NmbrsClient, resolve_base_url
from .errors import (
    NmbrsAuthError,
    NmbrsConsentError,
    NmbrsConsentExpired,
    NmbrsError,
    NmbrsPermissionError,
    NmbrsProtocolError,
    NmbrsQuotaExceeded,
    NmbrsRateLimited,
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
    Id,
    NewWageComponent,
    PayrollPeriod,
    WageComponent,
    WageType,
)
from .oauth import (
    SCOPES,
    Consent,
    MemoryTokenStore,
    NmbrsOAuth,
    SerialisedTokenStore,
    Tokens,
    TokenSource,
    TokenStore,
)
from .rest import NmbrsRestClient
from .transport import RetryPolicy, SoapTransport, Timeouts, Transport

__all__ = [
    "Company",
    "Consent",
    "CostCenter",
    "CostUnit",
    "Credentials",
    "Debtor",
    "Department",
    "ENVIRONMENTS",
    "Employee",
    "EmployeeType",
    "Environment",
    "Id",
    "MemoryTokenStore",
    "NewWageComponent",
    "NmbrsAuthError",
    "NmbrsClient",
    "NmbrsConsentError",
    "NmbrsConsentExpired",
    "NmbrsError",
    "NmbrsOAuth",
    "NmbrsPermissionError",
    "NmbrsProtocolError",
    "NmbrsQuotaExceeded",
    "NmbrsRateLimited",
    "NmbrsRestClient",
    "NmbrsUnavailable",
    "NmbrsValidationError",
    "PayrollApi",
    "PayrollPeriod",
    "RetryPolicy",
    "SCOPES",
    "SerialisedTokenStore",
    "SoapTransport",
    "Timeouts",
    "TokenSource",
    "TokenStore",
    "Tokens",
    "Transport",
    "WageComponent",
    "WageType",
    "resolve_base_url",
]
