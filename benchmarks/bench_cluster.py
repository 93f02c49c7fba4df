"""Benchmark a season on a cluster: 100 recipes x 3 paid steps on a 4-worker LocalCluster.

Scenario: ``--recipes`` recipes (default 100), each a dialogue of three lines (three paid requests to
Segmind's Seed Audio, all different), its join, mix and wav master. The fake Segmind
(``tests/fakes/segmind.py``) on 127.0.0.1 answers every submission after ``--latency`` seconds
(default 2) and reports the request COMPLETED at its first poll; the recipes set the provider's
limit to ``--limit`` (default 32), enforced cluster-wide by a ``distributed.Semaphore``. The shared
cache is a SeaweedFS bucket (``tests/seaweed.py``), each repetition on a fresh prefix (everything
stale). A ``LocalCluster`` of ``--workers`` processes (default 4), started as ``run --cluster
local:N`` starts it (:func:`audioflow.engine.cluster.connect`: 16 task slots each, the cores shared
out as ``cpu``, one unit each on 2 cores), is started once; each repetition is
``open_batch(...).run(cluster=client)``.

Reported, each ``--repeats`` times (default 3; the median is the figure):

* **makespan**: wall time of the batch run (plan, every step on the cluster, every bounce);
* **paid span**: from the first submission the fake saw to the last result it served;
* the **ideal**: ``ceil(paid / limit) x latency`` (20 s for the defaults), and the ratio to it;
* the most requests the host held at once (must not pass the limit), and **busy**: the mean
  number in flight over the limit during the paid span (1.0: every slot at the host all the time);
* **CPU seconds** of this process (client, scheduler, fake host), of the workers (with their ffmpeg
  children) and of SeaweedFS: on a 2-core machine their sum over 2 is the makespan's floor;
* where the rest goes: **plan** (every recipe planned against the bucket), **gap** (from the end of
  planning to the first submission the fake saw: the tasks submitted, the workers' first calls) and
  **tail** (from the
  last result the host served to the end: the last joins, mixes and masters, and the bounces not
  yet done: each recipe is bounced, with its report, as soon as its own steps have ended).

Each repetition also prints **its S3 calls**, counted on the client and on every worker (s3fs'
``_call_s3``, which every call goes through): by what made them (the plan, a step of a kind, the
lease threads, the rest of the run: states), by operation and by key area (``steps``, ``objects``,
``leases``, ``jobs``, ``state``).

Then **the S3 bookkeeping per step**: a batch of ``--probe`` recipes (default 5) run with the local
scheduler in this process against a fake with no latency, every S3 call of the s3fs client counted
and timed (record lookups, leases, journals, objects, records), divided by the steps rendered.

Usage: ``python benchmarks/bench_cluster.py [--recipes 100] [--workers 4] [--limit 32] [--latency 2]
[--repeats 3] [--probe 5] [--plan-threads 16] [--no-report]`` (``--repeats 0``: only the S3 probe;
``--no-report``: the bounces write no HTML reports)
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakes.recipes import dialogue_recipe  # noqa: E402
from fakes.segmind import KEY, segmind_hosts  # noqa: E402
from seaweed import seaweed_server  # noqa: E402

from audioflow.engine import batch, cluster  # noqa: E402
from audioflow.engine.batch import Batch, open_batch  # noqa: E402


def recipe(n: int, limit: int) -> str:
    texts = [f"Episode {n}, line {i}." for i in range(3)]
    return dialogue_recipe(
        texts, title=f"Episode {n}", output=f"out/ep{n}.wav", concurrency=limit, poll_interval="50ms", retries=5
    )


def write_season(folder: Path, recipes: int, limit: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(recipes):
        path = folder / f"ep{n}.yaml"
        path.write_text(recipe(n, limit))
        paths.append(path)
    return paths


def jobs_in_flight(api: Any) -> int:
    """The most requests the fake held at once (accepted submission to its result served)."""
    events: list[tuple[float, int]] = []
    for req in api.submits():
        events.append((req.t_start, 1))
    for req in api.calls("GET", r"^/v2/requests/[^/]+$"):
        events.append((req.t_end or req.t_start, -1))
    best = current = 0
    for _, delta in sorted(events):
        current += delta
        best = max(best, current)
    return best


def cluster_runs(args: argparse.Namespace, hosts: Any, folder: Path) -> list[dict[str, float]]:
    paths = write_season(folder / "season", args.recipes, args.limit)
    rows = []
    with cluster.connect(f"local:{args.workers}") as client:  # as `run --cluster local:N` starts it
        client.run(lambda: __import__("audioflow.engine.cluster"))  # imports are not the season's time
        planned_s: list[float] = []
        planned_at: list[float] = []
        plan = Batch.plan

        def timed_plan(batch: Batch) -> Any:
            begin = time.monotonic()
            try:
                return plan(batch)
            finally:
                planned_at.append(time.monotonic())
                planned_s.append(planned_at[-1] - begin)

        Batch.plan = timed_plan  # type: ignore[method-assign]
        try:
            for rep in range(args.repeats):
                rows.append(one_run(hosts, paths, args, f"s3://audioflow/bench-{os.getpid()}-{rep}", client))
                rows[-1]["plan"] = planned_s[-1]
                rows[-1]["gap"] = min(r.t_start for r in hosts.api.submits()) - planned_at[-1]
                print(f"run {rep + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in rows[-1].items()), flush=True)
        finally:
            Batch.plan = plan  # type: ignore[method-assign]
    return rows


def cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system, with reaped children: ffmpeg) used so far by this process (the
    client, the LocalCluster's scheduler and the fake host), the Dask worker processes and the
    other children (SeaweedFS)."""
    import psutil

    me = psutil.Process()
    out = {"client": sum(me.cpu_times()[:4]), "workers": 0.0, "s3": 0.0}
    for child in me.children(recursive=True):
        try:
            used = sum(child.cpu_times()[:4])
            out["s3" if "weed" in child.name() else "workers"] += used
        except psutil.Error:
            continue
    return out


