"""The report's lane labels fit their blocks: cut with an ellipsis (the whole title is the tooltip),
or left out, so two blocks side by side (riders-to-the-sea's Narrator near 12 s) or overlapping on a
lane never show labels over each other."""

from __future__ import annotations

import io
import itertools

from matplotlib import rc_context

from audioflow.audio.figures import Overview
from audioflow.engine import report_figures
from audioflow.engine.report import Block, ReportData

DURATION_MS = 110_000.0
NARRATOR = [  # riders-to-the-sea's first two Narrator lines, as report.collect labels them
    Block("Narrator", 600.0, 12011.0, "Riders to the Sea, by John Millington S\u2026", "Narrator: Riders to the Sea"),
    Block("Narrator", 12711.0, 21070.0, "Cathleen, a girl of about twenty, finis\u2026", "Narrator: Cathleen, a girl"),
]
CUES = [  # two cues overlapping on their lane, and one too short for any label
    Block("cues", 93000.0, 98418.0, "scene.cue[stones]", "scene.cue[stones] at the end of line 12 of scene"),
    Block("cues", 97790.0, 103000.0, "scene.cue[rope]", "scene.cue[rope] at the end of line 13 of scene"),
    Block("cues", 60000.0, 60400.0, "bell", "bell at the start of line 9 of scene"),
]
WIDE = Block("opening", 600.0, 60000.0, "opening", "opening: speak, 0.6–60.0 s")


def _data(blocks: list[Block]) -> ReportData:
    times = [float(t) for t in range(0, int(DURATION_MS), 1000)]
    overview = Overview(times, [-0.5] * len(times), [0.5] * len(times), times, [-16.0] * len(times))
    return ReportData(
        title="Riders",
        output="riders.mp3",
        duration_ms=DURATION_MS,
        lanes=["opening", "Narrator", "cues"],
        blocks=blocks,
        speakers=["Narrator"],
        chapters=[],
        overview=overview,
        beds=[],
        figures={"target_lufs": -16.0},
        verdict=(True, []),
    )


def test_lane_labels_fit_their_blocks_and_never_meet() -> None:
    from matplotlib.backends.backend_svg import RendererSVG

    blocks = [WIDE, *NARRATOR, *CUES]
    drawn = report_figures.draw(_data(blocks))
    assert set(drawn.seek) == {f"seg-{i}" for i in range(len(blocks))}  # every block seeks, titled in full
    assert [title for _, title in drawn.seek.values()] == [b.title for b in blocks]
    ax = report_figures._canvas().axes["lanes"]
    fig = ax.figure
    with rc_context(report_figures._RC):
        width, height = fig.get_size_inches() * 72
        renderer = RendererSVG(width, height, io.StringIO())  # the SVG renderer's own measure
        bars = {bar.get_gid(): bar.get_window_extent(renderer) for bar in ax.patches if bar.get_gid()}
        labels = {t.get_gid().removesuffix("-label"): (t.get_text(), t.get_window_extent(renderer)) for t in ax.texts}
    shown = {gid: text for gid, (text, _) in labels.items()}
    assert sorted(shown) == ["seg-0", "seg-1", "seg-2", "seg-3", "seg-4"]  # the 400 ms bell has room for none
    assert shown["seg-0"] == "opening"  # room to spare: whole
    for gid in ("seg-1", "seg-2", "seg-3"):  # cut at a character, ended with an ellipsis
        assert shown[gid].endswith("\u2026") and len(shown[gid]) >= 4
        assert blocks[int(gid[4:])].label.startswith(shown[gid][:-1].rstrip())
    for gid, (_, box) in labels.items():  # inside its block
        assert bars[gid].x0 <= box.x0 and box.x1 <= bars[gid].x1
        assert bars[gid].y0 <= box.y0 and box.y1 <= bars[gid].y1
    for (one, (_, a)), (two, (_, b)) in itertools.combinations(labels.items(), 2):
        assert a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0, (one, two)
    assert report_figures.draw(_data(blocks)).svg == drawn.svg  # deterministic


def test_a_label_is_cut_to_its_room_or_left_out() -> None:
    def width_pt(text: str) -> float:  # a font of 5 pt characters
        return 5.0 * len(text)

    assert report_figures._fitted("opening", 35.0, width_pt, 5.0) == "opening"
    assert report_figures._fitted("opening", 34.9, width_pt, 5.0) == "openi\u2026"
    assert report_figures._fitted("Cathleen, a girl", 50.0, width_pt, 5.0) == "Cathleen,\u2026"  # no space before it
    assert report_figures._fitted("Riders to\u2026", 30.0, width_pt, 5.0) == "Rider\u2026"  # one ellipsis, not two
    assert report_figures._fitted("opening", 19.9, width_pt, 5.0) == ""  # "op…" would say nothing
    assert report_figures._fitted("opening", -3.0, width_pt, 5.0) == ""
    rooms = report_figures._label_rooms_s([("a", 0.0, 5.0), ("b", 1.0, 9.0), ("a", 3.0, 4.0), ("a", 3.0, 8.0)])
    assert rooms == [3.0, 9.0, 3.0, 8.0]  # up to the next start on its lane; two at once: the first has none
