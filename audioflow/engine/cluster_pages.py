"""Report pages rendered on a Dask cluster's workers (``audioflow run --cluster``).

A report page costs CPU (its matplotlib figure, ~30–60 ms; its takes' previews, encoded once per
take). Rendered in the client process, a batch's hundred pages queue on one core under its GIL, behind and
in the way of the client's own work (submitting steps, collecting results, bouncing). On a cluster
the client still bounces each recipe (its output, sidecars and manifest are written where a local
run writes them) and decides whether its page is up to date; a page to write is rendered by a Dask
task on a worker, with one unit of the ``cpu`` resource like every CPU step, and the client writes
the bytes the task returns where a local run writes its page. The page is the one a local run
makes for the same recipe and cache, byte for byte (``tests/engine/test_cluster_runs.py``).

The task carries the plan (without the state and record index planning read), the outcomes, the
output's path (only its name is shown), its master step and its manifest; the worker opens the
artifacts the page reads (:func:`.report.page_reads`) in its own store, fetching from the bucket
what it does not hold, and keeps previews in its own store's side folder.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..cache import ArtifactStore
from ..errors import AudioflowError
from .cluster import CPU_RESOURCE, _has_cpu_resource, _here, _location, _worker_store
from .facade import PageRenderer
from .outcomes import RunResult, StepOutcome
from .staleness import Plan

__all__ = ["PAGE_PRIORITY", "page_renderer"]

#: A page task's Dask priority: above every step's (a step's is its depth in its recipe's graph), so a
#: page is rendered as soon as a ``cpu`` unit is free and the client's bounce does not wait on it.
PAGE_PRIORITY = 1_000_000


@dataclass(frozen=True)
class _PageJob:
    """One page to render on a worker (see the module docstring)."""

    plan: Plan
    outcomes: dict[str, StepOutcome]
    store: str
    output: Path
    master_id: str
    manifest: dict[str, Any]


def _page_task(job: _PageJob) -> bytes:
    """The page of ``job`` (UTF-8 HTML), rendered on a worker from its own store."""
    from .report import page_bytes, page_reads

    store = _worker_store(job.store)
    result = RunResult(dict(job.outcomes))
    for step_id in page_reads(job.plan, result, job.master_id):
        outcome = result.outcomes[step_id]
        if outcome.record is not None:
            result.outcomes[step_id] = replace(outcome, record=_here(store, outcome.record))
    return page_bytes(job.plan, result, store, job.output, job.master_id, manifest=job.manifest)


def page_renderer(client: Any, store: ArtifactStore) -> PageRenderer:
    """A :data:`~.facade.PageRenderer` for outputs of recipes whose cache is ``store``: each page a
    task on the cluster of ``client`` (blocking until it is rendered). Raises what rendering raises
    (:class:`AudioflowError`), and :class:`AudioflowError` when the cluster lost the task."""
    from distributed import CancelledError, KilledWorker

    location = _location(store)
    resources = {CPU_RESOURCE: 1} if _has_cpu_resource(client) else None

    def render(plan: Plan, result: RunResult, output: Path, master_id: str, manifest: dict[str, Any]) -> bytes:
        light = replace(plan, state=None, index=None)
        outcomes = {step_id: replace(o, exception=None) for step_id, o in result.outcomes.items()}
        job = _PageJob(light, outcomes, location, output, master_id, manifest)
        key = f"audioflow-page-{uuid.uuid4().hex[:16]}"
        future = client.submit(_page_task, job, key=key, pure=False, resources=resources, priority=PAGE_PRIORITY)
        try:
            return bytes(future.result())
        except (CancelledError, KilledWorker, OSError) as exc:  # the cluster lost it; a page error raises as is
            raise AudioflowError(f"the report page of {output.name} was lost on the cluster ({exc})") from exc

    return render
