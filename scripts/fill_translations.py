"""Fill English msgstrs from tables: `python scripts/fill_translations.py A.tsv B.tsv …`.

Swedish is the source language of Brygga's templates and code; the English catalogue is the
translation. Each TSV line is `Swedish<TAB>English`; existing translations are kept. Prints the
messages that are still untranslated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "webapp/translations/en/LC_MESSAGES/messages.po"


def main(*tsv_files: str) -> None:
    table: dict[str, str] = {}
    for tsv in tsv_files:
        for line in Path(tsv).read_text().splitlines():
            if "\t" in line:
                swedish, english = line.split("\t", 1)
                table[swedish] = english.strip()
    with PO.open("rb") as f:
        catalog = read_po(f)
    missing = []
    for message in catalog:
        if not message.id or message.string:
            continue
        english = table.get(message.id)
        if english is None:
            missing.append(message.id)
        else:
            message.string = english
    with PO.open("wb") as f:
        write_po(f, catalog, width=100)
    for m in missing:
        print(f"untranslated: {m}")


if __name__ == "__main__":
    main(*sys.argv[1:])
