"""The scheduler: renders the stale steps of a plan concurrently with asyncio.

Every step waits for its upstream steps, then takes a slot of the global ``jobs`` limit (work on
this machine: assembly and the local provider) and, for a provider step, one of that provider's
``max_concurrency`` slots (a remote request takes only those: it waits on its host, not our
cores). Under the step's store lock it looks the digest up again (another run may have rendered
it meanwhile), renders, and stores the artifact before its record, so the store never holds a
partial artifact. Failures are collected, not raised: steps below a failure are ``blocked``;
independent steps finish with ``keep_going``, otherwise no new step starts after the first failure.

A provider step first looks for its raw take under the take digest (see :mod:`.takes`); only when
there is none does it reserve budget, journal and submit a paid request. The journal is cleared
once the take is stored, so a run killed in between resumes the same request next time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..audio import decode_file, read_wav, write_wav
from ..cache import ArtifactStore, StepRecord
from ..errors import AudioflowError, StepError
from ..providers import Provider, Take
from ..recipe import Step
from . import assemble
from .events import StepEvent
from .plan import Plan, resolve_digest
from .takes import Budget, build_request, expected_duration_s, take_digest

__all__ = ["RunResult", "StepOutcome", "run_plan"]

Rendered = tuple[bytes, str, dict[str, Any]]


@dataclass
class StepOutcome:
    """How one step ended: ``status`` is ``rendered``, ``cached``, ``failed``, ``blocked`` or ``skipped``."""

    step: Step
    status: str
    digest: str | None = None
    record: StepRecord | None = None
    error: str | None = None


@dataclass
class RunResult:
    """The outcome of every step, in plan order, and what the run spent."""

    outcomes: dict[str, StepOutcome] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes.values() if o.status == status)

    @property
    def ok(self) -> bool:
        return all(o.status in ("rendered", "cached") for o in self.outcomes.values())


@dataclass
class _Run:
    """What every step of one run shares."""

    plan: Plan
    store: ArtifactStore
    providers: Mapping[str, Provider]
    limits: dict[str | None, asyncio.Semaphore]
    emit: Callable[[StepEvent], None]
    stop: Callable[[], bool]
    budget: Budget
    outcomes: dict[str, StepOutcome]
    digest_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def records(self) -> dict[str, StepRecord | None]:
        return {k: o.record for k, o in self.outcomes.items()}

    @contextlib.asynccontextmanager
    async def locked(self, digest: str) -> AsyncIterator[None]:
        """Hold ``digest``'s lock in this process (asyncio) and across processes (file lock)."""
        async with self.digest_locks.setdefault(digest, asyncio.Lock()):
            lock = self.store.file_lock(digest)
            await asyncio.to_thread(lock.acquire)
            try:
                yield
            finally:
                lock.release()


def _upstream(step: Step, run: _Run) -> list[assemble.Upstream]:
    out = []
    for dep in step.deps:
        record = run.outcomes[dep].record
        assert record is not None
        out.append(assemble.Upstream(dep, run.plan.graph.steps[dep].kind, record.artifact.path, record.meta))
    return out


def _take_meta(take: Take, provider: str, model: str | None) -> dict[str, Any]:
    return {
        "provider": provider,
        "model": model,
        "placeholder": take.placeholder,
        "approximate": take.approximate,
        "notes": list(take.notes),
        "request_id": take.request_id,
        "cost_usd": take.cost_usd,
    }


async def _raw_take(step: Step, run: _Run) -> StepRecord:
    """The raw take of a provider step: from the store, or rendered (and paid for) once."""
    provider = run.providers[step.provider]  # type: ignore[index]
    model = run.plan.steps[step.id].model
    request = build_request(step, run.records())
    digest = take_digest(step, provider, model, request)
    record = run.store.get_step(digest)
    if record is not None:
        return record
    async with run.locked(digest):
        record = run.store.get_step(digest)
        if record is not None:
            return record
        journal = run.store.journal(digest)
        resumed = journal.load() is not None  # paid by an earlier run: resume, reserve nothing
        paid = not getattr(provider, "local", False)
        reserved = 0.0
        if paid and not resumed:
            estimate = provider.estimate_cost_usd(request, expected_duration_s(step, run.records()))
            reserved = run.budget.reserve(step.id, estimate)
            ready = getattr(provider, "ready", None)
            if ready is not None:
                ready()
        try:
            take = await provider.render(replace(request, journal=journal))
        except BaseException:
            run.budget.release(reserved)
            raise
        if paid:
            run.budget.settle(provider.name, reserved, 0.0 if resumed else take.cost_usd)
        artifact = await asyncio.to_thread(run.store.put_bytes, take.data, take.format)
        record = run.store.put_step(digest, artifact, _take_meta(take, provider.name, model))
        journal.clear()
        return record


def _finish(step: Step, raw: StepRecord) -> Rendered:
    """The step's artifact from its raw take: decoded to float32 WAV, then the engine's processing."""
    fmt = raw.artifact.path.suffix.lstrip(".")
    audio = read_wav(raw.artifact.path) if fmt == "wav" else decode_file(raw.artifact.path)
    audio, notes = assemble.finish_take(step.kind, step.params, audio)
    if step.kind == "speak":
        meta = assemble.speech_meta(audio, voice=step.voice, text=step.params.get("text"))
    elif step.kind == "scene":
        meta = assemble.scene_meta(step.params, audio)
    else:
        meta = {"duration_ms": audio.duration_ms, "sample_rate_hz": audio.sample_rate_hz, "channels": audio.channels}
    meta.update({k: raw.meta.get(k) for k in ("provider", "model", "placeholder", "approximate", "request_id")})
    meta["cost_usd"] = raw.meta.get("cost_usd", 0.0)
    meta["notes"] = [*raw.meta.get("notes", []), *notes]
    meta["take_digest"] = raw.input_digest
    return write_wav(audio), "wav", meta


