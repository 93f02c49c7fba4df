"""The streamed mix and master against the in-memory ones, at block edges, and under a memory limit."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from audioflow.audio import (
    Audio,
    AudioFile,
    Clip,
    Duck,
    PeakDetector,
    TruePeakLimiter,
    WavWriter,
    decode_file,
    encode,
    integrated_lufs,
    limit,
    master_to_file,
    read_wav,
    render_mix,
    true_peak_dbtp,
    write_wav,
)
from audioflow.audio.dsp import block_dc
from audioflow.audio.io import ffmpeg_exe
from audioflow.audio.mixstream import MixStream, mix_to_wav
from audioflow.errors import AudioError

RATE_HZ = 48000
MINUS_90_DB = 10 ** (-90 / 20)


def noise(frames: int, channels: int, rate_hz: int = RATE_HZ, seed: int = 0, level: float = 0.3) -> Audio:
    rng = np.random.default_rng(seed)
    return Audio(rng.uniform(-level, level, (frames, channels)).astype(np.float32), rate_hz)


def speechy(duration_s: float, seed: int = 4) -> Audio:
    """Band-limited (< 6 kHz) noise bursts at varying levels with pauses: speech-like spectrum and crest."""
    from scipy import signal

    rng = np.random.default_rng(seed)
    frames = round(duration_s * RATE_HZ)
    raw = signal.sosfilt(signal.butter(4, 6000, fs=RATE_HZ, output="sos"), rng.normal(0, 0.1, (frames, 1)), axis=0)
    envelope = np.zeros(frames)
    position = 0
    while position < frames:
        burst = int(rng.uniform(0.2, 0.9) * RATE_HZ)
        end = min(frames, position + burst)
        envelope[position:end] = np.hanning(end - position) * 10 ** (rng.uniform(-12, 0) / 20)
        position = end + int(rng.uniform(0.1, 0.4) * RATE_HZ)
    return Audio(np.repeat(raw * envelope[:, None], 2, axis=1), RATE_HZ)


def as_file(audio: Audio, path: Path) -> AudioFile:
    path.write_bytes(write_wav(audio))
    return AudioFile.open(path)


def streamed(stream: MixStream, block_frames: int) -> np.ndarray:
    return np.concatenate(list(stream.blocks(block_frames)))


# -- block-wise WAV files ---------------------------------------------------------------------


def test_wav_writer_writes_scipys_bytes_and_its_digest(tmp_path: Path) -> None:
    audio = noise(10_001, 2)
    writer = WavWriter(tmp_path / "w.wav", sample_rate_hz=RATE_HZ, channels=2, frames=audio.frames)
    for first in range(0, audio.frames, 3000):
        writer.write(audio.samples[first : first + 3000])
    digest = writer.close()
    data = (tmp_path / "w.wav").read_bytes()
    assert data == write_wav(audio)
    import hashlib

    assert digest == hashlib.sha256(data).hexdigest()
    assert writer.size == len(data)


def test_wav_writer_refuses_a_wrong_frame_count(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path / "w.wav", sample_rate_hz=RATE_HZ, channels=1, frames=10)
    writer.write(np.zeros((4, 1), np.float32))
    with pytest.raises(AudioError, match="4 frames written of the 10"):
        writer.close()
    with pytest.raises(AudioError, match="more than the 3 frames"):
        WavWriter(tmp_path / "x.wav", sample_rate_hz=RATE_HZ, channels=1, frames=3).write(np.zeros((5, 1)))


@pytest.mark.parametrize("codec", ["pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le"])
def test_audio_file_reads_ranges_as_read_wav_does(tmp_path: Path, codec: str) -> None:
    source = tmp_path / "source.wav"
    source.write_bytes(write_wav(noise(5000, 2, rate_hz=22050)))
    path = tmp_path / f"{codec}.wav"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(source), "-c:a", codec, "-rf64", "auto", str(path)], check=True
    )
    whole = read_wav(path).samples
    file = AudioFile.open(path)
    assert (file.frames, file.channels, file.sample_rate_hz) == (5000, 2, 22050)
    np.testing.assert_array_equal(file.read(0, file.frames), whole)
    np.testing.assert_array_equal(file.read(1234, 777), whole[1234:2011])
    np.testing.assert_array_equal(np.concatenate(list(file.blocks(999))), whole)
    assert file.read(4990, 100).shape == (10, 2)


def test_audio_file_reads_rf64(tmp_path: Path) -> None:
    source = tmp_path / "source.wav"
    source.write_bytes(write_wav(noise(3000, 1)))
    path = tmp_path / "rf64.wav"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(source), "-c:a", "pcm_f32le", "-rf64", "always", str(path)], check=True
    )
    assert path.read_bytes()[:4] == b"RF64"
    np.testing.assert_array_equal(AudioFile.open(path).read(0, 3000), noise(3000, 1).samples)


def test_audio_file_refuses_what_is_not_a_wav(tmp_path: Path) -> None:
    (tmp_path / "x.wav").write_bytes(b"ID3 not a wav at all")
    with pytest.raises(AudioError, match="not a WAV"):
        AudioFile.open(tmp_path / "x.wav")


# -- the streamed mix ---------------------------------------------------------------------------


def programme(tmp_path: Path, *, on_disk: bool) -> list[Clip]:
    """Clips of every kind: resampled mono and stereo, loops with crossfades, fades, gains and a duck."""
    sources = {
        "voice": noise(30_000, 1, 22050, seed=1),
        "bed": noise(48_000, 2, seed=2, level=0.1),
        "sting": noise(5_000, 2, 44100, seed=3),
        "click": noise(7_000, 1, seed=4),
        "low": noise(20_000, 2, 16000, seed=5),
    }
    audio = {name: as_file(a, tmp_path / f"{name}.wav") if on_disk else a for name, a in sources.items()}
    duck = Duck(-10.0, ((100.0, 400.0), (900.0, 1300.0)), attack_ms=80.0, release_ms=200.0)
    return [
        Clip(audio["bed"], 0.0, gain_db=-3, length_ms=4500, loop=True, loop_crossfade_ms=50, duck=duck, fade_in_ms=90),
        Clip(audio["voice"], 123.4, fade_in_ms=10, fade_out_ms=20),
        Clip(audio["sting"], 700.0, length_ms=900, loop=True, loop_crossfade_ms=20, fade_out_ms=300),
        Clip(audio["click"], 1500.5, gain_db=2),
        Clip(audio["low"], 200.0, length_ms=600, fade_out_ms=50),
        Clip(audio["voice"], 1900.0, length_ms=2500, loop=True, loop_crossfade_ms=100),
    ]


@pytest.mark.parametrize("on_disk", [False, True], ids=["in-memory clips", "clips read from WAV files"])
@pytest.mark.parametrize("block_frames", [997, 4800, 1 << 16])
def test_streamed_mix_equals_render_mix(tmp_path: Path, on_disk: bool, block_frames: int) -> None:
    expected = render_mix(programme(tmp_path, on_disk=False), sample_rate_hz=RATE_HZ, channels=2).samples
    stream = MixStream(programme(tmp_path, on_disk=on_disk), sample_rate_hz=RATE_HZ, channels=2)
    mixed = streamed(stream, block_frames)
    assert mixed.shape == expected.shape
    assert np.abs(mixed - expected).max() <= MINUS_90_DB


def test_a_clip_a_fade_and_a_duck_ramp_straddling_a_block_edge() -> None:
    edge = 4800  # block edge at 100 ms
    ones = Audio(np.ones((9600, 1), np.float32), RATE_HZ)
    click = Audio(np.array([[1.0], [0.5], [0.25]], np.float32), RATE_HZ)
    duck = Duck(-12.0, ((102.0, 150.0),), attack_ms=5.0, release_ms=5.0)  # the attack ramp spans the edge
    clips = [
        Clip(ones, 95.0, fade_in_ms=10.0, gain_db=-6.0),  # starts 240 frames before the edge, fades across it
        Clip(ones, 0.0, length_ms=300.0, duck=duck),
        Clip(click, (edge - 1) / 48.0),  # frames edge-1, edge, edge+1
    ]
    expected = render_mix(clips, sample_rate_hz=RATE_HZ, channels=1).samples
    mixed = streamed(MixStream(clips, sample_rate_hz=RATE_HZ, channels=1), edge)
    np.testing.assert_allclose(mixed, expected, atol=MINUS_90_DB, rtol=0)
    # the click lands on its frames, the fade is continuous across the edge, the ramp too
    without_click = streamed(MixStream(clips[:2], sample_rate_hz=RATE_HZ, channels=1), edge)
    np.testing.assert_allclose((mixed - without_click)[edge - 1 : edge + 2, 0], [1.0, 0.5, 0.25], atol=1e-6)
    fade = streamed(MixStream(clips[:1], sample_rate_hz=RATE_HZ, channels=1), edge)[:, 0]
    steps = np.diff(fade[edge - 240 : edge + 240])
    np.testing.assert_allclose(steps, steps[0], atol=1e-6)
    ramp = streamed(MixStream(clips[1:2], sample_rate_hz=RATE_HZ, channels=1), edge)[:, 0]
    assert ramp[edge - 1] > ramp[edge] > ramp[edge + 1]
    assert 20 * math.log10(ramp[102 * 48]) == pytest.approx(-12.0, abs=0.01)


def test_mix_to_wav_writes_render_mixs_bytes(tmp_path: Path) -> None:
    clips = programme(tmp_path, on_disk=True)
    stream = MixStream(clips, sample_rate_hz=RATE_HZ, channels=2, length_ms=5000.0)
    mixed = mix_to_wav(stream, tmp_path / "mix.wav", block_frames=3000)
    expected = render_mix(programme(tmp_path, on_disk=False), sample_rate_hz=RATE_HZ, channels=2, length_ms=5000.0)
    assert mixed.frames == expected.frames == 240_000
    written = read_wav(mixed.path).samples
    assert np.abs(written - expected.samples).max() <= MINUS_90_DB
    import hashlib

    assert mixed.digest == hashlib.sha256(mixed.path.read_bytes()).hexdigest()


def test_nan_in_a_file_clip_is_an_audio_error_and_leaves_no_file(tmp_path: Path) -> None:
    bad = np.zeros((4800, 1), np.float32)
    bad[100] = np.nan
    clip = Clip(as_file(Audio(bad, RATE_HZ), tmp_path / "bad.wav"), 0.0)
    with pytest.raises(AudioError, match="clip 0: audio contains NaN"):
        mix_to_wav(MixStream([clip], sample_rate_hz=RATE_HZ), tmp_path / "mix.wav")
    assert not (tmp_path / "mix.wav").exists()


# -- the streaming limiter and meters --------------------------------------------------------------


def test_peak_detector_is_the_same_in_any_block_size() -> None:
    audio = noise(48_000, 2, seed=7)
    whole = PeakDetector(RATE_HZ, 2)
    envelope = np.concatenate([whole.push(audio.samples), whole.flush()])
    pieces = PeakDetector(RATE_HZ, 2)
    parts = [pieces.push(audio.samples[i : i + 1001]) for i in range(0, audio.frames, 1001)]
    np.testing.assert_array_equal(np.concatenate([*parts, pieces.flush()]), envelope)
    assert envelope.size == audio.frames
    assert np.all(envelope >= np.abs(audio.samples).max(axis=1))  # never below the sample peak


@pytest.mark.parametrize("block_frames", [1000, 4800, 65536])
def test_limiter_output_does_not_depend_on_block_size(block_frames: int) -> None:
    audio = noise(96_000, 2, seed=8, level=0.1)
    samples = audio.samples.copy()
    samples[4795:4805] = 0.99  # a burst whose look-ahead straddles the 4800-frame block edge
    samples[47_990] = -1.0
    whole = TruePeakLimiter(RATE_HZ, 2, ceiling_dbtp=-6.0, gain_db=3.0)
    expected = np.concatenate([whole.process(samples), whole.flush()])
    limiter = TruePeakLimiter(RATE_HZ, 2, ceiling_dbtp=-6.0, gain_db=3.0)
    parts = [limiter.process(samples[i : i + block_frames]) for i in range(0, len(samples), block_frames)]
    out = np.concatenate([*parts, limiter.flush()])
    assert out.shape == samples.shape
    assert np.abs(out - expected).max() <= MINUS_90_DB
    assert limiter.limited and limiter.max_reduction_db > 3.0
    assert true_peak_dbtp(Audio(out, RATE_HZ)) <= -6.0 + 0.1
    # away from the bursts, the limiter is only the input gain
    np.testing.assert_allclose(out[20_000:40_000], samples[20_000:40_000] * 10 ** (3 / 20), rtol=1e-5, atol=1e-7)


# -- the streamed master ------------------------------------------------------------------------


def test_streamed_master_equals_gain_then_limit_in_memory(tmp_path: Path) -> None:
    samples = speechy(6.0).samples.copy()
    samples[1000::12345] = 0.3  # transients the limiter must catch, one across a 4000-frame block edge
    samples[3999:4001] = -0.3
    audio = Audio(samples, RATE_HZ)
    done = master_to_file(
        as_file(audio, tmp_path / "mix.wav"),
        tmp_path / "out.wav",
        target_lufs=-16.0,
        true_peak_dbtp=-1.0,
        format="wav",
        block_frames=4000,
    )
    assert done.limited
    gained = Audio(audio.samples * np.float32(10 ** (done.gain_db / 20)), RATE_HZ)
    expected = limit(block_dc(gained), ceiling_dbtp=-1.3).samples  # the master blocks DC first
    decoded = read_wav(tmp_path / "out.wav").samples  # 24-bit PCM: quantisation at -144 dB
    assert decoded.shape == expected.shape
    assert np.abs(decoded - expected).max() <= MINUS_90_DB


def test_pass_1s_kept_envelope_gives_pass_2_the_same_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared pass 1 of a short programme keeps the limiter's envelope; pass 2 limits with it and
    writes the bytes it writes when it upsamples the programme itself."""
    import importlib
    from collections import OrderedDict

    module = importlib.import_module("audioflow.audio.master")
    samples = speechy(5.0, seed=6).samples.copy()
    samples[777::9001] = 0.4  # peaks for the limiter, some across the 4000-frame block edges
    source = as_file(Audio(samples, RATE_HZ), tmp_path / "mix.wav")
    written = []
    for keep in (1 << 23, 0):
        monkeypatch.setattr(module, "_MEASURED", OrderedDict())
        monkeypatch.setattr(module, "_ENVELOPE_KEEP_FRAMES", keep)
        out = tmp_path / f"out-{keep}.wav"
        done = master_to_file(source, out, target_lufs=-14.0, true_peak_dbtp=-1.0, format="wav", block_frames=4000)
        (measured,) = module._MEASURED.values()
        assert (measured.envelopes is not None) == bool(keep) and done.limited
        written.append(out.read_bytes())
    assert written[0] == written[1]


