"""Rendering of the steps audioflow does itself: ``file`` (import), ``clone`` (prepare a reference
clip), ``dialogue`` (join lines), ``join`` (crossfade generated parts), ``mix`` (place tracks on
one timeline) and ``master`` (loudness, true peak, encode); and the engine's own processing of a
provider's take (``finish_take``: voice gain, fitting a generated sound to its length).

Each function takes the step's canonical params plus its upstream artifacts (bytes + metadata) and
returns ``(encoded bytes, extension, metadata)``. Metadata is JSON: ``duration_ms``, ``speech_ms``
(speech intervals, ms from the start: what beds duck under), ``segments`` (who says what when: the
transcript), ``placeholders`` (ids of placeholder steps inside).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..audio import Audio, Clip, Duck, decode_file, master_encoded, read_wav, render_mix, write_wav
from ..errors import AudioflowError
from .resources import check_programme

__all__ = [
    "Upstream",
    "assemble_dialogue",
    "assemble_join",
    "assemble_mix",
    "finish_take",
    "import_file",
    "master_mix",
    "prepare_reference",
    "scene_meta",
    "speech_meta",
]

#: The fade that ends a generated take cut to length, and the longest crossfade of a loop seam, ms.
FIT_FADE_OUT_MS = 250.0
FIT_LOOP_CROSSFADE_MS = 1_000.0

Rendered = tuple[bytes, str, dict[str, Any]]


@dataclass(frozen=True)
class Upstream:
    """An upstream artifact as a downstream step sees it."""

    step_id: str
    kind: str
    path: Path
    meta: dict[str, Any]

    def audio(self) -> Audio:
        return read_wav(self.path)


def speech_meta(audio: Audio, *, voice: str | None = None, text: str | None = None) -> dict[str, Any]:
    """Metadata of a spoken take: it is all speech, one transcript segment."""
    duration = audio.duration_ms
    meta: dict[str, Any] = {
        "duration_ms": duration,
        "sample_rate_hz": audio.sample_rate_hz,
        "channels": audio.channels,
        "speech_ms": [[0.0, duration]],
    }
    if text is not None:
        meta["segments"] = [{"start_ms": 0.0, "end_ms": duration, "voice": voice, "text": text}]
    return meta


def import_file(source: Path) -> Rendered:
    """Decode any audio file into the store's float32 WAV."""
    audio = decode_file(source)
    meta = {"duration_ms": audio.duration_ms, "sample_rate_hz": audio.sample_rate_hz, "channels": audio.channels}
    return write_wav(audio), "wav", meta


def prepare_reference(params: dict[str, Any], source: Audio) -> Rendered:
    """A cast voice's reference clip from ``source``: mono, from ``start_ms`` for ``duration_ms``
    (default: as much as the cloning model takes, ``max_ms``), as 16-bit PCM WAV (small enough
    for the hosts' 10 MB limit: 30 s at 48 kHz is 2.9 MB). A longer clip is cut to ``max_ms`` with
    a note; one shorter than ``min_ms`` (OpenVoice: 5 s) is refused. Raises AudioflowError."""
    start, wanted = params["start_ms"], params["duration_ms"]
    available = source.duration_ms - start
    if available <= 0:
        raise AudioflowError(
            f"the reference clip is {source.duration_ms / 1000:.1f} s; it cannot start at {start / 1000:g} s"
        )
    length = min(available, wanted if wanted is not None else available)
    notes = []
    if length > params["max_ms"]:
        notes.append(
            f"reference clip cut to its first {params['max_ms'] / 1000:g} s (of {length / 1000:.1f} s): the cloning "
            "model's limit; set clone.start / clone.duration to choose the part"
        )
        length = params["max_ms"]
    if length < params["min_ms"]:
        raise AudioflowError(
            f"the reference clip is {length / 1000:.1f} s; "
            f"the cloning model needs at least {params['min_ms'] / 1000:g} s"
        )
    first = round(start * source.sample_rate_hz / 1000)
    count = round(length * source.sample_rate_hz / 1000)
    mono = source.samples[first : first + count].mean(axis=1, keepdims=True)
    clip = Audio(mono.astype("float32"), source.sample_rate_hz)
    if clip.sample_rate_hz > 48000:
        clip = clip.resampled(48000)
    meta = {"duration_ms": clip.duration_ms, "sample_rate_hz": clip.sample_rate_hz, "channels": 1, "notes": notes}
    return write_wav(clip, pcm16=True), "wav", meta


