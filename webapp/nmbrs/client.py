"""Old import path, kept only until app code imports these names from ``webapp.nmbrs``
(issue 13 moves ``services/nmbrs_access.py``); then delete this file."""

from . import resolve_base_url

__all__ = ["resolve_base_url"]
