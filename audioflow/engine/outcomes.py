"""How a run ended: every step's :class:`StepOutcome` in a :class:`RunResult`, and the result of a
run with nothing to render (:func:`settle_cached`), made without an event loop. Apart from the
scheduler (:mod:`.scheduler`, which re-exports these) so that a no-op rerun imports no asyncio."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..cache import StepRecord
from ..recipe import Step
from .budget import Budget
from .events import StepEvent, StepStatus
from .meta import StepMeta
from .staleness import Plan

__all__ = ["RunResult", "StepOutcome", "settle_cached"]


@dataclass
class StepOutcome:
    """How one step ended (:class:`StepStatus`); ``error`` says why it did not render and
    ``exception`` is what was raised, with its traceback (a failed step only)."""

    step: Step
    status: StepStatus
    digest: str | None = None
    record: StepRecord | None = None
    error: str | None = None
    exception: BaseException | None = None

    @property
    def meta(self) -> StepMeta | None:
        """The record's meta, parsed once (the bounce, the report and the summary each read it)."""
        if self.record is None:
            return None
        parsed = self.__dict__.get("_meta")
        if parsed is None or parsed[0] is not self.record:
            parsed = self.__dict__["_meta"] = (self.record, StepMeta.from_json(self.record.meta))
        return parsed[1]


@dataclass
class RunResult:
    """The outcome of every step, in plan order, and what the run spent."""

    outcomes: dict[str, StepOutcome] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)

    def count(self, status: StepStatus | str) -> int:
        return sum(1 for o in self.outcomes.values() if o.status == status)

    @property
    def ok(self) -> bool:
        return all(o.status.ok for o in self.outcomes.values())


def settle_cached(
    plan: Plan, budget: Budget | None = None, on_event: Callable[[StepEvent], None] | None = None
) -> RunResult:
    """The result of running ``plan`` when every step is up to date (``not plan.stale``): each step
    ``cached`` with the record the plan read, its event sent in plan order, exactly as
    :func:`arun_plan` would end, but with no event loop and no threads (a no-op rerun)."""
    assert not plan.stale, "settle_cached needs a plan with nothing to render"
    result = RunResult(budget=budget or Budget())
    for step_id, planned in plan.steps.items():
        result.outcomes[step_id] = StepOutcome(planned.step, StepStatus.CACHED, planned.digest, planned.record)
        if on_event is not None:
            on_event(StepEvent(step_id, planned.step.kind, StepStatus.CACHED, ""))
    return result
