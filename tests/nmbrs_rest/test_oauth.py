"""Consent and tokens: the consent flow against the sandbox's identity service (state, PKCE),
refresh with rotation, two workers refreshing at once, expired or revoked consent, and tokens
that never show up in logs or reprs."""

from __future__ import annotations

import logging
import re
import threading
import time
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import requests

from sandbox.data import DEMO_USERNAME
from sandbox.oauth import BRYGGA_SCOPES, DEMO_CLIENT_SECRET, DEMO_SUBSCRIPTION_KEY
from tests.support import PATIENCE_SECONDS
from webapp.nmbrs import (
    SCOPES,
    MemoryTokenStore,
    NmbrsAuthError,
    NmbrsConsentError,
    NmbrsConsentExpired,
    NmbrsError,
    NmbrsOAuth,
    NmbrsRestClient,
    Tokens,
    TokenSource,
)

from .conftest import REDIRECT_URI, callback_args, consent


class _Form(HTMLParser):
    """The consent page's form, as a browser without JavaScript would submit it."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str, str]] = []
        self._button: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "option" and "selected" in a:
            self.fields["username"] = a["value"]
        elif tag == "button":
            self._button = a

    def handle_data(self, data):
        if self._button is not None and data.strip():
            self.buttons.append((self._button["name"], self._button["value"], data.strip()))
            self._button = None


def _click(sandbox, url: str, label: str) -> requests.Response:
    page = requests.get(url, timeout=PATIENCE_SECONDS)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    form = _Form()
    form.feed(page.text)
    name, value = next((n, v) for n, v, text in form.buttons if text == label)
    return requests.post(
        sandbox.url + form.action,
        data={**form.fields, name: value},
        allow_redirects=False,
        timeout=PATIENCE_SECONDS,
    )


# --- consent ---------------------------------------------------------------------------------


def test_admin_consents_on_the_nmbrs_page_and_brygga_gets_tokens(oauth, sandbox):
    started = oauth.start()
    reply = _click(sandbox, started.url, "Godkänn")
    assert reply.status_code == 302
    location = reply.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    args = callback_args(location)
    assert args["state"] == started.state
    tokens = oauth.finish(args, **started.pending())
    assert tokens.access_token and tokens.refresh_token
    assert set(tokens.scope.split()) == set(SCOPES)
    client = NmbrsRestClient(
        MemoryTokenStore(oauth, tokens),
        subscription_key=DEMO_SUBSCRIPTION_KEY,
        base_url=sandbox.url,
    )
    assert client.debtors()[0].name == "Fjällviks Bygg & Service"


def test_consent_url_asks_for_bryggas_scopes_with_pkce_and_never_openid(oauth, sandbox):
    started = oauth.start()
    requests.get(
        started.url,
        params={"sandbox_auto": "allow"},
        allow_redirects=False,
        timeout=PATIENCE_SECONDS,
    )
    sent = sandbox.state.oauth.stats()["last_authorize"]
    assert sent["scope"].split() == list(SCOPES) == list(BRYGGA_SCOPES)
    assert "openid" not in sent["scope"]
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"]
    assert sent["state"] == started.state and sent["client_id"] == oauth.client_id
    with pytest.raises(ValueError):
        NmbrsOAuth("id", "secret", redirect_uri=REDIRECT_URI, scopes=("openid", *SCOPES))


def test_declining_gives_a_consent_error_in_swedish(oauth, sandbox):
    started = oauth.start()
    reply = _click(sandbox, started.url, "Neka")
    with pytest.raises(NmbrsConsentError) as caught:
        oauth.finish(callback_args(reply.headers["Location"]), **started.pending())
    assert "avbröts" in caught.value.user_message


def test_a_callback_with_another_state_is_refused_before_the_code_is_used(oauth, sandbox):
    started = oauth.start()
    reply = requests.get(
        started.url,
        params={"sandbox_auto": "allow"},
        allow_redirects=False,
        timeout=PATIENCE_SECONDS,
    )
    args = callback_args(reply.headers["Location"])
    with pytest.raises(NmbrsConsentError):
        oauth.finish({**args, "state": "forged"}, **started.pending())
    assert sandbox.state.oauth.stats()["token_calls"] == {}
    assert oauth.finish(args, **started.pending()).access_token  # the real one still works


def test_pkce_verifier_must_match(oauth, sandbox):
    started = oauth.start()
    reply = requests.get(
        started.url,
        params={"sandbox_auto": "allow"},
        allow_redirects=False,
        timeout=PATIENCE_SECONDS,
    )
    with pytest.raises(NmbrsConsentError):
        oauth.finish(
            callback_args(reply.headers["Location"]), state=started.state, code_verifier="x" * 64
        )


def test_a_code_works_once(oauth, sandbox):
    started = oauth.start()
    reply = requests.get(
        started.url,
        params={"sandbox_auto": "allow"},
        allow_redirects=False,
        timeout=PATIENCE_SECONDS,
    )
    args = callback_args(reply.headers["Location"])
    oauth.finish(args, **started.pending())
    with pytest.raises(NmbrsConsentError):
        oauth.finish(args, **started.pending())


def test_a_wrong_client_secret_is_not_the_admins_problem(sandbox):
    wrong = NmbrsOAuth(
        "brygga-sandbox", "wrong", redirect_uri=REDIRECT_URI, identity_url=sandbox.url
    )
    with pytest.raises(NmbrsError) as caught:
        consent(wrong)
    assert not isinstance(caught.value, NmbrsAuthError)
    assert "support" in caught.value.user_message


def test_basic_client_authentication_works_too(sandbox):
    basic = NmbrsOAuth(
        "brygga-sandbox",
        DEMO_CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        identity_url=sandbox.url,
        token_auth="client_secret_basic",
    )
    assert consent(basic).refresh_token


def test_tokens_round_trip_through_storage(oauth):
    tokens = consent(oauth)
    assert Tokens.from_dict(tokens.to_dict()) == tokens
    assert tokens.consent_expires_at == pytest.approx(tokens.obtained_at + 30 * 24 * 3600)


# --- refresh -----------------------------------------------------------------------------------


def test_refresh_rotates_and_the_old_refresh_token_dies(oauth, sandbox):
    first = consent(oauth)
    second = oauth.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    third = oauth.refresh(second.refresh_token)
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


def test_reusing_a_refresh_token_kills_the_connection(oauth, sandbox):
    first = consent(oauth)
    second = oauth.refresh(first.refresh_token)
    with pytest.raises(NmbrsConsentExpired):
        oauth.refresh(first.refresh_token)
    with pytest.raises(NmbrsConsentExpired):  # the whole grant is revoked
        oauth.refresh(second.refresh_token)


def _clocked(sandbox, now: list[float]) -> NmbrsOAuth:
    """Brygga's OAuth client on a clock the test moves (the server keeps its own)."""
    return NmbrsOAuth(
        "brygga-sandbox",
        DEMO_CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        identity_url=sandbox.url,
        clock=lambda: now[0],
    )


