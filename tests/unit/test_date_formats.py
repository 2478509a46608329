"""Every date format written in the code is a CLDR width or a skeleton Babel knows in every language: a fixed
pattern ("LLLL yyyy") fails in format_skeleton at run time, on the screen that uses it."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from bot.i18n import LANGUAGES, translator

ROOT = Path(__file__).resolve().parents[2]
DATE_CALL = re.compile(r"\.date\([^()]*format=\"([^\"]+)\"")


def formats_in_code() -> set[str]:
    found: set[str] = set()
    for folder in ("bot", "handlers", "storage"):
        for path in (ROOT / folder).rglob("*.py"):
            found.update(DATE_CALL.findall(path.read_text(encoding="utf-8")))
    return found


def test_the_code_formats_dates_somewhere():
    assert "yMMMd" in formats_in_code()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_date_format_in_the_code_renders_in_every_language(language):
    tr = translator(language, "Europe/Rome")
    for skeleton in sorted(formats_in_code()):
        assert tr.date(date(2027, 3, 2), format=skeleton), skeleton
