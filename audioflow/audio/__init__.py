"""Audio for audioflow: decode/encode (ffmpeg via imageio-ffmpeg), the numpy mix engine, loudness
(ITU-R BS.1770-4), true peak, mastering and small DSP helpers.

Audio is an immutable :class:`Audio` value: float32 samples shaped (frames, channels) plus a rate
in Hz. Every failure is an :class:`audioflow.errors.AudioError`. Importing this package has no side
effects: ffmpeg is looked up on first use.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audioflow.audio.blocks import BlockSource
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
        MasteredFile,
        MasterResult,
        limit,
        master,
        master_encoded,
        master_to_file,
    )
    from audioflow.audio.mix import Clip, Duck, clip_gain_db, render_mix
    from audioflow.audio.sequence import join_in_sequence, sequence_spans
    from audioflow.audio.types import Audio
    from audioflow.audio.wavstream import AudioFile, WavWriter, convert_wav

#: Public name → the module that defines it, imported when the name is first used (PEP 562).
_LAZY = {
    "PLACEHOLDER_TEXTURES": "audioflow.audio.dsp",
    "placeholder_bed": "audioflow.audio.dsp",
    "shelf_eq": "audioflow.audio.dsp",
    "shift_pitch_by_resampling": "audioflow.audio.dsp",
    "EFFECT_KINDS": "audioflow.audio.effects",
    "apply_effects": "audioflow.audio.effects",
    "SUPPORTED_FORMATS": "audioflow.audio.io",
    "decode_bytes": "audioflow.audio.io",
    "decode_file": "audioflow.audio.io",
    "encode": "audioflow.audio.io",
    "ffmpeg_exe": "audioflow.audio.io",
    "read_wav": "audioflow.audio.io",
    "write_wav": "audioflow.audio.io",
    "TruePeakLimiter": "audioflow.audio.limiter",
    "LoudnessMeter": "audioflow.audio.loudness",
    "PeakDetector": "audioflow.audio.loudness",
    "integrated_lufs": "audioflow.audio.loudness",
    "sample_peak_dbfs": "audioflow.audio.loudness",
    "true_peak_dbtp": "audioflow.audio.loudness",
    "BlockSource": "audioflow.audio.blocks",
    "MasteredFile": "audioflow.audio.master",
    "MasterResult": "audioflow.audio.master",
    "limit": "audioflow.audio.master",
    "master": "audioflow.audio.master",
    "master_encoded": "audioflow.audio.master",
    "master_to_file": "audioflow.audio.master",
    "Clip": "audioflow.audio.mix",
    "Duck": "audioflow.audio.mix",
    "render_mix": "audioflow.audio.mix",
    "clip_gain_db": "audioflow.audio.mix",
    "join_in_sequence": "audioflow.audio.sequence",
    "sequence_spans": "audioflow.audio.sequence",
    "Audio": "audioflow.audio.types",
    "AudioFile": "audioflow.audio.wavstream",
    "WavWriter": "audioflow.audio.wavstream",
    "convert_wav": "audioflow.audio.wavstream",
}

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
    "clip_gain_db",
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


class _Package(types.ModuleType):
    """This package's module type: a submodule named like one of the package's public functions
    (``master``) is bound, once imported, as that function, so ``audioflow.audio.master`` is the
    function whichever imported first (the import system binds a submodule to its package)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    """Import a public name"s module on first use and keep the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
