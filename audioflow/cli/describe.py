"""The commands that describe without rendering: validate, schema, voices."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import RecipeError, RecipeErrors
from .options import ALLOW_DIR, CACHE_DIR, PROVIDER, RECIPE
from .output import _echo, _errors_to_exit_codes, _scrubbed, _warn


@click.command()
@RECIPE
@CACHE_DIR
@PROVIDER
@ALLOW_DIR
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON (every error with its location).")
def validate(
    recipe: Path, cache_dir: Path | str | None, provider: str | None, allow_dirs: tuple[Path, ...], as_json: bool
) -> None:
    """Check RECIPE (syntax, schema, names, voices, files, outputs) without rendering."""
    from ..engine.facade import make_providers
    from ..engine.preflight import check_requests
    from ..recipe import expand, load_recipe
    from ..recipe.paths import cache_folder, check_outputs

    with _errors_to_exit_codes():
        try:
            graph = expand(load_recipe(recipe, allow_dirs=allow_dirs), provider=provider)
            check_outputs(graph.recipe, cache_folder(graph.recipe.root, cache_dir))
            warnings = [*graph.warnings, *check_requests(graph, make_providers(graph))]
        except RecipeError as exc:
            if not as_json:
                raise
            _echo(json.dumps(_validate_json(recipe, None, [], exc), indent=2))
            sys.exit(exc.exit_code)
        if as_json:
            _echo(json.dumps(_validate_json(recipe, len(graph.steps), warnings, None), indent=2))
            return
        for warning in warnings:
            _warn(warning)
        _echo(f"{recipe}: ok ({len(graph.steps)} steps)")


def _validate_json(
    recipe: Path, steps: int | None, warnings: Sequence[str], error: RecipeError | None
) -> dict[str, Any]:
    """``validate --json`` (``audioflow/schemas/cli-validate.schema.json``): every error, located."""
    errors = list(error.errors) if isinstance(error, RecipeErrors) else [error] if error is not None else []
    return {
        "recipe": str(recipe),
        "ok": error is None,
        "steps": steps,
        "errors": [
            {
                "path": e.location.path if e.location else str(recipe),
                "line": e.location.line if e.location else None,
                "col": e.location.col if e.location else None,
                "message": _scrubbed(e.message),
                "hint": _scrubbed(e.hint) if e.hint else None,
            }
            for e in errors
        ],
        "warnings": [_scrubbed(w) for w in warnings],
    }


@click.command()
def schema() -> None:
    """Print the recipe JSON Schema."""
    from ..recipe import schema_text

    _echo(schema_text(), nl=False)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the voices as JSON.")
def voices(as_json: bool) -> None:
    """List the local voices (offline, derived from the bundled Piper voice)."""
    from ..providers.local import LOCAL_VOICES

    if as_json:
        rows = [
            {
                "name": name,
                "number": i,
                "pitch_semitones": voice.pitch_semitones,
                "speed": voice.speed,
                "description": voice.description,
            }
            for i, (name, voice) in enumerate(LOCAL_VOICES.items(), start=1)
        ]
        _echo(json.dumps({"voices": rows}, indent=2))
        return
    for i, (name, voice) in enumerate(LOCAL_VOICES.items(), start=1):
        _echo(f"{name:<7} #{i}  pitch {voice.pitch_semitones:+.0f} st, speed ×{voice.speed:.2f}  {voice.description}")
