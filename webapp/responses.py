"""Answers that work for htmx and for plain browsers alike (progressive enhancement)."""

from __future__ import annotations

from typing import Any, cast

from flask import Response, flash, make_response, redirect, render_template

from webapp.extensions import htmx


def render_dialog(partial: str, **context: Any) -> str:
    """A dialog fragment for htmx; the same fragment inside a full page without JavaScript."""
    if htmx:
        return render_template(partial, as_page=False, **context)
    return render_template("dialog_page.html", partial=partial, as_page=True, **context)


def finish(url: str, message: str | None = None) -> Response:
    """After a successful change: flash, then reload `url` (htmx) or redirect to it (plain).

    A full reload keeps every box on the page consistent with what was saved.
    """
    if message:
        flash(message, "success")
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return cast(Response, redirect(url))
