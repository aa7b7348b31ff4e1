"""A local stand-in for Nmbrs: its REST API with OAuth and its SOAP API v3, over Swedish demo
data, with a control API.

``python -m sandbox --port 8010`` runs it; tests use ``create_sandbox()``.

Layout: ``data.py`` (the demo customers) ← ``state.py`` (data, stored amounts, knobs) ←
``rules.py`` (what Nmbrs refuses, for both faces) ← ``rest.py`` and ``soap.py`` (the faces)
← ``app.py`` (routing and the control API). ``ids.py`` maps SOAP ids to REST GUIDs;
``oauth.py`` is the identity server; ``rest_control.py`` the REST knobs and readings.
"""

from .app import SandboxApp, create_sandbox
from .data import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME
from .ids import rest_id, soap_id
from .state import FAILURE_MODES, SandboxState

__all__ = [
    "DEMO_DOMAIN",
    "DEMO_TOKEN",
    "DEMO_USERNAME",
    "FAILURE_MODES",
    "SandboxApp",
    "SandboxState",
    "create_sandbox",
    "rest_id",
    "soap_id",
]
