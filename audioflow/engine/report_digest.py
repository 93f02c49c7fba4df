"""Whether a report page is up to date, decided without the audio stack: the digest of everything a
page shows (:func:`page_digest`), embedded in the page as ``<meta name="audioflow-report">``, and the
name under which a take's preview is kept (:func:`preview_name`). A run whose page already carries
its digest rewrites nothing and imports neither numpy nor matplotlib (``tests/test_startup.py``)."""

from __future__ import annotations

import functools
import hashlib
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..cache import StepRecord, canonical_json, sha256_hex
from ..cache.maintenance import PREVIEWS_AREA
from ..steps import StepKind

if TYPE_CHECKING:
    from .scheduler import RunResult
    from .staleness import Plan

__all__ = ["PREVIEW_BITRATE_KBPS", "PREVIEW_MAX_S", "page_digest", "preview_name", "wanted", "written_digest"]

#: The longest preview of a step's take, s; the previews' bitrate (Opus, mono), kbps.
PREVIEW_MAX_S = 20.0
PREVIEW_BITRATE_KBPS = 24
_TAG = hashlib.sha256(f"opus mono {PREVIEW_MAX_S:g}s {PREVIEW_BITRATE_KBPS}k v1".encode()).hexdigest()[:12]
#: Steps whose takes get no preview: the programme itself plays from the output.
NO_PREVIEW = frozenset({StepKind.MIX, StepKind.MASTER, StepKind.DIALOGUE})
_CODE = ("report.py", "report_digest.py", "report_figures.py", "report_previews.py", "report_template.html")
_DIGEST_META = re.compile(rb'<meta name="audioflow-report" content="([0-9a-f]{64})">')


def preview_name(artifact_digest: str) -> str:
    """The preview's key under the store root for the take with content ``artifact_digest``: its
    digest plus a tag of the preview settings (a change of settings makes new previews)."""
    return f"{PREVIEWS_AREA}/{artifact_digest[:2]}/{artifact_digest}.{_TAG}.ogg"


def wanted(result: RunResult) -> dict[str, StepRecord]:
    """The steps whose takes get a preview, and their records."""
    return {
        step_id: outcome.record
        for step_id, outcome in result.outcomes.items()
        if outcome.step.kind not in NO_PREVIEW and outcome.record is not None
    }


@functools.cache
def _code_version() -> str:
    """The report code's version: audioflow's and a digest of the report's sources."""
    folder = resources.files("audioflow.engine")
    return __version__ + ":" + sha256_hex(b"".join(folder.joinpath(name).read_bytes() for name in _CODE))


def page_digest(
    plan: Plan, result: RunResult, output: Path, master_id: str = "master", manifest: dict[str, Any] | None = None
) -> str:
    """A sha256 of everything the page of ``output`` shows, made without decoding anything: the
    output's ``manifest`` (JSON), the recipe's title, speakers and chapters, every step's status,
    input digest and artifact digest (the master's among them), each preview's name (its take's
    digest and the preview settings), and the report code's version."""
    recipe = plan.graph.recipe
    steps = [
        [step_id, str(o.status), o.digest, o.record.artifact.digest if o.record else None]
        for step_id, o in result.outcomes.items()
    ]
    master = result.outcomes[master_id].record
    shown = {
        "code": _code_version(),
        "output": output.name,
        "master": master.artifact.digest if master else None,
        "manifest": manifest,
        "recipe": [recipe.title, {n: v.shown_name for n, v in recipe.cast.items()}, repr(recipe.chapters)],
        "steps": steps,
        "previews": {step_id: preview_name(r.artifact.digest) for step_id, r in wanted(result).items()},
    }
    return sha256_hex(canonical_json(shown))


def written_digest(path: Path) -> str | None:
    """The digest embedded in the page at ``path``, or None (no page, or none in it)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    found = _DIGEST_META.search(head)
    return found[1].decode("ascii") if found else None
