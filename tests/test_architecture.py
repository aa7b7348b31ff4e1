"""The layer rules of docs/architecture.md, read from the code's imports with `ast`, so that
they stay held: no file over 700 lines, no import circles, and each layer imports only what it
may. A failure names the file and the import that broke the rule."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 700


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in python_files("webapp", "jobs")}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every module `path` imports at run time (also inside functions; not
    under `if TYPE_CHECKING:`), resolved to the module itself where `from X import Y` names a
    submodule."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if sub in MODULES else base))
    return found


def test_no_python_file_in_webapp_or_jobs_is_over_700_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in python_files("webapp", "jobs")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_import_circles():
    graph = {
        name: {m for _line, m in imports(path) if m in MODULES and m != name}
        for name, path in MODULES.items()
    }
    # Tarjan's strongly connected components: any with two or more modules is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


def broken(paths: list[Path], forbidden) -> list[str]:
    """'file:line imports module' for every import in `paths` that `forbidden` refuses."""
    found = []
    for path in paths:
        for line, module in imports(path):
            if forbidden(module_name(path), module):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def under(*prefixes: str):
    return lambda module: any(module == p or module.startswith(p + ".") for p in prefixes)


VIEWS = [p for p in python_files("webapp") if p.name == "views.py"]
KINDS = under("webapp.recipients.nmbrs", "webapp.recipients.paxml")


def test_views_never_import_the_nmbrs_client_or_another_blueprints_views():
    def forbidden(importer: str, module: str) -> bool:
        if under("webapp.nmbrs")(module):
            return True
        return module.endswith(".views") and module != importer

    assert broken(VIEWS, forbidden) == []


def test_jobs_call_services_only():
    allowed = under(
        "jobs",
        "webapp.services",
        "webapp.recipients",  # a kind's own job bodies (the Nmbrs keep-alive)
        "webapp.extensions",
        "webapp.models",
        "webapp.tenancy",
    )

    def forbidden(importer: str, module: str) -> bool:
        if module == "webapp":
            return False  # create_app
        if under("webapp.nmbrs")(module) or module.endswith(".views"):
            return True
        return module.startswith("webapp") and not allowed(module)

    assert broken(python_files("jobs"), forbidden) == []


def test_models_import_no_service_view_or_kind():
    def forbidden(importer: str, module: str) -> bool:
        return under("webapp.services", "webapp.recipients", "webapp.nmbrs")(module) or (
            module.endswith(".views")
        )

    assert broken(python_files("webapp/models"), forbidden) == []


def test_the_nmbrs_client_knows_no_flask_and_no_database():
    def forbidden(importer: str, module: str) -> bool:
        if under("flask", "flask_babel", "flask_sqlalchemy", "sqlalchemy")(module):
            return True
        return module.startswith("webapp") and not under("webapp.nmbrs")(module)

    assert broken(python_files("webapp/nmbrs"), forbidden) == []


def test_services_raise_domain_errors_and_never_reach_into_a_kind():
    def forbidden(importer: str, module: str) -> bool:
        return KINDS(module) or module.endswith(".views")

    assert broken(python_files("webapp/services"), forbidden) == []
    aborting = [
        f"{p.relative_to(ROOT)}:{node.lineno}"
        for p in python_files("webapp/services", "webapp/recipients")
        if p.name != "views.py"
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        and node.module == "flask"
        and any(a.name == "abort" for a in node.names)
    ]
    assert aborting == []


# "Which kind is this?" belongs inside a kind's own folder, in Python and in templates.
KIND_CHECK = re.compile(r"is_nmbrs|RecipientKind\.(NMBRS|PAXML)|[!=]=\s*['\"](nmbrs|paxml)['\"]")


@pytest.mark.parametrize("suffix", ["*.py", "*.html"])
def test_no_kind_checks_outside_a_kinds_folder(suffix):
    places = [
        p
        for p in (ROOT / "webapp").rglob(suffix)
        if "recipients" not in p.relative_to(ROOT / "webapp").parts[:1]
        and "models" not in p.relative_to(ROOT / "webapp").parts[:1]
    ]
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in places
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if KIND_CHECK.search(line)
    ]
    assert found == []
