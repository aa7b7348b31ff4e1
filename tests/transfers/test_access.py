"""Skicka till lön is for admins, and only for their own organization's reports and transfers."""

from __future__ import annotations

from tests.reports.helpers import login
from tests.sync.helpers import work
from tests.transfers.helpers import (
    approved_report,
    connect_nmbrs,
    send,
    staff,
    stored,
    transfer_url,
)
from webapp.models import Role


def test_only_admins_of_the_organization_reach_transfers(app, people, nmbrs_sandbox, fast):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    report = approved_report(s, "maria", km="300", outlay="")
    url = transfer_url(send(s.admin, rid, [report]))
    work(app)

    for client in (s.approver, s.maria):
        assert client.get("/transfers/").status_code == 403
        assert client.get(url).status_code == 403
        assert client.post(url + "/undo").status_code == 403

    people.user(Role.ADMIN, org="Annat AB", email="admin@annat.se")
    other = login(app, "admin@annat.se")
    assert other.get(url).status_code == 404
    assert other.get(url + "/progress").status_code == 404
    assert other.post(url + "/undo").status_code == 404
    assert other.post(url + "/retry").status_code == 404
    assert other.get(f"/transfers/recipients/{rid}").status_code == 404
    assert other.get(f"/transfers/preview?recipient_id={rid}&report_id={report}").status_code == 404
    assert send(other, rid, [report]).status_code == 404
    assert "Kundbesök" not in other.get("/transfers/").text
    assert len(stored(nmbrs_sandbox)) == 1  # the undo above changed nothing
