"""The scheduler: renders the stale steps of a plan concurrently with asyncio.

Every step waits for its upstream steps, then takes a slot of the global ``jobs`` limit (work on
this machine: assembly and local providers) and, for a local provider's step, one of that
provider's ``max_concurrency`` slots. A remote request takes only its provider's slot, and only
while it is at the host (submit, poll, download): it waits on its host, not on our cores, and its
lookups, lease and storing hold no slot. Under the step's store lock it looks the digest up
again (another run may have rendered it meanwhile), renders, and stores the artifact before its
record, so the store never holds a partial artifact. Failures are collected, not raised: steps
below a failure are ``blocked``; independent steps finish with ``keep_going``, otherwise no new
step starts after the first failure.
A failed step keeps its exception (:attr:`StepOutcome.exception`).

A provider step sends the request the plan prepared (prepared again only when an upstream clip was
rendered in this run). It first looks for its raw take under the take digest (see
:mod:`.preflight`); only when there is none does it reserve budget, journal and submit a paid
request (on a shared store, under the digest's lease: :mod:`.leasing`). Once the host answers,
the take's bytes are stored before anything that could still fail, then its record; the journal is
cleared last, so a run killed in between resumes the same request.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from ..cache import Artifact, ArtifactStore, StepRecord
from ..errors import AudioflowError
from ..providers import Journal, PreparedRequest, Provider, Take
from ..recipe import Step
from ..steps import (
    ClonePayload,
    DialoguePayload,
    FilePayload,
    JoinPayload,
    LinesPayload,
    MasterPayload,
    MixPayload,
    SceneJoinPayload,
    StemPayload,
)
from . import leasing, preflight
from .budget import Budget, SharedBudget
from .events import StepEvent, StepStatus
from .meta import StepMeta
from .outcomes import RunResult, StepOutcome, settle_cached
from .staleness import Plan, StepPlan, resolve_digest

if TYPE_CHECKING:  # builtin_steps holds the audio stack: imported when a built-in step renders
    from . import builtin_steps
    from .builtin_steps import Rendered

__all__ = ["RunResult", "SchedulerOptions", "StepOutcome", "arun_plan", "arun_plans", "run_plan", "settle_cached"]

T = TypeVar("T")
_STORE_THREADS = 4  # store writes at once (each fsyncs: they wait on the disk, not on a core)


@dataclass
class _Run:
    """What every step of one run shares."""

    steps: Mapping[str, StepPlan]
    store: ArtifactStore
    providers: Mapping[str, Provider]
    limits: Mapping[str | None, contextlib.AbstractAsyncContextManager[Any]]
    emit: Callable[[StepEvent], None]
    stop: Callable[[], bool]
    budget: Budget
    outcomes: dict[str, StepOutcome]
    digest_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    shared_budget: SharedBudget | None = None  # a cluster's: held across processes as well as in ``budget``
    #: Trust the plan's misses: a step whose digest the plan looked up (and missed) is not looked up
    #: again under its lock. A cluster's tasks set it (on a bucket each look is a round trip, moments
    #: after the plan's); a paid step's take is still looked up under its lease, so nothing is paid
    #: twice, and a step another run rendered meanwhile is at worst worked again and stored unchanged.
    plan_misses: bool = False
    #: Threads for this machine's work on steps (decoding takes, joins, the mix, the master): its own
    #: pool, so the short store, journal and lock calls in the default pool never queue behind it
    #: (a remote request holds its slot through those: queued, 8 slots sat idle for seconds).
    workers: ThreadPoolExecutor | None = None
    #: Threads for storing what a step made (artifacts and records, fsynced; a finished request's
    #: journal cleared): its own pool, so these writes never delay what a remote request does while
    #: it holds its slot (its journal, its checks) in the default pool. Measured: at the end of each
    #: wave of 8 requests the fsyncs queued there held the next submissions back 50-150 ms.
    stores: ThreadPoolExecutor | None = None

    async def work(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` in :attr:`workers` (the default pool when there is none), with this context."""
        return await _in(self.workers, call, *args)

    async def store_write(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` (a store write) in :attr:`stores` (the default pool when there is none)."""
        return await _in(self.stores, call, *args)

    def records(self) -> dict[str, StepRecord | None]:
        return {k: o.record for k, o in self.outcomes.items()}

    @contextlib.asynccontextmanager
    async def locked(self, digest: str) -> AsyncIterator[None]:
        """Hold ``digest``'s lock in this process (asyncio) and across processes (file lock). The
        file lock is waited for on the event loop (a non-blocking try, then a pause), never in a
        thread: on a Dask worker, threads blocked on locks that other workers' steps held took the
        loop's whole default pool (6 threads on 2 cores), and those holders' own store calls, queued
        behind them in their pools, never ran (a chaos run hung)."""
        async with self.digest_locks.setdefault(digest, asyncio.Lock()):
            lock = self.store.file_lock(digest)
            pause_s = 0.005
            while not lock.try_acquire():  # no blocking call: a few syscalls
                await asyncio.sleep(pause_s)
                pause_s = min(2 * pause_s, 0.1)
            try:
                yield
            finally:
                lock.release()


async def _in(pool: ThreadPoolExecutor | None, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in ``pool`` (``asyncio.to_thread``'s default pool when None), with this context."""
    if pool is None:
        return await asyncio.to_thread(call, *args)
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(pool, context.run, call, *args)


async def _store_call(store: ArtifactStore, call: Callable[..., T], *args: Any) -> T:
    """A lookup ``call(*args)`` on ``store``: in a thread for a remote store (a bucket's round trips
    never block the event loop, which on a Dask worker carries heartbeats and renewals), inline for a
    local one (fast, and steps then reach their slots in recipe order). Writes, which fsync, always
    go to a thread (inline, eight steps finishing at once stalled the loop for a second)."""
    if store.remote:
        return await asyncio.to_thread(call, *args)
    return call(*args)


def _upstream(step: Step, run: _Run) -> list[builtin_steps.Upstream]:
    from . import builtin_steps

    out = []
    for dep in step.deps:
        record = run.outcomes[dep].record
        assert record is not None
        kind = run.outcomes[dep].step.kind
        out.append(builtin_steps.Upstream(dep, kind, record.artifact.path, StepMeta.from_json(record.meta)))
    return out


def _prepared(step: Step, run: _Run) -> PreparedRequest:
    """The plan's prepared request, or (when an upstream clip was pending at plan time) the request
    prepared now with the rendered clips."""
    prepared = run.steps[step.id].prepared
    if prepared is not None and prepared.key is not None:
        return prepared
    return run.providers[step.provider].prepare(preflight.build_request(step, run.records()))  # type: ignore[index]


def _take_meta(take: Take, provider: str, model: str) -> StepMeta:
    """The raw take's meta, its cost made safe to store (a host's NaN or negative figure is noted, not kept)."""
    notes, cost = take.notes, take.cost_usd
    if not (isinstance(cost, int | float) and math.isfinite(cost) and cost >= 0):
        notes, cost = (*notes, f"the host reported a cost of {cost!r}; counted as $0"), 0.0
    return StepMeta(
        provider=provider,
        model=model,
        placeholder=take.placeholder,
        approximate=take.approximate,
        notes=notes,
        request_id=take.request_id,
        cost_usd=float(cost),
        speech_ms=tuple((float(s), float(e)) for s, e in take.line_spans_ms),
    )


async def _request(
    step: Step, run: _Run, prepared: PreparedRequest, journal: Journal, resumed: bool, held: leasing.Held
) -> tuple[Take, StepMeta]:
    """Render ``prepared`` (resuming its journalled request when ``resumed``). A remote request holds
    its provider's slot only from its budget reservation to its settlement: while it is at the host.
    A new submission first confirms the step's lease (``held``): a slot may have been long in coming."""
    provider = run.providers[step.provider]  # type: ignore[index]
    async with contextlib.AsyncExitStack() as slot:
        if not provider.local:  # a local provider's slot was taken with the step's
            await slot.enter_async_context(run.limits[step.provider])
        reserved = shared = 0.0
        if not provider.local and not resumed:
            reserved = run.budget.reserve(step.id, prepared.cost_usd)
            if run.shared_budget is not None:
                try:
                    shared = await run.shared_budget.reserve(step.id, prepared.cost_usd)
                except BaseException:
                    run.budget.release(reserved)
                    raise
            provider.ready()
        try:
            if not resumed:
                await held.confirm()
            take = await provider.render(prepared, journal)
        except BaseException:
            run.budget.release(reserved)
            if shared and run.shared_budget is not None:
                await asyncio.shield(run.shared_budget.release(shared))
            raise
        meta = _take_meta(take, provider.name, prepared.model)
        if not provider.local:
            cost_usd = 0.0 if resumed else meta.cost_usd
            run.budget.settle(provider.name, reserved, cost_usd)
            if run.shared_budget is not None and not resumed:
                with contextlib.suppress(OSError):  # the take is paid for: a lost settlement never discards it
                    await run.shared_budget.settle(shared, cost_usd)
    return take, meta


async def _raw_take(step: Step, run: _Run, prepared: PreparedRequest) -> StepRecord:
    """The raw take of a provider step: from the store, or rendered (and paid for) once. A forced
    step (``run --force``; the facade allows it on free, local providers only) renders its take again."""
    provider = run.providers[step.provider]  # type: ignore[index]
    digest = preflight.take_digest(step, provider.name, prepared)
    planned = run.steps[step.id]
    forced = planned.forced and provider.local
    looked = prepared is planned.prepared and (planned.cost_usd != 0.0 or planned.resumes)
    if not looked and not forced:  # the plan found no take under this digest; one look more, under the lease, suffices
        record = await _store_call(run.store, run.store.get_step, digest)
        if record is not None:
            return record
    async with run.locked(digest), leasing.leased(run.store, digest) as held:  # a lease: on a shared store only
        # A holder that created the lease knows the take has no record and no journal: it reads neither.
        record = None if forced or held.fresh else await _store_call(run.store, run.store.get_step, digest)
        if record is not None:
            return record
        journal = held.journal
        resumed = (
            await _store_call(run.store, journal.load) is not None
        )  # paid by an earlier run: resume, reserve nothing
        take, meta = await _request(step, run, prepared, journal, resumed, held)
        # Paid for: the bytes are stored first, before anything that can still fail.
        artifact = await run.store_write(run.store.put_bytes, take.data, take.format)
        record = await run.store_write(run.store.put_step, digest, artifact, meta.to_json())
        await run.store_write(journal.clear)
        return record


def _finish(step: Step, raw: StepRecord) -> Rendered:
    """The step's artifact from its raw take: decoded to float32 WAV, then the engine's processing."""
    from ..audio import decode_file, read_wav, write_wav
    from . import builtin_steps

    fmt = raw.artifact.path.suffix.lstrip(".")
    audio = read_wav(raw.artifact.path) if fmt == "wav" else decode_file(raw.artifact.path)
    audio, notes = builtin_steps.finish_take(step.payload, audio)
    take = StepMeta.from_json(raw.meta)
    if isinstance(step.payload, LinesPayload):  # a raw take's speech intervals are its lines' spans, if known
        meta = builtin_steps.speech_meta(audio, step.payload, take.speech_ms)
    else:
        meta = StepMeta(audio.duration_ms, audio.sample_rate_hz, audio.channels)
    audio, meta = builtin_steps.with_voice_effects(step.payload, audio, meta)
    meta = replace(
        meta,
        notes=(*take.notes, *notes),
        take_digest=raw.input_digest,
        provider=take.provider,
        model=take.model,
        placeholder=take.placeholder,
        approximate=take.approximate,
        request_id=take.request_id,
        cost_usd=take.cost_usd,
    )
    return write_wav(audio), "wav", meta


async def _render(step: Step, run: _Run, prepared: PreparedRequest | None) -> Rendered:
    from ..audio import decode_file
    from . import builtin_steps

    if prepared is not None:
        raw = await _raw_take(step, run, prepared)
        return await run.work(_finish, step, raw)
    ups = _upstream(step, run)
    payload = step.payload
    if isinstance(payload, FilePayload):
        return await run.work(builtin_steps.import_file, step.files["source"])
    if isinstance(payload, ClonePayload):

        def reference() -> Rendered:  # a user's file in any format, or an upstream float32 WAV artifact
            source = decode_file(step.files["source"]) if "source" in step.files else ups[0].audio()
            return builtin_steps.prepare_reference(payload, source)

        return await run.work(reference)
    if isinstance(payload, DialoguePayload):
        return await run.work(builtin_steps.join_dialogue, payload, ups, run.store.tmp_dir, step.placements)
    if isinstance(payload, SceneJoinPayload):
        return await run.work(builtin_steps.join_scene_parts, payload, ups, run.store.tmp_dir)
    if isinstance(payload, JoinPayload):
        return await run.work(builtin_steps.join_parts, payload, ups)
    if isinstance(payload, MixPayload):
        inputs = {u.step_id: u for u in ups}
        return await run.work(builtin_steps.mix_tracks, payload, inputs, run.store.tmp_dir, step.placements)
    if isinstance(payload, MasterPayload):
        loop = asyncio.get_running_loop()

        def on_stage(name: str) -> None:  # called in the worker thread: the event goes out on the loop
            loop.call_soon_threadsafe(run.emit, StepEvent(step.id, step.kind, StepStatus.PROGRESS, name))

        return await run.work(builtin_steps.master_mix, payload, ups[0], run.store.tmp_dir, on_stage)
    if isinstance(payload, StemPayload):
        inputs = {u.step_id: u for u in ups}
        return await run.work(builtin_steps.mix_stem, payload, inputs, run.store.tmp_dir, step.placements)
    raise AudioflowError(f"no renderer for {step.kind} steps")


async def _run_step(step: Step, run: _Run) -> StepOutcome:
    planned = run.steps[step.id]
    if planned.record is not None:  # up-to-date at plan time: the record was read then
        return StepOutcome(step, StepStatus.CACHED, planned.digest, planned.record)
    upstream = [run.outcomes[d].record.artifact.digest for d in step.deps]  # type: ignore[union-attr]
    prepared = _prepared(step, run) if step.provider is not None else None
    take = preflight.take_digest(step, step.provider, prepared) if prepared is not None else None  # type: ignore[arg-type]
    digest = resolve_digest(step, planned.model, upstream, take)
    # A re-rendered upstream: maybe cached content. The plan looked up its own digest already, and on a
    # bucket (every look a round trip) the look under the lock below is enough.
    if digest != planned.digest and not run.store.remote and not planned.forced:
        record = await _store_call(run.store, run.store.get_step, digest)
        if record is not None:
            return StepOutcome(step, StepStatus.CACHED, digest, record)
    async with contextlib.AsyncExitStack() as stack:
        provider = run.providers.get(step.provider) if step.provider else None
        if provider is None or provider.local:  # work on this machine's cores
            await stack.enter_async_context(run.limits[None])
        if provider is not None and provider.local:  # a remote request takes its slot in _raw_take
            await stack.enter_async_context(run.limits[step.provider])
        # Two steps of one run can share a digest (a repeated line): the second waits here for the first
        # and then finds its record.
        await stack.enter_async_context(run.locked(digest))
        looked = run.plan_misses and digest == planned.digest
        record = None if planned.forced or looked else await _store_call(run.store, run.store.get_step, digest)
        if record is not None:
            return StepOutcome(step, StepStatus.CACHED, digest, record)
        if run.stop():  # a step failed while this one waited for a slot: start nothing new
            return StepOutcome(step, StepStatus.SKIPPED, digest, error="the run stopped after a failure")
        run.emit(StepEvent(step.id, step.kind, StepStatus.STARTED))
        data, ext, meta = await _render(step, run, prepared)
        artifact = await run.work(_store_output, run.store, data, ext)
        meta_json = replace(meta, step=step.id).to_json()
        record = await run.store_write(run.store.put_step, digest, artifact, meta_json)
    return StepOutcome(step, StepStatus.RENDERED, digest, record)


def _store_output(store: ArtifactStore, data: bytes | builtin_steps.WrittenFile, ext: str) -> Artifact:
    """Store a step's output: bytes as they are, a written file adopted by its digest (never read whole)."""
    from . import builtin_steps

    if not isinstance(data, builtin_steps.WrittenFile):
        return store.put_bytes(data, ext)
    try:
        return store.put_file(data.path, ext, digest=data.digest)
    except BaseException:
        data.path.unlink(missing_ok=True)
        raise


def _failure(step: Step, exc: Exception) -> StepOutcome:
    """A failed step's outcome: the message, and the exception itself (a bug keeps its type in the message)."""
    message = str(exc) if isinstance(exc, AudioflowError) else f"{type(exc).__name__}: {exc}"
    return StepOutcome(step, StepStatus.FAILED, error=message, exception=exc)


class SchedulerOptions(TypedDict, total=False):
    """How to run: ``jobs`` caps steps worked on this machine at once (default 4); ``keep_going``
    renders the steps independent of a failure; ``on_event`` hears every :class:`StepEvent`;
    ``budget`` caps spending (a step whose submission could pass it fails with ``BudgetError``);
    ``on_result(i, result)`` hears each plan's result as soon as its own steps have ended."""

    jobs: int
    keep_going: bool
    on_event: Callable[[StepEvent], None] | None
    budget: Budget | None
    on_result: Callable[[int, RunResult], None] | None


async def arun_plan(
    plan: Plan, store: ArtifactStore, providers: Mapping[str, Provider], **options: Unpack[SchedulerOptions]
) -> RunResult:
    """Render ``plan``'s stale steps (up-to-date ones are looked up) in the running event loop,
    as :class:`SchedulerOptions` say. Never raises for a step's failure: see :class:`RunResult`."""
    (result,) = await arun_plans([(plan, store, providers)], **options)
    return result


async def arun_plans(
    items: Sequence[tuple[Plan, ArtifactStore, Mapping[str, Provider]]], **options: Unpack[SchedulerOptions]
) -> list[RunResult]:
    """Render the stale steps of several plans (a batch: each with its store and providers) as one
    graph: they share the ``jobs`` limit, each provider's limit (the smallest of the batch's
    ``max_concurrency``), the digest locks (a step two recipes share renders once; the other finds
    it cached) and the ``budget`` (each result's budget counts its own plan's spending and passes
    it on to ``budget``). A failure stops only its own plan (without ``keep_going``). Events of a
    batch of two or more carry the recipe's path (:attr:`StepEvent.recipe`). Never raises for a
    step's failure."""
    jobs, keep_going = options.get("jobs", 4), options.get("keep_going", False)
    emit = options.get("on_event") or (lambda event: None)
    total = options.get("budget") or Budget()
    limits: dict[str | None, asyncio.Semaphore] = {None: asyncio.Semaphore(max(1, jobs))}
    concurrency: dict[str, int] = {}
    for _, _, providers in items:
        for name, provider in providers.items():
            concurrency[name] = min(concurrency.get(name, provider.max_concurrency), provider.max_concurrency)
    limits.update({name: asyncio.Semaphore(max(1, n)) for name, n in concurrency.items()})
    on_result = options.get("on_result")

    def ended(i: int, result: RunResult) -> None:
        if on_result is not None:
            on_result(i, result)

    digest_locks: dict[str, asyncio.Lock] = {}
    workers = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="audioflow-step")
    stores = ThreadPoolExecutor(max_workers=_STORE_THREADS, thread_name_prefix="audioflow-store")
    results, coroutines = [], []
    for plan, store, providers in items:
        result = RunResult(budget=total if len(items) == 1 else Budget(parent=total))
        label = str(plan.graph.recipe.path) if len(items) > 1 else ""
        run = _Run(plan.steps, store, providers, limits, emit, lambda: False, result.budget, result.outcomes)
        run.digest_locks, run.workers, run.stores = digest_locks, workers, stores
        results.append(result)
        coroutines.append(_run_graph(plan, run, keep_going, label, functools.partial(ended, len(results) - 1, result)))
    try:
        await asyncio.gather(*coroutines)
    finally:
        workers.shutdown(wait=False, cancel_futures=True)
        stores.shutdown(wait=False, cancel_futures=True)
    return results


async def _run_graph(
    plan: Plan, run: _Run, keep_going: bool, label: str, ended: Callable[[], None] = lambda: None
) -> None:
    """Run every step of one plan in ``run`` (its outcomes end in plan order), then ``ended()``."""
    order = list(plan.steps)
    done = {step_id: asyncio.Event() for step_id in order}
    failed = asyncio.Event()
    run.stop = lambda: failed.is_set() and not keep_going
    outer = run.emit
    emit = outer if not label else (lambda event: outer(replace(event, recipe=label)))
    run.emit = emit

    async def one(step_id: str) -> None:
        step = plan.graph.steps[step_id]
        try:
            for dep in step.deps:
                await done[dep].wait()
            bad = [d for d in step.deps if not run.outcomes[d].status.ok]
            if bad:
                outcome = StepOutcome(step, StepStatus.BLOCKED, error=f"upstream step {bad[0]} did not render")
            elif run.stop():
                outcome = StepOutcome(step, StepStatus.SKIPPED, error="the run stopped after a failure")
            else:
                try:
                    outcome = await _run_step(step, run)
                except Exception as exc:  # kept whole in the outcome (AUDIOFLOW_DEBUG shows its traceback)
                    outcome = _failure(step, exc)
                    failed.set()
            run.outcomes[step_id] = outcome
            emit(StepEvent(step_id, step.kind, outcome.status, outcome.error or ""))
        finally:
            done[step_id].set()

    # Every step ends before the graph does, even when the run is cancelled (Ctrl-C, SIGTERM): a plain
    # gather would end at the first cancelled step, and asyncio.run would then cancel a paid submission
    # still waiting for its answer or journal. A step's own errors are in its outcome; only a
    # cancellation or an interrupt is raised.
    for ended_as in await asyncio.gather(*(one(s) for s in order), return_exceptions=True):
        if isinstance(ended_as, BaseException):
            raise ended_as
    ordered = {s: run.outcomes[s] for s in order}
    run.outcomes.clear()
    run.outcomes.update(ordered)
    ended()


def run_plan(
    plan: Plan, store: ArtifactStore, providers: Mapping[str, Provider], **options: Unpack[SchedulerOptions]
) -> RunResult:
    """:func:`arun_plan` in a new event loop (``asyncio.run``)."""
    return run_in_new_loop(arun_plan(plan, store, providers, **options))


def run_in_new_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, returning ``main``'s result through a box: ``asyncio.run`` ends by
    restoring the SIGINT handler, and ``signal.signal`` formats (then discards) a ``ValueError``
    whose message holds the repr of the main task, result included; a report of a 500-step run
    took 0.15 s to repr. Here the main task's result is None."""
    box: list[T] = []

    async def boxed() -> None:
        box.append(await main)

    asyncio.run(boxed())
    return box[0]
