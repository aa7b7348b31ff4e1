"""What a sync writes: the catalogues fetched from the payroll system, applied in ONE
transaction, and the one diff that decides what changed (`diff`), for items keyed by SOAP's
int ids and by REST's GUIDs alike."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from webapp.extensions import db
from webapp.models import (
    CostCenter,
    CostUnit,
    Department,
    PayrollEmployee,
    ReportRecipient,
    SyncAlert,
    SyncRun,
    SyncStatus,
    User,
    WageType,
)
from webapp.models.base import utcnow
from webapp.services import employee_mapping

log = logging.getLogger(__name__)

# The catalogues, in the order the UI lists them, and the table each one fills.
CATALOGS: dict[str, type] = {
    "wage_types": WageType,
    "cost_units": CostUnit,
    "cost_centers": CostCenter,
    "departments": Department,
    "employees": PayrollEmployee,
}

# How many unmatched items a run lists per catalogue (the count is always complete).
UNMATCHED_LISTED = 200


@dataclass
class Fetched:
    """Everything a sync read from the payroll system, before any of it touches the database.

    `items`: per catalogue, (remote id, code, description). `by_guid`: the ids are REST GUIDs
    (rows keyed by `rest_id`; rows synced before with SOAP ids are adopted by their code),
    else SOAP's int ids (rows keyed by `nmbrs_id`). `succeeded`: what the kind records on its
    connection in the same transaction (the key or the consent works)."""

    company_name: str | None = None
    items: dict[str, list[tuple[Any, str, str]]] = field(default_factory=dict)
    by_guid: bool = False
    succeeded: Callable[[datetime], None] | None = None


class RunLost(Exception):
    """The run was declared dead (or finished) by someone else while this worker ran it."""


def apply(run: SyncRun, recipient: ReportRecipient, fetched: Fetched) -> dict:
    """Write what was fetched in ONE transaction and finish the run; returns the counts.

    Raises RunLost (and changes nothing) when the run is no longer this worker's.
    """
    now = utcnow()
    # The step is committed on its own: the open tabs show "Sparar…" while the save runs, and
    # the save's transaction touches the run's row only as it ends, so neither the worker's
    # heartbeat nor anyone else waits for the row during a save of seconds.
    _still_ours(run, step="saving", heartbeat_at=now)
    db.session.commit()
    # The save's first statement is a write: on SQLite it takes the write lock at once, so two
    # workers applying at the same time wait for each other instead of failing.
    db.session.execute(db.delete(SyncAlert).where(SyncAlert.recipient_id == recipient.id))
    previous = recipient.catalogue_hashes or {}
    hashes: dict[str, dict] = {}
    counts: dict[str, dict] = {}
    for key, items in fetched.items.items():
        digest = content_hash(items, by_guid=fetched.by_guid)
        if key == "employees":
            digest = content_hash([digest, *_numbers(recipient)], by_guid=False)
        before = previous.get(key) or {}
        if before.get("hash") == digest:
            # Nothing changed since the last sync: no diff (and for the employees, no
            # re-matching). The rows are as that sync left them.
            counts[key] = {"added": 0, "changed": 0, "archived": 0, "total": before["total"]}
        else:
            counts[key] = diff(CATALOGS[key], recipient.id, items, now, by_guid=fetched.by_guid)
            if key == "employees":
                employee_mapping.rematch(recipient)
        hashes[key] = {"hash": digest, "total": counts[key]["total"]}
    if "employees" not in fetched.items:
        employee_mapping.rematch(recipient)
    recipient.catalogue_hashes = hashes
    if fetched.succeeded is not None:
        fetched.succeeded(now)
    recipient.last_synced_at = now
    # The run ends now, not when saving began: the history's Tid includes the save, which is
    # most of a large first sync.
    ended = utcnow()
    _still_ours(run, heartbeat_at=ended)  # declared dead meanwhile: nothing is saved
    run.end_attempt(ended, ok=True)
    run.status = SyncStatus.SUCCEEDED
    run.step = None
    run.counts = counts
    run.finished_at = ended
    run.calls_done = run.calls_total
    db.session.commit()
    log.info("sync run %s succeeded: %s", run.id, counts)
    return counts


def _still_ours(run: SyncRun, **values: Any) -> None:
    """Write `values` to the run if it is still running (this worker's); else raise RunLost."""
    claimed = db.session.execute(
        update(SyncRun)
        .where(SyncRun.id == run.id, SyncRun.status == SyncStatus.RUNNING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise RunLost(run.id)


def content_hash(items: list, *, by_guid: bool) -> str:
    """A hash of a catalogue as fetched: equal when nothing in it changed, in whatever order
    the (concurrent) calls returned it."""
    digest = hashlib.sha256(b"guid" if by_guid else b"id")
    for item in sorted(repr(item) for item in items):
        digest.update(item.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _numbers(recipient: ReportRecipient) -> list:
    """The organization's people and their employee numbers: the matching's other side."""
    return sorted(
        db.session.execute(
            select(User.id, User.employee_number).where(
                User.organization_id == recipient.organization_id
            )
        ).tuples()
    )


def diff(
    model: Any, recipient_id: int, items: list[tuple[Any, str, str]], now, *, by_guid: bool
) -> dict:
    """Bring one catalogue's rows in line with what the payroll system has: add the new, update
    the renamed, un-archive what came back, archive (never delete: settings and history point
    at them) what is gone. Returns the counts.

    By GUID (REST), rows synced over SOAP have no `rest_id` yet: each is matched to the item
    with the same code (wage code, cost-center/cost-unit/department code, employee number) and
    gets its `rest_id`, so employee mappings, advanced settings and history stay on the same
    row. A code that is ambiguous on either side is not guessed. SOAP rows left unmatched are
    archived and listed under "unmatched"; items left unmatched are added as new rows.
    """
    key_column = model.rest_id if by_guid else model.nmbrs_id
    existing = db.session.execute(
        select(
            model.id, key_column.label("key"), model.code, model.description, model.archived
        ).where(model.recipient_id == recipient_id)
    ).all()
    by_key: dict[Any, Any] = {r.key: r for r in existing if r.key is not None}
    unkeyed: dict[str, list] = {}
    fetched_codes: Counter[str] = Counter()
    if by_guid:
        for r in existing:
            if r.key is None:
                unkeyed.setdefault(r.code, []).append(r)
        fetched_codes.update(code[:50] for _id, code, _description in items)
    inserts: list[dict] = []
    changes: list[dict] = []
    archivals: list[dict] = []
    unmatched: list[str] = []
    seen: set = set()
    used: set[int] = set()
    mapped = 0
    for remote_id, code, description in items:
        if by_guid:
            remote_id = str(remote_id).lower()
        if remote_id in seen:
            continue
        seen.add(remote_id)
        code, description = code[:50], description[:300]
        row = by_key.get(remote_id)
        adopted = False
        if row is None and by_guid and fetched_codes[code] == 1:
            candidates = [r for r in unkeyed.get(code, ()) if r.id not in used]
            pick = [r for r in candidates if not r.archived] or candidates
            if len(pick) == 1:
                row, adopted = pick[0], True
        if row is None:
            new = {
                "recipient_id": recipient_id,
                "code": code,
                "description": description,
                "archived": False,
                "updated_at": now,
            }
            if by_guid:
                # Wage types are keyed by their code in both APIs.
                new["nmbrs_id"] = int(code) if model is WageType and code.isdigit() else None
                new["rest_id"] = remote_id
            else:
                new["nmbrs_id"] = remote_id
            inserts.append(new)
            continue
        used.add(row.id)
        mapped += adopted
        if adopted or row.code != code or row.description != description or row.archived:
            # Came back after being archived, renamed in the payroll system, or adopted.
            change = {
                "id": row.id,
                "code": code,
                "description": description,
                "archived": False,
                "archived_at": None,
                "updated_at": now,
            }
            if by_guid:
                change["rest_id"] = remote_id
            changes.append(change)
    for row in existing:
        if row.id in used or row.archived:
            continue
        # Gone from the payroll system: archived, never deleted.
        archivals.append({"id": row.id, "archived": True, "archived_at": now, "updated_at": now})
        if by_guid and row.key is None:
            # Synced over SOAP and not found over REST: kept (archived) and listed.
            unmatched.append(f"{row.code} {row.description}".strip())
    if inserts:
        db.session.execute(insert(model), inserts)
    if changes:
        db.session.execute(update(model), changes)
    if archivals:
        db.session.execute(update(model), archivals)
    result: dict[str, Any] = {
        "added": len(inserts),
        "changed": len(changes) - mapped,
        "archived": len(archivals),
        "total": len(seen),
    }
    if by_guid:
        result["mapped"] = mapped
    if unmatched:
        result["unmatched"] = sorted(unmatched)[:UNMATCHED_LISTED]
        result["unmatched_count"] = len(unmatched)
    return result
