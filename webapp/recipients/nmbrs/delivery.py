"""Sending a transfer's lines to Nmbrs exactly once, in the worker, and taking them back.

How Nmbrs gets every line exactly once (`send`):
1. Lines still "sending" from an earlier attempt (a worker that died mid-call) are in doubt:
   read back the employees' components (`WageComponentVar_Get`) and decide batch by batch
   (`in_doubt.settle`): found → sent; certainly missing → pending; cannot tell (a component
   typed by hand may look exactly like ours) → osäker, for a person, never resent by itself.
2. Pending lines go in batches of whole employees, one call each on the normal path: record
   the batch as "sending" (commit), `WageComponentVar_Insert_Batch`, and when Nmbrs answers,
   record the lines as sent (committed with a later batch's "sending", the last batch's with
   the transfer's finish: one commit per batch; a process dying in between leaves the answered
   batch in doubt, as in 1). SOAP's answer
   carries no ids; they are found when undo needs them (`find_component_ids`). Pipelined:
   batch k+1 is recorded while k is on the wire.
   The request may still be recording the transfer's lines (in parts, `recording.record`) while
   the first ones go: the batches take the lines as they are committed (`pending.Pending`), and the
   transfer is settled only once its recording has ended.
3. No answer (a timeout, a dropped connection) puts the batch in doubt: read back, decide as
   in 1, and send what is certainly missing once more. A batch Nmbrs refuses for one line's
   data (2002, 2003, 2037, 2038) is read back, then what is missing goes line by line
   (`WageComponentVar_Insert`, which returns the id) so that only the bad lines fail.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select, update

from webapp.extensions import db
from webapp.models import LineStatus, NmbrsApi, RecipientKind, Transfer, TransferStatus
from webapp.models.base import DriverStatement, table_of, update_by_ids, utcnow
from webapp.nmbrs import (
    NewWageComponent,
    NmbrsError,
    NmbrsUnavailable,
    PayrollApi,
    WageComponent,
)
from webapp.recipients.nmbrs import in_doubt
from webapp.recipients.nmbrs.access import client_for, remote_company_id
from webapp.recipients.nmbrs.move import carry_over_lines
from webapp.recipients.nmbrs.pending import Pending
from webapp.services.transfer import ledger
from webapp.services.transfer.ledger import (
    LINE,
    Line,
    TransferLost,
    count_of,
    fail_lines,
    left_over,
    lines_with,
    update_lines,
)
from webapp.services.transfer.plan import chunks
from webapp.services.transfer.texts import ERROR_TEXTS

log = logging.getLogger(__name__)

POOL_SIZE = 8  # concurrent read-backs within one transfer (only when a batch is in doubt)
BATCH_LINES = 500  # lines per WageComponentVar_Insert_Batch (whole employees per batch)

# Nmbrs codes that concern one line's data: that line fails, the others go through.
LINE_ERROR_CODES = {2002, 2003, 2037, 2038}


def crash_hook(point: str, transfer_id: int) -> None:
    """Called at each step of a send; tests replace it to stop a transfer right there."""


class TransferStop(Exception):
    """Nmbrs refused the whole transfer (period locked, key rejected …): nothing more goes."""

    def __init__(self, error: NmbrsError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Run:
    transfer: Transfer  # expired by every commit: use transfer_id for its id
    client: PayrollApi
    year: int
    period: int
    unprotected: bool
    pool: ThreadPoolExecutor
    attempt: int = 0
    done: int = 0
    refused: dict[str, NmbrsError] = field(default_factory=dict)
    company_id: object = None  # REST reads components per company: its GUID
    transfer_id: int = 0
    sent: int = 0  # lines of the transfer sent so far (the progress, without a COUNT(*))
    next_batch: int = 1


def send(transfer: Transfer, client: PayrollApi | None = None) -> None:
    """Send the transfer's open lines (the job's body, through the kind). Raises TransferStop,
    NmbrsUnavailable, NmbrsError or TransferLost; the lines are recorded as they go."""
    if transfer.recipient.nmbrs is None:
        raise TransferStop(NmbrsError("recipient has no Nmbrs connection"))
    connection = transfer.recipient.nmbrs
    assert transfer.period_year is not None and transfer.period_number is not None
    own_client = client is None
    client = client or client_for(connection, rate_limited=True, pool_size=POOL_SIZE)
    try:
        with ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="nmbrs-transfer") as pool:
            run = _Run(
                transfer,
                client,
                transfer.period_year,
                transfer.period_number,
                transfer.unprotected_confirmed,
                pool,
                transfer.attempts,
                transfer_id=transfer.id,
            )
            if connection.api == NmbrsApi.REST:
                run.company_id = remote_company_id(connection)
                carry_over_lines(transfer, connection, client)
            _send_all(run)
    finally:
        if own_client:
            client.close()


def _send_all(run: _Run) -> None:
    transfer_id = run.transfer_id
    # A first attempt finds nothing sent or in doubt (no line goes before it begins): the
    # count of what an earlier one left is not read before its first batch.
    left = left_over(transfer_id) if run.attempt > 1 else {}
    run.next_batch = max((batch or 0 for _count, batch in left.values()), default=0) + 1
    run.sent = left.get(LineStatus.SENT.value, (0, None))[0]
    if LineStatus.SENDING.value in left:
        in_doubt = lines_with(transfer_id, LineStatus.SENDING)
        log.warning("transfer %s: %d lines in doubt; reading back", transfer_id, len(in_doubt))
        _settle_doubt(run, in_doubt)
        run.sent = db.session.scalar(select(count_of(transfer_id, LineStatus.SENT))) or 0
    # Pipelined: batch k+1 is recorded as going out (committed) and handed to the wire thread
    # while batch k is on the wire; the wire thread sends it the moment k's answer is in, and
    # k's answer is recorded while k+1 is on the wire. One thread does the HTTP, this one the
    # database: at most one batch on the wire and one waiting for it.
    # One commit per batch: batch k's answer is recorded, and committed with batch k+2's mark.
    marked: list[Line] = []  # recorded as going out, not handed to the wire yet
    handed: list[tuple[list[Line], Future]] = []  # handed to the wire, answer not recorded yet
    answered: list[tuple[list[Line], Future]] = []  # answer recorded, not committed yet
    with ThreadPoolExecutor(1, thread_name_prefix="nmbrs-wire") as wire:
        try:
            pending = Pending(transfer_id, employee_batches, BATCH_LINES)
            batch = pending.take(idle=True)
            while True:
                while batch is None and not pending.finished:
                    # The request is still recording: what Nmbrs answered meanwhile is recorded
                    # (committed) while the next lines are waited for.
                    if answered:
                        _progress(run, "sending")
                        answered = []
                    if handed and handed[0][1].done():
                        _settle_batch(run, *handed.pop(0))
                    pending.wait()
                    batch = pending.take(idle=not handed)
                if batch is None:
                    break
                crash_hook("before_send", transfer_id)
                marked = _mark_sending(run, batch)
                answered = []
                crash_hook("marked", transfer_id)  # recorded as going out, not yet sent
                # Built here, request body and all, not on the wire thread: while the batch
                # before is on the wire.
                handed.append((marked, wire.submit(_prepared(run, _components(marked)))))
                marked = []
                crash_hook("handed", transfer_id)  # on the wire, or waiting for the one before
                # Asked for before waiting: reading the rest of the lines, if it comes to that,
                # is done while this batch and the one before are on the wire.
                batch = pending.take(idle=False)
                if len(handed) > 1:
                    settled = handed.pop(0)
                    if _settle_batch(run, *settled, defer=True):  # waits for its answer
                        answered.append(settled)
            if answered:
                # No mark left to carry it: committed now, not after waiting for the last answer.
                _progress(run, "sending")
                answered = []
            # The recording has ended and every line is in a batch: while the last one is on
            # the wire, the transfer's finish reads what it needs of the lines and reports.
            ahead = ledger.read_ahead(transfer_id, len(handed[0][0])) if len(handed) == 1 else None
            if ahead is not None and _settle_batch(run, *handed.pop(0), defer=True):
                # Nmbrs said yes to the last batch: recorded, and committed with the transfer's
                # outcome by its finish (a process dying before leaves the batch in doubt).
                ledger.answered(ahead, lambda: crash_hook("after_record", transfer_id))
            while handed:
                _settle_batch(run, *handed.pop(0))
        except BaseException as exc:
            # Nothing more goes on the wire once something went wrong (or the process is
            # going): a batch still waiting for it is not sent.
            unsent = marked + [line for lines, reply in handed if reply.cancel() for line in lines]
            if isinstance(exc, Exception):
                _after_failure(run, unsent, answered + handed)
            raise


def _after_failure(run: _Run, unsent: list[Line], handed: list[tuple[list[Line], Future]]):
    """Record what is certain after the sending stopped on an error. Commits."""
    db.session.rollback()
    # Recorded as going out but never sent: certainly not in Nmbrs, so back to pending and a
    # retry sends them without reading back. (A process that dies instead leaves them in
    # doubt, which the read-back settles.)
    update_lines([{"_id": line.id} for line in unsent], status=LineStatus.PENDING.value)
    # A batch that went on the wire: Nmbrs' answer, if it says yes, is recorded; otherwise the
    # batch stays in doubt for the next attempt's read-back.
    for lines, reply in handed:
        if not reply.cancelled():
            with contextlib.suppress(NmbrsError):
                _record_sent(run, _with_ids(lines, reply.result()))
    db.session.commit()


def employee_batches(pending: list[Line]) -> list[list[Line]]:
    """Pending lines (by employee) in batches of whole employees of at most BATCH_LINES lines
    (an employee with more goes alone), in the order they are sent."""
    by_employee: dict[str, list[Line]] = defaultdict(list)
    for line in pending:
        by_employee[line.employee_ref].append(line)
    batches: list[list[Line]] = []
    batch: list[Line] = []
    for lines in by_employee.values():
        if batch and len(batch) + len(lines) > BATCH_LINES:
            batches.append(batch)
            batch = []
        batch.extend(lines)
    if batch:
        batches.append(batch)
    return batches


def _prepared(run: _Run, components: list[NewWageComponent]) -> Callable[[], Any]:
    """The batch's one call, built: calling it sends the batch (on the wire thread) and
    returns the ids over REST, None over SOAP."""
    return run.client.prepared_insert(
        components,
        year=run.year,
        period=run.period,
        unprotected=run.unprotected,
    )


def _settle_batch(
    run: _Run, lines: list[Line], reply: Future, *, resent: bool = False, defer: bool = False
) -> bool:
    """Record a batch's answer. Nmbrs said yes: sent, at once (SOAP returns no ids; they are
    found when needed); with `defer`, left for the caller's next commit (returns True). No
    answer: in doubt, read back. Nmbrs said no: see below."""
    transfer_id = run.transfer_id
    error: NmbrsError | None = None
    ids = None
    try:
        ids = reply.result()
    except NmbrsError as exc:
        error = exc
    crash_hook("after_send", transfer_id)
    if error is None:
        _record_sent(run, _with_ids(lines, ids))
        if defer:
            # Committed with the next batch's mark, which carries the page's progress: one
            # commit per batch. A process dying before then leaves the batch in doubt.
            crash_hook("answered", transfer_id)
            return True
        # The lines and the page's progress in one commit (one fsync per answer, not two).
        _progress(run, "sending")
        crash_hook("after_record", transfer_id)
        return False
    if isinstance(error, NmbrsUnavailable):
        # No answer: the batch may or may not be in Nmbrs. Read back, then decide.
        missing = _settle_doubt(run, lines)
        crash_hook("after_record", transfer_id)
        _progress(run, "sending")
        if not missing:
            return False
        if resent:
            raise error
        # Certainly not there: one more try now, then the job's retry.
        again = _mark_sending(run, missing)
        future: Future = Future()
        try:
            future.set_result(_prepared(run, _components(again))())
        except NmbrsError as exc:
            future.set_exception(exc)
        return _settle_batch(run, again, future, resent=True)
    if error.code in LINE_ERROR_CODES:
        # Nmbrs refused one line's data. Whether it stored the rest before refusing is not
        # documented: read back, then send what is certainly missing one by one, so that only
        # the bad lines fail.
        missing = _settle_doubt(run, lines)
        current = _read(run, [line.employee_ref for line in missing])
        for line in _drop_refused(run, missing):
            _send_one(run, line, current)
        _progress(run, "sending")
        return False
    # Nmbrs refused the whole call (a locked period, a rejected key …): nothing arrived.
    update_lines([{"_id": line.id} for line in lines], status=LineStatus.PENDING.value)
    db.session.commit()
    raise TransferStop(error)


def _with_ids(lines: list[Line], ids) -> list[tuple[Line, str | None]]:
    """REST answers with the new ids, in order; SOAP with none (found when undo needs them)."""
    if ids is not None and len(ids) == len(lines):
        return [(line, str(i)) for line, i in zip(lines, ids, strict=True)]
    return [(line, None) for line in lines]


def _read(run: _Run, employee_refs: Iterable[str]) -> dict[str, list[WageComponent]]:
    """Every employee's components in the period, read concurrently (reads are retried by the
    client). An employee Nmbrs refuses (2003: not this company's) fails its lines right here:
    nothing could have been written for it either. Any other failure is raised."""
    refs = list(dict.fromkeys(employee_refs))

    extra: dict[str, Any] = {"company_id": run.company_id} if run.company_id is not None else {}

    def read(ref: str):
        try:
            return run.client.wage_components(
                _remote(ref), year=run.year, period=run.period, **extra
            )
        except NmbrsError as exc:
            if exc.code in LINE_ERROR_CODES:
                return exc
            raise

    current: dict[str, list[WageComponent]] = {}
    for ref, result in zip(refs, run.pool.map(read, refs), strict=True):
        if isinstance(result, NmbrsError):
            run.refused[ref] = result
        else:
            current[ref] = result
    return current


def _drop_refused(run: _Run, lines: list[Line]) -> list[Line]:
    """Fail the lines of employees Nmbrs refused; return the others."""
    kept, failed = [], []
    for line in lines:
        error = run.refused.get(line.employee_ref)
        if error is None:
            kept.append(line)
        else:
            failed.append((line, f"nmbrs_{error.code}", error.user_message))
    _fail_lines(run, failed)
    return kept


def _remote(ref: str):
    return int(ref) if ref.isdigit() else ref


def _known(
    run: _Run, employee_refs: Iterable[str], besides: set[int]
) -> tuple[set[str], Counter[in_doubt.Key]]:
    """What the ledger knows of these employees' components in the period: the ids that sent
    lines (of any transfer) own, and per code and value how many sent lines own one whose id is
    not known yet. `besides`: the lines being decided."""
    refs = list(set(employee_refs))
    owned: set[str] = set()
    unidentified: Counter[in_doubt.Key] = Counter()
    t = table_of(Transfer)
    for chunk in chunks(refs, 500):
        rows = db.session.execute(
            select(
                LINE.c.id,
                LINE.c.employee_ref,
                LINE.c.wage_code,
                LINE.c.amount_ore,
                LINE.c.component_id,
            )  # fmt: skip
            .join(t, t.c.id == LINE.c.transfer_id)
            .where(
                LINE.c.employee_ref.in_(chunk),
                LINE.c.status == LineStatus.SENT.value,
                t.c.kind == RecipientKind.NMBRS.value,
                t.c.period_year == run.year,
                t.c.period_number == run.period,
            )
        )
        for line_id, ref, code, amount_ore, component_id in rows:
            if line_id in besides:
                continue
            if component_id is not None:
                owned.add(str(component_id))
            else:
                amount = (Decimal(amount_ore) / 100).quantize(Decimal("0.01"))
                unidentified[(ref, int(code), amount)] += 1
    return owned, unidentified


def _settle_doubt(run: _Run, lines: list[Line]) -> list[Line]:
    """Read back and decide lines whose write may or may not have arrived
    (`webapp.services.in_doubt`): found → sent; certainly missing → pending (returned);
    cannot tell → osäker, for a person. Commits."""
    current = _read(run, [line.employee_ref for line in lines])
    lines = _drop_refused(run, lines)
    owned, unidentified = _known(run, current, {line.id for line in lines})
    settled = in_doubt.settle(
        lines,
        current,
        owned=owned,
        unidentified=unidentified,
        comments_readable=run.company_id is not None,  # REST reads the comment back
    )
    _record_sent(run, settled.sent)
    update_lines([{"_id": line.id} for line in settled.pending], status=LineStatus.PENDING.value)
    update_lines(
        [{"_id": line.id} for line in settled.uncertain],
        status=LineStatus.UNCERTAIN.value,
        error_code="uncertain",
        error_message=str(ERROR_TEXTS["uncertain"]),
    )
    db.session.commit()
    log.info(
        "transfer %s: of %d lines in doubt %d were in Nmbrs, %d were not, %d cannot be told",
        run.transfer_id,
        len(lines),
        len(settled.sent),
        len(settled.pending),
        len(settled.uncertain),
    )
    return settled.pending  # type: ignore[return-value]


def _record_sent(run: _Run, sent: list) -> None:
    update_lines(
        [{"_id": line.id, "component_id": cid} for line, cid in sent],
        status=LineStatus.SENT.value,
        sent_at=utcnow(),
        error_code=None,
        error_message=None,
    )
    run.done += len(sent)
    run.sent += len(sent)


def _mark_sending(run: _Run, lines: list[Line]) -> list[Line]:
    """Record, before the write, that the batch is going out (one number per batch: the
    read-back decides a batch as a whole). Commits."""
    batch_no = run.next_batch
    run.next_batch += 1
    for line in lines:
        line.batch = batch_no
    update_by_ids(
        db.session.connection(),
        LINE,
        [line.id for line in lines],
        {"status": LineStatus.SENDING.value, "batch": batch_no, "baseline": None},
        increment=("attempts",),
    )
    claim_transfer(run.transfer_id, run.attempt, run.sent)
    db.session.commit()
    return lines


def claim_transfer(transfer_id: int, attempt: int, sent: int) -> None:
    """Stamp the transfer as still ours; a reaper that declared it dead wins (TransferLost)."""
    params = {"transfer_id": transfer_id, "attempt": attempt, "sent": sent, "now": utcnow()}
    if _CLAIM.rowcount(db.session.connection(), params) != 1:
        raise TransferLost(transfer_id)


_TRANSFER = table_of(Transfer)
# Once per batch: run at driver level (`DriverStatement`), not through the ORM, whose bulk
# update of this one row cost more than the batch's 500-line UPDATE (measured).
_CLAIM = DriverStatement(
    update(_TRANSFER)
    .where(
        _TRANSFER.c.id == bindparam("transfer_id"),
        _TRANSFER.c.status == TransferStatus.RUNNING,
        _TRANSFER.c.attempts == bindparam("attempt"),  # a later attempt (a retry) has taken over
    )
    # The page's progress too: the first batch's commit says the sending has begun.
    .values(heartbeat_at=bindparam("now"), step="sending", lines_sent=bindparam("sent"))
)


def _component(line: Line) -> NewWageComponent:
    return _components([line])[0]


def _components(lines: list[Line]) -> list[NewWageComponent]:
    """A batch's payloads. Its 500 lines share a few employees, codes and amounts: each is
    converted once (per line, the conversions cost as much as the batch's SQL)."""
    refs: dict[str | None, Any] = {None: None, "": None}
    amounts: dict[int, Decimal] = {}
    codes: dict[str, int] = {}
    out = []
    for line in lines:
        employee, center, unit = (line.employee_ref, line.cost_center_ref, line.cost_unit_ref)
        for ref in (employee, center, unit):
            if ref not in refs:
                refs[ref] = _remote(ref)  # type: ignore[arg-type]
        amount = amounts.get(line.amount_ore)
        if amount is None:
            amount = amounts[line.amount_ore] = line.amount
        code = codes.get(line.wage_code)
        if code is None:
            code = codes[line.wage_code] = int(line.wage_code)
        out.append(
            NewWageComponent(refs[employee], code, amount, refs[center], refs[unit], line.comment)
        )
    return out


def _send_one(run: _Run, line: Line, current: dict[str, list[WageComponent]]) -> None:
    _mark_sending(run, [line])
    line.batch = None  # decided on its own
    c = _component(line)
    try:
        component_id = run.client.insert_wage_component(
            c.employee_id,
            c.code,
            c.value,
            year=run.year,
            period=run.period,
            cost_center_id=c.cost_center_id,
            cost_unit_id=c.cost_unit_id,
            comment=c.comment,
            unprotected=run.unprotected,
        )
    except NmbrsUnavailable:
        if _settle_doubt(run, [line]):
            raise  # not there: the job's retry sends it, after reading back again
        return
    except NmbrsError as exc:
        # Nmbrs answered no: nothing arrived.
        if exc.code not in LINE_ERROR_CODES:
            update_lines([{"_id": line.id}], status=LineStatus.PENDING.value)
            db.session.commit()
            raise TransferStop(exc) from exc
        _fail_lines(run, [(line, f"nmbrs_{exc.code}", exc.user_message)])
        db.session.commit()
        return
    _record_sent(run, [(line, str(component_id))])
    db.session.commit()
    current.setdefault(line.employee_ref, []).append(
        WageComponent(component_id, c.code, Decimal(c.value))
    )


def _fail_lines(run: _Run, failed: list[tuple[Line, str, str]]) -> None:
    fail_lines(failed)
    run.done += len(failed)


def _progress(run: _Run, step: str) -> None:
    """The page's progress, from the count kept here (no COUNT(*) per batch). Commits."""
    stamp_progress(run.transfer_id, step, run.sent)
    db.session.commit()


def stamp_progress(transfer_id: int, step: str, sent: int) -> None:
    """The page's progress and the heartbeat (in the caller's transaction)."""
    params = {"transfer_id": transfer_id, "step": step, "sent": sent, "now": utcnow()}
    _STAMP.rowcount(db.session.connection(), params)


_STAMP = DriverStatement(
    update(_TRANSFER)
    .where(_TRANSFER.c.id == bindparam("transfer_id"), _TRANSFER.c.status == TransferStatus.RUNNING)
    .values(step=bindparam("step"), lines_sent=bindparam("sent"), heartbeat_at=bindparam("now"))
)


def find_ids(transfer: Transfer, client: PayrollApi) -> None:
    """Find the component ids of a transfer's sent lines that SOAP's batch reply did not give
    (`find_component_ids`); what cannot be told stays unknown. Commits."""
    lines = lines_with(transfer.id, LineStatus.SENT, without_component=True)
    if not lines:
        return
    with ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="nmbrs-ids") as pool:
        run = _Run(
            transfer,
            client,
            transfer.period_year or 0,
            transfer.period_number or 0,
            False,
            pool,
            transfer_id=transfer.id,
        )
        find_component_ids(run, lines)


def find_component_ids(run: _Run, lines: list[Line]) -> None:
    """Component ids for sent lines whose batch reply gave none (SOAP): one read per employee,
    and an id only where no other component could be it (`in_doubt.identify`). Commits."""
    if not lines:
        return
    current = _read(run, [line.employee_ref for line in lines])
    owned, unidentified = _known(run, current, {line.id for line in lines})
    found = in_doubt.identify(
        [line for line in lines if line.employee_ref in current],
        current,
        owned=owned,
        unidentified=unidentified,
    )
    update_lines([{"_id": line.id, "component_id": cid} for line, cid in found])
    db.session.commit()


def take_back(transfer: Transfer, client: PayrollApi | None = None) -> None:
    """Delete a transfer's components in Nmbrs by their stored ids; every line deleted is
    recorded (committed) as it goes, so a retry repeats only the rest. Ids SOAP's batch reply
    did not give are found first (one read per employee); a line whose component cannot be
    told from one typed by hand is left alone and said so. Raises NmbrsError."""
    connection = transfer.recipient.nmbrs
    if connection is None:
        raise NmbrsError("recipient has no Nmbrs connection")
    own_client = client is None
    client = client or client_for(connection, rate_limited=True, pool_size=POOL_SIZE)
    deleted: list[dict] = []
    unknown = 0
    try:
        if connection.api == NmbrsApi.REST:
            carry_over_lines(transfer, connection, client)
        else:
            find_ids(transfer, client)
        sent = db.session.execute(
            select(LINE.c.id, LINE.c.employee_ref, LINE.c.component_id).where(
                LINE.c.transfer_id == transfer.id, LINE.c.status == LineStatus.SENT.value
            )
        ).all()
        for line_id, employee_ref, component_id in sent:
            if component_id is None and connection.api != NmbrsApi.REST:
                unknown += 1  # which component is ours cannot be told: a person decides
                continue
            # Deleting twice is harmless (False: already gone), so a retry may repeat it.
            if component_id is not None:  # None: carried over from SOAP, no longer in Nmbrs
                client.delete_wage_component(_remote(employee_ref), _remote(component_id))
            deleted.append({"_id": line_id})
            if len(deleted) == 50:
                update_lines(deleted, status=LineStatus.DELETED.value, live=None)
                db.session.commit()
                deleted = []
    finally:
        update_lines(deleted, status=LineStatus.DELETED.value, live=None)
        db.session.commit()  # keep what was deleted, also when Nmbrs stopped answering
        if own_client:
            client.close()
    if unknown:
        raise NmbrsError(
            f"{unknown} components not identified",
            user_message=str(ERROR_TEXTS["undo_unknown"]),
        )
