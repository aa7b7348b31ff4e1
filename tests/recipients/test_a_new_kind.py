"""The seam is real: a payroll system that exists only in the tests (tests/recipients/kassaboken/,
registered here and nowhere else) goes through the settings box, its dialog, the preview, a
send exactly once (also across a worker that dies after Kassaboken stored the lines) and undo,
with nothing of it outside its own folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import jobs.context
from tests.recipients import kassaboken
from tests.reports.helpers import login, text_of
from tests.support import make_test_app
from tests.sync.helpers import work
from tests.transfers.helpers import (
    CONFIRMED,
    approved_report,
    report_status,
    staff,
    transfers,
)
from webapp.extensions import db
from webapp.models import ReportRecipient, ReportStatus, TransferStatus
from webapp.services import transfer as transfer_service


@pytest.fixture(scope="session")
def kind_app(app):
    """The app with Kassaboken registered: same database, Redis and keys as `app`."""
    kind_app = make_test_app(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["REDIS_URL"], Path(app.instance_path)
    )
    kassaboken.register(kind_app)
    return kind_app


@pytest.fixture
def on_kind_app(kind_app, monkeypatch):
    """Jobs run on the app that knows Kassaboken; short heartbeats."""
    monkeypatch.setitem(kind_app.config, "SYNC_HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setitem(kind_app.config, "SYNC_DEAD_AFTER_SECONDS", 3)
    monkeypatch.setattr(jobs.context, "_app", kind_app)
    monkeypatch.setattr(jobs.context, "_app_pid", os.getpid())
    kassaboken.REMOTE.clear()
    return kind_app


def remote(recipient_id: int) -> list[tuple]:
    return sorted(kassaboken.REMOTE.get(recipient_id, {}).values())


def test_a_payroll_system_added_as_a_folder_goes_from_the_box_to_undo(app, people, on_kind_app):
    kind_app = on_kind_app
    s = staff(app, people)
    admin = login(kind_app, "admin@testbolaget.se")

    # The settings box offers it, its own dialog adds it, and the box shows its row.
    chooser = text_of(admin.get("/settings/recipients/new"))
    assert "Kassaboken" in chooser and "/settings/recipients/new/kassaboken" in chooser
    assert "Namn i listan" in text_of(admin.get("/settings/recipients/new/kassaboken"))
    assert admin.post(
        "/settings/recipients/new/kassaboken", data={"display_name": "Kassaboken AB"}
    ).status_code in (200, 302)
    box = text_of(admin.get("/settings/"))
    assert "Kassaboken AB" in box and "Kassaboken · API" in box and "Kassaboken redo" in box
    with kind_app.app_context():
        rid = db.session.scalar(
            db.select(ReportRecipient.id).where(ReportRecipient.kind == "kassaboken")
        )
    view = text_of(admin.get(f"/settings/recipients/{rid}"))
    assert 'id="kassaboken-lines">0<' in view
    assert "Välj vad som skickas till Kassaboken." in text_of(
        admin.get(f"/settings/recipients/{rid}/advanced")
    )

    # The preview plans every line with the kind's planner.
    reports = [approved_report(s, "maria", cc=""), approved_report(s, "johan", cc="")]
    query = f"recipient_id={rid}&" + "&".join(f"report_id={r}" for r in reports)
    ready = text_of(admin.get("/transfers/"))
    assert "(Kassaboken)" in ready
    preview = text_of(admin.get(f"/transfers/preview?{query}"))
    assert "Raderna skickas till Kassaboken." in preview and "1001" in preview

    # Sent by a worker; the worker dies after Kassaboken stored the lines, before Brygga
    # recorded them: Försök igen sends nothing twice.
    response = admin.post("/transfers/send", data={"recipient_id": rid, "report_id": reports})
    assert response.status_code == 302, response.text
    url = response.headers["Location"]
    kassaboken.crash_after_send["armed"] = True
    with pytest.raises(kassaboken.Crash), kind_app.app_context():
        transfer_service.execute(transfers(kind_app)[0].id)
    stored = remote(rid)
    assert len(stored) == 4  # two people, a mileage line and an outlay each
    [t] = transfers(kind_app)
    assert t.status == TransferStatus.FAILED
    assert admin.post(url + "/retry").status_code == 302
    work(kind_app)
    assert remote(rid) == stored  # exactly once
    [t] = transfers(kind_app)
    assert t.status == TransferStatus.SUCCEEDED and t.lines_sent == 4
    assert all(report_status(kind_app, r) == ReportStatus.TRANSFERRED for r in reports)
    page = text_of(admin.get(url))
    assert "4 av 4 rader i Kassaboken." in page and "Tar bort raderna i Kassaboken." in page

    # Undo, in a worker: Kassaboken gives the lines back, the reports wait to be sent again.
    confirm = text_of(admin.get(url + "/undo"))
    assert "4 rader tas bort ur Kassaboken, för:" in confirm  # Ångra asks first
    assert admin.post(url + "/undo", data=CONFIRMED).status_code == 302
    work(kind_app)
    assert remote(rid) == []
    [t] = transfers(kind_app)
    assert t.status == TransferStatus.UNDONE
    assert all(report_status(kind_app, r) == ReportStatus.APPROVED for r in reports)


def test_the_new_kind_lives_in_its_folder_only():
    """Nothing outside tests/recipients/kassaboken/ names it but this test."""
    root = Path(__file__).resolve().parents[2]
    here = Path(__file__).resolve()
    folder = here.parent / "kassaboken"
    named = [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix in (".py", ".html", ".toml", ".cfg")
        and ".venv" not in p.parts
        and folder not in p.parents
        and p != here
        and "kassaboken" in p.read_text(encoding="utf-8", errors="ignore").lower()
    ]
    assert named == []
