"""Old import path, kept only until app code imports these names from ``webapp.nmbrs``
(issue 13 moves ``services/nmbrs_access.py``); then delete this file."""

from . import IDENTITY_URL

__all__ = ["IDENTITY_URL"]
