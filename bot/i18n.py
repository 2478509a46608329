"""Languages: choosing one per update, gettext catalogs, Babel formatting, bidi isolation.

Source strings are Italian (the language of the product and of its editors). Every string a person reads goes
through a `Translator`; its `_` escapes the values it formats into the template for Telegram's HTML, and for
right-to-left languages wraps them in Unicode isolates so "QC-2026-000123" or "via Palmanova 12" keep their
order inside Arabic text.
"""

from __future__ import annotations

import gettext as gettext_module
import html
import io
import math
from datetime import date, datetime, time
from functools import lru_cache, partial
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton, format_time, get_day_names
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

# The shipped languages are defined once, with the content that must be written in them (storage is the lower
# layer); the bot's handlers import them from here or from storage.content, the same tuple.
from storage.content import LANGUAGES

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
SOURCE_LANGUAGE = "it"
# Each language by its own name, as the picker shows it.
LANGUAGE_NAMES = {
    "it": "Italiano",
    "en": "English",
    "ar": "العربية",
    "es": "Español",
    "zh": "中文（简体）",
    "tl": "Filipino",
    "si": "සිංහල",
    "ro": "Română",
    "uk": "Українська",
    "sq": "Shqip",
}
BABEL_LOCALE = {"zh": "zh_Hans_CN", "tl": "fil"}
RTL_LANGUAGES = frozenset({"ar"})
FSI, PDI, RLM = "\u2068", "\u2069", "\u200f"
DATE_WIDTHS = frozenset({"full", "long", "medium", "short"})
ALIASES = {"fil": "tl", "zh": "zh", "ua": "uk", "al": "sq"}


def N_(message: str) -> str:
    """Marks a string for extraction where it is defined; it is translated where it is shown."""
    return message


class Html(str):
    """A value that is already HTML (a link, bold text) and must not be escaped again."""


def esc(value: object) -> str:
    return value if isinstance(value, Html) else html.escape(str(value), quote=False)


def normalize_language(code: str | None) -> str | None:
    """Telegram's language_code → one of LANGUAGES, or None. 'es-419' → es, 'zh-hans'/'zh-CN' → zh, 'fil' → tl."""
    if not code:
        return None
    primary = code.replace("_", "-").split("-")[0].lower()
    primary = ALIASES.get(primary, primary)
    return primary if primary in LANGUAGES else None


def pick_language(stored: str | None, telegram_code: str | None) -> str:
    return stored if stored in LANGUAGES else normalize_language(telegram_code) or SOURCE_LANGUAGE


def _load_catalog(language: str) -> gettext_module.NullTranslations:
    if language == SOURCE_LANGUAGE:
        return gettext_module.NullTranslations()
    folder = LOCALES_DIR / language / "LC_MESSAGES"
    po_path, mo_path = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo_path.exists() and (not po_path.exists() or mo_path.stat().st_mtime >= po_path.stat().st_mtime):
        with mo_path.open("rb") as stream:
            return gettext_module.GNUTranslations(stream)
    if not po_path.exists():
        return gettext_module.NullTranslations()
    # No compiled catalog yet (a fresh checkout before `make`): compile in memory rather than show Italian.
    with po_path.open("rb") as stream:
        catalog = read_po(stream, locale=BABEL_LOCALE.get(language, language))
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext_module.GNUTranslations(buffer)


