"""The command line: the only place that prints or picks an exit code.

Exit codes: 0 success; 1 a render failed (or another runtime error); 2 an invalid recipe or usage.
Recipe errors print as ``path:line:col: message`` on stderr, never with a traceback
(set ``AUDIOFLOW_DEBUG=1`` to see one for an internal error and for each failed step).
"""

from __future__ import annotations

import glob
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import AudioflowError, CacheError, RecipeError, scrub

__all__ = ["cli", "main"]

RECIPE = click.argument("recipe", type=click.Path(path_type=Path, dir_okay=False))
RECIPES = click.argument("recipes", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))


class _CacheLocation(click.ParamType):
    """A cache folder (a Path) or a bucket URL ``s3://bucket/prefix`` (kept as the string it is)."""

    name = "DIR|s3://BUCKET/PREFIX"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.startswith("s3://"):
            return value
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
PROVIDER = click.option(
    "--provider", help="Render every provider step on this provider: local (draft, free), segmind, fal or evolink."
)


#: Other secrets in the environment the CLI never shows: the shared cache's S3 credentials.
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def _key_values() -> list[str]:
    """The API keys and secrets in this process's environment, as set and stripped (what a provider sends)."""
    from .providers.base import API_KEY_ENV

    names = [*API_KEY_ENV.values(), *SECRET_ENV]
    values = [os.environ.get(name, "") for name in names]
    return [v for value in values for v in (value, value.strip()) if v]


def _echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print ``text`` with every API key in the environment scrubbed: the last line of defence
    behind the providers' own scrubbing, so no output path of the CLI can show a key."""
    click.echo(scrub(text, _key_values()), err=err, nl=nl)


class _FiniteFloatRange(click.FloatRange):
    """A :class:`click.FloatRange` that also refuses ``nan`` and ``inf`` (a usage error, exit 2):
    ``FloatRange(min=0)`` alone lets NaN through, since every comparison with NaN is false."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _err(text: str) -> None:
    _echo(text, err=True)


@contextmanager
def _errors_to_exit_codes() -> Iterator[None]:
    """The one place that turns audioflow's errors into output and exit codes."""
    try:
        yield
    except RecipeError as exc:
        _err(str(exc))
        sys.exit(exc.exit_code)
    except AudioflowError as exc:
        _err(f"error: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)


def _open(recipe: Path, provider: str | None, cache_dir: Path | str | None, allow_dirs: tuple[Path, ...]) -> Any:
    from .engine import open_project

    return open_project(recipe, provider=provider, cache_dir=cache_dir, allow_dirs=allow_dirs)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audioflow")
def cli() -> None:
    """audioflow: a YAML recipe in, a mastered episode out."""


@cli.command()
@RECIPE
@CACHE_DIR
@PROVIDER
@ALLOW_DIR
def validate(recipe: Path, cache_dir: Path | str | None, provider: str | None, allow_dirs: tuple[Path, ...]) -> None:
    """Check RECIPE (syntax, schema, names, voices, files, outputs) without rendering."""
    from .engine.facade import make_providers
    from .engine.preflight import check_requests
    from .recipe import expand, load_recipe
    from .recipe.paths import cache_folder, check_outputs

    with _errors_to_exit_codes():
        graph = expand(load_recipe(recipe, allow_dirs=allow_dirs), provider=provider)
        check_outputs(graph.recipe, cache_folder(graph.recipe.root, cache_dir))
        check_requests(graph, make_providers(graph))
        for warning in graph.warnings:
            _err(warning)
        _echo(f"{recipe}: ok ({len(graph.steps)} steps)")


@cli.command()
@RECIPES
@CACHE_DIR
@PROVIDER
@ALLOW_DIR
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(
    recipes: tuple[Path, ...],
    cache_dir: Path | str | None,
    provider: str | None,
    allow_dirs: tuple[Path, ...],
    as_json: bool,
) -> None:
    """List every step of each RECIPE as up-to-date or stale, with the reason; for several recipes
    (a batch), each recipe's counts and cost and the batch's totals (a request shared by several
    recipes counted once)."""
    from .engine.batch import batch_cost, open_batch

    with _errors_to_exit_codes():
        batch = open_batch(_recipe_paths(recipes), provider=provider, cache_dir=cache_dir, allow_dirs=allow_dirs)
        plans = batch.plan()
        rows = {}
        for project, result in zip(batch.projects, plans, strict=True):
            _report_damage(project.store)
            for warning in project.graph.warnings:
                _err(warning)
            rows[project.graph.recipe.path] = _plan_rows(result)
        if len(plans) == 1:
            _print_plan(rows[batch.recipes[0]], plans[0].cost_by_provider(), as_json)
            return
        if as_json:
            per_recipe = [
                {"recipe": str(path), "steps": r, "cost": _cost_json(p.cost_by_provider())}
                for (path, r), p in zip(rows.items(), plans, strict=True)
            ]
            _echo(json.dumps({"recipes": per_recipe, "cost": _cost_json(batch_cost(plans))}, indent=2))
            return
        for (path, r), p in zip(rows.items(), plans, strict=True):
            _echo(f"== {path} ==")
            _print_plan(r, p.cost_by_provider(), False)
        stale = sum(1 for r in rows.values() for row in r if row["status"] == "stale")
        steps = sum(len(r) for r in rows.values())
        _echo(f"batch: {len(plans)} recipes, {stale} stale, {steps - stale} up-to-date")
        for line in _cost_lines(batch_cost(plans)):
            _echo(f"batch {line} (a request several recipes share counted once)" if "$0" not in line else line)


def _plan_rows(result: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": p.step.id,
            "kind": str(p.step.kind),
            "provider": p.step.provider,
            "status": str(p.status),
            "reason": p.reason,
            "cost_usd": p.cost_usd if p.status == "stale" and p.step.provider else 0.0,
            **({"lines": list(p.step.lines)} if p.step.lines else {}),
        }
        for p in result.steps.values()
    ]