def test_master_to_file_reports_its_stages_in_order(tmp_path: Path) -> None:
    source = as_file(speechy(3.0, seed=2), tmp_path / "mix.wav")
    stages: list[str] = []
    done = master_to_file(
        source, tmp_path / "out.flac", target_lufs=-16.0, true_peak_dbtp=-1.0, format="flac", on_stage=stages.append
    )
    assert stages == ["measuring", *["limiting+encoding", "verifying"] * done.passes]


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac", "wav", "m4a", "m4b"])
def test_master_to_file_meets_the_targets_on_the_decoded_file(tmp_path: Path, fmt: str) -> None:
    source = as_file(speechy(8.0, seed=9), tmp_path / "mix.wav")
    path = tmp_path / f"out.{fmt}"
    done = master_to_file(source, path, target_lufs=-16.0, true_peak_dbtp=-1.0, format=fmt, block_frames=10_000)
    decoded = decode_file(path)
    assert integrated_lufs(decoded) == pytest.approx(-16.0, abs=0.2)
    assert true_peak_dbtp(decoded, refine=True) <= -1.0
    assert done.lufs == pytest.approx(integrated_lufs(decoded), abs=1e-6)
    assert done.true_peak_dbtp == pytest.approx(true_peak_dbtp(decoded, refine=True), abs=1e-6)
    assert done.duration_ms == pytest.approx(8000.0, abs=60.0)  # codec priming/padding trimmed by the decoder
    assert done.input_lufs == pytest.approx(integrated_lufs(block_dc(source.load())), abs=1e-9)  # as the master hears