def in_flight_share(api: Any, limit: int) -> float:
    """The mean number of requests the host held during the paid span over ``limit``: 1.0 when
    every slot was at the host all the time."""
    held = [(r.t_start, 1) for r in api.submits()] + [
        (r.t_end or r.t_start, -1) for r in api.calls("GET", r"^/v2/requests/[^/]+$")
    ]
    held.sort()
    area, current, last = 0.0, 0, held[0][0]
    for t, delta in held:
        area += current * (t - last)
        current, last = current + delta, t
    return area / (limit * (held[-1][0] - held[0][0]))


def one_run(hosts: Any, paths: list[Path], args: argparse.Namespace, url: str, client: Any) -> dict[str, float]:
    """One repetition on a fresh prefix: makespan, paid span, tail, requests, most held at once,
    the mean share of the limit in flight, and CPU seconds by process."""
    hosts.api.reset()
    hosts.api.slow(args.latency, paths=[r"^/v2/[^/]+$"], methods=["POST"])
    count_s3_calls(reset=True)
    client.run(count_s3_calls, True)
    cpu = cpu_seconds()
    start = time.monotonic()
    report = open_batch(paths, cache_dir=url).run(cluster=client, report=not args.no_report)
    end = time.monotonic()
    cpu = {k: v - cpu[k] for k, v in cpu_seconds().items()}
    calls: Counter[tuple[str, str, str]] = Counter()
    add_counts(calls, count_s3_calls(reset=True))
    client_calls = sum(calls.values())
    for counts in client.run(count_s3_calls, True).values():
        add_counts(calls, counts)
    print_calls(f"client {client_calls}, workers {sum(calls.values()) - client_calls}", calls, rendered_kinds(report))
    failed = {o.error for r in report.reports.values() for o in r.result.outcomes.values() if o.status == "failed"}
    assert report.ok, report.errors or failed
    submits = hosts.api.submits()
    results = hosts.api.calls("GET", r"^/v2/requests/[^/]+$")
    last = max(r.t_end or r.t_start for r in results)
    return {
        "makespan": end - start,
        "paid": last - min(r.t_start for r in submits),
        "tail": end - last,
        "requests": len(submits),
        "held": jobs_in_flight(hosts.api),
        "busy": in_flight_share(hosts.api, args.limit),
        **{f"cpu_{k}": v for k, v in cpu.items()},
        "s3_calls": sum(calls.values()),
    }


