"""Chapters as a recipe declares them: where each starts is known only after the mix.

A chapter is declared in two ways, both read by :func:`parse_chapters` into :class:`ChapterMark`\\ s:

* inline, ``chapter: TITLE`` (or ``chapter: {title, url, image}``) on a track of the recipe's
  ``mix:``, on a dialogue step, on a line of a dialogue or on a cue among its lines: the chapter
  starts where that track, dialogue, line or cue lands in the programme;
* in the top-level ``chapters:`` list, in order, each ``at:`` a time (``"1:30"``, ``"90s"``,
  ``"1500ms"``) or an anchor written in the grammar of cues and mix tracks (a step placed in the
  mix ``intro``, a line ``scene[7]``, a label ``scene.door``; ``recipe.cues.split_line_ref``).

Each mark carries an ``anchor``: the key under which the mix step's meta records where that thing
landed (``engine.chapters`` resolves them): ``@3`` the recipe mix's 4th track, ``bed@0`` the
first track of mix step ``bed``, ``scene`` a step
(its first placement), ``scene[7]`` a line (labels resolved to numbers here), ``scene.cue#2`` a
dialogue's 2nd cue. Titles, urls and images are in no digest: renaming a chapter renders nothing.
What can be checked before rendering is checked here (unknown anchors, a local image confined and
existing, times in order and distinct in the list); the rest (a time past the end, anchors that
land out of order or on one time) after the mix, located at the chapter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RecipeError, SourceLocation, did_you_mean
from ..steps import StepKind
from ..units import parse_duration_ms
from .cues import resolve_line, split_line_ref
from .diagnostics import Collector
from .limits import MAX_PROGRAMME_MS
from .loader import Document, JsonPath
from .paths import Confinement

if TYPE_CHECKING:
    from .model import StepSpec

__all__ = ["ChapterMark", "parse_chapters"]

Blocked = Callable[[JsonPath], bool]  # whether a schema error lies at or around a path (not read again)


@dataclass(frozen=True)
class ChapterMark:
    """A declared chapter: ``title`` (``url``: a web page; ``image``: a confined local file, or
    ``image_url``: an https URL) starting at ``at_ms`` or where ``anchor`` lands in the mix.
    ``location`` is where it is declared, ``written`` how its start was written (for messages),
    ``listed`` its index in the top-level ``chapters:`` list (None for an inline chapter)."""

    title: str
    location: SourceLocation
    written: str
    anchor: str | None = None
    at_ms: float | None = None
    url: str | None = None
    image: Path | None = None
    image_url: str | None = None
    image_location: SourceLocation | None = None
    listed: int | None = None


def _mark(
    doc: Document, path: JsonPath, value: Any, confinement: Confinement, written: str, **where: Any
) -> ChapterMark:
    """A mark from a ``chapter:`` value (a title, or {title, url, image}) at ``path``."""
    if isinstance(value, str):
        return ChapterMark(value.strip(), doc.locate(path), written, **where)
    image, image_url, image_location = None, None, None
    if "image" in value:
        image_location = doc.locate((*path, "image"))
        if str(value["image"]).startswith("https://"):
            image_url = value["image"]
        elif "://" in str(value["image"]):
            raise RecipeError(
                f"chapter image {value['image']!r}: only an https URL or a local file", image_location, "use https://"
            )
        else:
            image = confinement.resolve(value["image"], image_location, "chapter image")
    return ChapterMark(
        str(value["title"]).strip(),
        doc.locate((*path, "title")),
        written,
        url=value.get("url"),
        image=image,
        image_url=image_url,
        image_location=image_location,
        **where,
    )


def _in_dialogue(
    doc: Document, name: str, spec: Mapping[str, Any], confinement: Confinement, collector: Collector
) -> list[ChapterMark]:
    """The chapters of dialogue ``name``: on the step, on its lines (``name[k]``), on its cues."""
    out: list[ChapterMark] = []
    if "chapter" in spec and spec["chapter"] is not None:
        with collector.guard():
            out.append(_mark(doc, ("steps", name, "chapter"), spec["chapter"], confinement, name, anchor=name))
    lines = cues = 0
    for i, item in enumerate(spec.get("dialogue") or ()):
        if not isinstance(item, dict) or "pause" in item:
            continue
        if "cue" in item:
            cues += 1
            anchor, written = f"{name}.cue#{cues}", f"the cue at line {doc.locate(('steps', name, 'dialogue', i)).line}"
        else:
            lines += 1
            anchor, written = f"{name}[{lines}]", f"{name}[{lines}]"
        if "chapter" in item:
            with collector.guard():
                path = ("steps", name, "dialogue", i, "chapter")
                out.append(_mark(doc, path, item["chapter"], confinement, written, anchor=anchor))
    return out


def _anchor(doc: Document, path: JsonPath, written: str, steps: Mapping[str, StepSpec]) -> str:
    """The anchor key of ``written`` (a step, ``scene[7]``, ``scene.door``). Raises RecipeError."""
    location = doc.locate(path)
    name, selector = split_line_ref(written)
    if name not in steps:
        hint = did_you_mean(name, steps) or "name a step placed in the mix, a line (scene[7]) or a label (scene.door)"
        raise RecipeError(f"chapter at {written!r}: there is no step {name!r}", location, hint)
    if selector is None:
        return name
    return f"{name}[{resolve_line(steps[name], selector, written, location) + 1}]"


def _on_tracks(
    doc: Document, base: JsonPath, tracks: Any, prefix: str, confinement: Confinement, collector: Collector
) -> list[ChapterMark]:
    """The chapters on the tracks of a mix at ``base`` (the recipe's, or a mix step's): ``PREFIX@i``."""
    out: list[ChapterMark] = []
    for i, track in enumerate(tracks if isinstance(tracks, list) else ()):
        if isinstance(track, dict) and "chapter" in track:
            with collector.guard():
                written = f"the mix track {track.get('track')}"
                path = (*base, i, "chapter")
                out.append(_mark(doc, path, track["chapter"], confinement, written, anchor=f"{prefix}@{i}"))
    return out


def _listed(
    doc: Document, items: list[Any], steps: Mapping[str, StepSpec], confinement: Confinement, collector: Collector
) -> list[ChapterMark]:
    """The top-level ``chapters:`` list, its times checked in order and distinct."""
    out: list[ChapterMark] = []
    last: tuple[float, str] | None = None
    for i, item in enumerate(items):
        path: JsonPath = ("chapters", i)
        with collector.guard():
            written = str(item["at"]).strip()
            if written[:1].isdigit():
                try:
                    at_ms = parse_duration_ms(written)
                except ValueError as exc:
                    raise doc.error(
                        (*path, "at"), str(exc), hint="write a time (1:30, 90s, 1500ms) or an anchor"
                    ) from None
                if at_ms > MAX_PROGRAMME_MS:
                    raise doc.error((*path, "at"), f"{written!r} is past the longest programme audioflow makes")
                where: dict[str, Any] = {"at_ms": at_ms}
            else:
                where = {"anchor": _anchor(doc, (*path, "at"), written, steps)}
            mark = _mark(doc, path, item, confinement, written, listed=i, **where)
            if mark.at_ms is not None:
                before, last = last, (mark.at_ms, written)
                if before is not None and mark.at_ms <= before[0]:
                    same = mark.at_ms == before[0]
                    raise doc.error(
                        (*path, "at"),
                        f"chapter at {written!r} {'starts at the same time as' if same else 'comes before'} "
                        f"the chapter above it (at {before[1]!r})",
                        hint="one chapter per start time" if same else "list the chapters in the order they play",
                    )
            out.append(mark)
    return out


def parse_chapters(
    doc: Document, steps: Mapping[str, StepSpec], confinement: Confinement, collector: Collector, blocked: Blocked
) -> tuple[ChapterMark, ...]:
    """Every chapter the document declares, inline ones first (the recipe's mix tracks, then the
    steps' in recipe order: a dialogue, its lines and cues, a mix step's tracks), then the
    ``chapters:`` list; the errors of each (an unknown anchor, an image outside the recipe's folder,
    list times out of order or repeated) go to ``collector``. Only steps that were built (in
    ``steps``) and parts without a schema error (``blocked``) are read."""
    data = doc.data
    out: list[ChapterMark] = []
    if not blocked(("mix",)):
        out += _on_tracks(doc, ("mix",), data.get("mix"), "", confinement, collector)
    for name, spec in steps.items():
        written = data.get("steps", {}).get(name)
        if not isinstance(written, dict) or blocked(("steps", name)):
            continue
        if spec.kind == StepKind.DIALOGUE:
            out += _in_dialogue(doc, name, written, confinement, collector)
        elif spec.kind == StepKind.MIX:
            out += _on_tracks(doc, ("steps", name, "mix"), written.get("mix"), name, confinement, collector)
    if not blocked(("chapters",)):
        out += _listed(doc, list(data.get("chapters") or ()), steps, confinement, collector)
    return tuple(out)