def _cost_json(costs: dict[str, tuple[float, int, int]]) -> dict[str, Any]:
    return {name: {"usd": usd, "requests": n, "unknown_price": u} for name, (usd, n, u) in costs.items()}


def _cost_lines(costs: dict[str, tuple[float, int, int]]) -> list[str]:
    lines = []
    for name, (usd, n, unknown) in costs.items():
        extra = f" + {unknown} of unknown price" if unknown else ""
        lines.append(f"estimated cost on {name}: ~${usd:.4f} for {n} paid requests{extra}")
    return lines or ["estimated cost: $0 (nothing to pay for)"]


def _print_plan(rows: list[dict[str, Any]], costs: dict[str, tuple[float, int, int]], as_json: bool) -> None:
    if as_json:
        _echo(json.dumps({"steps": rows, "cost": _cost_json(costs)}, indent=2))
        return
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        cost = "" if not r["cost_usd"] and r["cost_usd"] is not None else f"  {_usd(r['cost_usd'])}"
        part = f"lines {r['lines'][0]}–{r['lines'][1]} · " if "lines" in r else ""
        _echo(
            f"{r['status']:<10}  {r['id']:<{width}}  {r['kind']:<8}  {r['provider'] or '-':<7}  "
            f"{part}{r['reason']}{cost}"
        )
    stale = sum(1 for r in rows if r["status"] == "stale")
    _echo(f"{stale} stale, {len(rows) - stale} up-to-date")
    for line in _cost_lines(costs):
        _echo(line)


def _report_damage(store: Any) -> None:
    """Damaged cache files the store set aside (or could not) while planning or running, on stderr."""
    for finding in store.findings:
        _err(str(finding))


def _usd(value: float | None) -> str:
    return "price unknown" if value is None else f"~${value:.4f}"