def test_the_trial_predicts_the_codec_loss_of_a_short_programme(tmp_path: Path) -> None:
    # white noise loses > 1 LU to the mp3 low-pass: the trial (the whole 8 s programme, encoded once)
    # measures it, and the one full encode lands
    source = as_file(noise(8 * RATE_HZ, 2, seed=10, level=0.05), tmp_path / "mix.wav")
    done = master_to_file(source, tmp_path / "out.mp3", target_lufs=-16.0, true_peak_dbtp=-1.0, format="mp3")
    assert done.passes == 1
    assert done.lufs == pytest.approx(-16.0, abs=0.2)
    assert done.gain_db > -16.0 - done.input_lufs + 0.5


def test_the_trial_solves_the_gain_a_hard_working_limiter_needs(tmp_path: Path) -> None:
    # peaky speech-like audio pushed 8 dB up: the limiter takes loudness, more the higher the gain;
    # the trial solves for it with the limiter alone, and the one encode lands
    quiet = speechy(30.0, seed=4)
    source = as_file(Audio(quiet.samples * np.float32(10 ** (-14 / 20)), RATE_HZ), tmp_path / "mix.wav")
    done = master_to_file(source, tmp_path / "out.mp3", target_lufs=-14.0, true_peak_dbtp=-1.0, format="mp3")
    assert done.limited and done.max_reduction_db > 2.0
    assert done.passes == 1
    assert done.lufs == pytest.approx(-14.0, abs=0.2)
    assert done.true_peak_dbtp <= -1.0


