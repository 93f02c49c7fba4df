"""YAML text → plain data plus the line/column of every key and value.

Recipes are read with the YAML 1.2 core schema, whatever a ``%YAML`` directive says: ``1:05`` is the
string ``"1:05"`` (no sexagesimal numbers), only ``true``/``false`` (``True``, ``TRUE``…) are booleans
(``No``, ``yes``, ``on`` are strings), ``0o17`` and ``0x1F`` are integers and ``017`` is 17; dates stay
strings. The resolver lives on private :class:`yaml.SafeLoader` / :class:`yaml.CSafeLoader` subclasses,
so PyYAML's own loaders are left as they are.

The document is built from the parser's event stream (libyaml's when PyYAML has it, which is about 13×
faster than the pure-Python parser: 0.12 s against 1.6 s for 1 MB; the marks, hence every line:col, are
the same), in one pass, without recursion and in time linear in the text. Everything odd is a
:class:`RecipeError` at its own line:col:

- a text over :data:`MAX_BYTES`, or characters YAML does not allow (control characters: reported where
  they are, and a double-quoted escape such as ``"\\0"`` that makes one is refused too);
- tags: only the core tags ``!!str``, ``!!int``, ``!!float``, ``!!bool``, ``!!null``, ``!!map`` and
  ``!!seq`` are accepted, and only on a value they fit; ``!!python/…``, ``!!binary``, ``!local`` are not;
- numbers: every number is finite (``.nan``, ``.inf``, ``1e999`` are refused) and within
  ±:data:`MAX_NUMBER` (an integer of hundreds of digits is refused without being converted);
- nesting deeper than :data:`MAX_DEPTH` levels; more than :data:`MAX_VALUES` values once aliases are
  expanded (an alias bomb); recursive, undefined or redefined aliases and anchors; merge keys (``<<``);
  duplicate keys; a key that is not a plain scalar; several documents in one file;
- syntax errors, located where the parser stopped or, for an unclosed bracket or quote, where it opened.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from ..errors import RecipeError, SourceLocation

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NUMBER",
    "MAX_VALUES",
    "Document",
    "JsonPath",
    "load_document",
    "parse_document",
]

MAX_BYTES = 4 * 1024 * 1024
"""The largest recipe file (4 MiB of UTF-8)."""
MAX_VALUES = 250_000
"""The most values (scalars, lists and mappings, aliases expanded) a recipe may hold."""
MAX_DEPTH = 64
"""The deepest nesting of lists and mappings a recipe may use."""
MAX_NUMBER = 10**15
"""Every number in a recipe lies strictly between ``-MAX_NUMBER`` and ``MAX_NUMBER`` (15 digits)."""

JsonPath = tuple[str | int, ...]

_TAG_PREFIX = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG_PREFIX + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ = _TAG_PREFIX + "map", _TAG_PREFIX + "seq"
_PLAIN_HINT = "recipes use plain YAML: mappings, lists, strings, numbers, true/false"
_TOO_DEEP = f"the recipe nests lists and mappings deeper than {MAX_DEPTH} levels"
_TOO_DEEP_HINT = "a recipe needs a few levels; look for brackets that are never closed"

# The YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution): tag, regexp, first chars.
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT_RE = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_CORE_RESOLVERS = [
    (_NULL, _NULL_RE, ["~", "n", "N", ""]),
    (_BOOL, _BOOL_RE, list("tTfF")),
    (_INT, _INT_RE, list("-+0123456789")),
    (_FLOAT, _FLOAT_RE, list("-+.0123456789")),
]

# Characters YAML 1.2 refuses in a stream (outside c-printable), plus NEL, LS and PS: YAML 1.2 reads them
# as text but PyYAML and libyaml (YAML 1.1) as line breaks, which would shift every line number after them.
_REFUSED_CHARACTER = re.compile("[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ESCAPED_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # what an escape like "\0" may make
_LINE_BREAK = re.compile("\r\n|[\n\r]")


class _Yaml12SafeLoader(yaml.SafeLoader):
    """The pure-Python parser with YAML 1.2 core resolution (only its events and ``resolve`` are used)."""

    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, re.Pattern[str]]]]] = {}


_LOADERS: list[type[Any]] = [_Yaml12SafeLoader]
if getattr(yaml, "__with_libyaml__", False):

    class _Yaml12CSafeLoader(yaml.CSafeLoader):
        """libyaml's parser with YAML 1.2 core resolution (only its events and ``resolve`` are used)."""

        yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, re.Pattern[str]]]]] = {}

    _LOADERS.insert(0, _Yaml12CSafeLoader)


