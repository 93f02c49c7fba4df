"""The arguments and options several commands share, and the recipe paths they name."""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import click.shell_completion

from .output import QUIET, VERBOSE, _set_verbosity

RECIPE = click.argument("recipe", type=click.Path(path_type=Path, dir_okay=False))
RECIPES = click.argument("recipes", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))


class _CacheLocation(click.ParamType):
    """A cache folder (a Path) or a bucket URL ``s3://bucket/prefix`` (kept as the string it is)."""

    name = "DIR|s3://BUCKET/PREFIX"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.startswith("s3://"):
            return value
        from ..recipe.paths import cache_url_scheme  # here: --help and completion import no recipe code

        if isinstance(value, str) and (scheme := cache_url_scheme(value)):
            self.fail(
                f"{value}: a cache is a folder or s3://bucket/prefix, not a {scheme}:// URL"
                " (write a folder as a plain path)",
                param,
                ctx,
            )
        return click.Path(path_type=Path, file_okay=False).convert(value, param, ctx)


CACHE_DIR = click.option(
    "--cache-dir",
    type=_CacheLocation(),
    metavar="DIR",
    help="Artifact store: a folder or s3://bucket/prefix (default: .audioflow/ beside the recipe, or "
    "$AUDIOFLOW_CACHE_DIR).",
)
ALLOW_DIR = click.option(
    "--allow-dir",
    "allow_dirs",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    metavar="DIR",
    help="Also read the recipe's local inputs (file, audio, clone, image, model) from DIR; repeatable. "
    f"Adds to $AUDIOFLOW_ALLOW_DIRS ({os.pathsep!r}-separated). Default: only the recipe's folder.",
)
#: The providers audioflow ships (``audioflow.providers.PROVIDERS``, which a test keeps equal): named here
#: so that ``--help`` does not import the providers.
BUILTIN_PROVIDERS = ("local", "segmind", "fal", "evolink")


class _ProviderChoice(click.Choice):
    """``--provider``'s choices, listed in ``--help`` and completed by the shell from the registry of
    providers. A name outside it passes through, so the engine refuses it with its own message
    (``--provider nope: unknown provider (available: ...)``, exit 2), as the Python API does."""

    def __init__(self) -> None:
        super().__init__(BUILTIN_PROVIDERS)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[click.shell_completion.CompletionItem]:
        from ..providers import PROVIDERS

        return [click.shell_completion.CompletionItem(name) for name in PROVIDERS if name.startswith(incomplete)]


PROVIDER = click.option(
    "--provider",
    type=_ProviderChoice(),
    help="Render every provider step on this provider: local (draft, free), segmind, fal or evolink.",
)


class _FiniteFloatRange(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses ``nan`` and ``inf`` (a usage error, exit 2):
    ``FloatRange(min=0)`` alone lets NaN through, since every comparison with NaN is false."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _open(recipe: Path, provider: str | None, cache_dir: Path | str | None, allow_dirs: tuple[Path, ...]) -> Any:
    from ..engine import open_project

    return open_project(recipe, provider=provider, cache_dir=cache_dir, allow_dirs=allow_dirs)


def _recipe_paths(given: tuple[Path, ...]) -> list[Path]:
    """The recipes named, a quoted glob (``'episodes/*.yaml'``) expanded in sorted order; each once."""
    out: list[Path] = []
    for path in given:
        text = str(path)
        if path.exists() or not any(c in text for c in "*?["):
            out.append(path)
            continue
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            raise click.UsageError(f"{text}: no recipe matches")
        out += [Path(m) for m in matches]
    return list(dict.fromkeys(out))


def _verbosity_callback(level: int) -> Callable[[click.Context, click.Parameter, bool], None]:
    def record(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            _set_verbosity(ctx, level)

    return record


def _verbosity_options() -> list[click.Option]:
    """``-q/--quiet`` and ``-v/--verbose``, taken by the group and by every command (``audioflow -q run``
    and ``audioflow run -q`` mean the same)."""
    return [
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_verbosity_callback(QUIET),
            help="Print results and errors only: no warnings, notes or progress.",
        ),
        click.Option(
            ["-v", "--verbose"],
            is_flag=True,
            expose_value=False,
            callback=_verbosity_callback(VERBOSE),
            help="Also print a line on stderr for each step as it ends.",
        ),
    ]


def _add_verbosity(command: click.Command) -> None:
    """Give ``command`` (and, for a group, each of its commands) the ``-q`` and ``-v`` options."""
    command.params.extend(_verbosity_options())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_verbosity(sub)
