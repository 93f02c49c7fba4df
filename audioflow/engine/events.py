"""Step statuses and the events the scheduler emits while it works (the CLI shows them as progress)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..steps import StepKind

__all__ = ["StepEvent", "StepStatus"]


class StepStatus(StrEnum):
    """How a step stands in a run (a ``str``: ``StepStatus.RENDERED == "rendered"``).

    ``started`` and ``progress`` (a stage of a long step begins: its message names the stage, e.g. the
    master's ``measuring``) are only events; a step ends ``cached``, ``rendered``, ``failed``, ``blocked`` (an
    upstream step failed) or ``skipped`` (the run stopped after a failure, without ``keep_going``)."""

    STARTED = "started"
    PROGRESS = "progress"
    CACHED = "cached"
    RENDERED = "rendered"
    FAILED = "failed"
    BLOCKED = "blocked"
    SKIPPED = "skipped"

    @property
    def ok(self) -> bool:
        """Whether the step has its artifact (rendered now or found in the cache)."""
        return self in (StepStatus.RENDERED, StepStatus.CACHED)


@dataclass(frozen=True)
class StepEvent:
    """One step's progress: it ``started``, or how it ended (see :class:`StepStatus`), with a message;
    ``recipe`` is the recipe's path in a batch of several recipes (empty for one recipe)."""

    step_id: str
    kind: StepKind
    status: StepStatus
    message: str = ""
    recipe: str = ""
