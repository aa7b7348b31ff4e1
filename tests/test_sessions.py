"""Sessions end on the server: after 30 minutes without a request, 12 hours after the login
(both configurable), and when the user logs out everywhere; a stolen cookie stops working
with its session."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from tests.support import PASSWORD, statements_sent
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Organization,
    RecipientKind,
    ReportRecipient,
    Role,
    SyncRun,
    SyncStatus,
    SyncTrigger,
    User,
    UserSession,
)
from webapp.models.base import utcnow
from webapp.models.sync import aware


def login(app, email: str, user_agent: str = "Testwebbläsare"):
    browser = app.test_client()
    browser.environ_base["HTTP_USER_AGENT"] = user_agent
    assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 302
    return browser


def age_sessions(app, **ago: timedelta) -> None:
    """Move every session's login (`created_at`) or last request (`last_seen_at`) back."""
    with app.app_context():
        now = utcnow()
        db.session.execute(update(UserSession).values({k: now - v for k, v in ago.items()}))
        db.session.commit()


def test_a_session_ends_after_thirty_minutes_without_a_request(app, people):
    browser = login(app, people.user(Role.ADMIN))
    age_sessions(app, last_seen_at=timedelta(minutes=29))
    assert browser.get("/settings/").status_code == 200  # still within the limit, and seen now
    age_sessions(app, last_seen_at=timedelta(minutes=31))
    response = browser.get("/settings/", follow_redirects=True)
    assert "Du har loggats ut eftersom sessionen gick ut." in response.text
    assert browser.get("/settings/").status_code == 302
    with app.app_context():
        assert db.session.scalars(select(UserSession.end_reason)).all() == ["idle"]


def test_a_session_ends_twelve_hours_after_the_login_however_busy(app, people):
    browser = login(app, people.user(Role.ADMIN))
    age_sessions(app, created_at=timedelta(hours=11, minutes=59), last_seen_at=timedelta(0))
    assert browser.get("/settings/").status_code == 200
    age_sessions(app, created_at=timedelta(hours=12, minutes=1), last_seen_at=timedelta(0))
    assert browser.get("/settings/").status_code == 302
    with app.app_context():
        assert db.session.scalars(select(UserSession.end_reason)).all() == ["expired"]


def test_the_lifetimes_are_configurable(app, people, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", 5)
    monkeypatch.setitem(app.config, "SESSION_MAX_HOURS", 1)
    browser = login(app, people.user(Role.ADMIN))
    age_sessions(app, last_seen_at=timedelta(minutes=6))
    assert browser.get("/settings/").status_code == 302
    browser = login(app, "admin@testbolaget.se")
    age_sessions(app, created_at=timedelta(minutes=61), last_seen_at=timedelta(0))
    assert browser.get("/settings/").status_code == 302


def test_the_account_page_lists_ones_active_sessions(app, people):
    email = people.user(Role.ADMIN)
    login(app, email, "Firefox på jobbet")
    here = login(app, email, "Safari i telefonen")
    page = here.get("/account/").text
    assert "Firefox på jobbet" in page and "Safari i telefonen" in page
    assert "Den här" in page


def test_logging_out_everywhere_ends_every_session(app, people):
    email = people.user(Role.ADMIN)
    office, phone = login(app, email, "Kontoret"), login(app, email, "Telefonen")
    stolen_cookie = phone.get_cookie("session").value
    answer = phone.post("/account/sessions/end-all", follow_redirects=True)
    assert "Du är utloggad överallt (2 inloggningar)." in answer.text
    assert office.get("/settings/").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen_cookie)
    assert thief.get("/settings/").status_code == 302
    with app.app_context():
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.action == "auth.sessions_ended")
        )
        assert event.details == {"count": 2}


def test_one_other_session_can_be_ended_from_the_list(app, people):
    email = people.user(Role.ADMIN)
    forgotten = login(app, email, "Lånedatorn på biblioteket")
    here = login(app, email, "Hemma")
    with app.app_context():
        library = db.session.scalar(
            select(UserSession.id).where(UserSession.user_agent == "Lånedatorn på biblioteket")
        )
    assert here.post(f"/account/sessions/{library}/end").status_code == 302
    assert forgotten.get("/settings/").status_code == 302
    assert here.get("/settings/").status_code == 200
    assert "Lånedatorn på biblioteket" not in here.get("/account/").text


