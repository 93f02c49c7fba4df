"""A batch: several recipes planned and run as one graph (``audioflow run a.yaml b.yaml``).

The recipes' steps run together in one scheduler (:func:`.scheduler.arun_plans`, or the Dask
cluster): they share the ``jobs`` limit, each provider's limit and the digest locks, so a step
every episode shares (a voice clone, a bed: the same input digest) renders once and the other
recipes find it cached. Recipes that share a cache folder share one store object. Each recipe is
bounced as soon as its own steps have ended (while the others still render), as a single run
would bounce it: its output, sidecars and manifest are those of ``audioflow run`` on that recipe
alone. On a shared store (a bucket) the recipes are planned and
bounced concurrently (:data:`PLAN_THREADS` at once): every record lookup is a round trip, and one
recipe's plan does not depend on another's. A failed step stops only its own recipe; a recipe whose
output cannot be written is reported, not raised, so every recipe of the batch gets its report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Unpack

from ..cache import ArtifactStore
from ..errors import AudioflowError, RecipeError
from ..providers import Provider
from ..recipe import load_recipe
from ..recipe.diagnostics import Collector
from ..recipe.paths import SIDECAR_FOLDERS, cache_folder, sidecar_paths
from . import preflight
from .budget import Budget, check_budget
from .facade import (
    PageRenderer,
    Project,
    RunOptions,
    RunReport,
    execute_plans,
    open_recipe,
    page_renderer,
    ready_paid_providers,
    warm_cluster,
)
from .outcomes import RunResult
from .staleness import Plan, PlanStatus

if TYPE_CHECKING:
    from concurrent.futures import Future

    from ..recipe import Recipe

__all__ = ["PLAN_THREADS", "Batch", "BatchReport", "batch_cost", "open_batch"]

#: Recipes of a batch on a shared store planned (and bounced) at once: their lookups overlap.
PLAN_THREADS = 16


@dataclass
class BatchReport:
    """A finished batch: one :class:`RunReport` per recipe (in the batch's order), or the error
    that kept a recipe from being bounced (``errors``: recipe path → message), and the whole
    batch's spending (``budget``: per provider, every paid request once)."""

    recipes: list[Path]
    reports: dict[Path, RunReport]
    errors: dict[Path, str] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)

    @property
    def ok(self) -> bool:
        """Every recipe rendered and was bounced."""
        return not self.errors and all(report.ok for report in self.reports.values())


def batch_cost(plans: Iterable[Plan]) -> dict[str, tuple[float, int, int]]:
    """Provider → (estimated USD, paid requests, requests of unknown price) of a batch's stale paid
    steps, each paid take counted once however many recipes share it (by its take digest, where
    the request is known at plan time)."""
    out: dict[str, tuple[float, int, int]] = {}
    seen: set[str] = set()
    for plan in plans:
        for planned in plan.steps.values():
            step, prepared = planned.step, planned.prepared
            if planned.status != PlanStatus.STALE or step.provider is None or planned.cost_usd == 0.0:
                continue
            if prepared is not None and prepared.key is not None:
                take = preflight.take_digest(step, step.provider, prepared)
                if take in seen:
                    continue
                seen.add(take)
            usd, count, unknown = out.get(step.provider, (0.0, 0, 0))
            out[step.provider] = (usd + (planned.cost_usd or 0.0), count + 1, unknown + (planned.cost_usd is None))
    return out


