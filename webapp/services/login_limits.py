"""Who may try a password or a code how often: the rules of `webapp.services.throttle`.

A login is counted per account *and* client, per account over all unknown clients (with a hard
ceiling far above the first), and per client across accounts (password spraying). Delays grow
with every attempt instead of locking the account, and the account's owner, in a browser where
they logged in before (a signed device cookie, `webapp.auth.devices`), is counted on a counter
of their own that nobody else's guesses touch: a stranger slows down only strangers.
The client is the real client address, from the trusted proxy hops (TRUSTED_PROXY_HOPS).
"""

from __future__ import annotations

import math

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext

from webapp.services.throttle import Counter, Decision, Rule, reserve, settle


def _rule(name: str) -> Rule:
    cfg = current_app.config
    window = cfg["LOGIN_ATTEMPT_WINDOW_SECONDS"]
    per_client = cfg["LOGIN_ATTEMPTS_PER_ACCOUNT"]
    rules = {
        # name: free attempts, first delay, longest delay (seconds), window, ceiling
        "login-device": (per_client, 2, 300, window, 0),
        "login-account-client": (per_client, 2, 300, window, 0),
        "login-account": (
            cfg["LOGIN_ATTEMPTS_PER_ACCOUNT_ALL_CLIENTS"], 1, 60, window,
            cfg["LOGIN_ACCOUNT_CEILING"],
        ),
        "login-client": (cfg["LOGIN_ATTEMPTS_PER_IP"], 1, 60, window, 0),
        "reset-email": (3, 60, 900, window, 0),
        "reset-client": (10, 10, 600, window, 0),
        "mfa-code": (5, 2, 300, window, 0),
        "password-check": (per_client, 2, 300, window, 0),
    }  # fmt: skip
    free, base, longest, window, ceiling = rules[name]
    return Rule(name, free, base, longest, window, ceiling)


def wait_message(decision: Decision) -> str:
    """What to tell a person who must wait (the same for every counter, so it reveals nothing
    about whether the account exists)."""
    seconds = max(1, math.ceil(decision.retry_after))
    if seconds < 120:
        wait = ngettext("%(num)d sekund", "%(num)d sekunder", seconds)
    else:
        wait = ngettext("%(num)d minut", "%(num)d minuter", math.ceil(seconds / 60))
    return _("För många försök. Vänta %(wait)s och försök igen.", wait=wait)


def _counter(rule: str, *subject: object) -> Counter:
    return Counter(_rule(rule), "|".join(str(s).lower() for s in subject))


def _login_counters(email: str, client: str, device: str | None) -> list[Counter]:
    if device:
        # A browser this account logged in from before: its own counter, nobody else's.
        return [_counter("login-device", email, device)]
    return [
        _counter("login-account-client", email, client),
        _counter("login-account", email),
        _counter("login-client", client),
    ]


def reserve_login(email: str, client: str, device: str | None) -> Decision:
    """Count a login attempt before the password is checked, or say how long to wait."""
    return reserve(_login_counters(email, client, device))


def login_succeeded(email: str, client: str, device: str | None) -> None:
    counters = _login_counters(email, client, device)
    settle(counters[:1], clear=True)  # this account from this client (or device): start over
    settle(counters[1:], clear=False)  # the shared counters: this attempt was no guess


def account_recovered(email: str) -> None:
    """After a password reset the owner has proved control of the e-mail: strangers' count on
    the account no longer holds them back (the strangers' own client counters stay)."""
    settle([_counter("login-account", email)], clear=True)


def reserve_reset_request(email: str, client: str) -> Decision:
    """A password-reset e-mail: a few per address and per client, then slower."""
    return reserve([_counter("reset-email", email), _counter("reset-client", client)])


def reserve_code(user_id: int) -> Decision:
    """A second-factor or recovery code of this user, before it is checked."""
    return reserve([_counter("mfa-code", user_id)])


def code_succeeded(user_id: int) -> None:
    settle([_counter("mfa-code", user_id)], clear=True)


def reserve_password_check(user_id: int) -> Decision:
    """The current password when changing it: a stolen session must not guess it quickly."""
    return reserve([_counter("password-check", user_id)])


def password_check_succeeded(user_id: int) -> None:
    settle([_counter("password-check", user_id)], clear=True)
