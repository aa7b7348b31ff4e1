"""Fixtures for the Nmbrs client and sandbox tests: a sandbox on a free loopback port, a client
for the demo account, a tiny raw server for replies the sandbox never gives, and the WSDL
schemas rewritten to v3.

Nothing here needs the Flask app, the database or Redis.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree
from werkzeug.serving import make_server

from sandbox.app import create_sandbox
from sandbox.data import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME
from sandbox.state import SandboxState
from webapp.nmbrs import Credentials, NmbrsClient, RetryPolicy, Timeouts

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
WSDL_DIR = SHARED / "nmbrs" / "wsdl"

XS = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"


@dataclass
class RunningServer:
    url: str
    state: SandboxState | None


def _serve(app) -> tuple[object, threading.Thread, str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[RunningServer]:
    """The sandbox, served over real HTTP on loopback for the whole session."""
    app, state = create_sandbox()
    server, thread, url = _serve(app)
    yield RunningServer(url, state)
    state.close()
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox(sandbox_server: RunningServer) -> Iterator[RunningServer]:
    """The sandbox with fresh demo data, no latency and no failures for each test."""
    sandbox_server.state.reset()
    sandbox_server.state.stall_seconds = 5.0
    yield sandbox_server
    sandbox_server.state.reset()


DEMO = Credentials(DEMO_USERNAME, DEMO_TOKEN, DEMO_DOMAIN)


@pytest.fixture
def make_client(sandbox: RunningServer) -> Iterator[Callable[..., NmbrsClient]]:
    """Build clients against the sandbox; quick timeouts and backoff suit tests."""
    made: list[NmbrsClient] = []

    def make(
        credentials: Credentials = DEMO,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        base_url: str | None = None,
    ) -> NmbrsClient:
        client = NmbrsClient(
            credentials,
            environment="sandbox",
            base_url=base_url or sandbox.url,
            timeouts=timeouts or Timeouts(connect=2, read=5, total=20),
            retry=retry or RetryPolicy(attempts=3, backoff=0.01),
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def nmbrs(make_client) -> NmbrsClient:
    """A client for the demo account (lon@demo.se)."""
    return make_client()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable], str]]:
    """Serve any WSGI callable on loopback; returns its base URL."""
    running = []

    def start(app) -> str:
        server, thread, url = _serve(app)
        running.append(server)
        return url

    yield start
    for server in running:
        server.shutdown()
        server.server_close()


# --- the published WSDLs, rewritten to v3 ------------------------------------------------------

WSDL_FILES = {
    "CompanyService": "CompanyService-wsdl.xml",
    "EmployeeService": "EmployeeService-wsdl.xml",
    "DebtorService": "DebtorService.wsdl",
}

# The v3 differences API.md and SOURCES.md name, written as XSD so the v2.1 schemas can check
# v3 messages. Nothing else is changed.
_AUTH_WITH_DOMAIN = """
<s:element name="AuthHeaderWithDomain" type="tns:AuthHeaderWithDomain"/>
<s:complexType name="AuthHeaderWithDomain"><s:complexContent mixed="false">
  <s:extension base="tns:AuthHeader"><s:sequence>
    <s:element minOccurs="0" maxOccurs="1" name="Domain" type="s:string"/>
  </s:sequence></s:extension></s:complexContent></s:complexType>
"""
V3_ADDITIONS = {
    "EmployeeService": """
<s:element name="EmployeeType_GetList"><s:complexType/></s:element>
<s:element name="EmployeeType_GetListResponse"><s:complexType><s:sequence>
  <s:element minOccurs="0" maxOccurs="1" name="EmployeeType_GetListResult">
    <s:complexType><s:sequence>
      <s:element minOccurs="0" maxOccurs="unbounded" name="EmployeeType" nillable="true">
        <s:complexType><s:sequence>
          <s:element minOccurs="1" maxOccurs="1" name="Id" type="s:int"/>
          <s:element minOccurs="0" maxOccurs="1" name="Description" type="s:string"/>
        </s:sequence></s:complexType></s:element>
    </s:sequence></s:complexType></s:element>
</s:sequence></s:complexType></s:element>
""",
    "DebtorService": """
<s:element name="Environment_Get"><s:complexType/></s:element>
<s:element name="Environment_GetResponse"><s:complexType><s:sequence>
  <s:element minOccurs="0" maxOccurs="1" name="Environment_GetResult">
    <s:complexType><s:sequence>
      <s:element minOccurs="0" maxOccurs="1" name="Domain" type="s:string"/>
      <s:element minOccurs="0" maxOccurs="1" name="SubDomain" type="s:string"/>
    </s:sequence></s:complexType></s:element>
</s:sequence></s:complexType></s:element>
""",
}


def _v3_schema(service: str) -> etree.XMLSchema:
    raw = (WSDL_DIR / WSDL_FILES[service]).read_bytes()
    raw = raw.replace(b"https://api.nmbrs.nl/soap/v2.1/", b"https://api.nmbrs.nl/soap/v3/")
    wsdl = etree.fromstring(raw)
    ns = f"https://api.nmbrs.nl/soap/v3/{service}"
    source = next(
        s
        for s in wsdl.findall(f"{{{WSDL_NS}}}types/{{{XS}}}schema")
        if s.get("targetNamespace") == ns
    )
    schema = etree.Element(
        f"{{{XS}}}schema",
        nsmap={"s": XS, "tns": ns},
        targetNamespace=ns,
        elementFormDefault="qualified",
    )
    names = set()
    for child in source:
        if child.tag == f"{{{XS}}}import":
            continue  # microsoft.com guid/char types; replaced by strings below
        schema.append(copy.deepcopy(child))
        names.add(child.get("name"))
    # v3: List_GetByCompany takes EmployeeType (int) where v2.1 took "active".
    for el in schema.iterfind(f"{{{XS}}}element[@name='List_GetByCompany']//{{{XS}}}element"):
        if el.get("name") == "active":
            el.set("name", "EmployeeType")
            el.set("type", "s:int")
    extra = ("" if "AuthHeaderWithDomain" in names else _AUTH_WITH_DOMAIN) + V3_ADDITIONS.get(
        service, ""
    )
    if extra:
        wrapper = etree.fromstring(f'<w xmlns:s="{XS}" xmlns:tns="{ns}">{extra}</w>')
        for child in wrapper:
            schema.append(child)
    text = etree.tostring(schema)
    text = re.sub(rb'type="s1:(guid|char)"', b'type="s:string"', text)
    return etree.XMLSchema(etree.fromstring(text))


@pytest.fixture(scope="session")
def v3_schemas() -> dict[str, etree.XMLSchema]:
    """XML Schemas of the three services from the shared WSDLs, rewritten to v3."""
    if not WSDL_DIR.is_dir():
        pytest.skip(f"shared Nmbrs WSDLs not found at {WSDL_DIR} (../shared beside the clone)")
    return {service: _v3_schema(service) for service in WSDL_FILES}


@pytest.fixture(scope="session")
def wsdl_dir() -> Path:
    """The shared WSDL directory (recorded responses live there too)."""
    if not WSDL_DIR.is_dir():
        pytest.skip(f"shared Nmbrs WSDLs not found at {WSDL_DIR} (../shared beside the clone)")
    return WSDL_DIR
