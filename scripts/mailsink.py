"""`python scripts/mailsink.py --port 8025`: a local SMTP server that prints every mail.

`make dev` runs it and points SMTP_HOST/SMTP_PORT at it, so the mails Brygga sends (a failed
nightly sync, a rejected Nmbrs key) show up in the terminal instead of in someone's inbox.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import signal
import threading

from aiosmtpd.controller import Controller


class PrintingHandler:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(("plain",))
        print(
            "\n".join(
                [
                    "─" * 72,
                    f"To:      {', '.join(envelope.rcpt_tos)}",
                    f"Subject: {message['Subject']}",
                    "",
                    body.get_content().rstrip() if body else "",
                    "─" * 72,
                ]
            ),
            flush=True,
        )
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(prog="mailsink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    controller = Controller(PrintingHandler(), hostname=args.host, port=args.port)
    controller.start()
    print(f"mail sink on {args.host}:{args.port}; mails are printed here", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
