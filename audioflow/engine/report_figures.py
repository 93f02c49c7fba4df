"""The report's figure as static SVG, drawn with matplotlib (no pyplot state; the SVG backend): the
lanes, the waveform, the beds' gains and the short-term loudness as four panels of one figure on
one shared time axis (seconds), so the page draws one playhead over all of them; each lane block
carries an SVG ``id`` (``seg-N``) the page's script seeks to.

Every bounce draws a page (a batch's hundred on a cluster), so the figure is made cheap to draw:
one figure and one ``savefig`` (one renderer: one text-metrics cache), its panels placed at fixed
positions (no layout engine; axis labels and titles at fixed offsets, so no text extents are
measured to place them), the time ticks chosen once and labelled under the last panel only, the
time grid and chapter marks one line collection per panel, no tick marks, the lines labelled in
place instead of legend boxes, and the process's figure and panels kept and refilled page after
page (making axes cost a third of a figure). Pages are drawn one at a time (a lock): matplotlib's
settings (``rc_context``) are global, and drawing holds the GIL anyway. Its bytes depend only on what it shows
(``svg.hashsalt``, no date): the same in a fresh process as after other pages."""

from __future__ import annotations

import functools
import io
import itertools
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .report import Block, ReportData

__all__ = ["Svgs", "draw"]

LEFT, RIGHT = 0.17, 0.985  # the panels' horizontal margins (fractions of the width)
WIDTH_IN = 11.0
PANELS = ("lanes", "waveform", "beds", "loudness")
_ROW_IN, _TOP_IN, _GAP_IN, _BOTTOM_IN = 0.32, 0.3, 0.42, 0.55
_HEIGHTS_IN = {"waveform": 1.2, "beds": 1.45, "loudness": 1.45}  # the lanes': a row each
_TRACK, _CUE, _CHAPTER, _GRID = "#6b7b8c", "#d9822b", "#7a3db8", "#dddddd"
_LABEL_PT, _ELLIPSIS = 7.0, "\u2026"
_LABEL_LEFT_PT, _LABEL_RIGHT_PT = 1.5, 0.5  # a lane label's room: its block less these
_LABEL_MIN_CHARS = 3  # a label cut shorter than this is left out
_LABEL_SAMPLE = "Nora: Where is she? (placeholder) scene.cue[rope]"  # a lane label's mean character
_SPEAKERS = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e"]
_RC: dict[Any, Any] = {
    "svg.fonttype": "none",  # text as text: searchable, small
    "svg.hashsalt": "audioflow-report",  # ids from content, not random
    "font.size": 9,
    "axes.titlesize": 10,
    "path.simplify": True,
}

#: The settings a text's font is found by (beside its FontProperties).
_FONT_SETTINGS: tuple[Any, ...] = (
    "font.serif",
    "font.sans-serif",
    "font.cursive",
    "font.fantasy",
    "font.monospace",
    "text.hinting_factor",
)


@dataclass(frozen=True)
class Svgs:
    """The figure as inline ``<svg>`` text; ``seek`` maps each lane block's SVG id to (its start in
    ms, its title); ``left``/``right`` are where the time axis starts and ends (fractions of the
    figure's width), the same for every panel."""

    svg: str
    seek: dict[str, tuple[float, str]]
    left: float = LEFT
    right: float = RIGHT


def _seconds(times_ms: list[float]) -> list[float]:
    return [t / 1000.0 for t in times_ms]


def _finite(values: list[float]) -> list[float]:
    """``values`` with -inf (silence) as NaN: a gap in the line, not a plunge."""
    return [v if math.isfinite(v) else math.nan for v in values]


def _ticks(low: float, high: float, bins: int) -> list[float]:
    """About ``bins`` round values from ``low`` to ``high`` (1, 2, 2.5 or 5 times a power of ten apart)."""
    from matplotlib.ticker import MaxNLocator

    values = MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
    return [float(v) for v in values if low - 1e-9 <= v <= high + 1e-9]


def _label(value: float) -> str:
    return f"{value:g}".replace("-", "\u2212")


def _set_yticks(ax: Any, values: list[float]) -> None:
    ax.set_yticks(values, [_label(v) for v in values])


@functools.lru_cache(maxsize=4096)
def _text_metrics(text: str, prop: Any, fonts: tuple[str, ...], ismath: Any) -> tuple[float, float, float]:
    """(width, height, descent) of ``text`` in points, as the SVG renderer measures it (``prop`` a
    private copy; ``fonts`` the font settings its family names resolve by: changed, a new key)."""
    from matplotlib.textpath import text_to_path

    return text_to_path.get_text_width_height_descent(text, prop, ismath)


