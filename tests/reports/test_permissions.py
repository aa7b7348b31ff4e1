from webapp.models import ReportStatus, Role

from .helpers import add_mileage, company, login, new_report, report_row


def _submitted_report(app, people, org="Testbolaget AB"):
    staff = company(people, org)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    add_mileage(maria, report_id)
    maria.post(f"/reports/{report_id}/submit")
    return staff, report_id


def test_an_employee_sees_only_their_own_reports(app, people):
    staff, report_id = _submitted_report(app, people)
    johan = login(app, staff["johan"])
    assert johan.get(f"/reports/{report_id}").status_code == 404
    assert "Kundbesök Göteborg</a>" not in johan.get("/reports/").text
    assert add_mileage(johan, report_id).status_code == 404
    assert johan.post(f"/reports/{report_id}/withdraw").status_code == 404
    assert report_row(app, report_id).status == ReportStatus.SUBMITTED


def test_an_employee_cannot_approve(app, people):
    staff, report_id = _submitted_report(app, people)
    johan = login(app, staff["johan"])
    assert johan.get("/reports/approvals").status_code == 403
    assert johan.post(f"/reports/{report_id}/approve").status_code == 403
    assert report_row(app, report_id).status == ReportStatus.SUBMITTED


def test_an_approver_of_another_organization_gets_404(app, people):
    _, report_id = _submitted_report(app, people)
    other = login(app, people.user(Role.APPROVER, org="Andra Bolaget AB"))
    assert other.get(f"/reports/{report_id}").status_code == 404
    assert other.post(f"/reports/{report_id}/approve").status_code == 404
    assert "Kundbesök Göteborg</a>" not in other.get("/reports/approvals").text
    assert report_row(app, report_id).status == ReportStatus.SUBMITTED


def test_an_approver_does_not_see_drafts(app, people):
    staff = company(people)
    maria = login(app, staff["maria"])
    report_id = new_report(maria)
    approver = login(app, staff["approver"])
    assert approver.get(f"/reports/{report_id}").status_code == 404


def test_nobody_approves_their_own_report(app, people):
    staff = company(people)
    approver = login(app, staff["approver"])
    report_id = new_report(approver, "Egen resa")
    add_mileage(approver, report_id)
    approver.post(f"/reports/{report_id}/submit")
    assert "Egen resa" not in approver.get("/reports/approvals").text
    response = approver.post(f"/reports/{report_id}/approve", follow_redirects=True)
    assert "Du kan inte attestera din egen rapport." in response.text
    assert report_row(app, report_id).status == ReportStatus.SUBMITTED


def test_admin_pages_are_for_admins(app, people):
    staff = company(people)
    approver = login(app, staff["approver"])
    for url in ("/reports/ready", "/reports/policy", "/reports/foreign-tables"):
        assert approver.get(url).status_code == 403
    admin = login(app, staff["admin"])
    for url in ("/reports/ready", "/reports/policy", "/reports/foreign-tables"):
        assert admin.get(url).status_code == 200


def test_menu_entries_follow_the_role(app, people):
    staff = company(people)
    employee_menu = login(app, staff["maria"]).get("/reports/").text
    assert "Mina utlägg" in employee_menu and "Att attestera" not in employee_menu
    approver_menu = login(app, staff["approver"]).get("/reports/").text
    assert "Att attestera" in approver_menu and "Redo att skickas" not in approver_menu
    admin_menu = login(app, staff["admin"]).get("/reports/").text
    assert "Att attestera" in admin_menu and "Redo att skickas" in admin_menu