def _add_core_schema(loader: type[Any]) -> None:
    for tag, regexp, first in _CORE_RESOLVERS:
        loader.add_implicit_resolver(tag, regexp, first)


for _loader in _LOADERS:
    _add_core_schema(_loader)

_LOADER: type[Any] = _LOADERS[0]
"""The parser in use: libyaml's when available, else PyYAML's pure-Python one."""


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


# -- scalars -------------------------------------------------------------------------------------
class _ScalarError(ValueError):
    """A scalar the core schema reads but a recipe refuses; ``hint`` says what to write instead."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def _shown(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:20]}… ({len(text)} characters)"


def _too_large(text: str) -> _ScalarError:
    return _ScalarError(
        f"the number {_shown(text)} is too large", "a recipe number stays within ±10^15, that is at most 15 digits"
    )


def _to_int(text: str) -> int:
    if text.startswith(("0o", "0x")):
        digits, base, sign = text[2:], 8 if text[1] == "o" else 16, 1
    else:
        digits, base, sign = text.lstrip("+-"), 10, -1 if text.startswith("-") else 1
    if len(digits.lstrip("0")) > 16:  # never hand int() hundreds of digits
        raise _too_large(text)
    value = sign * int(digits, base)
    if abs(value) >= MAX_NUMBER:
        raise _too_large(text)
    return value


def _to_float(text: str) -> float:
    if text.lstrip("+-").startswith(".") and text[-1] in "fFnN":  # .inf, -.Inf, .nan, .NAN…
        raise _ScalarError(f"{text} is not a finite number", "every number in a recipe must be finite")
    value = float(text)
    if not math.isfinite(value) or abs(value) >= MAX_NUMBER:  # 1e999 overflows to inf
        raise _too_large(text)
    return value


def _to_bool(text: str) -> bool:
    return text[0] in "tT"


def _to_null(text: str) -> None:
    return None


_CONSTRUCTORS: dict[str, tuple[re.Pattern[str] | None, Callable[[str], Any]]] = {
    _STR: (None, str),
    _NULL: (_NULL_RE, _to_null),
    _BOOL: (_BOOL_RE, _to_bool),
    _INT: (_INT_RE, _to_int),
    _FLOAT: (_FLOAT_RE, _to_float),
}


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG_PREFIX) if tag.startswith(_TAG_PREFIX) else tag


# -- the builder ---------------------------------------------------------------------------------
@dataclass
class _Frame:
    """A list or mapping being filled; ``key`` is the mapping key whose value comes next."""

    path: JsonPath
    value: Any
    level: int
    order_start: int
    anchor: str | None
    deepest: int
    key: str | None = None


@dataclass
class _Anchor:
    """A finished anchored value: its data, how many values and levels it holds, and where its
    locations are in :attr:`_Builder.order` (its own path first, then everything inside it)."""

    value: Any
    path_length: int
    order: slice
    depth: int

    @property
    def size(self) -> int:
        return max(1, self.order.stop - self.order.start)


def _copy(value: Any) -> Any:
    """A deep copy of plain data (its recursion is bounded: anchored values nest at most MAX_DEPTH deep)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _is_plain(event: Any) -> bool:
    return not event.style  # None (pure-Python parser) or "" (libyaml) for a plain scalar


