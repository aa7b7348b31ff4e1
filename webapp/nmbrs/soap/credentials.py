"""What a SOAP call authenticates with: the user's API credential and the host it goes to."""

from __future__ import annotations

from dataclasses import dataclass, field

# The SOAP hosts per environment. Fixed on purpose: a browser never chooses the host the token
# is sent to.
ENVIRONMENTS: dict[str, str] = {
    "se": "https://api.nmbrs.se",
    "nl": "https://api.nmbrs.nl",
    "sandbox": "https://api-sandbox.nmbrs.nl",
}


@dataclass(frozen=True)
class Credentials:
    """A user's SOAP API credential: login e-mail, API token and optional domain.

    The token is left out of ``repr`` so that it cannot leak into logs or tracebacks.
    """

    username: str
    token: str = field(repr=False)
    domain: str | None = None

    def __str__(self) -> str:
        return f"{self.username} ({self.domain or 'no domain'})"


def resolve_base_url(environment: str, base_url: str | None = None) -> str:
    """The host for an environment (``se``, ``nl``, ``sandbox``); ``base_url`` overrides all."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"unknown Nmbrs environment {environment!r}")
    return (base_url or ENVIRONMENTS[environment]).rstrip("/")