def test_a_mispredicted_gain_is_corrected_by_a_second_encode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # without the trial's prediction (the plain gain) the mp3 of white noise lands > 1 LU low: the
    # check of the decoded file catches it and the second encode lands
    master_module = sys.modules["audioflow.audio.master"]

    def plain_gain(sample: np.ndarray, rate_hz: int, encoding: object, levels: tuple[float, float, float]) -> object:
        input_lufs, target_lufs, _ = levels
        return master_module._Prediction(target_lufs - input_lufs, 1.0, master_module._MARGIN_DB)

    monkeypatch.setattr(master_module, "_trial", plain_gain)
    source = as_file(noise(8 * RATE_HZ, 2, seed=10, level=0.05), tmp_path / "mix.wav")
    done = master_to_file(source, tmp_path / "out.mp3", target_lufs=-16.0, true_peak_dbtp=-1.0, format="mp3")
    assert done.passes == 2
    assert done.lufs == pytest.approx(-16.0, abs=0.2)
    assert done.gain_db > -16.0 - done.input_lufs + 0.5


def test_a_trial_encode_predicts_the_codec_loss_of_a_long_programme(tmp_path: Path) -> None:
    # the same white noise as above, 4 minutes long: pass 1 keeps 20 excerpts, their trial encode
    # measures the mp3's loss, and the one full encode lands
    source = as_file(noise(240 * 24000, 1, rate_hz=24000, seed=10, level=0.05), tmp_path / "mix.wav")
    done = master_to_file(source, tmp_path / "out.mp3", target_lufs=-16.0, true_peak_dbtp=-1.0, format="mp3")
    assert done.passes == 1
    assert done.lufs == pytest.approx(-16.0, abs=0.2)
    assert done.gain_db > -16.0 - done.input_lufs + 0.3


