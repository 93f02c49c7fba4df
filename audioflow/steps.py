"""What the recipe emits and the engine and providers read: step kinds and typed, frozen step payloads.

``recipe.graph`` expands a recipe into steps; each step carries one payload of the class its kind
names. A payload's :meth:`canonical` form is the one source of the step's input digest (see
``cache.digest``): plain JSON data, keys as they have always been written, so cached digests stay.

A single spoken line (``speak``) and a whole-scene request (``scene``) share one shape,
:class:`LinesPayload`: to a provider a line is a one-line scene. Voices are :class:`VoiceSpec`
values; local files are named by content (:class:`FileRef`), never by absolute path.

This module is shared data (stdlib only), importable by ``recipe``, ``providers`` and ``engine``.
It also holds the facts several sides need: the reference-clip lengths each cloning model takes
(:data:`CLIP_LIMITS_MS`) and how a file is hashed (:func:`hash_file`; memoised: :func:`file_sha256`),
which the cache uses too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "CLIP_LIMITS_MS",
    "LOCAL_VOICE_NAMES",
    "MAX_REQUEST_MS",
    "PROVIDER_KINDS",
    "SCENE_LIMITS",
    "SHARED_PRESET_HOSTS",
    "ClonePayload",
    "CloneSpec",
    "CueSpec",
    "DialoguePayload",
    "EffectSpec",
    "FilePayload",
    "FileRef",
    "GeneratePayload",
    "IsolatePayload",
    "JoinPayload",
    "LinesPayload",
    "MasterPayload",
    "MixPayload",
    "Payload",
    "PiperModel",
    "SceneJoinPayload",
    "SceneLimits",
    "SpokenLine",
    "StemPayload",
    "StepKind",
    "StepSource",
    "TrackSpec",
    "UrlRef",
    "VoiceSpec",
    "file_sha256",
    "hash_file",
]


class StepKind(StrEnum):
    """The kind of a step (a ``str``: ``StepKind.SPEAK == "speak"``)."""

    SPEAK = "speak"
    SCENE = "scene"
    DIALOGUE = "dialogue"
    GENERATE = "generate"
    JOIN = "join"
    ISOLATE = "isolate"
    CLONE = "clone"
    FILE = "file"
    MIX = "mix"
    MASTER = "master"
    STEM = "stem"

    @property
    def spoken(self) -> bool:
        """Whether the step is speech rendered by a provider (``speak`` or ``scene``)."""
        return self in (StepKind.SPEAK, StepKind.SCENE)


#: Kinds a provider renders (the others audioflow renders itself).
PROVIDER_KINDS = frozenset({StepKind.SPEAK, StepKind.SCENE, StepKind.GENERATE, StepKind.ISOLATE})

#: The longest sound one generation request returns, ms (Seed Audio 1.0: 120 s per request on every
#: host): a longer ``generate`` with ``extend: join`` is rendered as several requests.
MAX_REQUEST_MS = 120_000.0

#: Reference-clip lengths each cloning model takes, ms (vendor pages: Seed Audio ≤ 30 s per clip;
#: OpenVoice 5–120 s of clean single-speaker audio). The one home of this policy.
CLIP_LIMITS_MS: Mapping[str, tuple[float, float]] = {"seed-audio": (0.0, 30_000.0), "openvoice": (5_000.0, 120_000.0)}

#: The local provider's voices, in the order cast voices without a local preset receive them
#: (``providers.local`` defines each; ``recipe.graph`` assigns them over the whole cast).
LOCAL_VOICE_NAMES = ("joe", "bright", "deep", "crisp", "gruff", "warm", "light", "reedy")

#: Hosts that share one voice-id space: ByteDance's ``*_bigtts`` speaker ids work on each of them, so
#: a preset given for one is carried to the other (:meth:`VoiceSpec.preset_on`).
SHARED_PRESET_HOSTS = ("segmind", "evolink")
_SHARED_PRESET_SUFFIX = "_bigtts"


@dataclass(frozen=True)
class SceneLimits:
    """What one Seed Audio scene request may hold on every host: ``max_references`` voices with a
    reference (a clip, or a preset id Evolink sends as a reference); a prompt of at most
    ``max_prompt_chars`` (Evolink's 1500; Segmind takes 2048, fal documents none); at most
    ``max_ms`` of speech, estimated at ``chars_per_s`` (a slow reading rate, so the estimate errs
    long) plus the gaps between lines."""

    max_references: int = 3
    max_prompt_chars: int = 1500
    max_ms: float = 120_000.0
    chars_per_s: float = 12.0


#: The limits ``render: scene`` splits a dialogue by (the strictest host's, so one split fits every host).
SCENE_LIMITS = SceneLimits()

_hash_memo: dict[tuple[str, int, int], str] = {}


def hash_file(path: Path) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB blocks (every time: the cache verifies
    objects with it). Raises ``OSError``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """:func:`hash_file`, memoised on (path, size, mtime): for a recipe's inputs, hashed on every
    plan. Raises ``OSError``."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _hash_memo:
        _hash_memo[key] = hash_file(path)
    return _hash_memo[key]


# -- references to audio and images -------------------------------------------------------------------


@dataclass(frozen=True)
class FileRef:
    """A local file the recipe names, by content: ``sha256`` of its bytes and its file ``name``."""

    sha256: str
    name: str

    def canonical(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "name": self.name}


@dataclass(frozen=True)
class UrlRef:
    """An http(s) URL the recipe gives (a host fetches it)."""

    url: str

    def canonical(self) -> dict[str, Any]:
        return {"url": self.url}


@dataclass(frozen=True)
class StepSource:
    """The output of another step of the recipe."""

    step: str

    def canonical(self) -> dict[str, Any]:
        return {"step": self.step}


# -- effects, voices and lines ------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectSpec:
    """One audio effect audioflow applies itself (``audio.effects``, pedalboard) to a voice's takes
    or a mix track: ``kind`` (pan, highpass, lowpass, low_shelf, high_shelf, room, distance,
    telephone, radio) and its resolved numeric ``settings`` (name → value; units in the names:
    ``cutoff_hz``, ``gain_db``). Part of the step digest of the artifact it changes, never of a
    paid take's request key."""

    kind: str
    settings: tuple[tuple[str, float], ...] = ()

    def setting(self, name: str) -> float:
        """The setting called ``name``. Raises ``KeyError``."""
        return dict(self.settings)[name]

    def canonical(self) -> dict[str, Any]:
        return {"kind": self.kind, **dict(self.settings)}


def _effects(effects: tuple[EffectSpec, ...]) -> list[dict[str, Any]]:
    return [effect.canonical() for effect in effects]


@dataclass(frozen=True)
class CloneSpec:
    """How a cast voice is cloned: the cloning ``model`` (``seed-audio`` or ``openvoice``), an
    OpenVoice ``language``, ``url`` when the reference clip is a URL the host fetches, and the
    clip's ``transcript`` (the local provider matches the clip's tempo on it; no host is sent it)."""

    model: str = "seed-audio"
    language: str | None = None
    url: str | None = None
    transcript: str | None = None

    def canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "language": self.language}
        if self.url is not None:
            out["url"] = self.url
        if self.transcript is not None:
            out["transcript"] = self.transcript
        return out


