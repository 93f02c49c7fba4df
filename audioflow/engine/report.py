"""The run report: ``<output stem>.report.html`` beside the output, one self-contained page (no
network at view time) a producer reads and listens to.

It shows the programme as lanes (each mix track, each dialogue line on its speaker's lane, the cues
and the chapters, placed by :func:`~.builtin_steps._place_tracks` and :mod:`.timeline`: the code the
mix used), the master's waveform (a min/max envelope) and short-term loudness (EBU R128, 3 s) against
the target, each bed's gain with its duck envelope (:func:`~audioflow.audio.mix.clip_gain_db`), the
master's measured figures with pass/fail, and every step (kind, provider, cached/rendered,
placeholder/approximate, cost, request id) with a preview of its take. The lanes, waveform, beds
and loudness are panels of one static SVG figure on one time axis, drawn by matplotlib
(:mod:`.report_figures`); the page's script only plays and seeks.

The programme's ``<audio>`` points at the output file beside the report (a relative ``src``). A
step's take is embedded as a short Opus preview in a ``data:`` URI: mono, 24 kbps, its first
:data:`PREVIEW_MAX_S` seconds, at most :data:`PREVIEWS_MAX_BYTES` for the whole page (later steps
say "no preview" past it); the mix and the master have none (the programme player plays them).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from .. import __version__
from ..audio import Clip, clip_gain_db
from ..audio.overview import OVERVIEW_POINTS, Overview, overview
from ..cache import ArtifactStore, write_atomic
from ..errors import AudioflowError
from ..recipe.paths import sidecar_paths
from ..steps import DialoguePayload, MasterPayload, MixPayload, StepKind, TrackSpec
from . import report_figures, timeline
from .builtin_steps import Upstream, _place_tracks
from .chapters import resolve_chapters
from .events import StepStatus
from .meta import Segment, StepMeta
from .report_digest import NO_PREVIEW, PREVIEW_MAX_S, page_digest, wanted, written_digest
from .report_previews import previews
from .scheduler import RunResult, StepOutcome
from .staleness import Plan, PlanStatus

__all__ = [
    "ENVELOPE_POINTS",
    "LOUDNESS_TOLERANCE_LU",
    "PREVIEWS_MAX_BYTES",
    "PREVIEW_MAX_S",
    "Block",
    "ReportData",
    "cached_result",
    "collect",
    "page_bytes",
    "page_digest",
    "page_reads",
    "render_html",
    "write_report",
]

#: The most encoded preview bytes one page embeds (before base64, which adds a third).
PREVIEWS_MAX_BYTES = 2_000_000
#: Points across the programme for the waveform and the bed gains.
ENVELOPE_POINTS = OVERVIEW_POINTS
#: How far the measured integrated loudness may be from the target and still pass, LU (DESIGN.md).
LOUDNESS_TOLERANCE_LU = 0.2


@dataclass(frozen=True)
class Block:
    """One thing on a lane: ``lane`` (a track name, a speaker's display name, ``cues``), its span
    on the programme (ms), a short ``label`` and the full ``title`` shown on hover."""

    lane: str
    start_ms: float
    end_ms: float
    label: str
    title: str


@dataclass(frozen=True)
class BedCurve:
    """A bed's gain over the programme (dB at ``times_ms``; -inf where it is silent) and the speech
    it ducks under (ms)."""

    name: str
    times_ms: list[float]
    gain_db: list[float]
    depth_db: float | None
    speech_ms: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class StepRow:
    """One row of the step table; ``preview`` is a ``data:`` URI or why there is none."""

    id: str
    kind: str
    provider: str
    status: str
    placeholder: bool
    approximate: bool
    cost_usd: float
    request_id: str
    preview: str
    notes: tuple[str, ...] = ()


@dataclass
class ReportData:
    """Everything the page shows, in ms and dB (see the module docstring)."""

    title: str
    output: str
    duration_ms: float
    lanes: list[str]
    blocks: list[Block]
    speakers: list[str]
    chapters: list[Block]
    overview: Overview  # the master's envelope and short-term loudness
    beds: list[BedCurve]
    figures: dict[str, float | bool | str]
    verdict: tuple[bool, list[str]]
    steps: list[StepRow] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)  # the output's QC checks (manifest)
    digest: str = ""  # :func:`page_digest`, embedded in the page


def cached_result(plan: Plan) -> RunResult:
    """A :class:`RunResult` of every step found in the cache (what ``audioflow report`` shows).
    Raises AudioflowError when the master is not there: the recipe has not been rendered as it is."""
    masters = [plan.steps.get(o.step_id) for o in plan.graph.recipe.outputs]
    if any(m is None or m.status != PlanStatus.UP_TO_DATE for m in masters):
        stale = len(plan.stale)
        raise AudioflowError(
            f"{plan.graph.recipe.path.name} has not been rendered as it is now ({stale} step(s) stale): "
            f"run `audioflow run {plan.graph.recipe.path.name}` first"
        )
    result = RunResult()
    for step_id, planned in plan.steps.items():
        result.outcomes[step_id] = StepOutcome(planned.step, StepStatus.CACHED, planned.digest, planned.record)
    return result


def _meta(result: RunResult, step_id: str) -> StepMeta:
    meta = result.outcomes[step_id].meta
    if meta is None:
        raise AudioflowError(f"step {step_id} has no artifact: the report needs a finished run")
    return meta


@dataclass(frozen=True)
class _Mix:
    """The mix as it was made: each track with the clip the mix placed for it (start, length,
    gain, fades, duck), and the programme's transcript segments in time order."""

    payload: MixPayload
    tracks: list[tuple[TrackSpec, Clip]]
    segments: list[Segment]


def _placement(plan: Plan, result: RunResult, mix_id: str, store: ArtifactStore) -> _Mix:
    """Place the mix's tracks again with the mix's own code (:func:`~.builtin_steps._place_tracks`)."""
    step = plan.graph.steps[mix_id]
    payload = step.payload
    assert isinstance(payload, MixPayload)
    inputs = {}
    for dep in step.deps:
        record = result.outcomes[dep].record
        assert record is not None
        inputs[dep] = Upstream(dep, plan.graph.steps[dep].kind, record.artifact.path, StepMeta.from_json(record.meta))
    placed = _place_tracks(payload, inputs, store.tmp_dir)
    segments = sorted(placed.segments, key=lambda seg: seg.start_ms)
    return _Mix(payload, list(zip(payload.tracks, placed.clips, strict=True)), segments)


def _mix_of(plan: Plan, master_id: str) -> str:
    """The mix step the master ``master_id`` masters."""
    return next(d for d in plan.graph.steps[master_id].deps if plan.graph.steps[d].kind == StepKind.MIX)


def _cue_blocks(plan: Plan, result: RunResult, mix: _Mix) -> list[Block]:
    """The cues of every dialogue track, where they play in the programme."""
    blocks = []
    for track, clip in mix.tracks:
        payload = plan.graph.steps[track.track].payload
        if not isinstance(payload, DialoguePayload) or not payload.cues:
            continue
        meta = _meta(result, track.track)
        spans = [(seg.start_ms, seg.end_ms) for seg in meta.segments]
        if len(spans) != len(payload.lines):
            continue
        end = clip.end_ms
        for cue in payload.cues:
            start = clip.start_ms + timeline.cue_start_ms(cue, spans)
            length = cue.duration_ms if cue.duration_ms is not None else _meta(result, cue.step).duration_ms
            if start < end:
                where = f"{cue.at} of line {cue.line + 1} of {track.track}"
                blocks.append(Block("cues", start, min(start + length, end), cue.step, f"{cue.step} at the {where}"))
    return blocks


def _lanes(plan: Plan, result: RunResult, mix: _Mix) -> tuple[list[str], list[Block], list[str]]:
    """(lane names in order, blocks, speakers' display names): tracks, speakers, cues."""
    cast = plan.graph.recipe.cast
    blocks: list[Block] = []
    for track, clip in mix.tracks:
        name = track.track
        meta = _meta(result, name)
        kind = plan.graph.steps[name].kind
        tags = [str(kind)] + (["placeholder"] if meta.placeholders_inside(name) else [])
        label = name + (" (placeholder)" if meta.placeholder else "")
        title = f"{name}: {', '.join(tags)}, {clip.start_ms / 1000:.1f}–{clip.end_ms / 1000:.1f} s"
        blocks.append(Block(name, clip.start_ms, clip.end_ms, label, title))
    track_lanes = list(dict.fromkeys(b.lane for b in blocks))
    speakers: dict[str, None] = {}
    order = {name: i for i, name in enumerate(cast)}
    for seg in sorted(mix.segments, key=lambda s: order.get(s.voice or "", len(order))):
        speakers[cast[seg.voice].shown_name if seg.voice in cast else (seg.voice or "speech")] = None
    for seg in mix.segments:
        who = cast[seg.voice].shown_name if seg.voice in cast else (seg.voice or "speech")
        short = seg.text if len(seg.text) <= 40 else seg.text[:39] + "…"
        blocks.append(Block(who, seg.start_ms, seg.end_ms, short, f"{who}: {seg.text}"))
    cues = _cue_blocks(plan, result, mix)
    blocks += cues
    lanes = track_lanes + list(speakers) + (["cues"] if cues else [])
    return lanes, blocks, list(speakers)


def _beds(mix: _Mix, duration_ms: float) -> list[BedCurve]:
    times = [duration_ms * k / (ENVELOPE_POINTS - 1) for k in range(ENVELOPE_POINTS)]
    beds = []
    for track, clip in mix.tracks:
        if clip.duck is None and not track.under:
            continue
        gain = clip_gain_db(clip, times, mix.payload.sample_rate_hz).tolist()
        speech = clip.duck.intervals_ms if clip.duck is not None else ()
        depth = clip.duck.depth_db if clip.duck is not None else None
        beds.append(BedCurve(track.track, times, gain, depth, speech))
    return beds


def _verdict(
    payload: MasterPayload, meta: StepMeta, qc: dict[str, Any] | None
) -> tuple[dict[str, float | bool | str], tuple[bool, list[str]]]:
    """The master's figures and the page's verdict: the output's QC report (the manifest's ``qc``:
    its pass and each failed check's reason) when there is one, else the master's loudness against
    its target (±:data:`LOUDNESS_TOLERANCE_LU`) and ceiling."""
    loud = meta.loudness
    assert loud is not None
    figures: dict[str, float | bool | str] = {
        "target_lufs": payload.target_lufs,
        "measured_lufs": round(loud.lufs, 2),
        "target_true_peak_dbtp": payload.true_peak_dbtp,
        "measured_true_peak_dbtp": round(loud.true_peak_dbtp, 2),
        "gain_db": round(loud.gain_db, 2),
        "limited": loud.limited,
        "format": payload.format,
    }
    if qc is not None:
        failed = [str(check["reason"]) for check in qc.get("checks", []) if not check.get("pass")]
        return figures, (bool(qc.get("pass")) and not failed, failed)
    problems = []
    if not abs(loud.lufs - payload.target_lufs) <= LOUDNESS_TOLERANCE_LU:
        problems.append(
            f"integrated loudness {loud.lufs:.2f} LUFS is more than {LOUDNESS_TOLERANCE_LU} LU from "
            f"{payload.target_lufs:g} LUFS"
        )
    if not loud.true_peak_dbtp <= payload.true_peak_dbtp + 0.005:
        problems.append(f"true peak {loud.true_peak_dbtp:.2f} dBTP is above {payload.true_peak_dbtp:g} dBTP")
    return figures, (not problems, problems)


def _previews(result: RunResult, store: ArtifactStore) -> dict[str, str]:
    """Step id → a ``data:`` URI of its take (see the module docstring), or why there is none;
    the previews kept in ``store`` (:mod:`.report_previews`), the missing ones made there."""
    encoded = previews(store.root, store.tmp_dir, wanted(result))
    out, budget = {}, PREVIEWS_MAX_BYTES
    for step_id, outcome in result.outcomes.items():
        if outcome.step.kind in NO_PREVIEW:
            out[step_id] = "programme player"
        elif step_id not in encoded:
            out[step_id] = f"no take: {outcome.status}"
        elif not encoded[step_id]:
            out[step_id] = "empty"
        elif len(encoded[step_id]) > budget:
            out[step_id] = "no preview: the page's preview budget is spent"
        else:
            budget -= len(encoded[step_id])
            out[step_id] = "data:audio/ogg;base64," + base64.b64encode(encoded[step_id]).decode("ascii")
    return out


def _steps(result: RunResult, store: ArtifactStore) -> list[StepRow]:
    rows = []
    shown = _previews(result, store)
    for step_id, outcome in result.outcomes.items():
        meta = outcome.meta or StepMeta()
        step = outcome.step
        rows.append(
            StepRow(
                step_id,
                str(step.kind),
                step.provider or "-",
                str(outcome.status),
                meta.placeholder,
                meta.approximate,
                meta.cost_usd,
                meta.request_id or "",
                shown[step_id],
                meta.notes,
            )
        )
    return rows


def collect(
    plan: Plan,
    result: RunResult,
    store: ArtifactStore,
    output: Path,
    master_id: str = "master",
    qc: dict[str, Any] | None = None,
) -> ReportData:
    """The report's data for a finished run whose master was bounced to ``output`` (``store``'s
    temporary folder is the mix placement's scratch space, its previews folder the previews'); its
    chapters resolved as the bounce resolves them; ``master_id`` is the output's master step, ``qc``
    the output's QC report (the manifest's ``qc``; None: judged by the master's loudness). Raises
    AudioflowError when the run did not finish, AudioError when the master cannot be decoded."""
    master_step = plan.graph.steps[master_id]
    mix_id = _mix_of(plan, master_id)
    master_meta = _meta(result, master_id)
    master_payload = master_step.payload
    assert isinstance(master_payload, MasterPayload)
    mix = _placement(plan, result, mix_id, store)
    lanes, blocks, speakers = _lanes(plan, result, mix)
    record = result.outcomes[master_id].record
    assert record is not None
    rate, channels = master_meta.sample_rate_hz or master_payload.sample_rate_hz, master_meta.channels or 2
    seen = master_meta.overview  # measured by the master as it checked its file; else decoded here
    if seen is None:
        seen = overview(
            record.artifact.path,
            sample_rate_hz=rate,
            channels=channels,
            duration_ms=master_meta.duration_ms,
            points=ENVELOPE_POINTS,
        )
    figures, verdict = _verdict(master_payload, master_meta, qc)
    mix_meta = _meta(result, mix_id)
    chapters = resolve_chapters(plan.graph.recipe.chapters, mix_meta, master_meta.duration_ms, rate)
    marks = [Block("chapters", c.start_ms, c.end_ms, c.title, f"chapter: {c.title}") for c in chapters]
    if marks:
        lanes, blocks = ["chapters", *lanes], [*marks, *blocks]
    return ReportData(
        plan.graph.recipe.title,
        output.name,
        master_meta.duration_ms,
        lanes,
        blocks,
        speakers,
        marks,
        seen,
        _beds(mix, master_meta.duration_ms),
        figures,
        verdict,
        _steps(result, store),
        list(qc.get("checks", [])) if qc else [],
    )


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _step_rows(rows: Sequence[StepRow]) -> str:
    out = []
    for row in rows:
        if row.preview.startswith("data:"):
            player = f'<audio class="take" controls preload="none" src="{row.preview}"></audio>'
        else:
            player = f'<span class="muted">{_esc(row.preview)}</span>'
        flags = [f for f, on in (("placeholder", row.placeholder), ("approximate", row.approximate)) if on]
        notes = f' title="{_esc("; ".join(row.notes))}"' if row.notes else ""
        cost = f"${row.cost_usd:.4f}" if row.cost_usd else "-"
        out.append(
            f'<tr data-step="{_esc(row.id)}"{notes}><td>{_esc(row.id)}</td><td>{_esc(row.kind)}</td>'
            f"<td>{_esc(row.provider)}</td><td>{_esc(row.status)}</td>"
            f'<td class="{"warn" if flags else ""}">{_esc(", ".join(flags) or "-")}</td>'
            f"<td>{cost}</td><td><code>{_esc(row.request_id or '-')}</code></td>"
            f"<td>{player}</td></tr>"
        )
    return "\n".join(out)


def _figure_rows(data: ReportData) -> str:
    f = data.figures
    rows = [
        ("Integrated loudness", f"{f['measured_lufs']} LUFS", f"{f['target_lufs']} LUFS ± {LOUDNESS_TOLERANCE_LU} LU"),
        ("True peak", f"{f['measured_true_peak_dbtp']} dBTP", f"≤ {f['target_true_peak_dbtp']} dBTP"),
        ("Mastering gain", f"{f['gain_db']} dB", "limiter acted" if f["limited"] else "limiter idle"),
        ("Length", f"{data.duration_ms / 1000:.1f} s", str(f["format"])),
    ]
    rows += [
        (f"QC {c.get('figure', '')}", "pass" if c.get("pass") else "FAIL", str(c.get("reason", "")))
        for c in data.checks
    ]
    return "\n".join(f"<tr><th>{_esc(a)}</th><td>{_esc(b)}</td><td>{_esc(c)}</td></tr>" for a, b, c in rows)


def render_html(data: ReportData) -> str:
    """The page: the template filled with the figure (SVG), tables and the lane map for the script."""
    svgs = report_figures.draw(data)
    ok, problems = data.verdict
    verdict = '<p class="pass" id="verdict">PASS</p>' if ok else '<p class="fail" id="verdict">FAIL: '
    if not ok:
        verdict += _esc("; ".join(problems)) + "</p>"
    template = Template(resources.files("audioflow.engine").joinpath("report_template.html").read_text("utf-8"))
    seek = {gid: [round(start_ms / 1000.0, 3), title] for gid, (start_ms, title) in svgs.seek.items()}
    return template.substitute(
        title=_esc(data.title),
        output=_esc(data.output),
        src=_esc(Path(data.output).as_posix()),
        duration_s=f"{data.duration_ms / 1000:.1f}",
        version=_esc(__version__),
        speakers=", ".join(_esc(s) for s in data.speakers) or "none",
        figure_svg=svgs.svg,
        figures=_figure_rows(data),
        verdict=verdict,
        steps=_step_rows(data.steps),
        seek_json=json.dumps(seek).replace("</", "<\\/"),
        axis_json=json.dumps({"left": svgs.left, "right": svgs.right, "duration_s": data.duration_ms / 1000.0}),
        preview_cap=f"{PREVIEW_MAX_S:g} s",
        digest=_esc(data.digest),
    )


def write_report(
    plan: Plan,
    result: RunResult,
    store: ArtifactStore,
    output: Path,
    stem: str | None = None,
    master_id: str = "master",
    *,
    manifest: dict[str, Any] | None = None,
    force: bool = False,
) -> tuple[Path, bool]:
    """Write the report of a finished run beside ``output`` (its ``report`` sidecar path named
    ``stem``, which ``validate`` checked; ``master_id`` its master step; ``manifest`` the output's
    manifest JSON, whose ``qc`` gives the verdict) and return (its path, whether it was written):
    a page that already carries this run's :func:`page_digest` is left as it is unless ``force``.
    Raises as :func:`collect`, CacheError on I/O failure."""
    path = sidecar_paths(output, stem)["report"]
    digest = page_digest(plan, result, output, master_id, manifest)
    if not force and written_digest(path) == digest:
        return path, False
    page = page_bytes(plan, result, store, output, master_id, manifest=manifest, digest=digest)
    write_atomic(path, page, shared=True)
    return path, True


def page_bytes(
    plan: Plan,
    result: RunResult,
    store: ArtifactStore,
    output: Path,
    master_id: str = "master",
    *,
    manifest: dict[str, Any] | None = None,
    digest: str | None = None,
) -> bytes:
    """The page :func:`write_report` writes for ``output`` (UTF-8 HTML), made anywhere ``store``
    holds the artifacts of :func:`page_reads` (a cluster worker renders it; its client writes it).
    ``digest``: the page's :func:`page_digest` when the caller has it already. Raises as :func:`collect`."""
    data = collect(plan, result, store, output, master_id, manifest.get("qc") if manifest else None)
    data.digest = digest or page_digest(plan, result, output, master_id, manifest)
    return render_html(data).encode("utf-8")


def page_reads(plan: Plan, result: RunResult, master_id: str = "master") -> set[str]:
    """The steps whose artifacts :func:`collect` opens: the previewed takes, the mix's inputs (placed
    again), and the master when its meta keeps no overview."""
    reads = set(wanted(result)) | set(plan.graph.steps[_mix_of(plan, master_id)].deps)
    master = result.outcomes[master_id].meta
    return reads if master is not None and master.overview is not None else reads | {master_id}
