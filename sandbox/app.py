"""The sandbox WSGI app: the Nmbrs SOAP endpoints, the REST endpoints (``/api/``, see
``rest.py``), the OAuth server (``/connect/``, see ``oauth.py``), and a JSON control API under
``/_sandbox/`` (``/_sandbox/oauth/<method>`` and ``/_sandbox/rest/<method>`` for the REST side).

Tests run it in a thread::

    app, state = create_sandbox()
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterable, Iterator

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from . import rest
from .soap import SERVICES, Fault, fault_body, handle, nmbrs_fault, operation_from_action
from .state import Failure, SandboxState

_SERVICE_PATH = re.compile(r"^/soap/v3/(\w+)\.asmx$")
_XML = "text/xml; charset=utf-8"

_HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>{status}</title></head><body><h1>{status}</h1>"
    "<p>The server is temporarily unable to service your request. Please try again later.</p>"
    "</body></html>"
)

_ENVELOPE_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
    'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
)

_XXE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    '<{op}Response xmlns="https://api.nmbrs.nl/soap/v3/{service}"><{op}Result>&xxe;'
    "</{op}Result></{op}Response></soap:Body></soap:Envelope>"
)


def _billion_laughs(service: str, op: str) -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<!DOCTYPE soap:Envelope [{''.join(entities)}]>"
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<{op}Response xmlns="https://api.nmbrs.nl/soap/v3/{service}"><{op}Result>&lol9;'
        f"</{op}Result></{op}Response></soap:Body></soap:Envelope>"
    )


class SandboxApp:
    """WSGI callable serving the three Nmbrs services and the control API."""

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
        if request.path.startswith("/_sandbox"):
            response = self.control(request)
        elif request.path.startswith("/connect/"):
            response = self.state.oauth.handle(request, sorted(self.state.data.accounts))
        elif request.path.startswith("/api/"):
            self._wait_latency()
            response = rest.handle(self.state, request)
        else:
            response = self.soap(request, environ)
        return response(environ, start_response)

    # --- SOAP ----------------------------------------------------------------------------

    def soap(self, request: Request, environ) -> Response:
        match = _SERVICE_PATH.match(request.path)
        if not match or match.group(1) not in SERVICES:
            return Response("Not Found", status=404, content_type="text/html")
        service = match.group(1)
        if request.method != "POST":
            return Response(
                "The sandbox does not serve WSDLs; see shared/nmbrs/wsdl.",
                status=405 if "wsdl" not in request.query_string.decode().lower() else 404,
                content_type="text/plain",
            )
        if request.mimetype not in ("text/xml", "application/soap+xml"):
            return Response("Unsupported Media Type", status=415, content_type="text/plain")
        body = request.get_data(cache=False)
        self._wait_latency()
        soap_action = request.headers.get("SOAPAction")
        operation = operation_from_action(service, soap_action) or ""
        failure = self.state.pick_failure(operation)
        if failure is not None and not failure.after:
            return self.fail(failure, service, operation or "List_GetAll", environ)
        try:
            response = Response(handle(self.state, service, soap_action, body), content_type=_XML)
        except Fault as fault:
            response = Response(fault_body(fault), status=500, content_type=_XML)
        if failure is not None:  # carried out; now the answer is lost on the way back
            return self.fail(failure, service, operation or "List_GetAll", environ)
        return response

    def _wait_latency(self) -> None:
        delay = self.state.latency_ms / 1000
        if delay > 0:
            self.state.closing.wait(delay)

    def fail(self, failure: Failure, service: str, op: str, environ) -> Response:
        """Answer the way a broken Nmbrs or its load balancer would."""
        mode = failure.mode
        if mode == "fault":
            return Response(fault_body(nmbrs_fault(failure.code)), status=500, content_type=_XML)
        if mode in ("html503", "html502"):
            status = "503 Service Unavailable" if mode == "html503" else "502 Bad Gateway"
            return Response(
                _HTML_PAGE.format(status=status), status=status, content_type="text/html"
            )
        if mode == "drop":
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
            return Response(b"", status=200)
        if mode == "malformed":
            return Response(
                _ENVELOPE_HEAD + f"<{op}Response><{op}Result><Item><Id>1</I", content_type=_XML
            )
        if mode == "unexpected":
            return Response('<?xml version="1.0"?><status>maintenance</status>', content_type=_XML)
        if mode == "xxe":
            return Response(_XXE.format(op=op, service=service), content_type=_XML)
        if mode == "billion_laughs":
            return Response(_billion_laughs(service, op), content_type=_XML)
        if mode == "stall":
            return Response(self._stall(), content_type=_XML)
        if mode == "endless":
            return Response(self._endless(op), content_type=_XML)
        raise AssertionError(mode)  # pragma: no cover - set_failure validates modes

    def _stall(self) -> Iterator[bytes]:
        yield _ENVELOPE_HEAD.encode()
        self.state.closing.wait(self.state.stall_seconds)

    def _endless(self, op: str) -> Iterator[bytes]:
        yield (_ENVELOPE_HEAD + f"<{op}Response><{op}Result>").encode()
        deadline = time.monotonic() + 600
        # Small pieces often enough that no read timeout ever fires.
        while time.monotonic() < deadline and not self.state.closing.wait(0.02):
            yield b"<Item><Id>1</Id></Item>" * 4

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

    def _dispatch(self, endpoint: str, args: dict, payload: dict, request: Request) -> object:
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
