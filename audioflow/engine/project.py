"""A recipe opened for work: load → expand → plan → run → bounce (output, manifest, transcripts).

This is the engine's front door; ``cli.py`` only parses arguments, calls these and prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..cache import ArtifactStore, write_atomic
from ..errors import CacheError, RecipeError
from ..providers import PROVIDERS, Provider, ProviderSettings
from ..recipe import StepGraph, expand, load_recipe
from ..recipe.paths import cache_folder, check_outputs, sidecar_paths
from .events import StepEvent
from .plan import Plan, make_plan, recipe_key
from .runner import RunResult, run_plan
from .takes import Budget, BudgetError
from .transcript import to_srt, to_vtt

__all__ = ["Project", "RunReport", "open_project"]


@dataclass
class RunReport:
    """A finished run: per-step outcomes, the bounced output and its manifest (None if it failed),
    and ``warnings`` (problems that did not stop it: a state the cache could not record)."""

    result: RunResult
    output: Path | None
    manifest_path: Path | None
    manifest: dict[str, Any] | None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Project:
    """A loaded recipe with its step graph, store and providers."""

    graph: StepGraph
    store: ArtifactStore
    providers: Mapping[str, Provider]

    def plan(self) -> Plan:
        """Up-to-date/stale for every step. Raises :class:`RecipeError` before any spending."""
        return make_plan(self.graph, self.store, self.providers)

    def run(
        self,
        *,
        jobs: int = 4,
        keep_going: bool = False,
        on_event: Callable[[StepEvent], None] | None = None,
        budget_usd: float | None = None,
    ) -> RunReport:
        """Render what is stale, then bounce the master to the recipe's output.

        With ``budget_usd``, refuses (:class:`BudgetError`) to start when the plan's estimate could
        exceed it or includes a price that is unknown, and stops submitting once spending reaches
        it. Raises :class:`RecipeError` or :class:`ProviderError` (a missing key) before any spending."""
        plan = self.plan()
        if budget_usd is not None:
            check_budget(plan, budget_usd)
        for name in {p.step.provider for p in plan.steps.values() if p.status == "stale" and p.cost_usd != 0.0}:
            ready = getattr(self.providers.get(name or ""), "ready", None)
            if ready is not None:
                ready()
        result = run_plan(
            plan,
            self.store,
            self.providers,
            jobs=jobs,
            keep_going=keep_going,
            on_event=on_event,
            budget=Budget(budget_usd),
        )
        warnings = []
        try:
            self._save_state(plan, result)
        except CacheError as exc:  # a read-only cache still bounces a cached render; plan loses its reasons
            warnings.append(f"the recipe's state was not saved: {exc}")
        master = result.outcomes.get("master")
        if master is None or master.record is None:
            return RunReport(result, None, None, None, warnings)
        output, manifest_path, manifest = self._bounce(plan, result)
        return RunReport(result, output, manifest_path, manifest, warnings)

    def _save_state(self, plan: Plan, result: RunResult) -> None:
        key = recipe_key(self.graph)
        state = self.store.read_state(key)
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
        self.store.write_state(key, {"steps": steps})

    def _bounce(self, plan: Plan, result: RunResult) -> tuple[Path, Path, dict[str, Any]]:
        recipe = self.graph.recipe
        master = result.outcomes["master"].record
        assert master is not None
        output = recipe.output
        write_atomic(output, self.store.read_verified(master.artifact), shared=True)  # sha256 checked
        manifest = _manifest(self.graph, plan, result, output)
        sidecars = sidecar_paths(output)  # the same paths validate checked
        segments = master.meta.get("segments", [])
        if segments:
            write_atomic(sidecars["srt"], to_srt(segments).encode(), shared=True)
            write_atomic(sidecars["vtt"], to_vtt(segments).encode(), shared=True)
            manifest["transcripts"] = [sidecars["srt"].name, sidecars["vtt"].name]
        manifest_path = sidecars["manifest"]
        write_atomic(manifest_path, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode(), shared=True)
        return output, manifest_path, manifest


def check_budget(plan: Plan, budget_usd: float) -> None:
    """Refuse a run whose estimated cost could exceed ``budget_usd`` (or cannot be estimated)."""
    costs = plan.cost_by_provider()
    unknown = [name for name, (_, _, n) in costs.items() if n]
    if unknown:
        raise BudgetError(
            f"cannot hold to a budget: {', '.join(unknown)} publishes no price for some requested models "
            "(set providers.<name>.price_per_call_usd in the recipe)"
        )
    total = sum(usd for usd, _, _ in costs.values())
    if total > budget_usd + 1e-9:
        detail = ", ".join(f"{name} ~${usd:.4f} for {n} requests" for name, (usd, n, _) in costs.items())
        raise BudgetError(f"the render could cost ~${total:.4f} ({detail}), over the budget of ${budget_usd:.4f}")


def _manifest(graph: StepGraph, plan: Plan, result: RunResult, output: Path) -> dict[str, Any]:
    recipe = graph.recipe
    master = result.outcomes["master"].record
    assert master is not None
    steps = []
    for step_id, outcome in result.outcomes.items():
        meta = outcome.record.meta if outcome.record else {}
        steps.append(
            {
                "id": step_id,
                "kind": outcome.step.kind,
                "provider": outcome.step.provider,
                "model": plan.steps[step_id].model,
                "take": outcome.step.take,
                "input_digest": outcome.digest,
                "artifact": outcome.record.artifact.digest if outcome.record else None,
                "duration_ms": round(meta.get("duration_ms", 0.0), 1),
                "cached": outcome.status == "cached",
                "placeholder": bool(meta.get("placeholder")),
                "approximate": bool(meta.get("approximate")),
                "notes": meta.get("notes", []),
                **({"request_id": meta["request_id"]} if meta.get("request_id") else {}),
                **({"cost_usd": round(meta["cost_usd"], 6)} if meta.get("cost_usd") else {}),
            }
        )
    m = master.meta
    return {
        "audioflow": __version__,
        "title": recipe.title,
        "recipe": recipe.path.name,
        "output": output.name,
        "format": graph.steps["master"].params["format"],
        "duration_ms": round(m["duration_ms"], 1),
        "sample_rate_hz": m["sample_rate_hz"],
        "loudness": {
            "target_lufs": graph.steps["master"].params["target_lufs"],
            "measured_lufs": round(m["lufs"], 2),
            "target_true_peak_dbtp": graph.steps["master"].params["true_peak_dbtp"],
            "measured_true_peak_dbtp": round(m["true_peak_dbtp"], 2),
            "gain_db": round(m["gain_db"], 2),
            "limited": m["limited"],
            "meter": "ITU-R BS.1770-4 (pyloudnorm), true peak 4x oversampled",
        },
        "placeholders": m.get("placeholders", []),
        "rendered": result.count("rendered"),
        "cached": result.count("cached"),
        "spent_usd": round(result.budget.spent_usd, 6),
        "steps": steps,
    }


def open_project(
    recipe_path: Path,
    *,
    provider: str | None = None,
    cache_dir: Path | None = None,
    providers: Mapping[str, Provider] | None = None,
    allow_dirs: Iterable[Path | str] = (),
) -> Project:
    """Load and expand the recipe at ``recipe_path``. The store is ``cache_dir``, else
    ``$AUDIOFLOW_CACHE_DIR``, else ``.audioflow/`` beside the recipe. Local inputs may come from the
    recipe's folder, ``allow_dirs`` and ``$AUDIOFLOW_ALLOW_DIRS``; outputs are checked against them,
    the recipe and the store before the store is touched. Raises :class:`RecipeError`."""
    known = providers if providers is not None else PROVIDERS
    if provider is not None and provider not in known:
        raise RecipeError(f"--provider {provider}: unknown provider", hint=f"available: {', '.join(known)}")
    recipe = load_recipe(recipe_path, allow_dirs=allow_dirs)
    graph = expand(recipe, provider=provider)
    root = cache_folder(recipe.root, cache_dir)
    check_outputs(recipe, root)
    if providers is None:
        providers = make_providers(graph)
    return Project(graph, ArtifactStore(root), providers)


def provider_settings(recipe_providers: Mapping[str, Mapping[str, Any]], name: str) -> ProviderSettings:
    """The :class:`ProviderSettings` of provider ``name`` from the recipe's ``providers:`` block."""
    given = dict(recipe_providers.get(name, {}))
    if "concurrency" in given:
        given["concurrency"] = int(given["concurrency"])
    return ProviderSettings(**given)


def make_providers(graph: StepGraph) -> dict[str, Provider]:
    """A provider for every provider name the graph's steps use, with the recipe's settings
    (unknown names are left out: ``check_requests`` reports them at their location)."""
    wanted = {s.provider for s in graph.steps.values() if s.provider}
    settings = graph.recipe.providers
    return {name: PROVIDERS[name](provider_settings(settings, name)) for name in sorted(wanted) if name in PROVIDERS}
