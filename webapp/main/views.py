"""The start page, the language switch and the health check."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from webapp.extensions import db
from webapp.queue import redis_connection

bp = Blueprint("main", __name__)
log = logging.getLogger(__name__)


@bp.route("/")
@login_required
def index():
    if current_user.is_admin:
        return redirect(url_for("settings.index"))
    return render_template("main/index.html")


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    target = request.referrer or url_for("main.index")
    if not target.startswith(request.host_url):
        target = url_for("main.index")
    response = redirect(target)
    if code in current_app.config["LANGUAGES"]:
        response.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


@bp.route("/healthz")
def healthz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("health check: database unavailable")
        checks["database"] = "unavailable"
    try:
        redis_connection().ping()
        checks["redis"] = "ok"
    except RedisError:
        log.warning("health check: redis unavailable")
        checks["redis"] = "unavailable"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "unavailable", **checks), 200 if healthy else 503
