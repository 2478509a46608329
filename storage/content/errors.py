"""Problems in the content files, phrased for an editor: `Problem` (file:line: field: what to write instead),
`ContentError` carrying all of them, and the translation of pydantic's developer-facing errors into those sentences."""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

Location = tuple[str | int, ...]  # keys and list positions leading to a value in a file, as pydantic reports them


# --------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in the content files, phrased for an editor."""

    file: str
    line: int
    field: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message} ({self.hint})"


class ContentError(Exception):
    """The content files have mistakes; `problems` lists all of them, sorted by file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        listing = "\n".join(str(problem) for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in the content files:\n{listing}")


def _invalid(message: str, hint: str, at: Location = ()) -> PydanticCustomError:
    """An error for the editor; `at` points below the field being validated (e.g. to "end")."""
    return PydanticCustomError("content", message, {"hint": hint, "at": at})


def _suggest(value: str, candidates: Iterable[str], allowed: str, aliases: Mapping[str, str] | None = None) -> str:
    """A hint with the closest allowed value, if any, and the list of allowed values."""
    wanted = value.strip().lower()
    guess = (aliases or {}).get(wanted)
    if guess is None:
        close = difflib.get_close_matches(wanted, list(candidates), n=1, cutoff=0.6)
        guess = close[0] if close else None
    return f'did you mean "{guess}"? Allowed: {allowed}' if guess else f"allowed: {allowed}"


# --------------------------------------------------------------------------------------------
# Turning pydantic errors into sentences for editors


def _strip_wrappers(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [member for member in get_args(annotation) if member is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _model_at(schema: type[BaseModel], loc: Iterable[str | int]) -> type[BaseModel] | None:
    """The schema model describing the mapping at `loc`, to list the keys it allows."""
    current: Any = schema
    for step in loc:
        current = _strip_wrappers(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(step, str):
            fields = {(info.alias or name): info for name, info in current.model_fields.items()}
            if step not in fields:
                return None
            current = fields[step].annotation
        elif get_origin(current) is list and isinstance(step, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict and isinstance(step, str):
            current = get_args(current)[1]
        else:
            return None
    current = _strip_wrappers(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a group of fields"
    return "nothing" if value is None else repr(value)


def _explain(error: Mapping[str, Any], schema: type[BaseModel]) -> tuple[Location, str, str]:
    """(location, message, hint) for one pydantic error."""
    kind = error["type"]
    loc = tuple(step for step in error["loc"] if step != "[key]")
    value = error.get("input")
    context = error.get("ctx") or {}
    if kind == "content":
        return loc + tuple(context.get("at", ())), error["msg"], context["hint"]
    if kind == "missing":
        return loc, f'"{loc[-1]}" is missing', f'add a line "{loc[-1]}: ..."; see content/README.md'
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(schema, loc[:-1])
        allowed = [info.alias or name for name, info in model.model_fields.items()] if model else []
        return loc, f'unknown field "{key}"', _suggest(key, allowed, ", ".join(allowed)) if allowed else "remove it"
    if value is None:
        return loc, "is empty", "write a value after the colon, or remove the line"
    if kind == "string_too_short":
        return loc, "is empty", "write some text, or remove the line"
    if kind == "string_too_long":
        return loc, f"{_shown(value)} is too long", f"use at most {context.get('max_length')} characters"
    if kind == "string_type":
        if isinstance(value, bool):
            return loc, f"{_shown(value)} is read as yes/no, not as text", f'put it in quotes: "{_shown(value)}"'
        return loc, f"expected a text, found {_shown(value)}", "write the text on the same line, after the colon"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return loc, f"{_shown(value)} is not a whole number", "write a number like 2"
    if kind in ("float_parsing", "float_type"):
        hint = "use a dot for decimals, e.g. 45.4781" if isinstance(value, str) and "," in value else "write a number like 1.5"
        return loc, f"{_shown(value)} is not a number", hint
    if kind in ("bool_parsing", "bool_type"):
        return loc, f"{_shown(value)} is not yes/no", "write true or false"
    bounds = {"greater_than_equal": "at least {ge}", "greater_than": "more than {gt}", "less_than_equal": "at most {le}", "less_than": "less than {lt}"}
    if kind in bounds:
        comparison = bounds[kind].format(**context)
        return loc, f"{value} is out of range", f"it must be {comparison}"
    if kind == "too_short":
        return loc, "the list is empty", "add at least one item"
    if kind == "list_type":
        return loc, f"expected a list, found {_shown(value)}", 'write one item per line, each starting with "- "'
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        if not loc:
            return loc, f"expected key: value lines, found {_shown(value)}", "see the examples in content/README.md"
        return loc, f"expected a group of fields, found {_shown(value)}", 'write "key: value" lines indented under it'
    return loc, error["msg"], "see content/README.md"
