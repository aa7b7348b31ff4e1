"""Pages that only read: their statements run without a transaction around them.

A page's BEGIN and ROLLBACK are two round trips to the database beside its few statements, and
in a threaded worker every round trip is one more wait for the GIL. A view marked `reads_only`
gets its connection in autocommit before its user is loaded, so neither is sent; each statement
sees the data as it is when it runs. Mark only views that write nothing (a write there would be
committed at once, statement by statement) and that need no single snapshot of what they read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, request

from webapp.extensions import db


def reads_only(view: Callable[..., Any]) -> Callable[..., Any]:
    view.reads_only = True  # type: ignore[attr-defined]
    return view


def begin_request() -> None:
    """Before anything queries: a GET of a view that only reads reads in autocommit."""
    view = current_app.view_functions.get(request.endpoint or "")
    if request.method != "GET" or not getattr(view, "reads_only", False):
        return
    if db.session().in_transaction():
        return  # already reading in a transaction (an app context held open around the request)
    db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
