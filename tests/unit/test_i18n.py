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


# Thursday 3 December 2026 at 14:30 in Rome, as every language writes it by CLDR (Babel's skeletons), written out
# by hand so a change of pattern in the code cannot pass unnoticed. The Chinese one is the case issue 17 found
# ("周四 3 12月" from one fixed pattern for all languages).
KNOWN_DAY = datetime(2026, 12, 3, 13, 30, tzinfo=timezone.utc)
SHORT_DATES = {
    "it": "gio 3 dic",
    "en": "Thu, Dec 3",
    "ar": "الخميس، 3 ديسمبر",
    "es": "jue, 3 dic",
    "zh": "12月3日周四",
    "tl": "Huw, Dis 3",
    "si": "උඳුවප් 3 බ්‍රහස්",
    "ro": "joi, 3 dec.",
    "uk": "чт, 3 груд.",
    "sq": "enj, 3 dhj",
}


@pytest.mark.parametrize("language", sorted(SHORT_DATES))
def test_short_dates_follow_each_language_s_cldr_skeleton(language):
    from babel.dates import format_skeleton

    from bot.i18n import BABEL_LOCALE

    tr = translator(language)
    shown = tr.short_date(KNOWN_DAY)
    assert shown == format_skeleton("MMMEd", KNOWN_DAY.date(), locale=BABEL_LOCALE.get(language, language))
    assert shown == SHORT_DATES[language]
    assert tr.time(KNOWN_DAY) == tr.time(KNOWN_DAY.astimezone(tr.timezone))  # Rome wall clock, 14:30


def test_dates_with_a_year_and_month_names_use_skeletons_too():
    assert translator("zh").date(KNOWN_DAY, format="yMMMd") == "2026年12月3日"
    assert translator("zh").date(KNOWN_DAY, format="yMMMM") == "2026年12月"
    assert translator("it").date(KNOWN_DAY, format="yMMMM") == "dicembre 2026"
    assert translator("en").date(KNOWN_DAY, format="MMMd") == "Dec 3"


def test_hour_counts_take_each_language_s_plural():
    def deadline(language, hours):  # type: ignore[no-untyped-def]
        return translator(language).n_("Puoi annullare fino a {n} ora prima.", "Puoi annullare fino a {n} ore prima.", hours)

    assert deadline("en", 1) == "You can cancel up to 1 hour before."
    assert deadline("en", 24) == "You can cancel up to 24 hours before."
    assert "ساعتين" in deadline("ar", 2)
    assert deadline("ro", 20) == "Poți anula cu până la 20 de ore înainte."
    assert deadline("ro", 2) == "Poți anula cu până la 2 ore înainte."
    assert deadline("uk", 5) == "Скасувати можна не пізніше ніж за 5 годин до початку."
    assert deadline("en", 1.5) == "You can cancel up to 1.5 hours before."


def test_mentions_and_commands_are_isolated_whole_in_arabic():
    tr = translator("ar")
    assert f"{FSI}@qc_bot{PDI}" in tr._("Scrivimi in privato: {bot}", bot="@qc_bot")
    assert f"{FSI}/cancel{PDI}" in tr._("Scrivi un messaggio di testo, per favore (oppure {command}).", command="/cancel")


def test_labels_of_names_read_from_the_right_in_arabic():
    assert translator("it").label("Corvetto", "Portineria sociale Omero") == "Corvetto · Portineria sociale Omero"
    arabic = translator("ar").label("Corvetto", "مركز Omero الاجتماعي")
    assert arabic == f"\u200f{FSI}Corvetto{PDI} · {FSI}مركز Omero الاجتماعي{PDI}"


def test_a_fraction_takes_the_plural_cldr_gives_it():
    hours = ("{n} ora", "{n} ore")
    assert translator("ro").n_(*hours, 1.5) == "1,5 ore"  # not "1,5 de ore"
    assert translator("ro").n_(*hours, 20) == "20 de ore"
    assert translator("uk").n_(*hours, 1.5) == "1,5 години"
    assert translator("ar").n_(*hours, 1.5) == f"{FSI}1.5{PDI} ساعة"
    assert translator("en").n_(*hours, 1.5) == "1.5 hours"
