"""What a dialogue carries besides its lines, and how the rest of a recipe names a line.

A dialogue's items are lines (``- mara: Hello.``, optionally ``label: door``), pauses
(``- pause: 2s``) and cues (``- cue: bell``, or ``- cue: {generate: …, duration: 3s}``: a sound placed
at a line's start or end). :func:`read_dialogue` reads them in order into a :class:`Dialogue`:

* a pause becomes the silence before the next line (``gap_ms`` of that line), or silence before the
  first line / after the last one (``lead_ms`` / ``tail_ms``);
* a cue anchors to the END of the line above it (``at: end``, the default) or the START of the line
  below it (``at: start``), plus a signed ``offset``;
* an inline cue is a ``generate`` step of its own, ``NAME.cue[1]``, ``NAME.cue[2]``…

A mix track names a line as ``NAME[7]`` (1-based, the ids ``plan`` shows) or ``NAME.LABEL``
(:func:`split_line_ref`; resolved by :func:`resolve_line`). A bracketed instruction inside a line's
text (``[laughs]``, ``<break time="1s"/>``) is refused (:func:`unsupported_instruction`), never read aloud.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import RecipeError, SourceLocation
from ..steps import StepKind
from ..units import parse_db
from .limits import MAX_DUCK_RAMP_MS, MAX_GAP_MS, MAX_PROGRAMME_MS
from .loader import JsonPath

if TYPE_CHECKING:
    from .model import Line, StepSpec, Voice, _Reader

__all__ = [
    "CUE_KEYS",
    "INLINE_CUE_KEYS",
    "RESERVED_VOICE_NAMES",
    "Cue",
    "Dialogue",
    "check_voice_names",
    "read_dialogue",
    "read_placement",
    "resolve_line",
    "split_line_ref",
    "unsupported_instruction",
]

#: Keys of a cue item.
CUE_KEYS = (
    "cue",
    "at",
    "offset",
    "duration",
    "gain_db",
    "fade_in",
    "fade_out",
    "loop",
    "duck_db",
    "duck_attack",
    "duck_release",
    "chapter",
)
#: Keys of an inline cue (``cue: {generate: …}``): a generate step of its own.
INLINE_CUE_KEYS = ("generate", "duration", "texture", "provider", "take")
#: Words a dialogue item uses as keys, which a cast voice therefore cannot be called.
RESERVED_VOICE_NAMES = ("cue", "pause", "label")

_LINE_REF = re.compile(
    r"^(?P<step>[A-Za-z_][A-Za-z0-9_-]*)(?:\[(?P<number>\d+)\]|\.(?P<label>[A-Za-z_][A-Za-z0-9_-]*))$"
)
_INSTRUCTION = re.compile(r"\[[^\]]*\]|<[^<>]*>")


@dataclass(frozen=True)
class Cue:
    """A cue as written: the sound is step ``step`` (an inline cue's step is ``inline``), placed at
    the start or end (``at``) of line ``line`` (0-based among the dialogue's lines) plus ``offset_ms``."""

    step: str
    line: int
    location: SourceLocation
    at: str = "end"
    offset_ms: float = 0.0
    duration_ms: float | None = None
    gain_db: float = 0.0
    fade_in_ms: float = 0.0
    fade_out_ms: float = 0.0
    loop: bool = False
    duck_db: float | None = None
    duck_attack_ms: float = 80.0
    duck_release_ms: float = 400.0
    inline: StepSpec | None = None


@dataclass(frozen=True)
class Dialogue:
    """A dialogue's items read in order: its lines, cues, and silence before/after its lines (ms)."""

    lines: tuple[Line, ...]
    cues: tuple[Cue, ...] = ()
    lead_ms: float = 0.0
    tail_ms: float = 0.0


def unsupported_instruction(text: str) -> str | None:
    """The first bracketed instruction inside ``text`` (``[laughs]``, ``<break/>``), or None. Only a
    leading ``(parenthetical)`` is a direction audioflow understands."""
    match = _INSTRUCTION.search(text)
    return match.group(0) if match else None


def split_line_ref(written: str) -> tuple[str, str | None]:
    """``"scene[7]"`` → ``("scene", "[7]")``, ``"scene.door"`` → ``("scene", ".door")``, a plain
    step name → ``(name, None)``."""
    match = _LINE_REF.match(written)
    if match is None:
        return written, None
    return match.group("step"), written[len(match.group("step")) :]


def resolve_line(spec: StepSpec, selector: str, written: str, location: SourceLocation) -> int:
    """The 0-based index of the line ``selector`` (``[7]`` or ``.door``) names in dialogue ``spec``.
    Raises :class:`RecipeError` naming the line, with the near labels."""
    if spec.kind != StepKind.DIALOGUE:
        raise RecipeError(
            f"{written!r}: {spec.name} is a {spec.kind} step; only the lines of a dialogue can be named",
            location,
            f"write `{spec.name}` to name the whole step",
        )
    count = len(spec.lines)
    if selector.startswith("["):
        number = int(selector[1:-1])
        if not 1 <= number <= count:
            raise RecipeError(
                f"{written!r}: dialogue {spec.name} has {count} line{'s' if count != 1 else ''}",
                location,
                f"lines are numbered from 1: {spec.name}[1] … {spec.name}[{count}]",
            )
        return number - 1
    label = selector[1:]
    labels = {line.label: i for i, line in enumerate(spec.lines) if line.label}
    if label in labels:
        return labels[label]
    near = difflib.get_close_matches(label, labels, n=1, cutoff=0.6)
    if near:
        hint = f"did you mean {spec.name}.{near[0]}?"
    elif labels:
        hint = f"its labels: {', '.join(labels)}"
    else:
        hint = f"label a line with `label: {label}`, or write {spec.name}[N]"
    raise RecipeError(f"{written!r}: dialogue {spec.name} has no line labelled {label!r}", location, hint)


def read_placement(r: _Reader, path: JsonPath, spec: dict[str, Any]) -> dict[str, Any]:
    """What a mix track and a cue share: ``offset_ms``, ``duration_ms``, ``gain_db``, fades,
    ``loop`` and ducking, parsed from ``spec`` (at ``path``) with their defaults."""

    def dur(key: str, default: float | None, *, signed: bool = False, cap_ms: float = MAX_PROGRAMME_MS) -> Any:
        return r.duration((*path, key), spec[key], signed=signed, cap_ms=cap_ms) if key in spec else default

    if "duck_db" in spec and r.unit((*path, "duck_db"), spec["duck_db"], parse_db) > 0:
        raise r.doc.error((*path, "duck_db"), "duck_db lowers a bed: it must be 0 dB or less, like -10")
    return {
        "offset_ms": dur("offset", 0.0, signed=True),
        "duration_ms": dur("duration", None),
        "gain_db": r.level((*path, "gain_db"), spec.get("gain_db", 0), "gain_db"),
        "fade_in_ms": dur("fade_in", 0.0),
        "fade_out_ms": dur("fade_out", 0.0),
        "loop": bool(spec.get("loop", False)),
        "duck_db": r.level((*path, "duck_db"), spec["duck_db"], "duck_db") if "duck_db" in spec else None,
        "duck_attack_ms": dur("duck_attack", 80.0, cap_ms=MAX_DUCK_RAMP_MS),
        "duck_release_ms": dur("duck_release", 400.0, cap_ms=MAX_DUCK_RAMP_MS),
    }


def check_voice_names(r: _Reader, cast: dict[str, Any]) -> None:
    """Refuse a cast voice named by a word of the dialogue (:data:`RESERVED_VOICE_NAMES`)."""
    for name in cast:
        if name in RESERVED_VOICE_NAMES:
            raise r.doc.error(
                ("cast", name),
                f"{name!r} is a word of the dialogue (`- {name}: …`), so no voice can be called that",
                key=True,
                hint="choose another name",
            )


# -- reading a dialogue's items --------------------------------------------------------------------

ReadLine = Callable[["_Reader", JsonPath, dict[str, Any], dict[str, "Voice"]], "Line"]
ReadStep = Callable[["_Reader", str, dict[str, Any], JsonPath], "StepSpec"]


class _Items:
    """The state of reading one dialogue: lines so far, cues (``at: start`` ones wait for the line
    below them), the pause not yet placed, labels seen."""

    def __init__(self, name: str, read_line: ReadLine, read_step: ReadStep) -> None:
        self.name, self.read_line, self.read_step = name, read_line, read_step
        self.lines: list[Line] = []
        self.cues: list[Cue] = []
        self.waiting: list[int] = []  # indexes into cues of `at: start` cues before their line
        self.pause_ms: float | None = None
        self.lead_ms = 0.0
        self.labels: dict[str, JsonPath] = {}
        self.inline = 0


def read_dialogue(
    r: _Reader,
    name: str,
    path: JsonPath,
    items: list[dict[str, Any]],
    cast: dict[str, Voice],
    read_line: ReadLine,
    read_step: ReadStep,
) -> Dialogue:
    """Read the items of dialogue step ``name`` (``path`` is its ``dialogue`` list). ``read_line``
    reads a line, ``read_step`` an inline cue's generate step. Raises :class:`RecipeError`."""
    state = _Items(name, read_line, read_step)
    for i, item in enumerate(items):
        item_path = (*path, i)
        if "pause" in item:
            _pause(r, item_path, item, state)
        elif "cue" in item:
            _add_cue(r, item_path, item, state)
        else:
            _add_line(r, item_path, item, cast, state)
    if state.waiting:
        raise RecipeError(
            "`at: start` places a cue at the start of the line below it, and there is none",
            state.cues[state.waiting[0]].location,
            "write `at: end` to place it at the end of the line above",
        )
    if not state.lines:
        raise r.doc.error(path, "a dialogue needs at least one line", hint="write `- mara: Hello.`")
    for cue in state.cues:  # the one line whose start is known before rendering: the first
        if cue.line == 0 and cue.at == "start" and state.lead_ms + cue.offset_ms < 0:
            raise RecipeError(
                f"this cue would start {-(state.lead_ms + cue.offset_ms):g} ms before the dialogue",
                cue.location,
                "make its offset smaller, or put a `- pause:` before the first line",
            )
    return Dialogue(tuple(state.lines), tuple(state.cues), state.lead_ms, state.pause_ms or 0.0)


def _pause(r: _Reader, path: JsonPath, item: dict[str, Any], state: _Items) -> None:
    ms = r.duration((*path, "pause"), item["pause"], cap_ms=MAX_GAP_MS)
    state.pause_ms = (state.pause_ms or 0.0) + ms


def _add_line(r: _Reader, path: JsonPath, item: dict[str, Any], cast: dict[str, Voice], state: _Items) -> None:
    line = state.read_line(r, path, item, cast)
    if line.label is not None:
        if line.label in state.labels:
            first = r.at((*state.labels[line.label], "label"))
            raise r.doc.error((*path, "label"), f"label {line.label!r} is already on the line at {first}")
        state.labels[line.label] = path
    if state.pause_ms is not None:
        if not state.lines:
            state.lead_ms = state.pause_ms
        elif line.gap_ms is not None:
            raise r.doc.error(
                (*path, "gap"),
                "this line follows a pause, which sets the silence before it",
                key=True,
                hint="drop `gap:` or fold it into the pause",
            )
        else:
            line = replace(line, gap_ms=state.pause_ms)
        state.pause_ms = None
    state.lines.append(line)
    for index in state.waiting:
        state.cues[index] = replace(state.cues[index], line=len(state.lines) - 1)
    state.waiting.clear()


def _add_cue(r: _Reader, path: JsonPath, item: dict[str, Any], state: _Items) -> None:
    at = item.get("at", "end")  # the schema has checked the keys and values
    if at == "end" and not state.lines:
        raise r.doc.error(
            (*path, "cue"),
            "this cue comes before any line: there is no line above it to end",
            key=True,
            hint="write `at: start` to place it at the start of the line below",
        )
    sound, inline = item["cue"], None
    if isinstance(sound, dict):
        state.inline += 1
        inline = state.read_step(r, f"{state.name}.cue[{state.inline}]", sound, (*path, "cue"))
        sound = inline.name
    cue = Cue(step=sound, line=len(state.lines) - 1, location=r.at((*path, "cue")), at=at, inline=inline)
    cue = replace(cue, **read_placement(r, path, item))
    if at == "start":
        state.waiting.append(len(state.cues))
    state.cues.append(cue)
