"""The progress display of ``run`` (on stderr): a bar of steps (for a batch, a bar for the whole batch
and one per recipe, each saying when it is done or has failed), and a stage bar for the master
(mixing / measuring / limiting+encoding / verifying), so a long bounce does not sit at "29/30".
``-v`` adds a line per finished step. Rich is imported only when the display is live.

Events come from the local scheduler (in the event loop) or from a Dask cluster (steps' ends from
the thread that collects its results; ``started`` and the master's stages from the workers, through
Dask's event log, on the client's loop); rich's progress is thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .output import _info, _no_color, _scrubbed

__all__ = ["STAGES", "ProgressDisplay", "progress"]

#: The master's stages as the stage bar shows them: the mix step, then ``audio.master_to_file``'s stages.
STAGES = ("mixing", "measuring", "limiting+encoding", "verifying")
_FAILED = ("failed", "blocked", "skipped")  # StepStatus values, compared as strings (see on_event)


@dataclass
class _Recipe:
    task: Any
    total: int
    finished: int = 0
    failed: list[str] = field(default_factory=list)


class ProgressDisplay:
    """Shows a run's events (``audioflow.engine.events.StepEvent``) on stderr: live bars when ``live``
    (a terminal, not ``-q``, not ``--json``), a line per finished step when ``verbose``. ``recipes``
    ((path, steps) each) adds a bar per recipe for a batch of several. ``console`` (a ``rich``
    Console) is for tests; by default the display writes to stderr. Call :meth:`stop` at the end."""

    def __init__(
        self,
        total: int,
        *,
        live: bool,
        verbose: bool,
        console: Any = None,
        recipes: Sequence[tuple[Path, int]] = (),
    ) -> None:
        self.verbose = verbose
        self.stages: dict[str, str] = {}  # recipe label → the master's stage now showing
        self._progress: Any = None
        self._stage_tasks: dict[str, Any] = {}
        self._recipes: dict[str, _Recipe] = {}
        if not live:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.fields[label]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            transient=True,
            console=console or Console(stderr=True, no_color=_no_color()),
        )
        self._task = self._progress.add_task("", total=total, label="rendering" if len(recipes) <= 1 else "batch")
        if len(recipes) > 1:
            for path, n in recipes:
                self._recipes[str(path)] = _Recipe(self._progress.add_task("", total=n, label=path.name), n)
        self._progress.start()

    def on_event(self, event: Any) -> None:
        """Take one ``StepEvent`` of the run (the scheduler calls this on its event loop). Statuses and
        kinds are compared as the strings they are (importing the engine here would slow ``--help``)."""
        if event.status == "started":
            recipe = self._recipes.get(event.recipe)
            self._describe(event.step_id, recipe.task if recipe else None)
            if event.kind == "mix":
                self._stage(event.recipe, "mixing")
        elif event.status == "progress":
            if event.kind == "master":
                self._stage(event.recipe, event.message)
        else:
            if self._progress is not None:
                self._progress.advance(self._task)
                self._advance_recipe(event)
            if event.kind == "master":
                self._end_stages(event.recipe)
            if self.verbose:
                where = f"{event.recipe}: " if event.recipe else ""
                self._line(
                    f"{event.status:<9} {where}{event.step_id}" + (f": {event.message}" if event.message else "")
                )

    def stop(self) -> None:
        """End the live display (it leaves nothing behind on the terminal)."""
        if self._progress is not None:
            self._progress.stop()

    def _advance_recipe(self, event: Any) -> None:
        recipe = self._recipes.get(event.recipe)
        if recipe is None:
            return
        recipe.finished += 1
        if event.status in _FAILED:
            recipe.failed.append(event.step_id)
        self._progress.advance(recipe.task)
        if recipe.failed:
            self._progress.update(recipe.task, description=f"[red]failed: {', '.join(recipe.failed[:3])}")
        elif recipe.finished >= recipe.total:
            self._progress.update(recipe.task, description="[green]done")

    def _describe(self, text: str, task: Any = None) -> None:
        if self._progress is not None:
            self._progress.update(self._task if task is None else task, description=text)

    def _stage(self, recipe: str, stage: str) -> None:
        self.stages[recipe] = stage
        if self.verbose:
            self._line(f"master {f'of {recipe} ' if recipe else ''}{stage}")
        if self._progress is None:
            return
        done = STAGES.index(stage) if stage in STAGES else 0
        if recipe not in self._stage_tasks:
            label = f"master {Path(recipe).name if recipe else ''}".strip()
            self._stage_tasks[recipe] = self._progress.add_task(stage, total=len(STAGES), label=label)
        self._progress.update(self._stage_tasks[recipe], completed=done, description=stage)

    def _end_stages(self, recipe: str) -> None:
        self.stages.pop(recipe, None)
        task = self._stage_tasks.pop(recipe, None)
        if task is not None and self._progress is not None:
            self._progress.remove_task(task)

    def _line(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(_scrubbed(text), markup=False, highlight=False)
        else:
            _info(text)


def progress(
    recipes: Sequence[tuple[Path, int]], enabled: bool, *, console: Any = None
) -> tuple[Callable[[Any], None], Callable[[], None]]:
    """(``on_event``, ``stop``) of a :class:`ProgressDisplay` for a run of ``recipes`` ((path, steps)
    each), live when ``enabled``; ``console`` is rich's (default: stderr)."""
    display = ProgressDisplay(sum(n for _, n in recipes), live=enabled, verbose=False, console=console, recipes=recipes)
    return display.on_event, display.stop
