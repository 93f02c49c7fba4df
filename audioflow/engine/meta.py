"""What the store records about a step's artifact, as a typed value with one serialiser.

:class:`StepMeta` is written into the step record (``cache`` keeps it as JSON: :meth:`StepMeta.to_json`)
and read back with :meth:`StepMeta.from_json`; nothing else indexes the record's dict.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # audio.qc imports numpy: only a master's meta holds its figures
    from ..audio.figures import FileFigures, Overview

__all__ = ["Loudness", "Segment", "StepMeta"]

_RELATIVE = ("@", "[", ".")  # the first character of an anchor key relative to its step


@dataclass(frozen=True)
class Segment:
    """Who says what when (a transcript cue): ms from the start of the artifact. ``estimated``
    marks timings spread over a whole-scene take from the lines' lengths (a remote host returns one
    file, no line timings); measured timings are not marked."""

    start_ms: float
    end_ms: float
    voice: str | None
    text: str
    estimated: bool = False

    def shifted(self, offset_ms: float, end_ms: float) -> Segment | None:
        """This segment placed ``offset_ms`` later and cut at ``end_ms`` (None when it starts after)."""
        if self.start_ms + offset_ms >= end_ms:
            return None
        end = min(self.end_ms + offset_ms, end_ms)
        return Segment(self.start_ms + offset_ms, end, self.voice, self.text, self.estimated)

    def to_json(self) -> dict[str, Any]:
        out = {"start_ms": self.start_ms, "end_ms": self.end_ms, "voice": self.voice, "text": self.text}
        if self.estimated:
            out["estimated"] = True
        return out


@dataclass(frozen=True)
class Loudness:
    """A master's measurements: loudness before (``input_lufs``) and after (``lufs``, LUFS), the
    gain applied (dB), the true peak (dBTP, 4× oversampled) and whether the limiter acted."""

    input_lufs: float
    gain_db: float
    lufs: float
    true_peak_dbtp: float
    limited: bool


@dataclass(frozen=True)
class StepMeta:
    """What a step's artifact is: length (ms), rate (Hz), channels; speech intervals (ms, what beds
    duck under); transcript ``segments`` (``segments_estimated`` when spread over a whole-scene take);
    ``placeholders`` inside (step ids); how a provider's take came to be (``provider``, ``model``,
    ``placeholder``, ``approximate``, ``notes``, ``request_id``, ``cost_usd``, ``take_digest``);
    a master's ``loudness``, ``qc_figures`` and ``overview`` (its encoded file measured, decoded:
    the QC report's figures, the report's envelope and short-term loudness); the ``step``
    that rendered it; ``anchors``: where the things a chapter can start at landed, (key, start_ms,
    end_ms) — a mix's tracks (``@3``, by step name at their first placement), dialogue lines
    (``scene[7]``) and cues (``scene.cue#2``); see ``engine.chapters``."""

    duration_ms: float = 0.0
    sample_rate_hz: int | None = None
    channels: int | None = None
    speech_ms: tuple[tuple[float, float], ...] = ()
    segments: tuple[Segment, ...] = ()
    segments_estimated: bool = False
    placeholders: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    provider: str | None = None
    model: str | None = None
    placeholder: bool = False
    approximate: bool = False
    request_id: str | None = None
    cost_usd: float = 0.0
    take_digest: str | None = None
    loudness: Loudness | None = None
    step: str | None = None
    qc_figures: FileFigures | None = None
    anchors: tuple[tuple[str, float, float], ...] = ()
    overview: Overview | None = None

    def shifted_anchors(self, offset_ms: float, end_ms: float, owner: str) -> list[tuple[str, float, float]]:
        """The ``anchors`` placed ``offset_ms`` later and cut at ``end_ms`` (one starting there or
        later is not in the programme). Keys relative to the step (``@3`` a mix's track, ``[7]`` a
        line, ``.cue#2`` a cue) are made absolute with ``owner``, the step's id."""
        out = []
        for name, start, stop in self.anchors:
            if start + offset_ms < end_ms:
                key = f"{owner}{name}" if name[:1] in _RELATIVE else name
                out.append((key, start + offset_ms, min(stop + offset_ms, end_ms)))
        return out

    def placeholders_inside(self, step_id: str) -> tuple[str, ...]:
        """The placeholder steps this artifact holds (itself, when it is one)."""
        return self.placeholders or ((step_id,) if self.placeholder else ())

    def shifted_speech(self, offset_ms: float, end_ms: float) -> list[tuple[float, float]]:
        """Speech intervals placed ``offset_ms`` later, cut at ``end_ms``."""
        out = []
        for start, stop in self.speech_ms:
            s, e = start + offset_ms, min(stop + offset_ms, end_ms)
            if e > s:
                out.append((s, e))
        return out

    def shifted_segments(self, offset_ms: float, end_ms: float) -> list[Segment]:
        return [s for seg in self.segments if (s := seg.shifted(offset_ms, end_ms)) is not None]

    # -- the one serialiser ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """JSON data for the step record: finite numbers only (a NaN or infinite cost becomes 0);
        unknown values (None) are left out, as the cache's record check expects."""
        out: dict[str, Any] = {
            "duration_ms": _finite(self.duration_ms),
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
            "speech_ms": [[s, e] for s, e in self.speech_ms],
            "segments": [seg.to_json() for seg in self.segments],
            "placeholders": list(self.placeholders),
            "notes": list(self.notes),
            "provider": self.provider,
            "model": self.model,
            "placeholder": self.placeholder,
            "approximate": self.approximate,
            "request_id": self.request_id,
            "cost_usd": _finite(self.cost_usd),
            "take_digest": self.take_digest,
            "step": self.step,
        }
        if self.segments_estimated:
            out["segments_estimated"] = True
        if self.anchors:
            out["anchors"] = [[name, _finite(s), _finite(e)] for name, s, e in self.anchors]
        if self.loudness is not None:
            loud = self.loudness
            out.update(
                input_lufs=_finite(loud.input_lufs),
                gain_db=_finite(loud.gain_db),
                lufs=_finite(loud.lufs),
                true_peak_dbtp=_finite(loud.true_peak_dbtp),
                limited=loud.limited,
            )
        if self.qc_figures is not None:
            out["qc_figures"] = self.qc_figures.to_json()
        if self.overview is not None:
            out["overview"] = self.overview.to_json()
        return {key: value for key, value in out.items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepMeta:
        """The meta of a step record (records written by earlier versions included)."""
        loudness = None
        if "lufs" in data:
            loudness = Loudness(
                float(data.get("input_lufs", 0.0)),
                float(data.get("gain_db", 0.0)),
                float(data["lufs"]),
                float(data.get("true_peak_dbtp", 0.0)),
                bool(data.get("limited", False)),
            )
        return cls(
            duration_ms=float(data.get("duration_ms") or 0.0),
            sample_rate_hz=data.get("sample_rate_hz"),
            channels=data.get("channels"),
            speech_ms=tuple((float(s), float(e)) for s, e in data.get("speech_ms") or ()),
            segments=(segments := tuple(_segments(data.get("segments") or ()))),
            segments_estimated=bool(data.get("segments_estimated", False)) or any(s.estimated for s in segments),
            placeholders=tuple(data.get("placeholders") or ()),
            notes=tuple(data.get("notes") or ()),
            provider=data.get("provider"),
            model=data.get("model"),
            placeholder=bool(data.get("placeholder", False)),
            approximate=bool(data.get("approximate", False)),
            request_id=data.get("request_id"),
            cost_usd=float(data.get("cost_usd") or 0.0),
            take_digest=data.get("take_digest"),
            loudness=loudness,
            step=data.get("step"),
            qc_figures=_figures(data["qc_figures"]) if "qc_figures" in data else None,
            anchors=tuple((str(name), float(s), float(e)) for name, s, e in data.get("anchors") or ()),
            overview=_overview(data["overview"]) if "overview" in data else None,
        )


def _segments(items: Iterable[Mapping[str, Any]]) -> Iterable[Segment]:
    for item in items:
        yield Segment(
            float(item["start_ms"]),
            float(item["end_ms"]),
            item.get("voice"),
            str(item["text"]),
            bool(item.get("estimated", False)),
        )


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0


def _figures(data: Mapping[str, Any]) -> FileFigures:
    from ..audio.figures import FileFigures

    return FileFigures.from_json(data)


def _overview(data: Mapping[str, Any]) -> Overview:
    from ..audio.figures import Overview

    return Overview.from_json(data)
