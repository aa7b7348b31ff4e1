"""PAXml: the file validates against the PAXml 2.0 schema (shared/paxml), in UTF-8 and in
ISO-8859-1; downloading it marks the reports sent; downloading again is a re-export."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.reports.helpers import text_of
from tests.transfers.helpers import (
    CONFIRMED,
    add_paxml,
    approved_report,
    report_status,
    send,
    staff,
)
from webapp.models import ReportStatus

SHARED_XSD = (
    Path(__file__).resolve().parents[3] / "shared" / "paxml" / "paxml-2.0-rev2013-12-03.xsd"
)


def schema() -> etree.XMLSchema:
    path = SHARED_XSD
    if not path.exists():  # a checkout without ../shared: the app's byte-identical copy
        path = Path(__file__).resolve().parents[2] / "webapp" / "schemas" / path.name
    return etree.XMLSchema(etree.parse(str(path)))


def download(client, url):
    response = client.post(url + "/file")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"  # payroll lines: never cached
    return response.data


@pytest.mark.parametrize("encoding", ["UTF-8", "ISO-8859-1"])
def test_paxml_file_is_valid_marks_the_reports_sent_and_a_second_download_is_a_reexport(
    app, people, encoding
):
    s = staff(app, people)
    rid = add_paxml(app, s.admin, encoding=encoding)
    report = approved_report(s, "maria", km="300", outlay="1 234,50", cc="KS-100")
    preview = text_of(s.admin.get(f"/transfers/preview?recipient_id={rid}&report_id={report}"))
    assert "MILPRI_FRI" in preview and "UTLÄGG" in preview
    assert "Skickas (2 rader, 1 984,50 kr)" in preview

    response = send(s.admin, rid, [report])
    url = response.headers["Location"]
    page = text_of(s.admin.get(url))
    assert "Ladda ner PAXml-fil" in page and "räknas rapporterna som skickade" in page
    assert report_status(app, report) == ReportStatus.APPROVED  # not until it is downloaded

    data = download(s.admin, url)
    assert data.startswith(f"<?xml version='1.0' encoding='{encoding}'?>".encode())
    root = etree.fromstring(data)
    assert schema().validate(root), schema().error_log
    assert root.find("header/nyexport") is None
    assert root.findtext("header/foretagnamn") == "Testbolaget AB"
    trans = root.findall("lonetransaktioner/lonetrans")
    assert [(t.get("anstid"), t.findtext("lonkod"), t.findtext("antal"), t.findtext("apris"),
             t.findtext("belopp"), t.findtext("samlingsid"), t.findtext("datum"))
            for t in trans] == [
        ("1001", "MILPRI_FRI", "30.0", "25.00", "750.00", str(report), "2026-03-02"),
        ("1001", "UTLÄGG", "1", "1234.50", "1234.50", str(report), "2026-03-02"),
    ]  # fmt: skip
    assert trans[1].find("resenheter/resenhet").attrib == {"dim": "1", "id": "KS-100"}
    assert report_status(app, report) == ReportStatus.TRANSFERRED

    page = text_of(s.admin.get(url))
    assert "Ladda ner igen (omexport)" in page and "betalas utläggen två gånger" in page
    again = download(s.admin, url)
    root2 = etree.fromstring(again)
    assert schema().validate(root2), schema().error_log
    assert root2.find("header/nyexport").get("datum")  # marked as a re-export
    assert len(root2.findall("lonetransaktioner/lonetrans")) == 2
    assert report_status(app, report) == ReportStatus.TRANSFERRED
    history = text_of(s.admin.get(f"/transfers/recipients/{rid}"))
    assert "Skickad" in history and "1 984,50 kr" in history


def test_the_receivers_own_loneart_replaces_the_standard_code(app, people):
    from tests.transfers.helpers import choose_wage_types
    from webapp.payitems import PayItem

    s = staff(app, people)
    rid = add_paxml(app, s.admin)
    choose_wage_types(app, rid, {PayItem.OUTLAY: "721"})
    report = approved_report(s, "maria", km="", outlay="100", cc="")
    url = send(s.admin, rid, [report]).headers["Location"]
    [trans] = etree.fromstring(download(s.admin, url)).findall("lonetransaktioner/lonetrans")
    assert trans.findtext("lonart") == "721" and trans.find("lonkod") is None


def test_undo_of_a_file_puts_the_reports_back(app, people):
    s = staff(app, people)
    rid = add_paxml(app, s.admin)
    report = approved_report(s, "maria")
    url = send(s.admin, rid, [report]).headers["Location"]
    download(s.admin, url)
    page = text_of(s.admin.post(url + "/undo", data=CONFIRMED, follow_redirects=True))
    assert "Överföringen är ångrad" in page
    assert report_status(app, report) == ReportStatus.APPROVED
    assert s.admin.post(url + "/file").status_code == 404