def test_another_users_session_cannot_be_ended(app, people):
    other = login(app, people.user(Role.EMPLOYEE, email="anna@testbolaget.se"))
    me = login(app, people.user(Role.ADMIN))
    with app.app_context():
        theirs = db.session.scalar(
            select(UserSession.id)
            .join(UserSession.user)
            .where(UserSession.user.has(email="anna@testbolaget.se"))
        )
    assert me.post(f"/account/sessions/{theirs}/end").status_code == 404
    assert other.get("/reports/").status_code in (200, 302)
    assert other.get("/account/").status_code == 200


def test_sessions_keep_no_secret(app, people):
    browser = login(app, people.user(Role.ADMIN))
    cookie = browser.get_cookie("session").value
    with app.app_context():
        rows = db.session.scalars(select(UserSession)).all()
        stored = json.dumps([[r.token_hash, r.ip_address, r.user_agent] for r in rows])
    token = app.session_interface.get_signing_serializer(app).loads(cookie)["sid"]
    assert token not in stored  # only its hash


def test_sessions_older_than_ninety_days_are_purged_with_their_addresses(app, people, runner):
    login(app, people.user(Role.ADMIN), "Gammal webbläsare")
    age_sessions(app, created_at=timedelta(days=120), last_seen_at=timedelta(days=91))
    login(app, "admin@testbolaget.se", "Ny webbläsare")
    result = runner.invoke(args=["purge-expired"])
    assert result.exit_code == 0, result.output
    assert "1 session(s)" in result.output
    with app.app_context():
        assert db.session.scalars(select(UserSession.user_agent)).all() == ["Ny webbläsare"]


def test_a_polled_page_does_not_rewrite_the_session_cookie_yet_a_revoked_session_ends_at_once(
    app, people
):
    email = people.user(Role.ADMIN)
    browser = login(app, email, "Fliken som pollar")
    browser.get("/settings/")  # the first page stores its form token in the session
    again = browser.get("/settings/")
    assert again.status_code == 200
    assert "Set-Cookie" not in again.headers  # the login's cookie, expiring with the session
    other = login(app, email, "Telefonen")
    assert other.post("/account/sessions/end-all").status_code == 302
    assert browser.get("/settings/").status_code == 302  # refused on the very next request