def _svg_canvas(fig: Any) -> Any:
    """``fig``'s SVG canvas whose renderer remembers text extents across pages: matplotlib keeps
    them per renderer, i.e. per ``savefig``, and measuring a text is most of a tick label's or a
    lane label's cost; lane names, tick labels and titles repeat from page to page. The SVG is the
    one ``savefig`` of matplotlib's own SVG canvas writes, byte for byte (tested)."""
    from matplotlib import cbook, rcParams
    from matplotlib.backends.backend_svg import FigureCanvasSVG, RendererSVG

    class Renderer(RendererSVG):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.fonts = tuple(str(rcParams[key]) for key in _FONT_SETTINGS)

        def get_text_width_height_descent(self, s: str, prop: Any, ismath: Any) -> Any:
            if ismath:
                return super().get_text_width_height_descent(s, prop, ismath)
            return _text_metrics(s, prop.copy(), self.fonts, ismath)

    class Canvas(FigureCanvasSVG):
        def print_svg(self, filename: Any, *, metadata: Any = None, **_: Any) -> None:
            # FigureCanvasSVG.print_svg with the Renderer above (print_figure has applied dpi and
            # colours; nothing here is rasterised, so no MixedModeRenderer)
            with cbook.open_file_cm(filename, "w", encoding="utf-8") as fh:
                dpi = self.figure.dpi
                self.figure.dpi = 72
                width, height = self.figure.get_size_inches()
                renderer = Renderer(width * 72, height * 72, fh, image_dpi=dpi, metadata=metadata)
                self.figure.draw(renderer)
                renderer.finalize()

    return Canvas(fig)


class _Canvas:
    """The figure: its four panels, each with its time grid and chapter marks (line
    collections), made once; :meth:`refill` empties them for the next page."""

    def __init__(self) -> None:
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(WIDTH_IN, 6.0))
        _svg_canvas(self.fig)
        self.axes = {name: self.fig.add_axes((LEFT, 0.0, RIGHT - LEFT, 0.1)) for name in PANELS}
        self.grids, self.marks = {}, {}
        for name, ax in self.axes.items():
            ax.tick_params(bottom=False, left=False, labelbottom=name == "loudness")
            ax.spines[["top", "right"]].set_visible(False)
            ax.yaxis.set_label_coords(-0.05, 0.5)  # fixed: no layout from the tick labels' extents
            ax.xaxis.set_label_coords(0.5, -0.3 / _HEIGHTS_IN["loudness"])
            where = ax.get_xaxis_transform()  # x in seconds, y from the panel's bottom (0) to top (1)
            self.grids[name] = LineCollection([], colors=_GRID, linewidths=0.6, transform=where, zorder=0.5)
            self.marks[name] = LineCollection(
                [], colors=_CHAPTER, linewidths=0.9, linestyles="--", transform=where, zorder=2.5
            )
            ax.add_collection(self.grids[name], autolim=False)
            ax.add_collection(self.marks[name], autolim=False)

    def refill(self, rows: int, ticks: list[float], chapters_s: list[float]) -> None:
        """Remove the last page's artists; size the figure for ``rows`` lanes, place the panels, and
        draw the time grid at ``ticks`` and the chapter marks at ``chapters_s`` (seconds)."""
        kept = {*self.grids.values(), *self.marks.values()}
        for ax in self.axes.values():
            for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts]:
                if artist not in kept:
                    artist.remove()
        heights = {"lanes": _ROW_IN * max(1, rows), **_HEIGHTS_IN}
        total = _TOP_IN + sum(heights.values()) + _GAP_IN * (len(heights) - 1) + _BOTTOM_IN
        self.fig.set_size_inches(WIDTH_IN, total)
        top = total - _TOP_IN
        for name, ax in self.axes.items():
            ax.set_position((LEFT, (top - heights[name]) / total, RIGHT - LEFT, heights[name] / total))
            top -= heights[name] + _GAP_IN
            self.grids[name].set_segments([[(t, 0.0), (t, 1.0)] for t in ticks])
            self.marks[name].set_segments([[(t, 0.0), (t, 1.0)] for t in chapters_s])


_LOCK = threading.Lock()  # one page drawn at a time, on the one figure
_CANVAS: _Canvas | None = None


