"""A running sync's progress poll (webapp/polls.py): every open tab's poll is answered at once,
a new step or count, a sync still queued and a session due to be marked seen included, and
never to anyone the view would refuse."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import select, update

from tests.support import statements_sent
from tests.test_sessions import age_sessions, login, poll, running_sync
from webapp.extensions import db
from webapp.models import Role, SyncRun, SyncStatus, UserSession
from webapp.models.base import utcnow
from webapp.models.sync import aware
from webapp.services import sessions
from webapp.services.sync import runner


@contextmanager
def statements_of(app):
    """The SQL statements sent while the block runs."""
    with statements_sent(app) as sent:
        seen: list[str] = []
        yield seen
    seen.extend(statement for statement, _autocommit in sent)


def duration(fragment: str) -> str:
    """How long a finished sync took, as its fragment says."""
    found = re.search(r"Hämtat från Nmbrs .*? på ([^<]+?)\.", fragment)
    assert found, fragment
    return found.group(1)


def change_run(app, **values) -> None:
    with app.app_context():
        db.session.execute(update(SyncRun).values(values))
        db.session.commit()


def test_each_new_step_and_count_is_answered_by_the_poll_in_one_statement(app, people):
    """A count changes a few times a second while a sync runs: the first poll after each
    change is as cheap as the others (no detour through the user loader and the view)."""
    email = people.user(Role.ADMIN)
    browser = login(app, email)
    url = running_sync(app, email)
    assert 'value="3"' in poll(browser, url).text
    for values, shown in (
        ({"calls_done": 4}, 'value="4"'),
        ({"calls_done": 6, "calls_total": 9}, 'max="10" value="6"'),
        ({"step": "saving"}, "Sparar…"),
    ):
        change_run(app, **values)
        with statements_of(app) as seen:
            answer = poll(browser, url)
        assert answer.status_code == 200 and shown in answer.text, answer.text
        assert 'hx-trigger="load delay:1s, poll"' in answer.text and url in answer.text
        assert "HX-Trigger" not in answer.headers
        assert len(seen) == 1, seen


def test_a_new_sync_still_queued_is_answered_by_the_poll_and_a_retry_by_the_view(app, people):
    email = people.user(Role.ADMIN)
    browser = login(app, email)
    url = running_sync(app, email)
    now = utcnow()
    change_run(
        app,
        status=SyncStatus.QUEUED,
        step=None,
        calls_done=0,
        calls_total=0,
        started_at=None,
        heartbeat_at=None,
        created_at=now,
    )
    with statements_of(app) as seen:
        queued = poll(browser, url)
    assert queued.status_code == 200 and 'data-status="queued"' in queued.text
    assert "Väntar på en ledig arbetsprocess…" in queued.text
    assert 'hx-trigger="load delay:1s, poll"' in queued.text
    assert len(seen) == 1, seen
    # Waiting for its next try after Nmbrs did not answer: the view tells why and when.
    change_run(app, error_code="unavailable", next_retry_at=now + timedelta(minutes=1))
    with statements_of(app) as seen:
        retry = poll(browser, url)
    assert retry.status_code == 200 and "Nmbrs svarar inte just nu" in retry.text
    assert "Nästa försök" in retry.text
    assert len(seen) > 1  # the loader's and the view's own reading


def test_a_poll_due_to_mark_the_session_seen_writes_it_and_is_answered(app, people):
    email = people.user(Role.ADMIN)
    browser = login(app, email)
    url = running_sync(app, email)
    poll(browser, url)
    age_sessions(app, last_seen_at=timedelta(minutes=2))
    with statements_of(app) as seen:
        answer = poll(browser, url)
    assert answer.status_code == 200 and 'value="3"' in answer.text
    assert [s.split()[0] for s in seen] == ["SELECT", "UPDATE"], seen
    with app.app_context():
        last_seen = db.session.scalar(select(UserSession.last_seen_at))
    assert utcnow() - aware(last_seen) < timedelta(minutes=1)
    with statements_of(app) as seen:
        poll(browser, url)
    assert len(seen) == 1  # seen now: not written again for a minute


def test_another_organizations_admin_is_not_answered_from_the_kept_fragment(app, people):
    email = people.user(Role.ADMIN)
    owner = login(app, email)
    url = running_sync(app, email)
    assert 'value="3"' in poll(owner, url).text  # rendered and kept
    stranger = login(app, people.user(Role.ADMIN, org="Annat AB"))
    refused = poll(stranger, url)
    assert refused.status_code == 404 and "<progress" not in refused.text
    change_run(app, status=SyncStatus.QUEUED, heartbeat_at=None, created_at=utcnow())
    refused = poll(stranger, url)
    assert refused.status_code == 404 and "<progress" not in refused.text


def test_a_run_of_a_database_made_anew_is_not_answered_with_the_old_runs_fragment(app, people):
    """Run ids start from 1 again in a new database (a laptop's reset, each test's): the
    process that kept the old run 1's finished fragment must not show it for the new run 1."""
    email = people.user(Role.ADMIN)
    browser = login(app, email)
    url = running_sync(app, email)
    started = utcnow() - timedelta(minutes=5)
    finished = dict(status=SyncStatus.SUCCEEDED, step=None, started_at=started)
    change_run(app, **finished, finished_at=started + timedelta(seconds=2))
    before = poll(browser, url).text
    assert "Klart" in before and poll(browser, url).text == before  # kept: answered again
    # The same id, made at another moment, with another outcome: another run.
    change_run(
        app,
        created_at=utcnow() - timedelta(minutes=1),
        finished_at=started + timedelta(seconds=40),
    )
    after = poll(browser, url).text
    assert "Klart" in after and duration(after) != duration(before)
    assert duration(after) == duration(poll(browser, url).text)  # and its own is kept


def test_the_polls_one_statement_reads_what_sqlalchemy_reads(app, people):
    """The poll's statement runs at driver level (`QuickSelect`): its session, user and run come
    back as SQLAlchemy's own execution gives them (enums, times), on each database alike."""
    email = people.user(Role.ADMIN)
    browser = login(app, email)
    url = running_sync(app, email)
    poll(browser, url)
    change_run(app, error_code="unavailable", next_retry_at=utcnow() + timedelta(minutes=1))
    with app.app_context():
        session_row = db.session.scalars(select(UserSession)).one()
        run = db.session.scalars(select(SyncRun)).one()
        params = sessions.cookie_params(session_row.user_id, "no such token")
        params |= {"recipient_id": run.recipient_id, "run_id": run.id}
        statement = runner._POLLED.statement
        with db.engine.connect() as conn:
            token_hash = session_row.token_hash
            core = conn.execute(statement, params | {"cookie_token_hash": token_hash}).one()
        quick = runner._POLLED.first(db.engine, params | {"cookie_token_hash": token_hash})
        assert quick == tuple(core)
        assert [type(v) for v in quick] == [type(v) for v in core]
        assert isinstance(quick[5], Role) and SyncStatus(quick[9]) is quick[9]
        assert runner._POLLED.first(db.engine, params) is None  # another cookie's token
