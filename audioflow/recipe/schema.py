"""The recipe JSON Schema (``schemas/recipe.schema.json``, shipped inside the package) and validation
of a loaded :class:`~audioflow.recipe.loader.Document` against it, with located, readable errors.

A recipe is first checked by jsonschema-rs (compiled, about 100× faster: 2 ms instead of 0.3 s for a
1 MB recipe); only a recipe it refuses goes through jsonschema, whose errors say where and why, and
whose verdict is the one that counts. jsonschema's errors are translated here, in one place, into
:class:`RecipeError`.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from ..errors import RecipeError, did_you_mean
from ..units import parse_duration_ms
from .diagnostics import Collector
from .loader import Document, JsonPath

if TYPE_CHECKING:  # jsonschema (0.05 s to import) only explains a recipe jsonschema-rs refused
    from jsonschema.exceptions import ValidationError

__all__ = ["load_schema", "schema_errors", "schema_text", "validate_document"]

_RESOURCE = ("schemas", "recipe.schema.json")
_NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_-]*$"
_NAME_HINT = "names start with a letter or _ and use letters, digits, _ and -"


def schema_text() -> str:
    """The schema's JSON text: from the installed package, else from the source tree's ``schemas/``."""
    packaged = resources.files("audioflow").joinpath(*_RESOURCE)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    source = Path(__file__).resolve().parents[2] / _RESOURCE[0] / _RESOURCE[1]
    return source.read_text(encoding="utf-8")


@cache
def load_schema() -> dict[str, Any]:
    """The recipe schema as a dict (JSON Schema draft 2020-12)."""
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


@cache
def _fast_validator() -> Any:
    """jsonschema-rs's compiled validator for the schema (``offline``: the schema refers only to itself)."""
    return jsonschema_rs.validator_for(load_schema(), offline=True)


def _type_name(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true/false", type(None): "nothing"}.get(
        type(value), "a number"
    )


_NAMES = "letters, digits, _ and -, starting with a letter or _"
#: What a name-like value may be, by its key (a pattern error would otherwise show the regex).
_NAME_HINTS = {
    "after": "name an earlier track of this mix, or a line of a dialogue track: scene[7] (1-based) or scene.LABEL",
    "with": "name an earlier track of this mix, or a line of a dialogue track: scene[7] (1-based) or scene.LABEL",
    "under": "name an earlier track of this mix, or a line of a dialogue track: scene[7] (1-based) or scene.LABEL",
    "label": f"a label is {_NAMES}, like door",
    "cue": f"a cue names a step ({_NAMES}), or is written inline as {{generate: PROMPT, duration: 3s}}",
}


def _describe(error: ValidationError, doc: Document) -> tuple[JsonPath, RecipeError]:
    """The recipe error for a schema error, and the path of what it is about."""
    parent = error.parent
    if parent is not None and parent.validator in ("anyOf", "oneOf"):  # best_match descended into a branch
        return _describe(parent, doc)
    path: JsonPath = tuple(error.absolute_path)
    return _error_path(error, path), _message(error, doc, path)


