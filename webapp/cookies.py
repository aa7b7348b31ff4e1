"""The session cookie, its signature checked once per process and cookie.

Every open tab polls a sync's progress once a second with the same cookie, and checking the
cookie anew on each request (a key derived, two HMACs, base64, zlib and JSON) took a fifth of
such a poll's own work in the web process (measured). A cookie whose signature this process
checked is kept with its contents, keyed by its exact text (a changed session is a new
cookie), and its age is still judged on every request as Flask judges it. A cookie never
verified here, a forged or expired one, goes Flask's own way; so does one carrying anything
but plain values (flashed messages), which each request must get a copy of its own.
"""

from __future__ import annotations

import time

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

from webapp.kept import Kept

_PLAIN = (str, int, float, bool, type(None))


class KeptCookieSessions(SecureCookieSessionInterface):
    def __init__(self) -> None:
        # Per app (its secret keys); a browser's cookie changes only when its session does.
        self.kept: Kept[tuple[dict, int]] = Kept(4096)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        value = request.cookies.get(self.get_cookie_name(app))
        if not value or not app.secret_key:
            return super().open_session(app, request)
        max_age = int(app.permanent_session_lifetime.total_seconds())
        kept = self.kept.peek((app.secret_key, value))
        if kept is not None:
            data, signed_at = kept
            # itsdangerous' own judgement of a signature's age, in whole seconds.
            if 0 <= int(time.time()) - signed_at <= max_age:
                return self.session_class(data)
            return self.session_class()
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        try:
            data, signed = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if all(isinstance(v, _PLAIN) for v in data.values()):
            self.kept.get((app.secret_key, value), lambda: (data, int(signed.timestamp())))
        return self.session_class(data)