def test_client_refreshes_shortly_before_the_access_token_expires(make_client, sandbox):
    now = [time.time()]
    oauth = _clocked(sandbox, now)
    store = MemoryTokenStore(oauth, consent(oauth))  # an hour's token
    client = make_client(store, clock=lambda: now[0])
    client.debtors()
    assert store.refreshes == 0
    now[0] += 3600 - 100  # within the last two minutes
    client.debtors()
    client.debtors()
    assert store.refreshes == 1  # once, and the new token lasts another hour


def test_a_short_lived_token_is_not_refreshed_before_every_call(make_client, sandbox):
    sandbox.state.oauth.set_token_lifetimes(access=120)
    now = [time.time()]
    oauth = _clocked(sandbox, now)
    store = MemoryTokenStore(oauth, consent(oauth))
    client = make_client(store, clock=lambda: now[0])
    for _ in range(5):
        client.debtors()
    now[0] += 80  # 40 s left of 120: outside its margin (a quarter of its life)
    client.debtors()
    assert store.refreshes == 0
    assert sandbox.state.oauth.stats()["token_calls"].get("refresh_token", 0) == 0
    now[0] += 15  # 25 s left: inside it
    client.debtors()
    assert store.refreshes == 1
    client.debtors()
    assert store.refreshes == 1


def test_a_short_lived_token_that_expired_is_refreshed_on_the_401(make_client, oauth, sandbox):
    sandbox.state.oauth.set_token_lifetimes(access=2)
    store = MemoryTokenStore(oauth, consent(oauth))
    client = make_client(store, clock=lambda: store.current().obtained_at)  # our clock stands
    client.debtors()
    sandbox.state.oauth.advance_clock(5)  # Nmbrs' clock moves on: the token is dead there
    sandbox.state.rest.calls(clear=True)
    assert client.debtors()
    assert store.refreshes == 1
    assert [c["status"] for c in sandbox.state.rest.calls()] == [401, 200]


def test_client_refreshes_once_when_nmbrs_says_the_token_expired(make_client, oauth, sandbox):
    store = MemoryTokenStore(oauth, consent(oauth))
    client = make_client(store)
    client.debtors()
    sandbox.state.oauth.advance_clock(3601)  # expired for the server; not for our clock
    sandbox.state.rest.calls(clear=True)
    assert client.debtors()
    assert store.refreshes == 1
    assert [c["status"] for c in sandbox.state.rest.calls()] == [401, 200]


def test_a_write_rejected_with_401_is_sent_again_after_the_refresh(make_client, oauth, sandbox):
    store = MemoryTokenStore(oauth, consent(oauth))
    client = make_client(store)
    company = client.companies()[0]
    employee = client.employees(company.id)[0]
    sandbox.state.oauth.advance_clock(3601)
    client.insert_wage_component(employee.id, 5500, Decimal("3"), year=2026, period=11)
    assert len(sandbox.state.components()) == 1


