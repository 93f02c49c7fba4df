"""A recipe opened for work: load → expand → plan → run → bounce. The engine's thin front door;
``audioflow.cli`` (and the Python API) only call these.

Open a project from a recipe file (:func:`open_project`), from recipe text with the folder it lives
in (:func:`open_text`), or from a loaded :class:`~audioflow.recipe.Recipe` (:func:`open_recipe`).
:meth:`Project.arun` runs in an event loop that is already running (Jupyter, web apps);
:meth:`Project.run` wraps it in ``asyncio.run``.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from ..cache import ArtifactStore, open_store, sha256_hex, write_atomic
from ..cache.index import RecordIndex
from ..cache.records import object_key
from ..cache.s3 import local_root
from ..errors import AudioflowError, CacheError, RecipeError
from ..providers import PROVIDERS, Provider, ProviderSettings
from ..recipe import Recipe, StepGraph, expand, load_recipe, parse_recipe
from ..recipe.outputs import Output
from ..recipe.paths import cache_folder, check_outputs, sidecar_paths
from .bounce import Bounced, Manifest, bounce
from .budget import Budget, check_budget
from .events import StepEvent, StepStatus
from .outcomes import RunResult, settle_cached
from .staleness import Plan, PlanStatus, make_plan, recipe_key
from .warm import warm_imports

#: Renders the report page of one output somewhere else (a cluster's worker): (plan, result, the
#: output file, its master step id, its manifest JSON) → the page (UTF-8 HTML); raises AudioflowError.
PageRenderer = Callable[[Plan, RunResult, Path, str, dict[str, Any]], bytes]

if TYPE_CHECKING:
    from distributed import Client
    from pydub import AudioSegment

    from ..audio import Audio

__all__ = [
    "PageRenderer",
    "Project",
    "RunOptions",
    "RunReport",
    "execute_plans",
    "make_providers",
    "open_project",
    "open_recipe",
    "open_text",
    "page_renderer",
    "provider_settings",
    "ready_paid_providers",
    "warm_cluster",
]


class RunOptions(TypedDict, total=False):
    """How :meth:`Project.run` runs: ``jobs`` caps steps worked on this machine at once (default 4;
    remote requests use each provider's concurrency); ``keep_going`` still renders what does not
    depend on a failed step; ``on_event`` hears every :class:`StepEvent`; ``budget_usd`` caps spending;
    ``cluster`` (a ``distributed.Client``) runs the steps on that Dask cluster instead of this process;
    ``only`` runs just those steps and what they need (the output is bounced only when ``master`` is
    among them); ``force`` renders those steps again even though the store holds them (steps on a
    free, local provider or audioflow's own only: a paid step's new rendering is a new ``take``);
    ``report`` False writes no HTML report beside the outputs (default True: a batch that needs only
    its outputs saves the report's figures, about a second of CPU each)."""

    jobs: int
    keep_going: bool
    on_event: Callable[[StepEvent], None] | None
    budget_usd: float | None
    cluster: Client | None
    only: Collection[str] | None
    force: Collection[str] | None
    report: bool


def ready_paid_providers(plans: Iterable[tuple[Plan, Mapping[str, Provider]]]) -> None:
    """Check (:meth:`Provider.ready`: a key is set) every provider a plan will pay, before anything runs."""
    for plan, providers in plans:
        paid = {p.step.provider for p in plan.steps.values() if p.status == PlanStatus.STALE and p.cost_usd != 0.0}
        for name in sorted(n for n in paid if n is not None):
            providers[name].ready()


async def execute_plans(
    items: Sequence[tuple[Plan, ArtifactStore, Mapping[str, Provider]]],
    options: RunOptions,
    budget: Budget,
    on_result: Callable[[int, RunResult], None] | None = None,
) -> list[RunResult]:
    """Run plans with the local asyncio scheduler, or on the Dask cluster ``options["cluster"]``;
    ``on_result(i, result)`` hears each plan's result as soon as its steps have ended (on the
    cluster, from the thread that collects its results)."""
    import asyncio  # here and below: a no-op run (Project.run) starts no event loop and imports no asyncio

    from .scheduler import arun_plans

    client = options.get("cluster")
    if client is not None:
        from .cluster import run_on_cluster

        return await asyncio.to_thread(
            run_on_cluster,
            items,
            client,
            keep_going=options.get("keep_going", False),
            on_event=options.get("on_event"),
            budget=budget,
            on_result=on_result,
        )
    if any(plan.stale for plan, _, _ in items):
        warm_imports()  # what the steps and the report will import, overlapped with the first steps
    return await arun_plans(
        items,
        jobs=options.get("jobs", 4),
        keep_going=options.get("keep_going", False),
        on_event=options.get("on_event"),
        budget=budget,
        on_result=on_result,
    )


def warm_cluster(options: RunOptions, stores: Sequence[ArtifactStore]) -> None:
    """With a cluster (``options["cluster"]``), start warming its workers for ``stores`` while this
    process plans (:func:`.cluster.warm_workers`)."""
    client = options.get("cluster")
    if client is not None:
        from .cluster import warm_workers

        warm_workers(client, stores)


def page_renderer(options: RunOptions, store: ArtifactStore) -> PageRenderer | None:
    """Where a run's report pages are rendered: on its cluster's workers (``options["cluster"]``,
    :mod:`.cluster_pages`) for recipes whose cache is ``store``, else None (in this process)."""
    client = options.get("cluster")
    if client is None or not options.get("report", True):
        return None
    from .cluster_pages import page_renderer as on_cluster

    return on_cluster(client, store)


@dataclass
class RunReport:
    """A finished run: per-step outcomes, the bounced output, its manifest file and the typed
    manifest (``output`` and the manifest are None when a step failed and nothing was bounced),
    ``warnings`` (problems that did not stop it: a state the cache could not record, a report not
    written), the HTML ``report_pages`` (every page this run wrote, or found already showing it, one
    per output; after a failure, the failed-run pages) and :attr:`report`, the first of them.
    ``outputs`` holds every output bounced (``output`` and ``manifest`` are the first's), each with
    its QC report; :attr:`qc_failures` lists those that fail their preset."""

    result: RunResult
    output: Path | None
    manifest_path: Path | None
    manifest: Manifest | None
    warnings: list[str] = field(default_factory=list)
    outputs: tuple[Bounced, ...] = ()

    @property
    def qc_failures(self) -> tuple[Bounced, ...]:
        """The bounced outputs whose QC report fails their preset."""
        return tuple(b for b in self.outputs if not b.qc.passed)

    report_pages: tuple[Path, ...] = ()

    @property
    def report(self) -> Path | None:
        """The report page beside the first output (None when none was written)."""
        return next(iter(self.report_pages), None)

    @property
    def ok(self) -> bool:
        """Every step rendered or was cached (and the output was written)."""
        return self.result.ok and self.output is not None

    def audio(self, step_id: str = "master") -> Audio:
        """The artifact of ``step_id`` (default: the master) decoded to float32 :class:`Audio`
        (frames × channels, at its own rate). Raises :class:`KeyError` for an unknown step id and
        :class:`~audioflow.errors.AudioflowError` when the step has no artifact (it failed or did not run)."""
        outcome = self.result.outcomes[step_id]
        if outcome.record is None:
            raise AudioflowError(f"step {step_id} has no artifact: it {outcome.status}")
        from ..audio import decode_file  # the audio stack, only when audio is asked for

        return decode_file(outcome.record.artifact.path)

    def segment(self, step_id: str = "master", *, sample_width: int = 2) -> AudioSegment:
        """:meth:`audio` as a pydub ``AudioSegment`` (``sample_width`` 2: 16-bit, or 4: 32-bit);
        no ``ffmpeg`` on ``PATH`` is needed. Raises as :meth:`audio` does."""
        from ..audio.segments import to_segment

        return to_segment(self.audio(step_id), sample_width=sample_width)


@dataclass
class Project:
    """A loaded recipe with its step graph, store and providers."""

    graph: StepGraph
    store: ArtifactStore
    providers: Mapping[str, Provider]

    def plan(self) -> Plan:
        """Up-to-date/stale for every step. Raises :class:`RecipeError` before any spending."""
        return make_plan(self.graph, self.store, self.providers)

    async def arun(self, **options: Unpack[RunOptions]) -> RunReport:
        """Render what is stale, then bounce the master to the recipe's output (in the running loop),
        as :class:`RunOptions` say.

        With ``budget_usd``, refuses (:class:`~.budget.BudgetError`) to start when the plan's estimate
        could exceed it or includes a price that is unknown, and stops submitting once spending
        reaches it. Raises :class:`RecipeError` or :class:`~audioflow.errors.ProviderError` (a missing
        key) before any spending; a step's failure is in the report, not raised."""
        import asyncio

        warm_cluster(options, [self.store])
        plan = self.narrow(await asyncio.to_thread(self.plan), options.get("only"), options.get("force"))
        return await self._arun_plan(plan, options)

    async def _arun_plan(self, plan: Plan, options: RunOptions) -> RunReport:
        budget_usd = options.get("budget_usd")
        if budget_usd is not None:
            check_budget(plan.cost_by_provider(), budget_usd)
        ready_paid_providers([(plan, self.providers)])
        (result,) = await execute_plans([(plan, self.store, self.providers)], options, Budget(budget_usd))
        pages = page_renderer(options, self.store)
        return await self.finish(plan, result, report=options.get("report", True), pages=pages)

    def narrow(self, plan: Plan, only: Collection[str] | None, force: Collection[str] | None) -> Plan:
        """``plan`` cut to ``only`` (and what it needs) and with ``force`` rendered again (see
        :class:`RunOptions`). Raises :class:`RecipeError` for an unknown step id or a forced paid step."""
        for option, ids in (("--only", only), ("--force", force)):
            for step_id in ids or ():
                if step_id not in plan.steps and step_id in self.graph.steps:
                    raise RecipeError(f"{option} {step_id}: not among the steps --only runs")
                if step_id not in plan.steps:
                    near = difflib.get_close_matches(step_id, list(self.graph.steps), n=1)
                    hint = f"did you mean {near[0]!r}?" if near else "`audioflow plan` lists the step ids"
                    raise RecipeError(f"{option} {step_id}: no such step", hint=hint)
            if option == "--only" and only:
                plan = plan.only(only)
        paid = [s for s in force or () if (p := plan.steps[s].step.provider) and not self.providers[p].local]
        if paid:
            raise RecipeError(
                f"--force {paid[0]}: a paid step is not rendered again by --force (it would pay again for the "
                "same request)",
                hint="for a new rendering, set `take: 2` (or the next number) on the step: plan shows its price "
                "and --budget caps it",
            )
        return plan.forced(set(force)) if force else plan

    async def finish(
        self, plan: Plan, result: RunResult, *, report: bool = True, pages: PageRenderer | None = None
    ) -> RunReport:
        """Save the recipe's state and bounce its master (when it rendered) after ``result``, with
        its HTML report unless ``report`` is False (rendered by ``pages`` when given: a cluster's
        worker; else here); the :class:`RunReport`. Raises
        :class:`~audioflow.errors.CacheError` when the output cannot be written."""
        import asyncio

        return await asyncio.to_thread(self.finish_now, plan, result, report=report, pages=pages)

    def finish_now(
        self, plan: Plan, result: RunResult, *, report: bool = True, pages: PageRenderer | None = None
    ) -> RunReport:
        """:meth:`finish`, in this thread."""
        warnings = []
        try:
            self._save_state(plan, result)
        except CacheError as exc:  # a read-only cache still bounces a cached render; plan loses its reasons
            warnings.append(f"the recipe's state was not saved: {exc}")
        master = result.outcomes.get("master")
        if master is None or master.record is None:  # nothing bounced (a failure, or --only without master)
            failed: list[Path] = []
            try:
                failed = self._failed_pages(plan, result, report)
            except AudioflowError as exc:
                warnings.append(f"the report was not written: {exc}")
            return RunReport(result, None, None, None, warnings, report_pages=(*failed,))
        previewing = self._start_previews(result) if report and pages is None else None
        try:
            bounced = bounce(plan, result, self.store)
        finally:
            if previewing is not None:
                previewing.join()
        first = bounced[0]
        written: list[Path] = []
        try:
            for each in bounced if report else ():
                written.append(self._write_page(plan, result, each, pages))
        except AudioflowError as exc:  # the outputs stand without their report
            warnings.append(f"the report was not written: {exc}")
        return RunReport(result, first.path, first.manifest_path, first.manifest, warnings, bounced, (*written,))

    def _start_previews(self, result: RunResult) -> threading.Thread | None:
        """When a step rendered (so the pages will be written again), make its take's report preview
        (:mod:`.report_previews`: ffmpeg processes) in a thread while the outputs are bounced; the
        pages then read it from the store. A preview that fails here is made (and reported) by the page."""
        if not any(outcome.status == StepStatus.RENDERED for outcome in result.outcomes.values()):
            return None
        from .report_digest import wanted
        from .report_previews import previews

        def make() -> None:
            with contextlib.suppress(AudioflowError, OSError):
                previews(self.store.root, self.store.tmp_dir, wanted(result))

        thread = threading.Thread(target=make, name="audioflow-previews", daemon=True)
        thread.start()
        return thread

    @staticmethod
    def _failed_pages(plan: Plan, result: RunResult, report: bool) -> list[Path]:
        """The report pages of a run whose master did not render (it failed, or a step below it did):
        which steps failed and why, where each output's report goes; none without a master in the run."""
        master = result.outcomes.get("master")
        if not report or master is None or master.status.ok:
            return []
        from .report_failed import write_failed_pages

        return write_failed_pages(plan, result)

    def _write_page(self, plan: Plan, result: RunResult, each: Bounced, pages: PageRenderer | None) -> Path:
        """The report page of one bounced output, written unless the page beside it already shows
        this run (:func:`~.report_digest.page_digest`): that check imports no audio stack, so a
        no-op run stays light; the writer (matplotlib, numpy) is imported only to write, and
        ``pages`` (when given) renders it instead, this process writing what it returns."""
        from ..recipe.paths import sidecar_paths
        from .report_digest import page_digest, written_digest

        o, manifest = each.output, each.manifest.to_json()
        path = sidecar_paths(each.path, o.sidecar_stem)["report"]
        if written_digest(path) == page_digest(plan, result, each.path, o.step_id, manifest):
            return path
        if pages is not None:
            write_atomic(path, pages(plan, result, each.path, o.step_id, manifest), shared=True)
            return path
        from .report import write_report

        page, _ = write_report(plan, result, self.store, each.path, o.sidecar_stem, o.step_id, manifest=manifest)
        return page

    def report(self) -> Path:
        """Rebuild the HTML report beside each output from the cache, rendering nothing; the first's
        path. Raises :class:`AudioflowError` when the recipe, as it is now, has not been rendered."""
        from .report import cached_result, write_report

        plan = self.plan()
        result = cached_result(plan)
        pages = [
            write_report(
                plan, result, self.store, o.path, o.sidecar_stem, o.step_id, manifest=_manifest_beside(o), force=True
            )[0]
            for o in self.graph.recipe.outputs
        ]
        return pages[0]

    def run(self, **options: Unpack[RunOptions]) -> RunReport:
        """:meth:`arun` in a new event loop (``asyncio.run``); see there. A run with nothing to render
        (every step up to date, no cluster) starts no event loop and no thread."""
        if options.get("cluster") is not None:
            from .scheduler import run_in_new_loop  # with asyncio: only when something runs

            return run_in_new_loop(self.arun(**options))
        plan = self.narrow(self.plan(), options.get("only"), options.get("force"))
        if plan.stale:
            from .scheduler import run_in_new_loop

            return run_in_new_loop(self._arun_plan(plan, options))
        budget_usd = options.get("budget_usd")
        if budget_usd is not None:
            check_budget(plan.cost_by_provider(), budget_usd)
        settled = settle_cached(plan, Budget(budget_usd), options.get("on_event"))
        return self.finish_now(plan, settled, report=options.get("report", True))

    def _save_state(self, plan: Plan, result: RunResult) -> None:
        key = recipe_key(self.graph)
        rendered = any(o.status == StepStatus.RENDERED for o in result.outcomes.values())
        state = plan.state if plan.state is not None and not rendered else self.store.read_state(key)
        steps = dict(state.get("steps", {}))
        for step_id, outcome in result.outcomes.items():
            if outcome.record is None:
                continue
            step = outcome.step
            steps[step_id] = {
                "input_digest": outcome.digest,
                "params": step.params,
                "provider": step.provider,
                "model": plan.steps[step_id].model,
                "take": step.take,
                "take_digest": outcome.record.meta.get("take_digest"),  # gc keeps the paid take it came from
                "upstream": [
                    result.outcomes[d].record.artifact.digest  # type: ignore[union-attr]
                    for d in step.deps
                ],
            }
        steps = {k: v for k, v in steps.items() if k in self.graph.steps}
        if steps != state.get("steps"):  # a no-op rerun rewrites nothing
            self.store.write_state(key, {"steps": steps})
        records = {k: o.record for k, o in result.outcomes.items() if o.record is not None and k in self.graph.steps}
        (plan.index or RecordIndex(self.store, key)).save(records, keep=self.graph.steps)


def _check_provider(provider: str | None, providers: Mapping[str, Provider] | None) -> None:
    known = providers if providers is not None else PROVIDERS
    if provider is not None and provider not in known:
        raise RecipeError(f"--provider {provider}: unknown provider", hint=f"available: {', '.join(known)}")


def _check_recipe(recipe: object) -> None:
    """``TypeError`` unless ``recipe`` is a loaded :class:`Recipe` (a path gets told where paths go)."""
    if isinstance(recipe, Recipe):
        return
    if isinstance(recipe, (str, PathLike)):
        raise TypeError(
            f"open_recipe() takes a Recipe, not the path {str(recipe)!r}: open a recipe file with "
            "audioflow.open(path), or load it first with audioflow.load_recipe(path)"
        )
    raise TypeError(
        f"open_recipe() takes a Recipe (from audioflow.load_recipe or audioflow.parse_recipe), "
        f"got {type(recipe).__name__}"
    )


def open_recipe(
    recipe: Recipe,
    *,
    provider: str | None = None,
    cache_dir: Path | str | None = None,
    providers: Mapping[str, Provider] | None = None,
    inputs: Mapping[str, AudioSegment | Audio] | None = None,
) -> Project:
    """Expand a loaded ``recipe`` into a project. ``provider`` renders every provider step there;
    the store is ``cache_dir`` (a folder or ``s3://bucket/prefix``), else ``$AUDIOFLOW_CACHE_DIR``, else
    ``.audioflow/`` beside the recipe;
    outputs are checked against the inputs, the recipe and the store before the store is touched;
    ``providers`` replaces the built-in ones (tests, custom hosts); ``inputs`` gives ``file`` steps
    their audio (step name → a pydub ``AudioSegment`` or an :class:`Audio`) instead of the file the
    recipe names: it is stored in the cache as float32 WAV and digested by content like any file.
    Raises :class:`RecipeError` (an unknown step name in ``inputs`` too), and ``TypeError`` when
    ``recipe`` is not a :class:`Recipe` (a path: open it with :func:`open_project`, ``audioflow.open``)."""
    _check_recipe(recipe)
    _check_provider(provider, providers)
    root = cache_folder(recipe.root, cache_dir)
    wavs = {name: _as_wav(audio) for name, audio in (inputs or {}).items()}
    given = {name: (local_root(root) / object_key(digest, "wav"), digest) for name, (digest, _) in wavs.items()}
    graph = expand(recipe, provider=provider, inputs=given)
    check_outputs(recipe, root)
    store = open_store(root)
    for digest, data in wavs.values():
        stored = store.put_bytes(data, "wav")
        assert stored.digest == digest
    if providers is None:
        providers = make_providers(graph)
    return Project(graph, store, providers)


def _as_wav(audio: AudioSegment | Audio) -> tuple[str, bytes]:
    """(sha256, float32 WAV bytes) of audio given through the API."""
    from ..audio import Audio, write_wav
    from ..audio.segments import from_segment

    if not isinstance(audio, Audio):
        try:
            audio = from_segment(audio)
        except AttributeError as exc:
            raise RecipeError(
                f"inputs: expected a pydub AudioSegment or an audioflow Audio, got {type(audio).__name__}"
            ) from exc
    data = write_wav(audio)
    return sha256_hex(data), data


def open_project(
    recipe_path: Path | str,
    *,
    provider: str | None = None,
    cache_dir: Path | str | None = None,
    providers: Mapping[str, Provider] | None = None,
    allow_dirs: Iterable[Path | str] = (),
    inputs: Mapping[str, AudioSegment | Audio] | None = None,
) -> Project:
    """Load and expand the recipe file at ``recipe_path`` (see :func:`open_recipe`). Local inputs may
    come from the recipe's folder, ``allow_dirs`` and ``$AUDIOFLOW_ALLOW_DIRS``. Raises :class:`RecipeError`."""
    _check_provider(provider, providers)
    recipe = load_recipe(Path(recipe_path), allow_dirs=allow_dirs)
    return open_recipe(recipe, provider=provider, cache_dir=cache_dir, providers=providers, inputs=inputs)


def open_text(
    text: str,
    *,
    root: Path | str,
    name: str = "recipe.yaml",
    provider: str | None = None,
    cache_dir: Path | str | None = None,
    providers: Mapping[str, Provider] | None = None,
    allow_dirs: Iterable[Path | str] = (),
    inputs: Mapping[str, AudioSegment | Audio] | None = None,
) -> Project:
    """A project from recipe ``text``, as if it were the file ``root / name``: relative paths resolve
    against ``root``, errors are located in ``name``; local inputs as for :func:`open_project` (see
    :func:`open_recipe`). Raises :class:`RecipeError`."""
    _check_provider(provider, providers)
    recipe = parse_recipe(text, Path(root) / name, allow_dirs=allow_dirs)
    return open_recipe(recipe, provider=provider, cache_dir=cache_dir, providers=providers, inputs=inputs)


def provider_settings(recipe_providers: Mapping[str, Mapping[str, Any]], name: str) -> ProviderSettings:
    """The :class:`ProviderSettings` of provider ``name`` from the recipe's ``providers:`` block."""
    given = dict(recipe_providers.get(name, {}))
    if "concurrency" in given:
        given["concurrency"] = int(given["concurrency"])
    return ProviderSettings(**given)


def make_providers(graph: StepGraph) -> dict[str, Provider]:
    """A provider for every provider name the graph's steps use, with the recipe's settings
    (unknown names are left out: pre-flight reports them at their location)."""
    wanted = {s.provider for s in graph.steps.values() if s.provider}
    settings = graph.recipe.providers
    return {name: PROVIDERS[name](provider_settings(settings, name)) for name in sorted(wanted) if name in PROVIDERS}


def _manifest_beside(output: Output) -> dict[str, Any] | None:
    """The manifest JSON the last bounce wrote beside ``output`` (its QC report gives the report's
    verdict), or None when it is missing or unreadable (the verdict is then the master's loudness)."""
    try:
        data = json.loads(sidecar_paths(output.path, output.sidecar_stem)["manifest"].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