def finish_take(kind: str, params: dict[str, Any], take: Audio) -> tuple[Audio, list[str]]:
    """The engine's processing of a provider's take: a speak line gets its voice's ``gain_db``; a
    generated sound is fitted to ``duration_ms`` — cut with a 250 ms fade-out when longer, looped
    with equal-power crossfades when shorter (hosts return the length their model chooses)."""
    notes: list[str] = []
    if kind == "speak" and params["voice"].get("gain_db"):
        gain = 10.0 ** (params["voice"]["gain_db"] / 20.0)
        return Audio((take.samples * gain).astype("float32"), take.sample_rate_hz), notes
    if kind != "generate" or take.duration_ms == 0:
        return take, notes
    wanted, have = float(params["duration_ms"]), take.duration_ms
    if abs(wanted - have) < 1000.0 / take.sample_rate_hz:
        return take, notes
    if have > wanted:
        clip = Clip(take, start_ms=0.0, length_ms=wanted, fade_out_ms=min(FIT_FADE_OUT_MS, wanted / 4))
    else:
        notes.append(f"the take is {have / 1000:.1f} s: looped to {wanted / 1000:.1f} s")
        crossfade = min(FIT_LOOP_CROSSFADE_MS, have / 4)
        clip = Clip(take, start_ms=0.0, length_ms=wanted, loop=True, loop_crossfade_ms=crossfade)
    fitted = render_mix([clip], sample_rate_hz=take.sample_rate_hz, channels=take.channels, length_ms=wanted)
    return fitted, notes


def assemble_join(params: dict[str, Any], parts: list[Upstream]) -> Rendered:
    """Join generated parts end to end with ``crossfade_ms`` linear crossfades, cut to ``duration_ms``."""
    crossfade = params["crossfade_ms"]
    first = parts[0].audio()
    clips, cursor = [], 0.0
    for i, up in enumerate(parts):
        audio = first if i == 0 else up.audio()
        start = max(0.0, cursor - crossfade) if i else 0.0
        fade = min(crossfade, audio.duration_ms / 2)
        clips.append(
            Clip(audio, start_ms=start, fade_in_ms=fade if i else 0.0, fade_out_ms=fade if i < len(parts) - 1 else 0.0)
        )
        cursor = start + audio.duration_ms
    joined = render_mix(
        clips, sample_rate_hz=first.sample_rate_hz, channels=first.channels, length_ms=params["duration_ms"]
    )
    meta = {
        "duration_ms": joined.duration_ms,
        "sample_rate_hz": joined.sample_rate_hz,
        "channels": joined.channels,
        "placeholders": _placeholders(parts),
    }
    return write_wav(joined), "wav", meta


def scene_meta(params: dict[str, Any], audio: Audio) -> dict[str, Any]:
    """Metadata of a whole-scene take: all speech; transcript segments spread over the take in
    proportion to each line's length (the host returns one file, not line timings)."""
    meta = speech_meta(audio)
    weights = [max(1, len(line["text"])) for line in params["lines"]]
    total, cursor, segments = float(sum(weights)), 0.0, []
    for line, weight in zip(params["lines"], weights, strict=True):
        end = cursor + audio.duration_ms * weight / total
        segments.append({"start_ms": cursor, "end_ms": end, "voice": line["voice"], "text": line["text"]})
        cursor = end
    meta["segments"] = segments
    meta["segments_estimated"] = True
    return meta


def _shifted(meta: dict[str, Any], key: str, start_ms: float, end_ms: float) -> list[Any]:
    out: list[Any] = []
    for item in meta.get(key, []):
        if key == "speech_ms":
            s, e = item[0] + start_ms, min(item[1] + start_ms, end_ms)
            if e > s:
                out.append([s, e])
        elif item["start_ms"] + start_ms < end_ms:
            out.append(
                {**item, "start_ms": item["start_ms"] + start_ms, "end_ms": min(item["end_ms"] + start_ms, end_ms)}
            )
    return out


def _placeholders(inputs: list[Upstream]) -> list[str]:
    found: list[str] = []
    for up in inputs:
        found += up.meta.get("placeholders", []) or ([up.step_id] if up.meta.get("placeholder") else [])
    return list(dict.fromkeys(found))


def assemble_dialogue(params: dict[str, Any], lines: list[Upstream]) -> Rendered:
    """Join the line takes in order, ``gap_ms`` apart (a line's own ``gap_ms`` wins; negative
    overlaps). Output rate and channels are the first line's."""
    first = lines[0].audio()
    clips, segments, speech, cursor = [], [], [], 0.0
    for i, (line, up) in enumerate(zip(params["lines"], lines, strict=True)):
        audio = first if i == 0 else up.audio()
        gap = line["gap_ms"] if line["gap_ms"] is not None else params["gap_ms"]
        start = max(0.0, cursor + gap) if i else 0.0
        clips.append(Clip(audio, start_ms=start))
        end = start + audio.duration_ms
        speech += _shifted(up.meta, "speech_ms", start, end)
        segments.append({"start_ms": start, "end_ms": end, "voice": line["voice"], "text": line["text"]})
        cursor = end
    check_programme(max(c.end_ms for c in clips), first.sample_rate_hz, first.channels, what="the dialogue")
    mixed = render_mix(clips, sample_rate_hz=first.sample_rate_hz, channels=first.channels)
    meta = {
        "duration_ms": mixed.duration_ms,
        "sample_rate_hz": mixed.sample_rate_hz,
        "channels": mixed.channels,
        "speech_ms": speech,
        "segments": segments,
        "placeholders": _placeholders(lines),
    }
    return write_wav(mixed), "wav", meta