@dataclass(frozen=True)
class PiperModel:
    """A Piper ``.onnx`` voice (local provider) by content digest, with its ``.onnx.json`` config."""

    model_sha256: str
    config_sha256: str
    speaker: int | None = None


@dataclass(frozen=True)
class VoiceSpec:
    """A cast voice as a provider sees it. ``preset`` maps provider name → voice id (a plain string
    applies to every provider); ``speed``/``volume`` are multipliers; ``gain_db`` is applied by the
    engine after the take (never sent, never in a take's key), as are its ``effects``; ``cast_index``
    is its place in the cast; ``local_voice`` the local voice ``recipe.graph`` assigned it over the
    whole cast (None: none left, or not a plain voice). ``local_voice`` is not in :meth:`canonical`:
    the local provider's model id, which every digest covers, names the voice it speaks with."""

    name: str
    cast_index: int = 0
    preset: Mapping[str, str] | str | None = None
    speed: float = 1.0
    volume: float = 1.0
    pitch_semitones: float = 0.0
    gain_db: float = 0.0
    clone: CloneSpec | None = None
    piper: PiperModel | None = None
    effects: tuple[EffectSpec, ...] = ()
    local_voice: str | None = None

    def preset_on(self, host: str) -> str | None:
        """The voice's preset id on ``host``: ``preset: {host: id}``, or a plain string preset. A
        ``*_bigtts`` id given for one of :data:`SHARED_PRESET_HOSTS` is carried to the others."""
        if isinstance(self.preset, Mapping):
            value = self.preset.get(host)
            if value:
                return str(value)
            if host in SHARED_PRESET_HOSTS:
                for other in SHARED_PRESET_HOSTS:
                    carried = self.preset.get(other)
                    if isinstance(carried, str) and carried.endswith(_SHARED_PRESET_SUFFIX):
                        return carried
            return None
        return str(self.preset) if isinstance(self.preset, str) and self.preset else None

    @property
    def referenced(self) -> bool:
        """Whether a Seed Audio request cites this voice as a reference on some host: a clone, or a
        preset id Evolink sends as one, a local voice's name aside (counted towards
        :attr:`SceneLimits.max_references`)."""
        preset = self.preset_on("evolink")
        return self.clone is not None or (preset is not None and preset not in LOCAL_VOICE_NAMES)

    @property
    def clone_model(self) -> str | None:
        return self.clone.model if self.clone is not None else None

    def canonical(self, *, for_host: bool = False) -> dict[str, Any]:
        """The voice's canonical data; ``for_host`` leaves out what the engine applies itself
        (``gain_db``, ``effects``). ``effects`` appear only when there are some."""
        out: dict[str, Any] = {
            "name": self.name,
            "cast_index": self.cast_index,
            "preset": dict(self.preset) if isinstance(self.preset, Mapping) else self.preset,
            "speed": self.speed,
            "volume": self.volume,
            "pitch_semitones": self.pitch_semitones,
            "gain_db": self.gain_db,
            "clone": self.clone.canonical() if self.clone is not None else None,
        }
        if self.piper is not None:
            out.update(
                model_sha256=self.piper.model_sha256, config_sha256=self.piper.config_sha256, speaker=self.piper.speaker
            )
        if self.effects and not for_host:
            out["effects"] = _effects(self.effects)
        if for_host:
            del out["gain_db"]
        return out


