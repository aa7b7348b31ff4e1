"""Nmbrs clients behind one protocol (``PayrollApi``): SOAP API v3 with a user's API key
(``NmbrsClient``, in ``soap/``) and REST with OAuth (``NmbrsRestClient``, in ``rest/``), over
one HTTP layer (``http.py``), with typed results (``models.py``) and typed errors
(``errors.py``). No Flask and no database.

App code imports Nmbrs names from here only. Nmbrs retires SOAP on 1 March 2027: deleting
``soap/`` and its names below removes it; nothing else in this package imports it.

Typical use::

    from webapp.nmbrs import Credentials, NmbrsClient, NmbrsAuthError

    client = NmbrsClient(Credentials(email, token, domain), environment="se",
                         base_url=config.get("NMBRS_BASE_URL"))
    companies = client.companies()

    client = NmbrsRestClient(token_store, subscription_key=key, base_url=...)  # after 2027-03
"""

from .api import PayrollApi
from .errors import (
    NmbrsAuthError,
    NmbrsConsentError,
    NmbrsConsentExpired,
    NmbrsError,
    NmbrsIncompleteList,
    NmbrsPermissionError,
    NmbrsProtocolError,
    NmbrsQuotaExceeded,
    NmbrsRateLimited,
    NmbrsUnavailable,
    NmbrsValidationError,
)
from .http import RetryPolicy, Timeouts
from .models import (
    Company,
    CostCenter,
    CostUnit,
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
from .rest import (
    IDENTITY_URL,
    REST_BASE_URL,
    SCOPES,
    Consent,
    MemoryTokenStore,
    NmbrsOAuth,
    NmbrsRestClient,
    RestTransport,
    SerialisedTokenStore,
    Tokens,
    TokenSource,
    TokenStore,
)
from .soap import (  # SOAP: until 1 March 2027
    ENVIRONMENTS,
    Credentials,
    NmbrsClient,
    SoapTransport,
    Transport,
    resolve_base_url,
)

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
    "IDENTITY_URL",
    "Id",
    "MemoryTokenStore",
    "NewWageComponent",
    "NmbrsAuthError",
    "NmbrsClient",
    "NmbrsConsentError",
    "NmbrsConsentExpired",
    "NmbrsError",
    "NmbrsIncompleteList",
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
    "REST_BASE_URL",
    "RestTransport",
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
