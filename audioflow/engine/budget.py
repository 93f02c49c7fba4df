"""Budget and estimates: what a render is expected to bill, refusing a run that could pass
``run --budget``, and holding to it while submitting.

Estimates come from the providers' prepared requests (:attr:`PreparedRequest.cost_usd`, priced by
each vendor's published rates for the output length :func:`expected_duration_s` expects).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..cache import StepRecord
from ..errors import AudioflowError
from ..recipe import Step
from ..steps import MAX_REQUEST_MS, GeneratePayload, IsolatePayload, LinesPayload, StepSource
from .meta import StepMeta

__all__ = ["CHARS_PER_S", "Budget", "BudgetError", "SharedBudget", "check_budget", "expected_duration_s"]

#: Speaking rate for cost estimates: about 150 words a minute, 15 characters a second.
CHARS_PER_S = 15.0


class BudgetError(AudioflowError):
    """A render would exceed ``run --budget``: refused before it starts, or stopped before a submit."""


@dataclass
class Budget:
    """Spending against ``limit_usd`` (None: no limit). A paid submission reserves its estimate
    first; the reservation is settled with the actual cost when the take arrives. ``spent_usd``
    counts this run's paid takes only (a resumed request was paid by an earlier run). A budget with
    a ``parent`` (one recipe of a batch) passes every reservation and payment on to it, so the
    parent's limit holds for the whole batch."""

    limit_usd: float | None = None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    by_provider: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    parent: Budget | None = None

    def reserve(self, step_id: str, estimate_usd: float | None) -> float:
        """Reserve ``estimate_usd`` for a submission; raises :class:`BudgetError` if it could pass the limit."""
        if self.parent is not None:
            self.parent.reserve(step_id, estimate_usd)
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
        if self.parent is not None:
            self.parent.settle(provider, reserved_usd, cost_usd)
        self.reserved_usd = max(0.0, self.reserved_usd - reserved_usd)
        self.spent_usd += cost_usd
        self.by_provider[provider] = self.by_provider.get(provider, 0.0) + cost_usd
        self.requests += 1

    def release(self, reserved_usd: float) -> None:
        if self.parent is not None:
            self.parent.release(reserved_usd)
        self.reserved_usd = max(0.0, self.reserved_usd - reserved_usd)


class SharedBudget(Protocol):
    """A budget several processes hold together (a Dask cluster's: :mod:`.cluster`), with the
    arithmetic of :class:`Budget`, each call atomic across them: once what is spent and in flight
    would pass the limit, no process starts another paid submission."""

    async def reserve(self, step_id: str, estimate_usd: float | None) -> float:
        """Reserve ``estimate_usd`` (as :meth:`Budget.reserve`; the amount reserved). Raises :class:`BudgetError`."""
        ...

    async def settle(self, reserved_usd: float, cost_usd: float) -> None:
        """The take arrived: ``reserved_usd`` is no longer in flight, ``cost_usd`` is spent."""
        ...

    async def release(self, reserved_usd: float) -> None:
        """The submission did not happen or failed: ``reserved_usd`` is no longer in flight."""
        ...


def check_budget(costs: Mapping[str, tuple[float, int, int]], budget_usd: float) -> None:
    """Refuse a run whose estimated cost (provider → (USD, paid requests, requests of unknown
    price), see ``Plan.cost_by_provider``) could exceed ``budget_usd`` or cannot be estimated."""
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


def expected_duration_s(step: Step, records: Mapping[str, StepRecord | None]) -> float:
    """The output length a provider step is expected to bill, in seconds (for cost estimates):
    speech at 15 characters a second, a generated sound's own length (at most 120 s a request),
    an isolated stem the length of its source when known."""
    payload = step.payload
    if isinstance(payload, LinesPayload):
        return max(1.0, payload.text_chars / CHARS_PER_S)
    if isinstance(payload, GeneratePayload):
        return min(MAX_REQUEST_MS, float(payload.duration_ms)) / 1000.0
    if isinstance(payload, IsolatePayload) and isinstance(payload.source, StepSource):
        record = records.get(payload.source.step)
        return StepMeta.from_json(record.meta).duration_ms / 1000.0 if record else 0.0
    return 0.0