def _error_path(error: ValidationError, path: JsonPath) -> JsonPath:
    """What the error is about: the extra key of an ``additionalProperties`` error, else its value."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        return (*path, extra[0]) if extra else path
    return path


def _message(error: ValidationError, doc: Document, path: JsonPath) -> RecipeError:
    validator, value = error.validator, error.instance
    if validator == "pattern" and "propertyNames" in error.schema_path:  # jsonschema reports the name's pattern
        validator = "propertyNames"
    if validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        key = extra[0] if extra else ""
        if path == ():
            allowed = [*allowed, "audioflow"]
        return doc.error(
            (*path, key),
            f"unknown key {key!r}",
            key=True,
            hint=did_you_mean(key, allowed) or f"expected one of: {', '.join(allowed)}",
        )
    if validator == "required":
        missing = [k for k in error.validator_value if k not in value]
        return doc.error(path, f"missing key {missing[0]!r}", key=True)
    if validator == "pattern" and isinstance(value, str) and path and path[-1] in _NAME_HINTS:
        return doc.error(path, f"{value!r} is not a valid {path[-1]}", hint=_NAME_HINTS[str(path[-1])])
    if validator == "pattern" and error.validator_value == _NAME_PATTERN:  # a name that names a step or voice
        return doc.error(path, f"{value!r} is not a valid name", hint=_NAME_HINT)
    if validator == "propertyNames":
        bad = error.instance if isinstance(error.instance, str) else ""
        return doc.error(
            (*path, bad),
            f"{bad!r} is not a valid name",
            key=True,
            hint=_NAME_HINT,
        )
    if validator == "pattern" and path[:1] == ("meta",):  # a date or language tag: say what to write
        described = str(error.schema.get("description", "")).split(". ")[0].rstrip(".")
        return doc.error(path, f"invalid value {value!r}: {described[0].lower() + described[1:]}")
    if validator == "const" and path == ("audioflow",):
        return doc.error(path, f"unsupported recipe version {value!r}", hint="this audioflow reads `audioflow: 1`")
    if validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        hint = "recipes use YAML 1.2: write true or false" if expected == "boolean" and isinstance(value, str) else None
        if expected == "string" and isinstance(value, dict) and "dialogue" in path:  # `- mara: {softly, aside}`
            hint = (
                "a {…} is a YAML mapping, not text: write a direction as (softly, aside) before the words, or quote it"
            )
        elif expected == "string" and isinstance(value, list) and "dialogue" in path:  # `- nora: [aside]`
            hint = (
                "a [...] is a YAML list, not text, and a [stage direction] is not read aloud either: write a direction "
                "as (aside) before the words, or make it a narrator line, a `- pause:` or a `- cue:`"
            )
        elif expected == "string" and value is None and "dialogue" in path:  # `- {mara: Well, I never, said she}`
            hint = (
                "inside {…} a comma ends the text and what follows is read as another key: quote the text "
                '(`- {mara: "Well, I never"}`) or write the line as `- mara: Well, I never`'
            )
        return doc.error(path, f"expected {expected}, got {_type_name(value)}", hint=hint)
    if validator == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        hint = did_you_mean(str(value), error.validator_value) if isinstance(value, str) else None
        return doc.error(path, f"{value!r} is not one of: {choices}", hint=hint)
    if validator in ("anyOf", "oneOf"):
        described = error.schema.get("description")
        if described and "duration" in described.lower():
            try:  # units.py says what is wrong with a duration ("350 has no unit…")
                parse_duration_ms(value, allow_negative=True)
            except ValueError as exc:
                return doc.error(path, str(exc))
        message = f"invalid value {value!r}"
        return doc.error(path, f"{message}: {described[0].lower() + described[1:]}" if described else message)
    if validator in ("minimum", "maximum"):
        word = "at least" if validator == "minimum" else "at most"
        return doc.error(path, f"{value!r} is out of range: must be {word} {error.validator_value}")
    if validator == "maxProperties" and isinstance(value, dict):  # an effect item: one key each
        items = " and ".join(f"`- {k}: {v}`" for k, v in value.items())
        return doc.error(path, f"one effect per item: write {items} as items of their own")
    if validator in ("minItems", "minProperties", "minLength"):
        return doc.error(path, "must not be empty")
    return doc.error(path, error.message)


def schema_errors(doc: Document) -> list[tuple[JsonPath, RecipeError]]:
    """Every problem of ``doc.data`` against the recipe schema, in file order, each with the path of
    what it is about (one per place: among several, jsonschema's best)."""
    if not isinstance(doc.data, dict):
        error = doc.error(
            (), f"a recipe is a mapping of keys, got {_type_name(doc.data)}", hint="start with `audioflow: 1`"
        )
        return [((), error)]
    if _fast_validator().is_valid(doc.data):
        return []
    import jsonschema
    from jsonschema.exceptions import best_match

    validator = jsonschema.Draft202012Validator(load_schema())
    errors = list(validator.iter_errors(doc.data))  # jsonschema's verdict counts (Python's re, say, lets a
    # name end in a line break): none here means valid

    def position(err: ValidationError) -> tuple[int, int, int]:
        loc = doc.locate(tuple(err.absolute_path))
        return (loc.line, loc.col, -len(err.absolute_path))

    by_place: dict[tuple[int, int, int], list[ValidationError]] = {}
    for err in sorted(errors, key=position):
        by_place.setdefault(position(err), []).append(err)
    return [_describe(best_match(group), doc) for group in by_place.values()]


def validate_document(doc: Document) -> None:
    """Validate ``doc.data`` against the recipe schema. Raises :class:`RecipeError` (every problem,
    in file order: :class:`~audioflow.errors.RecipeErrors` when there are several) with locations."""
    collector = Collector()
    for _, error in schema_errors(doc):
        collector.add(error)
    collector.raise_any()