def _canvas() -> _Canvas:
    """The process's figure (made on first use; call under :data:`_LOCK`)."""
    global _CANVAS
    if _CANVAS is None:
        _CANVAS = _Canvas()
    return _CANVAS


def _fitted(text: str, room_pt: float, width_pt: Callable[[str], float], char_pt: float) -> str:
    """``text`` as it fits in ``room_pt`` points: whole, or cut at a character and ended with an
    ellipsis; ``""`` when fewer than :data:`_LABEL_MIN_CHARS` characters and the ellipsis fit (a
    letter and an ellipsis say nothing). ``width_pt`` measures a text as the renderer will;
    ``char_pt``, a character's mean width, guesses how many fit, so that few texts are measured
    (measuring is most of a label's cost; the renderer reuses the measure of the text shown)."""
    if room_pt <= 0.0:
        return ""
    if len(text) * char_pt <= 1.25 * room_pt and width_pt(text) <= room_pt:
        return text
    body = text.removesuffix(_ELLIPSIS)
    count = min(len(body) - 1, int((room_pt - width_pt(_ELLIPSIS)) / char_pt))
    while count >= _LABEL_MIN_CHARS:
        cut = body[:count].rstrip() + _ELLIPSIS
        if width_pt(cut) <= room_pt:
            return cut
        count -= 1
    return ""


def _label_rooms_s(blocks: list[tuple[str, float, float]]) -> list[float]:
    """For each (lane, start_s, end_s), where its label must end (s): its block's end, or the start
    of the next block on its lane if that comes first (blocks on a lane may overlap), so no two
    labels of a lane meet."""
    ends = [end for _, _, end in blocks]
    by_lane: dict[str, list[int]] = {}
    for i, (lane, _, _) in enumerate(blocks):
        by_lane.setdefault(lane, []).append(i)
    for indexes in by_lane.values():
        ordered = sorted(indexes, key=lambda i: (blocks[i][1], i))
        for here, after in itertools.pairwise(ordered):
            ends[here] = min(ends[here], blocks[after][1])
    return ends


def _width_s(block: Block) -> float:
    """A lane block's drawn width (s): its span, at least 50 ms so that a click can find it."""
    return max((block.end_ms - block.start_ms) / 1000.0, 0.05)


def _lanes(ax: Any, data: ReportData) -> dict[str, tuple[float, str]]:
    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties
    from matplotlib.patches import Rectangle
    from matplotlib.text import Text

    rows = data.lanes
    row = {name: i for i, name in enumerate(rows)}
    colours = {name: _SPEAKERS[i % len(_SPEAKERS)] for i, name in enumerate(data.speakers)}
    seek: dict[str, tuple[float, str]] = {}
    pt_per_s = WIDTH_IN * 72.0 * (RIGHT - LEFT) / max(data.duration_ms / 1000.0, 0.001)
    prop, fonts = FontProperties(size=_LABEL_PT), tuple(str(rcParams[key]) for key in _FONT_SETTINGS)

    def width_pt(text: str) -> float:  # as the SVG renderer measures it (the same cache entry)
        return _text_metrics(text, prop, fonts, False)[0]

    char_pt = width_pt(_LABEL_SAMPLE) / len(_LABEL_SAMPLE)

    spans = [(b.lane, b.start_ms / 1000.0, b.start_ms / 1000.0 + _width_s(b)) for b in data.blocks]
    rooms = _label_rooms_s(spans)
    for i, (block, (_, start_s, end_s)) in enumerate(zip(data.blocks, spans, strict=True)):
        y = row[block.lane]
        colour = colours.get(block.lane, {"cues": _CUE, "chapters": _CHAPTER}.get(block.lane, _TRACK))
        bar = Rectangle((start_s, y - 0.36), end_s - start_s, 0.72, color=colour, alpha=0.85, gid=f"seg-{i}")
        ax.add_artist(bar)
        room_pt = (rooms[i] - start_s) * pt_per_s - _LABEL_LEFT_PT - _LABEL_RIGHT_PT
        shown = _fitted(block.label, room_pt, width_pt, char_pt)  # the whole title is the block's tooltip
        if shown:
            x = start_s + _LABEL_LEFT_PT / pt_per_s
            ax.add_artist(Text(x, y, shown, va="center", fontproperties=prop, color="white", gid=f"seg-{i}-label"))
        seek[f"seg-{i}"] = (block.start_ms, block.title)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_title("Timeline — click a block to play from there", loc="left", y=1.0, pad=4.0)
    return seek


