"""Nmbrs SOAP API v3 with a user's API key: ``NmbrsClient`` and what it is built from.

Nmbrs retires SOAP on 1 March 2027. Nothing outside this folder imports it but the package's
public face (``webapp/nmbrs/__init__.py``); deleting the folder and those names removes SOAP.
"""

from .client import NmbrsClient
from .credentials import ENVIRONMENTS, Credentials, resolve_base_url
from .transport import SoapTransport, Transport

__all__ = [
    "ENVIRONMENTS",
    "Credentials",
    "NmbrsClient",
    "SoapTransport",
    "Transport",
    "resolve_base_url",
]