_AREAS = frozenset({"steps", "objects", "leases", "jobs", "state", "quarantine"})


def count_s3_calls(reset: bool = False) -> dict[tuple[str, str, str], tuple[int, float]]:
    """Count every S3 call this process makes from now on (s3fs' ``_call_s3``, which ``call_s3``
    and every file-system method go through): by operation, by the area of its key (``steps``,
    ``objects``, ``leases``, ``jobs``, ``state``) and by what made it (a step of a kind, ``lease``
    for the lease threads, ``plan``, or ``run``: states, outputs and the rest), with the seconds
    spent. Installed once per process (run it on the workers with ``client.run``); returns the
    counts so far, then starts again from zero with ``reset``."""
    import contextvars
    import threading

    import fsspec.asyn
    import s3fs

    from audioflow.engine import cluster as cluster_mod
    from audioflow.engine import scheduler

    box = s3fs.__dict__.setdefault("_bench_calls", {})
    if "counts" not in box:
        counts: dict[tuple[str, str, str], list[float]] = {}
        doing: contextvars.ContextVar[str] = contextvars.ContextVar("doing", default="")
        guard = threading.Lock()
        original, sync, run_step, plan = s3fs.S3FileSystem._call_s3, fsspec.asyn.sync, scheduler._run_step, Batch.plan

        async def counted(self: Any, method: str, *a: Any, **kw: Any) -> Any:
            start = time.monotonic()
            try:
                return await original(self, method, *a, **kw)
            finally:
                parts = str(kw.get("Key", "")).split("/")
                area = next((p for p in parts[:-1] if p in _AREAS), "?")
                with guard:
                    row = counts.setdefault((method.removesuffix("_object"), area, doing.get() or "run"), [0, 0.0])
                    row[0] += 1
                    row[1] += time.monotonic() - start

        def labelled_sync(loop: Any, func: Any, *a: Any, **kw: Any) -> Any:
            thread = threading.current_thread().name
            label = doing.get() or ("lease" if thread.startswith("audioflow-lease") else "")
            if box.get("planning") and not label:
                label = "plan"

            async def call(*a: Any, **kw: Any) -> Any:  # the s3fs loop's thread: carry the label there
                doing.set(label)
                return await func(*a, **kw)

            return sync(loop, call, *a, **kw)

        async def labelled_step(step: Any, run: Any) -> Any:
            doing.set(str(step.kind.value))
            return await run_step(step, run)

        def labelled_plan(batch: Batch) -> Any:
            box["planning"] = True
            try:
                return plan(batch)
            finally:
                box["planning"] = False

        s3fs.S3FileSystem._call_s3 = counted  # type: ignore[method-assign]
        s3fs.S3FileSystem.call_s3 = fsspec.asyn.sync_wrapper(counted)  # type: ignore[method-assign]
        fsspec.asyn.sync = labelled_sync
        scheduler._run_step = cluster_mod._run_step = labelled_step  # type: ignore[assignment]
        Batch.plan = labelled_plan  # type: ignore[method-assign]
        box["counts"] = counts
    with threading.Lock():
        out = {k: (int(v[0]), float(v[1])) for k, v in box["counts"].items()}
        if reset:
            box["counts"].clear()
    return out


def add_counts(into: Counter[tuple[str, str, str]], counts: dict[tuple[str, str, str], tuple[int, float]]) -> None:
    for key, (n, _) in counts.items():
        into[key] += n


def print_calls(title: str, calls: Counter[tuple[str, str, str]], steps: Counter[str] | None = None) -> None:
    """Print ``calls`` by what made them (per rendered step of that kind when ``steps`` counts them)
    and by operation."""
    print(f"{title}: {sum(calls.values())} S3 calls")
    for doer in sorted({d for _, _, d in calls}):
        mine = {f"{op} {area}": n for (op, area, d), n in sorted(calls.items()) if d == doer}
        per = f" ({sum(mine.values()) / steps[doer]:.1f} per step)" if steps and steps.get(doer) else ""
        print(f"  {doer}: {sum(mine.values())}{per}: {mine}")
    by_op: Counter[str] = Counter()
    for (op, _, _), n in calls.items():
        by_op[op] += n
    print(f"  by operation: {dict(by_op)}", flush=True)


