"""pydub's ``AudioSegment``, the Python API's interchange type, to and from :class:`Audio`.

Conversion goes through raw PCM in memory, so neither direction needs an ``ffmpeg`` on ``PATH``
(pydub looks for one only to decode or encode compressed files). pydub keeps integer samples
(``sample_width`` 1, 2 or 4 bytes, signed except 8-bit, interleaved); audioflow keeps float32 in
[-1, 1]. Integers map to floats by dividing by 2^(8·width − 1); floats map back by multiplying and
clipping to the integer range (no dither).
"""

from __future__ import annotations

import shutil
import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AudioError
from .io import ffmpeg_exe
from .types import Audio

if TYPE_CHECKING:
    from pydub import AudioSegment as AudioSegmentType

__all__ = ["from_segment", "pydub_segment_class", "to_segment"]

_DTYPES = {1: np.uint8, 2: np.int16, 4: np.int32}


def pydub_segment_class() -> type[AudioSegmentType]:
    """pydub's ``AudioSegment`` class, imported quietly. When pydub finds no ``ffmpeg`` on ``PATH``
    (it warns at import), it is pointed at the ffmpeg audioflow uses (imageio-ffmpeg's), so
    ``segment.export("x.mp3")`` works on a machine with no ffmpeg installed."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Couldn't find ffmpeg", category=RuntimeWarning)
        from pydub import AudioSegment
    if AudioSegment.converter == "ffmpeg" and shutil.which("ffmpeg") is None:
        AudioSegment.converter = ffmpeg_exe()
    return AudioSegment


def to_segment(audio: Audio, *, sample_width: int = 2) -> AudioSegmentType:
    """``audio`` as a pydub ``AudioSegment`` with ``sample_width`` bytes a sample (2: 16-bit, the
    usual; 4: 32-bit, for further processing without loss). Samples beyond [-1, 1] are clipped.
    Raises :class:`AudioError` for another width."""
    AudioSegment = pydub_segment_class()
    if sample_width not in (2, 4):
        raise AudioError(f"sample_width {sample_width!r}: 2 (16-bit) or 4 (32-bit) bytes")
    full_scale = float(2 ** (8 * sample_width - 1))
    scaled = np.clip(audio.samples.astype(np.float64) * full_scale, -full_scale, full_scale - 1)
    pcm = np.round(scaled).astype(_DTYPES[sample_width])
    return AudioSegment(
        data=pcm.tobytes(), sample_width=sample_width, frame_rate=audio.sample_rate_hz, channels=audio.channels
    )


def from_segment(segment: AudioSegmentType) -> Audio:
    """A pydub ``AudioSegment`` as float32 :class:`Audio` of shape (frames, channels) at its frame
    rate (Hz). 8-bit segments are unsigned (centred on 128), wider ones signed; a 24-bit segment
    is widened to 32-bit first. Raises :class:`AudioError` for a segment pydub could not describe."""
    width = int(segment.sample_width)
    if width == 3:  # pydub's 24-bit: widen to 32-bit (pydub does it without ffmpeg)
        segment, width = segment.set_sample_width(4), 4
    if width not in _DTYPES or segment.channels < 1 or segment.frame_rate <= 0:
        raise AudioError(
            f"cannot read an AudioSegment of {width} bytes a sample, {segment.channels} channels, "
            f"{segment.frame_rate} Hz"
        )
    pcm = np.frombuffer(segment.raw_data, dtype=_DTYPES[width])
    samples = pcm.astype(np.float32)
    if width == 1:
        samples -= 128.0
    samples /= float(2 ** (8 * width - 1))
    frames = len(samples) // segment.channels
    return Audio(samples[: frames * segment.channels].reshape(frames, segment.channels), int(segment.frame_rate))
