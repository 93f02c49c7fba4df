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

from ..audio import decode_file
from ..audio.io import probe_file
from ..cache import ArtifactStore, StepRecord, input_digest, record_key
from ..errors import AudioflowError, CacheError, RecipeError
from ..providers import PROVIDERS, Provider
from ..recipe import Step, StepGraph
from .takes import build_request, expected_duration_s, take_digest

__all__ = [
    "Plan",
    "StepPlan",
    "changed_keys",
    "check_requests",
    "make_plan",
    "recipe_key",
    "resolve_digest",
]


@dataclass
class StepPlan:
    """What plan says of one step: ``status`` is ``up-to-date`` or ``stale``. ``cost_usd`` is the
    estimated price of rendering a stale provider step (0 when its paid take is already stored,
    None when the price is unknown); ``resumes`` marks a paid request an earlier run left in flight."""

    step: Step
    status: str
    reason: str
    digest: str | None = None
    record: StepRecord | None = None
    model: str | None = None
    cost_usd: float | None = 0.0
    resumes: bool = False


@dataclass
class Plan:
    """The plan of a whole graph, steps in execution order."""

    graph: StepGraph
    steps: dict[str, StepPlan]

    @property
    def stale(self) -> list[str]:
        return [s for s, p in self.steps.items() if p.status == "stale"]

    def cost_by_provider(self) -> dict[str, tuple[float, int, int]]:
        """Provider → (estimated USD of its stale paid steps, paid requests, requests of unknown price)."""
        out: dict[str, tuple[float, int, int]] = {}
        for p in self.steps.values():
            if p.status != "stale" or p.step.provider is None or p.cost_usd == 0.0:
                continue
            usd, count, unknown = out.get(p.step.provider, (0.0, 0, 0))
            out[p.step.provider] = (usd + (p.cost_usd or 0.0), count + 1, unknown + (p.cost_usd is None))
        return out


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


def _model(step: Step, providers: Mapping[str, Provider]) -> str | None:
    return providers[step.provider].model_id(build_request(step, {})) if step.provider else None


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


_durations_ms: dict[str, float] = {}


def _check_reference(step: Step) -> None:
    """A clone step whose reference is a file: is there enough of it for the cloning model?"""
    source = step.files.get("source")
    if source is None:
        return
    sha = step.params["source"]["sha256"]
    if sha not in _durations_ms:
        try:
            _durations_ms[sha] = decode_file(source).duration_ms
        except AudioflowError as exc:
            raise RecipeError(f"reference clip {source.name}: {exc}", step.location) from exc
    usable = _durations_ms[sha] - step.params["start_ms"]
    if step.params["duration_ms"] is not None:
        usable = min(usable, step.params["duration_ms"])
    if usable < max(step.params["min_ms"], 1.0):
        raise RecipeError(
            f"reference clip {source.name} gives {max(usable, 0) / 1000:.1f} s of audio; "
            f"the cloning model needs at least {max(step.params['min_ms'], 1.0) / 1000:g} s",
            step.location,
        )


_probed: set[str] = set()


def _check_audio_file(step: Step) -> None:
    """A ``file`` or ``isolate`` step reading a local file: can it be decoded? (a header read)"""
    source = step.files.get("source")
    if source is None or step.kind not in ("file", "isolate"):
        return
    sha = step.params.get("sha256") or step.params["source"]["sha256"]
    if sha not in _probed:
        try:
            probe_file(source)
        except AudioflowError as exc:
            raise RecipeError(str(exc), step.location) from exc
        _probed.add(sha)


def check_requests(graph: StepGraph, providers: Mapping[str, Provider]) -> None:
    """Run every provider's checks on every request it would get, and check local audio files
    (decodable, not truncated; reference clips long enough); spends nothing. Raises
    :class:`RecipeError` located at the step (or at the cast voice a speak step uses)."""
    for step in graph.steps.values():
        if step.kind == "clone":
            _check_reference(step)
        _check_audio_file(step)
        if step.provider is None:
            continue
        if step.provider not in providers:
            doc, base = graph.recipe.document, step.id.split("[")[0]
            path = next((p for p in (("steps", base, "provider"), ("provider",)) if p in doc.locations), None)
            raise RecipeError(
                f"unknown provider {step.provider!r}",
                doc.locate(path) if path else step.location,
                f"available: {', '.join(PROVIDERS)}",
            )
        try:
            providers[step.provider].check(build_request(step, {}))
        except AudioflowError as exc:
            voice = graph.recipe.cast.get(step.voice) if step.voice else None
            where = voice.location if voice is not None and "voice" in str(exc) else step.location
            raise RecipeError(f"step {step.id}: {exc}", where) from exc


def _cost(
    step: Step, plans: dict[str, StepPlan], store: ArtifactStore, providers: Mapping[str, Provider]
) -> tuple[float | None, bool]:
    """(estimated USD, resumes an earlier paid request) of a stale provider step."""
    provider = providers[step.provider]  # type: ignore[index]
    records = {d: plans[d].record for d in step.deps}
    request = build_request(step, records)
    if all(r is not None for r in records.values()):
        digest = take_digest(step, provider, plans[step.id].model if step.id in plans else None, request)
        if store.get_step(digest) is not None:
            return 0.0, False
        if store.journal(digest).load() is not None:
            return 0.0, True
    return provider.estimate_cost_usd(request, expected_duration_s(step, records)), False


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
        record = store.get_step(digest, verify=step.kind == "master")  # what is bounced: its content is checked
        if record is not None:
            label = "cached (placeholder)" if record.meta.get("placeholder") else "cached"
            plans[step_id] = StepPlan(step, "up-to-date", label, digest, record, model)
        else:
            reason = "artifact missing from the cache" if prev and prev.get("input_digest") == digest else None
            if damage := store.damage(record_key(digest)):
                where = "set aside" if damage.set_aside else "left in place"
                reason = f"damaged in cache: {where}, re-rendering ({damage.problem})"
            if (
                reason is None
                and prev
                and prev.get("upstream") != upstream
                and not changed_keys(prev.get("params"), step.params)
            ):
                changed = [d for d, a in zip(step.deps, upstream, strict=True) if a not in (prev.get("upstream") or [])]
                reason = f"upstream changed: {', '.join(changed[:3]) or 'order'}"
            plans[step_id] = StepPlan(step, "stale", reason or _reason(step, prev, model, []), digest, None, model)
    for planned in plans.values():
        if planned.status == "stale" and planned.step.provider is not None:
            try:
                planned.cost_usd, planned.resumes = _cost(planned.step, plans, store, providers)
            except CacheError as exc:  # an unreadable paid-request journal: the run will not submit this step
                planned.cost_usd, planned.reason = 0.0, f"{planned.reason}; cannot run: {exc}"
                continue
            except AudioflowError as exc:  # a check that needed an upstream artifact (a clip's length)
                raise RecipeError(f"step {planned.step.id}: {exc}", planned.step.location) from exc
            if planned.resumes:
                planned.reason += "; resumes a paid request"
    return Plan(graph, plans)
