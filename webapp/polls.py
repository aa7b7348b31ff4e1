"""The progress poll's quick answer. Every open tab of a running sync asks for its progress
fragment a second after each answer (partials/recipients/sync_status.html): 200 open tabs are
200 requests a second, for a fragment that changes a few times a second at most.

Such a poll is answered by a before-request hook, ahead of the user loader, the tenant guard's
scope and the view: one statement reads the session, its user and organization, the recipient
of that organization and its run (`sync.polled`), and the answer is the active run's fragment
(partials/recipients/sync_progress.html) rendered from those columns, kept per step, count and
language (`FRAGMENTS`), or the finished run's fragment the view rendered. It answers only what
the usual path would answer alike: a session that plainly counts (written down as seen when
that is due, as the loader would), an admin whose second factor is in order, an active
recipient of the user's own organization, and a run running with a worker that beats, queued
as every new run is for its first seconds (no error, no retry, nothing for the reaper to
judge), or succeeded with its fragment already rendered. Anything else (another
organization's run, a failed run, a queued one waiting for a retry or long enough to be
judged, a session to end) goes on as any request does: the loader and the view decide, write
and render.

A new step or count is rendered here, not left to the view: a running sync's count changes a
few times a second, and the first poll after each change, in each web process, went through
the user loader, the view and the whole status template, with the other tabs' polls arriving
meanwhile doing the same (a herd at every count, the slowest polls by far).
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from flask import Response, current_app, request, session, url_for
from flask_babel import get_locale

from webapp.auth.loading import parsed_user_id
from webapp.kept import Kept
from webapp.models import Role, SyncRun, SyncStatus
from webapp.models.base import utcnow
from webapp.models.sync import aware
from webapp.services import sessions, sync

ENDPOINT = "settings.sync_progress"

# The fragments kept, per step, count and language, instead of rendered once per open tab and
# second: a running run's, and a succeeded run's (final: its counts, its times, written as
# dates, and its duration never change; every open tab gets it once, as its last answer). Not
# a queued or failed run's, whose waiting, advice and next try change without the run.
KEPT = (SyncStatus.RUNNING, SyncStatus.SUCCEEDED)
FRAGMENTS: Kept[str] = Kept(512)


def fragment_key(recipient_id: int, run: sync.PollRun | SyncRun) -> Hashable:
    """All a kept fragment shows (nothing of the session: no form token, no user). The run by
    its id and when it was made: a database made anew (a test's, a laptop's reset) numbers its
    runs from 1 again, and its run 1 is not the one whose fragment this process kept."""
    run_key = (run.id, aware(run.created_at), run.status, run.step)
    return (recipient_id, *run_key, run.calls_done, run.calls_total, str(get_locale()),
            request.script_root)  # fmt: skip


def fragment_response(body: str, *, active: bool) -> Response:
    """The progress fragment's answer; a finished run's tells the page (the view's and ours)."""
    response = current_app.response_class(body, mimetype="text/html")
    if not active:
        # Polling stops here; the page then refreshes the history, badge and catalogues.
        response.headers["HX-Trigger"] = "sync-finished"
    return response


def answer() -> Response | None:
    """The answer to a progress poll when it can be given at once (see the module docstring);
    None: the request goes on as any other."""
    if request.endpoint != ENDPOINT or request.method != "GET" or request.content_length:
        return None
    user = parsed_user_id(session.get("_user_id"))
    token = session.get("sid")
    # Flask-Login's session protection marks a session whose browser changed: the loader's path.
    identifier = current_app.login_manager._session_identifier_generator()  # type: ignore[attr-defined]
    if user is None or not token or session.get("_id") != identifier:
        return None
    args = request.view_args or {}
    recipient_id = args["recipient_id"]
    found = sync.polled(user[0], token, recipient_id, args["run_id"])
    if found is None:
        return None
    who, run = found
    now = utcnow()
    reason, seen = sessions.standing(who, now)
    if reason is not None or who.session_version != user[1] or who.role != Role.ADMIN:
        return None
    if who.mfa_required and who.totp_enabled_at is None:
        return None  # the second factor's set-up comes first (`security.require_second_factor`)
    body = _fragment(recipient_id, run, now)
    if body is None:
        return None
    if seen:
        sessions.touch(who.id, now)  # what the loader writes once a minute
    return fragment_response(body, active=run.status != SyncStatus.SUCCEEDED)


def _fragment(recipient_id: int, run: sync.PollRun, now: datetime) -> str | None:
    key = fragment_key(recipient_id, run)
    if run.status == SyncStatus.SUCCEEDED:
        return FRAGMENTS.peek(key)  # its counts and times are not read here: the view renders it
    if sync.beating(run):
        return FRAGMENTS.get(key, lambda: progress_fragment(recipient_id, run))
    if sync.queued_afresh(run, now):
        # Not kept: whether a worker is there to take it (`waiting`) changes without the run.
        return progress_fragment(recipient_id, run)
    return None  # a run that may be dead is reaped first, by the view


def progress_fragment(recipient_id: int, run: sync.PollRun | SyncRun) -> str:
    """An active run's fragment when it has no failure to tell of (`sync.describe_progress`)."""
    # The template alone, without Flask's context processors: Flask-Login's loads the user
    # (the loader's statement and writes), and the fragment shows nothing of the user.
    template = current_app.jinja_env.get_template("recipients/sync_progress.html")
    return template.render(
        url=url_for(ENDPOINT, recipient_id=recipient_id, run_id=run.id),
        status=run.status.value,
        view=sync.describe_progress(run),
    )
