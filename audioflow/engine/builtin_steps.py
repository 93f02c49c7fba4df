"""The steps audioflow renders itself: ``file`` (import), ``clone`` (prepare a reference clip),
``dialogue`` (join lines, or a scene's parts), ``join`` (crossfade generated parts), ``mix`` (place tracks on
one timeline), ``stem`` (some of a mix's tracks, placed as the mix places them) and ``master`` (loudness,
true peak, encode); and the engine's own processing of a provider's take (:func:`finish_take`: voice
gain, fitting a generated sound to its length).

Each function takes the step's typed payload plus its upstream artifacts and returns
``(encoded bytes, extension, StepMeta)``; the dialogue, mix and master steps stream, reading their
inputs as files and writing their output to a file in ``out_dir`` (the store's temporary folder),
returned as a :class:`WrittenFile` for the store to adopt: none holds a whole programme in memory.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..audio import (
    Audio,
    AudioFile,
    Clip,
    Duck,
    apply_effects,
    decode_file,
    master_to_file,
    read_wav,
    render_mix,
    sequence_spans,
    write_wav,
)
from ..audio.mixstream import MixStream, mix_to_wav
from ..errors import AudioflowError, RecipeError, SourceLocation
from ..steps import (
    ClonePayload,
    DialoguePayload,
    GeneratePayload,
    JoinPayload,
    LinesPayload,
    MasterPayload,
    MixPayload,
    SceneJoinPayload,
    StemPayload,
    StepKind,
    TrackSpec,
)
from . import timeline
from .meta import Loudness, Segment, StepMeta
from .resources import check_programme

__all__ = [
    "Upstream",
    "WrittenFile",
    "finish_take",
    "import_file",
    "join_dialogue",
    "join_parts",
    "join_scene_parts",
    "master_mix",
    "mix_stem",
    "mix_tracks",
    "prepare_reference",
    "speech_meta",
    "with_voice_effects",
]

#: The fade that ends a generated take cut to length, and the longest crossfade of a loop seam, ms.
FIT_FADE_OUT_MS = 250.0
FIT_LOOP_CROSSFADE_MS = 1_000.0


@dataclass(frozen=True)
class WrittenFile:
    """An output a step wrote to ``path`` (in the store's temporary folder) instead of returning its
    bytes; ``digest`` is its hex sha256 when the writer computed it on the way."""

    path: Path
    digest: str | None = None


Rendered = tuple[bytes | WrittenFile, str, StepMeta]


def _new_file(out_dir: Path, ext: str) -> Path:
    """A fresh, empty file in ``out_dir`` for a step to write (the store's temporary folder)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=out_dir, prefix="render-", suffix=f".{ext}")
    os.close(fd)
    return Path(name)


@dataclass(frozen=True)
class Upstream:
    """An upstream artifact as a downstream step sees it."""

    step_id: str
    kind: StepKind
    path: Path
    meta: StepMeta

    def audio(self) -> Audio:
        return read_wav(self.path)


def _audio_meta(audio: Audio, **more: object) -> StepMeta:
    return StepMeta(audio.duration_ms, audio.sample_rate_hz, audio.channels, **more)  # type: ignore[arg-type]


def speech_meta(audio: Audio, payload: LinesPayload, line_spans_ms: tuple[tuple[float, float], ...] = ()) -> StepMeta:
    """Metadata of a spoken take. One line is one transcript segment and all speech. A scene take
    with ``line_spans_ms`` (one (start, end) per line, ms: the provider measured them) has those as
    its segments and speech intervals; without them its segments are spread over the take in
    proportion to each line's length and marked ``estimated`` (the host returns one file, not line
    timings), and the whole take counts as speech."""
    speech = ((0.0, audio.duration_ms),)
    if payload.kind == StepKind.SPEAK:
        line = payload.lines[0]
        segment = Segment(0.0, audio.duration_ms, line.voice, line.text)
        return _audio_meta(audio, speech_ms=speech, segments=(segment,))
    if len(line_spans_ms) == len(payload.lines):
        spans = [(max(0.0, s), min(e, audio.duration_ms)) for s, e in line_spans_ms]
        segments = tuple(Segment(s, e, x.voice, x.text) for x, (s, e) in zip(payload.lines, spans, strict=True))
        return _audio_meta(audio, speech_ms=tuple((s, e) for s, e in spans if e > s), segments=segments)
    weights = [max(1, len(line.text)) for line in payload.lines]
    total, cursor, estimated = float(sum(weights)), 0.0, []
    for line, weight in zip(payload.lines, weights, strict=True):
        end = cursor + audio.duration_ms * weight / total
        estimated.append(Segment(cursor, end, line.voice, line.text, estimated=True))
        cursor = end
    return _audio_meta(audio, speech_ms=speech, segments=tuple(estimated), segments_estimated=True)


def import_file(source: Path) -> Rendered:
    """Decode any audio file into the store's float32 WAV."""
    audio = decode_file(source)
    return write_wav(audio), "wav", _audio_meta(audio)


def prepare_reference(payload: ClonePayload, source: Audio) -> Rendered:
    """A cast voice's reference clip from ``source``: mono, from ``start_ms`` for ``duration_ms``
    (default: as much as the cloning model takes, ``max_ms``), as 16-bit PCM WAV (small enough
    for the hosts' 10 MB limit: 30 s at 48 kHz is 2.9 MB). A longer clip is cut to ``max_ms`` with
    a note; one shorter than ``min_ms`` (OpenVoice: 5 s) is refused. Raises AudioflowError."""
    start, wanted = payload.start_ms, payload.duration_ms
    available = source.duration_ms - start
    if available <= 0:
        raise AudioflowError(
            f"the reference clip is {source.duration_ms / 1000:.1f} s; it cannot start at {start / 1000:g} s"
        )
    length = min(available, wanted if wanted is not None else available)
    notes = []
    if length > payload.max_ms:
        notes.append(
            f"reference clip cut to its first {payload.max_ms / 1000:g} s (of {length / 1000:.1f} s): the cloning "
            "model's limit; set clone.start / clone.duration to choose the part"
        )
        length = payload.max_ms
    if length < payload.min_ms:
        raise AudioflowError(
            f"the reference clip is {length / 1000:.1f} s; the cloning model needs at least {payload.min_ms / 1000:g} s"
        )
    first = round(start * source.sample_rate_hz / 1000)
    count = round(length * source.sample_rate_hz / 1000)
    mono = source.samples[first : first + count].mean(axis=1, keepdims=True)
    clip = Audio(mono.astype("float32"), source.sample_rate_hz)
    if clip.sample_rate_hz > 48000:
        clip = clip.resampled(48000)
    return write_wav(clip, pcm16=True), "wav", _audio_meta(clip, notes=tuple(notes))


def finish_take(payload: LinesPayload | GeneratePayload | object, take: Audio) -> tuple[Audio, list[str]]:
    """The engine's processing of a provider's take: a spoken line gets its voice's ``gain_db``; a
    generated sound is fitted to ``duration_ms`` — cut with a 250 ms fade-out when longer, looped
    with equal-power crossfades when shorter (hosts return the length their model chooses)."""
    notes: list[str] = []
    if isinstance(payload, LinesPayload) and payload.kind == StepKind.SPEAK and payload.voices[0].gain_db:
        gain = 10.0 ** (payload.voices[0].gain_db / 20.0)
        return Audio((take.samples * gain).astype("float32"), take.sample_rate_hz), notes
    if not isinstance(payload, GeneratePayload) or take.duration_ms == 0:
        return take, notes
    wanted, have = float(payload.duration_ms), take.duration_ms
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


def with_voice_effects(payload: object, audio: Audio, meta: StepMeta) -> tuple[Audio, StepMeta]:
    """A spoken line's take through its voice's ``effects`` (pan, room, telephone…), and its meta
    with the new length, rate and channels; its speech and transcript stay where the words are (a
    reverb's tail is not speech). Anything else is returned as it is."""
    if not isinstance(payload, LinesPayload) or payload.kind != StepKind.SPEAK or not payload.voices[0].effects:
        return audio, meta
    shaped = apply_effects(audio, payload.voices[0].effects)
    return shaped, replace(
        meta, duration_ms=shaped.duration_ms, sample_rate_hz=shaped.sample_rate_hz, channels=shaped.channels
    )


def _placeholders(inputs: list[Upstream]) -> tuple[str, ...]:
    found: list[str] = []
    for up in inputs:
        found += up.meta.placeholders_inside(up.step_id)
    return tuple(dict.fromkeys(found))


def join_parts(payload: JoinPayload, parts: list[Upstream]) -> Rendered:
    """Join generated parts end to end with ``crossfade_ms`` linear crossfades, cut to ``duration_ms``."""
    crossfade = payload.crossfade_ms
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
        clips, sample_rate_hz=first.sample_rate_hz, channels=first.channels, length_ms=payload.duration_ms
    )
    return write_wav(joined), "wav", _audio_meta(joined, placeholders=_placeholders(parts))


def join_dialogue(
    payload: DialoguePayload, ups: list[Upstream], out_dir: Path, placements: Sequence[SourceLocation] = ()
) -> Rendered:
    """Join the speech takes in order, ``gap_ms`` apart (a line's own ``gap_ms`` wins; negative
    overlaps), after ``lead_ms`` of silence and before ``tail_ms``, and place the cues (the upstreams
    after the speech) at their lines, streamed from their files into a WAV in ``out_dir``. Output
    rate is the first take's, channels the most of any take (a panned voice's lines are stereo); the
    speech intervals and transcript are the lines' only (see :mod:`.timeline`). A cue that would
    start before 0 is a :class:`~audioflow.errors.RecipeError` at its place in ``placements`` (where
    each cue is written)."""
    count = len(payload.parts) if payload.parts is not None else len(payload.lines)
    speech_ups, sound_ups = ups[:count], ups[count:]
    takes = [AudioFile.open(up.path) for up in speech_ups]
    rate, channels = takes[0].sample_rate_hz, max(take.channels for take in takes)
    spans = timeline.take_spans(payload, [take.duration_ms for take in takes])
    lines = timeline.line_spans(payload, spans, [up.meta for up in speech_ups])
    speech: list[tuple[float, float]] = []
    for up, (start, end) in zip(speech_ups, spans, strict=True):
        speech += up.meta.shifted_speech(start, end)
    sounds = {up.step_id: AudioFile.open(up.path) for up in sound_ups}
    cues = timeline.cue_clips(payload, lines, sounds, speech, placements)
    end_ms = max([spans[-1][1] + payload.tail_ms, *(clip.end_ms for clip in cues)])
    check_programme(end_ms, rate, channels, what="the dialogue", space_at=out_dir)
    clips = [Clip(take, start_ms=start) for take, (start, _) in zip(takes, spans, strict=True)]
    length_ms = end_ms if payload.tail_ms else None  # else the last clip's end, to the frame
    stream = MixStream([*clips, *cues], sample_rate_hz=rate, channels=channels, length_ms=length_ms)
    joined = mix_to_wav(stream, _new_file(out_dir, "wav"))
    meta = StepMeta(
        joined.duration_ms,
        rate,
        channels,
        speech_ms=tuple(speech),
        segments=timeline.segments(payload, lines),
        segments_estimated=any(up.meta.segments_estimated for up in speech_ups),
        placeholders=_placeholders(ups),
        anchors=timeline.anchors(lines, cues),
    )
    return WrittenFile(joined.path, joined.digest), "wav", meta


def join_scene_parts(payload: SceneJoinPayload, parts: list[Upstream], out_dir: Path) -> Rendered:
    """Join the takes of a scene's parts in order, ``gaps_ms`` apart (negative overlaps), keeping
    each part's segments (estimated ones stay marked) and speech intervals, streamed from their
    files into a WAV in ``out_dir``. Output rate is the first part's; channels the widest part's."""
    takes = [AudioFile.open(up.path) for up in parts]
    spans = sequence_spans([take.duration_ms for take in takes], [0.0, *payload.gaps_ms])
    rate, channels = takes[0].sample_rate_hz, max(take.channels for take in takes)
    check_programme(max(end for _, end in spans), rate, channels, what="the dialogue", space_at=out_dir)
    clips = [Clip(take, start_ms=start) for take, (start, _) in zip(takes, spans, strict=True)]
    joined = mix_to_wav(MixStream(clips, sample_rate_hz=rate, channels=channels), _new_file(out_dir, "wav"))
    speech: list[tuple[float, float]] = []
    segments: list[Segment] = []
    for up, (start, end) in zip(parts, spans, strict=True):
        speech += up.meta.shifted_speech(start, end)
        segments += up.meta.shifted_segments(start, end)
    meta = StepMeta(
        joined.duration_ms,
        rate,
        channels,
        speech_ms=tuple(speech),
        segments=tuple(segments),
        segments_estimated=any(up.meta.segments_estimated for up in parts),
        placeholders=_placeholders(parts),
    )
    return WrittenFile(joined.path, joined.digest), "wav", meta


@dataclass
class _Layout:
    """Where each track falls: (start_ms, length_ms), and the fade-out a crossfade into the next
    track gives it (ms)."""

    spans: list[tuple[float, float]]
    crossfade_out_ms: dict[int, float]


Lines = dict[str, list[tuple[float, float]]]


def _reference(track: TrackSpec, placed: dict[str, tuple[int, float, float]], lines: Lines) -> tuple[int, float, float]:
    """(index, start_ms, length_ms) of what ``after``/``with``/``under`` names: a placed track, or
    (``anchor_line``) one line of it."""
    name = track.after or track.with_ or track.under or ""
    index, start, length = placed[name]
    if track.anchor_line is None:
        return index, start, length
    spans = lines.get(name, [])
    if track.anchor_line > len(spans):
        raise AudioflowError(f"track {name} has {len(spans)} timed lines; line {track.anchor_line} has none")
    line_start, line_end = spans[track.anchor_line - 1]
    return index, start + line_start, line_end - line_start


def _layout(
    tracks: tuple[TrackSpec, ...], durations: dict[str, float], lines: Lines, placements: Sequence[SourceLocation]
) -> _Layout:
    """Where each track falls. A track with no placement follows the previous non-bed track (the
    first starts at 0); a bed ``under`` a track (or a line of it) takes its start and length; a
    crossfade starts a track that long before the track it follows ends. A track that would start
    before 0 (known only now: the lengths it follows) is a RecipeError at its place in ``placements``."""
    placed: dict[str, tuple[int, float, float]] = {}
    result: list[tuple[float, float]] = []
    crossfades: dict[int, float] = {}
    programme_end, previous = 0.0, -1
    for i, track in enumerate(tracks):
        own, length = durations[track.track], track.duration_ms
        follows = previous
        if track.at_ms is not None:
            start = track.at_ms
        elif track.after:
            follows, ref_start, ref_length = _reference(track, placed, lines)
            start = ref_start + ref_length
        elif track.with_ or track.under:
            _, start, ref_length = _reference(track, placed, lines)
            if track.under and length is None:
                length = ref_length
        else:
            start = programme_end
        if track.crossfade_ms and follows >= 0:
            start -= track.crossfade_ms
            crossfades[follows] = max(crossfades.get(follows, 0.0), track.crossfade_ms)
        start += track.offset_ms
        if start < 0:
            raise RecipeError(
                f"this track would start {-start:.0f} ms before the programme: it is placed at "
                f"{start - track.offset_ms:.0f} ms as the tracks it follows are rendered",
                timeline.placement(placements, i),
                "a programme starts at 0: shorten the offset, or place the track later",
            )
        if length is None or (length > own and not track.loop):
            length = own if length is None else min(length, own)
        placed[track.track] = (i, start, length)
        result.append((start, length))
        if not track.under:
            programme_end, previous = start + length, i
    return _Layout(result, crossfades)


def _duck(track: TrackSpec, index: int, tracks: tuple[TrackSpec, ...], speech: dict[int, list]) -> Duck | None:
    if track.duck_db is None:
        return None
    if track.under:
        under = max(j for j, t in enumerate(tracks[:index]) if t.track == track.under)
        intervals = speech.get(under, [])
    else:
        intervals = [iv for ivs in speech.values() for iv in ivs]
    return Duck(
        depth_db=track.duck_db,
        intervals_ms=tuple((s, e) for s, e in intervals),
        attack_ms=track.duck_attack_ms,
        release_ms=track.duck_release_ms,
    )


def _mix_anchors(
    tracks: tuple[TrackSpec, ...], spans: list[tuple[float, float]], inputs: dict[str, Upstream]
) -> tuple[tuple[str, float, float], ...]:
    """Where each track landed (``@i``; by step name at its first placement) and, shifted there,
    what its step recorded (a dialogue's lines and cues, a sub-mix's tracks); a scene take's lines
    from its segments (one per line). For chapters (``engine.chapters``); in no digest."""
    out: list[tuple[str, float, float]] = []
    seen: set[str] = set()
    for i, (track, (start, length)) in enumerate(zip(tracks, spans, strict=True)):
        out.append((f"@{i}", start, start + length))
        if track.track in seen:
            continue
        seen.add(track.track)
        out.append((track.track, start, start + length))
        up = inputs[track.track]
        meta = up.meta
        if not meta.anchors and up.kind in (StepKind.SCENE, StepKind.DIALOGUE):
            lines = tuple((f"[{k}]", seg.start_ms, seg.end_ms) for k, seg in enumerate(meta.segments, start=1))
            meta = replace(meta, anchors=lines)
        out += meta.shifted_anchors(start, start + length, track.track)
    return tuple(out)


@dataclass(frozen=True)
class _Placed:
    """A mix's tracks as clips on its timeline (one per track, in track order), where each landed
    (start_ms, length_ms), the speech intervals each non-bed track brings (by track index, ms) and
    the transcript segments."""

    clips: list[Clip]
    spans: list[tuple[float, float]]
    speech: dict[int, list[tuple[float, float]]]
    segments: list[Segment]


def _place_tracks(
    payload: MixPayload, inputs: dict[str, Upstream], out_dir: Path, placements: Sequence[SourceLocation] = ()
) -> _Placed:
    """Every track of ``payload`` processed (its effects) and placed (gain, fades, loops, ducking):
    the one place a mix's clips are made, for the mix, each stem and the report alike. ``placements``
    (where each track is written) locate a track placed before 0 (:func:`_layout`)."""
    tracks = payload.tracks
    files = {name: AudioFile.open(up.path) for name, up in inputs.items()}
    # a track's own effects, before placing: such a track is read and processed whole (pedalboard)
    shaped: list[Audio | AudioFile] = [
        apply_effects(files[t.track].load(), t.effects) if t.effects else files[t.track] for t in tracks
    ]
    durations = {name: f.duration_ms for name, f in files.items()}
    durations.update({t.track: a.duration_ms for t, a in zip(tracks, shaped, strict=True) if t.effects})
    lines = {name: [(seg.start_ms, seg.end_ms) for seg in up.meta.segments] for name, up in inputs.items()}
    layout = _layout(tracks, durations, lines, placements)
    spans = layout.spans
    end_ms = max((s + n for s, n in spans), default=0.0)
    check_programme(end_ms, payload.sample_rate_hz, payload.channels, space_at=out_dir)
    speech: dict[int, list[tuple[float, float]]] = {}
    segments: list[Segment] = []
    for i, (track, (start, length)) in enumerate(zip(tracks, spans, strict=True)):
        if not track.under and track.duck_db is None:
            meta = inputs[track.track].meta
            speech[i] = meta.shifted_speech(start, start + length)
            segments += meta.shifted_segments(start, start + length)
    clips = [
        Clip(
            shaped[i],
            start_ms=start,
            gain_db=track.gain_db,
            fade_in_ms=min(max(track.fade_in_ms, track.crossfade_ms), length),
            fade_out_ms=min(max(track.fade_out_ms, layout.crossfade_out_ms.get(i, 0.0)), length),
            length_ms=length,
            loop=track.loop,
            duck=_duck(track, i, tracks, speech),
            loop_crossfade_ms=50.0 if track.loop else 0.0,
        )
        for i, (track, (start, length)) in enumerate(zip(tracks, spans, strict=True))
    ]
    return _Placed(clips, spans, speech, segments)


def mix_tracks(
    payload: MixPayload, inputs: dict[str, Upstream], out_dir: Path, placements: Sequence[SourceLocation] = ()
) -> Rendered:
    """Place the tracks (gain, fades, loops, ducking) on one timeline, streamed block by block from
    the tracks' files into a float32 WAV in ``out_dir`` (``audio.MixStream``, ``audio.mix_to_wav``);
    ``placements`` as for :func:`_place_tracks`."""
    placed = _place_tracks(payload, inputs, out_dir, placements)
    stream = MixStream(placed.clips, sample_rate_hz=payload.sample_rate_hz, channels=payload.channels)
    mixed = mix_to_wav(stream, _new_file(out_dir, "wav"))
    meta = StepMeta(
        mixed.duration_ms,
        mixed.sample_rate_hz,
        mixed.channels,
        speech_ms=tuple(sorted(iv for ivs in placed.speech.values() for iv in ivs)),
        segments=tuple(sorted(placed.segments, key=lambda s: s.start_ms)),
        placeholders=_placeholders(list(inputs.values())),
        anchors=_mix_anchors(payload.tracks, placed.spans, inputs),
    )
    return WrittenFile(mixed.path, mixed.digest), "wav", meta


def mix_stem(
    payload: StemPayload, inputs: dict[str, Upstream], out_dir: Path, placements: Sequence[SourceLocation] = ()
) -> Rendered:
    """One stem of a mix: the tracks ``payload.tracks`` placed by :func:`_place_tracks` exactly as
    :func:`mix_tracks` places them (ducked under every track's speech), on a timeline as long as the
    whole mix, streamed into a float32 WAV in ``out_dir``. The stems of a mix sum to it (float
    rounding apart: a mix is the sum of its placed tracks). ``placements``: the mix's, as for
    :func:`_place_tracks`."""
    mix = payload.mix
    placed = _place_tracks(mix, inputs, out_dir, placements)
    whole = MixStream(placed.clips, sample_rate_hz=mix.sample_rate_hz, channels=mix.channels)  # its length only
    chosen = [placed.clips[i] for i in payload.tracks]
    stream = MixStream(chosen, sample_rate_hz=mix.sample_rate_hz, channels=mix.channels, length_ms=whole.duration_ms)
    stem = mix_to_wav(stream, _new_file(out_dir, "wav"))
    meta = StepMeta(
        stem.duration_ms,
        stem.sample_rate_hz,
        stem.channels,
        placeholders=_placeholders([inputs[mix.tracks[i].track] for i in payload.tracks]),
    )
    return WrittenFile(stem.path, stem.digest), "wav", meta


def master_mix(
    payload: MasterPayload, mix: Upstream, out_dir: Path, on_stage: Callable[[str], None] | None = None
) -> Rendered:
    """Master the mix to the loudness target (or ACX's RMS target) and true-peak ceiling and encode it
    at the output's channels and bit depth, streamed from the mix's file into a file in ``out_dir``
    (``audio.master_to_file``: loudness and true peak are those of the decoded file; ``on_stage``
    hears its stages)."""
    path = _new_file(out_dir, payload.format)
    try:
        result = master_to_file(
            AudioFile.open(mix.path),
            path,
            target_lufs=payload.target_lufs,
            true_peak_dbtp=payload.true_peak_dbtp,
            format=payload.format,
            bitrate_kbps=payload.bitrate_kbps,
            sample_rate_hz=payload.sample_rate_hz,
            channels=payload.channels,
            bit_depth=payload.bit_depth,
            target_rms_dbfs=payload.target_rms_dbfs,
            on_stage=on_stage,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    loudness = Loudness(result.input_lufs, result.gain_db, result.lufs, result.true_peak_dbtp, result.limited)
    meta = StepMeta(
        result.duration_ms,
        payload.sample_rate_hz,
        result.channels,
        segments=mix.meta.segments,
        placeholders=mix.meta.placeholders,
        loudness=loudness,
        qc_figures=result.figures,  # the QC report's, measured on the decoded file with the loudness
        overview=result.overview,  # the report's envelope and short-term loudness, from the same pass
    )
    return WrittenFile(path), payload.format, meta