def _progress(total: int, enabled: bool) -> tuple[Callable[[Any], None], Callable[[], None]]:
    if not enabled:
        return (lambda event: None), (lambda: None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]rendering"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        transient=True,
        console=Console(stderr=True),
    )
    task = progress.add_task("", total=total)
    progress.start()

    def on_event(event: Any) -> None:
        if event.status == "started":
            progress.update(task, description=event.step_id)
        else:
            progress.advance(task)

    return on_event, progress.stop


def _tracebacks(report: Any) -> list[str]:
    """The tracebacks of the failed steps (``AUDIOFLOW_DEBUG=1``)."""
    if not os.environ.get("AUDIOFLOW_DEBUG"):
        return []
    return [
        f"traceback of {o.step.id}:\n" + "".join(traceback.format_exception(o.exception)).rstrip()
        for o in report.result.outcomes.values()
        if o.exception is not None
    ]


def _summary(report: Any, recipe: Path) -> list[str]:
    result = report.result
    lines = []
    for outcome in result.outcomes.values():
        if outcome.status == "failed":
            lines.append(f"failed: {outcome.step.id}: {outcome.error}")
    for outcome in result.outcomes.values():
        meta = outcome.meta
        if meta is None:
            continue
        if meta.placeholder:
            lines.append(f"placeholder: {outcome.step.id}: {meta.notes[0] if meta.notes else ''}")
            continue
        label = "approximate" if meta.approximate else "note"
        lines += [f"{label}: {outcome.step.id}: {note}" for note in meta.notes]
    counts = (
        f"{result.count('rendered')} rendered, {result.count('cached')} cached, {result.count('failed')} failed"
        + (
            f", {result.count('blocked') + result.count('skipped')} not run"
            if result.count("blocked") + result.count("skipped")
            else ""
        )
    )
    if report.output is not None:
        m = report.manifest
        lines.append(counts + (" (everything was cached)" if result.count("rendered") == 0 else ""))
        lines.append(
            f"wrote {os.path.relpath(report.output)}: {m.duration_ms / 1000:.1f} s, "
            f"{m.loudness.measured_lufs:.1f} LUFS, {m.loudness.measured_true_peak_dbtp:.1f} dBTP"
            + (f", {len(m.placeholders)} placeholder(s)" if m.placeholders else "")
        )
        if report.report is not None:
            lines.append(f"report: {os.path.relpath(report.report)}")
    else:
        lines.append(counts + " — no output written")
    budget = result.budget
    if budget.requests:
        by = ", ".join(f"{name} ${usd:.4f}" for name, usd in budget.by_provider.items())
        lines.append(f"spent ${budget.spent_usd:.4f} on {budget.requests} paid requests ({by})")
    return lines


@cli.command()
@RECIPES
@CACHE_DIR
@PROVIDER
@ALLOW_DIR
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=os.cpu_count() or 2,
    show_default="cores",
    help="Steps worked on this machine at once (mixing, local rendering); remote requests use each provider's "
    "concurrency instead.",
)
@click.option(
    "-k", "--keep-going", is_flag=True, help="After a failure, still render the steps that do not depend on it."
)
@click.option(
    "--budget",
    "budget_usd",
    type=_FiniteFloatRange(min=0),
    metavar="USD",
    help="Refuse to start if the render could cost more; stop submitting when spending reaches it.",
)
@click.option(
    "--cluster",
    metavar="tcp://HOST:PORT|local:N",
    help="Run the steps on a Dask cluster: a scheduler's address, or local:N for N worker processes here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's result as JSON.")