def running_sync(app, email: str) -> str:
    """A sync of a recipient of the user's organization, running with a fresh heartbeat; the
    URL its progress fragment is polled at."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        recipient = ReportRecipient(
            organization_id=user.organization_id, kind=RecipientKind.NMBRS, display_name="Lön"
        )
        db.session.add(recipient)
        db.session.flush()
        run = SyncRun(
            recipient_id=recipient.id,
            trigger=SyncTrigger.MANUAL,
            status=SyncStatus.RUNNING,
            step="employees",
            job_id="running-elsewhere",
            calls_done=3,
            calls_total=7,
            started_at=utcnow(),
            heartbeat_at=utcnow(),
        )
        db.session.add(run)
        db.session.commit()
        return f"/settings/recipients/{recipient.id}/sync/{run.id}"


def poll(browser, url: str):
    return browser.get(url, headers={"HX-Request": "true"})


def test_a_polled_progress_is_refused_at_once_when_the_session_ends_everywhere(app, people):
    email = people.user(Role.ADMIN)
    browser = login(app, email, "Fliken som pollar")
    url = running_sync(app, email)
    assert 'value="3"' in poll(browser, url).text
    other = login(app, email, "Telefonen")
    assert other.post("/account/sessions/end-all").status_code == 302
    refused = poll(browser, url)
    assert refused.status_code in (302, 401) and "<progress" not in refused.text


def test_a_polled_progress_is_refused_at_once_after_a_password_change_or_a_lost_admin_role(
    app, people
):
    email = people.user(Role.ADMIN)
    browser = login(app, email)
    url = running_sync(app, email)
    with app.app_context():
        db.session.execute(update(User).values(role=Role.APPROVER))
        db.session.commit()
    assert poll(browser, url).status_code == 403
    with app.app_context():
        db.session.execute(update(User).values(session_version=User.session_version + 1))
        db.session.commit()
    refused = poll(browser, url)
    assert refused.status_code in (302, 401) and "<progress" not in refused.text


def test_an_idle_session_ends_on_its_next_poll_and_a_poll_keeps_a_session_alive(app, people):
    email = people.user(Role.ADMIN)
    browser = login(app, email)
    url = running_sync(app, email)
    age_sessions(app, last_seen_at=timedelta(minutes=2))
    assert poll(browser, url).status_code == 200
    with app.app_context():
        seen = db.session.scalar(select(UserSession.last_seen_at))
        assert utcnow() - aware(seen) < timedelta(minutes=1)  # the poll counted as a request
    age_sessions(app, last_seen_at=timedelta(minutes=31))
    assert poll(browser, url).status_code in (302, 401)
    with app.app_context():
        assert db.session.scalars(select(UserSession.end_reason)).all() == ["idle"]


def test_another_organizations_admin_gets_404_and_an_unenrolled_admin_the_second_factor(
    app, people
):
    url = running_sync(app, people.user(Role.ADMIN))
    stranger = login(app, people.user(Role.ADMIN, org="Annat AB"))
    assert poll(stranger, url).status_code == 404
    email = people.user(Role.ADMIN, email="ny@testbolaget.se")
    browser = login(app, email)
    with app.app_context():
        db.session.execute(update(Organization).values(mfa_required=True))
        db.session.commit()
    answer = poll(browser, url)
    assert answer.status_code == 204 and answer.headers["HX-Redirect"] == "/account/mfa"


def test_a_poll_of_a_running_sync_is_one_database_round_trip(app, people):
    """One statement, outside a transaction (no BEGIN and ROLLBACK around it): every open tab
    sends this request once a second."""
    email = people.user(Role.ADMIN)
    browser = login(app, email)
    url = running_sync(app, email)
    poll(browser, url)
    with statements_sent(app) as statements:
        assert 'value="3"' in poll(browser, url).text
    assert len(statements) == 1, statements
    assert statements[0][1]  # autocommit


def test_every_poll_shows_the_runs_latest_step_and_count_in_the_browsers_language(app, people):
    email = people.user(Role.ADMIN)
    browser = login(app, email)
    url = running_sync(app, email)
    other_url = running_sync(app, email)  # the same step and count, another recipient
    first = poll(browser, url).text
    assert 'value="3"' in first and "Hämtar anställda…" in first and url in first
    assert other_url in poll(browser, other_url).text and url not in poll(browser, other_url).text
    for values, shown in (({"calls_done": 5}, 'value="5"'), ({"step": "saving"}, "Sparar…")):
        with app.app_context():
            db.session.execute(update(SyncRun).values(values))
            db.session.commit()
        assert shown in poll(browser, url).text
    browser.set_cookie("lang", "en")
    assert "Saving…" in poll(browser, url).text


def test_a_finished_syncs_fragment_stops_the_polling_each_time_and_stays_its_organizations(
    app, people
):
    """Every open tab gets the finished run's fragment once, as its last answer: kept after the
    first, it still stops the polling, tells the page, costs one statement, and is another
    organization's admin's 404 as before."""
    email = people.user(Role.ADMIN)
    browser = login(app, email)
    url = running_sync(app, email)
    assert 'hx-trigger="load delay:1s, poll"' in poll(browser, url).text
    with app.app_context():
        counts = {"wage_types": {"added": 4, "changed": 0, "archived": 0, "total": 4}}
        db.session.execute(
            update(SyncRun).values(
                status=SyncStatus.SUCCEEDED, step=None, finished_at=utcnow(), counts=counts
            )
        )
        db.session.commit()
    for _tab in range(3):  # rendered by the view, then kept
        with statements_sent(app) as statements:
            last = poll(browser, url)
        assert last.status_code == 200 and last.headers["HX-Trigger"] == "sync-finished"
        assert 'data-status="succeeded"' in last.text and "hx-trigger" not in last.text
        assert "Klart" in last.text and "<td>4</td>" in last.text
    assert len(statements) == 1, statements
    stranger = login(app, people.user(Role.ADMIN, org="Annat AB"))
    refused = poll(stranger, url)
    assert refused.status_code == 404 and "Klart" not in refused.text
