"""What plan and run print: the plan's table, a run's summary lines, and their JSON."""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path
from typing import Any

from ..errors import RecipeError
from .output import _cost_json, _cost_lines, _echo, _err, _note, _usd


def _plan_rows(result: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": p.step.id,
            "kind": str(p.step.kind),
            "provider": p.step.provider,
            "status": str(p.status),
            "reason": p.reason,
            "cost_usd": p.cost_usd if p.status == "stale" and p.step.provider else 0.0,
            **({"lines": list(p.step.lines)} if p.step.lines else {}),
        }
        for p in result.steps.values()
    ]


def _output_lines(recipe: Any) -> list[str]:
    """One line per output of the recipe: its path, its master step, its encoding and its target."""
    lines = []
    for output in recipe.outputs if recipe is not None else ():
        m = output.master
        kind = f"{m.bitrate_kbps}k" if m.format not in ("wav", "flac") else f"{m.bit_depth}-bit"
        target = f"{m.target_rms_dbfs:g} dB RMS" if m.target_rms_dbfs is not None else f"{m.target_lufs:g} LUFS"
        lines.append(
            f"output {os.path.relpath(output.path)} ← {output.step_id} ({m.format} {kind} {m.sample_rate_hz} Hz "
            f"{'mono' if m.channels == 1 else 'stereo'}; {m.preset or 'custom'} {target}, ≤ {m.true_peak_dbtp:g} dBTP)"
        )
    return lines


def _print_plan(
    rows: list[dict[str, Any]], costs: dict[str, tuple[float, int, int]], as_json: bool, recipe: Any = None
) -> None:
    if as_json:
        _echo(json.dumps({"steps": rows, "cost": _cost_json(costs)}, indent=2))
        return
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        cost = "" if not r["cost_usd"] and r["cost_usd"] is not None else f"  {_usd(r['cost_usd'])}"
        part = f"lines {r['lines'][0]}–{r['lines'][1]} · " if "lines" in r else ""
        _echo(
            f"{r['status']:<10}  {r['id']:<{width}}  {r['kind']:<8}  {r['provider'] or '-':<7}  "
            f"{part}{r['reason']}{cost}"
        )
    for line in _output_lines(recipe):
        _echo(line)
    stale = sum(1 for r in rows if r["status"] == "stale")
    _echo(f"{stale} stale, {len(rows) - stale} up-to-date")
    for line in _cost_lines(costs):
        _echo(line)


def _tracebacks(report: Any) -> list[str]:
    """The tracebacks of the failed steps (``AUDIOFLOW_DEBUG=1``)."""
    if not os.environ.get("AUDIOFLOW_DEBUG"):
        return []
    return [
        f"traceback of {o.step.id}:\n" + "".join(traceback.format_exception(o.exception)).rstrip()
        for o in report.result.outcomes.values()
        if o.exception is not None
    ]


def _failure_exit_code(reports: Any) -> int:
    """The exit code of a run that failed: 2 when a step failed for a mistake of its recipe (a
    located ``RecipeError`` only rendering could find, as a cue placed before its dialogue), else 1."""
    mistaken = any(isinstance(o.exception, RecipeError) for report in reports for o in report.result.outcomes.values())
    return RecipeError.exit_code if mistaken else 1


def _summary(report: Any, recipe: Path) -> list[str]:
    result = report.result
    lines = []
    for outcome in result.outcomes.values():
        if outcome.status == "failed":
            lines.append(f"failed: {outcome.step.id}: {outcome.error}")
    for outcome in result.outcomes.values():
        meta = outcome.meta
        if meta is None:
            continue
        if meta.placeholder:
            lines.append(f"placeholder: {outcome.step.id}: {meta.notes[0] if meta.notes else ''}")
            continue
        label = "approximate" if meta.approximate else "note"
        lines += [f"{label}: {outcome.step.id}: {note}" for note in meta.notes]
    counts = (
        f"{result.count('rendered')} rendered, {result.count('cached')} cached, {result.count('failed')} failed"
        + (
            f", {result.count('blocked') + result.count('skipped')} not run"
            if result.count("blocked") + result.count("skipped")
            else ""
        )
    )
    if report.output is not None:
        lines.append(counts + (" (everything was cached)" if result.count("rendered") == 0 else ""))
        for bounced in report.outputs:
            m, qc = bounced.manifest, bounced.qc
            rms = f", {qc.figures.rms_dbfs:.1f} dB RMS" if m.loudness.target_rms_dbfs is not None else ""
            lines.append(
                f"wrote {os.path.relpath(bounced.path)}: {m.duration_ms / 1000:.1f} s, "
                f"{m.loudness.measured_lufs:.1f} LUFS, {m.loudness.measured_true_peak_dbtp:.1f} dBTP{rms}"
                + (f", {len(m.placeholders)} placeholder(s)" if m.placeholders else "")
                + f", QC {'pass' if qc.passed else 'FAIL'} ({qc.preset or 'custom target'})"
            )
        lines += _page_lines(report)
    else:
        unasked = "master" not in result.outcomes  # run --only without master
        lines.append(counts + (" — not bounced (--only without master)" if unasked else " — no output written"))
        lines += _page_lines(report)  # the page says which steps failed and why
    budget = result.budget
    if budget.requests:
        by = ", ".join(f"{name} ${usd:.4f}" for name, usd in budget.by_provider.items())
        lines.append(f"spent ${budget.spent_usd:.4f} on {budget.requests} paid requests ({by})")
    return lines


