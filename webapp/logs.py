"""Logging to stdout, one line per event."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_brygga", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stdout)
    handler._brygga = True  # type: ignore[attr-defined]
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root.addHandler(handler)
    root.setLevel(level)
    # urllib3 logs full URLs and headers at DEBUG; keep it quiet so nothing sensitive leaks.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
