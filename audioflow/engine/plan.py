"""Up-to-date checks, apart from running (as doit's ``dependency.py``): for each step, its input
digest where it can be known, whether the store holds its artifact, and the reason when it does not.

A step's digest needs its upstream artifacts' content digests, so a step below a stale one is stale
too ("upstream stale"). Reasons compare with what the step id resolved to on the last run of the
same recipe (``ArtifactStore.read_state``): "never rendered", "changed: text", "take changed"…
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..cache import ArtifactStore, StepRecord, input_digest
from ..errors import AudioflowError, RecipeError
from ..providers import PROVIDERS, Provider, RenderRequest
from ..recipe import Step, StepGraph

__all__ = [
    "Plan",
    "StepPlan",
    "changed_keys",
    "check_requests",
    "make_plan",
    "recipe_key",
    "request_for",
    "resolve_digest",
]


@dataclass
class StepPlan:
    """What plan says of one step: ``status`` is ``up-to-date`` or ``stale``."""

    step: Step
    status: str
    reason: str
    digest: str | None = None
    record: StepRecord | None = None
    model: str | None = None


@dataclass
class Plan:
    """The plan of a whole graph, steps in execution order."""

    graph: StepGraph
    steps: dict[str, StepPlan]

    @property
    def stale(self) -> list[str]:
        return [s for s, p in self.steps.items() if p.status == "stale"]


def recipe_key(graph: StepGraph) -> str:
    """The key under which the store keeps this recipe's last-run state."""
    return str(graph.recipe.path.resolve())


def request_for(step: Step) -> RenderRequest:
    """The provider request of a ``speak``/``generate`` step."""
    return RenderRequest(step.id, step.kind, step.params, step.take, dict(step.files))


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


def _model(step: Step, providers: Mapping[str, Provider]) -> str | None:
    return providers[step.provider].model_id(request_for(step)) if step.provider else None


def resolve_digest(step: Step, model: str | None, upstream: list[str]) -> str:
    """The input digest of ``step`` given its model id and upstream artifact digests (in dep order)."""
    return input_digest(
        kind=step.kind, params=step.params, provider=step.provider, model=model, upstream=upstream, take=step.take
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


def check_requests(graph: StepGraph, providers: Mapping[str, Provider]) -> None:
    """Run every provider's checks on every request it would get; spends nothing. Raises
    :class:`RecipeError` located at the step (or at the cast voice a speak step uses)."""
    for step in graph.steps.values():
        if step.provider is None:
            continue
        if step.provider not in providers:
            doc, base = graph.recipe.document, step.id.split("[")[0]
            path = next((p for p in (("steps", base, "provider"), ("provider",)) if p in doc.locations), None)
            raise RecipeError(
                f"unknown provider {step.provider!r}",
                doc.locate(path) if path else step.location,
                f"available: {', '.join(PROVIDERS)}; remote providers are not built yet",
            )
        try:
            providers[step.provider].check(request_for(step))
        except AudioflowError as exc:
            voice = graph.recipe.cast.get(step.voice) if step.voice else None
            where = voice.location if voice is not None and "voice" in str(exc) else step.location
            raise RecipeError(f"step {step.id}: {exc}", where) from exc


def make_plan(graph: StepGraph, store: ArtifactStore, providers: Mapping[str, Provider]) -> Plan:
    """Plan every step of ``graph`` against ``store``. Raises :class:`RecipeError` (located at the
    step) for an unknown provider or a request a provider refuses, before anything is rendered."""
    check_requests(graph, providers)
    state = store.read_state(recipe_key(graph)).get("steps", {})
    plans: dict[str, StepPlan] = {}
    for step_id in graph.order():
        step = graph.steps[step_id]
        model = _model(step, providers)
        upstream_stale = [d for d in step.deps if plans[d].record is None]
        prev = state.get(step_id)
        if upstream_stale:
            plans[step_id] = StepPlan(step, "stale", _reason(step, prev, model, upstream_stale), model=model)
            continue
        upstream = [plans[d].record.artifact.digest for d in step.deps]  # type: ignore[union-attr]
        digest = resolve_digest(step, model, upstream)
        record = store.get_step(digest)
        if record is not None:
            label = "cached (placeholder)" if record.meta.get("placeholder") else "cached"
            plans[step_id] = StepPlan(step, "up-to-date", label, digest, record, model)
        else:
            reason = "artifact missing from the cache" if prev and prev.get("input_digest") == digest else None
            if (
                reason is None
                and prev
                and prev.get("upstream") != upstream
                and not changed_keys(prev.get("params"), step.params)
            ):
                changed = [d for d, a in zip(step.deps, upstream, strict=True) if a not in (prev.get("upstream") or [])]
                reason = f"upstream changed: {', '.join(changed[:3]) or 'order'}"
            plans[step_id] = StepPlan(step, "stale", reason or _reason(step, prev, model, []), digest, None, model)
    return Plan(graph, plans)
