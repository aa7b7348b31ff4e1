from redis import Redis


def test_healthz_is_green_when_database_and_redis_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_is_503_when_redis_is_down(app, client, monkeypatch):
    # A port nothing listens on: the same failure a stopped Redis gives.
    monkeypatch.setitem(app.extensions, "brygga_redis", Redis(port=1, socket_connect_timeout=0.2))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["redis"] == "unavailable"
    assert response.json["database"] == "ok"


def test_healthz_is_503_when_the_database_is_down(tmp_path, redis_url):
    from tests.support import make_test_app

    # A SQLite path inside a missing directory cannot be opened: the database is "down".
    broken = make_test_app(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3", redis_url, tmp_path)
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unavailable"


def test_pages_show_a_friendly_503_without_a_stack_trace_when_the_database_is_down(
    tmp_path, redis_url
):
    from tests.support import make_test_app

    broken = make_test_app(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3", redis_url, tmp_path)
    response = broken.test_client().post("/login", data={"email": "a@b.se", "password": "x" * 12})
    assert response.status_code == 503
    assert "Tjänsten är inte tillgänglig just nu" in response.text
    assert "Traceback" not in response.text
