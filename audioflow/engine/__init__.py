"""The engine: plan (up-to-date/stale with reasons), schedule (asyncio), assemble, bounce."""

from __future__ import annotations

from .events import StepEvent
from .plan import Plan, StepPlan, make_plan
from .project import Project, RunReport, open_project
from .runner import RunResult, StepOutcome, run_plan

__all__ = [
    "Plan",
    "Project",
    "RunReport",
    "RunResult",
    "StepEvent",
    "StepOutcome",
    "StepPlan",
    "make_plan",
    "open_project",
    "run_plan",
]
