"""The client against Nmbrs' own OpenAPI description (``shared/nmbrs/rest``): every path and
method it calls exists, with the query parameters and body fields it sends and a scope Brygga
asks for. SOURCES.md's known defects are checked the other way: the client copes with both
shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from webapp.nmbrs import SCOPES
from webapp.nmbrs.rest import ENDPOINTS

SPEC = (
    Path(__file__).resolve().parents[2].parent / "shared" / "nmbrs" / "rest" / "nmbrs-openapi.yaml"
)

# Query parameters the client sends per endpoint (besides pageNumber/pageSize on lists).
QUERY = {
    "employees": {"employeeType", "employeeId"},
    "components": {"employeeId", "year", "period"},
}
PAGED = {
    "debtors",
    "companies",
    "debtor_companies",
    "wage_models",
    "cost_centers",
    "cost_units",
    "departments",
    "employees",
    "components",
}


@pytest.fixture(scope="module")
def spec() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (pip install PyYAML)")
    if not SPEC.is_file():
        pytest.skip(f"Nmbrs' OpenAPI description not found at {SPEC}")
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


def _resolve(spec: dict, item: dict) -> dict:
    while "$ref" in item:
        node = spec
        for part in item["$ref"].lstrip("#/").split("/"):
            node = node[part]
        item = node
    return item


def _operation(spec, name):
    method, path = ENDPOINTS[name]
    assert path in spec["paths"], f"{path} is not in Nmbrs' OpenAPI description"
    item = spec["paths"][path]
    assert method.lower() in item, f"{method} {path} is not in Nmbrs' OpenAPI description"
    return item, item[method.lower()]


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_call_the_client_makes_is_in_nmbrs_description(spec, name):
    item, operation = _operation(spec, name)
    params = [
        _resolve(spec, p) for p in item.get("parameters", []) + operation.get("parameters", [])
    ]
    query = {p["name"] for p in params if p["in"] == "query"}
    path_params = {p["name"] for p in params if p["in"] == "path"}
    headers = {p["name"] for p in params if p["in"] == "header"}
    wanted = set(QUERY.get(name, ()))
    if name in PAGED:
        wanted |= {"pageNumber", "pageSize"}
    assert wanted <= query, f"{name}: {wanted - query} not declared"
    placeholders = {p.strip("{}") for p in ENDPOINTS[name][1].split("/") if p.startswith("{")}
    assert {p.lower() for p in placeholders} == {p.lower() for p in path_params}
    # Declared optional (a known defect); Brygga sends it on every call regardless.
    assert "X-Subscription-Key" in headers
    scopes = {s for req in operation["security"] for s in req.get("Bearer", [])}
    assert scopes & set(SCOPES), f"{name}: needs one of {scopes}"


def test_the_post_body_uses_the_create_schemas_flat_period(spec):
    _, operation = _operation(spec, "insert_component")
    schema = _resolve(spec, operation["requestBody"]["content"]["application/json"]["schema"])
    fields = set(schema["properties"])
    assert {"code", "value", "comment", "costCenterId", "costUnitId"} <= fields
    assert {"periodDetails", "unprotectedMode"} <= fields
    period = _resolve(spec, schema["properties"]["periodDetails"])
    assert set(period["properties"]) == {"year", "period"}  # flat, unlike the PUT (known defect)


def test_the_create_reply_id_spelling_is_the_one_the_client_reads_first(spec):
    _, operation = _operation(spec, "insert_component")
    reply = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert "variableWagecomponentId" in _resolve(spec, reply)["properties"]
    _, listing = _operation(spec, "components")
    item = _resolve(spec, listing["responses"]["200"]["content"]["application/json"]["schema"])
    per_employee = _resolve(spec, item["properties"]["data"]["items"])
    component = _resolve(spec, per_employee["properties"]["variablewagecomponents"]["items"])
    assert "variableWageComponentId" in component["properties"]


def test_wage_models_schema_and_example_disagree_and_the_client_reads_both(spec):
    from webapp.nmbrs.rest import NmbrsRestClient

    _, operation = _operation(spec, "wage_models")
    content = operation["responses"]["200"]["content"]["application/json"]
    schema = _resolve(spec, content["schema"])
    assert schema["properties"]["data"]["type"] == "array"
    example = next(iter(content["examples"].values()))["value"]
    assert "wageModels" in example["data"]  # the known defect

    class _Pages:
        def __init__(self, data):
            self.data = data

        def read_list(self, path, params=None, *, key=None, rows=lambda data: data):
            return rows(self.data)

        def close(self):
            pass

    for data in (example["data"], [{"id": "x", "number": 1, "wageCodes": [{"code": 1000}]}]):
        client = NmbrsRestClient(_NoTokens(), subscription_key="k", transport=_Pages(data))
        assert [w.code for w in client.wage_types("5b6a77c7-6abe-4f31-93dc-2692169e3ea4")] == [1000]


def test_scopes_brygga_asks_for_are_declared(spec):
    declared = spec["components"]["securitySchemes"]["Bearer"]["flows"]["authorizationCode"]
    assert set(SCOPES) <= set(declared["scopes"])
    assert declared["authorizationUrl"] == "https://identityservice.nmbrs.com/connect/authorize"
    assert declared["tokenUrl"] == "https://identityservice.nmbrs.com/connect/token"


def test_error_codes_the_client_maps_match_the_documented_examples(spec):
    responses = spec["components"]["responses"]

    def example(name):
        content = responses[name]["content"]["application/json"]
        return next(iter(content["examples"].values()))["value"]

    assert example("401-error")["code"] // 100 == 401
    assert example("403-error")["code"] // 100 == 403
    assert example("429-error")["code"] == 42908
    assert set(example("400-error")) >= {"type", "httpStatus", "code", "title", "detail"}


class _NoTokens:
    def current(self):
        raise AssertionError("not used")

    def refresh(self, stale):
        raise AssertionError("not used")


def _listed_codes(spec) -> dict[int, str]:
    codes = {}
    for response in spec["components"]["responses"].values():
        for example in response["content"]["application/json"].get("examples", {}).values():
            codes[example["value"]["code"]] = example["value"]["title"]
    return codes


def test_the_client_and_the_sandbox_know_exactly_the_codes_the_spec_lists(spec):
    from sandbox.rest import ERRORS
    from webapp.nmbrs.rest.errors import SPEC_CODES

    listed = _listed_codes(spec)
    assert listed == SPEC_CODES
    assert {code: title for code, (_, _, title, _) in ERRORS.items()} == listed
    assert 40306 not in listed and 40301 not in listed  # what the client once expected


# The sandbox's record shapes and the schemas they answer with.
SHAPES = {
    "debtor": ("Debtor", None),
    "company": ("Company", None),
    "period": ("CompanyPeriod", None),
    "period.period": ("Period", None),
    "wage_model": ("WageModel", None),
    "wage_code": ("WageModel", "wageCodes"),
    "cost_center": ("CostCenter", None),
    "cost_unit": ("CostUnit", None),
    "department": ("DepartmentWithManagers", None),
    "employee": ("EmployeeList", None),
    "employee_basic": ("EmployeeBasic", None),
    "employee_components": ("EmployeeVariableWageComponents", None),
    "component": ("EmployeeVariableWageComponents", "variablewagecomponents"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_optional_fields_reading_keeps_what_the_spec_requires_and_no_more(spec, shape):
    from sandbox.rest import REQUIRED

    name, items_of = SHAPES[shape]
    schema = _resolve(spec, spec["components"]["schemas"][name])
    if items_of:
        schema = _resolve(spec, _resolve(spec, schema["properties"][items_of])["items"])
    required = set(schema.get("required", ()))
    kept = set(REQUIRED[shape])
    assert required <= kept, f"{shape}: the reading drops required {required - kept}"
    for extra in kept - required:  # only the record's own id and its child lists
        field = _resolve(spec, schema["properties"][extra])
        is_id = extra == "id" or (extra.endswith("Id") and field.get("format") == "uuid")
        assert is_id or field.get("type") in ("array", "object"), f"{shape}: keeps {extra}"
