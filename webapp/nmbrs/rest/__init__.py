"""Nmbrs REST API with OAuth: ``NmbrsRestClient``, its transport, and the consent and token
handling beside it (``oauth.py``). The only API after 1 March 2027."""

from .client import ENDPOINTS, NmbrsRestClient
from .errors import error_from_rest
from .oauth import (
    IDENTITY_URL,
    SCOPES,
    Consent,
    MemoryTokenStore,
    NmbrsOAuth,
    SerialisedTokenStore,
    Tokens,
    TokenSource,
    TokenStore,
)
from .transport import REST_BASE_URL, RestTransport

__all__ = [
    "ENDPOINTS",
    "IDENTITY_URL",
    "REST_BASE_URL",
    "SCOPES",
    "Consent",
    "MemoryTokenStore",
    "NmbrsOAuth",
    "NmbrsRestClient",
    "RestTransport",
    "SerialisedTokenStore",
    "TokenSource",
    "TokenStore",
    "Tokens",
    "error_from_rest",
]
