"""Up-to-date checks, apart from running (as doit's ``dependency.py``): for each step, its input
digest where it can be known, whether the store holds its artifact, and the reason when it does not.

A step's digest needs its upstream artifacts' content digests, so a step below a stale one is stale
too ("upstream stale"). Reasons compare with what the step id resolved to on the last run of the
same recipe (``ArtifactStore.read_state``): "never rendered", "changed: text", "take changed"…
Every provider step's request is prepared here, once (:func:`.preflight.prepare`): its model is part
of the digest, its estimate is the plan's cost, and the scheduler sends that same prepared request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from ..cache import ArtifactStore, StepRecord, input_digest, record_key
from ..cache.index import RecordIndex
from ..errors import CacheError
from ..providers import PreparedRequest, Provider
from ..recipe import Step, StepGraph
from ..steps import StepKind
from . import preflight

__all__ = ["Plan", "PlanStatus", "StepPlan", "changed_keys", "make_plan", "recipe_key", "resolve_digest"]


class PlanStatus(StrEnum):
    """Whether a step's artifact is in the store (``up-to-date``) or must be rendered (``stale``)."""

    UP_TO_DATE = "up-to-date"
    STALE = "stale"


@dataclass
class StepPlan:
    """What plan says of one step. ``prepared`` is its provider request (built once; a pending one
    when an upstream clip is still to be rendered). ``cost_usd`` is the estimated price of rendering
    a stale provider step (0 when its paid take is already stored, None when the price is unknown);
    ``resumes`` marks a paid request an earlier run left in flight; ``forced`` a step rendered again
    even though the store holds it (``run --force``: its stored artifact and raw take are not looked up)."""

    step: Step
    status: PlanStatus
    reason: str
    digest: str | None = None
    record: StepRecord | None = None
    prepared: PreparedRequest | None = None
    cost_usd: float | None = 0.0
    resumes: bool = False
    forced: bool = False

    @property
    def model(self) -> str | None:
        return self.prepared.model if self.prepared is not None else None


@dataclass
class Plan:
    """The plan of a whole graph, steps in execution order; ``state`` is the recipe's last-run state
    and ``index`` its record index as planning read them (saving after a no-op run reuses them)."""

    graph: StepGraph
    steps: dict[str, StepPlan]
    state: dict[str, Any] | None = dataclasses.field(default=None, repr=False, compare=False)
    index: RecordIndex | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def stale(self) -> list[str]:
        return [s for s, p in self.steps.items() if p.status == PlanStatus.STALE]

    def cost_by_provider(self) -> dict[str, tuple[float, int, int]]:
        """Provider → (estimated USD of its stale paid steps, paid requests, requests of unknown price)."""
        out: dict[str, tuple[float, int, int]] = {}
        for p in self.steps.values():
            if p.status != PlanStatus.STALE or p.step.provider is None or p.cost_usd == 0.0:
                continue
            usd, count, unknown = out.get(p.step.provider, (0.0, 0, 0))
            out[p.step.provider] = (usd + (p.cost_usd or 0.0), count + 1, unknown + (p.cost_usd is None))
        return out

    def only(self, step_ids: Collection[str]) -> Plan:
        """The plan of ``step_ids`` and every step they need (upstream), in execution order
        (``run --only``). Raises ``KeyError`` for an unknown step id."""
        needed: set[str] = set()
        todo = list(step_ids)
        while todo:
            step_id = todo.pop()
            if step_id not in needed:
                needed.add(step_id)
                todo += self.steps[step_id].step.deps
        return replace(self, steps={s: p for s, p in self.steps.items() if s in needed})

    def forced(self, step_ids: Collection[str]) -> Plan:
        """This plan with ``step_ids`` rendered again even where the store holds them (``run --force``),
        and the up-to-date steps that read them planned stale (their digests are known only after)."""
        below: set[str] = set()
        steps: dict[str, StepPlan] = {}
        for step_id, planned in self.steps.items():
            if step_id in step_ids:
                steps[step_id] = replace(planned, status=PlanStatus.STALE, reason="forced", record=None, forced=True)
            elif any(d in step_ids or d in below for d in planned.step.deps):
                below.add(step_id)
                if planned.status == PlanStatus.UP_TO_DATE:
                    planned = replace(planned, status=PlanStatus.STALE, reason="upstream forced", record=None)
                steps[step_id] = planned
            else:
                steps[step_id] = planned
        return replace(self, steps=steps)


