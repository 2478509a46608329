"""Every shipped language is complete: no missing message, no fuzzy entry, the same placeholders as the source."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import BABEL_LOCALE, LANGUAGES, LOCALES_DIR, SOURCE_LANGUAGE

PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)[sd]")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def current_template(tmp_path_factory) -> set[str]:
    """The messages in the code today (not the committed .pot, which may be stale)."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg", "-k", "_", "-k", "n_:1,2",
         "-k", "N_", "-o", str(pot), "bot", "handlers", "storage"],
        cwd=ROOT, check=True,
    )
    with pot.open("rb") as stream:
        return {message.id if isinstance(message.id, str) else message.id[0] for message in read_po(stream) if message.id}


def _catalog(language: str):  # type: ignore[no-untyped-def]
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    assert path.exists(), f"{path} is missing: run make locales and translate it"
    with path.open("rb") as stream:
        return read_po(stream, locale=BABEL_LOCALE.get(language, language))


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != SOURCE_LANGUAGE])
def test_catalog_is_complete_and_faithful(language, current_template):
    catalog = _catalog(language)
    problems = []
    translated_ids = set()
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        translated_ids.add(key)
        if message.fuzzy:
            problems.append(f"fuzzy: {key!r}")
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            problems.append(f"untranslated: {key!r}")
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        expected = set(PLACEHOLDER.findall(" ".join(sources)))
        for text in strings:
            found = set(PLACEHOLDER.findall(text))
            # A plural form may leave out {n} (e.g. Arabic "one" says the word), but never invent or lose others.
            if found - expected or (expected - {"{n}"}) - found:
                problems.append(f"placeholders differ in {key!r}: {sorted(found)} vs {sorted(expected)}")
    missing = current_template - translated_ids
    problems.extend(f"missing: {key!r}" for key in sorted(missing))
    assert not problems, f"{language}: {len(problems)} problem(s), e.g.\n" + "\n".join(problems[:15])
