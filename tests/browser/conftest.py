"""Browser tests: Playwright driving Debian's /usr/bin/chromium against a live server."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

import jobs.context
from tests.support import PATIENCE_SECONDS, make_test_app
from tests.sync.helpers import work

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

# Playwright's own waits (expect, clicks, page loads) follow the page's state; with a generous
# ceiling a busy machine makes a browser test slower, never red.
PATIENCE_MS = PATIENCE_SECONDS * 1000
expect.set_options(timeout=PATIENCE_MS)

# htmx wires up links and forms when the page has loaded. A person never clicks in the first
# milliseconds, but Playwright clicks as soon as an element shows: on a busy machine that can be
# before htmx, and the plain link is followed (a full page instead of the dialog). Until the
# page's load event a transparent cover lies over it; Playwright's clicks wait for an element
# that receives them, so they land once htmx is ready. (Styled through the CSSOM: CSP allows it.)
WAIT_FOR_LOAD_BEFORE_CLICKS = """
(() => {
  const cover = document.createElement("div");
  cover.setAttribute("aria-hidden", "true");
  Object.assign(cover.style, {position: "fixed", inset: "0", zIndex: "2147483647"});
  const place = () => {
    if (!document.documentElement) return false;
    document.documentElement.append(cover);
    return true;
  };
  if (!place()) {
    const watch = new MutationObserver(() => place() && watch.disconnect());
    watch.observe(document, {childList: true});
  }
  window.addEventListener("load", () => setTimeout(() => cover.remove(), 0));
})();
"""


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
def context(context):
    context.add_init_script(script=WAIT_FOR_LOAD_BEFORE_CLICKS)
    context.set_default_timeout(PATIENCE_MS)
    context.set_default_navigation_timeout(PATIENCE_MS)
    return context


@pytest.fixture
def worker(live_app, monkeypatch):
    """An RQ worker in a thread of the test process, running jobs on the live server's app."""
    monkeypatch.setattr(jobs.context, "_app", live_app)
    monkeypatch.setattr(jobs.context, "_app_pid", os.getpid())
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            work(live_app)
            stop.wait(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(PATIENCE_SECONDS)
    # A worker still busy would run into the next test, on tables being emptied.
    assert not thread.is_alive(), "the in-process worker did not stop"


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
