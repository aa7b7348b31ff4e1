"""PAXml 2.0 files: `<lonetransaktioner>` for a payroll program that imports files.

The schema is `paxml-2.0-rev2013-12-03.xsd` beside this file, byte for byte the copy in
`shared/paxml/` (pakomp/paxml `xml/paxml.xsd`, the 2.0 schema with the 2013-12-03 revision
note; windows-1252 encoded). Every file is validated against it before anyone can download it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from lxml import etree

SCHEMA_PATH = Path(__file__).resolve().parent / "paxml-2.0-rev2013-12-03.xsd"
ENCODINGS = ("UTF-8", "ISO-8859-1")
# PAXml's resenhet id is at most 10 characters (dimidTYPE).
MAX_DIMENSION_ID = 10


class PaxmlInvalid(ValueError):
    """A file Brygga made does not validate: a bug, never shown to the receiver."""


@dataclass(frozen=True)
class PaxmlLine:
    """One `<lonetrans>`: employee number, lönekod or the receiver's löneart, and the amounts."""

    employee_number: str
    paxml_code: str
    wage_code: str | None  # the receiver's own löneart; None: the standard lönekod is sent
    day: date
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    report_number: str
    cost_center: str | None = None
    comment: str | None = None


@functools.cache
def schema() -> etree.XMLSchema:
    """The compiled PAXml 2.0 schema (compiled once per process)."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH)))


def _decimal(value: Decimal) -> str:
    text = format(value, "f")
    return text


def build(
    lines: Iterable[PaxmlLine],
    *,
    encoding: str = "UTF-8",
    company_name: str | None = None,
    created_at: datetime | None = None,
    reexport_on: date | None = None,
) -> bytes:
    """The file's bytes in `encoding` (UTF-8 or ISO-8859-1), validated against the schema.

    `reexport_on` marks a re-export (`<nyexport datum="…"/>` in the header): the receiver can
    then tell that it has seen these transactions before.
    """
    if encoding.upper() not in ENCODINGS:
        raise ValueError(f"unsupported PAXml encoding {encoding!r}")
    root = etree.Element("paxml")
    header = etree.SubElement(root, "header")
    etree.SubElement(header, "format").text = "LÖNIN"
    etree.SubElement(header, "version").text = "2.0"
    if created_at is not None:
        etree.SubElement(header, "datum").text = created_at.strftime("%Y-%m-%dT%H:%M:%S")
    if reexport_on is not None:
        etree.SubElement(header, "nyexport", datum=reexport_on.isoformat())
    if company_name:
        etree.SubElement(header, "foretagnamn").text = company_name
    etree.SubElement(header, "programnamn").text = "Brygga"
    transactions = etree.SubElement(root, "lonetransaktioner")
    sub = etree.SubElement
    for line in lines:
        trans = sub(transactions, "lonetrans", anstid=line.employee_number)
        if line.wage_code:
            sub(trans, "lonart").text = line.wage_code
        else:
            sub(trans, "lonkod").text = line.paxml_code
        if line.comment:
            sub(trans, "kommentar").text = line.comment
        sub(trans, "datum").text = line.day.isoformat()
        sub(trans, "antal").text = _decimal(line.quantity)
        sub(trans, "apris").text = _decimal(line.unit_price)
        sub(trans, "belopp").text = _decimal(line.amount)
        sub(trans, "samlingsid").text = line.report_number
        if line.cost_center:
            units = sub(trans, "resenheter")
            sub(units, "resenhet", dim="1", id=line.cost_center)
    validate_tree(root)
    return etree.tostring(root, encoding=encoding.upper(), xml_declaration=True, pretty_print=True)


def validate_tree(root: etree._Element) -> None:
    compiled = schema()
    if not compiled.validate(root):
        raise PaxmlInvalid(str(compiled.error_log.last_error))


def validate(data: bytes) -> None:
    """Validate a file's bytes against the PAXml 2.0 schema (`PaxmlInvalid` if not valid)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    validate_tree(etree.fromstring(data, parser))
