"""Recipient kinds: one folder per payroll system, plugged into the core through this protocol.

The core (the settings box, the transfer, the sync, Avancerade inställningar) never asks
"which kind is this?": it asks the recipient's kind (`kind_of(recipient)`) what it needs, and
the kind answers. A kind lives in `webapp/recipients/<key>/` with its setup, its delivery and
its templates (found as `<key>/<name>.html`); the app factory registers the kinds it ships
with, tests may register one of their own (`register`).

A kind answers:
- who it is: `key` (stored on the recipient and the transfer), `name`, `description`;
- its setup: `setup_endpoint` (the dialog that adds one, in the kind's own blueprint), and
  its part of the recipient view (`page_context`, `form_action_origins` for the CSP);
- the preview: `planner(recipient, period, current, unprotected_confirmed)` fills each
  planned line (`Planner.plan`) and says whether the period is locked; `current_period`;
  `needs_period` (whether a transfer goes into a payroll period);
- delivery: `sends_in_worker` (a job sends it, exactly once) with `deliver(transfer)`, or a
  file made at once with `prepare(transfer)` and `download(transfer, user)`; `warm_up(nobody)`
  runs its delivery's statements on rows that do not exist, in a worker before it forks;
- undo: `check_undo(transfer)` (raises when it cannot be undone here) and `take_back(transfer)`
  in the worker;
- catalogues, when it has any: `has_catalogues`, `catalogues(recipient)` (what the sync
  fetches, and what a failure of it means), `hourly(now)` (the clock's hourly work);
- what needs an admin: `needs_admin(recipient)` (the clock skips it), `lost_on_replace(old)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask, current_app
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader, PrefixLoader

if TYPE_CHECKING:
    from webapp.models import ReportRecipient, Transfer, User
    from webapp.nmbrs import PayrollPeriod

EXTENSION_KEY = "brygga_recipient_kinds"


class DeliveryStopped(Exception):
    """The payroll system refused the transfer as a whole: nothing more goes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.user_message = message


class DeliveryUnreachable(Exception):
    """The payroll system does not answer now; the job's retry tries again later."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message


class DeliveryFailed(Exception):
    """A delivery failed with what was sent still in doubt: *Försök igen* settles it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.user_message = message


class RemoteProblem(Exception):
    """The payroll system could not answer a question (its current period, say);
    `unreachable` when it could not be reached at all (down, or not answering)."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.user_message = message
        self.unreachable = unreachable


class Planner(Protocol):
    locked: bool

    def plan(self, line: Any, setting: Any) -> None: ...


class Kind(Protocol):
    """What a payroll system answers to the core (see the module's docstring)."""

    # What it is (read-only: a kind's class attributes answer them).
    @property
    def key(self) -> str: ...
    @property
    def name(self) -> object: ...
    @property
    def description(self) -> object: ...
    @property
    def setup_endpoint(self) -> str: ...
    @property
    def needs_period(self) -> bool: ...
    @property
    def sends_in_worker(self) -> bool: ...
    @property
    def has_catalogues(self) -> bool: ...

    def planner(
        self,
        recipient: ReportRecipient,
        period: PayrollPeriod | None,
        current: PayrollPeriod | None,
        unprotected_confirmed: bool,
    ) -> Planner: ...

    def current_period(self, recipient: ReportRecipient) -> PayrollPeriod | None: ...

    def prepare(self, transfer: Transfer, recipient: ReportRecipient) -> None: ...

    def deliver(self, transfer: Transfer) -> None: ...

    def warm_up(self, nobody: int) -> None: ...

    def download(self, transfer: Transfer, user: User | None) -> tuple[bytes, str, bool]: ...

    def check_undo(self, transfer: Transfer) -> None: ...

    def take_back(self, transfer: Transfer) -> None: ...

    def catalogues(self, recipient: ReportRecipient) -> Any: ...

    def hourly(self, now: datetime) -> None: ...

    def needs_admin(self, recipient: ReportRecipient) -> bool: ...

    def lost_on_replace(self, old: ReportRecipient) -> list[str]: ...

    def page_context(self, recipient: ReportRecipient) -> dict[str, Any]: ...

    def form_action_origins(self, recipient: ReportRecipient) -> list[str]: ...


@dataclass
class Registry:
    kinds: dict[str, Kind]

    def __iter__(self):
        return iter(self.kinds.values())


def register(app: Flask, kind: Kind, template_folder: str | None = None) -> None:
    """Plug `kind` into `app`: the core finds it by its key, its templates as `<key>/…`."""
    registry = app.extensions.setdefault(EXTENSION_KEY, Registry({}))
    registry.kinds[kind.key] = kind
    # Core templates ask a recipient or a transfer for its kind, and import the kind's macros
    # (`<key>/recipient.html`, `<key>/transfer.html`) from its folder.
    app.add_template_global(kind_of, "kind_of")
    app.add_template_global(kind_for, "kind_for")
    if template_folder is not None:
        loaders = app.extensions.setdefault("brygga_kind_templates", {})
        loaders[kind.key] = FileSystemLoader(template_folder)
        base: BaseLoader = app.extensions.setdefault(
            "brygga_base_loader", app.jinja_loader or FileSystemLoader([])
        )
        app.jinja_loader = ChoiceLoader([base, PrefixLoader(loaders)])
        if "jinja_env" in app.__dict__:  # already built: point it at the new loader too
            app.jinja_env.loader = app.create_global_jinja_loader()


def all_kinds() -> list[Kind]:
    return list(current_app.extensions[EXTENSION_KEY].kinds.values())


def kind_for(key: object) -> Kind:
    """The kind with this key (a recipient's or a transfer's `kind`)."""
    value = getattr(key, "value", key)
    return current_app.extensions[EXTENSION_KEY].kinds[str(value)]


def kind_of(recipient: ReportRecipient | Transfer) -> Kind:
    return kind_for(recipient.kind)


def keys(kinds: Iterable[Kind]) -> list[str]:
    return [k.key for k in kinds]