class Translator:
    def __init__(self, language: str, timezone: ZoneInfo) -> None:
        self.language = language
        self.timezone = timezone
        self.locale = Locale.parse(BABEL_LOCALE.get(language, language))
        self.rtl = language in RTL_LANGUAGES
        self._catalog = _load_catalog(language)
        # Babel parses patterns and walks locale data on every call; screens format the same few times of day,
        # days and counts over and over, so each translator remembers its recent results.
        self._short_time = lru_cache(maxsize=2048)(partial(format_time, format="short", locale=self.locale))
        self._short_date = lru_cache(maxsize=1024)(partial(self.date, format="MMMEd"))
        self._number = lru_cache(maxsize=1024)(self._format_number)
        self._whole_in_category: dict[str, int] = {}
        for whole in range(200, -1, -1):  # the smallest whole number of each CLDR plural category
            self._whole_in_category[self.locale.plural_form(whole)] = whole

    def isolate(self, value: object) -> str:
        text = esc(value)
        return f"{FSI}{text}{PDI}" if self.rtl else text

    def bidi(self, text: str) -> str:
        """Plain text (a button's label, not HTML) isolated for right-to-left readers, unescaped."""
        return f"{FSI}{text}{PDI}" if self.rtl else text

    def label(self, *parts: str) -> str:
        """A button's label made of names ("Corvetto · Portineria sociale Omero"): for right-to-left readers each
        name is isolated and a right-to-left mark starts the line, so it reads from the right, names whole."""
        if not self.rtl:
            return " · ".join(parts)
        return RLM + " · ".join(self.bidi(part) for part in parts)

    def _(self, message: str, **values: object) -> str:
        translated = self._catalog.gettext(message)
        if not values:
            return translated
        return translated.format(**{key: self.isolate(value) for key, value in values.items()})

    def n_(self, singular: str, plural: str, n: float, **values: object) -> str:
        whole = float(n).is_integer()
        translated = self._catalog.ngettext(singular, plural, int(n) if whole else self._count_like(n))
        shown = self.number(n, 0 if whole else 1)
        return translated.format(**{key: self.isolate(value) for key, value in {"n": shown, **values}.items()})

    def _count_like(self, fraction: float) -> int:
        """Gettext's plural rules know whole numbers only. A fraction (1.5 hours) takes the form of the first whole
        number CLDR puts in the same plural category (Romanian "1,5 ore" like 2, Arabic "1,5 ساعة" like 100); a
        category no whole number has (Ukrainian fractions) takes the form of the next whole number."""
        category = self.locale.plural_form(fraction)
        return self._whole_in_category.get(category, math.ceil(fraction))

    # Babel formatting, always in the configured time zone.
    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.timezone)

    def date(self, value: date | datetime, format: str = "full") -> str:
        """`format` is a CLDR width (full, long, medium, short) or a CLDR skeleton ("MMMEd", "yMMMd", "yMMMM"):
        a skeleton names the fields and each language puts them in its own order and words ("gio 3 dic",
        "Thu, Dec 3", "12月3日周四"); a fixed pattern would force Italian order on every language."""
        if isinstance(value, datetime):
            value = self.local(value).date()
        if format in DATE_WIDTHS:
            return format_date(value, format=format, locale=self.locale)
        return format_skeleton(format, value, locale=self.locale)

    def short_date(self, value: date | datetime) -> str:
        """Weekday, day and month (skeleton MMMEd), which is how people talk about appointments."""
        if isinstance(value, datetime):
            value = self.local(value).date()
        return self._short_date(value)

    def time(self, value: time | datetime) -> str:
        # The short pattern shows hours and minutes only, so they are all the result depends on.
        wall_clock = self.local(value).time() if isinstance(value, datetime) else value
        return self._short_time(wall_clock.replace(second=0, microsecond=0, tzinfo=None))

    def datetime(self, value: datetime) -> str:
        return format_datetime(self.local(value), format="medium", locale=self.locale)

    def number(self, value: float, decimals: int = 0) -> str:
        return self._number(value, decimals)

    def _format_number(self, value: float, decimals: int) -> str:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def distance(self, km: float) -> str:
        if km < 1:
            return self._("{meters} m", meters=self.number(round(km * 1000, -1)))
        return self._("{km} km", km=self.number(km, 1))

    def weekday(self, index: int, width: str = "wide") -> str:
        return get_day_names(width, locale=self.locale)[index]


@lru_cache(maxsize=64)
def translator(language: str, timezone_name: str = "Europe/Rome") -> Translator:
    return Translator(language if language in LANGUAGES else SOURCE_LANGUAGE, ZoneInfo(timezone_name))