async def _render(step: Step, run: _Run) -> Rendered:
    if step.provider is not None:
        raw = await _raw_take(step, run)
        return await asyncio.to_thread(_finish, step, raw)
    ups = _upstream(step, run)
    if step.kind == "file":
        return await asyncio.to_thread(assemble.import_file, step.files["source"])
    if step.kind == "clone":

        def reference() -> Rendered:  # a user's file in any format, or an upstream float32 WAV artifact
            source = decode_file(step.files["source"]) if "source" in step.files else ups[0].audio()
            return assemble.prepare_reference(step.params, source)

        return await asyncio.to_thread(reference)
    if step.kind == "dialogue":
        return await asyncio.to_thread(assemble.assemble_dialogue, step.params, ups)
    if step.kind == "join":
        return await asyncio.to_thread(assemble.assemble_join, step.params, ups)
    if step.kind == "mix":
        return await asyncio.to_thread(assemble.assemble_mix, step.params, {u.step_id: u for u in ups})
    if step.kind == "master":
        return await asyncio.to_thread(assemble.master_mix, step.params, ups[0])
    raise AudioflowError(f"no renderer for {step.kind} steps")


async def _run_step(step: Step, run: _Run) -> StepOutcome:
    planned = run.plan.steps[step.id]
    if planned.record is not None:  # up-to-date at plan time: the record was read then
        return StepOutcome(step, "cached", planned.digest, planned.record)
    upstream = [run.outcomes[d].record.artifact.digest for d in step.deps]  # type: ignore[union-attr]
    digest = resolve_digest(step, planned.model, upstream)
    record = run.store.get_step(digest)  # a re-rendered upstream may have given already-cached content
    if record is not None:
        return StepOutcome(step, "cached", digest, record)
    async with contextlib.AsyncExitStack() as stack:
        provider = run.providers.get(step.provider) if step.provider else None
        if provider is None or getattr(provider, "local", False):  # work on this machine's cores
            await stack.enter_async_context(run.limits[None])
        if step.provider is not None:  # a remote request waits on its host, not on our cores
            await stack.enter_async_context(run.limits[step.provider])
        # Two steps of one run can share a digest (a repeated line): the second waits here for the first
        # and then finds its record.
        await stack.enter_async_context(run.locked(digest))
        record = run.store.get_step(digest)
        if record is not None:
            return StepOutcome(step, "cached", digest, record)
        if run.stop():  # a step failed while this one waited for a slot: start nothing new
            return StepOutcome(step, "skipped", digest, error="the run stopped after a failure")
        run.emit(StepEvent(step.id, step.kind, "started"))
        data, ext, meta = await _render(step, run)
        meta["step"] = step.id
        artifact = await asyncio.to_thread(run.store.put_bytes, data, ext)
        record = run.store.put_step(digest, artifact, meta)
    return StepOutcome(step, "rendered", digest, record)


async def _run(
    plan: Plan,
    store: ArtifactStore,
    providers: Mapping[str, Provider],
    jobs: int,
    keep_going: bool,
    emit: Callable[[StepEvent], None],
    budget: Budget,
) -> RunResult:
    result = RunResult(budget=budget)
    order = list(plan.steps)
    limits: dict[str | None, asyncio.Semaphore] = {None: asyncio.Semaphore(max(1, jobs))}
    for name, provider in providers.items():
        limits[name] = asyncio.Semaphore(max(1, provider.max_concurrency))
    done = {step_id: asyncio.Event() for step_id in order}
    failed = asyncio.Event()
    run = _Run(
        plan, store, providers, limits, emit, lambda: failed.is_set() and not keep_going, budget, result.outcomes
    )

    async def one(step_id: str) -> None:
        step = plan.graph.steps[step_id]
        try:
            for dep in step.deps:
                await done[dep].wait()
            bad = [d for d in step.deps if result.outcomes[d].status not in ("rendered", "cached")]
            if bad:
                outcome = StepOutcome(step, "blocked", error=f"upstream step {bad[0]} did not render")
            elif run.stop():
                outcome = StepOutcome(step, "skipped", error="the run stopped after a failure")
            else:
                try:
                    outcome = await _run_step(step, run)
                except (AudioflowError, StepError) as exc:
                    outcome = StepOutcome(step, "failed", error=str(exc))
                except Exception as exc:  # a bug or a library error: report it by step, keep going
                    outcome = StepOutcome(step, "failed", error=f"{type(exc).__name__}: {exc}")
                if outcome.status == "failed":
                    failed.set()
            result.outcomes[step_id] = outcome
            emit(StepEvent(step_id, step.kind, outcome.status, outcome.error or ""))
        finally:
            done[step_id].set()

    await asyncio.gather(*(one(s) for s in order))
    result.outcomes = {s: result.outcomes[s] for s in order}
    return result


def run_plan(
    plan: Plan,
    store: ArtifactStore,
    providers: Mapping[str, Provider],
    *,
    jobs: int = 4,
    keep_going: bool = False,
    on_event: Callable[[StepEvent], None] | None = None,
    budget: Budget | None = None,
) -> RunResult:
    """Render ``plan``'s stale steps (up-to-date ones are looked up). Never raises for a step's
    failure: see :class:`RunResult`. ``jobs`` caps steps in flight; ``budget`` caps spending
    (a step whose submission could pass it fails with :class:`~.takes.BudgetError`)."""
    return asyncio.run(
        _run(plan, store, providers, jobs, keep_going, on_event or (lambda event: None), budget or Budget())
    )