class _Builder:
    """Builds a :class:`Document` from parser events, iteratively (no recursion, whatever the input)."""

    def __init__(self, doc: Document, loader: Any):
        self.doc = doc
        self.loader = loader
        self.stack: list[_Frame] = []
        self.order: list[JsonPath] = []  # every value's path, in document order
        self.anchors: dict[str, _Anchor | None] = {}  # None: a list or mapping still open
        self.anchor_marks: dict[str, Any] = {}
        self.aliased = False
        self.root: Any = None
        self.first_chars = {*loader.yaml_implicit_resolvers, ""}
        self.handlers: dict[type, Callable[[Any], None]] = {
            yaml.ScalarEvent: self.scalar,
            yaml.MappingStartEvent: self.start,
            yaml.SequenceStartEvent: self.start,
            yaml.MappingEndEvent: self.end,
            yaml.SequenceEndEvent: self.end,
            yaml.AliasEvent: self.alias,
        }

    def fail(self, message: str, mark: Any, hint: str | None = None) -> RecipeError:
        return RecipeError(message, SourceLocation(self.doc.path, mark.line + 1, mark.column + 1), hint)

    def run(self) -> Any:
        """Consume the events of one document and return its data."""
        documents = 0
        while True:
            event = self.loader.get_event()
            handler = self.handlers.get(type(event))
            if handler is not None:
                handler(event)
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    content = self.loader.get_event()
                    raise self.fail("a recipe holds one YAML document, not several", content.start_mark)
            elif isinstance(event, yaml.StreamEndEvent):
                if documents == 0:
                    raise RecipeError(
                        "the recipe is empty", SourceLocation(self.doc.path, 1, 1), "start with `audioflow: 1`"
                    )
                return self.root

    def place(self) -> JsonPath | None:
        """The path of the value the next event makes, or None when that event is a mapping key."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if not isinstance(top.value, dict):
            return (*top.path, len(top.value))
        return None if top.key is None else (*top.path, top.key)

    def put(self, path: JsonPath, value: Any, mark: Any) -> None:
        """Record ``value`` at ``path``: its position, its place in the order, its parent."""
        self.doc.locations[path] = (mark.line + 1, mark.column + 1)
        self.order.append(path)
        if len(self.order) > MAX_VALUES:
            raise self.too_many(mark)
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        if isinstance(top.value, dict):
            top.value[top.key] = value
            top.key = None
        else:
            top.value.append(value)

    def too_many(self, mark: Any) -> RecipeError:
        if self.aliased:
            hint = "an alias bomb: aliases that expand exponentially are refused"
        else:
            hint = "split the programme into several recipes"
        return self.fail(f"the recipe holds more than {MAX_VALUES} values", mark, hint)

    def scalar(self, event: Any) -> None:
        path = self.place()
        if path is None:
            self.key(event)
            return
        value = self.construct(event)
        start = len(self.order)
        self.put(path, value, event.start_mark)
        if event.anchor is not None:
            self.define(event, _Anchor(value, len(path), slice(start, start + 1), 0))

    def construct(self, event: Any, *, key: bool = False) -> Any:
        """The Python value of a scalar event per the YAML 1.2 core schema (a key stays its text)."""
        tag, text, explicit = event.tag, event.value, event.tag not in (None, "!")
        if tag == "!" or (tag is None and not _is_plain(event)):  # non-specific: a string
            tag = _STR
        elif tag is None:  # plain: the core schema decides (no resolver starts with most letters)
            tag = self.loader.resolve(yaml.ScalarNode, text, (True, False)) if text[:1] in self.first_chars else _STR
        if tag not in _CONSTRUCTORS:
            raise self.fail(f"the YAML tag {_short_tag(tag)} is not allowed in a recipe", event.start_mark, _PLAIN_HINT)
        pattern, make = _CONSTRUCTORS[tag]
        if explicit and pattern is not None and not pattern.match(text):
            raise self.fail(
                f"{_shown(text)!r} is not a valid {_short_tag(tag)} value",
                event.start_mark,
                "drop the tag: plain YAML needs none",
            )
        if tag == _STR or key:
            if event.style == '"' and (bad := _ESCAPED_CONTROL.search(text)):
                raise self.fail(
                    f"this string holds the control character U+{ord(bad.group()):04X}",
                    event.start_mark,
                    "remove the escape that makes it: \\0, \\a, \\e, \\x1b…",
                )
            return text
        try:
            return make(text)
        except _ScalarError as exc:
            raise self.fail(str(exc), event.start_mark, exc.hint) from None

    def key(self, event: Any) -> None:
        """A mapping key: a scalar kept as written (``1``, ``true``, ``No`` are names as they read)."""
        top, mark = self.stack[-1], event.start_mark
        if not isinstance(event, yaml.ScalarEvent):
            raise self.fail("a mapping key must be a plain name", mark)
        key = self.construct(event, key=True)
        if key == "<<" and _is_plain(event):
            raise self.fail("merge keys (<<) are not supported", mark, "write the keys out, or use an alias")
        if key in top.value:
            first = self.doc.key_locations[(*top.path, key)]
            raise self.fail(f"duplicate key {key!r} (first defined at line {first[0]})", mark)
        self.doc.key_locations[(*top.path, key)] = (mark.line + 1, mark.column + 1)
        top.key = key
        if event.anchor is not None:  # an anchored key is a string value of its own
            self.define(event, _Anchor(key, 0, slice(len(self.order), len(self.order)), 0))

    def define(self, event: Any, anchor: _Anchor | None) -> None:
        """Register the anchor ``event`` names (``None`` while its list or mapping is still open)."""
        name = event.anchor
        if name in self.anchors:
            raise self.fail(
                f"the anchor &{name} is defined twice (first at line {self.anchor_marks[name].line + 1})",
                event.start_mark,
                "give each anchor its own name",
            )
        self.anchors[name] = anchor
        self.anchor_marks[name] = event.start_mark

    def start(self, event: Any) -> None:
        path = self.place()
        if path is None:
            self.key(event)  # raises: a list or mapping cannot be a key
            return
        expected = _MAP if isinstance(event, yaml.MappingStartEvent) else _SEQ
        if event.tag not in (None, "!", expected):
            kind = "a mapping" if expected == _MAP else "a list"
            fits = event.tag in (_MAP, _SEQ)
            problem = f"does not fit {kind}" if fits else "is not allowed in a recipe"
            raise self.fail(f"the YAML tag {_short_tag(event.tag)} {problem}", event.start_mark, _PLAIN_HINT)
        level = len(self.stack) + 1
        if level > MAX_DEPTH:
            raise self.too_deep(event.start_mark)
        value: dict[str, Any] | list[Any] = {} if expected == _MAP else []
        start = len(self.order)
        self.put(path, value, event.start_mark)
        if event.anchor is not None:
            self.define(event, None)
        self.stack.append(_Frame(path, value, level, start, event.anchor, level))

    def too_deep(self, mark: Any) -> RecipeError:
        return self.fail(_TOO_DEEP, mark, _TOO_DEEP_HINT)

    def end(self, event: Any) -> None:
        frame = self.stack.pop()
        if self.stack:
            self.stack[-1].deepest = max(self.stack[-1].deepest, frame.deepest)
        if frame.anchor is not None:
            self.anchors[frame.anchor] = _Anchor(
                frame.value, len(frame.path), slice(frame.order_start, len(self.order)), frame.deepest - frame.level + 1
            )

    def alias(self, event: Any) -> None:
        path, mark, name = self.place(), event.start_mark, event.anchor
        if path is None:
            raise self.fail("a mapping key must be a plain name, not an alias", mark)
        if name not in self.anchors:
            raise self.fail(f"the alias *{name} names no anchor (&{name}) defined before it", mark)
        anchor = self.anchors[name]
        if anchor is None:  # located at the anchored value, which would contain itself
            raise self.fail("a recursive alias is not allowed", self.anchor_marks[name])
        self.aliased = True
        if len(self.order) + anchor.size > MAX_VALUES:
            raise self.too_many(mark)
        if len(self.stack) + anchor.depth > MAX_DEPTH:
            raise self.too_deep(mark)
        if self.stack:
            self.stack[-1].deepest = max(self.stack[-1].deepest, len(self.stack) + anchor.depth)
        self.put(path, _copy(anchor.value), mark)  # the alias itself is located where it is written
        locations, key_locations, cut = self.doc.locations, self.doc.key_locations, anchor.path_length
        for old in self.order[anchor.order.start + 1 : anchor.order.stop]:  # what is inside: as defined
            new = path + old[cut:]
            locations[new] = locations[old]
            if old in key_locations:
                key_locations[new] = key_locations[old]
            self.order.append(new)


# -- entry points --------------------------------------------------------------------------------
def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, counting line breaks as YAML does."""
    breaks = list(_LINE_BREAK.finditer(text, 0, index))
    if not breaks:
        return 1, index + 1
    return len(breaks) + 1, index - breaks[-1].end() + 1


