"""Template filters: how Brygga shows dates and amounts to a Swedish reader; the templates'
translations."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Flask
from flask_babel import format_datetime, format_decimal, get_translations
from jinja2 import pass_context
from jinja2.runtime import Context

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


# The render's translations, looked up once per render_template (see install_translations).
TRANSLATIONS = "_brygga_translations"


def _translations(context: Context) -> Any:
    found = context.get(TRANSLATIONS)  # absent in a macro imported without context
    return found if found is not None else get_translations()


@pass_context
def _gettext(context: Context, string: str) -> str:
    return str(_translations(context).ugettext(string))


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return str(_translations(context).ungettext(singular, plural, n))


@pass_context
def _pgettext(context: Context, msgctxt: str, string: str) -> str:
    return str(_translations(context).upgettext(msgctxt, string))


@pass_context
def _npgettext(context: Context, msgctxt: str, singular: str, plural: str, n: int) -> str:
    return str(_translations(context).unpgettext(msgctxt, singular, plural, n))


def install_translations(app: Flask) -> None:
    """The templates' `_()` with the translations of the render, found once per render.
    Flask-Babel's own callables look up the request, the locale and its catalogue again for
    every string: a recipient view has ~80 of them, and every open tab polls a fragment."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext,
        ngettext=_ngettext,
        newstyle=True,
        pgettext=_pgettext,
        npgettext=_npgettext,
    )

    @app.context_processor
    def render_translations() -> dict[str, Any]:
        return {TRANSLATIONS: get_translations()}


def register(app: Flask) -> None:
    install_translations(app)
    app.add_template_filter(kronor)
    app.add_template_filter(when)
    app.add_template_filter(duration)
    app.add_template_filter(pay_item_label)
