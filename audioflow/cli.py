"""The command line: the only place that prints or picks an exit code.

Exit codes: 0 success; 1 a render failed (or another runtime error); 2 an invalid recipe or usage.
Recipe errors print as ``path:line:col: message`` on stderr, never with a traceback
(set ``AUDIOFLOW_DEBUG=1`` to see one for an internal error and for each failed step).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import AudioflowError, RecipeError

__all__ = ["cli", "main"]

RECIPE = click.argument("recipe", type=click.Path(path_type=Path, dir_okay=False))
CACHE_DIR = click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Artifact store (default: .audioflow/ beside the recipe, or $AUDIOFLOW_CACHE_DIR).",
)
PROVIDER = click.option(
    "--provider", help="Render every provider step on this provider: local (draft, free), segmind, fal or evolink."
)


def _err(text: str) -> None:
    click.echo(text, err=True)


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


def _open(recipe: Path, provider: str | None, cache_dir: Path | None) -> Any:
    from .engine import open_project

    return open_project(recipe, provider=provider, cache_dir=cache_dir)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audioflow")
def cli() -> None:
    """audioflow: a YAML recipe in, a mastered episode out."""


@cli.command()
@RECIPE
@PROVIDER
def validate(recipe: Path, provider: str | None) -> None:
    """Check RECIPE (syntax, schema, names, voices, files) without rendering."""
    from .engine.facade import make_providers
    from .engine.preflight import check_requests
    from .recipe import expand, load_recipe

    with _errors_to_exit_codes():
        graph = expand(load_recipe(recipe), provider=provider)
        check_requests(graph, make_providers(graph))
        click.echo(f"{recipe}: ok ({len(graph.steps)} steps)")


@cli.command()
@RECIPE
@CACHE_DIR
@PROVIDER
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(recipe: Path, cache_dir: Path | None, provider: str | None, as_json: bool) -> None:
    """List every step of RECIPE as up-to-date or stale, with the reason."""
    with _errors_to_exit_codes():
        result = _open(recipe, provider, cache_dir).plan()
        rows = [
            {
                "id": p.step.id,
                "kind": str(p.step.kind),
                "provider": p.step.provider,
                "status": str(p.status),
                "reason": p.reason,
                "cost_usd": p.cost_usd if p.status == "stale" and p.step.provider else 0.0,
            }
            for p in result.steps.values()
        ]
        costs = result.cost_by_provider()
        if as_json:
            totals = {name: {"usd": usd, "requests": n, "unknown_price": u} for name, (usd, n, u) in costs.items()}
            click.echo(json.dumps({"steps": rows, "cost": totals}, indent=2))
            return
        width = max(len(r["id"]) for r in rows)
        for r in rows:
            cost = "" if not r["cost_usd"] and r["cost_usd"] is not None else f"  {_usd(r['cost_usd'])}"
            click.echo(
                f"{r['status']:<10}  {r['id']:<{width}}  {r['kind']:<8}  {r['provider'] or '-':<7}  {r['reason']}{cost}"
            )
        stale = sum(1 for r in rows if r["status"] == "stale")
        click.echo(f"{stale} stale, {len(rows) - stale} up-to-date")
        for name, (usd, n, unknown) in costs.items():
            extra = f" + {unknown} of unknown price" if unknown else ""
            click.echo(f"estimated cost on {name}: ~${usd:.4f} for {n} paid requests{extra}")
        if not costs:
            click.echo("estimated cost: $0 (nothing to pay for)")


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
    else:
        lines.append(counts + " — no output written")
    budget = result.budget
    if budget.requests:
        by = ", ".join(f"{name} ${usd:.4f}" for name, usd in budget.by_provider.items())
        lines.append(f"spent ${budget.spent_usd:.4f} on {budget.requests} paid requests ({by})")
    return lines


@cli.command()
@RECIPE
@CACHE_DIR
@PROVIDER
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
    type=click.FloatRange(min=0),
    metavar="USD",
    help="Refuse to start if the render could cost more; stop submitting when spending reaches it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's result as JSON.")
def run(
    recipe: Path,
    cache_dir: Path | None,
    provider: str | None,
    jobs: int,
    keep_going: bool,
    budget_usd: float | None,
    as_json: bool,
) -> None:
    """Render RECIPE's stale steps and bounce the mastered output."""
    with _errors_to_exit_codes():
        project = _open(recipe, provider, cache_dir)
        on_event, stop = _progress(len(project.graph.steps), not as_json and sys.stderr.isatty())
        try:
            report = project.run(jobs=jobs, keep_going=keep_going, on_event=on_event, budget_usd=budget_usd)
        finally:
            stop()
        result = report.result
        if as_json:
            click.echo(
                json.dumps(
                    {
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
                    },
                    indent=2,
                )
            )
        else:
            for line in _summary(report, recipe):
                click.echo(line, err=line.startswith("failed:"))
        for text in _tracebacks(report):
            _err(text)
        if not result.ok:
            sys.exit(1)


@cli.command()
@RECIPE
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
def graph(recipe: Path, fmt: str) -> None:
    """Print RECIPE's step graph as Mermaid or Graphviz DOT."""
    from .recipe import expand, load_recipe, to_dot, to_mermaid

    with _errors_to_exit_codes():
        steps = expand(load_recipe(recipe))
        click.echo(to_mermaid(steps) if fmt == "mermaid" else to_dot(steps), nl=False)


@cli.command()
def schema() -> None:
    """Print the recipe JSON Schema."""
    from .recipe import schema_text

    click.echo(schema_text(), nl=False)


@cli.command()
def voices() -> None:
    """List the local voices (offline, derived from the bundled Piper voice)."""
    from .providers.local import LOCAL_VOICES

    for i, (name, voice) in enumerate(LOCAL_VOICES.items(), start=1):
        click.echo(
            f"{name:<7} #{i}  pitch {voice.pitch_semitones:+.0f} st, speed ×{voice.speed:.2f}  {voice.description}"
        )


def main() -> None:
    """Console entry point."""
    try:
        cli.main(prog_name="audioflow")
    except SystemExit:
        raise
    except Exception as exc:  # never a traceback for users, unless they ask
        if os.environ.get("AUDIOFLOW_DEBUG"):
            traceback.print_exc()
        _err(f"internal error: {type(exc).__name__}: {exc} (set AUDIOFLOW_DEBUG=1 for a traceback; please report it)")
        sys.exit(1)
