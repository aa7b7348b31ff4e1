"""Hämta senaste data från Nmbrs: the admin's click, the worker's run, what the page shows."""

from __future__ import annotations

import re
import threading
import time

from rq.registry import ScheduledJobRegistry

from tests.sync.helpers import progress_url, queue, run_scheduled_now, runs, start_sync, work
from webapp.extensions import db
from webapp.models import (
    CostCenter,
    KeyStatus,
    NmbrsConnection,
    PayrollEmployee,
    ReportRecipient,
    Role,
    SyncRun,
    SyncStatus,
    User,
    WageType,
)


def catalog(app, model, recipient_id):
    with app.app_context():
        rows = db.session.scalars(db.select(model).where(model.recipient_id == recipient_id))
        return {r.nmbrs_id: (r.code, r.description, r.archived) for r in rows}


def test_first_sync_fills_the_catalogues_and_shows_what_was_added(
    app, client, recipient_id, nmbrs_sandbox
):
    response = start_sync(client, recipient_id)
    assert response.status_code == 200
    assert 'hx-trigger="load delay:1s, poll"' in response.text  # queued: the fragment polls itself
    assert "<progress" in response.text

    work(app)

    done = client.get(progress_url(response.text), headers={"HX-Request": "true"})
    assert "hx-trigger" not in done.text  # finished: polling stops
    assert done.headers["HX-Trigger"] == "sync-finished"
    assert "Klart" in done.text
    assert "Lönearter" in done.text and "Anställda" in done.text
    wage_types = catalog(app, WageType, recipient_id)
    employees = catalog(app, PayrollEmployee, recipient_id)
    assert len(wage_types) == 30  # both wage models merged, duplicates once
    assert len(employees) == 5
    assert len(catalog(app, CostCenter, recipient_id)) == 6
    with app.app_context():
        assert db.session.get(ReportRecipient, recipient_id).last_synced_at is not None

    page = client.get(f"/settings/recipients/{recipient_id}")
    assert "Senaste hämtningar" in page.text
    assert "Admin Testsson" in page.text  # who asked for it
    assert "49 tillagda, 0 ändrade, 0 arkiverade" in page.text  # summed over the catalogues
    assert "Senast synkad" in page.text
    assert "Månadslön" in page.text  # the wage types tab lists what came from Nmbrs


def test_second_sync_adds_renames_and_archives_what_changed_in_nmbrs(
    app, client, recipient_id, nmbrs_sandbox, company_id
):
    start_sync(client, recipient_id)
    work(app)
    state = nmbrs_sandbox.state
    before = catalog(app, CostCenter, recipient_id)
    center_id = next(i for i, (code, _, _) in before.items() if code == "200")
    gone_employee = next(iter(catalog(app, PayrollEmployee, recipient_id)))
    state.add_wage_type(company_id, 7777, "Friskvårdsbidrag", model=2)
    state.rename_wage_type(company_id, 1000, "Månadslön tjänsteman")
    state.remove_wage_type(company_id, 5500)
    state.rename_cost_center(company_id, center_id, "Produktion Kungälv")
    state.remove_employee(company_id, gone_employee)

    response = start_sync(client, recipient_id)
    work(app)
    done = client.get(progress_url(response.text))

    wage_types = catalog(app, WageType, recipient_id)
    assert wage_types[7777] == ("7777", "Friskvårdsbidrag", False)
    assert wage_types[1000][1] == "Månadslön tjänsteman"
    assert wage_types[5500][2] is True  # archived, never deleted
    assert catalog(app, CostCenter, recipient_id)[center_id][1] == "Produktion Kungälv"
    assert catalog(app, PayrollEmployee, recipient_id)[gone_employee][2] is True
    second = runs(app)[-1]
    assert second.counts["wage_types"] == {"added": 1, "changed": 1, "archived": 1, "total": 30}
    assert second.counts["cost_centers"]["changed"] == 1
    assert second.counts["employees"]["archived"] == 1
    assert "<td>1</td><td>1</td><td>1</td><td>30</td>" in done.text  # the wage types row

    # Back in Nmbrs: un-archived, still the same row (settings and history point at it).
    state.add_wage_type(company_id, 5500, "Utlägg")
    start_sync(client, recipient_id)
    work(app)
    assert catalog(app, WageType, recipient_id)[5500] == ("5500", "Utlägg", False)
    assert runs(app)[-1].counts["wage_types"]["changed"] == 1


