"""The engine: staleness (plan), pre-flight checks, budget, the scheduler, the bounce, and the thin
project facade that ties them together (``open_project`` → ``Project.plan`` / ``run`` / ``arun``)."""

from __future__ import annotations

from .bounce import Manifest, ManifestStep
from .budget import Budget, BudgetError
from .events import StepEvent, StepStatus
from .facade import Project, RunReport, open_project, open_recipe, open_text
from .meta import Segment, StepMeta
from .scheduler import RunResult, StepOutcome, arun_plan, run_plan
from .staleness import Plan, PlanStatus, StepPlan, make_plan

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
