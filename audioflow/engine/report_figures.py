"""The report's figures as static SVG, drawn with matplotlib (no pyplot state; the Agg-free SVG
backend): the lanes, the waveform, the beds' gains and the short-term loudness. Every figure shares
one time axis (seconds) at the same horizontal margins, so the page can draw one playhead over all
of them; each lane block carries an SVG ``id`` (``seg-N``) the page's script seeks to."""

from __future__ import annotations

import hashlib
import io
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .report import ReportData

__all__ = ["Svgs", "draw"]

LEFT, RIGHT = 0.17, 0.985  # the figures' horizontal margins (fractions of the width)
WIDTH_IN = 11.0
_TRACK, _CUE, _CHAPTER = "#6b7b8c", "#d9822b", "#7a3db8"
T = TypeVar("T")
_KEPT: OrderedDict[tuple[str, str], Any] = OrderedDict()  # the last figures drawn, by their inputs' digest
_KEPT_LOCK = threading.Lock()
_KEPT_MAX = 8
_SPEAKERS = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e"]


@dataclass(frozen=True)
class Svgs:
    """The figures as inline ``<svg>`` text; ``seek`` maps each lane block's SVG id to its start (ms);
    ``left``/``right`` are where the time axis starts and ends (fractions of a figure's width)."""

    lanes: str
    waveform: str
    beds: str
    loudness: str
    seek: dict[str, tuple[float, str]]
    left: float = LEFT
    right: float = RIGHT


def _seconds(times_ms: list[float]) -> list[float]:
    return [t / 1000.0 for t in times_ms]


def _finite(values: list[float]) -> list[float]:
    """``values`` with -inf (silence) as NaN: a gap in the line, not a plunge."""
    return [v if math.isfinite(v) else math.nan for v in values]


def _figure(height_in: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, height_in))
    ax = fig.add_subplot()
    fig.subplots_adjust(left=LEFT, right=RIGHT, top=1 - 0.25 / height_in, bottom=0.45 / height_in)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _svg(fig: Any, salt: str) -> str:
    """The figure as inline SVG: text as text (searchable, small), ids salted per figure, no XML prolog."""
    from matplotlib import rc_context

    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'(<svg[^>]*?) width="[^"]*" height="[^"]*"', r'\1 width="100%"', text, count=1)
    return text


def _time_axis(ax: Any, duration_s: float, chapters: list[tuple[float, str]]) -> None:
    ax.set_xlim(0.0, max(duration_s, 0.001))
    for start_s, _ in chapters:
        ax.axvline(start_s, color=_CHAPTER, linestyle="--", linewidth=0.9)


def _lanes(data: ReportData, chapters: list[tuple[float, str]]) -> tuple[str, dict[str, tuple[float, str]]]:
    rows = data.lanes
    fig, ax = _figure(0.75 + 0.32 * max(1, len(rows)))
    row = {name: i for i, name in enumerate(rows)}
    colours = {name: _SPEAKERS[i % len(_SPEAKERS)] for i, name in enumerate(data.speakers)}
    seek: dict[str, tuple[float, str]] = {}
    for i, block in enumerate(data.blocks):
        y = row[block.lane]
        colour = colours.get(block.lane, {"cues": _CUE, "chapters": _CHAPTER}.get(block.lane, _TRACK))
        width = max((block.end_ms - block.start_ms) / 1000.0, 0.05)
        (bar,) = ax.barh(y, width, left=block.start_ms / 1000.0, height=0.72, color=colour, alpha=0.85)
        bar.set_gid(f"seg-{i}")
        seek[f"seg-{i}"] = (block.start_ms, block.title)
        label = ax.text(block.start_ms / 1000.0 + 0.1, y, block.label, va="center", fontsize=7, color="white")
        label.set_clip_path(bar)
        label.set_gid(f"seg-{i}-label")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    _time_axis(ax, data.duration_ms / 1000.0, chapters)
    ax.set_xlabel("programme time (s) — click a block to play from there")
    return _svg(fig, "lanes"), seek


