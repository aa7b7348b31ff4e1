"""Behind a PaaS router (issue 12, item 6): with TRUSTED_PROXY_HOPS set, the scheme the router
saw (X-Forwarded-Proto: https) is the one Brygga builds its own URLs with — above all the
redirect_uri that Nmbrs sends the admin back to after the OAuth consent."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.recipients.helpers import active, add_single_company_nmbrs
from tests.support import PASSWORD, use_sandbox_oauth
from webapp.models import Role

ROUTER = "192.0.2.10"  # not loopback: the router is another machine
CLIENT = "198.51.100.7"


@pytest.fixture
def rest_configured(app, proxied_app, nmbrs_sandbox, monkeypatch):
    for each in (app, proxied_app):
        monkeypatch.setitem(each.config, "NMBRS_BASE_URL", nmbrs_sandbox.url)
        use_sandbox_oauth(each, nmbrs_sandbox.url, monkeypatch)


def through_router(flask_app):
    """A browser whose every request reaches the app from the router, over https."""
    client = flask_app.test_client()
    client.environ_base.update(
        REMOTE_ADDR=ROUTER, HTTP_X_FORWARDED_FOR=CLIENT, HTTP_X_FORWARDED_PROTO="https"
    )
    return client


def consent_redirect_uri(client, app) -> str:
    assert client.post("/login", data={"email": "admin@testbolaget.se", "password": PASSWORD})
    assert add_single_company_nmbrs(client).status_code == 302
    [recipient] = active(app)
    started = client.post(f"/settings/recipients/{recipient.id}/nmbrs/connect")
    assert started.status_code == 302, started.text
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    return query["redirect_uri"][0]


def test_the_nmbrs_consent_sends_the_admin_back_over_https_behind_the_router(
    app, proxied_app, people, rest_configured
):
    people.user(Role.ADMIN)
    redirect_uri = consent_redirect_uri(through_router(proxied_app), app)
    assert redirect_uri == "https://localhost/settings/nmbrs/callback"


def test_without_trusted_hops_a_forwarded_scheme_is_not_believed(app, people, rest_configured):
    people.user(Role.ADMIN)
    redirect_uri = consent_redirect_uri(through_router(app), app)
    assert redirect_uri == "http://localhost/settings/nmbrs/callback"
