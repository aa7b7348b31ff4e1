"""The lines a transfer's worker sends, taken as the request records them."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import LineStatus, Transfer
from webapp.models.base import table_of
from webapp.services.transfer.ledger import Line, lines_with
from webapp.services.transfer.recording import abandon_recording

# How often the worker looks for lines the request is still recording.
RECORDING_POLL_SECONDS = 0.005


class Pending:
    """The transfer's pending lines in batches of whole employees (`batches`), in the order they
    were recorded, taken as the request records them (`recording.record`: in parts, the worker
    starts after the first) until its recording has ended.

    Each read takes the lines recorded after the last one taken (one recorder writes a
    transfer's parts one after the other, so later parts have higher ids). The first read is of
    two batches' worth, so that batch 1 leaves at once also when every line is already there;
    the rest is read while they are on the wire. The last batch of a read, not full, waits for
    the next read to fill it, unless nothing is on the wire or everything is read."""

    def __init__(
        self,
        transfer_id: int,
        batches: Callable[[list[Line]], list[list[Line]]],
        batch_lines: int,
    ) -> None:
        self.transfer_id = transfer_id
        self.batches = batches  # lines in the order they go, in batches of whole employees
        self.batch_lines = batch_lines
        self.after = 0  # the id of the last line read
        self.limit: int | None = 2 * batch_lines + 1
        self.ready: deque[list[Line]] = deque()
        self.open: list[Line] = []
        self.all_read = False  # the recording had ended and every line since has been read
        self.read_at = time.monotonic()  # when lines last came

    @property
    def finished(self) -> bool:
        return self.all_read and not self.ready and not self.open

    def take(self, *, idle: bool) -> list[Line] | None:
        """The next batch, or None: none yet (see `wait`), or `finished`. `idle`: nothing is on
        the wire, so a batch that is not full goes rather than waits."""
        if not self.ready and not self.all_read:
            self._read()
        if self.ready:
            return self.ready.popleft()
        if self.open and (idle or self.all_read):
            batch, self.open = self.open, []
            return batch
        return None

    def wait(self) -> None:
        """A moment for the request to record its next part. A request silent for long (it died
        between parts) ends the recording: what it recorded goes, its other reports stay in
        Redo att skickas."""
        stalled = current_app.config["TRANSFER_RECORDING_STALL_SECONDS"]
        if time.monotonic() - self.read_at > stalled:
            abandon_recording(self.transfer_id)
            self.read_at = time.monotonic()
        else:
            time.sleep(RECORDING_POLL_SECONDS)

    def _read(self) -> None:
        # Whether the recording has ended is read before the lines: lines read after it has
        # are all there are.
        transfers = table_of(Transfer)
        ended = not db.session.scalar(
            select(transfers.c.recording).where(transfers.c.id == self.transfer_id)
        )
        lines = lines_with(self.transfer_id, LineStatus.PENDING, after=self.after, limit=self.limit)
        complete = self.limit is None or len(lines) < self.limit
        if not complete:
            # The last employee read may have more lines than were read: from its first line on,
            # the next read takes them again.
            last = lines[-1].employee_ref
            cut = next(i for i, line in enumerate(lines) if line.employee_ref == last)
            lines = lines[:cut] or lines + lines_with(
                self.transfer_id, LineStatus.PENDING, after=lines[-1].id
            )
            complete = cut == 0
        self.limit = None
        if lines:
            self.after = lines[-1].id
            self.read_at = time.monotonic()
        batches = self.batches(self.open + lines)
        self.open = batches.pop() if batches and len(batches[-1]) < self.batch_lines else []
        self.ready.extend(batches)
        self.all_read = ended and complete