@dataclass
class Batch:
    """Several projects run as one graph (see the module docstring)."""

    projects: list[Project]

    @property
    def recipes(self) -> list[Path]:
        return [project.graph.recipe.path for project in self.projects]

    @property
    def _concurrent(self) -> bool:
        """Whether recipes are planned and bounced at once: a batch on a shared (remote) store."""
        return len(self.projects) > 1 and any(project.store.remote for project in self.projects)

    def plan(self) -> list[Plan]:
        """Every recipe's plan (concurrently on a shared store: see the module docstring). Raises
        :class:`RecipeError` (every recipe's errors together, in the batch's order)."""
        futures: list[Future[Plan]] = []
        if self._concurrent:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(PLAN_THREADS, len(self.projects)), "audioflow-plan") as pool:
                futures = [pool.submit(project.plan) for project in self.projects]
        collector, plans = Collector(), []
        for n, project in enumerate(self.projects):
            with collector.guard():
                plans.append(futures[n].result() if futures else project.plan())
        collector.raise_any()
        return plans

    async def arun(self, **options: Unpack[RunOptions]) -> BatchReport:
        """Render every recipe's stale steps as one graph, bouncing each recipe (as
        :meth:`Project.arun` does for one) once its own steps have ended. ``budget_usd`` holds for
        the whole batch. Raises :class:`RecipeError` or :class:`~audioflow.errors.ProviderError`
        before any spending; a step's failure, or a recipe that could not be bounced, is in the
        report."""
        import asyncio  # here and in run: a batch with nothing to do still imports it, one recipe does not

        warm_cluster(options, [project.store for project in self.projects])
        plans = await asyncio.to_thread(self.plan)
        budget_usd = options.get("budget_usd")
        if budget_usd is not None:
            check_budget(batch_cost(plans), budget_usd)
        ready_paid_providers((plan, p.providers) for plan, p in zip(plans, self.projects, strict=True))
        total = Budget(budget_usd)
        items = [(plan, p.store, p.providers) for plan, p in zip(plans, self.projects, strict=True)]
        report = BatchReport(self.recipes, {}, budget=total)
        gate = asyncio.Semaphore(PLAN_THREADS if self._concurrent else 1)
        loop = asyncio.get_running_loop()
        bouncing: dict[int, asyncio.Future[RunReport]] = {}

        pages = {id(p.store): page_renderer(options, p.store) for p in self.projects}  # a cluster's workers render

        async def finish(i: int, result: RunResult) -> RunReport:
            project = self.projects[i]
            async with gate:
                return await self._finish(project, plans[i], result, report, options, pages[id(project.store)])

        def bounce(i: int, result: RunResult) -> None:  # on the loop: each recipe bounced once
            if i not in bouncing:
                bouncing[i] = asyncio.ensure_future(finish(i, result))

        def ended(i: int, result: RunResult) -> None:  # from the cluster's collector thread, or the loop
            loop.call_soon_threadsafe(bounce, i, result)

        # A recipe is bounced as soon as its own steps have ended, while the others still render.
        results = await execute_plans(items, options, total, ended)
        for i, result in enumerate(results):
            bounce(i, result)
        finished = await asyncio.gather(*(bouncing[i] for i in range(len(results))))
        report.reports = {p.graph.recipe.path: r for p, r in zip(self.projects, finished, strict=True)}
        report.errors = {p: report.errors[p] for p in self.recipes if p in report.errors}  # the batch's order
        return report

    def run(self, **options: Unpack[RunOptions]) -> BatchReport:
        """:meth:`arun` in a new event loop (``asyncio.run``)."""
        from .scheduler import run_in_new_loop

        return run_in_new_loop(self.arun(**options))

    @staticmethod
    async def _finish(
        project: Project,
        plan: Plan,
        result: RunResult,
        report: BatchReport,
        options: RunOptions,
        pages: PageRenderer | None,
    ) -> RunReport:
        try:
            return await project.finish(plan, result, report=options.get("report", True), pages=pages)
        except AudioflowError as exc:  # this recipe's output could not be written: the others still are
            report.errors[project.graph.recipe.path] = str(exc)
            return RunReport(result, None, None, None)


def open_batch(
    recipe_paths: Sequence[Path | str],
    *,
    provider: str | None = None,
    cache_dir: Path | str | None = None,
    providers: Mapping[str, Provider] | None = None,
    allow_dirs: Iterable[Path | str] = (),
) -> Batch:
    """Load and expand every recipe of a batch (see :func:`~.facade.open_project`). Recipes with one
    cache (``cache_dir``, ``$AUDIOFLOW_CACHE_DIR``, or the same folder) share one store. Raises
    :class:`RecipeError` with every recipe's errors together, and for two recipes that would write
    the same output."""
    collector, projects = Collector(), []
    stores: dict[str, ArtifactStore] = {}
    outputs: dict[Path, Path] = {}
    allowed = tuple(allow_dirs)
    for path in recipe_paths:
        with collector.guard():
            recipe = load_recipe(Path(path), allow_dirs=allowed)
            project = open_recipe(recipe, provider=provider, cache_dir=cache_dir, providers=providers)
            root = str(cache_folder(recipe.root, cache_dir))
            project.store = stores.setdefault(root, project.store)
            for written in recipe.outputs:
                output = written.path.resolve()
                if output in outputs:
                    raise RecipeError(
                        f"output {written.path} is also the output of {outputs[output]}",
                        written.location,
                        "give every recipe of a batch its own output",
                    )
                outputs[output] = recipe.path
            projects.append(project)
    collector.raise_any()
    _check_across([p.graph.recipe for p in projects])
    return Batch(projects)


def _check_across(recipes: Sequence[Recipe]) -> None:
    """Refuse an output or sidecar of one recipe of a batch that would replace another recipe of it,
    a file another reads, or a file another writes (``ep.mp3`` and ``ep.wav`` of two recipes in one
    folder share ``ep.manifest.json``); each recipe's own are checked by ``check_outputs``. Raises
    :class:`RecipeError`."""
    read: dict[Path, tuple[str, Path]] = {}
    for recipe in recipes:
        read[recipe.path.resolve()] = ("the recipe itself", recipe.path)
        read.update({path: (shown, recipe.path) for path, shown in recipe.confinement.inputs.items()})
    written: dict[Path, Path] = {}  # every file a recipe writes → that recipe
    for recipe in recipes:
        for output in recipe.outputs:
            files = {"output": output.path, **sidecar_paths(output.path, output.sidecar_stem)}
            for role, path in files.items():
                target = path.resolve()
                label = f"output {path}" if role == "output" else f"{path} (written beside output {output.path})"
                clash = next(
                    (
                        f"would replace {shown} of {owner}, which that recipe reads"
                        for file, (shown, owner) in read.items()
                        if owner != recipe.path
                        and (file == target or (role in SIDECAR_FOLDERS and file.is_relative_to(target)))
                    ),
                    None,
                )
                if clash is None and written.get(target, recipe.path) != recipe.path:
                    clash = f"is also written by {written[target]}"
                if clash is not None:
                    raise RecipeError(
                        f"{label} {clash}", output.location, "give every recipe of a batch files of its own"
                    )
                written.setdefault(target, recipe.path)
