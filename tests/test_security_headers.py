from webapp.security import CSP


def test_pages_carry_a_strict_csp_and_no_sniff(client, admin):
    response = client.get("/settings/")
    assert response.headers["Content-Security-Policy"] == CSP
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP
    assert "frame-ancestors 'none'" in CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_stay_cacheable(client):
    response = client.get("/static/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_no_inline_script_in_any_page(client, admin):
    page = client.get("/settings/").text
    assert "<script>" not in page and "<script " not in page.replace("<script src=", "")
    assert "onclick=" not in page


def test_hsts_only_outside_dev(app, client, monkeypatch, redis_url, tmp_path):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    from tests.support import make_test_app

    monkeypatch.setenv("BRYGGA_ENCRYPTION_KEYS", "")
    prod = make_test_app(
        app.config["SQLALCHEMY_DATABASE_URI"],
        redis_url,
        tmp_path,
        BRYGGA_ENV="production",
        BRYGGA_ENCRYPTION_KEYS="kQ1Qz1b0cVx3m5k2r8yTt7Zq0W9sYbq3n2Vb7cD1eF8=",
    )
    response = prod.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
