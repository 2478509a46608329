"""Free-text search over services, FAQs, problem categories and spaces, in any language.

Tenants type in whatever language they think in, with typos and without accents, so every text
and keyword in every language is indexed, accents and case are folded away, small typos are
forgiven (rapidfuzz) and scripts written without spaces between words (Chinese) or with words
glued to articles and prepositions (Arabic) are matched by substring.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz, process

from storage.content import Content, LocalText, base_language

Kind = Literal["service", "faq", "problem", "space", "guide"]

MIN_SCORE = 0.5  # below this a hit is more noise than help
FUZZY_CUTOFF = 80  # rapidfuzz ratio: "riparazone" vs "riparazione" is 95
MATCHES_REMEMBERED = 4096  # query tokens per content version whose matches are kept
_EXACT, _PREFIX, _STEM, _FUZZY_SCALE = 1.0, 0.85, 0.8, 0.8
_OTHER_LANGUAGE = 0.97  # a match in the tenant's own language wins a tie
_KIND_ORDER = {"problem": 0, "service": 1, "faq": 2, "guide": 3, "space": 4}

# How much a match in each field counts.
_TITLE, _KEYWORD, _CONTEXT, _BODY = 1.0, 0.95, 0.6, 0.4
_PHRASE_PART = 0.9  # one word of a keyword made of several words

# Words too common to tell documents apart (it, en, es, fr), dropped when the query has other words.
_STOPWORDS = frozenset(
    """il lo la i gli le un uno una di del della dei delle da dal dalla in nel nella con per su a al alla e ed o che
    mi ho ha c e non come dove quando the an of to for and or my is it i in on at how where when el los las de y en
    por para mi es une des du et pour ou mon ma je""".split()
)

# Letters and digits (\w) plus the Indic blocks, whose vowel signs are marks, not letters: a Sinhala
# word must not be split at its vowels. (Arabic marks are gone by then: `fold` removes them.)
_TOKEN = re.compile(r"[\w\u0900-\u0DFF]+")
# Removed after NFKD decomposition: the accents of Latin, Greek and Cyrillic and Arabic short vowels
# (all combining marks below U+0700; Indic marks are vowels and stay), and Arabic letter variants.
_FOLDS = str.maketrans(
    {**{code: None for code in range(0x300, 0x700) if unicodedata.combining(chr(code))}, "ة": "ه", "ى": "ي", "ـ": None}
)


def fold(text: str) -> str:
    """Case- and accent-insensitive form: "Città" -> "citta", "أسرة" -> "اسره"."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text).translate(_FOLDS).casefold()


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(fold(text))


def _needs_substring_match(token: str) -> bool:
    """Chinese has no spaces between words; Arabic glues articles and prepositions to words."""
    return any("\u0600" <= char <= "\u06ff" or "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" for char in token)


@dataclass(frozen=True, slots=True)
class SearchHit:
    kind: Kind
    id: str
    score: float  # 0-1, higher is better


# (document number, field weight, language of the text or None for addresses and the like)
_Posting = tuple[int, float, str | None]


