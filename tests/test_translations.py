"""The English UI is complete: every Swedish message in the code has its English translation."""

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def test_every_message_has_an_english_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [Path(sys.executable).parent / "pybabel", "extract", "-F", "babel.cfg", "-k", "_l",
         "-o", str(pot), "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    extracted = {m.id for m in read_po(pot.open("rb")) if m.id}
    with (ROOT / "webapp/translations/en/LC_MESSAGES/messages.po").open("rb") as f:
        translated = {m.id for m in read_po(f) if m.id and m.string}
    missing = sorted(str(m) for m in extracted - translated)
    assert missing == [], "run `make extract-messages` and translate: " + "; ".join(missing[:10])
