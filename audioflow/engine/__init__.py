"""The engine: staleness (plan), pre-flight checks, budget, the scheduler, the bounce, and the thin
project facade that ties them together (``open_project`` → ``Project.plan`` / ``run`` / ``arun``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bounce import Manifest, ManifestStep
    from .budget import Budget, BudgetError
    from .events import StepEvent, StepStatus
    from .facade import Project, RunReport, open_project, open_recipe, open_text
    from .meta import Segment, StepMeta
    from .scheduler import RunResult, StepOutcome, arun_plan, run_plan
    from .staleness import Plan, PlanStatus, StepPlan, make_plan

#: Public name → the module that defines it, imported when the name is first used (PEP 562).
_LAZY = {
    "Manifest": "audioflow.engine.bounce",
    "ManifestStep": "audioflow.engine.bounce",
    "Budget": "audioflow.engine.budget",
    "BudgetError": "audioflow.engine.budget",
    "StepEvent": "audioflow.engine.events",
    "StepStatus": "audioflow.engine.events",
    "Project": "audioflow.engine.facade",
    "RunReport": "audioflow.engine.facade",
    "open_project": "audioflow.engine.facade",
    "open_recipe": "audioflow.engine.facade",
    "open_text": "audioflow.engine.facade",
    "Segment": "audioflow.engine.meta",
    "StepMeta": "audioflow.engine.meta",
    "RunResult": "audioflow.engine.scheduler",
    "StepOutcome": "audioflow.engine.scheduler",
    "arun_plan": "audioflow.engine.scheduler",
    "run_plan": "audioflow.engine.scheduler",
    "Plan": "audioflow.engine.staleness",
    "PlanStatus": "audioflow.engine.staleness",
    "StepPlan": "audioflow.engine.staleness",
    "make_plan": "audioflow.engine.staleness",
}

__all__ = [
    "Budget",
    "BudgetError",
    "Manifest",
    "ManifestStep",
    "Plan",
    "PlanStatus",
    "Project",
    "RunReport",
    "RunResult",
    "Segment",
    "StepEvent",
    "StepMeta",
    "StepOutcome",
    "StepPlan",
    "StepStatus",
    "arun_plan",
    "make_plan",
    "open_project",
    "open_recipe",
    "open_text",
    "run_plan",
]


def __getattr__(name: str) -> Any:
    """Import a public name"s module on first use and keep the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