def run(
    recipes: tuple[Path, ...],
    cache_dir: Path | str | None,
    provider: str | None,
    allow_dirs: tuple[Path, ...],
    jobs: int,
    keep_going: bool,
    budget_usd: float | None,
    cluster: str | None,
    as_json: bool,
) -> None:
    """Render each RECIPE's stale steps and bounce its mastered output. Several recipes (or a quoted
    glob, 'episodes/*.yaml') run as one graph: a step they share renders once; failures are
    reported at the end."""
    from .engine.batch import open_batch

    with _errors_to_exit_codes():
        batch = open_batch(_recipe_paths(recipes), provider=provider, cache_dir=cache_dir, allow_dirs=allow_dirs)
        steps = sum(len(p.graph.steps) for p in batch.projects)
        with _cluster(cluster) as client:
            on_event, stop = _progress(steps, not as_json and sys.stderr.isatty())
            try:
                options: dict[str, Any] = {
                    "jobs": jobs,
                    "keep_going": keep_going,
                    "on_event": on_event,
                    "budget_usd": budget_usd,
                }
                if len(batch.projects) == 1:
                    reports = {batch.recipes[0]: batch.projects[0].run(**options, cluster=client)}
                    errors: dict[Path, str] = {}
                    budget = None
                else:
                    outcome = batch.run(**options, cluster=client)
                    reports, errors, budget = outcome.reports, outcome.errors, outcome.budget
            finally:
                stop()
        for project in batch.projects:
            _report_damage(project.store)
            for warning in project.graph.warnings:
                _err(warning)
            for warning in reports[project.graph.recipe.path].warnings:
                _err(f"warning: {warning}")
        if len(reports) == 1:
            _print_run(*next(iter(reports.items())), as_json)
        else:
            _print_batch(reports, errors, budget, as_json)
        for report in reports.values():
            for text in _tracebacks(report):
                _err(text)
        if errors or not all(r.result.ok for r in reports.values()):
            sys.exit(1)


@contextmanager
def _cluster(spec: str | None) -> Iterator[Any]:
    """The Dask client of ``--cluster`` (None without it), closed afterwards."""
    if spec is None:
        yield None
        return
    from .engine.cluster import connect

    with connect(spec) as client:
        yield client


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


@cli.command("report")
@RECIPE
@CACHE_DIR
@PROVIDER
@ALLOW_DIR
def report_command(
    recipe: Path, cache_dir: Path | str | None, provider: str | None, allow_dirs: tuple[Path, ...]
) -> None:
    """Rebuild RECIPE's HTML report (<output stem>.report.html beside the output) from the cache,
    rendering nothing. Exits 1 when the recipe, as it is now, has not been rendered (pass the
    --provider it was rendered with)."""
    with _errors_to_exit_codes():
        project = _open(recipe, provider, cache_dir, allow_dirs)
        path = project.report()
        output = project.graph.recipe.output
        if not output.exists():
            _err(f"warning: {os.path.relpath(output)} is missing: the report's player stays silent until it is bounced")
        _echo(f"wrote {os.path.relpath(path)}")


def _run_json(report: Any) -> dict[str, Any]:
    result = report.result
    return {
        "output": str(report.output) if report.output else None,
        "rendered": result.count("rendered"),
        "cached": result.count("cached"),
        "failed": result.count("failed"),
        "spent_usd": result.budget.spent_usd,
        "steps": [
            {
                "id": o.step.id,
                "kind": str(o.step.kind),
                "provider": o.step.provider,
                "status": str(o.status),
                "input_digest": o.digest,
                "error": o.error,
            }
            for o in result.outcomes.values()
        ],
    }


def _print_run(recipe: Path, report: Any, as_json: bool) -> None:
    if as_json:
        _echo(json.dumps(_run_json(report), indent=2))
        return
    for line in _summary(report, recipe):
        _echo(line, err=line.startswith("failed:"))