def _check_characters(text: str, path: str) -> None:
    bad = _REFUSED_CHARACTER.search(text)
    if bad is None:
        return
    code = ord(bad.group())
    line, col = _position(text, bad.start())
    if code in (0x85, 0x2028, 0x2029):
        message = f"the Unicode line break U+{code:04X} is not allowed in a recipe"
        hint = "replace it with a plain line break or a space"
    else:
        kind = "control character" if code < 0x20 or 0x7F <= code < 0xA0 else "character"
        message = f"the {kind} U+{code:04X} is not allowed in a recipe"
        hint = "YAML text holds printable characters, tabs and line breaks only; delete it"
    raise RecipeError(message, SourceLocation(path, line, col), hint)


_OPENERS = {"while parsing a flow sequence": "[", "while parsing a flow mapping": "{"}


def _clamped(lines: list[str], mark: Any) -> tuple[int, int]:
    """A parser mark as a 1-based (line, col) inside the text: libyaml may place the end of a stream
    that lacks a final line break on the line after it."""
    line = min(mark.line, len(lines) - 1)
    col = mark.column if line == mark.line else len(lines[line])
    return line + 1, min(col, len(lines[line])) + 1


_KEY_VALUE = re.compile(r"^(\s*(?:-\s+)?)([^\s:#'\"{\[][^:#]*?):[ \t]+(.*?)\s*$")


