"""The report page of a run that wrote no output: which steps failed and why, which did not run, and
what rendered. Written where the run's report would be (``<output stem>.report.html``), so the page a
producer keeps open says what went wrong instead of showing an earlier render as if it were this one.

One self-contained page: no script, no figures, nothing fetched (a Content-Security-Policy that
allows inline style only)."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from ..cache.atomic import write_atomic
from ..recipe.paths import sidecar_paths
from .outcomes import RunResult
from .staleness import Plan

__all__ = ["write_failed_pages"]

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — run failed</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #222; }}
.fail {{ color: #b00020; font-weight: 600; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }}
td.error {{ white-space: pre-wrap; }}
</style></head>
<body>
<h1>{title}</h1>
<p class="fail" id="verdict">RUN FAILED: {summary}</p>
<p>{output_note} audioflow {version}, {when}.</p>
<h2>Steps</h2>
<table id="steps"><thead><tr><th>step</th><th>kind</th><th>provider</th><th>status</th><th>why</th></tr></thead>
<tbody>
{rows}
</tbody></table>
</body></html>
"""


def write_failed_pages(plan: Plan, result: RunResult) -> Path | None:
    """Write the failure page beside each of the recipe's outputs (where its report goes); the first
    page's path, or None for a recipe without outputs. Raises :class:`~audioflow.errors.CacheError`
    (from the atomic write) when a page cannot be written."""
    recipe = plan.graph.recipe
    first = None
    for output in recipe.outputs:
        page = sidecar_paths(output.path, output.sidecar_stem)["report"]
        write_atomic(page, _page(plan, result, output.path).encode("utf-8"), shared=True)
        first = first or page
    return first


def _page(plan: Plan, result: RunResult, output: Path) -> str:
    failed = [o for o in result.outcomes.values() if o.status == "failed"]
    not_run = [o for o in result.outcomes.values() if o.status in ("blocked", "skipped")]
    summary = f"{len(failed)} step{'' if len(failed) == 1 else 's'} failed"
    if failed:
        summary += " (" + ", ".join(o.step.id for o in failed[:5]) + (", …" if len(failed) > 5 else "") + ")"
    summary += f", {len(not_run)} not run; no output was written"
    kept = "is from an earlier run; it was not replaced" if output.exists() else "was not written"
    rows = []
    for step_id, outcome in result.outcomes.items():
        step = plan.graph.steps[step_id]
        status = str(outcome.status)
        rows.append(
            f'<tr class="{_esc(status)}"><td>{_esc(step_id)}</td><td>{_esc(str(step.kind))}</td>'
            f"<td>{_esc(step.provider or '-')}</td><td>{_esc(status)}</td>"
            f'<td class="error">{_esc(outcome.error or "")}</td></tr>'
        )
    return _PAGE.format(
        title=_esc(plan.graph.recipe.title or output.stem),
        summary=_esc(summary),
        output_note=f"<code>{_esc(output.name)}</code> {kept}.",
        version=_esc(__version__),
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        rows="\n".join(rows),
    )


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
