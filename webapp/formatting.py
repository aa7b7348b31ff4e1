"""Template filters: how Brygga shows dates and amounts to a Swedish reader."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask import Flask
from flask_babel import format_datetime, format_decimal

NBSP = "\u00a0"


def kronor(amount: Decimal | int | None) -> str:
    """`1 234,50 kr`: a non-breaking space between thousands and a decimal comma."""
    if amount is None:
        return ""
    quantised = Decimal(amount).quantize(Decimal("0.01"))
    sign = "−" if quantised < 0 else ""
    whole, _, frac = f"{abs(quantised):.2f}".partition(".")
    groups: list[str] = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{sign}{NBSP.join(groups)},{frac}{NBSP}kr"


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_datetime(value, "yyyy-MM-dd HH:mm")


def duration(seconds: float | None) -> str:
    """`0,8 s`, `12 s`, `2 min 5 s`: how long a sync took."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{format_decimal(round(seconds, 1), format='0.0')}{NBSP}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}{NBSP}s"
    return f"{whole // 60}{NBSP}min {whole % 60}{NBSP}s"


def pay_item_label(item: str) -> str:
    """The admin's name for a stored pay item key."""
    from webapp.payitems import INFO, PayItem

    try:
        return str(INFO[PayItem(item)].label)
    except ValueError:
        return item


def register(app: Flask) -> None:
    app.add_template_filter(kronor)
    app.add_template_filter(when)
    app.add_template_filter(duration)
    app.add_template_filter(pay_item_label)
