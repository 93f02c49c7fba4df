"""Audio for audioflow: decode/encode (ffmpeg via imageio-ffmpeg), the numpy mix engine, loudness
(ITU-R BS.1770-4), true peak, mastering and small DSP helpers.

Audio is an immutable :class:`Audio` value: float32 samples shaped (frames, channels) plus a rate
in Hz. Every failure is an :class:`audioflow.errors.AudioError`. Importing this package has no side
effects: ffmpeg is looked up on first use.
"""

from __future__ import annotations

from audioflow.audio.dsp import (
    PLACEHOLDER_TEXTURES,
    placeholder_bed,
    shelf_eq,
    shift_pitch_by_resampling,
)
from audioflow.audio.effects import EFFECT_KINDS, apply_effects
from audioflow.audio.io import (
    SUPPORTED_FORMATS,
    decode_bytes,
    decode_file,
    encode,
    ffmpeg_exe,
    read_wav,
    write_wav,
)
from audioflow.audio.limiter import TruePeakLimiter
from audioflow.audio.loudness import LoudnessMeter, PeakDetector, integrated_lufs, sample_peak_dbfs, true_peak_dbtp
from audioflow.audio.master import (
    BlockSource,
    MasteredFile,
    MasterResult,
    limit,
    master,
    master_encoded,
    master_to_file,
)
from audioflow.audio.mix import Clip, Duck, render_mix
from audioflow.audio.sequence import join_in_sequence, sequence_spans
from audioflow.audio.types import Audio
from audioflow.audio.wavstream import AudioFile, WavWriter, convert_wav

__all__ = [
    "EFFECT_KINDS",
    "PLACEHOLDER_TEXTURES",
    "SUPPORTED_FORMATS",
    "Audio",
    "AudioFile",
    "BlockSource",
    "Clip",
    "Duck",
    "LoudnessMeter",
    "MasterResult",
    "MasteredFile",
    "PeakDetector",
    "TruePeakLimiter",
    "WavWriter",
    "apply_effects",
    "convert_wav",
    "decode_bytes",
    "decode_file",
    "encode",
    "ffmpeg_exe",
    "integrated_lufs",
    "join_in_sequence",
    "limit",
    "master",
    "master_encoded",
    "master_to_file",
    "placeholder_bed",
    "read_wav",
    "render_mix",
    "sample_peak_dbfs",
    "sequence_spans",
    "shelf_eq",
    "shift_pitch_by_resampling",
    "true_peak_dbtp",
    "write_wav",
]
