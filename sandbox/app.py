"""The sandbox WSGI app: the REST endpoints (``/api/``, see ``rest.py``), the OAuth server
(``/connect/``, see ``oauth.py``), the SOAP endpoints (``/soap/v3/``, see ``soap.py``), and a
JSON control API under ``/_sandbox/`` (``/_sandbox/oauth/<method>`` and
``/_sandbox/rest/<method>`` for the REST side). Both faces answer from the same data
(``state.py``) by the same rules (``rules.py``).

Tests run it in a thread::

    app, state = create_sandbox()
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import rest
from .state import SandboxState

soap: ModuleType | None
try:
    # The SOAP face retires with Nmbrs' SOAP API on 1 March 2027: deleting soap.py removes
    # it, and the REST face, OAuth and the control API serve on as before.
    from . import soap
except ModuleNotFoundError:  # pragma: no cover - once soap.py is gone
    soap = None


class _Released(Exception):
    """A call held back on purpose (latency) outlived its test: the sandbox was reset meanwhile,
    and the call leaves the fresh state alone."""


class SandboxApp:
    """WSGI callable serving Nmbrs' REST API, its OAuth server, the SOAP services (while
    ``soap.py`` exists) and the control API."""

    def __init__(self, state: SandboxState):
        self.state = state
        self.control_urls = Map(
            [
                Rule("/_sandbox/", endpoint="summary", methods=["GET"]),
                Rule("/_sandbox/summary", endpoint="summary", methods=["GET"]),
                Rule("/_sandbox/reset", endpoint="reset", methods=["POST"]),
                Rule(
                    "/_sandbox/accounts/<username>/reset-token",
                    endpoint="reset_token",
                    methods=["POST"],
                ),
                Rule("/_sandbox/latency", endpoint="latency", methods=["POST"]),
                Rule("/_sandbox/failure", endpoint="failure", methods=["POST", "DELETE"]),
                Rule("/_sandbox/components", endpoint="components", methods=["GET"]),
                Rule("/_sandbox/call/<method>", endpoint="call", methods=["POST"]),
                Rule("/_sandbox/oauth/<method>", endpoint="oauth", methods=["POST"]),
                Rule("/_sandbox/rest/<method>", endpoint="rest", methods=["POST"]),
            ]
        )

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        request = Request(environ)
        try:
            if request.path.startswith("/_sandbox"):
                response = self.control(request)
            elif request.path.startswith("/connect/"):
                response = self.state.oauth.handle(request, sorted(self.state.data.accounts))
            elif request.path.startswith("/api/"):
                self._wait_latency()
                response = rest.handle(self.state, request)
            elif soap is not None:
                response = soap.serve(self.state, request, self._wait_latency)
            else:
                response = Response("Not Found", status=404, content_type="text/plain")
        except _Released:
            response = Response("The sandbox was reset", status=503, content_type="text/plain")
        return response(environ, start_response)

    def _wait_latency(self) -> None:
        delay = self.state.latency_ms / 1000
        if delay > 0 and not self.state.hold(delay):
            raise _Released

    # --- control API -----------------------------------------------------------------------

    def control(self, request: Request) -> Response:
        try:
            endpoint, args = self.control_urls.bind_to_environ(request.environ).match()
            payload = request.get_json(silent=True) or {} if request.method == "POST" else {}
            result = self._dispatch(endpoint, args, payload, request)
            return _json(result)
        except (NotFound, MethodNotAllowed) as exc:
            return _json({"error": exc.name}, exc.code or 404)
        except HTTPException as exc:  # pragma: no cover - defensive
            return _json({"error": exc.name}, exc.code or 400)
        except (KeyError, ValueError, TypeError) as exc:
            return _json({"error": f"{type(exc).__name__}: {exc}"}, 400)

    def _dispatch(
        self, endpoint: str, args: Mapping[str, Any], payload: dict, request: Request
    ) -> object:
        state = self.state
        if endpoint == "summary":
            return state.summary()
        if endpoint == "reset":
            return state.reset()
        if endpoint == "reset_token":
            return state.reset_token(args["username"])
        if endpoint == "latency":
            return state.set_latency(payload.get("ms", 0))
        if endpoint == "failure":
            if request.method == "DELETE" or payload.get("mode") in (None, "none"):
                return state.clear_failure()
            return state.set_failure(**payload)
        if endpoint == "components":
            employee_id = request.args.get("employee_id", type=int)
            return state.components(employee_id)
        if endpoint == "call":
            method = args["method"]
            if method not in state.CONTROL_METHODS:
                raise KeyError(f"not a control method: {method}")
            return getattr(state, method)(**payload)
        if endpoint in ("oauth", "rest"):
            target = state.oauth if endpoint == "oauth" else state.rest
            method = args["method"]
            if method not in target.CONTROL_METHODS:
                raise KeyError(f"not a {endpoint} control method: {method}")
            return getattr(target, method)(**payload)
        raise KeyError(endpoint)  # pragma: no cover


def _json(data: object, status: int = 200) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False), status=status, content_type="application/json"
    )


def create_sandbox(*, large: dict | None = None, seed: int = 1) -> tuple[SandboxApp, SandboxState]:
    """Build the sandbox: a WSGI app and the state object behind it.

    ``large`` adds a generated account (keyword arguments of
    ``sandbox.data.add_large_account``: employees, companies, wage_types, cost_centers,
    cost_units).
    """
    state = SandboxState(large=large, seed=seed)
    return SandboxApp(state), state
