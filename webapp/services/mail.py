"""Sending e-mail over SMTP, configured from the environment (SMTP_HOST, SMTP_PORT, …).

Without SMTP_HOST nothing is sent and the mail is logged instead, so a deployment without a
mail server still runs; `make dev` points SMTP_HOST at a local sink that prints every mail.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app

log = logging.getLogger(__name__)


def send(to: list[str], subject: str, body: str) -> bool:
    """Send one plain-text mail to `to`; True when the SMTP server accepted it.

    Never raises for SMTP trouble: a mail that could not be sent is logged, and the caller
    decides whether to try again later.
    """
    if not to:
        return False
    cfg = current_app.config
    message = EmailMessage()
    message["From"] = cfg["MAIL_FROM"]
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="brygga")
    message.set_content(body)
    if not cfg.get("SMTP_HOST"):
        log.warning("SMTP_HOST is not set; mail to %s not sent: %s", ", ".join(to), subject)
        return False
    try:
        with smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=15) as smtp:
            if cfg.get("SMTP_USE_TLS"):
                smtp.starttls()
            if cfg.get("SMTP_USERNAME"):
                smtp.login(cfg["SMTP_USERNAME"], cfg.get("SMTP_PASSWORD") or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail to %s not sent (%s): %s", ", ".join(to), type(exc).__name__, subject)
        return False
    log.info("mail sent to %s: %s", ", ".join(to), subject)
    return True