@dataclass(frozen=True)
class SpokenLine:
    """One line: ``text`` by cast voice ``voice``, read with ``direction``; ``gap_ms`` before it
    (None: the dialogue's gap). ``say`` is what the model is sent instead of ``text`` when the
    recipe's lexicon respells a word of it (``text`` stays the transcript's)."""

    voice: str
    text: str
    direction: str | None = None
    gap_ms: float | None = None
    say: str | None = None

    @property
    def model_text(self) -> str:
        """The words the model is sent: the lexicon's respelling, else the text."""
        return self.say if self.say is not None else self.text

    def canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "voice": self.voice,
            "text": self.text,
            "direction": self.direction,
            "gap_ms": self.gap_ms,
        }
        if self.say is not None:
            out["say"] = self.say
        return out


def _voices(voices: tuple[VoiceSpec, ...], *, for_host: bool) -> dict[str, Any]:
    return {v.name: v.canonical(for_host=for_host) for v in voices}


def _image(image: FileRef | UrlRef | None) -> dict[str, Any] | None:
    return image.canonical() if image is not None else None


# -- payloads -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinesPayload:
    """Speech rendered by a provider: one line (``speak``) or a whole scene (``scene``).

    ``voices`` are the voices of the lines in order of first appearance; ``references`` the names of
    those with a reference clip (rendered by a ``clone`` step or fetched from a URL), in order;
    ``gap_ms`` the pause between lines (a line's own ``gap_ms`` wins; negative overlaps); ``image``
    a reference image."""

    kind: StepKind
    lines: tuple[SpokenLine, ...]
    voices: tuple[VoiceSpec, ...]
    gap_ms: float = 0.0
    image: FileRef | UrlRef | None = None
    references: tuple[str, ...] = ()

    def voice(self, name: str) -> VoiceSpec:
        """The voice called ``name``. Raises ``KeyError``."""
        for voice in self.voices:
            if voice.name == name:
                return voice
        raise KeyError(name)

    @property
    def text_chars(self) -> int:
        return sum(len(line.text) for line in self.lines)

    def canonical(self, *, for_host: bool = False) -> dict[str, Any]:
        if self.kind == StepKind.SPEAK:
            line = self.lines[0]
            out: dict[str, Any] = {
                "text": line.text,
                "direction": line.direction,
                "voice": self.voices[0].canonical(for_host=for_host),
                "image": _image(self.image),
                "references": list(self.references),
            }
            if line.say is not None:
                out["say"] = line.say
            return out
        return {
            "gap_ms": self.gap_ms,
            "lines": [x.canonical() for x in self.lines],
            "voices": _voices(self.voices, for_host=for_host),
            "image": _image(self.image),
            "references": list(self.references),
        }


@dataclass(frozen=True)
class GeneratePayload:
    """A generated sound of ``duration_ms`` from ``prompt`` (``@name`` cites a cast voice of
    ``voices``); ``texture`` picks the local placeholder's sound."""

    prompt: str
    duration_ms: float
    texture: str = "noise"
    voices: tuple[VoiceSpec, ...] = ()
    image: FileRef | UrlRef | None = None
    references: tuple[str, ...] = ()

    kind = StepKind.GENERATE

    def voice(self, name: str) -> VoiceSpec:
        for voice in self.voices:
            if voice.name == name:
                return voice
        raise KeyError(name)

    def canonical(self, *, for_host: bool = False) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "duration_ms": self.duration_ms,
            "texture": self.texture,
            "voices": _voices(self.voices, for_host=for_host),
            "image": _image(self.image),
            "references": list(self.references),
        }


