from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audioflow.audio import SUPPORTED_FORMATS, Audio, decode_bytes, decode_file, encode, read_wav, write_wav
from audioflow.errors import AudioError

RATE_HZ = 48000


def stereo_sine(duration_ms: float = 1500.0, amplitude: float = 0.5, rate_hz: int = RATE_HZ) -> Audio:
    t = np.arange(round(duration_ms * rate_hz / 1000)) / rate_hz
    left = amplitude * np.sin(2 * np.pi * 440 * t)
    right = amplitude * np.sin(2 * np.pi * 660 * t)
    return Audio(np.stack([left, right], axis=1), rate_hz)


def rms_db(audio: Audio) -> float:
    return 20 * float(np.log10(np.sqrt(np.mean(audio.samples.astype(np.float64) ** 2))))


def test_float_wav_round_trip_is_exact() -> None:
    audio = stereo_sine()
    back = read_wav(write_wav(audio))
    assert back.sample_rate_hz == RATE_HZ
    np.testing.assert_array_equal(back.samples, audio.samples)


def test_pcm16_wav_round_trip(tmp_path: Path) -> None:
    audio = stereo_sine()
    path = tmp_path / "x.wav"
    path.write_bytes(write_wav(audio, pcm16=True))
    back = read_wav(path)
    assert back.samples.shape == audio.samples.shape
    np.testing.assert_allclose(back.samples, audio.samples, atol=1 / 32767)


def test_pcm16_clips() -> None:
    loud = Audio(np.array([2.0, -2.0, 0.0]), 8000)
    np.testing.assert_allclose(read_wav(write_wav(loud, pcm16=True)).samples[:, 0], [32767 / 32768, -32767 / 32768, 0])


@pytest.mark.parametrize("fmt", SUPPORTED_FORMATS)
def test_encode_decode_round_trip(fmt: str) -> None:
    audio = stereo_sine()
    data = encode(audio, fmt, bitrate_kbps=160)
    back = decode_bytes(data, fmt)
    assert back.channels == 2
    assert abs(back.duration_ms - audio.duration_ms) <= 60
    assert abs(rms_db(back) - rms_db(audio)) <= 1.0
    if fmt in ("ogg", "opus"):
        assert back.sample_rate_hz == 48000
    else:
        assert back.sample_rate_hz == RATE_HZ


def test_encode_resamples_when_asked() -> None:
    back = decode_bytes(encode(stereo_sine(), "flac", sample_rate_hz=44100), "flac")
    assert back.sample_rate_hz == 44100


def test_lossless_formats_are_24_bit_accurate() -> None:
    audio = stereo_sine()
    for fmt in ("wav", "flac"):
        back = decode_bytes(encode(audio, fmt), fmt)
        np.testing.assert_allclose(back.samples, audio.samples, atol=2.0**-22)


def test_encoding_is_deterministic() -> None:
    audio = stereo_sine(300)
    assert encode(audio, "mp3") == encode(audio, "mp3")


def test_decode_file_reads_generated_mp3(tmp_path: Path) -> None:
    path = tmp_path / "take.mp3"
    path.write_bytes(encode(stereo_sine(1000, rate_hz=44100), "mp3"))
    audio = decode_file(path)
    assert audio.sample_rate_hz == 44100
    assert audio.samples.dtype == np.float32
    assert abs(audio.duration_ms - 1000) <= 60


def test_decode_file_reads_wav_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "take.wav"
    path.write_bytes(write_wav(stereo_sine(200)))
    assert decode_file(path).frames == round(0.2 * RATE_HZ)


@pytest.mark.parametrize("fmt", ["mp3", "wav", "ogg"])
def test_bad_data_raises_audio_error(fmt: str) -> None:
    with pytest.raises(AudioError) as info:
        decode_bytes(b"this is not audio at all" * 10, fmt)
    assert info.value.__cause__ is not None


def test_missing_file_and_unknown_format() -> None:
    with pytest.raises(AudioError):
        decode_file(Path("/nonexistent/take.mp3"))
    with pytest.raises(AudioError):
        encode(stereo_sine(100), "aiff")
    with pytest.raises(AudioError):
        read_wav(b"RIFF0000WAVE")
