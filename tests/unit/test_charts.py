"""The statistics chart in every language: a real PNG a phone can show, with the labels in the reader's language
wherever a font for their script is installed, and English (logged once) where none is."""

from __future__ import annotations

import logging
import struct
import subprocess
import sys
import warnings
from datetime import date, timedelta

import pytest

from bot import charts
from bot.i18n import LANGUAGES, translator
from storage.domain.stats import Figure, WeekPoint

FONT_PACKAGES = {"zh": "fonts-noto-cjk", "si": "fonts-noto-core"}
WEEKS = [
    WeekPoint(date(2027, 1, 4) + timedelta(weeks=n), Figure(12 + n, 12.0 + n), Figure(n, n if n >= 5 else None))
    for n in range(8)  # the first weeks have too few tickets to show: the footnote is drawn too
]
RATINGS = [("Portineria sociale Omero", Figure(9, 4.25)), ("Spazio Gratosoglio & Chiesa Rossa", Figure(3, None)),
           ("Zoia", Figure(0, None))]


@pytest.fixture(autouse=True)
def fresh_font_choice():
    charts.font_families.cache_clear()
    yield
    charts.font_families.cache_clear()


def draw(language: str) -> tuple[str, bytes]:
    """The chart as the handler draws it; any glyph missing from the fonts fails the test."""
    drawn = charts.chart_translator(translator(language))
    title = drawn._("Statistiche · {period}", period=drawn.date(date(2027, 3, 1), format="MMMM yyyy"))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Glyph .* missing")
        return drawn.language, charts.trend_png(drawn, title, WEEKS, RATINGS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_gets_a_real_png_sized_for_a_phone(language):
    _drawn_in, png = draw(language)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert 600 <= width <= 1280 and height > width
    assert 10_000 < len(png) < 300_000


@pytest.mark.parametrize("language", ["ar", "zh", "si"])
def test_other_scripts_are_drawn_in_their_own_language_when_a_font_is_installed(language):
    if charts.font_families(language) is None:  # never for Arabic: DejaVu Sans, bundled with matplotlib, has it
        pytest.skip(f"no font for {language!r} installed here (apt-get install {FONT_PACKAGES[language]}): "
                    f"the chart falls back to English")
    drawn_in, _png = draw(language)
    assert drawn_in == language


def test_latin_cyrillic_and_arabic_need_no_font_but_the_bundled_one():
    # DejaVu Sans has Arabic letters too, and matplotlib's libraqm joins them and lays them out right to left.
    assert {charts.font_families(language) for language in ("it", "en", "ar", "es", "tl", "ro", "uk", "sq")} == {
        (charts.BASE_FONT,)
    }


def test_without_a_font_for_the_script_the_labels_fall_back_to_english_logged_once(monkeypatch, caplog):
    monkeypatch.setitem(charts.SCRIPT_FONTS, "si", ("No Such Sinhala Font",))
    with caplog.at_level(logging.INFO, logger="bot.charts"):
        drawn_in, png = draw("si")
        draw("si")
    assert drawn_in == "en" and png.startswith(b"\x89PNG")
    notes = [record for record in caplog.records if "No font" in record.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.INFO and "'si'" in notes[0].getMessage()


def test_matplotlib_is_not_imported_with_the_module():
    probe = "import sys, bot.charts; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("weeks", [
    [WeekPoint(date(2027, 1, 4) + timedelta(weeks=n), Figure(0, 0.0), Figure(0, 0.0)) for n in range(4)],
    [WeekPoint(date(2027, 1, 4) + timedelta(weeks=n), Figure(2, None), Figure(0, None)) for n in range(4)],
], ids=["zeros", "all-hidden"])
def test_an_empty_period_draws_a_whole_number_axis_from_zero(weeks):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    figure = MplFigure()
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    charts._draw_trend(axes, translator("it"), weeks)
    figure.canvas.draw()
    bottom, top = axes.get_ylim()
    ticks = [tick for tick in axes.get_yticks() if bottom <= tick <= top]
    assert bottom == 0 and top >= 1
    assert ticks and all(float(tick).is_integer() for tick in ticks)