@dataclass(frozen=True)
class IsolatePayload:
    """Keep the sound ``describe`` names from ``source``; ``candidates`` for hosts that rerank."""

    describe: str
    candidates: int
    source: StepSource | UrlRef | FileRef

    kind = StepKind.ISOLATE

    def canonical(self, *, for_host: bool = False) -> dict[str, Any]:
        return {"describe": self.describe, "candidates": self.candidates, "source": self.source.canonical()}


@dataclass(frozen=True)
class ClonePayload:
    """A cast voice's reference clip from ``source``: from ``start_ms`` for ``duration_ms`` (None:
    as much as the model takes), between ``min_ms`` and ``max_ms`` (:data:`CLIP_LIMITS_MS`)."""

    source: StepSource | FileRef
    start_ms: float
    duration_ms: float | None
    min_ms: float
    max_ms: float

    kind = StepKind.CLONE

    def canonical(self) -> dict[str, Any]:
        return {
            "source": self.source.canonical(),
            "start_ms": self.start_ms,
            "duration_ms": self.duration_ms,
            "min_ms": self.min_ms,
            "max_ms": self.max_ms,
        }


@dataclass(frozen=True)
class FilePayload:
    """An audio file of the recipe, imported as is."""

    file: FileRef

    kind = StepKind.FILE

    def canonical(self) -> dict[str, Any]:
        return self.file.canonical()


@dataclass(frozen=True)
class JoinPayload:
    """Generated parts joined end to end with ``crossfade_ms`` crossfades, cut to ``duration_ms``."""

    crossfade_ms: float
    duration_ms: float

    kind = StepKind.JOIN

    def canonical(self) -> dict[str, Any]:
        return {"crossfade_ms": self.crossfade_ms, "duration_ms": self.duration_ms}


@dataclass(frozen=True)
class CueSpec:
    """A cue of a dialogue: the output of step ``step`` placed at the start or end (``at``) of line
    ``line`` (0-based among the dialogue's lines) plus ``offset_ms`` (signed). ``duration_ms`` cuts
    (or, with ``loop``, fills) its length; gain, fades and ducking under the dialogue's speech as a
    mix track's. A cue is never speech: beds do not duck under it."""

    step: str
    line: int
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

    def canonical(self) -> dict[str, Any]:
        return {"step": self.step, "line": self.line, "at": self.at, **_placement(self)}


def _placement(spec: CueSpec | TrackSpec) -> dict[str, Any]:
    """What a cue and a mix track both say about placing a sound (offset, length, gain, fades, loop,
    ducking), in canonical form: one list of keys, so both digests cover the same fields."""
    return {
        "offset_ms": spec.offset_ms,
        "duration_ms": spec.duration_ms,
        "gain_db": spec.gain_db,
        "fade_in_ms": spec.fade_in_ms,
        "fade_out_ms": spec.fade_out_ms,
        "loop": spec.loop,
        "duck_db": spec.duck_db,
        "duck_attack_ms": spec.duck_attack_ms,
        "duck_release_ms": spec.duck_release_ms,
    }


@dataclass(frozen=True)
class DialoguePayload:
    """Speech takes joined in order, ``gap_ms`` apart (a line's own ``gap_ms`` wins), with ``cues``.

    The first upstreams are the speech: one take per line, or (``parts``) takes that each hold that
    many consecutive lines (a whole-scene take; its segments give the line timings inside it).
    ``lead_ms``/``tail_ms`` are silence before the first and after the last line (pause lines); the
    remaining upstreams are the cues' sounds, in the order of :attr:`cue_steps`."""

    gap_ms: float
    lines: tuple[SpokenLine, ...]
    cues: tuple[CueSpec, ...] = ()
    lead_ms: float = 0.0
    tail_ms: float = 0.0
    parts: tuple[int, ...] | None = None

    kind = StepKind.DIALOGUE

    @property
    def cue_steps(self) -> tuple[str, ...]:
        """The steps the cues place, each once, in order of first use."""
        return tuple(dict.fromkeys(cue.step for cue in self.cues))

    def canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "gap_ms": self.gap_ms,
            "lines": [{"voice": x.voice, "text": x.text, "gap_ms": x.gap_ms} for x in self.lines],
        }
        if self.cues:  # optional keys: a dialogue without cues or pauses keeps its digest
            out["cues"] = [cue.canonical() for cue in self.cues]
        if self.lead_ms:
            out["lead_ms"] = self.lead_ms
        if self.tail_ms:
            out["tail_ms"] = self.tail_ms
        if self.parts is not None:
            out["parts"] = list(self.parts)
        return out


