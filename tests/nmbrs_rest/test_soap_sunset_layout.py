"""Nmbrs retires SOAP on 1 March 2027. Deleting it must be deleting ``webapp/nmbrs/soap/`` (and
its names in the package face) and ``sandbox/soap.py``: nothing else may lean on them, the
client must stay free of Flask and the database, and the sandbox's modules import in one
direction only."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of the modules (and names) a file imports, TYPE_CHECKING ones too."""
    parts = package.split(".")
    if path.name != "__init__.py":
        parts = parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def _modules(folder: str) -> dict[str, set[str]]:
    result = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        result[name] = _imports(path, name)
    return result


def test_only_the_package_face_imports_the_soap_client():
    for module, imports in _modules("webapp/nmbrs").items():
        if module.startswith("webapp.nmbrs.soap") or module == "webapp.nmbrs":
            continue
        assert not any(i.startswith("webapp.nmbrs.soap") for i in imports), module


def test_the_client_knows_no_flask_and_no_database():
    for module, imports in _modules("webapp/nmbrs").items():
        roots = {i.split(".")[0] for i in imports}
        assert not roots & {"flask", "flask_sqlalchemy", "sqlalchemy", "redis", "rq"}, module
        outside = {i for i in imports if i.startswith("webapp.") and ".nmbrs" not in i}
        assert not outside, (module, outside)


def test_the_sandbox_imports_in_one_direction_and_only_its_router_names_soap():
    graph = {
        module: {i for i in imports if i.startswith("sandbox.")}
        for module, imports in _modules("sandbox").items()
    }
    modules = set(graph)
    edges = {m: {i for i in deps if i in modules and i != m} for m, deps in graph.items()}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in edges[start]:
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    circles = sorted(m for m in modules if reaches(m, m, {m}))
    assert circles == [], f"import circles through {circles}"
    leaning_on_soap = sorted(m for m, deps in edges.items() if "sandbox.soap" in deps)
    assert leaning_on_soap == ["sandbox.app"]


def test_the_rest_sandbox_serves_on_with_soap_py_deleted():
    # A fresh interpreter in which sandbox/soap.py cannot be imported, as after the sunset.
    script = textwrap.dedent(
        """
        import sys, threading, time
        from decimal import Decimal
        sys.modules["sandbox.soap"] = None  # as if the file were deleted
        import requests
        from werkzeug.serving import make_server
        from sandbox import create_sandbox
        from sandbox.oauth import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SUBSCRIPTION_KEY
        from webapp.nmbrs import MemoryTokenStore, NmbrsOAuth, NmbrsRestClient, Tokens

        app, state = create_sandbox()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}"
        oauth = NmbrsOAuth(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET,
                           redirect_uri="http://127.0.0.1/cb", identity_url=url)
        raw = state.oauth.issue_tokens()
        store = MemoryTokenStore(oauth, Tokens(raw["access_token"], raw["refresh_token"],
                                               time.time() + 3600, time.time()))
        with NmbrsRestClient(store, subscription_key=DEMO_SUBSCRIPTION_KEY, base_url=url) as n:
            company = n.companies()[0]
            person = n.employees(company.id)[0]
            n.insert_wage_component(person.id, 5500, Decimal("1"), year=2026, period=11)
            (back,) = n.wage_components(person.id, year=2026, period=11)
            assert back.code == 5500
            try:
                n.insert_wage_component(person.id, 5500, Decimal("1"), year=2026, period=1)
            except Exception as exc:
                assert "Protected Period" in str(exc), exc
            else:
                raise AssertionError("a protected period was accepted")
        soap = requests.post(url + "/soap/v3/CompanyService.asmx", data=b"<x/>",
                             headers={"Content-Type": "text/xml"}, timeout=120)
        assert soap.status_code == 404, soap.status_code
        assert "sandbox.soap" not in sys.modules or sys.modules["sandbox.soap"] is None
        print("rest ok without soap")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rest ok without soap" in done.stdout
