import io
import json
import logging

from webapp.logs import ContextFilter, JsonFormatter


def test_every_response_carries_a_request_id_and_keeps_a_sane_incoming_one(client):
    generated = client.get("/login")
    assert len(generated.headers["X-Request-ID"]) == 32
    kept = client.get("/login", headers={"X-Request-ID": "router-abc-123"})
    assert kept.headers["X-Request-ID"] == "router-abc-123"
    hostile = client.get("/login", headers={"X-Request-ID": 'x" {"level":"ERROR"}'})
    assert hostile.headers["X-Request-ID"] != 'x" {"level":"ERROR"}'


def test_log_lines_are_json_with_request_and_organization(app, people):
    from flask_login import login_user

    from tests.conftest import get_user

    email = people.user()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("webapp.test")
    logger.addHandler(handler)
    try:
        with app.test_request_context("/settings/", headers={"X-Request-ID": "req-1"}):
            user = get_user(email)  # before the request states its (anonymous) scope
            app.preprocess_request()
            login_user(user)
            logger.warning("probe %s", 42)
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["message"] == "probe 42"
    assert entry["level"] == "WARNING"
    assert entry["request_id"] == "req-1"
    assert entry["organization_id"] == user.organization_id