def _print_batch(reports: dict[Path, Any], errors: dict[Path, str], budget: Any, as_json: bool) -> None:
    """Each recipe's summary, then every failure of the batch, then the totals."""
    failed = [path for path, report in reports.items() if path in errors or not report.ok]
    if as_json:
        recipes = [{"recipe": str(path), **_run_json(r), "error": errors.get(path)} for path, r in reports.items()]
        summary = {"recipes": recipes, "failed": [str(p) for p in failed], "spent_usd": budget.spent_usd}
        _echo(json.dumps(summary, indent=2))
        return
    failures = []
    for path, report in reports.items():
        _echo(f"== {path} ==")
        for line in _summary(report, path):
            if line.startswith("failed:"):
                failures.append(f"failed: {path}: {line.removeprefix('failed: ')}")
            elif not line.startswith("spent "):
                _echo(line)
        if path in errors:
            failures.append(f"failed: {path}: {errors[path]}")
    results = [r.result for r in reports.values()]
    counts = {status: sum(r.count(status) for r in results) for status in ("rendered", "cached", "failed")}
    _echo(
        f"batch: {len(reports)} recipes, {len(reports) - len(failed)} written, {len(failed)} failed; "
        f"{counts['rendered']} steps rendered, {counts['cached']} cached, {counts['failed']} failed"
    )
    if budget.requests:
        by = ", ".join(f"{name} ${usd:.4f}" for name, usd in budget.by_provider.items())
        _echo(f"spent ${budget.spent_usd:.4f} on {budget.requests} paid requests ({by})")
    for line in failures:
        _err(line)


@cli.group()
def cache() -> None:
    """Check and tidy an artifact store: verify, gc."""


def _stores(recipes: tuple[Path, ...], cache_dir: Path | str | None) -> list[Path]:
    """The store roots the cache commands work on: --cache-dir, else $AUDIOFLOW_CACHE_DIR, else
    the .audioflow/ of each RECIPE (each once)."""
    from .recipe.paths import CACHE_ENV, cache_folder

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


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _size(n_bytes: int) -> str:
    """``n_bytes`` for people: 512 B, 1.5 KB, 12.3 MB, 2.0 GB (powers of 1000)."""
    if n_bytes < 1000:
        return f"{n_bytes} B"
    value, unit = n_bytes / 1000, "KB"
    for bigger in ("MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}"


@cache.command("verify")
@click.argument("recipe", required=False, type=click.Path(path_type=Path, dir_okay=False))
@CACHE_DIR
@click.option("--repair", is_flag=True, help="Set damaged files aside in quarantine/ (never deleted; journals stay).")
def cache_verify(recipe: Path | None, cache_dir: Path | str | None, repair: bool) -> None:
    """Check every file of a cache; exit 1 while damage remains.

    Hashes every object (sha256) and parses every record, journal and recipe state of the cache
    beside RECIPE (or --cache-dir). --repair sets damaged files aside in quarantine/; a damaged
    journal is only reported: it may hold a request that was paid for."""
    from .cache import ArtifactStore, verify_store

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
    from .cache import ArtifactStore, collect_garbage

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


@cli.command()
@RECIPE
@ALLOW_DIR
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
def graph(recipe: Path, allow_dirs: tuple[Path, ...], fmt: str) -> None:
    """Print RECIPE's step graph as Mermaid or Graphviz DOT."""
    from .recipe import expand, load_recipe, to_dot, to_mermaid

    with _errors_to_exit_codes():
        steps = expand(load_recipe(recipe, allow_dirs=allow_dirs))
        _echo(to_mermaid(steps) if fmt == "mermaid" else to_dot(steps), nl=False)


@cli.command()
def schema() -> None:
    """Print the recipe JSON Schema."""
    from .recipe import schema_text

    _echo(schema_text(), nl=False)


@cli.command()
def voices() -> None:
    """List the local voices (offline, derived from the bundled Piper voice)."""
    from .providers.local import LOCAL_VOICES

    for i, (name, voice) in enumerate(LOCAL_VOICES.items(), start=1):
        _echo(f"{name:<7} #{i}  pitch {voice.pitch_semitones:+.0f} st, speed ×{voice.speed:.2f}  {voice.description}")


def main() -> None:
    """Console entry point."""
    try:
        cli.main(prog_name="audioflow")
    except SystemExit:
        raise
    except Exception as exc:  # never a traceback for users, unless they ask
        if os.environ.get("AUDIOFLOW_DEBUG"):
            _err(traceback.format_exc().rstrip())
        _err(f"internal error: {type(exc).__name__}: {exc} (set AUDIOFLOW_DEBUG=1 for a traceback; please report it)")
        sys.exit(1)
