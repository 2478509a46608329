"""The statistics chart: bookings and tickets per week, and the average rating of each space, as one PNG sized
for a phone screen (portrait, large type). Matplotlib's object API drawn on the Agg canvas (never a GUI backend),
no pyplot: no global state. The bot draws in a short-lived child process (`draw_in_worker`) so matplotlib's memory
never stays in the long-running bot.

Labels are drawn in the reader's language. Matplotlib (3.11 and later) shapes and orders text with libraqm, so
Arabic joins and runs right to left and Sinhala vowel signs sit where they belong; it only needs a font for the
script. Its own DejaVu Sans draws Latin, Cyrillic and Arabic; Chinese and Sinhala need a system font (Debian:
fonts-noto-cjk, fonts-noto-core). Where none is installed the labels fall back to English (logged once); the
caption under the photo stays in the reader's language either way.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache

from bot.i18n import Translator, translator
from storage.domain.stats import Figure, WeekPoint

log = logging.getLogger(__name__)

BASE_FONT = "DejaVu Sans"  # ships with matplotlib: Latin, Cyrillic and Arabic letters, digits, punctuation
# Scripts DejaVu Sans lacks: the first installed of these draws the letters, DejaVu Sans the digits and Latin names
# (so numbers look alike in every chart); with none installed the labels fall back to English. Arabic stays with
# DejaVu Sans on purpose: Noto Sans Arabic's tall line height pushes the title into the heading below it.
SCRIPT_FONTS: dict[str, tuple[str, ...]] = {
    "zh": ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "Droid Sans Fallback"),
    "si": ("Noto Sans Sinhala", "Noto Serif Sinhala", "LKLUG"),
}
WIDTH_INCHES, HEIGHT_INCHES, DPI = 7.2, 10.0, 100  # 720 × 1000 pixels
BOOKINGS_COLOUR, TICKETS_COLOUR, RATINGS_COLOUR, MUTED = "#1f6fb2", "#d9642b", "#2e8b57", "#777777"
MAX_LABEL = 26

_font_lookup = threading.Lock()  # charts are drawn in worker threads; the font manager is shared


def _installed_families() -> set[str]:
    from matplotlib import font_manager

    return {entry.name for entry in font_manager.fontManager.ttflist}


def _learn_new_system_fonts() -> None:
    """Matplotlib writes its font list to a cache the first time it runs and never looks again: fonts installed
    after that (apt-get on a machine that had already drawn a chart) are added here."""
    from matplotlib import font_manager

    known = {entry.fname for entry in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known:
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError) as error:  # a broken file must not cost the chart
                log.debug("skipping font file %s: %s", path, error)


@cache
def font_families(language: str) -> tuple[str, ...] | None:
    """The font families that draw `language`, in order (matplotlib takes each glyph from the first that has it),
    or None when no installed font covers its script."""
    wanted = SCRIPT_FONTS.get(language)
    if wanted is None:
        return (BASE_FONT,)
    with _font_lookup:
        installed = _installed_families()
        if not installed.intersection(wanted):
            _learn_new_system_fonts()
            installed = _installed_families()
    found = next((family for family in wanted if family in installed), None)
    if found is None:
        log.info("No font for the %r chart labels (any of %s); drawing them in English. On Debian: "
                 "apt-get install fonts-noto-core fonts-noto-cjk", language, ", ".join(wanted))
        return None
    return (BASE_FONT, found)


def chart_translator(tr: Translator) -> Translator:
    """The reader's translator when a font for their script is installed, else English. The first call imports
    matplotlib (about a second): call it from a worker thread."""
    return tr if font_families(tr.language) is not None else translator("en", tr.timezone.key)


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1].rstrip() + "…"


def _start(tr: Translator) -> str:
    """Where a line of text begins: titles and notes line up on the right for right-to-left readers."""
    return "right" if tr.rtl else "left"


def _values(points: Sequence[Figure]) -> list[float]:
    # Hidden weeks (too few to show) become gaps in the line rather than a misleading zero.
    return [point.value if point.value is not None else float("nan") for point in points]


def _draw_trend(axes, tr: Translator, weeks: list[WeekPoint]) -> None:  # type: ignore[no-untyped-def]
    positions = list(range(len(weeks)))
    axes.plot(positions, _values([w.bookings for w in weeks]), marker="o", linewidth=3, markersize=8,
              color=BOOKINGS_COLOUR, label=tr._("Prenotazioni"))
    axes.plot(positions, _values([w.tickets for w in weeks]), marker="s", linewidth=3, markersize=8,
              color=TICKETS_COLOUR, label=tr._("Segnalazioni"))
    step = 2 if len(weeks) > 6 else 1
    axes.set_xticks(positions[::step], [tr.date(w.start, format="MMMd") for w in weeks][::step], rotation=45, ha="right")
    axes.set_title(tr._("Settimana per settimana"), fontsize=20, loc=_start(tr), pad=12)
    # Counts: whole numbers from 0, and at least 0–1 so an empty period does not draw a 0.00–0.05 axis.
    axes.set_ylim(0, max(1, axes.get_ylim()[1]))
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper left", fontsize=15, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    if any(w.bookings.too_few or w.tickets.too_few for w in weeks):
        axes.text(1 if tr.rtl else 0, -0.42, tr._("Le settimane con meno di 5 casi non sono mostrate."),
                  transform=axes.transAxes, fontsize=13, color=MUTED, ha=_start(tr))


def _draw_ratings(axes, tr: Translator, ratings: list[tuple[str, Figure]]) -> None:  # type: ignore[no-untyped-def]
    axes.spines[["top", "right"]].set_visible(False)
    rated = [(name, figure) for name, figure in ratings if figure.size]
    if not rated:
        axes.set_axis_off()
        axes.text(1 if tr.rtl else 0, 0.5, tr._("Nessun voto in questo periodo."), fontsize=16, color=MUTED,
                  transform=axes.transAxes, ha=_start(tr))
        return
    positions = list(range(len(rated)))[::-1]  # the first space at the top
    axes.barh(positions, [figure.value or 0 for _name, figure in rated], color=RATINGS_COLOUR, height=0.6)
    axes.set_yticks(positions, [_short(name) for name, _figure in rated], fontsize=14)
    axes.set_xlim(0, 5.9)
    axes.set_xticks(range(6))
    axes.grid(axis="x", alpha=0.3)
    for position, (_name, figure) in zip(positions, rated, strict=True):
        if figure.value is None:
            label, x, colour = tr._("troppo pochi per mostrarli"), 0.1, MUTED
        else:
            label, x, colour = tr._("{stars} ({n})", stars=tr.number(figure.value, 1), n=tr.number(figure.size)), figure.value + 0.1, "black"
        axes.text(x, position, label, va="center", fontsize=14, color=colour)


def trend_png(tr: Translator, title: str, weeks: list[WeekPoint], ratings: list[tuple[str, Figure]]) -> bytes:
    """The PNG. `tr` is chart_translator(reader's translator); `title` and the space names in `ratings` (pairs of
    name and average stars) are already in its language."""
    # Imported here, not at the top: matplotlib costs every process ~43 MB and ~1 s to load, and only this
    # button needs it.
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    families = font_families(tr.language) or (BASE_FONT,)
    with matplotlib.rc_context({"font.size": 15, "font.family": list(families)}):
        figure = MplFigure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, facecolor="white")
        FigureCanvasAgg(figure)
        trend_axes, ratings_axes = figure.subplots(2, 1, gridspec_kw={"hspace": 0.7})
        figure.suptitle(title, fontsize=20, x=0.96 if tr.rtl else 0.04, ha=_start(tr), fontweight="bold")
        figure.subplots_adjust(left=0.1, right=0.96, top=0.9, bottom=0.05)
        _draw_trend(trend_axes, tr, weeks)
        # The space names need room on the left of the bars; the weekly chart keeps the full width.
        box = ratings_axes.get_position()
        ratings_axes.set_position([0.4, box.y0, 0.5, box.height])
        # The heading lines up with the weekly chart's rather than with the narrower bars, so long translations fit.
        trend_box = trend_axes.get_position()
        figure.text(trend_box.x1 if tr.rtl else trend_box.x0, box.y1 + 0.017, tr._("Voto medio degli spazi"),
                    fontsize=20, ha=_start(tr), va="bottom")
        _draw_ratings(ratings_axes, tr, ratings)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


@dataclass(frozen=True)
class ChartLabels:
    """The chart's texts in one language: computed by the bot, which has the content, drawn by the worker."""

    title: str
    ratings: list[tuple[str, Figure]]


def _draw_in_worker(language: str, timezone_name: str, labels: dict[str, ChartLabels], weeks: list[WeekPoint]) -> bytes:
    """Runs in a short-lived child process: picks the reader's language if a font can draw it, else English."""
    tr = chart_translator(translator(language, timezone_name))
    chosen = labels.get(tr.language) or labels["en"]
    return trend_png(tr, chosen.title, weeks, chosen.ratings)


async def draw_in_worker(language: str, timezone_name: str, labels: dict[str, ChartLabels], weeks: list[WeekPoint]) -> bytes:
    """Draw the chart in a child process that exits afterwards. Matplotlib and its font caches (40-80 MB) then
    never stay in the long-running bot for the sake of a button staff press a few times a month; the price is
    a second or two per chart, while the person has already been told the chart is on its way."""
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, _draw_in_worker, language, timezone_name, labels, weeks)
    finally:
        pool.shutdown(wait=False)
