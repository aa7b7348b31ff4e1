"""Who may see what: role checks shared by every blueprint."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user, login_required


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Logged-in admins of the organization only; others get 403, anonymous users the login."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def approver_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Logged-in approvers and admins only; others get 403, anonymous users the login."""

    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.can_approve:
            abort(403)
        return view(*args, **kwargs)

    return wrapped