def _page_lines(report: Any) -> list[str]:
    """A ``report: PATH`` line for every report page the run wrote (one per output)."""
    return [f"report: {os.path.relpath(page)}" for page in report.report_pages]


def _run_json(report: Any) -> dict[str, Any]:
    """A run's result as ``audioflow/schemas/cli-run.schema.json`` describes it (one recipe)."""
    result = report.result
    manifest = report.manifest
    return {
        "output": str(report.output) if report.output else None,
        "outputs": [
            {"path": str(b.path), "manifest": str(b.manifest_path), "qc_pass": b.qc.passed} for b in report.outputs
        ],
        "rendered": result.count("rendered"),
        "cached": result.count("cached"),
        "failed": result.count("failed"),
        "spent_usd": result.budget.spent_usd,
        "duration_ms": manifest.duration_ms if manifest else None,
        "loudness": manifest.loudness.to_json() if manifest else None,
        "files": _files(report),
        "placeholders": list(manifest.placeholders) if manifest else _placeholders(result),
        "notes": _notes(result),
        "steps": [
            {
                "id": o.step.id,
                "kind": str(o.step.kind),
                "provider": o.step.provider,
                "status": str(o.status),
                "input_digest": o.digest,
                "error": o.error,
            }
            for o in result.outcomes.values()
        ],
    }


def _files(report: Any) -> list[str]:
    """Every file the run wrote: each output, its manifest, its transcripts and chapters file, and the
    report pages (after a failure, the failed-run pages)."""
    written: list[Path] = []
    for bounced in report.outputs:
        manifest = bounced.manifest
        sidecars = [*manifest.transcripts, *filter(None, [manifest.chapters_file])]
        written += [bounced.path, bounced.manifest_path, *(bounced.path.parent / name for name in sidecars)]
    written += report.report_pages
    return [str(path) for path in dict.fromkeys(written)]


def _placeholders(result: Any) -> list[str]:
    """The placeholder steps of a run that bounced nothing (the manifest lists them otherwise)."""
    return [o.step.id for o in result.outcomes.values() if (meta := o.meta) is not None and meta.placeholder]


def _notes(result: Any) -> list[dict[str, str]]:
    """Every step's notes: ``kind`` is placeholder, approximate or note."""
    notes = []
    for outcome in result.outcomes.values():
        meta = outcome.meta
        if meta is None:
            continue
        kind = "placeholder" if meta.placeholder else "approximate" if meta.approximate else "note"
        notes += [{"step": outcome.step.id, "kind": kind, "text": note} for note in meta.notes]
    return notes


def _print_run(recipe: Path, report: Any, as_json: bool) -> None:
    if as_json:
        _echo(json.dumps(_run_json(report), indent=2))
        return
    for line in _summary(report, recipe):
        _print_line(line)


#: The prefixes of the summary's lines that are notes about the result (stderr), not the result itself.
NOTE_PREFIXES = ("placeholder:", "approximate:", "note:")


def _print_line(line: str) -> None:
    """One line of a run's summary where it belongs: a failure or a note on stderr, a result on stdout."""
    if line.startswith("failed:"):
        _err(line)
    elif line.startswith(NOTE_PREFIXES):
        _note(line)
    else:
        _echo(line)


def _report_qc(reports: Any, allow: bool) -> bool:
    """One line on stderr per output that fails its preset (``error:``, or ``warning:`` when
    ``allow``); whether the run fails for it."""
    failed = False
    for report in reports:
        for bounced in report.qc_failures:
            qc = bounced.qc
            why = "; ".join(check.reason for check in qc.failures)
            level, preset = "warning" if allow else "error", qc.preset or "its target"
            _err(f"{level}: QC: {os.path.relpath(bounced.path)} fails {preset}: {why}")
            failed = not allow
    return failed


def _print_batch(reports: dict[Path, Any], errors: dict[Path, str], budget: Any, as_json: bool) -> None:
    """Each recipe's summary, then every failure of the batch, then the totals."""
    failed = [path for path, report in reports.items() if path in errors or not report.ok]
    if as_json:
        recipes = [{"recipe": str(path), **_run_json(r), "error": errors.get(path)} for path, r in reports.items()]
        summary = {"recipes": recipes, "failed": [str(p) for p in failed], "spent_usd": budget.spent_usd}
        _echo(json.dumps(summary, indent=2))
        return
    failures = []
    for path, report in reports.items():
        _echo(f"== {path} ==")
        for line in _summary(report, path):
            if line.startswith("failed:"):
                failures.append(f"failed: {path}: {line.removeprefix('failed: ')}")
            elif not line.startswith("spent "):
                _print_line(line)
        if path in errors:
            failures.append(f"failed: {path}: {errors[path]}")
    results = [r.result for r in reports.values()]
    counts = {status: sum(r.count(status) for r in results) for status in ("rendered", "cached", "failed")}
    _echo(
        f"batch: {len(reports)} recipes, {len(reports) - len(failed)} written, {len(failed)} failed; "
        f"{counts['rendered']} steps rendered, {counts['cached']} cached, {counts['failed']} failed"
    )
    if budget.requests:
        by = ", ".join(f"{name} ${usd:.4f}" for name, usd in budget.by_provider.items())
        _echo(f"spent ${budget.spent_usd:.4f} on {budget.requests} paid requests ({by})")
    for line in failures:
        _err(line)
