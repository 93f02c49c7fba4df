from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from audioflow.audio import SUPPORTED_FORMATS, Audio, decode_bytes, decode_file, encode, ffmpeg_exe, read_wav, write_wav
from audioflow.audio.io import AudioInfo, probe_file
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


# -- multichannel inputs are downmixed, truncated WAVs refused, headers probed -------------------------


def six_channels(duration_ms: float = 1000.0, rate_hz: int = RATE_HZ) -> np.ndarray:
    """L, R, C, LFE, Ls, Rs: a different sine on each (the LFE a 50 Hz one), 0.1 peak."""
    t = np.arange(round(duration_ms * rate_hz / 1000)) / rate_hz
    return np.stack([0.1 * np.sin(2 * np.pi * f * t) for f in (200, 300, 400, 50, 500, 600)], axis=1).astype(np.float32)


def bs775(samples: np.ndarray) -> np.ndarray:
    left = samples[:, 0] + 0.7071 * samples[:, 2] + 0.7071 * samples[:, 4]
    right = samples[:, 1] + 0.7071 * samples[:, 2] + 0.7071 * samples[:, 5]
    return np.stack([left, right], axis=1)


def test_5_1_wav_is_downmixed_by_itu_r_bs_775(tmp_path: Path) -> None:
    samples = six_channels()
    path = tmp_path / "surround.wav"
    path.write_bytes(write_wav(Audio(samples, RATE_HZ)))
    audio = decode_file(path)
    assert audio.channels == 2 and audio.frames == samples.shape[0]
    np.testing.assert_allclose(audio.samples, bs775(samples), atol=1e-6)
    # the LFE (50 Hz) is dropped: nothing of it is left in either channel
    spectrum = np.abs(np.fft.rfft(audio.samples, axis=0))
    assert spectrum[50].max() < 1e-3 * spectrum[200].max()


def test_5_1_flac_is_downmixed_the_same_way_through_ffmpeg(tmp_path: Path) -> None:
    samples = six_channels()
    path = tmp_path / "surround.flac"
    path.write_bytes(encode(Audio(samples, RATE_HZ), "flac"))
    audio = decode_file(path)
    assert audio.channels == 2
    np.testing.assert_allclose(audio.samples, bs775(samples), atol=1e-5)


@pytest.mark.parametrize("channels", [3, 4, 8])
def test_other_multichannel_layouts_are_downmixed_by_ffmpeg(channels: int, tmp_path: Path) -> None:
    samples = np.tile(six_channels(), (1, 2))[:, :channels]
    path = tmp_path / f"{channels}ch.wav"
    path.write_bytes(write_wav(Audio(samples, RATE_HZ)))
    audio = decode_file(path)
    assert audio.channels == 2 and audio.frames == samples.shape[0]
    # the front left sine (200 Hz) is in the left channel, not the right
    spectrum = np.abs(np.fft.rfft(audio.samples, axis=0))
    assert spectrum[200, 0] > 100 * spectrum[200, 1]
    assert rms_db(audio) > -30


def test_truncated_wav_is_refused_not_read_at_part_length(tmp_path: Path) -> None:
    whole = write_wav(stereo_sine(2000))
    path = tmp_path / "cut.wav"
    path.write_bytes(whole[: 44 + (len(whole) - 44) // 2])
    message = "truncated: header says 2.00 s, file holds 1.00 s"
    with pytest.raises(AudioError) as info:
        decode_file(path)
    assert str(info.value) == f"cannot decode cut.wav: {message}"
    with pytest.raises(AudioError) as info:
        probe_file(path)
    assert str(info.value) == f"cannot decode cut.wav: {message}"
    # a host's take (decode_bytes) is paid for already: it is read as far as it goes, not refused
    assert abs(decode_bytes(path.read_bytes(), "wav").frames - RATE_HZ) <= 1


def test_truncated_24_bit_wav_cut_mid_frame(tmp_path: Path) -> None:
    path = tmp_path / "cut24.wav"
    data = encode(stereo_sine(1000), "wav")  # 24-bit PCM: 6 bytes per frame
    path.write_bytes(data[:-28803])  # not a whole number of frames
    with pytest.raises(
        AudioError, match=r"^cannot decode cut24\.wav: truncated: header says 1\.00 s, file holds 0\.90 s$"
    ):
        decode_file(path)


def test_wav_streamed_with_its_size_left_open_is_read_whole(tmp_path: Path) -> None:
    data = bytearray(write_wav(stereo_sine(500)))
    data_at = data.index(b"data")
    data[4:8] = data[data_at + 4 : data_at + 8] = b"\xff\xff\xff\xff"  # what ffmpeg writes to a pipe
    path = tmp_path / "piped.wav"
    path.write_bytes(bytes(data))
    assert decode_file(path).frames == round(0.5 * RATE_HZ)
    assert probe_file(path).sample_rate_hz == RATE_HZ


def test_probe_reads_headers(tmp_path: Path) -> None:
    wav, mp3, flac = tmp_path / "a.wav", tmp_path / "a.mp3", tmp_path / "a.flac"
    wav.write_bytes(write_wav(stereo_sine(1500)))
    mp3.write_bytes(encode(stereo_sine(1000, rate_hz=44100), "mp3"))
    flac.write_bytes(encode(Audio(six_channels(), RATE_HZ), "flac"))
    assert probe_file(wav) == AudioInfo(RATE_HZ, 2, 1500.0)
    info = probe_file(mp3)
    assert (info.sample_rate_hz, info.channels) == (44100, 2) and abs(info.duration_ms - 1000) <= 60
    assert probe_file(flac) == AudioInfo(RATE_HZ, 6, 1000.0)


def test_probe_refuses_what_is_not_audio(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioError) as info:
        probe_file(junk)
    assert str(info.value).startswith("cannot decode junk.mp3: ")
    assert "Invalid data found when processing input" in str(info.value)
    assert "\n" not in str(info.value)
    video = tmp_path / "picture.avi"
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "color=c=black:s=16x16:d=0.2", str(video)],
        check=True,
    )
    with pytest.raises(AudioError) as info:
        probe_file(video)
    assert str(info.value) == "cannot decode picture.avi: it holds no audio stream"
    with pytest.raises(AudioError) as info:
        probe_file(tmp_path / "none.wav")
    assert str(info.value) == f"cannot read {tmp_path / 'none.wav'}: no such file"
