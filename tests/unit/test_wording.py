"""Words a native reader corrected (issue 17): each fix is checked here so it does not come back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import LANGUAGES, LOCALES_DIR, translator
from bot.runtime import Visitor
from handlers.outgoing.tickets import floor_label
from handlers.reports_screens import render_categories, render_floor
from storage.content import load_content
from storage.domain.users import Roles

SAMPLE = Path(__file__).resolve().parents[2] / "content"


def msgstrs(language: str) -> dict[str, str]:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as stream:
        catalog = read_po(stream)
    return {(m.id if isinstance(m.id, str) else m.id[0]): (m.string if isinstance(m.string, str) else " | ".join(m.string))
            for m in catalog if m.id}


def visitor_in(language: str) -> Visitor:
    return Visitor(1, 1, "Amal", language, translator(language), Roles(), True, None)


def test_tagalog_keeps_the_booking_and_says_improve_not_heal():
    tl = msgstrs("tl")
    assert tl["No, tienila"] == "Hindi, huwag i-cancel"
    assert not [text for text in tl.values() if "gumaling" in text]


def test_tagalog_uses_po_only_in_apologies_like_the_rest_of_its_familiar_register():
    # The catalog speaks as the Italian source does (tu → ka/mo); "po" stays where Filipinos keep it even among
    # equals, in apologies. Mixing both in one screen was what read oddly.
    with_po = [text for text in msgstrs("tl").values() if re.search(r"\bpo\b", text)]
    assert with_po and all("Pasensya na po" in text for text in with_po), with_po


def test_spanish_says_hacerse_cargo():
    es = msgstrs("es")
    assert not [text for text in es.values() if re.search(r"\btom\w* a cargo", text, re.IGNORECASE)]
    assert "se hizo cargo" in es["⏰ <b>Nessuno ha preso in carico questa segnalazione</b> entro {time}."]


def test_sinhala_says_press_and_gives_sinhala_search_examples():
    si = msgstrs("si")
    assert not [text for text in si.values() if "තට්ටු" in text]
    assert "අලුත්වැඩියා" in si["Cosa vuoi fare? Tocca un pulsante, oppure scrivi cosa cerchi (per esempio «riparazioni» o «computer»)."]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_problem_list_quotes_the_catch_all_button_as_it_reads(language):
    content = load_content(SAMPLE)
    screen = render_categories(visitor_in(language), content, None, has_reports=False)
    other = content.problems["other"].name.get(language)
    assert other in screen.text
    assert any(other in button.text for row in screen.rows for button in row)


def test_the_arabic_plural_rule_is_explained_to_translators():
    header = (LOCALES_DIR / "ar" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8").split('msgid ""')[0]
    assert "msgstr[4] and msgstr[5]" in header


# The ground floor is the street level in every language; where "1" would be read as the ground floor (Chinese,
# Ukrainian, and American or Filipino usage in English and Tagalog) the label says "above the ground floor".
GROUND_AND_FIRST = {
    "it": ("piano terra", "piano 1"),
    "en": ("ground floor (street level)", "floor 1 above the ground floor"),
    "ar": ("الطابق الأرضي (مستوى الشارع)", "الطابق 1"),
    "es": ("planta baja (nivel de la calle)", "piso 1"),
    "zh": ("地面层（与街道齐平）", "地面层以上第 1 层"),
    "tl": ("ground floor (kapantay ng kalye)", "palapag 1 sa itaas ng ground floor"),
    "si": ("බිම් මහල (වීදි මට්ටම)", "මහල 1"),
    "ro": ("parter (nivelul străzii)", "etajul 1"),
    "uk": ("партер (рівень вулиці)", "1-й поверх над партером"),
    "sq": ("kati përdhes (niveli i rrugës)", "kati 1"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_floors_say_which_one_is_at_street_level(language):
    tr = translator(language)
    assert (floor_label(tr, 0), floor_label(tr, 1).replace("\u2068", "").replace("\u2069", "")) == GROUND_AND_FIRST[language]
    # The floor question explains the numbers.
    screen = render_floor(visitor_in(language))
    assert tr._("Il piano terra è quello a livello della strada; «1» è il primo piano sopra il piano terra.") in screen.text
