"""Friendly error pages; never a stack trace to the browser."""

from __future__ import annotations

import logging

from flask import Flask, g, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError

from webapp.extensions import login_manager
from webapp.services.errors import Forbidden, Invalid, NotFound

log = logging.getLogger(__name__)


# htmx does not swap an error response by itself, so a click that met one used to show
# nothing. These codes are swapped (responseHandling in base.html) into the page's error
# region: the page behind stays as it was, and says what happened.
HTMX_SHOWN = (400, 403, 404, 405, 500, 503)


def error_response(code: int, **context):
    """The error page, or for an htmx request the same message in the page's error region."""
    if request.headers.get("HX-Request") == "true" and code in HTMX_SHOWN:
        response = make_response(
            render_template("errors/_htmx_error.html", code=code, **context), code
        )
        response.headers["HX-Retarget"] = "#htmx-error"
        response.headers["HX-Reswap"] = "innerHTML"
        # A dialog would cover the message (the page behind a modal is inert): close it.
        response.headers["HX-Trigger"] = "modal:close"
        return response
    return make_response(render_template("errors/error.html", code=code, **context), code)


def register(app: Flask) -> None:
    def page(code: int):
        def handler(error):
            return error_response(code)

        return handler

    for code in (400, 403, 404, 405, 429, 500):
        app.register_error_handler(code, page(code))
    # The services' domain errors (webapp.services.errors), as the views would answer them.
    app.register_error_handler(NotFound, page(404))
    app.register_error_handler(Forbidden, page(403))
    app.register_error_handler(Invalid, page(422))

    @app.errorhandler(413)
    def too_large(error):
        response = make_response(render_template("errors/error.html", code=413), 413)
        # An htmx form (a receipt upload) gets the page in place of the whole page: htmx swaps
        # this one error (responseHandling in base.html); the form cannot be shown again unread.
        response.headers["HX-Retarget"] = "body"
        response.headers["HX-Reswap"] = "innerHTML"
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return error_response(400, csrf=True)

    @app.errorhandler(OperationalError)
    def database_down(error):
        log.error("database unavailable: %s", type(error).__name__)
        if "_login_user" not in g:
            # Loading the user is what failed: rendering must not try again (Flask-Login's
            # context processor would), or the friendly page becomes a bare 500.
            g._login_user = login_manager.anonymous_user()
        return error_response(503)
