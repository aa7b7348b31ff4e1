"""The database goes away: /healthz says 503, pages are the friendly 503 without a stack trace,
and everything works again when the database is back, without a restart."""

from __future__ import annotations

from tests.support import PASSWORD, make_test_app
from webapp.extensions import db
from webapp.services import accounts

DOWN_TITLE = "Tjänsten är inte tillgänglig just nu"


def test_with_the_database_down_pages_are_a_friendly_503_and_recover(
    own_database, own_redis, tmp_path
):
    app = make_test_app(own_database.url, own_redis.url, tmp_path / "instance")
    with app.app_context():
        db.create_all()
        org = accounts.get_or_create_organization("Testbolaget AB")
        accounts.create_user(org, "admin@testbolaget.se", PASSWORD, "Anna Admin", "admin")
        db.session.commit()
    client = app.test_client()
    assert client.post("/login", data={"email": "admin@testbolaget.se", "password": PASSWORD})
    assert client.get("/settings/").status_code == 200

    own_database.down()
    with app.app_context():
        db.engine.dispose()  # as when the database server restarts: the pooled sockets die
    try:
        health = client.get("/healthz")
        assert health.status_code == 503 and health.json["database"] == "unavailable"
        for method, url in [("GET", "/settings/"), ("GET", "/reports/"), ("POST", "/login")]:
            page = client.open(url, method=method, data={"email": "a@b.se", "password": "x"})
            assert page.status_code == 503, url
            assert DOWN_TITLE in page.text
            for trace in ("Traceback", "sqlalchemy", "OperationalError", "psycopg", "sqlite3"):
                assert trace not in page.text
    finally:
        own_database.up()

    assert client.get("/healthz").status_code == 200
    assert client.get("/settings/").status_code == 200  # still logged in, no restart
    with app.app_context():
        db.engine.dispose()
