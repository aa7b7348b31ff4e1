"""Browser tests: Playwright driving Debian's /usr/bin/chromium against a live server."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.support import make_test_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            # In CI a missing browser is a failure, not a skip: .ci/run installs it.
            if not CHROMIUM.exists() and not os.environ.get("CI"):
                item.add_marker(
                    pytest.mark.skip(
                        reason="Debian's chromium is not installed (/usr/bin/chromium)"
                    )
                )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def live_app(app, tmp_path_factory):
    """The real app as a browser meets it: CSRF on, same database and Redis as `app`."""
    return make_test_app(
        app.config["SQLALCHEMY_DATABASE_URI"],
        app.config["REDIS_URL"],
        tmp_path_factory.mktemp("live-instance"),
        WTF_CSRF_ENABLED=True,
    )


@pytest.fixture(scope="session")
def live_server(live_app):
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def login(page, live_server):
    from tests.support import PASSWORD

    def do_login(email: str, password: str = PASSWORD):
        page.goto(f"{live_server}/login")
        page.get_by_label("E-post").fill(email)
        page.get_by_label("Lösenord").fill(password)
        page.get_by_role("button", name="Logga in").click()

    return do_login


@pytest.fixture(autouse=True)
def _no_csp_violations(request):
    """Every browser test also proves the pages work under the strict CSP: no blocked script."""
    if "page" not in request.fixturenames:
        yield
        return
    page = request.getfixturevalue("page")
    blocked: list[str] = []
    page.on(
        "console",
        lambda msg: (
            blocked.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield
    assert blocked == [], f"the page broke the Content-Security-Policy: {blocked}"