def test_the_recipient_view_shows_what_each_sync_brought_also_when_seen_before_it(
    app, client, recipient_id, nmbrs_sandbox, company_id
):
    """The catalogue tabs' counts and tables are kept between views of the recipient until
    the next sync; a sync that changes a catalogue shows on the next view."""
    start_sync(client, recipient_id)
    work(app)
    view = f"/settings/recipients/{recipient_id}"
    for _ in range(2):
        page = client.get(view).text
        assert "<td>Månadslön</td>" in page and "Friskvårdsbidrag" not in page
    wage_types = re.search(r'Lönearter <span class="count">(\d+)</span>', page).group(1)
    cost_centers = client.get(f"{view}?tab=cost_centers").text
    center = re.search(r"<td>200</td>\s*<td>([^<]+)</td>", cost_centers).group(1)
    assert center != "Produktion Kungälv"

    state = nmbrs_sandbox.state
    state.add_wage_type(company_id, 7777, "Friskvårdsbidrag", model=2)
    state.rename_wage_type(company_id, 1000, "Månadslön tjänsteman")
    center_id = next(
        i for i, (code, _, _) in catalog(app, CostCenter, recipient_id).items() if code == "200"
    )
    state.rename_cost_center(company_id, center_id, "Produktion Kungälv")
    start_sync(client, recipient_id)
    work(app)

    page = client.get(view).text
    assert "<td>Månadslön tjänsteman</td>" in page and "<td>Friskvårdsbidrag</td>" in page
    assert f'Lönearter <span class="count">{int(wage_types) + 1}</span>' in page
    assert "<td>Produktion Kungälv</td>" in client.get(f"{view}?tab=cost_centers").text
    # The filter box's table too, unfiltered and filtered.
    table = client.get(f"/settings/recipients/{recipient_id}/catalog/wage_types")
    assert "<td>Månadslön tjänsteman</td>" in table.text
    table = client.get(f"/settings/recipients/{recipient_id}/catalog/wage_types?q=frisk")
    assert "<td>Friskvårdsbidrag</td>" in table.text and "Månadslön" not in table.text


def test_reset_token_marks_the_key_rejected_and_is_not_retried(
    app, client, recipient_id, nmbrs_sandbox
):
    nmbrs_sandbox.state.reset_token("lon@grannbolaget.se")
    response = start_sync(client, recipient_id)
    work(app)

    [run] = runs(app)
    assert run.status == SyncStatus.FAILED and run.error_code == "key_rejected"
    assert ScheduledJobRegistry(queue=queue(app)).get_job_ids() == []  # no retry of a 1001
    with app.app_context():
        assert db.session.scalar(db.select(NmbrsConnection.key_status)) == KeyStatus.REJECTED
    fragment = client.get(progress_url(response.text), headers={"HX-Request": "true"}).text
    assert "Nmbrs nekade API-nyckeln" in fragment
    assert "Ange en ny API-nyckel" in fragment
    assert f'hx-get="/settings/recipients/{recipient_id}/key?back=view"' in fragment
    assert "Nyckeln nekad" in client.get("/settings/").text
    assert catalog(app, WageType, recipient_id) == {}


def test_nmbrs_down_is_retried_later_and_then_succeeds(app, client, recipient_id, nmbrs_sandbox):
    nmbrs_sandbox.state.set_failure(mode="html503")
    response = start_sync(client, recipient_id)
    work(app)

    [run] = runs(app)
    assert run.status == SyncStatus.QUEUED and run.next_retry_at is not None
    fragment = client.get(progress_url(response.text)).text
    assert 'hx-trigger="load delay:1s, poll"' in fragment  # still waiting: keeps polling
    assert "Nmbrs svarar inte just nu" in fragment and "Nästa försök" in fragment
    assert catalog(app, WageType, recipient_id) == {}

    nmbrs_sandbox.state.clear_failure()
    assert run_scheduled_now(app) == 1
    work(app)
    [run] = runs(app)
    assert run.status == SyncStatus.SUCCEEDED and run.attempts == 2
    assert len(catalog(app, WageType, recipient_id)) == 30