def rendered_kinds(report: Any) -> Counter[str]:
    return Counter(
        str(o.step.kind.value)
        for r in report.reports.values()
        for o in r.result.outcomes.values()
        if o.status == "rendered"
    )


def probe_s3(args: argparse.Namespace, hosts: Any, folder: Path) -> dict[str, float]:
    """Count and time every S3 call of a small batch run locally (see the module docstring)."""
    hosts.api.reset()
    paths = write_season(folder / "probe", args.probe, args.limit)
    count_s3_calls(reset=True)
    report = open_batch(paths, cache_dir=f"s3://audioflow/probe-{os.getpid()}").run()
    counts = count_s3_calls(reset=True)
    assert report.ok
    steps = rendered_kinds(report)
    calls: Counter[tuple[str, str, str]] = Counter()
    add_counts(calls, counts)
    paid = len(hosts.api.submits())
    print_calls(
        f"S3 probe, local scheduler, {sum(steps.values())} rendered steps {dict(steps)}, {paid} paid", calls, steps
    )
    spent = sum(s for _, s in counts.values())
    return {"steps": sum(steps.values()), "paid": paid, "calls": sum(calls.values()), "seconds": spent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--limit", type=int, default=32)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--probe", type=int, default=5)
    parser.add_argument("--plan-threads", type=int, default=batch.PLAN_THREADS, help="1: plan one recipe at a time")
    parser.add_argument("--no-report", action="store_true", help="bounce without the HTML reports (run --no-report)")
    args = parser.parse_args()
    batch.PLAN_THREADS = args.plan_threads
    with tempfile.TemporaryDirectory() as tmp, seaweed_server() as s3, segmind_hosts() as hosts:
        folder = Path(tmp)
        env = {**s3.env, **hosts.env, "SEGMIND_API_KEY": KEY, "XDG_CACHE_HOME": str(folder / "xdg")}
        os.environ.update(env)
        count_s3_calls()  # installed before the plan is timed (cluster_runs wraps it)
        hosts.api.opt.queued_polls = hosts.api.opt.processing_polls = 0
        rows = cluster_runs(args, hosts, folder) if args.repeats else []
        probe = probe_s3(args, hosts, folder) if args.probe else None
    if probe and probe["steps"]:
        print(
            f"S3 bookkeeping: {probe['calls']} calls, {probe['seconds']:.2f} s for {probe['steps']:.0f} steps "
            f"({probe['paid']:.0f} paid): {probe['calls'] / probe['steps']:.1f} calls and "
            f"{1000 * probe['seconds'] / probe['steps']:.0f} ms per step"
        )
    if rows:
        summarise(args, rows)


def summarise(args: argparse.Namespace, rows: list[dict[str, float]]) -> None:
    paid = args.recipes * 3
    ideal = math.ceil(paid / args.limit) * args.latency
    makespan = statistics.median(r["makespan"] for r in rows)
    paid_span = statistics.median(r["paid"] for r in rows)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{args.recipes} recipes x 3 paid, {args.workers} workers, limit {args.limit}, latency {args.latency} s")
    print(f"ideal {ideal:.1f} s; makespan median {makespan:.1f} s ({makespan / ideal:.2f}x)")
    held = max(r["held"] for r in rows)
    print(f"paid span median {paid_span:.1f} s ({paid_span / ideal:.2f}x); most held at once {held}")
    plan_s, tail_s = statistics.median(r["plan"] for r in rows), statistics.median(r["tail"] for r in rows)
    gap_s = statistics.median(r["gap"] for r in rows)
    print(f"plan median {plan_s:.1f} s; plan end to first submission median {gap_s:.1f} s")
    print(f"tail (last result to end) median {tail_s:.1f} s; load {os.getloadavg()}")


if __name__ == "__main__":
    main()
