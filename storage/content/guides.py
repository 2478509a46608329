"""Guides to digital services in the editors' content: one YAML file per guide under content/guides/, pictures
beside them in content/guides/pictures/. The schema, the checks (with file:line for editors) and the objects the
bot uses live here together; storage/content/loader.py calls in while it loads a folder.

A guide has a title, who it is for, what you need, an estimated time and steps; a step has a short text, an
optional picture (PNG or JPEG, checked for size and format), an optional https link and "what can go wrong" tips.
`first:` names guides to follow before this one (a loop of them is an error); `faq:` and `services:` link to
related entries. Texts are LocalText like everywhere else: Italian required, other languages fall back to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from storage.content.errors import Location, _invalid
from storage.content.model import _YAML_SUFFIXES, LocalText
from storage.content.schema import _Identifier, _Keywords, _Schema

if TYPE_CHECKING:
    from storage.content.loader import _Loading, _Parsed
    from storage.content.model import Content

GUIDES_FOLDER = "guides"
PICTURES_FOLDER = "guides/pictures"
PICTURE_FORMATS = {"PNG": "png", "JPEG": "jpg"}
MAX_PICTURE_BYTES = 1_000_000  # tenants often pay for mobile data; a screenshot needs far less
MAX_PICTURE_SIDE = 2560  # Telegram shrinks larger photos anyway
MAX_STEPS = 30
MAX_MINUTES = 240
_HTTPS = re.compile(r"https://[^\s/]+\.[^\s]+")


# --------------------------------------------------------------------------------------------
# The objects the bot uses


@dataclass(frozen=True, slots=True)
class GuideStep:
    text: LocalText
    picture: Path | None  # absolute path of a checked PNG/JPEG
    link: str | None  # https only
    tips: LocalText | None  # what can go wrong here


@dataclass(frozen=True, slots=True)
class Guide:
    id: str
    title: LocalText
    audience: LocalText  # who it is for
    needs: LocalText  # what to have at hand before starting
    minutes: int
    steps: tuple[GuideStep, ...]
    first: tuple[str, ...]  # guides to follow before this one
    faq_ids: tuple[str, ...]
    service_ids: tuple[str, ...]
    keywords: dict[str, list[str]]
    file: str  # where an editor changes it, e.g. "content/guides/pagopa.yaml"


# --------------------------------------------------------------------------------------------
# Schema


def _check_https(value: str) -> str:
    if not _HTTPS.fullmatch(value):
        if value.startswith("http://"):
            raise _invalid(f'"{value}" is not a secure link', f'write the address with "https://", e.g. "https://{value[7:]}"')
        raise _invalid(f'"{value}" is not a web address', 'write the full address, starting with "https://"')
    return value


def _check_picture_name(value: str) -> str:
    if "\\" in value or value.startswith("/") or ".." in Path(value).parts:
        raise _invalid(f'"{value}" is not a picture of the content folder', 'write the file name inside guides/pictures/, e.g. "pagopa-1.png"')
    return value


class _StepSchema(_Schema):
    text: LocalText
    picture: Annotated[str, AfterValidator(_check_picture_name)] | None = None
    link: Annotated[str, AfterValidator(_check_https)] | None = None
    tips: LocalText | None = None


class _GuideSchema(_Schema):
    id: _Identifier
    title: LocalText
    audience: LocalText
    needs: LocalText
    minutes: Annotated[int, Field(ge=1, le=MAX_MINUTES)]
    steps: list[_StepSchema] = []
    first: list[str] = []
    faq: list[str] = []
    services: list[str] = []
    keywords: _Keywords = {}

    @model_validator(mode="before")
    @classmethod
    def _steps_given(cls, value: Any) -> Any:
        if isinstance(value, dict) and not value.get("steps"):
            raise _invalid(
                "the guide has no steps",
                'add "steps:" with at least one step, e.g. "  - text: Apri il sito del Comune"', at=("steps",),
            )
        if isinstance(value, dict) and isinstance(value.get("steps"), list) and len(value["steps"]) > MAX_STEPS:
            raise _invalid(f"the guide has more than {MAX_STEPS} steps", "split it into two guides", at=("steps",))
        return value


# --------------------------------------------------------------------------------------------
# Loading and checks (called by storage/content/loader.py)


def guide_files(loading: _Loading) -> list[_Parsed]:
    """Every guide file, parsed and validated; the folder is optional (no folder: no guides)."""
    folder = loading.directory / GUIDES_FOLDER
    if not folder.is_dir():
        return []
    names = sorted(entry.name for entry in folder.iterdir() if entry.suffix in _YAML_SUFFIXES and entry.is_file())
    return [loading.parse(f"{GUIDES_FOLDER}/{name}", _GuideSchema) for name in names]


def cross_check(loading: _Loading, parsed_guides: list[_Parsed], faq_ids: list[str], service_ids: list[str]) -> None:
    """Ids against file names, references to FAQ entries, services and other guides, pictures, loops of `first`."""
    guides = [parsed for parsed in parsed_guides if parsed.schema is not None]
    guide_ids = sorted(Path(parsed.file).stem for parsed in parsed_guides)
    for parsed in guides:
        schema: _GuideSchema = parsed.schema
        stem = Path(parsed.file).stem
        if schema.id != stem:
            loading.problem(parsed, ("id",), f'the id "{schema.id}" differs from the file name "{stem}"',
                            f'rename the file to "{schema.id}.yaml" or change the id')
        for index, other in enumerate(schema.first):
            if other == schema.id:
                loading.problem(parsed, ("first", index), f'the guide "{other}" lists itself in "first"', "remove it from the list")
            else:
                loading.check_reference(parsed, ("first", index), other, guide_ids, "guide")
        for index, faq_id in enumerate(schema.faq):
            loading.check_reference(parsed, ("faq", index), faq_id, faq_ids, "FAQ entry")
        for index, service_id in enumerate(schema.services):
            loading.check_reference(parsed, ("services", index), service_id, service_ids, "service")
        for index, step in enumerate(schema.steps):
            if step.picture is not None:
                _check_picture(loading, parsed, ("steps", index, "picture"), step.picture)
    _check_loops(loading, guides)


def _check_picture(loading: _Loading, parsed: _Parsed, loc: Location, name: str) -> None:
    from PIL import Image, UnidentifiedImageError  # Pillow: only needed when a guide has pictures

    path = loading.directory / PICTURES_FOLDER / name
    if not path.is_file():
        loading.problem(parsed, loc, f'the picture "{name}" is missing',
                        f"put the file in {loading.display(PICTURES_FOLDER)}/ or correct the name")
        return
    data = path.read_bytes()
    loading.digest.update(name.encode() + b"\0" + data + b"\0")  # a new screenshot is new content
    if len(data) > MAX_PICTURE_BYTES:
        loading.problem(parsed, loc, f'the picture "{name}" is too large ({len(data) // 1000} KB)',
                        f"save it smaller, at most {MAX_PICTURE_BYTES // 1000} KB: as JPEG, or as PNG with fewer colours")
        return
    try:
        with Image.open(path) as image:
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError):
        loading.problem(parsed, loc, f'"{name}" is not a picture', "save the screenshot as PNG or JPEG")
        return
    if kind not in PICTURE_FORMATS:
        loading.problem(parsed, loc, f'the picture "{name}" is {kind}', "save the screenshot as PNG or JPEG")
    elif max(width, height) > MAX_PICTURE_SIDE or max(width, height) > 20 * min(width, height):
        loading.problem(parsed, loc, f'the picture "{name}" is {width}×{height} pixels',
                        f"resize it to at most {MAX_PICTURE_SIDE} pixels on its longest side, not too narrow")


def _check_loops(loading: _Loading, guides: list[_Parsed]) -> None:
    """`first` must not lead back to where it started (a → b → a): the tenant would be sent round in circles."""
    firsts = {parsed.schema.id: list(parsed.schema.first) for parsed in guides}
    where = {parsed.schema.id: parsed for parsed in guides}
    reported: set[frozenset[str]] = set()
    for start in sorted(firsts):
        path = _loop_from(start, firsts)
        if path is None or frozenset(path) in reported:
            continue
        reported.add(frozenset(path))
        parsed = where[start]
        index = parsed.schema.first.index(path[1])
        shown = " → ".join(f'"{guide}"' for guide in path)
        loading.problem(parsed, ("first", index), f"the guides form a loop: {shown}",
                        f'remove "{path[1]}" from "first" here, or "{start}" from "first" in {path[-2]}.yaml')


def _loop_from(start: str, firsts: dict[str, list[str]]) -> list[str] | None:
    """The shortest path start → … → start along `first`, if any."""
    frontier, seen = [[start]], {start}
    while frontier:
        following = []
        for path in frontier:
            for other in firsts.get(path[-1], ()):
                if other == start and len(path) > 1:
                    return [*path, start]
                if other not in seen and other in firsts:
                    seen.add(other)
                    following.append([*path, other])
        frontier = following
    return None


def guides_from(loading: _Loading, parsed_guides: list[_Parsed]) -> dict[str, Guide]:
    pictures = loading.directory / PICTURES_FOLDER
    guides = {}
    for parsed in parsed_guides:
        schema: _GuideSchema = parsed.schema
        guides[schema.id] = Guide(
            id=schema.id, title=schema.title, audience=schema.audience, needs=schema.needs, minutes=schema.minutes,
            steps=tuple(
                GuideStep(text=step.text, picture=(pictures / step.picture).resolve() if step.picture else None,
                          link=step.link, tips=step.tips)
                for step in schema.steps
            ),
            first=tuple(schema.first), faq_ids=tuple(schema.faq), service_ids=tuple(schema.services),
            keywords=schema.keywords, file=parsed.file,
        )
    return dict(sorted(guides.items(), key=lambda item: str(item[1].title).casefold()))


def local_texts(content: Content) -> Iterator[tuple[str, Location, LocalText]]:
    """Every translatable text of the guides with its file and location (for `content check --translations`)."""
    for guide in content.guides.values():
        for name in ("title", "audience", "needs"):
            yield guide.file, (name,), getattr(guide, name)
        for index, step in enumerate(guide.steps):
            yield guide.file, ("steps", index, "text"), step.text
            if step.tips is not None:
                yield guide.file, ("steps", index, "tips"), step.tips