def test_nmbrs_down_for_good_fails_and_says_when_the_next_automatic_try_is(
    app, client, recipient_id, nmbrs_sandbox
):
    nmbrs_sandbox.state.set_failure(mode="drop")
    response = start_sync(client, recipient_id)
    work(app)
    run_scheduled_now(app)
    work(app)  # the last retry fails too

    [run] = runs(app)
    assert run.status == SyncStatus.FAILED and run.error_code == "unavailable"
    fragment = client.get(progress_url(response.text)).text
    assert "hx-trigger" not in fragment
    assert "försök igen senare" in fragment
    assert "Nästa automatiska försök" in fragment and "02:00" in fragment


def test_malformed_xml_fails_and_changes_nothing(
    app, client, recipient_id, nmbrs_sandbox, company_id
):
    start_sync(client, recipient_id)
    work(app)
    before = catalog(app, WageType, recipient_id)
    nmbrs_sandbox.state.rename_wage_type(company_id, 1000, "Nytt namn")
    nmbrs_sandbox.state.set_failure(mode="malformed", operations=["List_GetByCompany"], times=1)

    response = start_sync(client, recipient_id)
    work(app)

    run = runs(app)[-1]
    assert run.status == SyncStatus.FAILED and run.error_code == "protocol"
    assert catalog(app, WageType, recipient_id) == before  # the rename was not half-applied
    fragment = client.get(progress_url(response.text)).text
    assert "Svaret från Nmbrs gick inte att tolka" in fragment


def test_a_failure_while_saving_changes_nothing(
    app, client, recipient_id, nmbrs_sandbox, company_id, monkeypatch
):
    start_sync(client, recipient_id)
    work(app)
    before = catalog(app, WageType, recipient_id)
    nmbrs_sandbox.state.rename_wage_type(company_id, 1000, "Nytt namn")
    nmbrs_sandbox.state.add_wage_type(company_id, 7777, "Friskvårdsbidrag")
    # An employee renamed too: the employees are re-matched (and that step breaks).
    someone = next(iter(catalog(app, PayrollEmployee, recipient_id)))
    nmbrs_sandbox.state.rename_employee(company_id, someone, "Omdöpt Anställd")

    def broken(recipient):
        raise RuntimeError("disk full")

    monkeypatch.setattr("webapp.services.employee_mapping.rematch", broken)
    start_sync(client, recipient_id)
    work(app)

    run = runs(app)[-1]
    assert run.status == SyncStatus.FAILED and run.error_code == "error"
    assert catalog(app, WageType, recipient_id) == before


def test_the_history_counts_the_time_the_save_took(
    app, client, recipient_id, nmbrs_sandbox, monkeypatch
):
    """A large first sync spends most of its time saving: Tid ends when the save does."""
    from datetime import timedelta

    from webapp.models.base import utcnow
    from webapp.services import employee_mapping

    later = [timedelta(0)]
    rematch = employee_mapping.rematch

    def slow_rematch(recipient):  # the save's last step, two minutes in
        rematch(recipient)
        later[0] = timedelta(minutes=2)

    monkeypatch.setattr("webapp.services.employee_mapping.rematch", slow_rematch)
    monkeypatch.setattr("webapp.services.sync.catalogue.utcnow", lambda: utcnow() + later[0])
    start_sync(client, recipient_id)
    work(app)

    [run] = runs(app)
    assert run.status == SyncStatus.SUCCEEDED
    page = client.get(f"/settings/recipients/{recipient_id}").text
    cell = re.search(r'<td data-attempts="1">(.*?)</td>', page, re.S).group(1)
    assert re.fullmatch(r"2 min \d+ s", " ".join(cell.split()).replace("\xa0", " ")), cell


