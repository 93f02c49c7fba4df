"""The command that rebuilds a run's HTML report from the cache: report."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .options import ALLOW_DIR, CACHE_DIR, PROVIDER, RECIPE
from .output import _echo, _err, _errors_to_exit_codes


@click.command("report")
@RECIPE
@CACHE_DIR
@PROVIDER
@ALLOW_DIR
def report(recipe: Path, cache_dir: Path | str | None, provider: str | None, allow_dirs: tuple[Path, ...]) -> None:
    """Rebuild RECIPE's HTML report (<output stem>.report.html beside the output) from the cache,
    rendering nothing. Exits 1 when the recipe, as it is now, has not been rendered (pass the
    --provider it was rendered with)."""
    from ..engine import open_project

    with _errors_to_exit_codes():
        project = open_project(recipe, provider=provider, cache_dir=cache_dir, allow_dirs=allow_dirs)
        path = project.report()
        output = project.graph.recipe.output
        if not output.exists():
            _err(f"warning: {os.path.relpath(output)} is missing: the report's player stays silent until it is bounced")
        _echo(f"wrote {os.path.relpath(path)}")
