"""One Nmbrs call per batch, and read-backs only when a batch is in doubt: a transfer stopped at
the new crash point (recorded as going out, not yet sent) and beside a component typed by hand
in Nmbrs sends nothing twice, never takes that component for its own, and marks a line osäker
when it cannot tell. Against the sandbox over HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.reports.helpers import text_of
from tests.sync.helpers import work
from tests.transfers.helpers import (
    CONFIRMED,
    approved_report,
    connect_nmbrs,
    employee_id,
    report_status,
    send,
    staff,
    stored,
    transfer_url,
    transfers,
)
from tests.transfers.test_exactly_once import (
    Crash,
    component_ids,
    crash_at,
    run_until_crash,
    try_again,
    worker_found_dead,
)
from webapp.models import LineStatus, ReportStatus, TransferStatus

MARIA_KM = (1001, 5100, "750.00", None, 11)


@pytest.fixture
def setup(app, people, nmbrs_sandbox, fast):
    s = staff(app, people)
    rid = connect_nmbrs(app, s.admin)
    reports = [
        approved_report(s, "maria", km="300", outlay="1 234,50", cc=""),
        approved_report(s, "johan", km="120", outlay="99,90", cc="", title="Leverantör"),
    ]
    expected = sorted(
        [MARIA_KM, (1001, 5500, "1234.50", None, 11), (1002, 5100, "300.00", None, 11),
         (1002, 5500, "99.90", None, 11)]
    )  # fmt: skip
    return s, rid, reports, expected


def typed_by_hand(nmbrs_sandbox) -> None:
    """Maria already has 750,00 on 5100 in the period, typed in Nmbrs by the payroll admin."""
    nmbrs_sandbox.state.store_component(
        employee_id=employee_id(nmbrs_sandbox, 1001), code=5100, value=Decimal("750.00"),
        year=2026, period=11, cost_center_id=None, cost_unit_id=None, comment="manuell",
    )  # fmt: skip


def calls(monkeypatch, nmbrs_sandbox) -> list[str]:
    """The SOAP operations Nmbrs (the sandbox) receives from now on."""
    seen: list[str] = []
    state = nmbrs_sandbox.state
    original = state.pick_failure

    def recording(operation: str):
        seen.append(operation)
        return original(operation)

    monkeypatch.setattr(state, "pick_failure", recording)
    return seen


def test_a_transfer_makes_one_nmbrs_call_per_batch_and_reads_nothing_back(
    app, nmbrs_sandbox, setup, monkeypatch
):
    s, rid, reports, expected = setup
    url = transfer_url(send(s.admin, rid, reports))
    seen = calls(monkeypatch, nmbrs_sandbox)
    work(app)
    assert stored(nmbrs_sandbox) == expected
    assert seen == ["WageComponentVar_Insert_Batch"]
    assert transfers(app)[0].status == TransferStatus.SUCCEEDED
    assert "4 av 4 rader skickade till Nmbrs" in text_of(s.admin.get(url))


def test_stopped_after_recording_the_batch_as_going_out_it_is_read_back_and_sent_once(
    app, nmbrs_sandbox, setup, monkeypatch
):
    s, rid, reports, expected = setup
    url = transfer_url(send(s.admin, rid, reports))
    [t] = transfers(app)
    crash_at(monkeypatch, "marked")
    run_until_crash(app, t.id)
    assert stored(nmbrs_sandbox) == []
    worker_found_dead(app, s.admin, url)
    seen = calls(monkeypatch, nmbrs_sandbox)
    try_again(app, s.admin, url)
    assert stored(nmbrs_sandbox) == expected  # read back: nothing there, so sent, once
    assert seen.count("WageComponentVar_Get") == 2  # one per employee of the batch in doubt
    assert seen.count("WageComponentVar_Insert_Batch") == 1
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert all(report_status(app, r) == ReportStatus.TRANSFERRED for r in reports)


def test_a_batch_in_doubt_beside_a_hand_typed_twin_is_osaker_never_resent_nor_claimed(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """The batch was recorded as going out when the worker died; Maria has 750,00 on 5100
    typed by hand. Her 5500 line is certainly not in Nmbrs, so the batch did not arrive as a
    whole, but whether the 750,00 is ours Brygga cannot tell: osäker, for a person."""
    s, rid, reports, expected = setup
    typed_by_hand(nmbrs_sandbox)
    url = transfer_url(send(s.admin, rid, reports))
    [t] = transfers(app)
    crash_at(monkeypatch, "marked")
    run_until_crash(app, t.id)
    worker_found_dead(app, s.admin, url)
    try_again(app, s.admin, url)
    # The hand-typed one untouched and not doubled; everything else sent once.
    assert stored(nmbrs_sandbox) == expected
    [t] = transfers(app)
    statuses = {(line.employee_number, line.wage_code): line.status for line in t.lines}
    assert statuses == {
        ("1001", "5100"): LineStatus.UNCERTAIN,
        ("1001", "5500"): LineStatus.SENT,
        ("1002", "5100"): LineStatus.SENT,
        ("1002", "5500"): LineStatus.SENT,
    }
    uncertain = next(line for line in t.lines if line.status == LineStatus.UNCERTAIN)
    assert uncertain.component_id is None  # never the hand-typed component's id
    assert t.status == TransferStatus.PARTLY_FAILED
    page = text_of(s.admin.get(url))
    assert "Osäker" in page and "kontrollera den anställdas lönekomponenter i Nmbrs" in page
    assert "Försök igen" not in page  # never resent by itself
    # Maria's report is held (not back in Redo att skickas, where it could go twice).
    assert report_status(app, reports[0]) == ReportStatus.APPROVED
    assert "Kundbesök Göteborg" not in text_of(s.admin.get("/transfers/"))
    assert report_status(app, reports[1]) == ReportStatus.TRANSFERRED


def test_an_arrived_batch_beside_a_hand_typed_twin_never_claims_it_nor_undoes_it(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """The worker died right after Nmbrs stored the batch; Maria also has 750,00 on 5100 typed
    by hand. Everything of the batch is there: sent. Which 750,00 is ours cannot be told, so
    that line has no id, and undo leaves both alone and says so."""
    s, rid, reports, expected = setup
    typed_by_hand(nmbrs_sandbox)
    url = transfer_url(send(s.admin, rid, reports))
    [t] = transfers(app)
    crash_at(monkeypatch, "after_send")
    run_until_crash(app, t.id)
    worker_found_dead(app, s.admin, url)
    try_again(app, s.admin, url)
    assert stored(nmbrs_sandbox) == sorted([*expected, MARIA_KM])  # nothing twice
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert None in component_ids(app, t.id)  # the 750,00: ours or hers, unknown
    assert s.admin.post(url + "/undo", data=CONFIRMED).status_code == 302
    work(app)
    # Ours are gone except the 750,00, which a person removes; the hand-typed one stays.
    assert stored(nmbrs_sandbox) == sorted([MARIA_KM, MARIA_KM])
    assert "Ta bort dem för hand i Nmbrs" in text_of(s.admin.get(url))


def test_a_crash_while_batch_one_is_on_the_wire_and_batch_two_recorded_sends_each_once(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """Batches of one employee each: batch 2 is recorded as going out while batch 1 is on the
    wire, and the process dies right then. Batch 1 arrived, batch 2 did not: the read-back
    tells them apart (one number per batch) and Försök igen sends batch 2 only."""
    from webapp.recipients.nmbrs import delivery

    s, rid, reports, expected = setup
    monkeypatch.setattr(delivery, "BATCH_LINES", 2)
    url = transfer_url(send(s.admin, rid, reports))
    [t] = transfers(app)
    state = {"seen": 0}

    def second_marked(reached: str, transfer_id: int) -> None:
        if reached == "marked":
            state["seen"] += 1
            if state["seen"] == 2:  # batch 2 recorded, batch 1 on the wire or answered
                raise Crash(reached)

    monkeypatch.setattr(delivery, "crash_hook", second_marked)
    run_until_crash(app, t.id)
    worker_found_dead(app, s.admin, url)
    try_again(app, s.admin, url)
    assert stored(nmbrs_sandbox) == expected
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert {line.status for line in t.lines} == {LineStatus.SENT}


def test_after_a_worker_died_mid_transfer_the_page_says_what_is_known(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """Issue 12, item 13. Batch 1 (Maria) was answered and recorded; batch 2 (Johan) reached
    Nmbrs but the worker died before its answer was recorded. The page says so, instead of
    "2 av 4 rader skickade": 2 confirmed, 2 sent without an answer; then Försök igen reads
    back and finds them, sending nothing twice."""
    from webapp.recipients.nmbrs import delivery

    s, rid, reports, expected = setup
    monkeypatch.setattr(delivery, "BATCH_LINES", 2)
    url = transfer_url(send(s.admin, rid, reports))
    [t] = transfers(app)
    state = {"answers": 0}

    def second_answer(reached: str, transfer_id: int) -> None:
        if reached == "after_send":
            state["answers"] += 1
            if state["answers"] == 2:
                raise Crash(reached)

    monkeypatch.setattr(delivery, "crash_hook", second_answer)
    run_until_crash(app, t.id)
    assert stored(nmbrs_sandbox) == expected  # all of it reached Nmbrs
    worker_found_dead(app, s.admin, url)
    page = text_of(s.admin.get(url))
    assert (
        "Av 4 rader: 2 bekräftade av Nmbrs (1 984,50 kr), 2 skickade utan svar, 0 osäkra, "
        "0 inte skickade." in page
    )
    assert "Raderna utan svar gick i väg men Nmbrs svar kom aldrig fram" in page
    try_again(app, s.admin, url)
    assert stored(nmbrs_sandbox) == expected
    assert "4 av 4 rader skickade till Nmbrs" in text_of(s.admin.get(url))


def test_lines_read_while_the_first_batches_are_on_the_wire_are_sent_once_each(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """The first batches' lines are read on their own and the rest while those are on the
    wire (here: batches of one employee, Maria's read first, Johan's after): every line goes
    once, one call per batch, nothing read back."""
    from webapp.recipients.nmbrs import delivery

    s, rid, reports, expected = setup
    monkeypatch.setattr(delivery, "BATCH_LINES", 1)  # the first read: 3 of the 4 lines
    url = transfer_url(send(s.admin, rid, reports))
    seen = calls(monkeypatch, nmbrs_sandbox)
    work(app)
    assert stored(nmbrs_sandbox) == expected
    assert seen == ["WageComponentVar_Insert_Batch"] * 2
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert "4 av 4 rader skickade till Nmbrs" in text_of(s.admin.get(url))


def test_a_crash_after_an_answer_waiting_for_the_next_commit_reads_it_back_and_sends_once(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """Batch 1's answer is recorded with batch 3's mark (one commit per batch). The process
    died after Nmbrs answered batch 1 yes and before that commit: batch 1 is still in doubt,
    so Försök igen reads it back, finds it, and sends nothing twice."""
    from webapp.recipients.nmbrs import delivery

    s, rid, reports, expected = setup
    monkeypatch.setattr(delivery, "BATCH_LINES", 2)
    url = transfer_url(send(s.admin, rid, reports))
    [t] = transfers(app)
    crash_at(monkeypatch, "answered")
    run_until_crash(app, t.id)
    assert len(stored(nmbrs_sandbox)) >= 2  # batch 1 reached Nmbrs
    worker_found_dead(app, s.admin, url)
    seen = calls(monkeypatch, nmbrs_sandbox)
    try_again(app, s.admin, url)
    assert stored(nmbrs_sandbox) == expected  # nothing twice, nothing missing
    assert seen.count("WageComponentVar_Get") == 2  # both batches were in doubt
    assert seen.count("WageComponentVar_Insert_Batch") <= 1  # batch 2, if it had not left
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert {line.status for line in t.lines} == {LineStatus.SENT}
    assert "4 av 4 rader skickade till Nmbrs" in text_of(s.admin.get(url))


@pytest.mark.parametrize("answer", ["found", "missing"])
def test_a_person_decides_an_osaker_line_and_it_is_never_sent_twice(
    app, nmbrs_sandbox, setup, monkeypatch, answer
):
    """After looking in Nmbrs the admin answers for the osäker line: "it is there" (counted as
    sent, nothing sent) or "it is not" (back to pending, Försök igen sends it once)."""
    s, rid, reports, expected = setup
    typed_by_hand(nmbrs_sandbox)
    url = transfer_url(send(s.admin, rid, reports))
    [t] = transfers(app)
    crash_at(monkeypatch, "marked")
    run_until_crash(app, t.id)
    worker_found_dead(app, s.admin, url)
    try_again(app, s.admin, url)
    [t] = transfers(app)
    [uncertain] = [line for line in t.lines if line.status == LineStatus.UNCERTAIN]
    page = text_of(s.admin.get(url))
    assert "Osäker: Milersättning" in page and "Finns beloppet i Nmbrs?" in page
    assert (
        s.admin.post(f"{url}/lines/{uncertain.id}/resolve", data={"answer": answer}).status_code
        == 302
    )
    if answer == "found":
        assert stored(nmbrs_sandbox) == expected  # nothing sent: the one there counts
    else:
        assert "Försök igen" in text_of(s.admin.get(url))
        try_again(app, s.admin, url)
        assert stored(nmbrs_sandbox) == sorted([*expected, MARIA_KM])  # ours, once, beside hers
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert {line.status for line in t.lines} == {LineStatus.SENT}
    assert all(report_status(app, r) == ReportStatus.TRANSFERRED for r in reports)
    # Decided once: a second answer changes nothing.
    again = s.admin.post(f"{url}/lines/{uncertain.id}/resolve", data={"answer": "missing"})
    assert "Raden är inte längre osäker" in text_of(s.admin.get(url)) or again.status_code == 302
    assert transfers(app)[0].status == TransferStatus.SUCCEEDED


class Stopped(Exception):
    """An error in the worker (not the process dying): it records what is certain."""


def batch_two_waits_behind_batch_one(monkeypatch, stop: BaseException) -> None:
    """Batches of one employee each. Batch 1's call is held until batch 2 has been handed to
    the wire thread (it waits behind batch 1) and `stop` was raised right then; batch 1's call
    goes on once batch 2 has been withdrawn (or after 5 s, when it was not)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from webapp.recipients.nmbrs import delivery

    monkeypatch.setattr(delivery, "BATCH_LINES", 2)
    stopped = threading.Event()
    wire: list = []  # the batches' futures, in the order they were handed over
    prepare = delivery._prepared
    held_calls: list = []  # the batches' built calls, each held on the wire thread

    def prepared(run, components):
        send = prepare(run, components)

        def held():
            if len(wire) < 2 or wire[0].running():
                assert stopped.wait(30)
                for _ in range(500):
                    if wire[1].cancelled():
                        break
                    time.sleep(0.01)
            return send()

        held_calls.append(held)
        return held

    class Wire(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            future = super().submit(fn, *args, **kwargs)
            if fn in held_calls:
                wire.append(future)
            return future

    def hook(reached: str, transfer_id: int) -> None:
        if reached == "handed" and len(wire) == 2:
            stopped.set()
            raise stop

    monkeypatch.setattr(delivery, "ThreadPoolExecutor", Wire)
    monkeypatch.setattr(delivery, "_prepared", prepared)
    monkeypatch.setattr(delivery, "crash_hook", hook)


def one_employee_stored(nmbrs_sandbox) -> bool:
    """Batch 1 (one employee's two lines) is in Nmbrs, batch 2 is not."""
    rows = stored(nmbrs_sandbox)
    return len(rows) == 2 and len({number for number, *_ in rows}) == 1


def test_the_process_dying_while_batch_two_waits_for_the_wire_never_sends_it_twice(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """Batch 2 was recorded as going out and handed to the wire thread, behind batch 1 still on
    the wire, when the process died: it never leaves. Försök igen reads both back (batch 1
    is there, batch 2 is not) and sends batch 2 once."""
    s, rid, reports, expected = setup
    url = transfer_url(send(s.admin, rid, reports))
    [t] = transfers(app)
    with pytest.MonkeyPatch.context() as patched:
        batch_two_waits_behind_batch_one(patched, Crash("handed"))
        run_until_crash(app, t.id)
    assert one_employee_stored(nmbrs_sandbox)
    worker_found_dead(app, s.admin, url)
    seen = calls(monkeypatch, nmbrs_sandbox)
    try_again(app, s.admin, url)
    assert stored(nmbrs_sandbox) == expected
    assert seen.count("WageComponentVar_Get") == 2  # both batches were in doubt
    assert seen.count("WageComponentVar_Insert_Batch") == 1
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
    assert {line.status for line in t.lines} == {LineStatus.SENT}


def test_an_error_while_batch_two_waits_for_the_wire_sends_it_later_without_reading_back(
    app, nmbrs_sandbox, setup, monkeypatch
):
    """The worker stops on an error while batch 2 waits behind batch 1: batch 2 certainly did
    not go, so it is pending again (not in doubt) and batch 1's answer is recorded; Försök
    igen sends batch 2 without reading anything back."""
    from webapp.extensions import db
    from webapp.services import transfer as transfer_service

    s, rid, reports, expected = setup
    url = transfer_url(send(s.admin, rid, reports))
    [t] = transfers(app)
    with pytest.MonkeyPatch.context() as patched, app.app_context():
        batch_two_waits_behind_batch_one(patched, Stopped("handed"))
        with pytest.raises(Stopped):
            transfer_service.execute(t.id)
        db.session.remove()
    assert one_employee_stored(nmbrs_sandbox)
    [t] = transfers(app)
    assert (
        sorted(line.status for line in t.lines) == [LineStatus.PENDING] * 2 + [LineStatus.SENT] * 2
    )
    seen = calls(monkeypatch, nmbrs_sandbox)
    try_again(app, s.admin, url)
    assert stored(nmbrs_sandbox) == expected
    assert seen == ["WageComponentVar_Insert_Batch"]
    [t] = transfers(app)
    assert t.status == TransferStatus.SUCCEEDED
