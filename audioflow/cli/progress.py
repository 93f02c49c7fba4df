"""Progress on stderr while ``run`` renders (rich): one bar for a single recipe; for a batch, a bar
for the whole batch and one per recipe, each recipe's bar saying when it is done or has failed.

Events come from the local scheduler (in the event loop) or from a Dask cluster (in the thread that
collects its results); rich's progress is thread-safe. On a cluster no ``started`` events arrive,
so bars move as steps finish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.events import StepEvent, StepStatus

__all__ = ["progress"]

_FAILED = (StepStatus.FAILED, StepStatus.BLOCKED, StepStatus.SKIPPED)


@dataclass
class _Recipe:
    task: Any
    total: int
    name: str
    finished: int = 0
    failed: list[str] = field(default_factory=list)


def progress(
    recipes: Sequence[tuple[Path, int]], enabled: bool, *, console: Any = None
) -> tuple[Callable[[StepEvent], None], Callable[[], None]]:
    """(``on_event``, ``stop``) for a run of ``recipes`` ((path, steps) each). With ``enabled``
    false both do nothing; ``console`` is rich's (default: stderr)."""
    if not enabled:
        return (lambda event: None), (lambda: None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bars = Progress(
        TextColumn("{task.fields[name]}", style="bold"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        transient=True,
        console=console or Console(stderr=True),
    )
    total = bars.add_task("", total=sum(n for _, n in recipes), name="rendering" if len(recipes) == 1 else "batch")
    per_recipe: dict[str, _Recipe] = {}
    if len(recipes) > 1:
        for path, n in recipes:
            per_recipe[str(path)] = _Recipe(bars.add_task("", total=n, name=path.name), n, path.name)
    bars.start()

    def on_event(event: StepEvent) -> None:
        recipe = per_recipe.get(event.recipe)
        if event.status == StepStatus.STARTED:
            bars.update(recipe.task if recipe else total, description=event.step_id)
            return
        bars.advance(total)
        if recipe is None:
            return
        recipe.finished += 1
        if event.status in _FAILED:
            recipe.failed.append(event.step_id)
        bars.advance(recipe.task)
        if recipe.failed:
            bars.update(recipe.task, description=f"[red]failed: {', '.join(recipe.failed[:3])}")
        elif recipe.finished >= recipe.total:
            bars.update(recipe.task, description="[green]done")

    return on_event, bars.stop
