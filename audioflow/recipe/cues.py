"""What a dialogue carries besides its lines, and how the rest of a recipe names a line.

A dialogue's items are lines (``- mara: Hello.``, optionally ``label: door``), pauses
(``- pause: 2s``) and cues (``- cue: bell``, or ``- cue: {generate: …, duration: 3s}``: a sound placed
at a line's start or end). :func:`read_dialogue` reads them in order into a :class:`Dialogue`:

* a pause becomes the silence before the next line (``gap_ms`` of that line), or silence before the
  first line / after the last one (``lead_ms`` / ``tail_ms``);
* a cue anchors to the END of the line above it (``at: end``, the default) or the START of the line
  below it (``at: start``), plus a signed ``offset``;
* an inline cue is a ``generate`` step of its own, named so that inserting or removing other lines
  and cues leaves its name alone (:func:`inline_cue_ids`): ``NAME.cue[LABEL]`` after the label of
  the line it is anchored to, else ``NAME.cue[a-door-slams]`` from the first words of its prompt;
  a name already taken in the dialogue gets ``-2``, ``-3``… in the order the cues are written.

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
from ..steps import CueSpec, StepKind
from ..units import parse_db
from .limits import MAX_DUCK_RAMP_MS, MAX_GAP_MS, MAX_PROGRAMME_MS
from .loader import JsonPath

if TYPE_CHECKING:
    from .model import Voice
    from .reader import Reader
    from .step_specs import Line, StepSpec

__all__ = [
    "CUE_KEYS",
    "INLINE_CUE_KEYS",
    "RESERVED_VOICE_NAMES",
    "Cue",
    "Dialogue",
    "check_voice_names",
    "inline_cue_ids",
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
_WORD = re.compile(r"[a-z0-9]+")
#: How many words of an inline cue's prompt make its id.
CUE_ID_WORDS = 4


@dataclass(frozen=True)
class Cue:
    """A cue as written: ``spec`` is what the dialogue step is given (its sound's step, the line it
    is anchored to, ``at``, offset, gain, fades, ducking), ``location`` where the cue is written, and
    ``inline`` the ``generate`` step of an inline cue's sound."""

    spec: CueSpec
    location: SourceLocation
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


def read_placement(r: Reader, path: JsonPath, spec: dict[str, Any]) -> dict[str, Any]:
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


def check_voice_names(r: Reader, cast: dict[str, Any]) -> None:
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

ReadLine = Callable[["Reader", JsonPath, dict[str, Any], dict[str, "Voice"]], "Line"]
ReadStep = Callable[["Reader", str, dict[str, Any], JsonPath], "StepSpec"]


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


def read_dialogue(
    r: Reader,
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
        spec = cue.spec
        if spec.line == 0 and spec.at == "start" and state.lead_ms + spec.offset_ms < 0:
            raise RecipeError(
                f"this cue would start {-(state.lead_ms + spec.offset_ms):g} ms before the dialogue",
                cue.location,
                "make its offset smaller, or put a `- pause:` before the first line",
            )
    cues = inline_cue_ids(name, tuple(state.lines), tuple(state.cues))
    return Dialogue(tuple(state.lines), cues, state.lead_ms, state.pause_ms or 0.0)


def inline_cue_ids(name: str, lines: tuple[Line, ...], cues: tuple[Cue, ...]) -> tuple[Cue, ...]:
    """``cues`` with every inline cue's step named ``NAME.cue[ID]``: ID is the label of the line the
    cue is anchored to, else the first :data:`CUE_ID_WORDS` words of its prompt (lower case, ``-``
    between), else ``cue``; an ID already taken in this dialogue gets ``-2``, ``-3``… in order.
    Neither a line's number nor a cue's position goes into an ID, so inserting or removing other
    lines or cues renames nothing (and re-renders nothing but the dialogue above them)."""
    taken: set[str] = set()
    named: list[Cue] = []
    for cue in cues:
        if cue.inline is None:
            named.append(cue)
            continue
        words = _WORD.findall((cue.inline.prompt or "").lower())[:CUE_ID_WORDS]
        base = lines[cue.spec.line].label or "-".join(words) or "cue"
        ident = base
        for count in range(2, len(cues) + 2):
            if ident not in taken:
                break
            ident = f"{base}-{count}"
        taken.add(ident)
        step = f"{name}.cue[{ident}]"
        named.append(replace(cue, spec=replace(cue.spec, step=step), inline=replace(cue.inline, name=step)))
    return tuple(named)


def _pause(r: Reader, path: JsonPath, item: dict[str, Any], state: _Items) -> None:
    ms = r.duration((*path, "pause"), item["pause"], cap_ms=MAX_GAP_MS)
    state.pause_ms = (state.pause_ms or 0.0) + ms


def _add_line(r: Reader, path: JsonPath, item: dict[str, Any], cast: dict[str, Voice], state: _Items) -> None:
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
        cue = state.cues[index]
        state.cues[index] = replace(cue, spec=replace(cue.spec, line=len(state.lines) - 1))
    state.waiting.clear()


def _add_cue(r: Reader, path: JsonPath, item: dict[str, Any], state: _Items) -> None:
    at = item.get("at", "end")  # the schema has checked the keys and values
    if at == "end" and not state.lines:
        raise r.doc.error(
            (*path, "cue"),
            "this cue comes before any line: there is no line above it to end",
            key=True,
            hint="write `at: start` to place it at the start of the line below",
        )
    sound, inline = item["cue"], None
    if isinstance(sound, dict):  # named for good once its line is known (inline_cue_ids)
        inline = state.read_step(r, f"{state.name}.cue[{len(state.cues) + 1}]", sound, (*path, "cue"))
        sound = inline.name
    spec = CueSpec(sound, len(state.lines) - 1, at, **read_placement(r, path, item))
    cue = Cue(spec, r.at((*path, "cue")), inline)
    if at == "start":
        state.waiting.append(len(state.cues))
    state.cues.append(cue)