class _Index:
    """Token -> documents, built once per content version."""

    def __init__(self, content: Content) -> None:
        self.documents: list[tuple[Kind, str]] = []
        self.postings: dict[str, list[_Posting]] = {}
        programme = content.programme.items if content.programme is not None else {}
        for service in content.services.values():
            if service.id in programme:  # what's on has its own screens (handlers/whats_on.py), not a service's
                continue
            document = self._add_document("service", service.id)
            self._add_local(document, service.title, _TITLE)
            self._add_local(document, service.description, _BODY)
            self._add_keywords(document, service.keywords)
            category = content.categories.get(service.category)
            if category is not None:
                self._add_local(document, category.name, _CONTEXT)
        for faq in content.faqs:
            document = self._add_document("faq", faq.id)
            self._add_local(document, faq.question, _TITLE)
            self._add_local(document, faq.answer, _BODY)
            self._add_keywords(document, faq.keywords)
        for problem in content.problems.values():
            document = self._add_document("problem", problem.id)
            self._add_local(document, problem.name, _TITLE)
            self._add_keywords(document, problem.keywords)
        for guide in content.guides.values():
            document = self._add_document("guide", guide.id)
            self._add_local(document, guide.title, _TITLE)
            self._add_keywords(document, guide.keywords)
            self._add_local(document, guide.audience, _BODY)
        for space in content.spaces.values():
            document = self._add_document("space", space.id)
            self._add_local(document, space.name, _TITLE)
            self._add_text(document, space.neighbourhood, _KEYWORD, None)
            self._add_text(document, space.address, _CONTEXT, None)
            if space.description is not None:
                self._add_local(document, space.description, _BODY)
        self.vocabulary = sorted(self.postings)
        self.substring_vocabulary = [token for token in self.vocabulary if _needs_substring_match(token)]
        # Tenants search the same few words over and over (medico, caf, perdita...); the index never changes, so a
        # token's matches are worked out once. Callers only read the dicts.
        self.matching_tokens = functools.lru_cache(maxsize=MATCHES_REMEMBERED)(self._matching_tokens)

    def _add_document(self, kind: Kind, identifier: str) -> int:
        self.documents.append((kind, identifier))
        return len(self.documents) - 1

    def _add_local(self, document: int, text: LocalText, weight: float) -> None:
        for language in text.languages:
            self._add_text(document, text.get(language), weight, language)

    def _add_keywords(self, document: int, keywords: dict[str, list[str]]) -> None:
        for language, words in keywords.items():
            for word in words:
                # "fuite" alone is a stronger sign than "fuite" inside "fuite de gaz".
                weight = _KEYWORD if len(_tokens(word)) == 1 else _KEYWORD * _PHRASE_PART
                self._add_text(document, word, weight, language)

    def _add_text(self, document: int, text: str, weight: float, language: str | None) -> None:
        for token in _tokens(text):
            postings = self.postings.setdefault(token, [])
            if postings and postings[-1][0] == document and postings[-1][1] >= weight and postings[-1][2] == language:
                continue  # the same word again in a lesser field of the same document adds nothing
            postings.append((document, weight, language))

    def _matching_tokens(self, token: str) -> dict[str, float]:
        """Indexed tokens resembling the query token, with how well they match (0-1)."""
        matches: dict[str, float] = {}

        def offer(candidate: str, quality: float) -> None:
            if quality > matches.get(candidate, 0.0):
                matches[candidate] = quality

        if token in self.postings:
            offer(token, _EXACT)
        if len(token) >= 3:  # "ripar" -> "riparazione"
            start = bisect.bisect_left(self.vocabulary, token)
            for candidate in self.vocabulary[start : start + 50]:
                if not candidate.startswith(token):
                    break
                offer(candidate, _PREFIX)
        for length in range(4, len(token)):  # "repairs" -> "repair"
            if token[:length] in self.postings:
                offer(token[:length], _STEM)
        if len(token) >= 4:
            for candidate, ratio, _ in process.extract(token, self.vocabulary, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=20):
                offer(candidate, ratio / 100 * _FUZZY_SCALE)
        if _needs_substring_match(token):
            for candidate in self.substring_vocabulary:
                shorter, longer = sorted((token, candidate), key=len)
                if len(shorter) >= 2 and shorter in longer:
                    offer(candidate, 0.7 + 0.3 * len(shorter) / len(longer))
        return matches


_INDEXES: OrderedDict[str, _Index] = OrderedDict()
_INDEXES_KEPT = 2  # the current content and the one just replaced, while requests finish


def _index_for(content: Content) -> _Index:
    index = _INDEXES.get(content.version)
    if index is None:
        index = _INDEXES[content.version] = _Index(content)
        while len(_INDEXES) > _INDEXES_KEPT:
            _INDEXES.popitem(last=False)
    else:
        _INDEXES.move_to_end(content.version)
    return index


def prepare_index(content: Content) -> None:
    """Build the search index now (e.g. right after a reload) rather than during a tenant's first search."""
    _index_for(content)


def _query_tokens(query: str) -> list[str]:
    tokens = list(dict.fromkeys(_tokens(query)))  # dropping repeats, keeping order
    meaningful = [token for token in tokens if token not in _STOPWORDS]
    return meaningful or tokens


def search(content: Content, query: str, lang: str, limit: int = 8) -> list[SearchHit]:
    """The best matches for `query` among services, FAQs, problem categories and spaces."""
    tokens = _query_tokens(query)
    if not tokens or limit <= 0:
        return []
    index = _index_for(content)
    language = base_language(lang)
    totals: dict[int, float] = {}
    for token in tokens:
        best: dict[int, float] = {}
        for candidate, quality in index.matching_tokens(token).items():
            for document, weight, text_language in index.postings[candidate]:
                score = quality * weight
                if text_language is not None and text_language != language:
                    score *= _OTHER_LANGUAGE
                if score > best.get(document, 0.0):
                    best[document] = score
        for document, score in best.items():
            totals[document] = totals.get(document, 0.0) + score
    hits = [
        SearchHit(kind=index.documents[document][0], id=index.documents[document][1], score=round(total / len(tokens), 4))
        for document, total in totals.items()
        if total / len(tokens) >= MIN_SCORE
    ]
    hits.sort(key=lambda hit: (-hit.score, _KIND_ORDER[hit.kind], hit.id))
    return hits[:limit]

