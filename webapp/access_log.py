"""Gunicorn's access log without secrets (gunicorn.conf.py points `logger_class` here).

Nmbrs sends the OAuth consent back as `/settings/nmbrs/callback?code=…&state=…`; the default
access-log line would keep both. Every URL the log writes — the request line, the query string
and the referer — has the values of secret-bearing parameters replaced, whatever the route.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

# Query parameters whose values are credentials, or open the door to one.
SECRET_PARAMETERS = frozenset(
    {
        "code",
        "state",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "password",
    }
)
REDACTED = "[redacted]"


def scrub_query(query: str) -> str:
    """The query string with the values of secret parameters redacted; the rest untouched."""
    parts = []
    for part in query.split("&"):
        name, sep, _ = part.partition("=")
        if sep and name.lower() in SECRET_PARAMETERS:
            part = f"{name}={REDACTED}"
        parts.append(part)
    return "&".join(parts)


def scrub_url(url: str) -> str:
    """A path or full URL with its query string scrubbed (see `scrub_query`)."""
    head, sep, query = url.partition("?")
    if not sep:
        return url
    query, hash_sep, fragment = query.partition("#")
    return f"{head}?{scrub_query(query)}{hash_sep}{fragment}"


class ScrubbedLogger(Logger):
    """Gunicorn's logger, with secret query values redacted from every access-log atom."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        method, _, rest = atoms["r"].partition(" ")
        target, _, protocol = rest.rpartition(" ")
        if target:
            atoms["r"] = f"{method} {scrub_url(target)} {protocol}"
        for key in ("q", "{query_string}e"):
            if atoms.get(key):
                atoms[key] = scrub_query(atoms[key])
        for key in ("f", "{referer}i", "{http_referer}e", "{raw_uri}e"):
            if atoms.get(key):
                atoms[key] = scrub_url(atoms[key])
        return atoms