def _text_hint(source: str, problem: str) -> str | None:
    """A hint for the YAML traps of text written as a plain value on the line ``source``: a leading
    apostrophe (``'Tis``), a ``{…}`` of prose (a flow mapping), a ``[stage direction]`` (a flow
    sequence) before the words, or a ``: `` inside the text."""
    match = _KEY_VALUE.match(source)
    if match is None:
        return None
    prefix, key, value = match.groups()
    start = f"{prefix.strip()} {key}:".lstrip()
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if len(value) > 1 and value[0] == "'" and value[1].isalpha() and " " in value:  # 'Tis…: prose
        return f"a value starting with ' is quoted text up to the next ': double-quote the text: `{start} {quoted}`"
    inner, _, rest = value[1:].partition("}")
    prose = inner.strip() and ":" not in inner and (rest.strip() or "," in inner or " " in inner.strip())
    if value.startswith("{") and "}" in value and prose:
        direction = f"{start} ({inner.strip()}) {rest.strip()}".rstrip()
        return f"a value starting with {{ is a YAML mapping, not text: write a direction as `{direction}`, or quote it"
    if value.startswith("[") and "]" in value and value.rstrip()[-1] != "]":  # `- nora: [softly] Hello`: prose
        direction = value[1:].partition("]")[0].strip()
        return (
            f"a value starting with [ is a YAML list, not text; a [stage direction] is not read aloud either: write "
            f"`{start} ({direction}) {value.partition(']')[2].strip()}`, or make it a narrator line, a `- pause:` or "
            "a `- cue:`"
        )
    if "mapping values are not allowed" in problem and ": " in value:
        return f"a ': ' inside text starts a mapping: quote the text: `{start} {quoted}`"
    return None


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, path: str) -> RecipeError:
    """Translate a parser error: located where it stopped, or where an unclosed bracket or quote opened."""
    lines = _LINE_BREAK.split(text)
    problem = exc.problem or "invalid YAML"
    mark, opened = exc.problem_mark or exc.context_mark, exc.context_mark
    line, col = _clamped(lines, mark) if mark is not None else (1, 1)
    if problem == "exceeded maximum nesting depth":  # libyaml's own cap (1000 levels)
        return RecipeError(_TOO_DEEP, SourceLocation(path, line, col), _TOO_DEEP_HINT)
    if opened is not None and (exc.context in _OPENERS or exc.context == "while scanning a quoted scalar"):
        where = f"line {line}, column {col}"
        line, col = _clamped(lines, opened)
        char = lines[line - 1][col - 1 : col] or _OPENERS.get(exc.context or "", '"')
        if char in "[{":
            close = "]" if char == "[" else "}"
            message = f"YAML syntax error: the '{char}' opened here is not closed: {problem} at {where}"
            hint = f"close it with '{close}', or quote the whole value if the '{char}' is part of the text"
        else:
            message = f"YAML syntax error: the quote {char} opened here is not closed: {problem} at {where}"
            doubled = "''" if char == "'" else '\\"'
            hint = f"close it with {char}; inside the quotes write {char} as {doubled}"
            if char == "'" and (apostrophe := _text_hint(lines[line - 1], problem)):  # 'Tis…: meant as text
                hint = f"{hint}; or, {apostrophe}"
        return RecipeError(message, SourceLocation(path, line, col), hint)
    message = f"{problem} ({exc.context})" if exc.context else problem
    tip = _text_hint(lines[line - 1], problem)
    if lines[line - 1][col - 1 : col] == "\t":
        tip = "YAML indents with spaces, never tabs: replace the tab with spaces"
    return RecipeError(f"YAML syntax error: {message}", SourceLocation(path, line, col), tip)