def test_the_open_tabs_show_the_save_while_it_runs_and_the_worker_goes_on_beating(
    app, client, recipient_id, nmbrs_sandbox, monkeypatch
):
    """A large first sync spends seconds saving: its step is there for every tab to see, and
    nothing of the save's long transaction holds the run's row (the worker's heartbeat, a
    reaper) until the save ends."""
    from sqlalchemy import text, update

    from webapp.models.base import utcnow
    from webapp.services import employee_mapping

    response = start_sync(client, recipient_id)
    url = progress_url(response.text)
    run_id = int(url.rsplit("/", 1)[1])
    seen: dict[str, object] = {}
    rematch = employee_mapping.rematch

    def watched_rematch(recipient):  # inside the save's transaction
        rematch(recipient)
        seen["fragment"] = client.get(url, headers={"HX-Request": "true"}).text
        if db.engine.dialect.name == "postgresql":  # SQLite locks the whole file while saving
            with db.engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '5s'"))
                beat = conn.execute(
                    update(SyncRun).where(SyncRun.id == run_id).values(heartbeat_at=utcnow())
                )
                seen["beat"] = beat.rowcount

    monkeypatch.setattr("webapp.services.employee_mapping.rematch", watched_rematch)
    work(app)

    assert "Sparar…" in seen["fragment"] and 'hx-trigger="load delay:1s, poll"' in seen["fragment"]
    assert seen.get("beat", 1) == 1
    [run] = runs(app)
    assert run.status == SyncStatus.SUCCEEDED and run.step is None
    assert "Klart" in client.get(url).text


def test_slow_nmbrs_shows_live_progress_and_calls_run_concurrently(
    app, client, recipient_id, nmbrs_sandbox, monkeypatch
):
    state = nmbrs_sandbox.state
    state.set_latency(1000)
    # Calls that Nmbrs holds at the same moment: counted where the sandbox holds each call for
    # its latency, so that the proof does not depend on how fast this machine is.
    held = {"now": 0, "most": 0}
    counting = threading.Lock()
    hold = state.hold

    def counted_hold(seconds: float) -> bool:
        with counting:
            held["now"] += 1
            held["most"] = max(held["most"], held["now"])
        try:
            return hold(seconds)
        finally:
            with counting:
                held["now"] -= 1

    monkeypatch.setattr(state, "hold", counted_hold)
    response = start_sync(client, recipient_id)
    url = progress_url(response.text)
    worker = threading.Thread(target=work, args=(app,))
    worker.start()
    seen = set()
    while worker.is_alive():
        fragment = client.get(url, headers={"HX-Request": "true"}).text
        if 'data-status="running"' in fragment:
            seen.add(fragment.split('<p class="sync-step">')[1].split("<")[0])
        time.sleep(0.1)
    worker.join()
    assert seen & {"Hämtar företag…", "Hämtar lönearter…", "Hämtar anställda…"}
    # The catalogues that need nothing from one another are asked for at once, not one after
    # the other (which would make a slow Nmbrs ten times as slow for the admin watching).
    assert held["most"] >= 4
    [run] = runs(app)
    assert run.status == SyncStatus.SUCCEEDED
    assert "Klart" in client.get(url).text


def test_double_click_second_tab_and_nightly_join_one_sync(
    app, client, recipient_id, nmbrs_sandbox
):
    import jobs.sync

    first = start_sync(client, recipient_id)
    second = start_sync(client, recipient_id)
    assert progress_url(first.text) == progress_url(second.text)
    assert jobs.sync.nightly(recipient_id).startswith("run ")
    assert len(runs(app)) == 1
    assert queue(app).count == 1  # one job
    work(app)
    [run] = runs(app)
    assert run.status == SyncStatus.SUCCEEDED

    # Done: the next click starts a new run (RQ still holds the finished job's id).
    start_sync(client, recipient_id)
    work(app)
    assert [r.status for r in runs(app)] == [SyncStatus.SUCCEEDED, SyncStatus.SUCCEEDED]


def test_without_javascript_the_button_posts_and_redirects(app, client, recipient_id):
    response = client.post(f"/settings/recipients/{recipient_id}/sync")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/settings/recipients/{recipient_id}")
    page = client.get(response.headers["Location"]).text
    assert "Hämta senaste data från Nmbrs" in page
    assert 'hx-trigger="load delay:1s, poll"' in page  # the queued run's status is on the page


