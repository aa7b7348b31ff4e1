"""Logging to stdout: one JSON object per line, with the request, organization and job it
belongs to, so a PaaS log drain can be searched by any of them.

Nothing here formats secrets: callers log ids and codes, never tokens or passwords, and the
client libraries that would log URLs and headers (urllib3) are kept at WARNING.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from datetime import UTC, datetime

from flask import Flask, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"


class ContextFilter(logging.Filter):
    """Adds request_id, organization_id and job_id to every record, where they are known."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = None
        record.organization_id = None
        if has_request_context():
            record.request_id = getattr(g, "request_id", None)
            # Only a user already loaded by this request: logging must never query the database.
            user = g.get("_login_user")
            record.organization_id = getattr(user, "organization_id", None)
        record.job_id = _current_job_id()
        return True


def _current_job_id() -> str | None:
    try:
        from rq import get_current_job

        job = get_current_job()
    except Exception:  # outside a worker there is no connection to ask
        return None
    return job.id if job is not None else None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "organization_id", "job_id"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_brygga", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler._brygga = True  # type: ignore[attr-defined]
        handler.setFormatter(JsonFormatter())
        handler.addFilter(ContextFilter())
        root.addHandler(handler)
    root.setLevel(level)
    # urllib3 logs full URLs and headers at DEBUG; keep it quiet so nothing sensitive leaks.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def register_request_ids(app: Flask) -> None:
    """Every request gets an id (the router's X-Request-ID when it sends a sane one)."""

    @app.before_request
    def assign_request_id() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        ok = 0 < len(incoming) <= 64 and incoming.replace("-", "").isalnum()
        g.request_id = incoming if ok else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response):
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response
