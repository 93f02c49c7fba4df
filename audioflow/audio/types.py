"""The audio value passed between the audio modules: float32 samples plus a sample rate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from audioflow.errors import AudioError

__all__ = ["Audio", "resample_context_frames", "resample_samples"]


@dataclass(frozen=True, eq=False)
class Audio:
    """Immutable PCM audio.

    ``samples`` is float32 of shape (frames, channels), C-contiguous, nominal range [-1, 1]
    (values beyond it are kept: mastering decides what to do with them). A 1-D array is taken as
    mono and stored as (frames, 1). ``sample_rate_hz`` is a positive integer.

    Raises ``AudioError`` when the samples are not 1-D/2-D, have no channel, or the rate is not
    positive.
    """

    samples: np.ndarray
    sample_rate_hz: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples)
        if samples.ndim == 1:
            samples = samples.reshape(-1, 1)
        if samples.ndim != 2 or samples.shape[1] < 1:
            raise AudioError(f"audio samples must be (frames, channels), got shape {samples.shape}")
        if not np.issubdtype(samples.dtype, np.number) or np.iscomplexobj(samples):
            raise AudioError(f"audio samples must be real numbers, got dtype {samples.dtype}")
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        object.__setattr__(self, "samples", samples)
        rate = int(self.sample_rate_hz)
        if rate <= 0 or rate != self.sample_rate_hz:
            raise AudioError(f"sample rate must be a positive integer in Hz, got {self.sample_rate_hz!r}")
        object.__setattr__(self, "sample_rate_hz", rate)

    @property
    def frames(self) -> int:
        """Number of frames (samples per channel)."""
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[1])

    @property
    def duration_ms(self) -> float:
        """Duration in milliseconds: frames / sample_rate_hz * 1000."""
        return self.frames * 1000.0 / self.sample_rate_hz

    def with_channels(self, channels: int) -> Audio:
        """Return this audio with ``channels`` channels.

        Mono → N duplicates the channel; N → mono averages the channels; the same count returns
        ``self``. Other conversions (e.g. 2 → 6) raise ``AudioError``.
        """
        if channels < 1:
            raise AudioError(f"channel count must be >= 1, got {channels}")
        if channels == self.channels:
            return self
        if self.channels == 1:
            return Audio(np.repeat(self.samples, channels, axis=1), self.sample_rate_hz)
        if channels == 1:
            return Audio(self.samples.mean(axis=1, keepdims=True), self.sample_rate_hz)
        raise AudioError(f"cannot convert {self.channels} channels to {channels}")

    def resampled(self, sample_rate_hz: int) -> Audio:
        """Return this audio at ``sample_rate_hz`` (same rate returns ``self``).

        Uses soxr (:func:`resample_samples`: its "HQ" linear-phase filter, 20-bit); the frame count
        becomes ceil(frames * new / old), so duration is kept within 1 frame.
        """
        if sample_rate_hz <= 0 or int(sample_rate_hz) != sample_rate_hz:
            raise AudioError(f"sample rate must be a positive integer in Hz, got {sample_rate_hz!r}")
        sample_rate_hz = int(sample_rate_hz)
        if sample_rate_hz == self.sample_rate_hz:
            return self
        ratio = Fraction(sample_rate_hz, self.sample_rate_hz)
        frames = -(-self.frames * ratio.numerator // ratio.denominator)
        out = resample_samples(self.samples, ratio.denominator, ratio.numerator, frames)
        return Audio(out, sample_rate_hz)

    @classmethod
    def silence(cls, duration_ms: float, sample_rate_hz: int, channels: int = 1) -> Audio:
        """Digital silence of ``round(duration_ms * sample_rate_hz / 1000)`` frames.

        Raises ``AudioError`` for a negative or non-finite duration.
        """
        if not math.isfinite(duration_ms) or duration_ms < 0:
            raise AudioError(f"silence duration must be a finite number >= 0 ms, got {duration_ms!r}")
        frames = round(duration_ms * sample_rate_hz / 1000.0)
        return cls(np.zeros((frames, channels), np.float32), sample_rate_hz)


_SOXR_QUALITY = "HQ"  # soxr's 20-bit linear-phase filter (the true-peak meter's too)


def resample_context_frames(from_rate: int, to_rate: int) -> int:
    """Input frames around a stretch that make :func:`resample_samples` of it (with that context)
    equal, within 1e-6, the same stretch of the whole signal resampled: soxr's "HQ" filter reaches
    less than 256 input frames each side when upsampling, proportionally more when downsampling."""
    return 512 * max(1, -(-int(from_rate) // int(to_rate)))


def resample_samples(samples: np.ndarray, from_rate: int, to_rate: int, frames: int) -> np.ndarray:
    """``samples`` (frames × channels) resampled by ``to_rate / from_rate`` with soxr, as float32,
    exactly ``frames`` frames long: the signal is taken as zero beyond its end (as far as the
    filter reaches), so output frame k is the signal at input time k * from_rate / to_rate.
    Only the ratio of the two rates matters (a pitch shift passes a ratio's two terms)."""
    import soxr  # imported on use, like every audio library

    data = np.ascontiguousarray(samples, dtype=np.float32)
    pad = np.zeros((resample_context_frames(from_rate, to_rate), data.shape[1]), np.float32)
    stream = soxr.ResampleStream(float(from_rate), float(to_rate), data.shape[1], "float32", _SOXR_QUALITY)
    out = np.concatenate([stream.resample_chunk(data), stream.resample_chunk(pad, last=True)])
    if out.shape[0] < frames:
        out = np.concatenate([out, np.zeros((frames - out.shape[0], data.shape[1]), np.float32)])
    return out[:frames]