@dataclass(frozen=True)
class SceneJoinPayload:
    """The parts of a ``render: scene`` dialogue (one request each) joined in order; ``gaps_ms[i]``
    is the silence before part ``i + 2`` (its first line's gap; negative overlaps)."""

    gaps_ms: tuple[float, ...]

    kind = StepKind.DIALOGUE

    def canonical(self) -> dict[str, Any]:
        return {"scene_parts": len(self.gaps_ms) + 1, "gaps_ms": list(self.gaps_ms)}


@dataclass(frozen=True)
class TrackSpec:
    """One placement of a step's output in a mix (times in ms; ``after``/``with_``/``under`` name
    earlier tracks of the same mix; with ``anchor_line`` (1-based) they name that line of the
    dialogue track: its end, its start, its span). ``crossfade_ms`` starts the track that long
    before the previous one ends, fading one out as the other fades in; ``effects`` are applied to
    the track before it is placed)."""

    track: str
    at_ms: float | None = None
    after: str | None = None
    with_: str | None = None
    under: str | None = None
    offset_ms: float = 0.0
    duration_ms: float | None = None
    gain_db: float = 0.0
    fade_in_ms: float = 0.0
    fade_out_ms: float = 0.0
    loop: bool = False
    duck_db: float | None = None
    duck_attack_ms: float = 80.0
    duck_release_ms: float = 400.0
    effects: tuple[EffectSpec, ...] = ()
    anchor_line: int | None = None
    crossfade_ms: float = 0.0

    def canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "track": self.track,
            "at_ms": self.at_ms,
            "after": self.after,
            "with": self.with_,
            "under": self.under,
            **_placement(self),
        }
        if self.effects:  # optional keys: tracks that do not use them keep their digest
            out["effects"] = _effects(self.effects)
        if self.anchor_line is not None:
            out["anchor_line"] = self.anchor_line
        if self.crossfade_ms:
            out["crossfade_ms"] = self.crossfade_ms
        return out


@dataclass(frozen=True)
class MixPayload:
    """Tracks placed on one timeline at ``sample_rate_hz`` with ``channels``."""

    sample_rate_hz: int
    channels: int
    tracks: tuple[TrackSpec, ...]

    kind = StepKind.MIX

    def canonical(self) -> dict[str, Any]:
        return {
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
            "tracks": [t.canonical() for t in self.tracks],
        }


@dataclass(frozen=True)
class StemPayload:
    """One stem of a mix: the tracks at ``tracks`` (indices into ``mix.tracks``) placed exactly as
    the mix places them (layout and ducking need every track, so ``mix`` is the whole mix), as long
    as the mix. ``name`` is the stem's file name (no extension); it is not part of the content."""

    mix: MixPayload
    tracks: tuple[int, ...]
    name: str

    kind = StepKind.STEM

    def canonical(self) -> dict[str, Any]:
        return {"mix": self.mix.canonical(), "tracks": list(self.tracks)}


@dataclass(frozen=True)
class MasterPayload:
    """One output's master: loudness target (LUFS) or, for ACX, RMS target (``target_rms_dbfs``),
    true-peak ceiling (dBTP) and the encoding (``bit_depth`` of wav/flac; channels may differ from
    the mix's: it is down- or up-mixed). The defaults stay out of the canonical form, so a master
    that does not use them keeps its digest."""

    target_lufs: float
    true_peak_dbtp: float
    format: str
    bitrate_kbps: int
    sample_rate_hz: int
    channels: int
    bit_depth: int = 24
    target_rms_dbfs: float | None = None

    kind = StepKind.MASTER

    def canonical(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target_lufs": self.target_lufs,
            "true_peak_dbtp": self.true_peak_dbtp,
            "format": self.format,
            "bitrate_kbps": self.bitrate_kbps,
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
        }
        if self.bit_depth != 24:
            out["bit_depth"] = self.bit_depth
        if self.target_rms_dbfs is not None:
            out["target_rms_dbfs"] = self.target_rms_dbfs
        return out


Payload = (
    LinesPayload
    | GeneratePayload
    | IsolatePayload
    | ClonePayload
    | FilePayload
    | JoinPayload
    | DialoguePayload
    | SceneJoinPayload
    | MixPayload
    | MasterPayload
    | StemPayload
)
