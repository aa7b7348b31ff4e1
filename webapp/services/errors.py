"""Domain errors that services raise and views (or the app's error handlers) turn into HTTP.

Services never call `flask.abort`: they raise these, and `webapp.main.errors` answers
NotFound with 404, Forbidden with 403 and Invalid with 422.

Who commits: a service function that changes state and says "Commits." in its docstring
commits its own unit of work (jobs and views rely on it); any other service function only
adds to the session, and the view (or job) that called it commits once, after it succeeded.
"""

from __future__ import annotations


class NotFound(Exception):
    """Nothing of that id in the organization (also another organization's id): 404."""


class Forbidden(Exception):
    """Not allowed for this user: 403."""


class Invalid(Exception):
    """A request that cannot be carried out as asked; `user_message` says why: 422."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.user_message = message
