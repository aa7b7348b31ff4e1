"""The clock process: one per deployment, it enqueues scheduled work and does none itself."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("jobs.clock")


def main() -> None:
    from jobs.context import job_app

    app = job_app()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("clock started (redis %s)", app.config["REDIS_URL"].rsplit("@", 1)[-1])
    while not stop.wait(60):
        pass
    log.info("clock stopped")


if __name__ == "__main__":
    main()
