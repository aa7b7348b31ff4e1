"""Receipts: JPEG, PNG or PDF up to 10 MB, recognised by their content, not their name."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO

from flask_babel import gettext as _

MAX_RECEIPT_BYTES = 10 * 1024 * 1024

# The first bytes of each allowed file type (its "magic number").
SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"%PDF-", "application/pdf", ".pdf"),
)


class ReceiptError(ValueError):
    """A file that cannot be a receipt; the message is for the employee."""


@dataclass(frozen=True)
class CheckedReceipt:
    filename: str
    content_type: str
    data: bytes


def content_type_of(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes, or None."""
    for magic, content_type, extension in SIGNATURES:
        if data.startswith(magic):
            return content_type, extension
    return None


def read_receipt(filename: str | None, stream: BinaryIO) -> CheckedReceipt:
    """Read an upload without ever holding more than 10 MB + 1 byte, and check its type."""
    data = stream.read(MAX_RECEIPT_BYTES + 1)
    if not data:
        raise ReceiptError(_("Kvittofilen är tom."))
    if len(data) > MAX_RECEIPT_BYTES:
        raise ReceiptError(_("Kvittot är större än 10 MB."))
    kind = content_type_of(data)
    if kind is None:
        raise ReceiptError(_("Kvittot måste vara en JPEG-, PNG- eller PDF-fil."))
    content_type, extension = kind
    return CheckedReceipt(_safe_filename(filename, extension), content_type, data)


def _safe_filename(filename: str | None, extension: str) -> str:
    # Keep a readable name for the download but never a path, and the extension the content has.
    stem = re.sub(r"[^\w\-. ]", "_", (filename or "kvitto").rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    stem = stem.rsplit(".", 1)[0].strip(" .")[:100] or "kvitto"
    return stem + extension
