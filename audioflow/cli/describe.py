"""The commands that describe without rendering: validate, schema, voices."""

from __future__ import annotations

from pathlib import Path

import click

from .options import ALLOW_DIR, CACHE_DIR, PROVIDER, RECIPE
from .output import _echo, _errors_to_exit_codes, _warn


@click.command()
@RECIPE
@CACHE_DIR
@PROVIDER
@ALLOW_DIR
def validate(recipe: Path, cache_dir: Path | str | None, provider: str | None, allow_dirs: tuple[Path, ...]) -> None:
    """Check RECIPE (syntax, schema, names, voices, files, outputs) without rendering."""
    from ..engine.facade import make_providers
    from ..engine.preflight import check_requests
    from ..recipe import expand, load_recipe
    from ..recipe.paths import cache_folder, check_outputs

    with _errors_to_exit_codes():
        graph = expand(load_recipe(recipe, allow_dirs=allow_dirs), provider=provider)
        check_outputs(graph.recipe, cache_folder(graph.recipe.root, cache_dir))
        check_requests(graph, make_providers(graph))
        for warning in graph.warnings:
            _warn(warning)
        _echo(f"{recipe}: ok ({len(graph.steps)} steps)")


@click.command()
def schema() -> None:
    """Print the recipe JSON Schema."""
    from ..recipe import schema_text

    _echo(schema_text(), nl=False)


@click.command()
def voices() -> None:
    """List the local voices (offline, derived from the bundled Piper voice)."""
    from ..providers.local import LOCAL_VOICES

    for i, (name, voice) in enumerate(LOCAL_VOICES.items(), start=1):
        _echo(f"{name:<7} #{i}  pitch {voice.pitch_semitones:+.0f} st, speed ×{voice.speed:.2f}  {voice.description}")
