"""Analysis of a reference voice: its pitch and speaking rate, to steer a local voice towards it.

The profile (:class:`VoiceProfile`) is measured on a mono mix resampled to 16 kHz:

- **F0**: probabilistic YIN (Mauch & Dixon 2014, via ``librosa.pyin``) between 55 and 400 Hz
  (speaking voices from a low male voice to a child's; 55 rather than 65 Hz so that low voices
  are not clipped at the floor), 64 ms frames, 16 ms hop, with the paper's most permissive
  threshold prior (Beta(2, 8), mean 0.2: librosa's default Beta(2, 18) found only 20 % of the
  bundled Piper voice's frames voiced, 46 % with this one); the median over voiced frames.
  Measured: synthetic harmonic series within 0.2 %; Piper speech tape-shifted by ±4–5 semitones
  measures the shift within 0.3 semitone.
- **Speaking rate** (:func:`speaking_rate_hz`), pauses excluded, from two measures whose errors on
  different texts are partly independent, combined as their geometric mean:

  * syllable nuclei after de Jong & Wempe (2009), on the speech band only (300–3000 Hz, 4th-order
    Butterworth, so low hum and hiss do not make peaks): peaks of the intensity contour (dB RMS,
    25 ms frames, 10 ms hop) low-passed at 12 Hz that stand at least 2 dB above the dips around
    them, lie above the silence threshold (30 dB below the 99th percentile) and are at least 80 ms
    apart, per second of phonation (frames above the threshold, pauses shorter than 250 ms counted
    as speech);
  * the spectral-change rate: 1 / the lag (s) at which the mean autocorrelation of the standardised
    MFCCs 1–13 over the phonation frames falls to 0.5 (speech spoken faster decorrelates sooner),
    times :data:`SYLLABLES_PER_CHANGE` (0.195 ± 0.011 on the bundled Piper voice), so the mean is
    in syllables per second for ordinary speech.

  Measured on Piper speech without its random delivery noise: time-scaled delivery changes the rate
  as it changes the duration of the same text (log-slope 0.75); for one speaker at one tempo, five
  texts of 5–31 s differ by 5 % (sd) from the Rainbow Passage, at most 10 %; a tape shift of
  +4 semitones moves it by under 4 %. (The pyin-voiced de Jong count used before varied by 10 %
  (sd) across texts and by ±8 % across Piper runs of one text.)
- **Phonation time** (:func:`phonation_s`): how long a clip speaks, pauses left out. Two readings
  of the same words compare by it whatever the words, so a clone whose reference comes with its
  transcript is matched on it (the bundled voice reading the transcript), not on the rate.
- **Closing the loop**: :func:`next_speed` picks the next speed to try for a voice whose rate at
  the speeds tried so far was measured (secant in log-log, from a prior slope), since a synthesiser's
  rate is not proportional to its speed setting (Piper's ``length_scale``: log-slope about 0.4).

librosa and scipy are imported on first use (importing :mod:`audioflow.audio` stays cheap). The
first ``pyin`` call in a fresh environment compiles numba code (tens of seconds, cached on disk).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from audioflow.audio.types import Audio
from audioflow.errors import AudioError

__all__ = [
    "VoiceProfile",
    "analyse_voice",
    "match_voice",
    "next_speed",
    "phonation_s",
    "speaking_rate_hz",
    "syllable_rate_hz",
]

ANALYSIS_RATE_HZ = 16000
_FMIN_HZ = 55.0
_FMAX_HZ = 400.0
_THRESHOLD_PRIOR = (2.0, 8.0)  # Mauch & Dixon 2014: Beta prior of mean 0.2, their most permissive
_FRAME = 1024  # 64 ms at 16 kHz: pyin's 32 ms analysis window holds more than a period at 55 Hz
_HOP = 256  # 16 ms
_MIN_VOICED_S = 0.25
_PITCH_LIMIT_SEMITONES = 12.0
_RATE_FRAME = 400  # 25 ms
_RATE_HOP = 160  # 10 ms
_SPEECH_BAND_HZ = (300.0, 3000.0)
_SILENCE_BELOW_DB = 30.0  # silence threshold re the 99th percentile of intensity
_NUCLEUS_DIP_DB = 2.0  # de Jong & Wempe 2009: minimum dip between peaks
_NUCLEUS_LOWPASS_HZ = 12.0
_MIN_NUCLEUS_GAP_S = 0.08
_MIN_PAUSE_S = 0.25  # shorter silences are not pauses
_ABOVE_FLOOR_DB = 10.0  # phonation: at least this far above the noise floor (5th percentile)
_MAX_LAG_FRAMES = 80
#: What a speed may be moved to when matching a rate (Piper's ``length_scale`` 0.5…2).
SPEED_LIMITS = (0.5, 2.0)
#: Prior log-slope of measured rate against the speed setting (Piper: 0.35–0.45, measured).
PRIOR_RATE_SLOPE = 0.4
_SLOPE_LIMITS = (0.15, 1.5)
#: Syllable nuclei per unit of spectral-change rate (measured on the bundled voice: 20 readings).
SYLLABLES_PER_CHANGE = 0.195


@dataclass(frozen=True)
class VoiceProfile:
    """A voice in four numbers: median F0 (Hz) over voiced frames; speaking rate (Hz, pauses
    excluded: :func:`speaking_rate_hz`); voiced frames / all frames (0…1); clip length (ms)."""

    median_f0_hz: float
    speaking_rate_hz: float
    voiced_fraction: float
    duration_ms: float


def _mono_16k(audio: Audio) -> np.ndarray:
    return audio.with_channels(1).resampled(ANALYSIS_RATE_HZ).samples[:, 0].astype(np.float64)


def _speech_frames(intensity_db: np.ndarray, threshold_db: float) -> np.ndarray:
    """Frames above ``threshold_db``, with interior gaps shorter than the minimum pause filled."""
    loud = intensity_db > threshold_db
    max_gap = round(_MIN_PAUSE_S * ANALYSIS_RATE_HZ / _RATE_HOP)
    indices = np.flatnonzero(loud)
    for start, end in itertools.pairwise(indices):
        if 1 < end - start <= max_gap:
            loud[start:end] = True
    return loud


def _nucleus_rate_hz(intensity_db: np.ndarray, speech: np.ndarray, threshold_db: float) -> float:
    from scipy import signal

    lowpass = signal.butter(2, _NUCLEUS_LOWPASS_HZ, fs=ANALYSIS_RATE_HZ / _RATE_HOP, output="sos")
    smooth = signal.sosfiltfilt(lowpass, intensity_db) if len(intensity_db) > 15 else intensity_db
    peaks, _ = signal.find_peaks(
        smooth,
        height=threshold_db,
        prominence=_NUCLEUS_DIP_DB,
        distance=max(1, round(_MIN_NUCLEUS_GAP_S * ANALYSIS_RATE_HZ / _RATE_HOP)),
    )
    return len(peaks) / (np.count_nonzero(speech) * _RATE_HOP / ANALYSIS_RATE_HZ)


def _spectral_change_rate_hz(samples: np.ndarray, speech: np.ndarray) -> float:
    import librosa

    mfcc = librosa.feature.mfcc(
        y=samples, sr=ANALYSIS_RATE_HZ, n_mfcc=14, n_fft=512, hop_length=_RATE_HOP, win_length=_RATE_FRAME
    )[1:]
    frames = min(mfcc.shape[1], len(speech))
    mfcc = mfcc[:, :frames][:, speech[:frames]]
    if mfcc.shape[1] <= _MAX_LAG_FRAMES:
        return 0.0
    mfcc = (mfcc - mfcc.mean(axis=1, keepdims=True)) / (mfcc.std(axis=1, keepdims=True) + 1e-9)
    width = mfcc.shape[1]
    correlation = np.array([np.mean(mfcc[:, : width - k] * mfcc[:, k:]) for k in range(_MAX_LAG_FRAMES)])
    below = np.flatnonzero(correlation < 0.5)
    if below.size == 0:
        return 0.0
    k = int(below[0])  # interpolate the crossing between frames k-1 and k
    lag = k - 1 + (correlation[k - 1] - 0.5) / (correlation[k - 1] - correlation[k])
    return ANALYSIS_RATE_HZ / (_RATE_HOP * lag)


def _intensity(
    audio: Audio, *, above_floor_db: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """(16 kHz mono samples, speech-band intensity dB per frame, phonation frames, silence
    threshold dB), or None under a second of speech. ``above_floor_db``: the threshold is also at
    least that far above the noise floor (the 5th percentile)."""
    import librosa
    from scipy import signal

    samples = _mono_16k(audio) if audio.frames else np.zeros(0)
    if samples.size < ANALYSIS_RATE_HZ or not np.any(np.abs(samples) > 1e-6):
        return None
    band = signal.butter(4, _SPEECH_BAND_HZ, btype="band", fs=ANALYSIS_RATE_HZ, output="sos")
    rms = librosa.feature.rms(y=signal.sosfiltfilt(band, samples), frame_length=_RATE_FRAME, hop_length=_RATE_HOP)
    intensity_db = 20.0 * np.log10(np.maximum(rms[0], 1e-10))
    threshold_db = float(np.percentile(intensity_db, 99)) - _SILENCE_BELOW_DB
    if above_floor_db is not None:
        threshold_db = max(threshold_db, float(np.percentile(intensity_db, 5)) + above_floor_db)
    speech = _speech_frames(intensity_db, threshold_db)
    if np.count_nonzero(speech) * _RATE_HOP < ANALYSIS_RATE_HZ:
        return None
    return samples, intensity_db, speech, threshold_db


def syllable_rate_hz(audio: Audio) -> float:
    """Syllable nuclei per second of phonation in ``audio`` (Hz; see the module docstring); 0.0
    under a second of speech."""
    measured = _intensity(audio)
    return _nucleus_rate_hz(measured[1], measured[2], measured[3]) if measured else 0.0


def phonation_s(audio: Audio) -> float:
    """How long ``audio`` speaks (s): its speech-band frames above the silence threshold (30 dB
    below the 99th percentile of intensity, and at least 10 dB above the noise floor, its 5th
    percentile), pauses of 250 ms or more left out. 0.0 under a second of speech.

    For two readings of the same words, the ratio of their phonation times is the ratio of their
    tempos, whatever the words: the measure a clone with a transcript is matched with. Measured on
    Piper readings of five texts at two tempos: within 1.4 % (sd) of the ratio of their
    trimmed durations; white noise at 30 dB SNR and a 300–3400 Hz telephone band move it by under
    2 %; reverberation (a 0.5 room, 25 % wet) lengthens it by about 10 %."""
    measured = _intensity(audio, above_floor_db=_ABOVE_FLOOR_DB)
    return float(np.count_nonzero(measured[2]) * _RATE_HOP / ANALYSIS_RATE_HZ) if measured else 0.0


def speaking_rate_hz(audio: Audio) -> float:
    """The speaking rate of the speech in ``audio`` (syllables per second for ordinary speech,
    pauses excluded): the geometric mean of its syllable-nucleus rate and its scaled
    spectral-change rate (see the module docstring). 0.0 under a second of speech. Cheap: no
    pitch tracking."""
    measured = _intensity(audio)
    if measured is None:
        return 0.0
    samples, intensity_db, speech, threshold_db = measured
    nuclei = _nucleus_rate_hz(intensity_db, speech, threshold_db)
    change = SYLLABLES_PER_CHANGE * _spectral_change_rate_hz(samples, speech)
    return math.sqrt(nuclei * change) if nuclei > 0 and change > 0 else 0.0


def analyse_voice(audio: Audio) -> VoiceProfile:
    """Measure the pitch and speaking rate of the speech in ``audio`` (any rate and channel count).

    Raises ``AudioError`` when the clip holds no voiced speech (silence, noise, or under 250 ms of
    voiced frames).
    """
    samples = _mono_16k(audio) if audio.frames else np.zeros(0)
    if samples.size < _FRAME or not np.any(np.abs(samples) > 1e-6):
        raise AudioError("the reference clip has no voiced speech (it is silent or too short)")
    import librosa

    f0_hz, voiced, _ = librosa.pyin(
        samples,
        fmin=_FMIN_HZ,
        fmax=_FMAX_HZ,
        sr=ANALYSIS_RATE_HZ,
        frame_length=_FRAME,
        hop_length=_HOP,
        beta_parameters=_THRESHOLD_PRIOR,
    )
    voiced = np.asarray(voiced, dtype=bool) & np.isfinite(f0_hz)
    if np.count_nonzero(voiced) * _HOP / ANALYSIS_RATE_HZ < _MIN_VOICED_S:
        raise AudioError(
            "the reference clip has no voiced speech (no pitch found between "
            f"{_FMIN_HZ:g} and {_FMAX_HZ:g} Hz in at least {_MIN_VOICED_S * 1000:g} ms)"
        )
    return VoiceProfile(
        median_f0_hz=float(np.median(f0_hz[voiced])),
        speaking_rate_hz=speaking_rate_hz(audio),
        voiced_fraction=float(np.count_nonzero(voiced)) / len(voiced),
        duration_ms=audio.duration_ms,
    )


def match_voice(reference: VoiceProfile, base: VoiceProfile) -> tuple[float, float]:
    """(pitch_semitones, rate_ratio) that move ``base`` towards ``reference``.

    Pitch: 12·log2(f0_reference / f0_base), clipped to ±12 semitones (Seed Audio's pitch range).
    Rate ratio: speaking rate reference / base (1.0 when either rate is 0: no speech found); a
    synthesiser's speed setting does not scale its rate alike, so :func:`next_speed` turns it into
    a speed.
    """
    pitch = 12.0 * math.log2(reference.median_f0_hz / base.median_f0_hz)
    pitch = max(-_PITCH_LIMIT_SEMITONES, min(_PITCH_LIMIT_SEMITONES, pitch))
    if reference.speaking_rate_hz > 0 and base.speaking_rate_hz > 0:
        return pitch, reference.speaking_rate_hz / base.speaking_rate_hz
    return pitch, 1.0


def next_speed(target_hz: float, tried: list[tuple[float, float]], prior_slope: float = PRIOR_RATE_SLOPE) -> float:
    """The speed setting to try next so that a voice measures ``target_hz``, from the ``(speed,
    measured_hz)`` pairs tried so far (at least one): a secant step in log-log through the last two
    (its slope kept within 0.15…1.5), or from one with ``prior_slope`` (default
    :data:`PRIOR_RATE_SLOPE`); within :data:`SPEED_LIMITS`. A pair measuring 0 Hz (no speech found)
    is not used."""
    usable = [(s, r) for s, r in tried if s > 0 and r > 0]
    if target_hz <= 0 or not usable:
        return tried[-1][0] if tried else 1.0
    speed, rate = usable[-1]
    slope = prior_slope
    if len(usable) >= 2 and usable[-2][0] != speed:
        before_speed, before_rate = usable[-2]
        slope = math.log(rate / before_rate) / math.log(speed / before_speed)
        slope = max(_SLOPE_LIMITS[0], min(_SLOPE_LIMITS[1], slope))
    wanted = speed * (target_hz / rate) ** (1.0 / slope)
    return max(SPEED_LIMITS[0], min(SPEED_LIMITS[1], wanted))
