"""The cache commands: verify, gc and info."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options import ALLOW_DIR, CACHE_DIR, _open

if TYPE_CHECKING:
    from ..cache import ArtifactStore

from .output import _count, _echo, _errors_to_exit_codes, _report_damage, _size


@click.group()
def cache() -> None:
    """Check, tidy and measure an artifact store: verify, gc, info."""


def _stores(recipes: tuple[Path, ...], cache_dir: Path | str | None) -> dict[str, ArtifactStore]:
    """The stores the cache commands work on, by location: --cache-dir (a folder or a bucket's
    s3:// URL), else $AUDIOFLOW_CACHE_DIR, else the .audioflow/ of each RECIPE (each once)."""
    from ..cache import open_store
    from ..recipe.paths import CACHE_ENV, cache_folder

    if cache_dir is None and not recipes and not os.environ.get(CACHE_ENV):
        raise click.UsageError("give a RECIPE (its cache is .audioflow/ beside it) or --cache-dir")
    if cache_dir is not None or not recipes:
        roots = [cache_folder(Path("."), cache_dir)]
    else:
        roots = list(dict.fromkeys(cache_folder(recipe.parent, None) for recipe in recipes))
    stores = (open_store(root, create=False) for root in roots)
    return {store.location: store for store in stores}


@cache.command("verify")
@click.argument("recipe", required=False, type=click.Path(path_type=Path, dir_okay=False))
@CACHE_DIR
@click.option("--repair", is_flag=True, help="Set damaged files aside in quarantine/ (never deleted; journals stay).")
def cache_verify(recipe: Path | None, cache_dir: Path | str | None, repair: bool) -> None:
    """Check every file of a cache; exit 1 while damage remains.

    Hashes every object (sha256) and parses every record, journal and recipe state of the cache
    beside RECIPE (or --cache-dir). --repair sets damaged files aside in quarantine/; a damaged
    journal is only reported: it may hold a request that was paid for."""
    from ..cache import verify_store

    with _errors_to_exit_codes():
        ((root, store),) = _stores((recipe,) if recipe else (), cache_dir).items()
        report = verify_store(store, repair=repair)
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
    from ..cache import collect_garbage

    with _errors_to_exit_codes():
        stores = _stores(recipes, cache_dir)
        keep = _used_by(recipes, stores, cache_dir, allow_dirs)
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


def _used_by(
    recipes: tuple[Path, ...],
    stores: dict[str, ArtifactStore],
    cache_dir: Path | str | None,
    allow_dirs: tuple[Path, ...],
) -> dict[str, set[str]]:
    """Per store location, the input digests of the steps RECIPES find in it now (each recipe planned)."""
    keep: dict[str, set[str]] = {location: set() for location in stores}
    for recipe in recipes:
        project = _open(recipe, None, cache_dir, allow_dirs)
        for planned in project.plan().steps.values():
            if planned.record is not None:
                keep.setdefault(project.store.location, set()).add(planned.record.input_digest)
        _report_damage(project.store)
    return keep


@cache.command("info")
@click.argument("recipes", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@CACHE_DIR
@ALLOW_DIR
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def cache_info(
    recipes: tuple[Path, ...], cache_dir: Path | str | None, allow_dirs: tuple[Path, ...], as_json: bool
) -> None:
    """Show a cache's size and what RECIPES use of it.

    For the cache beside RECIPES (or --cache-dir): its files and bytes, objects, records, journals
    and recipe states; the bytes RECIPES keep alive now; what gc would keep (every recipe's last
    run too) and what it would free. On a bucket (--cache-dir s3://…) it lists the bucket's
    objects under the prefix. Reads records, never objects; changes nothing."""
    from ..cache import cache_usage

    with _errors_to_exit_codes():
        stores = _stores(recipes, cache_dir)
        keep = _used_by(recipes, stores, cache_dir, allow_dirs)
        rows = [_info_json(root, cache_usage(stores[root], keep_inputs=keep[root]), recipes) for root in stores]
        if as_json:
            _echo(json.dumps({"caches": rows}, indent=2))
            return
        for row in rows:
            for line in _info_lines(row):
                _echo(line)


def _info_json(root: str, usage: Any, recipes: tuple[Path, ...]) -> dict[str, Any]:
    """One cache's figures as ``audioflow/schemas/cli-cache-info.schema.json`` describes them."""
    return {
        "cache": str(root),
        "files": usage.files,
        "bytes": usage.bytes,
        "objects": usage.objects,
        "object_bytes": usage.object_bytes,
        "records": usage.records,
        "journals": usage.journals,
        "states": usage.states,
        "recipes": [str(r) for r in recipes],
        "used_objects": usage.used_objects,
        "used_bytes": usage.used_bytes,
        "other_bytes": usage.bytes - usage.used_bytes,
        "gc_keeps_bytes": usage.kept_bytes,
    }


def _info_lines(row: dict[str, Any]) -> list[str]:
    counts = [(row["objects"], "object"), (row["records"], "record"), (row["journals"], "journal")]
    parts = ", ".join(_count(n, noun) for n, noun in [*counts, (row["states"], "recipe state")])
    lines = [f"{row['cache']}: {_size(row['bytes'])} in {_count(row['files'], 'file')} ({parts})"]
    if row["recipes"]:
        lines.append(
            f"used by {', '.join(row['recipes'])}: {_size(row['used_bytes'])} "
            f"({_count(row['used_objects'], 'object')}); the rest: {_size(row['other_bytes'])}"
        )
    if row["gc_keeps_bytes"] is None:
        lines.append("gc: a recipe state cannot be read (run `audioflow cache verify`)")
    else:
        freed = row["bytes"] - row["gc_keeps_bytes"]
        lines.append(
            f"gc would keep {_size(row['gc_keeps_bytes'])} (every recipe's last run) and free up to {_size(freed)}"
        )
    return lines