def test_another_organizations_admin_cannot_start_or_read_a_sync(
    app, client, recipient_id, people, auth
):
    response = start_sync(client, recipient_id)
    url = progress_url(response.text)
    auth.logout()
    auth.login(people.user(org="Annat Bolag AB"))
    assert client.post(f"/settings/recipients/{recipient_id}/sync").status_code == 404
    assert client.get(url).status_code == 404
    auth.logout()
    from webapp.models import Role

    auth.login(people.user(Role.EMPLOYEE))
    assert client.post(f"/settings/recipients/{recipient_id}/sync").status_code == 403
    assert client.get(url).status_code == 403
    assert len(runs(app)) == 1


def test_the_history_shows_the_attempts_and_the_waiting(app, client, recipient_id, nmbrs_sandbox):
    """Issue 12, item 14: a sync that needed a second try says so in Tid, with the time the
    attempts worked and the time spent waiting (here a quarter of an hour before the first)."""
    import re
    from datetime import timedelta

    nmbrs_sandbox.state.set_failure(mode="html503")
    start_sync(client, recipient_id)
    work(app)
    with app.app_context():
        [run] = db.session.scalars(db.select(SyncRun)).all()
        run.created_at = run.created_at - timedelta(minutes=15)  # asked for 15 minutes ago
        db.session.commit()
    nmbrs_sandbox.state.clear_failure()
    assert run_scheduled_now(app) == 1
    work(app)
    [run] = runs(app)
    assert run.status == SyncStatus.SUCCEEDED and len(run.attempt_log) == 2
    assert [a["ok"] for a in run.attempt_log] == [False, True]
    page = client.get(f"/settings/recipients/{recipient_id}").text
    cell = re.search(r'<td data-attempts="2">(.*?)</td>', page, re.S).group(1)
    text = " ".join(cell.split()).replace("\xa0", " ")
    assert re.fullmatch(r"2 försök: [\d,]+ s arbete, 15 min \d+ s väntan", text), text


def test_a_next_night_sync_diffs_only_what_changed_and_still_matches_new_people(
    app, client, recipient_id, nmbrs_sandbox, company_id, people, monkeypatch
):
    """Issue 15: a catalogue whose content did not change is not diffed again, and employees
    are re-matched only when they (or the organization's employee numbers) changed."""
    from webapp.services.sync import catalogue

    start_sync(client, recipient_id)
    work(app)
    first = runs(app)[-1]
    diffed: list[str] = []
    original = catalogue.diff

    def spy(model, *args, **kwargs):
        diffed.append(model.__name__)
        return original(model, *args, **kwargs)

    monkeypatch.setattr(catalogue, "diff", spy)
    start_sync(client, recipient_id)
    work(app)
    again = runs(app)[-1]
    assert again.status == SyncStatus.SUCCEEDED and diffed == []
    assert {k: c["total"] for k, c in again.counts.items()} == {
        k: c["total"] for k, c in first.counts.items()
    }

    nmbrs_sandbox.state.rename_wage_type(company_id, 1000, "Nytt namn")
    start_sync(client, recipient_id)
    work(app)
    assert diffed == ["WageType"]
    assert catalog(app, WageType, recipient_id)[1000][1] == "Nytt namn"

    # Someone new in Brygga with an Nmbrs employee's number: matched at the next sync, though
    # nothing changed in Nmbrs.
    with app.app_context():
        employee = db.session.scalars(
            db.select(PayrollEmployee).where(
                PayrollEmployee.recipient_id == recipient_id, PayrollEmployee.user_id.is_(None)
            )
        ).first()
        code = employee.code
    people.user(Role.EMPLOYEE, email="ny@testbolaget.se", employee_number=code, name="Ny")
    start_sync(client, recipient_id)
    work(app)
    assert diffed == ["WageType", "PayrollEmployee"]
    with app.app_context():
        matched = db.session.scalar(
            db.select(PayrollEmployee.user_id).where(
                PayrollEmployee.recipient_id == recipient_id, PayrollEmployee.code == code
            )
        )
        assert matched == db.session.scalar(
            db.select(User.id).where(User.email == "ny@testbolaget.se")
        )
