"""YAML text → plain data plus the line/column of every key and value.

Only YAML's core types are accepted (mappings, sequences, strings, numbers, booleans, null): any other
tag, Python tags included, is refused with its location. Aliases are allowed but the expanded
document is capped at :data:`MAX_VALUES` values, which stops "billion laughs" alias bombs, and
recursive aliases are refused. Duplicate keys are errors (YAML would silently keep the last one).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import RecipeError, SourceLocation

__all__ = ["MAX_BYTES", "MAX_VALUES", "Document", "JsonPath", "load_document", "parse_document"]

MAX_VALUES = 100_000
MAX_BYTES = 4 * 1024 * 1024

JsonPath = tuple[str | int, ...]

_TAG_PREFIX = "tag:yaml.org,2002:"
_SCALAR_TAGS = {"str", "int", "float", "bool", "null", "timestamp"}


@dataclass
class Document:
    """A loaded recipe: ``data`` is plain JSON-like Python; ``locations`` maps a path to its value's
    position and ``key_locations`` a mapping key's position (both 1-based line and column)."""

    path: str
    data: Any
    text: str
    locations: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    key_locations: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: JsonPath, *, key: bool = False) -> SourceLocation:
        """The location of the value at ``path`` (of its key with ``key=True``), falling back to the
        nearest enclosing value that has one."""
        path = tuple(path)
        while True:
            if key and path in self.key_locations:
                line, col = self.key_locations[path]
                return SourceLocation(self.path, line, col)
            if path in self.locations:
                line, col = self.locations[path]
                return SourceLocation(self.path, line, col)
            if not path:
                return SourceLocation(self.path, 1, 1)
            path = path[:-1]

    def error(self, path: JsonPath, message: str, *, key: bool = False, hint: str | None = None) -> RecipeError:
        """A :class:`RecipeError` located at ``path`` in this document."""
        return RecipeError(message, self.locate(path, key=key), hint)


def _where(path: str, mark: yaml.Mark | None) -> SourceLocation:
    if mark is None:
        return SourceLocation(path, 1, 1)
    return SourceLocation(path, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, doc: Document):
        self.doc = doc
        self.count = 0
        self.active: set[int] = set()
        self.constructor = yaml.SafeLoader("")  # only its scalar resolvers/constructors are used

    def build(self, node: yaml.Node, path: JsonPath) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise RecipeError(
                f"the recipe expands to more than {MAX_VALUES} values",
                _where(self.doc.path, node.start_mark),
                "aliases that expand exponentially (an alias bomb) are refused",
            )
        self.doc.locations[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if id(node) in self.active:
            raise RecipeError("a recursive alias is not allowed", _where(self.doc.path, node.start_mark))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            self._check_tag(node, "seq")
            self.active.add(id(node))
            try:
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            finally:
                self.active.discard(id(node))
        return self._scalar(node)

    def _check_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != _TAG_PREFIX + expected:
            raise RecipeError(
                f"the YAML tag {node.tag!r} is not allowed in a recipe",
                _where(self.doc.path, node.start_mark),
                "recipes use plain YAML: mappings, lists, strings, numbers, true/false",
            )

    def _scalar(self, node: yaml.Node) -> Any:
        tag = node.tag.removeprefix(_TAG_PREFIX)
        if not node.tag.startswith(_TAG_PREFIX) or tag not in _SCALAR_TAGS:
            self._check_tag(node, "str")
        if tag == "timestamp":  # keep dates as written rather than datetime objects
            return node.value
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise RecipeError(f"invalid {tag} value {node.value!r}", _where(self.doc.path, node.start_mark)) from exc

    def _mapping(self, node: yaml.MappingNode, path: JsonPath) -> dict[str, Any]:
        self._check_tag(node, "map")
        self.active.add(id(node))
        try:
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _TAG_PREFIX + "merge":
                    raise RecipeError("merge keys (<<) are not supported", _where(self.doc.path, key_node.start_mark))
                key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, Hashable) or isinstance(key, (dict, list)) or key is None:
                    raise RecipeError("a mapping key must be a plain name", _where(self.doc.path, key_node.start_mark))
                key = key if isinstance(key, str) else str(key).lower() if isinstance(key, bool) else str(key)
                if key in result:
                    first = self.doc.key_locations[(*path, key)]
                    raise RecipeError(
                        f"duplicate key {key!r} (first defined at line {first[0]})",
                        _where(self.doc.path, key_node.start_mark),
                    )
                self.doc.key_locations[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                result[key] = self.build(value_node, (*path, key))
            return result
        finally:
            self.active.discard(id(node))


def parse_document(text: str, path: str = "<recipe>") -> Document:
    """Parse recipe text. Raises :class:`RecipeError` located at the offending text."""
    doc = Document(path=path, data=None, text=text)
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            message = f"{exc.problem} ({exc.context})"
        raise RecipeError(f"YAML syntax error: {message}", _where(path, mark)) from exc
    except yaml.YAMLError as exc:
        raise RecipeError(f"YAML syntax error: {exc}", SourceLocation(path, 1, 1)) from exc
    if not nodes or nodes[0] is None:
        raise RecipeError("the recipe is empty", SourceLocation(path, 1, 1), "start with `audioflow: 1`")
    if len(nodes) > 1:
        raise RecipeError("a recipe holds one YAML document, not several", _where(path, nodes[1].start_mark))
    doc.data = _Builder(doc).build(nodes[0], ())
    return doc


def load_document(path: Path) -> Document:
    """Read and parse the recipe at ``path``. Raises :class:`RecipeError` if it cannot be read."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecipeError(f"cannot read the recipe: {exc.strerror or exc}", SourceLocation(shown, 1, 1)) from exc
    if len(raw) > MAX_BYTES:
        raise RecipeError(f"the recipe is larger than {MAX_BYTES // (1024 * 1024)} MiB", SourceLocation(shown, 1, 1))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise RecipeError("the recipe is not valid UTF-8 text", SourceLocation(shown, line, col)) from exc
    return parse_document(text, shown)