def test_master_to_file_refuses_silence(tmp_path: Path) -> None:
    source = as_file(Audio.silence(2000, RATE_HZ, channels=2), tmp_path / "mix.wav")
    with pytest.raises(AudioError, match="cannot master silence"):
        master_to_file(source, tmp_path / "out.mp3", target_lufs=-16.0, true_peak_dbtp=-1.0, format="mp3")


def test_a_failing_encoder_is_an_audio_error(tmp_path: Path) -> None:
    source = as_file(speechy(2.0), tmp_path / "mix.wav")
    with pytest.raises(AudioError, match="cannot encode mp3"):
        master_to_file(source, tmp_path / "no" / "dir" / "out.mp3", target_lufs=-16, true_peak_dbtp=-1, format="mp3")


def test_encode_still_works_in_memory() -> None:
    data = encode(speechy(1.0), "flac")
    assert data[:4] == b"fLaC"


# -- memory ---------------------------------------------------------------------------------------

_MEMORY_CHILD = textwrap.dedent(
    """
    import resource, subprocess, sys
    from pathlib import Path
    import numpy as np
    import scipy.ndimage, scipy.signal, soxr, pyebur128  # loaded before the limit, as in a real run
    from audioflow.audio import Audio, AudioFile, Clip, Duck, master_encoded, master_to_file, render_mix, write_wav
    from audioflow.audio.mixstream import MixStream, mix_to_wav

    limit_mb, minutes, mode, tmp = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
    rate, rng = 48000, np.random.default_rng(0)
    voice = Audio((rng.normal(0, 0.1, (rate * 4, 1)) * np.hanning(rate * 4)[:, None]).astype(np.float32), rate)
    bed = Audio(rng.normal(0, 0.02, (rate * 10, 2)).astype(np.float32), rate)
    (tmp / "voice.wav").write_bytes(write_wav(voice))
    (tmp / "bed.wav").write_bytes(write_wav(bed))
    total_ms = minutes * 60_000
    starts = np.arange(0, total_ms - 4000, 6000.0)
    duck = Duck(-10.0, tuple((float(s), float(s) + 4000) for s in starts))

    def clips(bed_audio, voice_audio):
        clips = [Clip(bed_audio, 0.0, length_ms=total_ms, loop=True, loop_crossfade_ms=200, duck=duck)]
        return clips + [Clip(voice_audio, float(s)) for s in starts]

    # The limit is on this process's address space; ffmpeg, started from here, gets its own.
    popen = subprocess.Popen.__init__
    def unlimited_child(self, *args, **kwargs):
        kwargs["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2)
        popen(self, *args, **kwargs)
    subprocess.Popen.__init__ = unlimited_child
    resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, resource.RLIM_INFINITY))
    try:
        if mode == "streamed":
            stream = MixStream(clips(AudioFile.open(tmp / "bed.wav"), AudioFile.open(tmp / "voice.wav")),
                               sample_rate_hz=rate, channels=2, length_ms=total_ms)
            mixed = mix_to_wav(stream, tmp / "mix.wav")
            done = master_to_file(AudioFile.open(mixed.path), tmp / "out.flac", target_lufs=-16.0,
                                  true_peak_dbtp=-1.0, format="flac")
            print("ok", done.frames, done.lufs)
        else:
            mixed = render_mix(clips(bed, voice), sample_rate_hz=rate, channels=2, length_ms=total_ms)
            data, result = master_encoded(mixed, target_lufs=-16.0, true_peak_dbtp=-1.0, format="flac")
            print("ok", result.audio.frames, result.lufs)
    except MemoryError:
        print("MemoryError")
    """
)


