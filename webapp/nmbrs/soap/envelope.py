"""The one place that builds Nmbrs SOAP 1.1 envelopes, URLs and SOAPAction headers.

Parameters are an ordered sequence of ``(element name, value)`` pairs because the WSDL types are
``xs:sequence``: order matters. A value is ``None`` (sent as ``xsi:nil``), a ``bool``, an ``int``,
a ``Decimal``, a ``str``, or a nested sequence of pairs (a complex element).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from .credentials import Credentials

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
CONTENT_TYPE = "text/xml; charset=utf-8"

# The namespace is the same on every host (Swedish, Dutch, sandbox): it names the API, not the
# server.
_NAMESPACE = "https://api.nmbrs.nl/soap/v3/{service}"

AUTH_HEADER = "AuthHeader"
AUTH_HEADER_WITH_DOMAIN = "AuthHeaderWithDomain"

Params = Sequence[tuple[str, Any]]

# XML 1.0 cannot carry most control characters; a pasted comment must not break the envelope.
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def namespace(service: str) -> str:
    """Return the v3 XML namespace of an Nmbrs service, e.g. ``CompanyService``."""
    return _NAMESPACE.format(service=service)


def service_url(base_url: str, service: str) -> str:
    """Return ``{base}/soap/v3/{Service}.asmx`` for a host base URL."""
    return f"{base_url.rstrip('/')}/soap/v3/{service}.asmx"


def soap_action(service: str, operation: str) -> str:
    """Return the quoted SOAPAction header value for an operation."""
    return f'"{namespace(service)}/{operation}"'


def build_envelope(
    service: str,
    operation: str,
    credentials: Credentials,
    params: Params = (),
    *,
    header: str = AUTH_HEADER_WITH_DOMAIN,
) -> bytes:
    """Build the UTF-8 SOAP 1.1 envelope for one operation call.

    ``header`` is ``AuthHeaderWithDomain`` for every operation except credential discovery
    (``Environment_Get``), which takes the plain ``AuthHeader``.
    """
    ns = namespace(service)
    auth = [("Username", credentials.username), ("Token", credentials.token)]
    if header == AUTH_HEADER_WITH_DOMAIN and credentials.domain:
        auth.append(("Domain", credentials.domain))
    elif header not in (AUTH_HEADER, AUTH_HEADER_WITH_DOMAIN):
        raise ValueError(f"unknown auth header {header!r}")
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<soap:Envelope xmlns:soap="{SOAP_ENV_NS}" xmlns:xsi="{XSI_NS}">',
        f'<soap:Header><{header} xmlns="{ns}">',
    ]
    _write(parts, auth)
    parts.append(f'</{header}></soap:Header><soap:Body><{operation} xmlns="{ns}">')
    _write(parts, params)
    parts.append(f"</{operation}></soap:Body></soap:Envelope>")
    return "".join(parts).encode("utf-8")


def _write(parts: list[str], params: Params) -> None:
    for name, value in params:
        if value is None:
            parts.append(f'<{name} xsi:nil="true" />')
        elif isinstance(value, (list, tuple)):
            parts.append(f"<{name}>")
            _write(parts, value)
            parts.append(f"</{name}>")
        else:
            parts.append(f"<{name}>{format_value(value)}</{name}>")


def format_value(value: Any) -> str:
    """Render a scalar as XML Schema text: ``true``/``false``, integers, dotted decimals."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("an amount must be a finite number")
        # "f" never uses exponent notation, which xs:decimal does not allow.
        return format(value, "f")
    if isinstance(value, float):
        # Binary floats turn 0.1 into 0.1000000000000000055…; amounts must be Decimal.
        raise TypeError("pass amounts as Decimal, not float")
    if isinstance(value, str):
        return escape(_INVALID_XML_CHARS.sub("", value))
    raise TypeError(f"cannot send a {type(value).__name__} to Nmbrs")
