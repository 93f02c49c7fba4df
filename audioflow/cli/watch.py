"""``audioflow watch RECIPE``: render, then re-plan and re-render on every save of the recipe or one
of its input files (watchfiles). A recipe error on save is shown and the last good output kept."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ..errors import AudioflowError, RecipeError
from .options import ALLOW_DIR, CACHE_DIR, PROVIDER, RECIPE, _FiniteFloatRange, _open
from .output import _err, _errors_to_exit_codes, _note, _report_damage, _warn
from .render import _display
from .summary import _print_run, _tracebacks

#: How often (ms) the watcher wakes with nothing changed, to notice a stop or an edit made mid-render.
_POLL_MS = 200


@dataclass
class _Watch:
    """One watch session: what to open, and what was seen of the inputs when they were last read."""

    recipe: Path
    options: dict[str, Any]
    run_options: dict[str, Any]
    stop: threading.Event = field(default_factory=threading.Event)
    inputs: dict[Path, float | None] = field(default_factory=dict)  # resolved path → mtime when read

    def open(self) -> Any:
        """The project, planned; None after a recipe error (shown; the last good output stays).
        The inputs to watch are the recipe and every local file it read (the recipe alone when it
        cannot be read)."""
        watched = [self.recipe.resolve()]
        try:
            project = _open(self.recipe, **self.options)
            plan = project.plan()
        except RecipeError as exc:
            _err(str(exc))
            _warn("the last good output is kept: fix the recipe and save it again")
            project, plan = None, None
        if project is not None:
            watched += sorted(project.graph.recipe.confinement.inputs)
        self.inputs = {path: _mtime(path) for path in watched}
        return None if project is None else (project, plan)

    def render(self, opened: tuple[Any, Any]) -> Any:
        """Say what went stale, run, print the run's summary (figures on stdout), refresh the report."""
        project, plan = opened
        stale = [p for p in plan.steps.values() if str(p.status) == "stale"]
        for planned in stale:
            _note(f"stale: {planned.step.id}: {planned.reason}")
        if not stale:
            _note("nothing went stale")
        display = _display(len(plan.steps), False)
        try:
            report = project.run(**self.run_options, on_event=display.on_event)
        finally:
            display.stop()
        _report_damage(project.store)
        for warning in [*project.graph.warnings, *(f"warning: {w}" for w in report.warnings)]:
            _warn(warning)
        _print_run(self.recipe, report, False)
        for text in _tracebacks(report):
            _err(text)
        refresh_report(project, report)
        return report

    def wait(self) -> list[Path]:
        """Block until an input changes (the changed inputs), or the session stops ([])."""
        import watchfiles

        moved = [path for path, seen in self.inputs.items() if _mtime(path) != seen]
        if moved:  # saved while the last render ran
            return moved
        folders = sorted({path.parent for path in self.inputs if path.parent.is_dir()})
        announced = False
        for changes in watchfiles.watch(
            *folders, stop_event=self.stop, yield_on_timeout=True, rust_timeout=_POLL_MS, debounce=400
        ):
            if not announced:  # the watcher is running: an edit from now on is seen
                _note(f"watching {len(self.inputs)} file(s) for changes (Ctrl-C to stop)")
                announced = True
            hit = sorted({Path(p).resolve() for _, p in changes} & set(self.inputs))
            if hit:
                return hit
        return []


def refresh_report(project: Any, run_report: Any) -> None:
    """HOOK for the HTML report (issue 12's ``audioflow report``): called after every render of
    ``watch``, with the :class:`~audioflow.engine.Project` and its :class:`~audioflow.engine.RunReport`.
    ``run`` writes ``<output stem>.report.html`` beside the output when the report exists; here its
    path is shown so the page can be reloaded. Rebuild the report here if ``run`` stops writing it."""
    if run_report.output is None:
        return
    page = run_report.output.with_name(run_report.output.stem + ".report.html")
    if page.is_file():
        _note(f"report: {os.path.relpath(page)}")


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return None


@click.command()
@RECIPE
@CACHE_DIR
@PROVIDER
@ALLOW_DIR
@click.option(
    "-j", "--jobs", type=click.IntRange(1, 64), default=os.cpu_count() or 2, show_default="cores", help="As for run."
)
@click.option(
    "--budget",
    "budget_usd",
    type=_FiniteFloatRange(min=0),
    metavar="USD",
    help="Each render refuses to start if it could cost more (as for run).",
)
@click.option("--max-renders", type=click.IntRange(1), hidden=True, help="Stop after N renders (tests).")
def watch(
    recipe: Path,
    cache_dir: Path | str | None,
    provider: str | None,
    allow_dirs: tuple[Path, ...],
    jobs: int,
    budget_usd: float | None,
    max_renders: int | None,
) -> None:
    """Render RECIPE, then re-plan and re-render what went stale on every save of the recipe or one
    of its input files, printing what went stale and the new output's figures. A recipe error is
    shown and the last good output kept. Ctrl-C stops."""
    session = _Watch(
        recipe,
        {"provider": provider, "cache_dir": cache_dir, "allow_dirs": allow_dirs},
        {"jobs": jobs, "keep_going": True, "budget_usd": budget_usd},
    )
    with _errors_to_exit_codes():
        renders = 0
        opened = session.open()
        while True:
            if opened is not None:
                try:
                    session.render(opened)
                except AudioflowError as exc:  # a budget refusal, a missing key: shown, and watching goes on
                    _err(f"error: {exc}")
                renders += 1
            if max_renders is not None and renders >= max_renders:
                return
            changed = session.wait()
            if not changed:
                return
            shown = ", ".join(os.path.relpath(path) for path in changed)
            _note(f"changed: {shown}")
            opened = session.open()
