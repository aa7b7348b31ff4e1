"""Redis (queue, locks, limits) stops: pages still render, the sync button says the queue is
unavailable, nothing is lost, and work resumes by itself when Redis is back — empty."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.faults.conftest import recipient_id
from tests.recipients.helpers import DEMO_TOKEN, DEMO_USERNAME, active, add_demo_nmbrs
from tests.reports.helpers import login, new_report
from tests.sync.helpers import progress_url, runs, start_sync, work
from webapp.extensions import db
from webapp.models import SyncRun, SyncStatus

QUEUE_DOWN = "Kön för bakgrundsjobb svarar inte just nu"


def test_with_redis_down_pages_render_and_the_sync_button_says_the_queue_is_unavailable(
    redis_app, own_redis, admin_client
):
    rid = recipient_id(redis_app)
    own_redis.stop()

    for url in ("/settings/", f"/settings/recipients/{rid}", "/reports/", "/people/", "/audit/"):
        page = admin_client.get(url)
        assert page.status_code == 200, url
    employee = login(redis_app, "maria@testbolaget.se")  # logging in works without Redis
    new_report(employee)
    assert redis_app.test_client().get("/healthz").status_code == 503

    answer = start_sync(admin_client, rid)
    assert answer.status_code == 200 and QUEUE_DOWN in answer.text
    assert "hx-trigger" not in answer.text  # nothing to poll: nothing was started
    plain = admin_client.post(f"/settings/recipients/{rid}/sync", follow_redirects=True)
    assert plain.status_code == 200 and QUEUE_DOWN in plain.text
    assert runs(redis_app) == []  # no run left behind that would never start

    own_redis.start()  # back, empty: the next click works without anyone doing anything
    assert redis_app.test_client().get("/healthz").status_code == 200
    started = start_sync(admin_client, rid)
    assert "hx-trigger" in started.text
    work(redis_app)
    assert [r.status for r in runs(redis_app)] == [SyncStatus.SUCCEEDED]


def test_a_queued_sync_whose_job_redis_lost_runs_when_redis_is_back(
    redis_app, own_redis, admin_client
):
    rid = recipient_id(redis_app)
    url = progress_url(start_sync(admin_client, rid).text)  # queued; no worker yet
    own_redis.stop()

    waiting = admin_client.get(url)
    assert waiting.status_code == 200
    assert QUEUE_DOWN in waiting.text and "ingenting går förlorat" in waiting.text
    assert "hx-trigger" in waiting.text  # still polling: it has not given up

    own_redis.start()  # without persistence: the job is gone, the run row is not
    with redis_app.app_context():  # a few beats later
        run = db.session.scalar(db.select(SyncRun))
        run.created_at -= timedelta(seconds=30)
        db.session.commit()
    assert 'data-status="queued"' in admin_client.get(url).text  # the poll re-enqueued it
    work(redis_app)
    done = admin_client.get(url)
    assert 'data-status="succeeded"' in done.text
    assert [r.status for r in runs(redis_app)] == [SyncStatus.SUCCEEDED]


def test_with_redis_down_a_key_that_sees_several_companies_says_so_and_saves_nothing(
    redis_app, own_redis, admin_client
):
    before = [r.display_name for r in active(redis_app)]
    own_redis.stop()

    key = {"username": DEMO_USERNAME, "token": DEMO_TOKEN, "environment": "se"}
    answer = admin_client.post("/settings/recipients/new/nmbrs", data=key)
    assert answer.status_code == 200
    assert QUEUE_DOWN in answer.text and "Ingenting sparades" in answer.text
    assert 'name="company_id"' not in answer.text  # no company step to continue from
    assert DEMO_TOKEN not in answer.text
    assert [r.display_name for r in active(redis_app)] == before

    own_redis.start()  # back: the same key goes through both steps
    assert add_demo_nmbrs(admin_client).status_code == 302
    assert len(active(redis_app)) == len(before) + 1


def test_with_redis_gone_before_the_company_is_chosen_the_dialog_says_so_and_saves_nothing(
    redis_app, own_redis, admin_client
):
    before = [r.display_name for r in active(redis_app)]
    key = {"username": DEMO_USERNAME, "token": DEMO_TOKEN, "environment": "se"}
    first = admin_client.post("/settings/recipients/new/nmbrs", data=key)
    ref = re.search(r'name="ref"[^>]*value="([^"]+)"', first.text).group(1)
    company_id = re.findall(r'name="company_id"[^>]*value="(\d+)"', first.text)[0]
    own_redis.stop()

    answer = admin_client.post(
        "/settings/recipients/new/nmbrs/company", data={"ref": ref, "company_id": company_id}
    )
    assert answer.status_code == 200
    assert QUEUE_DOWN in answer.text and "Det tog för lång tid" not in answer.text
    assert [r.display_name for r in active(redis_app)] == before
