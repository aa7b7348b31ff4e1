"""Guessing passwords is slowed down without letting a stranger lock the real user out
(issue 12, item 5): the real client address behind the router, counting per account and client
with growing delays, atomic counting, and a limit that holds with Redis down."""

from __future__ import annotations

import re
import threading
import time

import pytest
from redis import Redis

from tests.support import PASSWORD
from webapp.models import Role, User

ROUTER = "192.0.2.10"  # the PaaS router: every request reaches the app from it
OWNER_IP = "198.51.100.7"
STRANGER_IP = "203.0.113.66"
WRONG = "fel-lösenord-999"


def login_via_router(client, email: str, password: str, client_ip: str):
    """A login as the router forwards it: the client's address in X-Forwarded-For."""
    return client.post(
        "/login",
        data={"email": email, "password": password},
        headers={"X-Forwarded-For": client_ip, "X-Forwarded-Proto": "https"},
        environ_base={"REMOTE_ADDR": ROUTER},
    )


def wait_seconds(response) -> int:
    match = re.search(r"Vänta (\d+) (sekund|sekunder|minut|minuter)", response.text)
    assert match, response.text
    return int(match.group(1)) * (60 if match.group(2).startswith("minut") else 1)


def test_a_stranger_guessing_cannot_lock_the_owner_out(proxied_app, people):
    email = people.user(Role.ADMIN)
    stranger = proxied_app.test_client()
    answers = [login_via_router(stranger, email, WRONG, STRANGER_IP).status_code for _ in range(30)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}  # the stranger is slowed down
    owner = proxied_app.test_client()
    assert login_via_router(owner, email, PASSWORD, OWNER_IP).status_code == 302


def test_guesses_from_many_addresses_do_not_lock_out_the_owners_own_browser(proxied_app, people):
    email = people.user(Role.ADMIN)
    owner = proxied_app.test_client()
    assert login_via_router(owner, email, PASSWORD, OWNER_IP).status_code == 302
    owner.post("/logout", environ_base={"REMOTE_ADDR": ROUTER})
    # A botnet: every guess from another address, until the account slows every stranger down.
    answers = []
    for n in range(40):
        bot = proxied_app.test_client()
        answers.append(login_via_router(bot, email, WRONG, f"203.0.113.{n + 1}").status_code)
    assert 429 in answers
    # The owner's browser logged in here before: its own counter, untouched by the botnet.
    assert login_via_router(owner, email, PASSWORD, OWNER_IP).status_code == 302


def test_people_behind_the_router_are_told_apart_by_their_forwarded_address(proxied_app, people):
    email = people.user(Role.ADMIN)
    sprayer = proxied_app.test_client()
    for n in range(40):  # one password tried on many accounts from one address
        login_via_router(sprayer, f"person{n}@example.se", WRONG, STRANGER_IP)
    assert login_via_router(sprayer, "another@example.se", WRONG, STRANGER_IP).status_code == 429
    colleague = proxied_app.test_client()  # another customer, behind the same router
    assert login_via_router(colleague, email, PASSWORD, OWNER_IP).status_code == 302


def test_only_the_address_the_router_saw_is_believed(proxied_app, app, people):
    email = people.user(Role.ADMIN)
    stranger = proxied_app.test_client()
    for _ in range(6):
        # The stranger claims to be the owner; the router appends the address it really saw.
        login_via_router(stranger, email, WRONG, f"{OWNER_IP}, {STRANGER_IP}")
    owner = proxied_app.test_client()
    assert login_via_router(owner, email, PASSWORD, OWNER_IP).status_code == 302
    # Without TRUSTED_PROXY_HOPS the header is not read at all: inventing addresses buys nothing.
    direct = app.test_client()
    answers = [
        direct.post(
            "/login",
            data={"email": email, "password": WRONG},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        ).status_code
        for n in range(7)
    ]
    assert answers[5:] == [429, 429]


def test_guessing_waits_longer_after_every_attempt(client, people, auth):
    email = people.user(Role.ADMIN)
    assert [auth.login(email, WRONG).status_code for _ in range(5)] == [401] * 5
    refused = auth.login(email, WRONG)
    assert refused.status_code == 429
    first_wait = wait_seconds(refused)
    assert 1 <= first_wait <= 2
    time.sleep(first_wait + 0.2)  # as long as the page asked
    assert auth.login(email, WRONG).status_code == 401  # checked again once the wait is over
    refused = auth.login(email, PASSWORD)  # even the right password waits its turn
    assert refused.status_code == 429
    assert wait_seconds(refused) > first_wait


def test_a_right_password_after_a_few_typos_starts_over(client, people, auth):
    email = people.user(Role.ADMIN)
    for _ in range(4):
        assert auth.login(email, WRONG).status_code == 401
    assert auth.login(email).status_code == 302
    auth.logout()
    for _ in range(4):
        assert auth.login(email, WRONG).status_code == 401
    assert auth.login(email).status_code == 302


def test_parallel_guesses_are_counted_before_any_is_checked(app, people, monkeypatch):
    """40 guesses at once: only the free attempts reach the password check. Every check is
    held until all 40 requests are either being checked or refused, so a check-then-count
    limiter lets all 40 through."""
    email = people.user(Role.ADMIN)
    total = 40
    state = {"checked": 0, "refused": 0}
    changed = threading.Condition()
    real_check = User.check_password

    def held_check(self, password):
        with changed:
            state["checked"] += 1
            changed.notify_all()
            changed.wait_for(lambda: state["checked"] + state["refused"] >= total, timeout=120)
        return real_check(self, password)

    monkeypatch.setattr(User, "check_password", held_check)
    statuses: list[int] = []

    def guess() -> None:
        response = app.test_client().post("/login", data={"email": email, "password": WRONG})
        with changed:
            statuses.append(response.status_code)
            if response.status_code == 429:
                state["refused"] += 1
                changed.notify_all()

    threads = [threading.Thread(target=guess) for _ in range(total)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(statuses) == total
    assert state["checked"] == 5
    assert sorted(statuses) == [401] * 5 + [429] * 35


@pytest.fixture
def redis_down(app, monkeypatch):
    """Redis unreachable for the app (nothing listens on the port)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(app.extensions, "brygga_redis", Redis(port=port, socket_connect_timeout=1))


def test_with_redis_down_guesses_are_still_limited(client, people, auth, redis_down):
    email = people.user(Role.ADMIN)
    answers = [auth.login(email, WRONG).status_code for _ in range(10)]
    assert answers[:5] == [401] * 5
    assert set(answers[5:]) == {429}
