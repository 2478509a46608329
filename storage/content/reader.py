"""Reading YAML with line numbers: the plain data of a file, syntax errors and repeated keys as `Problem`s, and the
line of any field pydantic complains about."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from storage.content.errors import Problem
from storage.content.model import _WHOLE_FILE

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's C parser when available


class _UntypedLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Composes nodes without PyYAML's per-scalar regex tag resolution, which costs more than parsing.

    `_scalar` gives scalars their meaning instead (see there).
    """

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        return "?"


def _compose(text: str) -> yaml.Node | None:
    loader = _UntypedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Loading allocates ~10 objects per YAML line; repeated cyclic GC passes over them triple the load time.

    Free large temporary structures (YAML nodes) inside the block: whatever is still referenced when
    the GC comes back on is scanned once more.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLEANS = {
    word: truth
    for truth, words in ((True, "yes Yes YES true True TRUE on On ON"), (False, "no No NO false False FALSE off Off OFF"))
    for word in words.split()
}


def _scalar(node: yaml.ScalarNode) -> Any:
    """Empty and yes/no values as YAML 1.1 reads them; everything else as the text written.

    Numbers stay text too (the schema turns them into numbers where it expects one), so that
    14:30 does not become 870 (YAML 1.1 base-60) and phone numbers keep leading zeros and "+".
    """
    value = node.value
    if node.style:  # quoted and block scalars are always text
        return value
    if value in _NULLS:
        return None
    return _BOOLEANS.get(value, value)


def _field_path(loc: Iterable[str | int]) -> str:
    path = ""
    for step in loc:
        path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else str(step))
    return path or _WHOLE_FILE


def _line_at(root: yaml.Node | None, loc: Iterable[str | int]) -> int:
    """The 1-based line of the key or item at `loc`, or of the closest enclosing one that exists."""
    if root is None:
        return 1
    node, line = root, root.start_mark.line + 1
    for step in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            found = next(((key, value) for key, value in node.value if key.value == step), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _path_to(root: yaml.Node | None, target: yaml.Node, inside: frozenset[int] = frozenset()) -> list[str | int] | None:
    """The location of `target` inside `root` (only needed to report a problem)."""
    if root is target:
        return []
    if root is None or id(root) in inside:
        return None
    inside |= {id(root)}
    children: Iterable[tuple[str | int, yaml.Node]] = ()
    if isinstance(root, yaml.SequenceNode):
        children = enumerate(root.value)
    elif isinstance(root, yaml.MappingNode):
        children = ((key.value, value) for key, value in root.value)
    for step, child in children:
        below = _path_to(child, target, inside)
        if below is not None:
            return [step, *below]
    return None


class _FileReader:
    """Turns one file's YAML into plain data, reporting syntax errors and repeated keys."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        self._root: yaml.Node | None = None
        self._seen: set[int] = set()  # ids of lists and mappings already read
        self.has_alias = False  # the data is then incomplete: checking it against the schema would only add noise

    def read(self, text: str) -> tuple[yaml.Node | None, Any]:
        try:
            self._root = _compose(text)
        except yaml.MarkedYAMLError as error:
            self._syntax_problem(error, text)
            return None, None
        except yaml.YAMLError as error:
            self.problems.append(Problem(self.file, 1, _WHOLE_FILE, f"the YAML cannot be read: {error}", "check the file's syntax"))
            return None, None
        return self._root, (self._plain(self._root) if self._root is not None else None)

    def _syntax_problem(self, error: yaml.MarkedYAMLError, text: str) -> None:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        description = " ".join(part for part in (error.context, error.problem) if part)
        source_lines = text.splitlines()
        source = source_lines[line - 1] if line <= len(source_lines) else ""
        if "\t" in source[: len(source) - len(source.lstrip())]:
            hint = "indent with spaces, never with tabs"
        elif "mapping values are not allowed" in description:
            hint = 'a text that contains ": " must be in quotes, e.g. title: "Orari: 9-12"'
        else:
            hint = "check indentation, colons and quotes on this line and the one above"
        self.problems.append(Problem(self.file, line, _WHOLE_FILE, f"YAML syntax error: {description}", hint))

    def _plain(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        self._seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            return [self._child(node, index, item, item) for index, item in enumerate(node.value)]
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if not isinstance(key_node, yaml.ScalarNode) or key in mapping:
                self._key_problem(node, key_node)
                continue
            mapping[key] = self._child(node, key, value_node, key_node)
        return mapping

    def _child(self, parent: yaml.Node, step: str | int, child: yaml.Node, line_node: yaml.Node) -> Any:
        if isinstance(child, yaml.ScalarNode) or id(child) not in self._seen:
            return self._plain(child)
        # The same list or mapping a second time is an alias (*name), which could repeat itself without end.
        self.has_alias = True
        where = [*(_path_to(self._root, parent) or []), step]
        self.problems.append(
            Problem(
                self.file, line_node.start_mark.line + 1, _field_path(where),
                "anchors and aliases (& and *) are not supported", "write the value out in full",
            )
        )
        return None

    def _key_problem(self, mapping: yaml.MappingNode, key_node: yaml.Node) -> None:
        assert self._root is not None
        where = _path_to(self._root, mapping) or []
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            self.problems.append(Problem(self.file, line, _field_path(where), "a key must be a plain word", 'write "name: value"'))
            return
        first = next(key for key, _ in mapping.value if key.value == key_node.value)
        self.problems.append(
            Problem(
                self.file, line, _field_path([*where, key_node.value]),
                f'"{key_node.value}" appears twice (first on line {first.start_mark.line + 1})', "keep only one of them",
            )
        )
