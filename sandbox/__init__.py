"""A local stand-in for the Nmbrs SOAP API v3, with Swedish demo data and a control API.

``python -m sandbox --port 8010`` runs it; tests use ``create_sandbox()``.
"""

from .app import SandboxApp, create_sandbox
from .data import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME
from .state import FAILURE_MODES, SandboxState

__all__ = [
    "DEMO_DOMAIN",
    "DEMO_TOKEN",
    "DEMO_USERNAME",
    "FAILURE_MODES",
    "SandboxApp",
    "SandboxState",
    "create_sandbox",
]