def parse_document(text: str, path: str = "<recipe>") -> Document:
    """Parse recipe text (YAML 1.2 core schema). Raises :class:`RecipeError` located at the offending
    text; see the module docstring for everything that is refused."""
    if len(text) > MAX_BYTES:
        raise RecipeError(f"the recipe is larger than {MAX_BYTES // (1024 * 1024)} MiB", SourceLocation(path, 1, 1))
    _check_characters(text, path)
    doc = Document(path=path, data=None, text=text)
    loader = _LOADER(text)
    try:
        doc.data = _Builder(doc, loader).run()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, path) from exc
    except yaml.YAMLError as exc:  # a reader error: _check_characters should have caught it first
        index = getattr(exc, "position", 0)
        line, col = _position(text, min(index, len(text)))
        raise RecipeError(f"YAML syntax error: {exc}", SourceLocation(path, line, col)) from exc
    finally:
        loader.dispose()
    return doc


def _read_recipe_bytes(path: Path, shown: str) -> bytes:
    """At most :data:`MAX_BYTES` + 1 bytes of the regular file at ``path``. A folder, a FIFO, a
    device (``/dev/zero``) or a socket is refused before it is read: reading one could fail, block
    for ever or never end. Raises :class:`RecipeError`."""
    where = SourceLocation(shown, 1, 1)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens at once instead of waiting for a writer
    except OSError as exc:
        raise RecipeError(f"cannot read the recipe: {exc.strerror or exc}", where) from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = "a folder" if stat.S_ISDIR(mode) else "a FIFO, device or socket"
            hint = "give the path of the recipe's .yaml file"
            raise RecipeError(f"cannot read the recipe: it is {what}, not a regular file", where, hint)
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise RecipeError(f"cannot read the recipe: {exc.strerror or exc}", where) from exc
    finally:
        os.close(fd)


def load_document(path: Path) -> Document:
    """Read and parse the recipe at ``path``. Raises :class:`RecipeError` if it cannot be read."""
    shown = str(path)
    raw = _read_recipe_bytes(path, shown)
    if len(raw) > MAX_BYTES:
        raise RecipeError(
            f"the recipe is larger than {MAX_BYTES // (1024 * 1024)} MiB",
            SourceLocation(shown, 1, 1),
            "a recipe is a few KB of YAML; is this the right file?",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise RecipeError("the recipe is not valid UTF-8 text", SourceLocation(shown, line, col)) from exc
    return parse_document(text, shown)
