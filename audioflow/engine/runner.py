"""The scheduler: renders the stale steps of a plan concurrently with asyncio.

Every step waits for its upstream steps, then takes a slot of the global ``jobs`` limit and, for a
provider step, one of that provider's ``max_concurrency`` slots. Under the step's store lock it
looks the digest up again (another run may have rendered it meanwhile), renders, and stores the
artifact before its record, so the store never holds a partial artifact. Failures are collected,
not raised: steps below a failure are ``blocked``; independent steps finish with ``keep_going``,
otherwise no new step starts after the first failure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..audio import decode_bytes, read_wav, write_wav
from ..cache import ArtifactStore, StepRecord
from ..errors import AudioflowError
from ..providers import Provider
from ..recipe import Step
from . import assemble
from .events import StepEvent
from .plan import Plan, request_for, resolve_digest

__all__ = ["RunResult", "StepOutcome", "run_plan"]


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
    """The outcome of every step, in plan order."""

    outcomes: dict[str, StepOutcome] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes.values() if o.status == status)

    @property
    def ok(self) -> bool:
        return all(o.status in ("rendered", "cached") for o in self.outcomes.values())


def _upstream(
    step: Step, outcomes: Mapping[str, StepOutcome], graph_steps: Mapping[str, Step]
) -> list[assemble.Upstream]:
    out = []
    for dep in step.deps:
        record = outcomes[dep].record
        assert record is not None
        out.append(assemble.Upstream(dep, graph_steps[dep].kind, record.artifact.path, record.meta))
    return out


def _take_meta(data: bytes, take: Any, step: Step) -> dict[str, Any]:
    audio = read_wav(data)
    meta = (
        assemble.speech_meta(audio, voice=step.voice, text=step.params.get("text"))
        if step.kind == "speak"
        else {"duration_ms": audio.duration_ms, "sample_rate_hz": audio.sample_rate_hz, "channels": audio.channels}
    )
    meta.update(
        placeholder=take.placeholder,
        approximate=take.approximate,
        notes=list(take.notes),
        request_id=take.request_id,
        cost_usd=take.cost_usd,
    )
    return meta


async def _render(
    step: Step, plan: Plan, outcomes: Mapping[str, StepOutcome], providers: Mapping[str, Provider]
) -> tuple[bytes, str, dict[str, Any]]:
    steps = plan.graph.steps
    if step.provider is not None:
        take = await providers[step.provider].render(request_for(step))
        data = take.data
        if take.format != "wav":  # keep every intermediate artifact as float32 WAV
            data = write_wav(decode_bytes(take.data, take.format))
        return data, "wav", await asyncio.to_thread(_take_meta, data, take, step)
    ups = _upstream(step, outcomes, steps)
    if step.kind == "file":
        return await asyncio.to_thread(assemble.import_file, step.files["source"])
    if step.kind == "dialogue":
        return await asyncio.to_thread(assemble.assemble_dialogue, step.params, ups)
    if step.kind == "mix":
        return await asyncio.to_thread(assemble.assemble_mix, step.params, {u.step_id: u for u in ups})
    if step.kind == "master":
        return await asyncio.to_thread(assemble.master_mix, step.params, ups[0])
    raise AudioflowError(f"no renderer for {step.kind} steps")


async def _run_step(
    step: Step,
    plan: Plan,
    store: ArtifactStore,
    outcomes: dict[str, StepOutcome],
    providers: Mapping[str, Provider],
    limits: dict[str | None, asyncio.Semaphore],
    emit: Callable[[StepEvent], None],
    stop: Callable[[], bool],
    same_digest: dict[str, asyncio.Lock],
) -> StepOutcome:
    planned = plan.steps[step.id]
    if planned.record is not None:  # up-to-date at plan time: the record was read then
        return StepOutcome(step, "cached", planned.digest, planned.record)
    upstream = [outcomes[d].record.artifact.digest for d in step.deps]  # type: ignore[union-attr]
    digest = resolve_digest(step, planned.model, upstream)
    record = store.get_step(digest)  # a re-rendered upstream may have given already-cached content
    if record is not None:
        return StepOutcome(step, "cached", digest, record)
    async with contextlib.AsyncExitStack() as stack:
        # Two steps of one run can share a digest (a repeated line): the second waits here for the first
        # and then finds its record, instead of taking the file lock again from the same thread.
        await stack.enter_async_context(same_digest.setdefault(digest, asyncio.Lock()))
        await stack.enter_async_context(limits[None])
        if step.provider is not None:
            await stack.enter_async_context(limits[step.provider])
        lock = store.file_lock(digest)
        await asyncio.to_thread(lock.acquire)
        stack.callback(lock.release)
        record = store.get_step(digest)
        if record is not None:
            return StepOutcome(step, "cached", digest, record)
        if stop():  # a step failed while this one waited for a slot: start nothing new
            return StepOutcome(step, "skipped", digest, error="the run stopped after a failure")
        emit(StepEvent(step.id, step.kind, "started"))
        data, ext, meta = await _render(step, plan, outcomes, providers)
        meta["step"] = step.id
        artifact = await asyncio.to_thread(store.put_bytes, data, ext)
        record = store.put_step(digest, artifact, meta)
    return StepOutcome(step, "rendered", digest, record)


async def _run(
    plan: Plan,
    store: ArtifactStore,
    providers: Mapping[str, Provider],
    jobs: int,
    keep_going: bool,
    emit: Callable[[StepEvent], None],
) -> RunResult:
    result = RunResult()
    order = list(plan.steps)
    limits: dict[str | None, asyncio.Semaphore] = {None: asyncio.Semaphore(max(1, jobs))}
    for name, provider in providers.items():
        limits[name] = asyncio.Semaphore(max(1, provider.max_concurrency))
    done = {step_id: asyncio.Event() for step_id in order}
    failed = asyncio.Event()
    same_digest: dict[str, asyncio.Lock] = {}

    async def one(step_id: str) -> None:
        step = plan.graph.steps[step_id]
        try:
            for dep in step.deps:
                await done[dep].wait()
            bad = [d for d in step.deps if result.outcomes[d].status not in ("rendered", "cached")]
            if bad:
                outcome = StepOutcome(step, "blocked", error=f"upstream step {bad[0]} did not render")
            elif failed.is_set() and not keep_going:
                outcome = StepOutcome(step, "skipped", error="the run stopped after a failure")
            else:
                try:
                    outcome = await _run_step(
                        step,
                        plan,
                        store,
                        result.outcomes,
                        providers,
                        limits,
                        emit,
                        stop=lambda: failed.is_set() and not keep_going,
                        same_digest=same_digest,
                    )
                except AudioflowError as exc:
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
) -> RunResult:
    """Render ``plan``'s stale steps (up-to-date ones are looked up). Never raises for a step's
    failure: see :class:`RunResult`. ``jobs`` caps steps in flight."""
    return asyncio.run(_run(plan, store, providers, jobs, keep_going, on_event or (lambda event: None)))
