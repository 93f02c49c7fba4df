"""The cache commands: verify and gc."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..errors import CacheError
from .options import ALLOW_DIR, CACHE_DIR, _open
from .output import _count, _echo, _errors_to_exit_codes, _report_damage, _size


@click.group()
def cache() -> None:
    """Check and tidy an artifact store: verify, gc."""


def _stores(recipes: tuple[Path, ...], cache_dir: Path | str | None) -> list[Path]:
    """The store roots the cache commands work on: --cache-dir, else $AUDIOFLOW_CACHE_DIR, else
    the .audioflow/ of each RECIPE (each once)."""
    from ..recipe.paths import CACHE_ENV, cache_folder

    if cache_dir is None and not recipes and not os.environ.get(CACHE_ENV):
        raise click.UsageError("give a RECIPE (its cache is .audioflow/ beside it) or --cache-dir")
    if cache_dir is not None or not recipes:
        roots = [cache_folder(Path("."), cache_dir)]
    else:
        roots = list(dict.fromkeys(cache_folder(recipe.parent, None) for recipe in recipes))
    remote = [r for r in roots if not isinstance(r, Path)]
    if remote:
        raise CacheError(f"{remote[0]}: cache verify and gc work on a local cache folder, not yet on a bucket")
    return [r for r in roots if isinstance(r, Path)]


@cache.command("verify")
@click.argument("recipe", required=False, type=click.Path(path_type=Path, dir_okay=False))
@CACHE_DIR
@click.option("--repair", is_flag=True, help="Set damaged files aside in quarantine/ (never deleted; journals stay).")
def cache_verify(recipe: Path | None, cache_dir: Path | str | None, repair: bool) -> None:
    """Check every file of a cache; exit 1 while damage remains.

    Hashes every object (sha256) and parses every record, journal and recipe state of the cache
    beside RECIPE (or --cache-dir). --repair sets damaged files aside in quarantine/; a damaged
    journal is only reported: it may hold a request that was paid for."""
    from ..cache import ArtifactStore, verify_store

    with _errors_to_exit_codes():
        (root,) = _stores((recipe,) if recipe else (), cache_dir)
        report = verify_store(ArtifactStore(root, create=False), repair=repair)
        for finding in report.findings:
            _echo(str(finding))
        counts = [(report.objects, "object"), (report.records, "record"), (report.journals, "journal")]
        checked = ", ".join(_count(n, noun) for n, noun in [*counts, (report.states, "recipe state")])
        outcome = f"{len(report.findings)} damaged, {len(report.unrepaired)} left in place" if report.findings else "ok"
        _echo(f"{root}: checked {checked} ({_size(report.object_bytes)} hashed): {outcome}")
        if report.unrepaired:
            sys.exit(1)


@cache.command("gc")
@click.argument("recipes", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@CACHE_DIR
@ALLOW_DIR
@click.option("--dry-run", is_flag=True, help="List what would be removed, with sizes; remove nothing.")
def cache_gc(
    recipes: tuple[Path, ...], cache_dir: Path | str | None, allow_dirs: tuple[Path, ...], dry_run: bool
) -> None:
    """Remove records and objects no recipe uses.

    Kept: what the last run of every recipe that used the cache resolved to, what RECIPES use now,
    and the paid takes either references. Journals and quarantine/ are never removed."""
    from ..cache import ArtifactStore, collect_garbage

    with _errors_to_exit_codes():
        stores = {root: ArtifactStore(root, create=False) for root in _stores(recipes, cache_dir)}
        keep: dict[Path, set[str]] = {root: set() for root in stores}
        for recipe in recipes:
            project = _open(recipe, None, cache_dir, allow_dirs)
            for planned in project.plan().steps.values():
                if planned.record is not None:
                    keep[project.store.root].add(planned.record.input_digest)
            _report_damage(project.store)
        for root, inputs in keep.items():
            report = collect_garbage(stores[root], keep_inputs=inputs, dry_run=dry_run)
            verb = "would remove" if dry_run else "removed"
            for key, size in report.removed:
                _echo(f"{verb} {key} ({_size(size)})")
            _echo(
                f"{root}: {verb} {len(report.removed)} files, {_size(report.freed_bytes)}; kept "
                f"{report.kept_records} records and {report.kept_objects} objects (journals and quarantine/ are "
                "never removed)"
            )