def _waveform(ax: Any, data: ReportData) -> None:
    seen = data.overview
    ax.fill_between(_seconds(seen.times_ms), seen.low, seen.high, color="#34495e", linewidth=0)
    ax.set_ylim(-1.0, 1.0)
    _set_yticks(ax, [-1.0, 0.0, 1.0])
    ax.set_ylabel("sample value")
    ax.set_title("Waveform of the master", loc="left", y=1.0, pad=4.0)


def _name_lines(ax: Any, names: list[tuple[str, str]]) -> None:
    """Each (name, colour) written top right in its line's colour, one under another: in place of a
    legend box, whose layout measures text extents."""
    for k, (name, colour) in enumerate(names):
        ax.text(0.995, 0.97 - 0.13 * k, name, transform=ax.transAxes, ha="right", va="top", fontsize=7, color=colour)


def _beds(ax: Any, data: ReportData) -> None:
    lowest = -12.0
    names = []
    for i, bed in enumerate(data.beds):
        gain = _finite(bed.gain_db)
        colour = _SPEAKERS[i % len(_SPEAKERS)]
        if i == 0 and bed.speech_ms:
            spans = [(s / 1000.0, (e - s) / 1000.0) for s, e in bed.speech_ms]
            ax.broken_barh(spans, (-200.0, 400.0), color="#e8f0e0")
            names.append(("speech it ducks under", "#7fa86a"))
        ax.plot(_seconds(bed.times_ms), gain, linewidth=1.3, color=colour)
        names.append((f"{bed.name} gain", colour))
        heard = [g for g in gain if not math.isnan(g)]
        if heard:
            lowest = min(lowest, min(heard) - 3.0)
    if not data.beds:
        ax.text(0.5, 0.5, "no bed in this mix", transform=ax.transAxes, ha="center", va="center", color="#888888")
    _name_lines(ax, names)
    low = max(lowest, -60.0)
    ax.set_ylim(low, 6.0)
    _set_yticks(ax, _ticks(low, 6.0, 4))
    ax.set_ylabel("gain (dB)")
    ax.set_title("Beds and their ducking", loc="left", y=1.0, pad=4.0)


def _loudness(ax: Any, data: ReportData) -> None:
    seen = data.overview
    target = float(data.figures["target_lufs"])
    ax.plot(_seconds(seen.loudness_ms), _finite(seen.short_term_lufs), color="#c0392b", linewidth=1.2)
    ax.axhline(target, color="#222222", linestyle="--", linewidth=0.9)
    _name_lines(ax, [(f"target {target:g} LUFS", "#222222"), ("short-term (3 s)", "#c0392b")])
    ax.set_ylim(target - 24.0, target + 10.0)
    _set_yticks(ax, _ticks(target - 24.0, target + 10.0, 4))
    ax.set_ylabel("LUFS")
    ax.set_title("Short-term loudness", loc="left", y=1.0, pad=4.0)
    ax.set_xlabel("programme time (s)")


def _svg(fig: Any) -> str:
    """The figure as inline SVG (drawn under :data:`_RC`), without its XML prolog."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    return re.sub(r'(<svg[^>]*?) width="[^"]*" height="[^"]*"', r'\1 width="100%"', text, count=1)


def draw(data: ReportData) -> Svgs:
    """The report's figure for ``data`` (see the module docstring). Thread-safe: one page is
    drawn at a time."""
    from matplotlib import rc_context

    with _LOCK, rc_context(_RC):  # artists (a new canvas's ticks too) take their sizes now, savefig the SVG settings
        canvas = _canvas()
        duration_s = max(data.duration_ms / 1000.0, 0.001)
        ticks = _ticks(0.0, duration_s, 10)
        canvas.refill(len(data.lanes), ticks, [chapter.start_ms / 1000.0 for chapter in data.chapters])
        axes = canvas.axes
        seek = _lanes(axes["lanes"], data)
        _waveform(axes["waveform"], data)
        _beds(axes["beds"], data)
        _loudness(axes["loudness"], data)
        for name, ax in axes.items():
            ax.set_xlim(0.0, duration_s)
            labelled = ticks if name == "loudness" else []  # the time axis is labelled under the last panel
            ax.set_xticks(labelled, [_label(t) for t in labelled])
        return Svgs(_svg(canvas.fig), seek)
