"""Brygga: the app factory. Reads like a table of contents."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, has_request_context, request
from flask_login import current_user
from jinja2 import ChoiceLoader, FileSystemLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp import pool, tenancy
from webapp.config import Config
from webapp.cookies import KeptCookieSessions
from webapp.crypto import load_keys
from webapp.extensions import Base, babel, csrf, db, htmx, login_manager, migrate
from webapp.logs import configure_logging, register_request_ids

PACKAGE_DIR = Path(__file__).resolve().parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_path=os.environ.get("BRYGGA_INSTANCE_PATH"))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    config = Config(app.instance_path)
    app.config.from_mapping(config.as_dict())
    if test_config:
        app.config.from_mapping(test_config)
    if not app.config["SECRET_KEY"]:
        raise RuntimeError("SECRET_KEY must be set outside dev and test (BRYGGA_ENV)")
    is_dev = app.config["BRYGGA_ENV"] in ("dev", "test")
    app.extensions["brygga_keys"] = load_keys(
        app.config["BRYGGA_ENCRYPTION_KEYS"], app.instance_path, allow_generate=is_dev
    )

    configure_logging(app.config["LOG_LEVEL"])
    # Pages in templates/, the fragments htmx swaps in partials/ — both on the search path.
    app.jinja_loader = ChoiceLoader(
        [FileSystemLoader(PACKAGE_DIR / "templates"), FileSystemLoader(PACKAGE_DIR / "partials")]
    )
    register_proxies(app)
    register_extensions(app)
    register_request_ids(app)
    register_request_scope(app)
    register_blueprints(app)
    register_recipient_kinds(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def register_proxies(app: Flask) -> None:
    """Behind a PaaS router: believe the client address and scheme the router forwards, from
    exactly TRUSTED_PROXY_HOPS proxies (a client's own X-Forwarded-* headers are never read)."""
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def register_request_scope(app: Flask) -> None:
    from webapp.security import register_request_scope as register

    register(app)


def select_locale() -> str:
    from flask import current_app

    lang = request.cookies.get("lang") if has_request_context() else None
    if lang and lang in current_app.config["LANGUAGES"]:
        return lang
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def register_extensions(app: Flask) -> None:
    from webapp import models  # noqa: F401  (every table known to Alembic)

    pool.configure(app)
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            pool.install(engine)
    tenancy.install(db.session.session_factory.class_, Base.registry)
    migrate.init_app(
        app,
        db,
        directory=str(PACKAGE_DIR.parent / "migrations"),
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    app.session_interface = KeptCookieSessions()
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    from webapp.auth.loading import load_user

    login_manager.user_loader(load_user)


def register_blueprints(app: Flask) -> None:
    from webapp.account.views import bp as account_bp
    from webapp.audit.views import bp as audit_bp
    from webapp.auth.views import bp as auth_bp
    from webapp.main.views import bp as main_bp
    from webapp.people.views import bp as people_bp
    from webapp.reports.views import bp as reports_bp
    from webapp.settings.views import bp as settings_bp
    from webapp.transfers.views import bp as transfers_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(settings_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(people_bp)
    app.register_blueprint(transfers_bp)


def register_recipient_kinds(app: Flask) -> None:
    """Every payroll system in webapp/recipients/ (a folder each, found here: adding one edits
    nothing else), in the order the admin sees them; each registers itself with its dialogs
    and templates."""
    import importlib
    import pkgutil

    from webapp import recipients

    for found in sorted(pkgutil.iter_modules(recipients.__path__), key=lambda m: m.name):
        if found.ispkg:
            importlib.import_module(f"webapp.recipients.{found.name}").register(app)


def register_errorhandlers(app: Flask) -> None:
    from webapp.main.errors import register

    register(app)


def register_security_headers(app: Flask) -> None:
    from webapp.security import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from webapp.formatting import register

    register(app)

    from webapp.services.pay_parts import parts_of

    app.jinja_env.globals["pay_parts"] = parts_of  # what a line sends to payroll

    @app.context_processor
    def inject_user() -> dict[str, Any]:
        return {"current_user": current_user, "current_locale": select_locale()}


def register_commands(app: Flask) -> None:
    from webapp.cli import register

    register(app)