def recipe_key(graph: StepGraph) -> str:
    """The key under which the store keeps this recipe's last-run state."""
    return str(graph.recipe.path.resolve())


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two canonical param trees differ (``voice.speed``, ``tracks[2].gain_db``)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            out += changed_keys(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [k for i, (a, b) in enumerate(zip(old, new, strict=True)) for k in changed_keys(a, b, f"{prefix}[{i}]")]
    return [] if old == new else [prefix or "params"]


def resolve_digest(step: Step, model: str | None, upstream: list[str], take_digest: str | None = None) -> str:
    """The input digest of ``step`` given its model id and upstream artifact digests (in dep order).

    A provider step's artifact is made from its raw take, so the take's digest (exactly what the
    host is sent: :func:`~.preflight.take_digest`) counts as its last upstream input: a change in
    what an adapter sends (a preset carried from another host, say) re-renders the step, while a
    change the host never sees re-finishes it from the same stored take."""
    inputs = [*upstream, take_digest] if take_digest is not None else upstream
    return input_digest(
        kind=step.kind, params=step.params, provider=step.provider, model=model, upstream=inputs, take=step.take
    )


def _reason(step: Step, prev: dict[str, Any] | None, model: str | None, upstream_stale: list[str]) -> str:
    if prev is None:
        return "never rendered" if not upstream_stale else f"upstream stale: {', '.join(upstream_stale[:3])}"
    changes = [f"{k}" for k in changed_keys(prev.get("params"), step.params)]
    for field, now in (("provider", step.provider), ("model", model), ("take", step.take)):
        if prev.get(field) != now:
            changes.append(field)
    parts = [f"changed: {', '.join(changes[:4])}"] if changes else []
    if upstream_stale:
        parts.append(f"upstream stale: {', '.join(upstream_stale[:3])}")
    return "; ".join(parts) or "not in the cache"


def _stale_reason(
    step: Step, prev: dict[str, Any] | None, model: str | None, digest: str, upstream: list[str], store: ArtifactStore
) -> str:
    if damage := store.damage(record_key(digest)):
        where = "set aside" if damage.set_aside else "left in place"
        return f"damaged in cache: {where}, re-rendering ({damage.problem})"
    if prev and prev.get("input_digest") == digest:
        return "artifact missing from the cache"
    if prev and prev.get("upstream") != upstream and not changed_keys(prev.get("params"), step.params):
        changed = [d for d, a in zip(step.deps, upstream, strict=True) if a not in (prev.get("upstream") or [])]
        return f"upstream changed: {', '.join(changed[:3]) or 'order'}"
    return _reason(step, prev, model, [])


def _price(planned: StepPlan, store: ArtifactStore) -> None:
    """Set the estimated cost of a stale provider step, and whether it resumes an earlier request."""
    prepared = planned.prepared
    assert prepared is not None and planned.step.provider is not None
    if prepared.key is not None:
        digest = preflight.take_digest(planned.step, planned.step.provider, prepared)
        lease = store.lease(digest)
        if lease is not None and lease.overdue() is None:
            # A shared store with no lease on the take: by the lease rule (:mod:`audioflow.cache.leases`)
            # it has neither a record nor a journal, so one look replaces two.
            planned.cost_usd = prepared.cost_usd
            return
        if store.get_step(digest) is not None:
            planned.cost_usd = 0.0
            return
        try:
            journalled = store.journal(digest).load() is not None
        except CacheError as exc:  # an unreadable paid-request journal: the run will not submit this step
            planned.cost_usd, planned.reason = 0.0, f"{planned.reason}; cannot run: {exc}"
            return
        if journalled:
            planned.cost_usd, planned.resumes = 0.0, True
            planned.reason += "; resumes a paid request"
            return
    planned.cost_usd = prepared.cost_usd


def make_plan(graph: StepGraph, store: ArtifactStore, providers: Mapping[str, Provider]) -> Plan:
    """Plan every step of ``graph`` against ``store``. Raises :class:`RecipeError` (located at the
    step or voice) for an unknown provider or a request a provider refuses, before anything is rendered.

    A cached artifact that a stale step will read is content-checked first, as the bounced master is
    (skipped where the record index saw the object unchanged since it was written or verified): a
    damaged one is set aside and planned stale, so it is rendered afresh instead of being mixed or
    mastered into the output."""
    preflight.check_graph(graph, providers)
    distrusted: set[str] = set()  # input digests whose object failed its check: misses from now on
    while True:
        plan = _plan_once(graph, store, providers, distrusted)
        if not _damaged_inputs(plan, distrusted):
            return plan


def _damaged_inputs(plan: Plan, distrusted: set[str]) -> bool:
    """Check the content of every up-to-date artifact a stale step reads; add the input digests of
    damaged ones (set aside by the store) to ``distrusted``. True when one was found."""
    assert plan.index is not None
    if plan.index.store.remote:  # a bucket's objects are checked as they are mirrored; a re-read costs a round trip
        return False
    checked: set[str] = set()
    found = False
    for planned in plan.steps.values():
        if planned.status != PlanStatus.STALE:
            continue
        for dep in planned.step.deps:
            record = plan.steps[dep].record
            if record is None or dep in checked:
                continue
            checked.add(dep)
            if plan.index.get_step(dep, record.input_digest, verify=True) is None:
                distrusted.add(record.input_digest)
                found = True
    return found


def _plan_once(
    graph: StepGraph, store: ArtifactStore, providers: Mapping[str, Provider], distrusted: Collection[str]
) -> Plan:
    read_state = store.read_state(recipe_key(graph))
    state = read_state.get("steps", {})
    index = RecordIndex(store, recipe_key(graph))  # one file read instead of a record per step
    plans: dict[str, StepPlan] = {}
    for step_id in graph.order():
        step = graph.steps[step_id]
        records = {d: plans[d].record for d in step.deps}
        prepared = preflight.prepare(graph, step, providers, records) if step.provider else None
        model = prepared.model if prepared is not None else None
        upstream_stale = [d for d, r in records.items() if r is None]
        prev = state.get(step_id)
        if upstream_stale:
            reason = _reason(step, prev, model, upstream_stale)
            plans[step_id] = StepPlan(step, PlanStatus.STALE, reason, prepared=prepared)
        else:
            upstream = [r.artifact.digest for r in records.values() if r is not None]
            take = preflight.take_digest(step, step.provider, prepared) if prepared and step.provider else None
            digest = resolve_digest(step, model, upstream, take)
            verify = step.kind == StepKind.MASTER  # what is bounced: checked
            record = None if digest in distrusted else index.get_step(step_id, digest, verify=verify)
            if record is not None:
                label = "cached (placeholder)" if bool(record.meta.get("placeholder", False)) else "cached"
                plans[step_id] = StepPlan(step, PlanStatus.UP_TO_DATE, label, digest, record, prepared)
            else:
                reason = _stale_reason(step, prev, model, digest, upstream, store)
                plans[step_id] = StepPlan(step, PlanStatus.STALE, reason, digest, None, prepared)
        if plans[step_id].status == PlanStatus.STALE and prepared is not None:
            _price(plans[step_id], store)
    return Plan(graph, plans, read_state, index)
