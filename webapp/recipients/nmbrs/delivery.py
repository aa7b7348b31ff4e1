"""Sending a transfer's lines to Nmbrs exactly once, in the worker, and taking them back.

How Nmbrs gets every line exactly once (`send`):
1. Lines still "sending" from an earlier attempt (a worker that died, a write that timed out)
   are settled first: read back the employee's components (`WageComponentVar_Get`); whatever
   is new since the line's recorded baseline, unclaimed by any other line and equal in code
   and value, is the line's component. The rest go back to "pending": they never arrived.
2. Pending lines go in batches of whole employees: read the employees' components (the
   baseline), record baseline + "sending" (commit), `WageComponentVar_Insert_Batch`, read back,
   record the component ids (commit). `WageComponentVar_Get` returns only Id, Code and Value, so
   the baseline is what tells our new component from an older one with the same amount.
3. A batch Nmbrs refuses for one line's data (2002, 2003, 2037, 2038) is read back, then sent
   line by line (`WageComponentVar_Insert`, which returns the id) so that only the bad lines
   fail. A write that times out is never repeated blind: read back, then decide.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import LineStatus, NmbrsApi, RecipientKind, Transfer, TransferStatus
from webapp.models.base import utcnow
from webapp.nmbrs import (
    NewWageComponent,
    NmbrsError,
    NmbrsUnavailable,
    PayrollApi,
    WageComponent,
)
from webapp.recipients.nmbrs.access import client_for, remote_company_id
from webapp.recipients.nmbrs.move import carry_over_lines
from webapp.services.transfer.ledger import (
    LINE,
    Line,
    TransferLost,
    chunks,
    count_of,
    fail_lines,
    lines_with,
    update_lines,
)
from webapp.services.transfer.texts import ERROR_TEXTS

log = logging.getLogger(__name__)

POOL_SIZE = 8  # concurrent read-backs within one transfer
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
    transfer: Transfer
    client: PayrollApi
    year: int
    period: int
    unprotected: bool
    pool: ThreadPoolExecutor
    attempt: int = 0
    done: int = 0
    refused: dict[str, NmbrsError] = field(default_factory=dict)
    company_id: object = None  # REST reads components per company: its GUID


def send(transfer: Transfer, client: PayrollApi | None = None) -> None:
    """Send the transfer's open lines (the job's body, through the kind). Raises TransferStop,
    NmbrsUnavailable, NmbrsError or TransferLost; the lines are recorded as they go."""
    connection = transfer.recipient.nmbrs
    if connection is None:
        raise TransferStop(NmbrsError("recipient has no Nmbrs connection"))
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
            )
            if connection.api == NmbrsApi.REST:
                run.company_id = remote_company_id(connection)
                carry_over_lines(transfer, connection, client)
            _send_all(run)
    finally:
        if own_client:
            client.close()


def _send_all(run: _Run) -> None:
    transfer = run.transfer
    in_doubt = lines_with(transfer.id, LineStatus.SENDING)
    if in_doubt:
        log.warning("transfer %s: %d lines in doubt; reading back", transfer.id, len(in_doubt))
        _reconcile(run, in_doubt)
    _progress(run, "sending")
    pending = lines_with(transfer.id, LineStatus.PENDING)
    by_employee: dict[str, list[Line]] = defaultdict(list)
    for line in pending:
        by_employee[line.employee_ref].append(line)
    batch: list[Line] = []
    for lines in by_employee.values():
        if batch and len(batch) + len(lines) > BATCH_LINES:
            _send_batch(run, batch)
            batch = []
        batch.extend(lines)
    if batch:
        _send_batch(run, batch)


def _read(run: _Run, employee_refs: Iterable[str]) -> dict[str, list[WageComponent]]:
    """Every employee's components in the period, read concurrently (reads are retried by the
    client). An employee Nmbrs refuses (2003: not this company's) fails its lines right here:
    nothing could have been written for it either. Any other failure is raised."""
    refs = list(dict.fromkeys(employee_refs))

    extra = {"company_id": run.company_id} if run.company_id is not None else {}

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


def _claimed(run: _Run, employee_refs: Iterable[str]) -> set[str]:
    """Component ids that sent lines (of any transfer) already own, for these employees."""
    refs = list(set(employee_refs))
    claimed: set[str] = set()
    for chunk in chunks(refs, 500):
        claimed.update(
            db.session.scalars(
                select(LINE.c.component_id)
                .join(Transfer.__table__, Transfer.__table__.c.id == LINE.c.transfer_id)
                .where(
                    LINE.c.employee_ref.in_(chunk),
                    LINE.c.status == LineStatus.SENT.value,
                    LINE.c.component_id.is_not(None),
                    Transfer.__table__.c.kind == RecipientKind.NMBRS.value,
                    Transfer.__table__.c.period_year == run.year,
                    Transfer.__table__.c.period_number == run.period,
                )
            )
        )
    return claimed


def _match(
    run: _Run, lines: list[Line], current: dict[str, list[WageComponent]]
) -> tuple[list[tuple[Line, str]], list[Line]]:
    """Which lines Nmbrs has: a component that is new since the line's baseline, owned by no
    other line, with the line's code and value. Returns (matched with ids, unmatched)."""
    claimed = _claimed(run, current)
    matched, unmatched = [], []
    taken: set[str] = set()
    for line in lines:
        baseline = {str(i) for i in (line.baseline or [])}
        found = None
        for component in current.get(line.employee_ref, []):
            cid = str(component.id)
            if cid in taken or cid in claimed or (line.baseline is not None and cid in baseline):
                continue
            if component.comment is not None and component.comment != line.comment:
                continue  # REST reads the comment back: another part's, or not Brygga's
            if component.code == int(line.wage_code) and component.value == line.amount:
                found = cid
                break
        if found is None:
            unmatched.append(line)
        else:
            taken.add(found)
            matched.append((line, found))
    return matched, unmatched


def _reconcile(run: _Run, lines: list[Line]) -> list[Line]:
    """Read back and settle lines whose write may or may not have arrived. Matched lines become
    sent; the others go back to pending (they never arrived). Returns the pending ones."""
    current = _read(run, [line.employee_ref for line in lines])
    lines = _drop_refused(run, lines)
    matched, unmatched = _match(run, lines, current)
    _record_sent(run, matched)
    update_lines([{"_id": line.id} for line in unmatched], status=LineStatus.PENDING.value)
    db.session.commit()
    if matched:
        log.info(
            "transfer %s: %d lines were already in Nmbrs; %d were not",
            run.transfer.id,
            len(matched),
            len(unmatched),
        )
    return unmatched


def _record_sent(run: _Run, matched: list[tuple[Line, str]]) -> None:
    update_lines(
        [{"_id": line.id, "component_id": cid} for line, cid in matched],
        status=LineStatus.SENT.value,
        sent_at=utcnow(),
        error_code=None,
        error_message=None,
    )
    run.done += len(matched)


def _mark_sending(run: _Run, lines: list[Line], current) -> None:
    """Record, before the write, that it is going out and what Nmbrs had just before. Commits."""
    for line in lines:
        line.baseline = [str(c.id) for c in current.get(line.employee_ref, [])]
    update_lines(
        [{"_id": line.id, "baseline": line.baseline} for line in lines],
        status=LineStatus.SENDING.value,
        attempts=LINE.c.attempts + 1,
    )
    _claim_transfer(run)
    db.session.commit()


def _claim_transfer(run: _Run) -> None:
    """Stamp the transfer as still ours; a reaper that declared it dead wins (TransferLost)."""
    claimed = db.session.execute(
        update(Transfer)
        .where(
            Transfer.id == run.transfer.id,
            Transfer.status == TransferStatus.RUNNING,
            Transfer.attempts == run.attempt,  # a later attempt (a retry) has taken over
        )
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise TransferLost(run.transfer.id)


def _component(line: Line) -> NewWageComponent:
    return NewWageComponent(
        _remote(line.employee_ref),
        int(line.wage_code),
        line.amount,
        _remote(line.cost_center_ref) if line.cost_center_ref else None,
        _remote(line.cost_unit_ref) if line.cost_unit_ref else None,
        line.comment,
    )


def _send_batch(run: _Run, lines: list[Line], *, resent: bool = False) -> None:
    transfer_id = run.transfer.id
    before = _read(run, [line.employee_ref for line in lines])
    lines = _drop_refused(run, lines)
    if not lines:
        db.session.commit()
        return
    _mark_sending(run, lines, before)
    crash_hook("before_send", transfer_id)
    error: NmbrsError | None = None
    ids = None
    try:
        ids = run.client.insert_wage_components(
            [_component(line) for line in lines],
            year=run.year,
            period=run.period,
            unprotected=run.unprotected,
        )
    except NmbrsError as exc:
        error = exc
    crash_hook("after_send", transfer_id)
    if error is None and ids is not None and len(ids) == len(lines):
        # REST answers with the new ids, in order: nothing to read back.
        _record_sent(run, [(line, str(i)) for line, i in zip(lines, ids, strict=True)])
        db.session.commit()
        crash_hook("after_record", transfer_id)
        _progress(run, "sending")
        return
    unmatched = _reconcile(run, lines)
    crash_hook("after_record", transfer_id)
    _progress(run, "sending")
    if not unmatched:
        return
    if error is None:
        # Nmbrs said yes, but its read-back does not show them: never send those blind again.
        _fail_lines(
            run, [(line, "unconfirmed", str(ERROR_TEXTS["unconfirmed"])) for line in unmatched]
        )
        db.session.commit()
        return
    if isinstance(error, NmbrsUnavailable):
        if resent:
            raise error
        # Read back: it did not arrive. One more try now, then the job's retry.
        _send_batch(run, unmatched, resent=True)
        return
    if error.code in LINE_ERROR_CODES:
        # One line's data: send them one by one, so that only the bad ones fail.
        current = _read(run, [line.employee_ref for line in unmatched])
        for line in _drop_refused(run, unmatched):
            _send_one(run, line, current)
        return
    raise TransferStop(error)


def _send_one(run: _Run, line: Line, current: dict[str, list[WageComponent]]) -> None:
    _mark_sending(run, [line], current)
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
        if _reconcile(run, [line]):
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
    current.setdefault(line.employee_ref, []).append(WageComponent(component_id, c.code, c.value))


def _fail_lines(run: _Run, failed: list[tuple[Line, str, str]]) -> None:
    fail_lines(failed)
    run.done += len(failed)


def _progress(run: _Run, step: str) -> None:
    db.session.execute(
        update(Transfer)
        .where(Transfer.id == run.transfer.id, Transfer.status == TransferStatus.RUNNING)
        .values(
            step=step, lines_sent=count_of(run.transfer.id, LineStatus.SENT), heartbeat_at=utcnow()
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def take_back(transfer: Transfer, client: PayrollApi | None = None) -> None:
    """Delete a transfer's components in Nmbrs by their stored ids; every line deleted is
    recorded (committed) as it goes, so a retry repeats only the rest. Raises NmbrsError."""
    connection = transfer.recipient.nmbrs
    own_client = client is None
    client = client or client_for(connection, rate_limited=True, pool_size=POOL_SIZE)
    deleted: list[dict] = []
    try:
        if connection.api == NmbrsApi.REST:
            carry_over_lines(transfer, connection, client)
        sent = db.session.execute(
            select(LINE.c.id, LINE.c.employee_ref, LINE.c.component_id).where(
                LINE.c.transfer_id == transfer.id, LINE.c.status == LineStatus.SENT.value
            )
        ).all()
        for line_id, employee_ref, component_id in sent:
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
