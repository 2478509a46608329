"""The statistics chart: bookings and tickets per week, and the average rating of each space, as one PNG sized
for a phone screen (portrait, large type). Matplotlib's object API drawn on the Agg canvas (never a GUI backend),
no pyplot: no global state, so charts can be drawn in a worker thread while the bot keeps serving.

The bundled font (DejaVu Sans) cannot draw Chinese or Sinhala, and matplotlib does not join Arabic letters, so
for those languages the labels are drawn in English; the caption under the photo stays in the reader's language.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

from bot.i18n import Translator, translator
from storage.stats import Figure, WeekPoint

LANGUAGES_DRAWN_IN_ENGLISH = frozenset({"ar", "zh", "si"})
WIDTH_INCHES, HEIGHT_INCHES, DPI = 7.2, 10.0, 100  # 720 × 1000 pixels
BOOKINGS_COLOUR, TICKETS_COLOUR, RATINGS_COLOUR, MUTED = "#1f6fb2", "#d9642b", "#2e8b57", "#777777"
MAX_LABEL = 26


def chart_translator(tr: Translator) -> Translator:
    return translator("en", tr.timezone.key) if tr.language in LANGUAGES_DRAWN_IN_ENGLISH else tr


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1].rstrip() + "…"


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
    axes.set_xticks(positions[::step], [tr.date(w.start, format="d MMM") for w in weeks][::step], rotation=45, ha="right")
    axes.set_title(tr._("Settimana per settimana"), fontsize=20, loc="left", pad=12)
    axes.set_ylim(bottom=0)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(loc="upper left", fontsize=15, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    if any(w.bookings.too_few or w.tickets.too_few for w in weeks):
        axes.text(0, -0.42, tr._("Le settimane con meno di 5 casi non sono mostrate."), transform=axes.transAxes,
                  fontsize=13, color=MUTED)


def _draw_ratings(axes, tr: Translator, ratings: list[tuple[str, Figure]]) -> None:  # type: ignore[no-untyped-def]
    axes.set_title(tr._("Voto medio degli spazi"), fontsize=20, loc="left", pad=12)
    axes.spines[["top", "right"]].set_visible(False)
    rated = [(name, figure) for name, figure in ratings if figure.size]
    if not rated:
        axes.set_axis_off()
        axes.text(0, 0.5, tr._("Nessun voto in questo periodo."), fontsize=16, color=MUTED, transform=axes.transAxes)
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
    with matplotlib.rc_context({"font.size": 15, "font.family": "DejaVu Sans"}):
        figure = MplFigure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI, facecolor="white")
        FigureCanvasAgg(figure)
        trend_axes, ratings_axes = figure.subplots(2, 1, gridspec_kw={"hspace": 0.7})
        figure.suptitle(title, fontsize=20, x=0.04, ha="left", fontweight="bold")
        figure.subplots_adjust(left=0.1, right=0.96, top=0.9, bottom=0.05)
        _draw_trend(trend_axes, tr, weeks)
        _draw_ratings(ratings_axes, tr, ratings)
        # The space names need room on the left of the bars; the weekly chart keeps the full width.
        box = ratings_axes.get_position()
        ratings_axes.set_position([0.4, box.y0, 0.5, box.height])
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
