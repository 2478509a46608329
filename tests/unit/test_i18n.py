from datetime import datetime, timezone

import pytest

from bot.i18n import FSI, PDI, Html, normalize_language, pick_language, translator


@pytest.mark.parametrize(
    "code, expected",
    [("es-419", "es"), ("zh-hans", "zh"), ("zh-CN", "zh"), ("tl", "tl"), ("fil", "tl"), ("en-GB", "en"),
     ("AR", "ar"), ("de", None), (None, None), ("", None)],
)
def test_telegram_codes(code, expected):
    assert normalize_language(code) == expected


def test_stored_choice_wins_then_telegram_then_italian():
    assert pick_language("uk", "en") == "uk"
    assert pick_language(None, "en-US") == "en"
    assert pick_language(None, "de") == "it"


def test_values_are_escaped_but_html_values_are_not():
    tr = translator("it")
    assert tr._("📍 {space}", space="<b>&") == "📍 &lt;b&gt;&amp;"
    assert tr._("📍 {space}", space=Html("<b>x</b>")) == "📍 <b>x</b>"


def test_arabic_isolates_latin_values():
    tr = translator("ar")
    text = tr._("📍 {space}", space="via Palmanova 12")
    assert f"{FSI}via Palmanova 12{PDI}" in text


def test_babel_formats_in_rome_time():
    tr = translator("it")
    moment = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)  # 10:30 in Rome
    assert tr.time(moment) == "10:30"
    assert tr.short_date(moment) == "mar 1 dic"
    assert translator("en").distance(1.26) == "1.3 km"
    assert translator("it").distance(1.26) == "1,3 km"
    assert translator("it").distance(0.42) == "420 m"


def test_english_catalog_translates():
    assert translator("en")._("Scegli la tua lingua:") == "Choose your language:"
