"""Offline clones: the bundled Piper voice moved to a reference clip's median pitch and tempo.

No local model copies a voice. :class:`CloneMatcher` measures the clip (:mod:`audioflow.audio.voiceprint`),
picks the tape shift that puts the bundled voice on the clip's median F0, and closes a loop on its speed:
with the clip's ``transcript`` the bundled voice reads the same words and its phonation time is matched
to the clip's (within :data:`CLONE_RATE_TOLERANCE`; measured ±2 % on seven test speakers); without one it
reads :data:`BASE_PROFILE_TEXT` and its speaking rate is matched (the words move that measure by ~4 %
sd, so clones land within about ±12 %). Measurements are kept per process in :data:`PROFILES`.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..errors import AudioError, ProviderError
from ..steps import VoiceSpec
from .base import Reference

if TYPE_CHECKING:  # the audio stack is imported when a clone is matched
    from ..audio import Audio
    from ..audio.voiceprint import VoiceProfile

__all__ = [
    "BASE_PROFILE_TEXT",
    "CLONE_RATE_CORRECTIONS",
    "CLONE_RATE_TOLERANCE",
    "PIPER_TEMPO_SLOPE",
    "PROFILES",
    "TRANSCRIPT_DOUBT_RATIO",
    "CloneMatcher",
    "ProfileCache",
    "measure_reference",
    "reference_for",
    "text_digest",
]

_T = TypeVar("_T")

#: What the bundled voice reads to measure its own profile and rate: the openings of two standard
#: reading passages of ordinary English prose, the Rainbow Passage (Fairbanks 1960) and "The North
#: Wind and the Sun" (the IPA's). (Pangrams, used before, are so dense in consonant clusters that
#: they measured the voice 15–25 % slower than it reads ordinary prose; the Rainbow opening alone
#: measured about 4 % slower than the mean of five other texts.)
BASE_PROFILE_TEXT = (
    "When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow. "
    "The rainbow is a division of white light into many beautiful colors. These take the shape of a "
    "long round arch, with its path high above, and its two ends apparently beyond the horizon. "
    "The North Wind and the Sun were disputing which was the stronger, when a traveler came along "
    "wrapped in a warm cloak. They agreed that the one who first succeeded in making the traveler take "
    "his cloak off should be considered stronger than the other."
)
#: A clone's rate is matched within this ratio, or after this many corrections of its speed.
CLONE_RATE_TOLERANCE = 0.02
CLONE_RATE_CORRECTIONS = 2
#: Log-slope of the bundled voice's tempo against its speed setting (Piper's ``length_scale`` does
#: not scale durations in proportion: measured 0.67 over ×0.77…1.25 on ten texts).
PIPER_TEMPO_SLOPE = 0.67
#: A transcript's match and the speaking rate's first guess further apart than this ratio get a note
#: (on the test speakers the rate's first guess was within 1.22× of the transcript's match).
TRANSCRIPT_DOUBT_RATIO = 1.4


class ProfileCache:
    """Measurements in this process: voice profiles (the bundled voice's by model path, references'
    by sha256) and clone matches (by the reference's sha256)."""

    def __init__(self) -> None:
        self._profiles: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def get(self, key: str, measure: Callable[[], _T]) -> _T:
        """The profile under ``key``, measured once by ``measure()`` (concurrent callers wait)."""
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            if key not in self._profiles:
                self._profiles[key] = measure()
            return cast(_T, self._profiles[key])


PROFILES = ProfileCache()


def reference_for(voice: VoiceSpec, references: tuple[Reference, ...]) -> Reference | None:
    """The reference clip of a cloned ``voice``: the one named after it (or the only one)."""
    clips = [r for r in references if r.name != "audio"]
    named = [r for r in clips if r.name == voice.name]
    return named[0] if named else (clips[0] if len(clips) == 1 else None)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def measure_reference(reference: Reference) -> VoiceProfile:
    """The voice profile of a clone's reference clip (a local file)."""
    from ..audio import decode_file
    from ..audio.voiceprint import analyse_voice

    assert reference.path is not None
    try:
        return analyse_voice(decode_file(reference.path))
    except AudioError as exc:
        raise ProviderError("local", f"cannot clone from {reference.path.name}: {exc}") from exc


class CloneMatcher:
    """Matches the bundled voice to reference clips. ``read(pitch_semitones, speed, text)`` is the
    bundled voice, delivered as a clone is (mono float32 :class:`~audioflow.audio.Audio`);
    ``model()`` names the bundled voice's file (a key of the shared measurements)."""

    def __init__(self, read: Callable[[float, float, str], Audio], model: Callable[[], Path]) -> None:
        self._read = lambda pitch, speed, text=BASE_PROFILE_TEXT: read(pitch, speed, text)
        self._model = model

    def match(self, reference: Reference, transcript: str | None = None) -> tuple[float, float, str]:
        """(pitch semitones, speed, note) moving the bundled voice to ``reference``'s profile: the
        pitch from the median F0s; the speed by closing the loop (:meth:`_speed_loop`). With the
        clip's ``transcript``, the bundled voice reads the transcript and the loop matches its
        phonation time to the clip's (:meth:`_match_transcript`; the same words, so the words do
        not bias the match). Without one, or when that reading is out of the speed limits (the
        transcript does not fit the clip), it reads :data:`BASE_PROFILE_TEXT` at the clone's pitch
        (speed 1, shared by clones of that pitch) and the loop matches the speaking rate
        (:func:`~audioflow.audio.voiceprint.speaking_rate_hz`), whose text dependence is ~4 %."""
        from ..audio.voiceprint import analyse_voice, match_voice, next_speed

        target = PROFILES.get(f"ref:{reference.digest()}", lambda: measure_reference(reference))
        base = PROFILES.get(f"base:{self._model()}", lambda: analyse_voice(self._read(0.0, 1.0)))
        pitch = round(match_voice(target, base)[0], 1)
        matched = (
            f"approximate clone of {reference.name!r}: the bundled voice matched pitch "
            f"{target.median_f0_hz:.0f} Hz ({pitch:+.1f} st)"
        )
        # The bundled voice's rate at the clone's pitch and speed 1 (shared by clones of that pitch).
        tried = [(1.0, PROFILES.get(f"rate:{self._model()}:{pitch:+.1f}", lambda: self._rate_at(pitch, 1.0)))]
        if transcript:
            found, note = self._match_transcript(reference, transcript, pitch)
            if found is not None:
                by_rate = next_speed(target.speaking_rate_hz, tried)
                if abs(math.log(found / by_rate)) > math.log(TRANSCRIPT_DOUBT_RATIO):
                    note += (
                        f"; its speaking rate alone asks for ×{by_rate:.2f}: does the transcript say what the part "
                        "of the clip used says?"
                    )
                return pitch, found, f"{matched} and {note}; timbre and accent are not copied"
            matched = f"{matched} ({note})"
        speed = self.speed_loop(target.speaking_rate_hz, tried, lambda s: self._rate_at(pitch, s))
        readings = ", ".join(f"{rate:.2f} Hz at ×{tried_speed:.2f}" for tried_speed, rate in tried)
        note = (
            f"{matched} and speaking rate {target.speaking_rate_hz:.2f} Hz "
            f"(read {readings}; speed ×{speed:.2f}); timbre and accent are not copied"
        )
        if not transcript:  # measured: ±12 % on seven speakers without the words, ±2 % with them
            note += "; tempo matched to about ±12 % without the clip's words: give `clone: {transcript: ...}` for ±5 %"
        return pitch, speed, note

    def _match_transcript(self, reference: Reference, transcript: str, pitch: float) -> tuple[float | None, str]:
        """(speed, note) at which the bundled voice, at ``pitch``, reads ``transcript`` in the
        clip's phonation time (:func:`~audioflow.audio.voiceprint.phonation_s`, pauses left out),
        within :data:`CLONE_RATE_TOLERANCE`; (None, why) when the clip has no second of speech or
        the match falls outside :data:`~audioflow.audio.voiceprint.SPEED_LIMITS`."""
        from ..audio import decode_file
        from ..audio.voiceprint import SPEED_LIMITS, phonation_s

        assert reference.path is not None
        path = reference.path
        spoken_s = PROFILES.get(f"phonation:{reference.digest()}", lambda: phonation_s(decode_file(path)))
        if spoken_s <= 0:
            return None, "its transcript is not used: the clip holds under a second of speech"

        def tempo_at(speed: float) -> float:  # phonation time as a rate: 1 / s
            seconds = phonation_s(self._read(pitch, speed, transcript))
            return 1.0 / seconds if seconds > 0 else 0.0

        tried = [(1.0, tempo_at(1.0))]
        speed = self.speed_loop(1.0 / spoken_s, tried, tempo_at, PIPER_TEMPO_SLOPE)
        tempo = tried[-1][1] * spoken_s
        if speed in SPEED_LIMITS and abs(math.log(tempo)) >= math.log(1 + CLONE_RATE_TOLERANCE):
            return None, f"its transcript is not used: the bundled voice cannot read it in {spoken_s:.1f} s"
        readings = ", ".join(f"{1.0 / rate:.2f} s at ×{tried_speed:.2f}" for tried_speed, rate in tried if rate > 0)
        return (
            speed,
            f"the clip's tempo on its transcript ({spoken_s:.2f} s of speech; read {readings}; speed ×{speed:.2f})",
        )

    @staticmethod
    def speed_loop(
        target: float,
        tried: list[tuple[float, float]],
        read: Callable[[float], float],
        prior_slope: float | None = None,
    ) -> float:
        """The speed at which ``read(speed)`` measures ``target``: from the readings in ``tried``
        (appended to), corrected (:func:`~audioflow.audio.voiceprint.next_speed`) and read again up
        to :data:`CLONE_RATE_CORRECTIONS` times, stopping once a reading is within
        :data:`CLONE_RATE_TOLERANCE` of ``target``; the last correction is the speed."""
        from ..audio.voiceprint import PRIOR_RATE_SLOPE, next_speed

        slope = prior_slope or PRIOR_RATE_SLOPE
        speed = round(next_speed(target, tried, slope), 4)
        for _ in range(CLONE_RATE_CORRECTIONS):
            last = tried[-1][1]
            if target <= 0 or (last > 0 and abs(math.log(last / target)) < math.log(1 + CLONE_RATE_TOLERANCE)):
                return tried[-1][0]
            tried.append((speed, read(speed)))
            speed = round(next_speed(target, tried, slope), 4)
        return speed

    def _rate_at(self, pitch_semitones: float, speed: float) -> float:
        from ..audio.voiceprint import speaking_rate_hz

        return speaking_rate_hz(self._read(pitch_semitones, speed))
