"""Chapters resolved after the mix: each declared chapter (``recipe.chapters``) gets a sample-exact
start from the mix step's recorded anchors (or its written time), checked, ordered and ended.

Each start is the nearest frame at the output's rate (halves up, as the mix places clips), given in
ms (``frame × 1000 / rate``); a chapter ends where the next starts, the last at the programme's end.
The checks that need the mix raise a :class:`~audioflow.errors.RecipeError` at the chapter: an
anchor that is not in the programme (not placed in the mix, or cut off by a track's ``duration``),
a start at or past the end, two chapters on one start, and a ``chapters:`` list that does not play
in the order it is written.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import AudioflowError, RecipeError
from ..recipe.chapters import ChapterMark
from .meta import StepMeta

if TYPE_CHECKING:  # audio.chapters holds mutagen: imported when a recipe has chapters
    from ..audio.chapters import Chapter

__all__ = ["resolve_chapters"]


def _frame_ms(ms: float, rate_hz: int) -> float:
    """``ms`` on the nearest frame at ``rate_hz`` (halves up, as the mix places a clip), in ms."""
    return math.floor(ms * rate_hz / 1000.0 + 0.5) * 1000.0 / rate_hz


def _start_ms(mark: ChapterMark, anchors: dict[str, float], duration_ms: float) -> float:
    if mark.at_ms is not None:
        start = mark.at_ms
    elif mark.anchor in anchors:
        start = anchors[mark.anchor]
    else:
        raise RecipeError(
            f"chapter {mark.title!r}: {mark.written} is not in the programme",
            mark.location,
            "place it in the mix (or in a mix step the mix places), and not past a track's duration",
        )
    if start >= duration_ms:
        raise RecipeError(
            f"chapter {mark.title!r} at {mark.written} starts at {start / 1000:.3f} s, "
            f"at or past the end of the programme ({duration_ms / 1000:.3f} s)",
            mark.location,
            "move it earlier, or drop it",
        )
    return start


def _checked_order(marks: Sequence[ChapterMark], starts: list[float]) -> None:
    """The ``chapters:`` list plays in its written order; no two chapters start on one frame."""
    listed = [(m.listed, s, m) for m, s in zip(marks, starts, strict=True) if m.listed is not None]
    for (_, before, first), (_, start, mark) in itertools.pairwise(listed):
        if start < before:
            raise RecipeError(
                f"chapter {mark.title!r} at {mark.written} starts at {start / 1000:.3f} s, before the chapter "
                f"above it in the list ({first.title!r} at {before / 1000:.3f} s)",
                mark.location,
                "list the chapters in the order they play",
            )
    taken: dict[float, ChapterMark] = {}
    for mark, start in sorted(
        zip(marks, starts, strict=True), key=lambda pair: (pair[0].location.line, pair[0].location.col)
    ):
        if start in taken:
            other = taken[start]
            raise RecipeError(
                f"chapter {mark.title!r} starts at {start / 1000:.3f} s, as chapter {other.title!r} "
                f"(line {other.location.line}) does",
                mark.location,
                "one chapter per start time: drop one, or move it",
            )
        taken[start] = mark


def resolve_chapters(marks: Sequence[ChapterMark], mix: StepMeta, duration_ms: float, rate_hz: int) -> list[Chapter]:
    """The chapters of ``marks`` in time order: starts from ``mix.anchors`` (or their time) on a
    frame of ``rate_hz``, each ending where the next starts, the last at ``duration_ms`` (the
    output's length). Local images are read and checked again (``audio.tags.read_artwork``).
    Raises :class:`RecipeError` located at the chapter."""
    if not marks:
        return []
    from ..audio.chapters import Chapter
    from ..audio.tags import read_artwork

    anchors: dict[str, float] = {}
    for key, start, _ in mix.anchors:
        anchors.setdefault(key, start)
    starts = [_frame_ms(_start_ms(mark, anchors, duration_ms), rate_hz) for mark in marks]
    _checked_order(marks, starts)
    ordered = sorted(zip(starts, marks, strict=True), key=lambda pair: pair[0])
    out = []
    for i, (start, mark) in enumerate(ordered):
        end = ordered[i + 1][0] if i + 1 < len(ordered) else duration_ms
        image = None
        if mark.image is not None:
            try:
                image = read_artwork(mark.image)
            except AudioflowError as exc:
                raise RecipeError(str(exc).replace("cover image", "chapter image"), mark.image_location) from exc
        out.append(Chapter(start, end, mark.title, mark.url, image, mark.image_url))
    return out
