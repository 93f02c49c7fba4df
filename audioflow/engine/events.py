"""Events the runner emits while it works; the CLI turns them into a progress display."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StepEvent"]


@dataclass(frozen=True)
class StepEvent:
    """``status``: ``started``, ``cached``, ``rendered``, ``failed``, ``blocked`` (an upstream step
    failed) or ``skipped`` (the run stopped after a failure, without ``--keep-going``)."""

    step_id: str
    kind: str
    status: str
    message: str = ""
