"""The browser a person logged in from before: a signed cookie that gives the account's owner
a login counter of their own (webapp.services.login_limits), and the client's address."""

from __future__ import annotations

import secrets

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

COOKIE = "brygga_device"
MAX_AGE = 180 * 24 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="brygga-device")


def client_address() -> str:
    """The client's address: the peer, or what the trusted proxies say (TRUSTED_PROXY_HOPS,
    applied by Werkzeug's ProxyFix in the app factory)."""
    return request.remote_addr or "unknown"


def known_device(user_id: int) -> str | None:
    """This browser's id when it logged in to `user_id` before, else None."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer().loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("u") != user_id:
        return None
    return str(data.get("d") or "") or None


def remember_device(response: Response, user_id: int) -> None:
    device = known_device(user_id) or secrets.token_urlsafe(16)
    response.set_cookie(
        COOKIE,
        _serializer().dumps({"u": user_id, "d": device}),
        max_age=MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