class _SlowOAuth(NmbrsOAuth):
    """Refreshes take a moment, so that two workers really overlap."""

    def refresh(self, refresh_token):
        threading.Event().wait(0.3)
        return super().refresh(refresh_token)


def test_two_workers_refreshing_at_once_make_one_refresh_and_both_keep_working(
    make_client, sandbox
):
    oauth = _SlowOAuth(
        "brygga-sandbox", DEMO_CLIENT_SECRET, redirect_uri=REDIRECT_URI, identity_url=sandbox.url
    )
    sandbox.state.oauth.set_token_lifetimes(access=60)
    store = MemoryTokenStore(oauth, consent(oauth))  # one stored pair, one lock: the app's row
    sandbox.state.oauth.set_token_lifetimes(access=3600)
    # 55 s on: both workers see the 60 s token in its last seconds.
    workers = [make_client(store, clock=lambda: time.time() + 55) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[object] = [None, None]

    def work(i):
        start.wait()
        try:
            results[i] = [len(workers[i].debtors()), len(workers[i].companies())]
        except Exception as exc:  # noqa: BLE001 - reported below
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE_SECONDS)
    assert results == [[1, 2], [1, 2]]
    assert sandbox.state.oauth.stats()["token_calls"]["refresh_token"] == 1
    assert sandbox.state.oauth.stats()["refused"] == {}
    assert all(len(w.employees(w.companies()[0].id)) == 24 for w in workers)


def test_without_serialising_two_workers_kill_the_connection(make_client, oauth, sandbox):
    # Why the store exists: two workers each refreshing the same stale pair.
    tokens = consent(oauth)
    oauth.refresh(tokens.refresh_token)
    with pytest.raises(NmbrsConsentExpired):
        oauth.refresh(tokens.refresh_token)
    assert sandbox.state.oauth.stats()["grants"][0]["revoked"] is True


def test_store_follows_a_refresh_made_by_another_worker(oauth, sandbox):
    stale = consent(oauth)
    store = MemoryTokenStore(oauth, stale)
    newer = store.refresh(stale)
    assert store.refresh(stale) == newer  # no second refresh call for the same stale pair
    assert sandbox.state.oauth.stats()["token_calls"]["refresh_token"] == 1
    assert isinstance(store, TokenSource)


# --- consent gone ------------------------------------------------------------------------------


def test_expired_consent_asks_the_admin_to_reconnect(make_client, oauth, sandbox):
    store = MemoryTokenStore(oauth, consent(oauth))
    client = make_client(store)
    client.debtors()
    sandbox.state.oauth.expire_consent(DEMO_USERNAME)
    sandbox.state.oauth.advance_clock(3601)
    with pytest.raises(NmbrsConsentExpired) as caught:
        client.debtors()
    assert isinstance(caught.value, NmbrsAuthError)
    assert "Anslut igen med Nmbrs-inloggning" in caught.value.user_message
    assert store.expired is caught.value  # the app marks the recipient here


def test_revoked_consent_asks_the_admin_to_reconnect(make_client, oauth, sandbox):
    client = make_client(MemoryTokenStore(oauth, consent(oauth)))
    client.debtors()
    sandbox.state.oauth.revoke_consent(DEMO_USERNAME)
    with pytest.raises(NmbrsConsentExpired):
        client.debtors()


# --- secrets stay secret -------------------------------------------------------------------------


def test_tokens_never_reach_logs_reprs_or_errors(make_client, oauth, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    tokens = consent(oauth)
    store = MemoryTokenStore(oauth, tokens)
    client = make_client(store)
    client.debtors()
    refreshed = store.refresh(tokens)
    sandbox.state.rest.set_failure("unauthorized", times=2)
    with pytest.raises(NmbrsAuthError) as auth_error:
        client.debtors()
    sandbox.state.oauth.revoke_consent()
    with pytest.raises(NmbrsConsentExpired) as expired:
        client.debtors()
    current = store.current()
    secrets = {
        tokens.access_token,
        tokens.refresh_token,
        refreshed.access_token,
        refreshed.refresh_token,
        current.access_token,
        current.refresh_token,
        DEMO_CLIENT_SECRET,
        DEMO_SUBSCRIPTION_KEY,
    }
    texts = [
        caplog.text,
        repr(tokens),
        str(tokens),
        repr(store),
        repr(client),
        repr(client.transport),
        repr(oauth),
        repr(oauth.start()),
    ]
    for exc in (auth_error.value, expired.value):
        texts += [str(exc), repr(exc), exc.message, exc.user_message, repr(exc.args)]
    for secret in secrets:
        assert secret
        for text in texts:
            assert secret not in text
    assert re.search(r"GET /api/debtors", caplog.text)  # logging did happen