def _layout(tracks: list[dict[str, Any]], durations: dict[str, float]) -> list[tuple[float, float]]:
    """(start_ms, length_ms) of each track. A track with no placement follows the previous non-bed
    track (the first starts at 0); a bed ``under`` a track takes its start and length."""
    placed: dict[str, tuple[float, float]] = {}
    result: list[tuple[float, float]] = []
    programme_end = 0.0
    for track in tracks:
        own = durations[track["track"]]
        length = track["duration_ms"]
        if track["at_ms"] is not None:
            start = track["at_ms"]
        elif track["after"]:
            start = sum(placed[track["after"]])
        elif track["with"] or track["under"]:
            ref = placed[track["with"] or track["under"]]
            start = ref[0]
            if track["under"] and length is None:
                length = ref[1]
        else:
            start = programme_end
        start += track["offset_ms"]
        if start < 0:
            raise AudioflowError(f"track {track['track']} would start {-start:.0f} ms before the programme")
        if length is None or (length > own and not track["loop"]):
            length = own if length is None else min(length, own)
        placed[track["track"]] = (start, length)
        result.append((start, length))
        if not track["under"]:
            programme_end = start + length
    return result


def assemble_mix(params: dict[str, Any], inputs: dict[str, Upstream]) -> Rendered:
    """Place the tracks (gain, fades, loops, ducking) in one float32 timeline (``audio.render_mix``)."""
    tracks = params["tracks"]
    audio = {name: up.audio() for name, up in inputs.items()}
    spans = _layout(tracks, {name: a.duration_ms for name, a in audio.items()})
    check_programme(max((s + n for s, n in spans), default=0.0), params["sample_rate_hz"], params["channels"])
    speech: dict[int, list[list[float]]] = {}
    segments: list[dict[str, Any]] = []
    for i, (track, (start, length)) in enumerate(zip(tracks, spans, strict=True)):
        if not track["under"] and track["duck_db"] is None:
            meta = inputs[track["track"]].meta
            speech[i] = _shifted(meta, "speech_ms", start, start + length)
            segments += _shifted(meta, "segments", start, start + length)
    clips = []
    for i, (track, (start, length)) in enumerate(zip(tracks, spans, strict=True)):
        duck = None
        if track["duck_db"] is not None:
            if track["under"]:
                index = max(j for j, t in enumerate(tracks[:i]) if t["track"] == track["under"])
                intervals = speech.get(index, [])
            else:
                intervals = [iv for ivs in speech.values() for iv in ivs]
            duck = Duck(
                depth_db=track["duck_db"],
                intervals_ms=tuple((s, e) for s, e in intervals),
                attack_ms=track["duck_attack_ms"],
                release_ms=track["duck_release_ms"],
            )
        clips.append(
            Clip(
                audio[track["track"]],
                start_ms=start,
                gain_db=track["gain_db"],
                fade_in_ms=min(track["fade_in_ms"], length),
                fade_out_ms=min(track["fade_out_ms"], length),
                length_ms=length,
                loop=track["loop"],
                duck=duck,
                loop_crossfade_ms=50.0 if track["loop"] else 0.0,
            )
        )
    mixed = render_mix(clips, sample_rate_hz=params["sample_rate_hz"], channels=params["channels"])
    meta = {
        "duration_ms": mixed.duration_ms,
        "sample_rate_hz": mixed.sample_rate_hz,
        "channels": mixed.channels,
        "speech_ms": sorted(iv for ivs in speech.values() for iv in ivs),
        "segments": sorted(segments, key=lambda s: s["start_ms"]),
        "placeholders": _placeholders(list(inputs.values())),
    }
    return write_wav(mixed), "wav", meta


def master_mix(params: dict[str, Any], mix: Upstream) -> Rendered:
    """Master the mix to the loudness target and true-peak ceiling and encode it."""
    data, result = master_encoded(
        mix.audio(),
        target_lufs=params["target_lufs"],
        true_peak_dbtp=params["true_peak_dbtp"],
        format=params["format"],
        bitrate_kbps=params["bitrate_kbps"],
        sample_rate_hz=params["sample_rate_hz"],
    )
    meta = {
        "duration_ms": result.audio.duration_ms,
        "sample_rate_hz": params["sample_rate_hz"],
        "channels": result.audio.channels,
        "input_lufs": result.input_lufs,
        "gain_db": result.gain_db,
        "lufs": result.lufs,
        "true_peak_dbtp": result.true_peak_dbtp,
        "limited": result.limited,
        "segments": mix.meta.get("segments", []),
        "placeholders": mix.meta.get("placeholders", []),
    }
    return data, params["format"], meta
