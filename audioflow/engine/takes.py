"""Paid takes: building a provider request from a step, caching the take by exactly what the host
is sent, journalling the request, and holding to a budget.

A provider step resolves to two digests. The *step* digest covers everything that decides the
step's artifact (including processing audioflow does afterwards: a voice's ``gain_db``, fitting a
generated sound to its length). The *take* digest covers only what decides the host's output:
``Provider.request_key`` (the body it would send, with content digests for local files), the
provider, the model and the take number. The raw take is stored under the take digest, so
changing a gain, a trim or a mix never pays again; only a change the host would see does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cache import StepRecord, input_digest
from ..errors import AudioflowError
from ..providers import Provider, Reference, RenderRequest
from ..recipe import Step
from ..recipe.graph import CLONE_PREFIX, MAX_REQUEST_MS

__all__ = [
    "Budget",
    "BudgetError",
    "build_request",
    "expected_duration_s",
    "take_digest",
]

#: Speaking rate for cost estimates: about 150 words a minute, 15 characters a second.
CHARS_PER_S = 15.0


class BudgetError(AudioflowError):
    """A render would exceed ``run --budget``: refused before it starts, or stopped before a submit."""


@dataclass
class Budget:
    """Spending against ``limit_usd`` (None: no limit). A paid submission reserves its estimate
    first; the reservation is settled with the actual cost when the take arrives. ``spent_usd``
    counts this run's paid takes only (a resumed request was paid by an earlier run)."""

    limit_usd: float | None = None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    by_provider: dict[str, float] = field(default_factory=dict)
    requests: int = 0

    def reserve(self, step_id: str, estimate_usd: float | None) -> float:
        """Reserve ``estimate_usd`` for a submission; raises :class:`BudgetError` if it could pass the limit."""
        if self.limit_usd is None:
            return estimate_usd or 0.0
        if estimate_usd is None:
            raise BudgetError(f"step {step_id}: its price is unknown, so the budget cannot be held; not submitted")
        if self.spent_usd + self.reserved_usd + estimate_usd > self.limit_usd + 1e-9:
            raise BudgetError(
                f"step {step_id}: budget reached (${self.spent_usd:.4f} spent, ${self.reserved_usd:.4f} in flight, "
                f"this step ~${estimate_usd:.4f}, budget ${self.limit_usd:.2f}); not submitted"
            )
        self.reserved_usd += estimate_usd
        return estimate_usd

    def settle(self, provider: str, reserved_usd: float, cost_usd: float) -> None:
        self.reserved_usd = max(0.0, self.reserved_usd - reserved_usd)
        self.spent_usd += cost_usd
        self.by_provider[provider] = self.by_provider.get(provider, 0.0) + cost_usd
        self.requests += 1

    def release(self, reserved_usd: float) -> None:
        self.reserved_usd = max(0.0, self.reserved_usd - reserved_usd)


def _voice_of(params: dict[str, Any], name: str) -> dict[str, Any]:
    if "voice" in params and params["voice"].get("name") == name:
        return dict(params["voice"])
    return dict(params.get("voices", {}).get(name, {}))


def build_request(step: Step, records: Mapping[str, StepRecord | None]) -> RenderRequest:
    """The provider request of ``step`` with its audio inputs (``Reference``s) taken from the
    upstream ``records`` (a missing record gives a reference without a file: fine for checks and
    estimates, never sent)."""
    refs: list[Reference] = []
    if step.kind == "isolate":
        source = step.params["source"]
        if "url" in source:
            refs.append(Reference("audio", url=source["url"]))
        elif "step" in source:
            refs.append(_from_record("audio", records.get(source["step"])))
        else:
            refs.append(Reference("audio", path=step.files["source"], sha256=source["sha256"]))
    for name in step.params.get("references", []):
        clone = _voice_of(step.params, name).get("clone") or {}
        if "url" in clone:
            refs.append(Reference(name, url=clone["url"]))
        else:
            refs.append(_from_record(name, records.get(f"{CLONE_PREFIX}{name}")))
    return RenderRequest(step.id, step.kind, step.params, step.take, dict(step.files), tuple(refs))


def _from_record(name: str, record: StepRecord | None) -> Reference:
    if record is None:
        return Reference(name)
    return Reference(
        name, path=record.artifact.path, sha256=record.artifact.digest, duration_ms=record.meta.get("duration_ms")
    )


def take_digest(step: Step, provider: Provider, model: str | None, request: RenderRequest) -> str:
    """The digest of the raw take: what the host is sent, the provider, the model and the take."""
    return input_digest(
        kind=f"{step.kind}:take",
        params=provider.request_key(request),
        provider=provider.name,
        model=model,
        upstream=[],
        take=step.take,
    )


def expected_duration_s(step: Step, records: Mapping[str, StepRecord | None]) -> float:
    """The output length a provider step is expected to bill, in seconds (for cost estimates):
    speech at 15 characters a second, a generated sound's own length (at most 120 s a request),
    an isolated stem the length of its source when known."""
    params = step.params
    if step.kind == "speak":
        return max(1.0, len(params["text"]) / CHARS_PER_S)
    if step.kind == "scene":
        return max(1.0, sum(len(line["text"]) for line in params["lines"]) / CHARS_PER_S)
    if step.kind == "generate":
        return min(MAX_REQUEST_MS, float(params["duration_ms"])) / 1000.0
    if step.kind == "isolate":
        source = params["source"]
        record = records.get(source.get("step", ""))
        return float(record.meta.get("duration_ms", 0.0)) / 1000.0 if record else 0.0
    return 0.0
