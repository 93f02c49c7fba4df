"""Recipes: YAML with locations → schema validation → :class:`Recipe` → the step graph."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .graph import Step, StepGraph, expand, to_dot, to_mermaid
from .loader import Document, load_document, parse_document
from .model import LOUDNESS_PRESETS, Line, Master, Recipe, StepSpec, Track, Voice, build_recipe
from .schema import load_schema, schema_errors, schema_text, validate_document

__all__ = [
    "LOUDNESS_PRESETS",
    "Document",
    "Line",
    "Master",
    "Recipe",
    "Step",
    "StepGraph",
    "StepSpec",
    "Track",
    "Voice",
    "build_recipe",
    "expand",
    "load_document",
    "load_recipe",
    "load_schema",
    "parse_document",
    "parse_recipe",
    "schema_errors",
    "schema_text",
    "to_dot",
    "to_mermaid",
    "validate_document",
]


def load_recipe(path: Path, *, allow_dirs: Iterable[Path | str] = ()) -> Recipe:
    """Read, validate and build the recipe at ``path``; its local inputs may come from its folder,
    ``allow_dirs`` and ``$AUDIOFLOW_ALLOW_DIRS``. Raises :class:`~audioflow.errors.RecipeError`
    (:class:`~audioflow.errors.RecipeErrors` with every independent error, in file order)."""
    document = load_document(path)
    return build_recipe(document, path, allow_dirs=allow_dirs, schema_errors=schema_errors(document))


def parse_recipe(text: str, path: Path, *, allow_dirs: Iterable[Path | str] = ()) -> Recipe:
    """Validate and build a recipe from its ``text``, as if it were the file at ``path`` (whose folder
    is the recipe's root, and whose name locates errors); local inputs as for :func:`load_recipe`.
    Raises :class:`~audioflow.errors.RecipeError`."""
    document = parse_document(text, str(path))
    return build_recipe(document, path, allow_dirs=allow_dirs, schema_errors=schema_errors(document))
