"""The commands that plan and render: plan, run, graph."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from .options import ALLOW_DIR, CACHE_DIR, PROVIDER, RECIPE, RECIPES, _FiniteFloatRange, _recipe_paths
from .output import (
    QUIET,
    VERBOSE,
    _cost_json,
    _cost_lines,
    _echo,
    _err,
    _errors_to_exit_codes,
    _note,
    _report_damage,
    _verbosity,
    _warn,
)
from .progress import ProgressDisplay
from .summary import (
    _failure_exit_code,
    _plan_rows,
    _print_batch,
    _print_plan,
    _print_run,
    _report_qc,
    _tracebacks,
)


@click.command()
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
    from ..engine.batch import batch_cost, open_batch
    from ..engine.preflight import request_warnings

    with _errors_to_exit_codes():
        batch = open_batch(_recipe_paths(recipes), provider=provider, cache_dir=cache_dir, allow_dirs=allow_dirs)
        plans = batch.plan()
        rows = {}
        for project, result in zip(batch.projects, plans, strict=True):
            _report_damage(project.store)
            for warning in project.graph.warnings:
                _warn(warning)
            for planned in result.steps.values():  # what a host would be sent, said before it is paid for
                if planned.status == "stale" and planned.prepared is not None:
                    for warning in request_warnings(planned.step, planned.prepared):
                        _warn(warning)
            rows[project.graph.recipe.path] = _plan_rows(result)
        if len(plans) == 1:
            _print_plan(rows[batch.recipes[0]], plans[0].cost_by_provider(), as_json, plans[0].graph.recipe)
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
            _print_plan(r, p.cost_by_provider(), False, p.graph.recipe)
        stale = sum(1 for r in rows.values() for row in r if row["status"] == "stale")
        steps = sum(len(r) for r in rows.values())
        _echo(f"batch: {len(plans)} recipes, {stale} stale, {steps - stale} up-to-date")
        for line in _cost_lines(batch_cost(plans)):
            _echo(f"batch {line} (a request several recipes share counted once)" if "$0" not in line else line)


@click.command()
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
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="STEP[,STEP...]",
    help="Render only these steps and what they need (repeatable); the output is bounced only when master is "
    "among them.",
)
@click.option(
    "--force",
    "force",
    multiple=True,
    metavar="STEP[,STEP...]",
    help="Render these steps again even if cached (repeatable; named steps only; not paid steps: set take: N).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's result as JSON.")
@click.option(
    "--allow-qc-fail", is_flag=True, help="Keep outputs that fail their preset's QC: warn and exit 0 instead of 1."
)
@click.option("--no-report", is_flag=True, help="Write no HTML report beside the outputs (saves its figures' CPU).")
def run(
    recipes: tuple[Path, ...],
    cache_dir: Path | str | None,
    provider: str | None,
    allow_dirs: tuple[Path, ...],
    jobs: int,
    keep_going: bool,
    budget_usd: float | None,
    cluster: str | None,
    only: tuple[str, ...],
    force: tuple[str, ...],
    as_json: bool,
    allow_qc_fail: bool,
    no_report: bool,
) -> None:
    """Render each RECIPE's stale steps and bounce its mastered outputs. Several recipes (or a quoted
    glob, 'episodes/*.yaml') run as one graph: a step they share renders once; failures are
    reported at the end."""
    from ..engine.batch import open_batch

    with _errors_to_exit_codes():
        batch = open_batch(_recipe_paths(recipes), provider=provider, cache_dir=cache_dir, allow_dirs=allow_dirs)
        steps = sum(len(p.graph.steps) for p in batch.projects)
        chosen: dict[str, Any] = {"only": _step_ids(only), "force": _step_ids(force)}
        if any(chosen.values()):
            if len(batch.projects) > 1:
                raise click.UsageError("--only and --force name the steps of one recipe: give one RECIPE")
            steps = _say_chosen(batch.projects[0], **chosen)
        with _cluster(cluster) as client:
            sizes = [(p.graph.recipe.path, len(p.graph.steps)) for p in batch.projects]
            display = _display(steps, as_json, sizes)
            try:
                options: dict[str, Any] = {
                    "jobs": jobs,
                    "keep_going": keep_going,
                    "on_event": display.on_event,
                    "budget_usd": budget_usd,
                    "report": not no_report,
                }
                if len(batch.projects) == 1:
                    reports = {batch.recipes[0]: batch.projects[0].run(**options, **chosen, cluster=client)}
                    errors: dict[Path, str] = {}
                    budget = None
                else:
                    outcome = batch.run(**options, cluster=client)
                    reports, errors, budget = outcome.reports, outcome.errors, outcome.budget
            finally:
                display.stop()
        for project in batch.projects:
            _report_damage(project.store)
            for warning in project.graph.warnings:
                _warn(warning)
            for warning in reports[project.graph.recipe.path].warnings:
                _warn(f"warning: {warning}")
        if len(reports) == 1:
            _print_run(*next(iter(reports.items())), as_json)
        else:
            _print_batch(reports, errors, budget, as_json)
        for report in reports.values():
            for text in _tracebacks(report):
                _err(text)
        qc_failed = _report_qc(reports.values(), allow_qc_fail)
        if errors or qc_failed or not all(r.result.ok for r in reports.values()):
            sys.exit(_failure_exit_code(reports.values()))


def _step_ids(given: tuple[str, ...]) -> list[str]:
    """``--only a,b --only c`` → ``["a", "b", "c"]``, each once."""
    return list(dict.fromkeys(part.strip() for value in given for part in value.split(",") if part.strip()))


def _say_chosen(project: Any, only: list[str], force: list[str]) -> int:
    """Check ``--only``/``--force`` against the plan and say on stderr what they choose and cost; the
    number of steps the run will see."""
    plan = project.narrow(project.plan(), only, force)
    if only:
        bounced = "master" in plan.steps
        _note(
            f"--only: {len(plan.steps)} of {len(project.graph.steps)} steps"
            + ("" if bounced else "; the output is not bounced (master is not among them)")
        )
    if force:
        again = [s for s, p in plan.steps.items() if p.reason == "upstream forced"]
        _note(f"--force: rendering {', '.join(force)} again (free: no paid request is sent again)")
        if again:
            _note(f"--force: then checking {', '.join(again)}, which read them")
    for line in _cost_lines(plan.cost_by_provider()):
        _note(line)
    return len(plan.steps)


def _display(steps: int, as_json: bool, recipes: list[tuple[Path, int]] | None = None) -> ProgressDisplay:
    """The progress display: live on a terminal (not with ``-q`` or ``--json``), lines with ``-v``;
    a bar per recipe for a batch of several ``recipes`` ((path, steps) each)."""
    level = _verbosity()
    live = not as_json and level > QUIET and sys.stderr.isatty()
    return ProgressDisplay(steps, live=live, verbose=level >= VERBOSE, recipes=recipes or ())


@contextmanager
def _cluster(spec: str | None) -> Iterator[Any]:
    """The Dask client of ``--cluster`` (None without it), closed afterwards."""
    if spec is None:
        yield None
        return
    from ..engine.cluster import connect

    with connect(spec) as client:
        yield client


@click.command()
@RECIPE
@ALLOW_DIR
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the steps and their edges as JSON instead.")
def graph(recipe: Path, allow_dirs: tuple[Path, ...], fmt: str, as_json: bool) -> None:
    """Print RECIPE's step graph as Mermaid or Graphviz DOT (or JSON)."""
    from ..recipe import expand, load_recipe, to_dot, to_mermaid

    with _errors_to_exit_codes():
        steps = expand(load_recipe(recipe, allow_dirs=allow_dirs))
        if as_json:
            _echo(json.dumps(_graph_json(steps), indent=2))
            return
        _echo(to_mermaid(steps) if fmt == "mermaid" else to_dot(steps), nl=False)


def _graph_json(graph: Any) -> dict[str, Any]:
    """``graph --json`` (``audioflow/schemas/cli-graph.schema.json``): steps in order, and edges upstream → step."""
    nodes = [
        {"id": s.id, "kind": str(s.kind), "provider": s.provider, "deps": list(s.deps)} for s in graph.steps.values()
    ]
    return {"steps": nodes, "edges": [[dep, s.id] for s in graph.steps.values() for dep in s.deps]}
