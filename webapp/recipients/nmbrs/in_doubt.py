"""What Nmbrs has of lines whose write is in doubt, decided from one read-back.

A batch normally costs one call (`WageComponentVar_Insert_Batch`): when Nmbrs answers, its lines
are sent. Only when the answer never came (a timeout, a dropped connection, a worker killed in
the middle) is the batch *in doubt*, and only then is Nmbrs read back. SOAP's read-back gives
Id, Code and Value, no comment: a component typed by hand with the same code and value looks
exactly like ours. So the decision is made per batch (one request: Nmbrs stores it or not),
from what cannot be a coincidence:

- A line whose code and value Nmbrs does not have, beyond what Brygga's other lines already
  own, never arrived: it goes back to pending and is sent again. That is certain.
- When *every* line of the batch is there, the batch arrived: its lines are sent. A component id
  is recorded only when it cannot be someone else's (exactly as many candidates as lines);
  otherwise it stays unknown (found later, or a person decides at undo), so a hand-typed
  component is never taken for ours.
- When the batch is partly there (some lines certainly missing, others matched by components
  that may be hand-typed), Brygga cannot tell: those lines are *osäker* (uncertain). They are
  never sent again automatically and never claimed; a person looks in Nmbrs and decides.

Over REST the read-back carries the comment, which names the report and pay part uniquely:
there every line is decided exactly, one by one.

The functions here are pure: they take what was read and what the ledger knows, and return the
decision; the caller records it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from webapp.nmbrs import WageComponent


class DoubtfulLine(Protocol):
    """What the decision needs of a line."""

    id: int
    employee_ref: str
    wage_code: str
    comment: str | None
    batch: int | None

    @property
    def amount(self) -> Decimal: ...


Key = tuple[str, int, Decimal]  # employee, wage code, value


def key_of(line: DoubtfulLine) -> Key:
    return (line.employee_ref, int(line.wage_code), line.amount)


@dataclass
class Settled:
    sent: list[tuple[DoubtfulLine, str | None]] = field(default_factory=list)
    pending: list[DoubtfulLine] = field(default_factory=list)
    uncertain: list[DoubtfulLine] = field(default_factory=list)


def _candidates(current: dict[str, list[WageComponent]], owned: set[str]) -> dict[Key, list[str]]:
    found: dict[Key, list[str]] = defaultdict(list)
    for ref, components in current.items():
        for c in components:
            if str(c.id) not in owned:
                found[(ref, int(c.code), c.value)].append(str(c.id))
    return found


def settle(
    lines: Sequence[DoubtfulLine],
    current: dict[str, list[WageComponent]],
    *,
    owned: set[str],
    unidentified: Counter[Key],
    comments_readable: bool = False,
) -> Settled:
    """Decide lines in doubt from the employees' components as read now (`current`).

    `owned`: component ids that other lines (any transfer, same period) already own.
    `unidentified`: per key, how many other sent lines own a component whose id is not known
    (each owns one of the matching components; which one does not matter for counting).
    """
    if comments_readable:
        return _settle_by_comment(lines, current, owned)
    candidates = _candidates(current, owned)
    need = Counter(key_of(line) for line in lines)
    available = {k: len(candidates.get(k, [])) - unidentified.get(k, 0) for k in need}
    batches: dict[object, list[DoubtfulLine]] = defaultdict(list)
    for line in lines:
        # Lines without a batch (sent one by one) stand alone.
        batches[line.batch if line.batch is not None else ("line", line.id)].append(line)
    settled = Settled()
    for batch in batches.values():
        keys = {key_of(line) for line in batch}
        if all(available[k] <= 0 for k in keys):
            settled.pending.extend(batch)
        elif all(available[k] >= need[k] for k in keys):
            for line in batch:
                k = key_of(line)
                exact = available[k] == need[k] and not unidentified.get(k)
                settled.sent.append((line, candidates[k].pop(0) if exact else None))
        else:
            for line in batch:
                (settled.uncertain if available[key_of(line)] > 0 else settled.pending).append(line)
    return settled


def _settle_by_comment(
    lines: Sequence[DoubtfulLine], current: dict[str, list[WageComponent]], owned: set[str]
) -> Settled:
    settled = Settled()
    taken: set[str] = set()
    for line in lines:
        code, value = int(line.wage_code), line.amount
        match = next(
            (
                str(c.id)
                for c in current.get(line.employee_ref, [])
                if str(c.id) not in owned
                and str(c.id) not in taken
                and c.comment == line.comment
                and int(c.code) == code
                and c.value == value
            ),
            None,
        )
        if match is None:
            settled.pending.append(line)
        else:
            taken.add(match)
            settled.sent.append((line, match))
    return settled


def identify(
    lines: Iterable[DoubtfulLine],
    current: dict[str, list[WageComponent]],
    *,
    owned: set[str],
    unidentified: Counter[Key] | None = None,
) -> list[tuple[DoubtfulLine, str]]:
    """Component ids for sent lines whose batch reply gave none (SOAP's batch insert returns no
    ids). An id is given only where the employee has exactly as many unowned components of the
    line's code and value as there are such lines, and no other sent line without an id shares
    them (`unidentified`): otherwise one of them may be typed by hand, and the id stays
    unknown."""
    candidates = _candidates(current, owned)
    by_key: dict[Key, list[DoubtfulLine]] = defaultdict(list)
    for line in lines:
        by_key[key_of(line)].append(line)
    found: list[tuple[DoubtfulLine, str]] = []
    for k, group in by_key.items():
        ids = candidates.get(k, [])
        if len(ids) == len(group) and not (unidentified is not None and unidentified[k]):
            found.extend(zip(group, ids, strict=True))
    return found
