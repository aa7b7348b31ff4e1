"""What the REST client does when Nmbrs says no, or says nothing: typed errors, 42908 backoff
with Retry-After, 42909 without retry, and writes that are never repeated blindly."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import requests

from tests.support import PATIENCE_SECONDS
from webapp.nmbrs import (
    NmbrsAuthError,
    NmbrsError,
    NmbrsIncompleteList,
    NmbrsPermissionError,
    NmbrsProtocolError,
    NmbrsQuotaExceeded,
    NmbrsRateLimited,
    NmbrsUnavailable,
    NmbrsValidationError,
    RetryPolicy,
    Timeouts,
)
from webapp.nmbrs.rest.errors import error_from_rest


@pytest.fixture
def company(nmbrs):
    return nmbrs.companies()[0]


def _calls(sandbox, endpoint):
    return [c for c in sandbox.state.rest.calls() if c["endpoint"] == endpoint]


def test_too_many_calls_waits_as_nmbrs_asks_and_then_reads(nmbrs, company, sandbox, sleeps):
    sandbox.state.rest.set_failure("throttle", times=2, retry_after=2)
    assert len(nmbrs.cost_centers(company.id)) == 6
    assert sleeps.calls == [2.0, 2.0]
    assert [c["status"] for c in _calls(sandbox, "cost_centers")] == [429, 429, 200]


def test_too_many_calls_without_retry_after_backs_off(nmbrs, company, sandbox, sleeps):
    sandbox.state.rest.set_failure("throttle", times=1)
    nmbrs.cost_units(company.id)
    assert len(sleeps.calls) == 1 and 0 < sleeps.calls[0] <= 0.01


def test_retry_after_is_capped(nmbrs, company, sandbox, sleeps):
    sandbox.state.rest.set_failure("throttle", times=1, retry_after=3600)
    nmbrs.cost_units(company.id)
    assert sleeps.calls == [60.0]


def test_too_many_calls_for_too_long_gives_a_typed_error(nmbrs, company, sandbox, sleeps):
    sandbox.state.rest.set_failure("throttle", retry_after=1)
    with pytest.raises(NmbrsRateLimited) as caught:
        nmbrs.cost_centers(company.id)
    assert caught.value.code == 42908 and caught.value.retry_after == 1.0
    assert isinstance(caught.value, NmbrsUnavailable)  # jobs retry it later
    assert len(_calls(sandbox, "cost_centers")) == 3


def test_a_throttled_write_is_sent_again_because_nmbrs_did_not_take_it(nmbrs, company, sandbox):
    employee = nmbrs.employees(company.id)[0]
    sandbox.state.rest.set_failure("throttle", times=1, endpoints=["insert_component"])
    nmbrs.insert_wage_component(employee.id, 5500, Decimal("12"), year=2026, period=11)
    assert len(sandbox.state.components()) == 1
    assert [c["status"] for c in _calls(sandbox, "insert_component")] == [429, 201]


def test_quota_used_up_is_not_retried(nmbrs, company, sandbox, sleeps):
    sandbox.state.rest.set_failure("quota")
    with pytest.raises(NmbrsQuotaExceeded) as caught:
        nmbrs.cost_centers(company.id)
    assert caught.value.code == 42909
    assert not isinstance(caught.value, NmbrsUnavailable)
    assert "abonnemang" in caught.value.user_message
    assert len(_calls(sandbox, "cost_centers")) == 1 and sleeps.calls == []


def test_server_errors_are_retried_for_reads(nmbrs, company, sandbox):
    sandbox.state.rest.set_failure("error500", times=2)
    assert nmbrs.cost_units(company.id)
    sandbox.state.rest.set_failure("html503", times=2)
    assert nmbrs.cost_units(company.id)


def test_a_write_that_failed_after_arriving_is_not_repeated(nmbrs, company, sandbox):
    employee = nmbrs.employees(company.id)[0]
    sandbox.state.rest.set_failure("error500", times=1, endpoints=["insert_component"], after=True)
    with pytest.raises(NmbrsUnavailable):
        nmbrs.insert_wage_component(employee.id, 5500, Decimal("12"), year=2026, period=11)
    assert len(_calls(sandbox, "insert_component")) == 1
    # What the transfer then does: read back before sending again.
    (arrived,) = nmbrs.wage_components(employee.id, year=2026, period=11)
    assert arrived.value == Decimal("12")


def test_a_dropped_delete_is_not_repeated(nmbrs, company, sandbox):
    employee = nmbrs.employees(company.id)[0]
    new_id = nmbrs.insert_wage_component(employee.id, 5500, Decimal("1"), year=2026, period=11)
    sandbox.state.rest.set_failure("drop", times=1, endpoints=["delete_component"])
    with pytest.raises(NmbrsUnavailable):
        nmbrs.delete_wage_component(employee.id, new_id)
    assert len(_calls(sandbox, "delete_component")) == 1


def test_replies_that_are_not_the_expected_json_are_protocol_errors(nmbrs, company, sandbox):
    sandbox.state.rest.set_failure("notjson", times=1)
    with pytest.raises(NmbrsProtocolError):
        nmbrs.cost_centers(company.id)
    sandbox.state.rest.set_failure("unexpected", times=1)
    with pytest.raises(NmbrsProtocolError):
        nmbrs.cost_centers(company.id)


def test_forbidden_is_a_permission_error(nmbrs, company, sandbox):
    sandbox.state.rest.set_failure("forbidden", times=1)
    with pytest.raises(NmbrsPermissionError) as caught:
        nmbrs.cost_centers(company.id)
    assert caught.value.code == 40303


def test_a_slow_nmbrs_times_out(make_client, sandbox):
    client = make_client(
        timeouts=Timeouts(connect=1, read=0.2, total=1), retry=RetryPolicy(attempts=1)
    )
    sandbox.state.set_latency(600)
    with pytest.raises(NmbrsUnavailable, match="in time"):
        client.debtors()


def test_nothing_listening_is_unavailable(make_client):
    client = make_client(base_url="http://127.0.0.1:9", retry=RetryPolicy(attempts=1))
    with pytest.raises(NmbrsUnavailable):
        client.debtors()


def test_a_wrong_subscription_key_is_an_auth_error_without_a_token_refresh(make_client, sandbox):
    client = make_client(subscription_key="wrong")
    with pytest.raises(NmbrsAuthError):
        client.debtors()
    assert sandbox.state.oauth.stats()["token_calls"].get("refresh_token", 0) == 0


def test_next_page_links_never_take_the_token_to_another_host(make_client, raw_server):
    seen = []

    def app(environ, start_response):
        seen.append((environ["PATH_INFO"], environ["QUERY_STRING"], environ["HTTP_HOST"]))
        page = 2 if "pageNumber=2" in environ["QUERY_STRING"] else 1
        body = {
            "pagination": {
                "nextPage": "https://evil.example/api/debtors?pageNumber=2&pageSize=100"
                if page == 1
                else None
            },
            "data": [{"debtorId": f"0000000{page}-0000-0000-0000-000000000000", "number": "1"}],
        }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    url = raw_server(app)
    client = make_client(base_url=url)
    assert len(client.debtors()) == 2
    assert [s[0] for s in seen] == ["/api/debtors", "/api/debtors"]
    assert all(s[2] == url.split("//")[1] for s in seen)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, 40101, NmbrsAuthError),
        (401, 40102, NmbrsAuthError),
        (403, 40303, NmbrsPermissionError),
        (403, 40304, NmbrsPermissionError),
        (400, 40033, NmbrsValidationError),
        (404, 40401, NmbrsValidationError),
        (404, 40404, NmbrsValidationError),
        (429, 42908, NmbrsRateLimited),
        (429, 42909, NmbrsQuotaExceeded),
        (500, 50001, NmbrsUnavailable),
        (502, 50201, NmbrsUnavailable),
        (503, 50301, NmbrsUnavailable),
    ],
)
def test_error_bodies_map_to_typed_errors(status, code, expected):
    body = {
        "type": "x",
        "httpStatus": status,
        "code": code,
        "title": "T",
        "detail": "D",
        "invalid-params": [{"name": "code", "reason": "Invalid Wage Code"}],
    }
    error = error_from_rest(status, body)
    assert type(error) is expected
    assert error.code == code
    assert "T; D; code: Invalid Wage Code" in error.message
    assert error.user_message


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (403, 40306, NmbrsPermissionError),  # not in the spec: read as its status says
        (403, 40301, NmbrsPermissionError),
        (401, 40199, NmbrsAuthError),
        (429, 12345, NmbrsRateLimited),
        (400, 42909, NmbrsValidationError),  # a quota code on a 400 is still a 400
        (404, 99999, NmbrsValidationError),
        (500, 40303, NmbrsUnavailable),
        (503, None, NmbrsUnavailable),
    ],
)
def test_codes_the_spec_does_not_list_are_read_by_their_status(status, code, expected):
    error = error_from_rest(status, {"httpStatus": status, "code": code, "title": "T"})
    assert type(error) is expected
    assert error.user_message


def test_the_admin_reads_what_the_spec_code_means():
    access = error_from_rest(403, {"code": 40303, "title": "Unauthorized_AccessData"})
    subscription = error_from_rest(403, {"code": 40304, "title": "Invalid_Subscription"})
    unknown = error_from_rest(403, {"code": 40306, "title": "Unauthorized_Debtor"})
    assert "tillgång till den här kunden eller det här företaget" in access.user_message
    assert "abonnemang" in subscription.user_message
    assert unknown.user_message not in (access.user_message, subscription.user_message)
    assert "behörighet" in unknown.user_message


def test_a_record_seen_on_two_pages_is_kept_once(make_client, raw_server):
    pages = {
        "1": ["a", "b", "c"],
        "2": ["c", "d"],  # "c" again: the list moved while it was read
    }
    url = raw_server(_list_app(pages, total=4))
    debtors = make_client(base_url=url).debtors()
    assert [d.id for d in debtors] == [_guid(x) for x in "abcd"]


def test_a_total_that_changes_between_pages_is_an_error(make_client, raw_server):
    url = raw_server(_list_app({"1": ["a", "b"], "2": ["c"]}, total={"1": 4, "2": 3}))
    with pytest.raises(NmbrsIncompleteList, match="changed"):
        make_client(base_url=url).debtors()


def test_a_page_that_only_repeats_earlier_ones_stops_the_read(make_client, raw_server):
    url = raw_server(
        _list_app({"1": ["a", "b"], "2": ["a", "b"], "3": ["a", "b"]}, links_only=True)
    )
    with pytest.raises(NmbrsProtocolError, match="repeats"):
        make_client(base_url=url).debtors()


def test_a_reply_for_another_page_than_asked_is_refused(make_client, raw_server):
    url = raw_server(_list_app({"1": ["a"], "2": ["b"]}, total=2, number="1"))
    with pytest.raises(NmbrsProtocolError, match="asked for page 2, got page 1"):
        make_client(base_url=url).debtors()


def test_records_without_their_id_are_left_out_and_the_rest_come(make_client, raw_server):
    url = raw_server(_list_app({"1": ["a", None, "b"]}, total=3))
    assert [d.id for d in make_client(base_url=url).debtors()] == [_guid("a"), _guid("b")]


def _guid(letter: str) -> str:
    return f"0000000{letter}-0000-0000-0000-000000000000"


def _list_app(pages, *, total=None, number=None, links_only=False):
    """A REST list served from ``pages`` (page number → record letters; ``None``: no id),
    with ``totalRecords`` = ``total`` (or per page) and ``totalPages`` = how many pages
    (with ``links_only``: no totals, a ``nextPage`` link on every page instead)."""
    last = str(len(pages))

    def app(environ, start_response):
        query = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p)
        page = query.get("pageNumber", "1")
        pagination = {"pageNumber": int(number or page), "pageSize": 100}
        if links_only:
            pagination["nextPage"] = f"http://{environ['HTTP_HOST']}/api/debtors?pageNumber=" + str(
                int(page) + 1
            )
        else:
            pagination["totalPages"] = int(last)
        if total is not None:
            pagination["totalRecords"] = total[page] if isinstance(total, dict) else total
        data = [
            {"number": "1"} if x is None else {"debtorId": _guid(x), "number": "1"}
            for x in pages.get(page, [])
        ]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"pagination": pagination, "data": data}).encode()]

    return app


def test_non_json_errors_map_by_status():
    assert isinstance(error_from_rest(502, None), NmbrsUnavailable)
    assert isinstance(error_from_rest(429, None), NmbrsRateLimited)
    assert type(error_from_rest(404, None)) is NmbrsProtocolError
    assert isinstance(error_from_rest(401, {"statusCode": 401, "message": "key"}), NmbrsError)


def test_the_rest_and_oauth_knobs_are_reachable_over_the_control_api(nmbrs, sandbox):
    def post(path, body):
        return requests.post(f"{sandbox.url}/_sandbox/{path}", json=body, timeout=PATIENCE_SECONDS)

    assert post("rest/set_failure", {"mode": "quota", "times": 1}).status_code == 200
    with pytest.raises(NmbrsQuotaExceeded):
        nmbrs.debtors()
    assert post("rest/calls", {})
    assert post("oauth/set_token_lifetimes", {"access": 30}).json()["access"] == 30
    assert post("oauth/revoke_consent", {}).json() == {"revoked": 1}
    assert post("rest/nope", {}).status_code == 400
    guid = post("rest/rest_id", {"kind": "company", "id": 100003}).json()["id"]
    assert len(guid) == 36


def test_a_component_seen_on_two_pages_is_read_back_once(make_client, raw_server):
    employee, company = _guid("e"), _guid("c")

    def component(letter: str, value: str) -> dict:
        return {"variableWageComponentId": _guid(letter), "code": 5500, "value": value}

    pages = {
        "1": [{"employeeId": employee, "variablewagecomponents": [component("a", "10")]}],
        # The same employee again: one component repeated, one new.
        "2": [
            {
                "employeeId": employee,
                "variablewagecomponents": [component("a", "10"), component("b", "10")],
            }
        ],
    }

    def app(environ, start_response):
        page = "2" if "pageNumber=2" in environ["QUERY_STRING"] else "1"
        body = {
            "pagination": {"pageNumber": int(page), "totalPages": 2, "totalRecords": 2},
            "data": pages[page],
        }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    client = make_client(base_url=raw_server(app))
    found = client.wage_components(employee, year=2026, period=11, company_id=company)
    # Two amounts of 10 went out, and two came back: neither is lost, none is counted twice.
    assert sorted(c.id for c in found) == [_guid("a"), _guid("b")]