def _render_under_limit(tmp_path: Path, mode: str, limit_mb: int, minutes: float) -> str:
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OPENBLAS_NUM_THREADS": "1", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(limit_mb), str(minutes), mode, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_a_long_programme_mixes_and_masters_in_bounded_memory(tmp_path: Path) -> None:
    # 5 minutes of 48 kHz stereo is 110 MiB per float32 copy: the in-memory path (timeline, its
    # mastered copy, the decoded check) needs about 700 MiB more than the streamed one, which needs
    # ~400 MiB of address space whatever the length (the interpreter, numpy, scipy, thread stacks).
    limit_mb, minutes = 600, 5.0
    assert _render_under_limit(tmp_path, "in-memory", limit_mb, minutes) == "MemoryError"
    status, frames, lufs = _render_under_limit(tmp_path, "streamed", limit_mb, minutes).split()
    assert status == "ok"
    assert int(frames) == round(minutes * 60 * 48000)
    assert float(lufs) == pytest.approx(-16.0, abs=0.2)


def test_a_programme_the_limiter_cannot_make_loud_misses_its_target_with_finite_samples(tmp_path: Path) -> None:
    # DC with a few steps: K-weighting sees only the steps, so every dB of gain goes into the limiter;
    # the solve once walked the gain to ~490 dB and the limiter's running mean dipped under 0 (NaN)
    samples = np.full((3 * RATE_HZ, 2), 0.5, np.float32)
    samples[RATE_HZ : RATE_HZ + 2400] = 0.0
    source = as_file(Audio(samples, RATE_HZ), tmp_path / "dc.wav")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        done = master_to_file(source, tmp_path / "out.wav", target_lufs=-16.0, true_peak_dbtp=-1.0, format="wav")
    decoded = read_wav(tmp_path / "out.wav").samples
    assert np.isfinite(decoded).all()
    assert true_peak_dbtp(Audio(decoded, RATE_HZ)) <= -1.0
    assert done.gain_db <= -16.0 - done.input_lufs + 24.0 + 1e-9


@pytest.mark.parametrize("fmt", ["mp3", "m4a"])
def test_a_programme_with_a_dc_offset_lands_on_its_target(tmp_path: Path, fmt: str) -> None:
    """A DC offset (+0.2) is no loudness (K-weighting removes it) but a peak: the limiter used to take
    every added dB and the solve stopped at its bound, 2 LU short. The master blocks DC first."""
    audio = speechy(8.0, seed=5)
    source = as_file(Audio(audio.samples + np.float32(0.2), RATE_HZ), tmp_path / "dc.wav")
    done = master_to_file(source, tmp_path / f"out.{fmt}", target_lufs=-16.0, true_peak_dbtp=-1.0, format=fmt)
    decoded = decode_file(tmp_path / f"out.{fmt}")
    assert integrated_lufs(decoded) == pytest.approx(-16.0, abs=0.2)
    assert true_peak_dbtp(decoded, refine=True) <= -1.0
    assert abs(float(decoded.samples.mean())) < 1e-3  # the offset is gone
    assert done.lufs == pytest.approx(integrated_lufs(decoded), abs=1e-6)