def _waveform(data: ReportData, chapters: list[tuple[float, str]]) -> str:
    seen = data.overview
    fig, ax = _figure(1.7)
    ax.fill_between(_seconds(seen.times_ms), seen.low, seen.high, color="#34495e", linewidth=0)
    ax.set_ylim(-1.0, 1.0)
    ax.set_ylabel("master\n(sample value)")
    _time_axis(ax, data.duration_ms / 1000.0, chapters)
    return _svg(fig, "waveform")


def _beds(data: ReportData, chapters: list[tuple[float, str]]) -> str:
    fig, ax = _figure(1.9)
    lowest = -12.0
    for i, bed in enumerate(data.beds):
        gain = _finite(bed.gain_db)
        if i == 0 and bed.speech_ms:
            spans = [(s / 1000.0, (e - s) / 1000.0) for s, e in bed.speech_ms]
            ax.broken_barh(spans, (-200.0, 400.0), color="#e8f0e0", label="speech it ducks under")
        ax.plot(_seconds(bed.times_ms), gain, linewidth=1.3, label=f"{bed.name} gain")
        heard = [g for g in gain if not math.isnan(g)]
        if heard:
            lowest = min(lowest, min(heard) - 3.0)
    if not data.beds:
        ax.text(0.5, 0.5, "no bed in this mix", transform=ax.transAxes, ha="center", va="center", color="#888888")
    ax.set_ylim(max(lowest, -60.0), 6.0)
    ax.set_ylabel("bed gain (dB)")
    if data.beds:
        ax.legend(loc="lower right", fontsize=7, frameon=False, ncols=3)
    _time_axis(ax, data.duration_ms / 1000.0, chapters)
    return _svg(fig, "beds")


def _loudness(data: ReportData, chapters: list[tuple[float, str]]) -> str:
    seen = data.overview
    target = float(data.figures["target_lufs"])
    fig, ax = _figure(1.9)
    ax.plot(
        _seconds(seen.loudness_ms),
        _finite(seen.short_term_lufs),
        color="#c0392b",
        linewidth=1.2,
        label="short-term (3 s)",
    )
    ax.axhline(target, color="#222222", linestyle="--", linewidth=0.9, label=f"target {target:g} LUFS")
    ax.set_ylim(target - 24.0, target + 10.0)
    ax.set_ylabel("loudness (LUFS)")
    ax.legend(loc="lower right", fontsize=7, frameon=False, ncols=2)
    _time_axis(ax, data.duration_ms / 1000.0, chapters)
    ax.set_xlabel("programme time (s)")
    return _svg(fig, "loudness")


def _kept(name: str, key: tuple[Any, ...], make: Callable[[], T]) -> T:
    """``make()``, or what it made for the same ``key`` in this process: two outputs of one mix have
    the same lanes and beds, so the second page reuses the first's SVG (a third of a page's time)."""
    digest = (name, hashlib.sha256(repr(key).encode("utf-8")).hexdigest())
    with _KEPT_LOCK:
        if digest in _KEPT:
            _KEPT.move_to_end(digest)
            return _KEPT[digest]
    made = make()
    with _KEPT_LOCK:
        _KEPT[digest] = made
        while len(_KEPT) > _KEPT_MAX:
            _KEPT.popitem(last=False)
    return made


def draw(data: ReportData) -> Svgs:
    """Every figure of the report for ``data`` (the lanes and beds of a mix already drawn for another
    output's page in this process are reused: :func:`_kept`)."""
    chapters = [(c.start_ms / 1000.0, c.label) for c in data.chapters]
    span = (data.duration_ms, chapters)
    lanes, seek = _kept("lanes", (data.lanes, data.blocks, data.speakers, span), lambda: _lanes(data, chapters))
    beds = _kept("beds", (data.beds, span), lambda: _beds(data, chapters))
    return Svgs(lanes, _waveform(data, chapters), beds, _loudness(data, chapters), dict(seek))
