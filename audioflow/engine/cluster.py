"""Running plans on a Dask cluster (``audioflow run --cluster tcp://HOST:8786`` or ``local:N``).

Every stale step becomes one Dask task depending on its upstream steps' tasks; a run's tasks
reach the scheduler as one graph (one ``update_graph``, not one per task). The task runs the
scheduler's own step code (:func:`.scheduler._run_step`: the same lock, lease, journal, budget and
store; a digest the plan looked up moments ago is not looked up again, a paid step's take still
is, under its lease) as a coroutine on the worker's event loop. What differs from the local
scheduler is only where limits live:

* **providers' limits are cluster-wide**: each provider's requests in flight are held to its
  ``max_concurrency`` (the smallest in the batch) by a ``distributed.Semaphore`` named after it;
* **the budget is cluster-wide** (``run --budget``): what is spent and in flight lives on the Dask
  scheduler (a ``distributed.Variable``, changed under a ``distributed.Lock``: :class:`ClusterBudget`),
  so once another paid submission could pass the budget no worker starts one;
* **CPU steps** (local speech, clone references, joining, mixing, mastering) ask for one unit of
  the workers' ``cpu`` resource, so remote requests, which only wait on their host, never queue
  behind them (workers without that resource run every step unrestricted);
* **stores and providers are made once per worker process** (one S3 client per process:
  :func:`audioflow.cache.s3.filesystem`), never shipped: a task carries the store's location and
  each provider's name and settings; only a provider that is not built in is pickled whole.

Dask may run a task twice (a worker lost mid-task): the lease on the take digest, not Dask, keeps
a paid request from being submitted twice. A run never waits for ever: when no step has finished
for :func:`stall_s` seconds (``AUDIOFLOW_CLUSTER_STALL_S``), the steps still pending are cancelled
and fail, each saying where it was (a rerun resumes their journalled requests).

A step every recipe of a batch shares, with a digest known at plan time, is one task; other
duplicates meet at the store's lock or lease. Results come back as records; their artifact paths
are rewritten to this machine's store (a bucket's objects are fetched into the local mirror when
read).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import multiprocessing
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cache import Artifact, ArtifactStore, StepRecord, open_store
from ..cache.records import object_key
from ..cache.s3 import S3Store
from ..errors import AudioflowError, RecipeError
from ..providers import PROVIDERS, Provider, ProviderSettings
from ..recipe import Step
from .budget import Budget
from .events import StepEvent, StepStatus
from .facade import provider_settings
from .scheduler import RunResult, StepOutcome, _failure, _Run, _run_step
from .staleness import Plan, StepPlan
from .warm import import_modules

__all__ = ["CPU_RESOURCE", "ClusterBudget", "connect", "run_on_cluster", "stall_s", "warm_workers"]

#: The worker resource a CPU step asks one unit of (``dask worker --resources "cpu=4"``).
CPU_RESOURCE = "cpu"
#: The Dask event topic workers publish steps' progress on (``Worker.log_event``): a run's client
#: subscribes to it and keeps its own run's events.
EVENTS_TOPIC = "audioflow-progress"
#: Task slots per worker of ``local:N``: remote steps only wait on their hosts, so a worker holds many.
LOCAL_SLOTS = 16
#: Dask settings of a ``local:N`` cluster: its workers sample no profile (every 10 ms, each task
#: thread's stack: CPU taken from the steps, for a dashboard ``local:N`` does not start).
LOCAL_CONFIG = {"distributed.worker.profile.enabled": False}
#: Seconds a cluster run waits with no step finishing before it fails what is left (twice a
#: provider's default ``timeout``: a paid request may legitimately be polled that long).
STALL_S = 1800.0


def stall_s() -> float:
    """``$AUDIOFLOW_CLUSTER_STALL_S`` (seconds, > 0), else :data:`STALL_S`. Raises
    :class:`AudioflowError` for a value that is not a positive number."""
    value = os.environ.get("AUDIOFLOW_CLUSTER_STALL_S", "").strip()
    if not value:
        return STALL_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise AudioflowError(f"AUDIOFLOW_CLUSTER_STALL_S={value}: give a number of seconds above 0")
    return seconds


@contextlib.contextmanager
def connect(spec: str) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec``: ``tcp://HOST:PORT`` (a running scheduler) or
    ``local:N`` (a ``LocalCluster`` of N worker processes on 127.0.0.1, each with
    :data:`LOCAL_SLOTS` task slots and its share of this machine's cores as ``cpu``; no dashboard,
    so its workers run no statistical profiler either: :data:`LOCAL_CONFIG`). Closed on exit.
    Raises :class:`AudioflowError` for a spec of neither form or a scheduler not reached."""
    import dask
    from distributed import Client, LocalCluster

    if spec.startswith("local:"):
        try:
            workers = int(spec.removeprefix("local:"))
        except ValueError:
            workers = 0
        if not 1 <= workers <= 256:
            raise AudioflowError(f"--cluster {spec}: local:N needs a number of workers from 1 to 256")
        cores = max(1, (os.cpu_count() or 1) // workers)
        with (
            dask.config.set(LOCAL_CONFIG),  # the nannies keep it for the workers they start
            LocalCluster(
                n_workers=workers,
                threads_per_worker=LOCAL_SLOTS,
                resources={CPU_RESOURCE: cores},
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    if not spec.startswith(("tcp://", "tls://")):
        raise AudioflowError(f"--cluster {spec}: give a scheduler address (tcp://HOST:8786) or local:N")
    try:
        client = Client(spec, timeout="20s")
    except OSError as exc:
        raise AudioflowError(f"--cluster {spec}: cannot reach the Dask scheduler ({exc})") from exc
    with client:
        yield client


@dataclass(frozen=True)
class ClusterBudget:
    """A run's budget on the Dask scheduler (a :class:`~.budget.SharedBudget`): ``{"limit", "spent",
    "reserved"}`` (USD) in the ``distributed.Variable`` ``name``, read and replaced under the
    ``distributed.Lock`` ``name:lock``, so every reservation across the cluster sees every other.
    A worker lost between its reservation and its settlement leaves its reservation counted: the
    budget errs on the side of spending less."""

    name: str
    limit_usd: float

    def start(self, client: Any) -> None:
        """Put the budget, nothing spent, on the scheduler of ``client`` (before any task runs)."""
        from distributed import Variable

        Variable(self.name, client=client).set({"limit": self.limit_usd, "spent": 0.0, "reserved": 0.0})

    def end(self, client: Any) -> None:
        from distributed import Variable

        Variable(self.name, client=client).delete()

    async def _change(self, change: Callable[[Budget], None]) -> float:
        from distributed import Lock, Variable

        async with Lock(f"{self.name}:lock"):
            variable = Variable(self.name)
            state = await variable.get(timeout="30s")
            budget = Budget(state["limit"], state["spent"], state["reserved"])
            change(budget)  # raises BudgetError before anything is written
            await variable.set({"limit": state["limit"], "spent": budget.spent_usd, "reserved": budget.reserved_usd})
        return budget.reserved_usd

    async def reserve(self, step_id: str, estimate_usd: float | None) -> float:
        amount: list[float] = []
        await self._change(lambda budget: amount.append(budget.reserve(step_id, estimate_usd)))
        return amount[0]

    async def settle(self, reserved_usd: float, cost_usd: float) -> None:
        await self._change(lambda budget: budget.settle("", reserved_usd, cost_usd))

    async def release(self, reserved_usd: float) -> None:
        await self._change(lambda budget: budget.release(reserved_usd))


@dataclass(frozen=True)
class _Task:
    """What a worker needs to render one step: the step and its plan, its upstream steps, the
    store's location, the providers (name → settings of a built-in one, or the object itself),
    cluster-wide provider limits, the name of the event that stops its recipe, and the run and
    task key its progress events (``started``, the master's stages) are published under."""

    step: Step
    planned: StepPlan
    deps: tuple[Step, ...]
    store: str
    providers: tuple[tuple[str, ProviderSettings | Provider], ...]
    limits: tuple[tuple[str, int], ...]
    stop: str | None
    budget: ClusterBudget | None = None
    run: str = ""
    key: str = ""


@dataclass(frozen=True)
class _Done:
    """How a step ended on a worker (picklable): its status, digest, record and, when it failed,
    the message and traceback; ``paid`` holds (provider, USD) for the paid request it made."""

    status: StepStatus
    digest: str | None = None
    record: StepRecord | None = None
    error: str | None = None
    trace: str | None = None
    paid: tuple[tuple[str, float], ...] = ()
    mistake: bool = False  # it failed for a mistake of the recipe (a RecipeError; ``error`` is located)


# -- the worker side ---------------------------------------------------------------------------------
_STORES: dict[str, ArtifactStore] = {}
_STORES_GUARD = threading.Lock()
_PROVIDERS: dict[tuple[str, ProviderSettings], Provider] = {}
_SEMAPHORES: dict[tuple[str, str, int], Any] = {}
_DIGEST_LOCKS: dict[int, dict[str, asyncio.Lock]] = {}


def _worker_store(location: str) -> ArtifactStore:
    with _STORES_GUARD:  # tasks and the warm-up open it from several threads: one store a location
        if location not in _STORES:
            _STORES[location] = open_store(location if location.startswith("s3://") else Path(location))
        return _STORES[location]


async def _warm_worker(locations: tuple[str, ...]) -> None:
    """Open the stores at ``locations`` and make a first lookup in each (s3fs' imports, an S3
    client's set-up), and import the audio stack, in a thread: the worker's event loop goes on."""

    def warm() -> None:
        for location in locations:
            _worker_store(location).get_step("0" * 64)  # no step has this digest: one miss
        import_modules()

    await asyncio.to_thread(warm)
    # A worker process of its own (a nanny's): what the imports made lives as long as it does, so
    # full collections need not walk it (see _frozen_heap). Once, and never where objects are
    # frozen already or a client shares the process (a LocalCluster without processes).
    if multiprocessing.parent_process() is not None and gc.get_freeze_count() == 0:
        gc.freeze()


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep the objects that exist now out of the cyclic garbage collector's full collections for
    the body (``gc.freeze``; unfrozen after, unless this process had frozen objects of its own).
    A full collection walks every object of the process: in a cluster run's client (which hosts a
    ``LocalCluster``'s scheduler) and in a worker (the audio stack, matplotlib, s3fs), 220–280
    thousand objects, 0.3–0.4 s each time with the GIL held, 3–6 times a benchmark repetition each
    (measured with ``gc.callbacks``). Frozen, a full collection walks only what the run made."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def warm_workers(client: Any, stores: Sequence[ArtifactStore]) -> threading.Thread:
    """Start warming every worker of ``client`` for a run on ``stores`` (:func:`_warm_worker`) in a
    daemon thread, so that it overlaps the client's planning instead of delaying the first steps
    (timed at 2–5 s of a fresh worker's first tasks on a loaded machine); the thread, started. Best effort: a worker
    that fails here fails again, reported, in its task."""
    locations = tuple(dict.fromkeys(_location(store) for store in stores))

    def run() -> None:
        with contextlib.suppress(Exception):
            client.run(_warm_worker, locations)

    thread = threading.Thread(target=run, name="audioflow-warm-workers", daemon=True)
    thread.start()
    return thread


def _worker_providers(given: tuple[tuple[str, ProviderSettings | Provider], ...]) -> dict[str, Provider]:
    """The providers of a task on this worker, made once a worker process. A provider that renders
    on this machine's cores and has a ``core_share`` (the local provider: how many cores a line
    spoken alone may take) gets the worker's ``cpu`` resource, 1 without one: workers that share a
    machine must not each take every core."""
    out = {}
    for name, spec in given:
        if isinstance(spec, ProviderSettings):
            if (name, spec) not in _PROVIDERS:
                provider = PROVIDERS[name](spec)
                if hasattr(provider, "core_share"):
                    provider.core_share = _worker_cores()
                _PROVIDERS[name, spec] = provider
            out[name] = _PROVIDERS[name, spec]
        else:
            out[name] = spec
    return out


def _worker_cores() -> int:
    """This worker's ``cpu`` resource (its share of the machine's cores; ``connect`` gives a
    ``local:N`` worker cores // N), 1 for a worker without one."""
    from distributed import get_worker

    return max(1, int(get_worker().state.total_resources.get(CPU_RESOURCE, 1)))


def _worker_limits(limits: tuple[tuple[str, int], ...]) -> dict[str | None, Any]:
    from distributed import Semaphore, get_worker

    out: dict[str | None, Any] = {None: contextlib.nullcontext()}
    worker = get_worker().id  # one semaphore object per worker (several share a process with processes=False)
    for name, n in limits:
        if (worker, name, n) not in _SEMAPHORES:
            _SEMAPHORES[worker, name, n] = Semaphore(max_leases=n, name=f"audioflow:{name}:{n}")
        out[name] = _SEMAPHORES[worker, name, n]
    return out


def _here(store: ArtifactStore, record: StepRecord) -> StepRecord:
    """``record`` with its artifact in this process's store: the path rewritten; from a bucket,
    its object fetched into the mirror when absent (the record, which a task returned, is not read
    again)."""
    artifact = record.artifact
    local = store.root / object_key(artifact.digest, artifact.path.suffix.lstrip("."))
    here: Artifact | None = Artifact(artifact.digest, local, artifact.size)
    if not (local.is_file() and local.stat().st_size == artifact.size):
        here = store.fetch_object(artifact) if isinstance(store, S3Store) else None
    if here is None:
        raise AudioflowError(f"the artifact of step {record.input_digest[:12]} is missing from {_location(store)}")
    return StepRecord(record.input_digest, here, record.meta)


async def _stopped(name: str | None) -> bool:
    if name is None:
        return False
    from distributed import Event

    return bool(await Event(name).is_set())


def _publisher(task: _Task) -> Callable[[StepEvent], None]:
    """The ``emit`` of a step on a worker: its ``started`` and ``progress`` events go to the run's
    client through the scheduler's event log (:data:`EVENTS_TOPIC`); how it ends, the client
    learns from the task's result."""
    from distributed import get_worker

    worker = get_worker()

    def emit(event: StepEvent) -> None:
        if task.run and event.status in (StepStatus.STARTED, StepStatus.PROGRESS):
            message = {"run": task.run, "key": task.key, "status": str(event.status), "message": event.message}
            with contextlib.suppress(Exception):  # progress is best effort: a closing worker's stream refuses it
                worker.log_event(EVENTS_TOPIC, message)  # thread-safe

    return emit


async def _step_task(task: _Task, *upstream: _Done) -> _Done:
    """Render one step on a worker (see the module docstring); never raises."""
    bad = [dep.id for dep, done in zip(task.deps, upstream, strict=True) if not done.status.ok]
    if bad:
        return _Done(StepStatus.BLOCKED, error=f"upstream step {bad[0]} did not render")
    try:
        if await _stopped(task.stop):
            return _Done(StepStatus.SKIPPED, error="the run stopped after a failure")
        store = await asyncio.to_thread(_worker_store, task.store)
        outcomes = {}
        for dep, done in zip(task.deps, upstream, strict=True):  # store calls off the worker's event loop
            record = await asyncio.to_thread(_here, store, done.record) if done.record else None
            outcomes[dep.id] = StepOutcome(dep, done.status, done.digest, record)
        budget = Budget()
        providers = _worker_providers(task.providers)
        limits = _worker_limits(task.limits)
        steps = {task.step.id: task.planned}
        run = _Run(steps, store, providers, limits, _publisher(task), lambda: False, budget, outcomes)
        run.shared_budget = task.budget
        run.plan_misses = True  # the plan looked up every digest it knew moments ago: no second look
        # Tasks in one process meet at one lock per digest first (then at the store's file lock).
        run.digest_locks = _DIGEST_LOCKS.setdefault(id(asyncio.get_running_loop()), {})
        outcome = await _run_step(task.step, run)
    except Exception as exc:
        failed = _failure(task.step, exc)
        trace = "".join(traceback.format_exception(exc))
        return _Done(StepStatus.FAILED, error=failed.error, trace=trace, mistake=isinstance(exc, RecipeError))
    return _Done(outcome.status, outcome.digest, outcome.record, paid=tuple(budget.by_provider.items()))


# -- the client side ---------------------------------------------------------------------------------
@dataclass
class _Graph:
    """The submitted tasks of a run: futures by key, the (recipe, step) pairs each key stands for."""

    futures: dict[str, Any] = field(default_factory=dict)
    owners: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    keys: dict[tuple[int, str], str] = field(default_factory=dict)
    cached: dict[tuple[int, str], _Done] = field(default_factory=dict)
    done: dict[str, _Done] = field(default_factory=dict)  # how each task ended, as it ends
    erred: set[str] = field(default_factory=set)  # the keys whose task raised (lost, cancelled, upstream erred)


def _location(store: ArtifactStore) -> str:
    return store.url if isinstance(store, S3Store) else str(store.root)


def _provider_specs(plan: Plan, providers: Mapping[str, Provider]) -> tuple[tuple[str, Any], ...]:
    out = []
    for name, provider in providers.items():
        factory = PROVIDERS.get(name)
        builtin = isinstance(factory, type) and type(provider) is factory
        out.append((name, provider_settings(plan.graph.recipe.providers, name) if builtin else provider))
    return tuple(out)


def _has_cpu_resource(client: Any) -> bool:
    workers = client.scheduler_info(n_workers=-1).get("workers", {}).values()
    return any(CPU_RESOURCE in (w.get("resources") or {}) for w in workers)


def _submit(
    client: Any,
    items: Sequence[tuple[Plan, ArtifactStore, Mapping[str, Provider]]],
    run_id: str,
    keep_going: bool,
    budget: ClusterBudget | None,
    graph: _Graph,
) -> None:
    """Submit every stale step of ``items`` as a task into ``graph`` (see :class:`_Graph`), all in
    one graph: the scheduler gets one ``update_graph`` for the run, not one per task. A task's
    ``cpu`` resource and priority ride on its layer's annotations (one layer per combination)."""
    from dask.highlevelgraph import HighLevelGraph, MaterializedLayer

    cpu = _has_cpu_resource(client)
    concurrency: dict[str, int] = {}
    for _, _, providers in items:
        for name, p in providers.items():
            concurrency[name] = max(1, min(concurrency.get(name, p.max_concurrency), p.max_concurrency))
    limits = tuple(sorted(concurrency.items()))
    layers: dict[tuple[int, bool], dict[str, Any]] = {}
    for i, (plan, store, providers) in enumerate(items):
        location, specs = _location(store), _provider_specs(plan, providers)
        stop = None if keep_going else f"audioflow-stop-{run_id}-{i}"
        depth: dict[str, int] = {}
        for step_id, planned in plan.steps.items():
            depth[step_id] = 1 + max((depth.get(d, 0) for d in planned.step.deps), default=-1)
            if planned.record is not None:
                graph.cached[i, step_id] = _Done(StepStatus.CACHED, planned.digest, planned.record)
                continue
            tag = hashlib.sha256(f"{location}|{planned.digest}".encode()).hexdigest()[:20] if planned.digest else ""
            key = f"audioflow-{run_id}-" + (tag or f"{i}-{step_id}")
            graph.keys[i, step_id] = key
            graph.owners.setdefault(key, []).append((i, step_id))
            if any(key in layer for layer in layers.values()):
                continue
            step = planned.step
            # Dask's graph spec: a task is a tuple (function, *arguments); an argument that is a key of
            # the graph stands for that task's result (the only strings here are upstream keys).
            ups = [graph.keys[i, d] if (i, d) in graph.keys else graph.cached[i, d] for d in step.deps]
            deps = tuple(plan.graph.steps[d] for d in step.deps)
            task = _Task(step, planned, deps, location, specs, limits, stop, budget, run_id, key)
            on_cpu = step.provider is None or providers[step.provider].local
            # The deeper step first (a recipe's master before another's join): recipes end, and are
            # bounced, while the paid span goes on, not all at its end.
            layers.setdefault((depth[step_id], on_cpu and cpu), {})[key] = (_step_task, task, *ups)
    if not layers:
        return
    annotated = {
        f"audioflow-{run_id}-depth{d}{'-cpu' if on_cpu else ''}": MaterializedLayer(
            tasks, annotations={"priority": d, **({"resources": {CPU_RESOURCE: 1}} if on_cpu else {})}
        )
        for (d, on_cpu), tasks in layers.items()
    }
    hlg = HighLevelGraph(annotated, {name: set() for name in annotated})
    keys = [key for tasks in layers.values() for key in tasks]
    graph.futures.update(zip(keys, client.get(hlg, keys, sync=False), strict=True))


def run_on_cluster(
    items: Sequence[tuple[Plan, ArtifactStore, Mapping[str, Provider]]],
    client: Any,
    *,
    keep_going: bool = False,
    on_event: Callable[[StepEvent], None] | None = None,
    budget: Budget | None = None,
    stall_after_s: float | None = None,
    on_result: Callable[[int, RunResult], None] | None = None,
) -> list[RunResult]:
    """Render the plans' stale steps on the cluster of ``client`` (blocking; see the module
    docstring) and return each plan's :class:`RunResult`, as :func:`.scheduler.arun_plans` does.
    ``on_result(i, result)`` hears each plan's result as soon as its own steps have ended (from
    this function's thread), so a batch bounces a recipe while others still render. When no step
    finishes for ``stall_after_s`` seconds (default :func:`stall_s`), the steps still pending fail
    (cancelled, each saying where it was)."""
    with _frozen_heap():  # the plans, the scheduler's state: not walked by every full collection
        return _run(items, client, keep_going, on_event, budget, stall_after_s, on_result)


def _run(
    items: Sequence[tuple[Plan, ArtifactStore, Mapping[str, Provider]]],
    client: Any,
    keep_going: bool,
    on_event: Callable[[StepEvent], None] | None,
    budget: Budget | None,
    stall_after_s: float | None,
    on_result: Callable[[int, RunResult], None] | None,
) -> list[RunResult]:
    emit = on_event or (lambda event: None)
    total = budget or Budget()
    watchdog_s = stall_s() if stall_after_s is None else stall_after_s
    run_id = uuid.uuid4().hex[:12]
    shared = None if total.limit_usd is None else ClusterBudget(f"audioflow-budget-{run_id}", total.limit_usd)
    if shared is not None:
        shared.start(client)
    graph = _Graph()
    relay = _Relay(run_id, items, graph, emit)
    client.subscribe_topic(EVENTS_TOPIC, relay.from_worker)  # before any task starts
    results: dict[int, RunResult] = {}
    remaining: dict[int, set[str]] = {i: set() for i in range(len(items))}

    def ended(i: int) -> None:
        results[i] = _result(i, items[i], graph, total, len(items))
        if on_result is not None:
            on_result(i, results[i])

    def task_ended(key: str) -> None:
        for i in dict.fromkeys(i for i, _ in graph.owners[key]):
            remaining[i].discard(key)
            if not remaining[i]:
                ended(i)

    try:
        _submit(client, items, run_id, keep_going, shared, graph)
        for i, step_id in graph.cached:  # found at plan time: no task, but progress counts them
            emit(StepEvent(step_id, items[i][0].steps[step_id].step.kind, StepStatus.CACHED, "", relay.label(i)))
        for (i, _), key in graph.keys.items():
            remaining[i].add(key)
        for i in [i for i, keys in remaining.items() if not keys]:
            ended(i)
        watchdog = _Watchdog(client, graph, watchdog_s)
        watchdog.start()
        try:
            _collect(client, graph, run_id, keep_going, relay, watchdog, task_ended)
        finally:
            watchdog.stop.set()
    finally:
        client.unsubscribe_topic(EVENTS_TOPIC)
        if shared is not None:
            shared.end(client)
    return [results[i] for i in range(len(items))]


class _Watchdog(threading.Thread):
    """Cancels a run's pending tasks once no task has finished for ``stall_s`` seconds (a worker's
    steps waiting on each other, a task no worker can take): :meth:`verdict` then says, for each
    cancelled key, why and where it was. :meth:`progress` is called for every finished task."""

    def __init__(self, client: Any, graph: _Graph, stall_s: float):
        super().__init__(name="audioflow-cluster-watchdog", daemon=True)
        self.client, self.graph, self.stall_s = client, graph, stall_s
        self.stop = threading.Event()
        self.last = time.monotonic()
        self.stalled: dict[str, str] = {}

    def progress(self) -> None:
        self.last = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(min(5.0, self.stall_s / 4)):
            if time.monotonic() - self.last < self.stall_s:
                continue
            pending = {key: f for key, f in self.graph.futures.items() if not f.done()}
            if not pending:
                continue
            try:  # where each task is, for the message: best effort
                where = {k: w for w, keys in self.client.processing().items() for k in keys}
            except Exception:
                where = {}
            for key in pending:
                place = f"at worker {where[key]}" if key in where else "waiting for its upstream steps or a worker"
                self.stalled[key] = (
                    f"no step of the run finished on the cluster for {self.stall_s:.0f} s "
                    f"(AUDIOFLOW_CLUSTER_STALL_S); this one was {place} and was cancelled "
                    "(run again: a paid request resumes from its journal)"
                )
            self.client.cancel(list(pending.values()))
            return

    def verdict(self, key: str) -> str | None:
        """Why ``key`` was cancelled, or None when the watchdog did not cancel it."""
        return self.stalled.get(key)


class _Relay:
    """A run's step events on this machine: the workers' ``started`` and ``progress`` events (from
    :data:`EVENTS_TOPIC`, on the client's event loop) and each task's end (from :func:`_collect`),
    never a worker's event after its task ended (a late master stage would leave a bar behind)."""

    def __init__(self, run_id: str, items: Sequence[Any], graph: _Graph, emit: Callable[[StepEvent], None]):
        self.run_id, self.items, self.graph, self.emit = run_id, items, graph, emit
        self.lock = threading.Lock()
        self.ended: set[str] = set()

    def label(self, i: int) -> str:
        return str(self.items[i][0].graph.recipe.path) if len(self.items) > 1 else ""

    def from_worker(self, event: tuple[float, Any]) -> None:
        """A ``Client.subscribe_topic`` handler: one worker event, ``(time, message)``."""
        message = event[1]
        if not isinstance(message, dict) or message.get("run") != self.run_id:
            return  # another run's
        with self.lock:
            owners = self.graph.owners.get(message.get("key", ""))
            if not owners or message["key"] in self.ended:
                return
            i, step_id = owners[0]
            kind = self.items[i][0].steps[step_id].step.kind
            self.emit(StepEvent(step_id, kind, StepStatus(message["status"]), message["message"], self.label(i)))

    def end(self, key: str, result: _Done) -> None:
        """Emit how ``key``'s task ended, for each (recipe, step) it stands for."""
        with self.lock:
            self.ended.add(key)
            for n, (i, step_id) in enumerate(self.graph.owners[key]):
                status = StepStatus.CACHED if n and result.status == StepStatus.RENDERED else result.status
                kind = self.items[i][0].steps[step_id].step.kind
                self.emit(StepEvent(step_id, kind, status, result.error or "", self.label(i)))


def _collect(
    client: Any,
    graph: _Graph,
    run_id: str,
    keep_going: bool,
    relay: _Relay,
    watchdog: _Watchdog,
    task_ended: Callable[[str], None],
) -> None:
    """Every task's result into ``graph.done`` as it finishes (events emitted, a failed recipe's
    stop event set), then ``task_ended(key)``."""
    from distributed import Event, as_completed

    for future in as_completed(list(graph.futures.values())):
        key = future.key
        watchdog.progress()
        try:
            result = future.result()
        except Exception as exc:  # the task was lost (KilledWorker), an upstream task was, or it stalled
            result = _Done(StepStatus.FAILED, error=watchdog.verdict(key) or f"{type(exc).__name__}: {exc}")
            graph.erred.add(key)
        graph.done[key] = result
        relay.end(key, result)
        if result.status == StepStatus.FAILED and not keep_going:
            for i, _ in graph.owners[key]:
                Event(f"audioflow-stop-{run_id}-{i}", client=client).set()
        task_ended(key)


def _result(
    i: int,
    item: tuple[Plan, ArtifactStore, Mapping[str, Provider]],
    graph: _Graph,
    total: Budget,
    n_items: int,
) -> RunResult:
    """One plan's outcomes, in plan order, with its records in this machine's store."""
    plan, store, _ = item
    result = RunResult(budget=total if n_items == 1 else Budget(parent=total))
    for step_id, planned in plan.steps.items():
        key = graph.keys.get((i, step_id))
        d = graph.cached[i, step_id] if key is None else graph.done[key]
        first = key is None or graph.owners[key][0] == (i, step_id)
        status = d.status if first or d.status != StepStatus.RENDERED else StepStatus.CACHED
        bad = [dep for dep in planned.step.deps if not result.outcomes[dep].status.ok]
        if key in graph.erred and bad:  # Dask's "a dependency erred": the step never ran
            status, d = StepStatus.BLOCKED, _Done(StepStatus.BLOCKED, error=f"upstream step {bad[0]} did not render")
        record = d.record
        if record is not None:
            artifact = record.artifact
            local = store.root / object_key(artifact.digest, artifact.path.suffix.lstrip("."))
            record = StepRecord(record.input_digest, Artifact(artifact.digest, local, artifact.size), record.meta)
        exception = None
        if status == StepStatus.FAILED:
            kind = RecipeError if d.mistake else AudioflowError
            exception = kind(d.error or "failed on a worker")
            if d.trace:
                exception.add_note(f"on the worker:\n{d.trace}")
        result.outcomes[step_id] = StepOutcome(planned.step, status, d.digest, record, d.error, exception)
        if first:
            for provider, usd in d.paid:
                result.budget.settle(provider, 0.0, usd)
    return result
