"""Several outputs from one mix, store presets (ACX audiobook, mono speech), and the QC manifest:
every figure is measured on the decoded file, the manifest is validated against its schema."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import jsonschema_rs
import mutagen
import numpy as np
import pyloudnorm
import pytest
import soundfile
from click.testing import CliRunner

from audioflow.audio.io import decode_file, write_wav
from audioflow.audio.qc import measure_file
from audioflow.audio.types import Audio
from audioflow.cli import cli
from audioflow.engine import open_project
from audioflow.engine.bounce import manifest_schema
from audioflow.errors import RecipeError
from audioflow.recipe import load_recipe

RATE_HZ = 48000


def speech_like(seconds: float = 14.0, *, floor_dbfs: float = -75.0, seed: int = 3) -> Audio:
    """A stereo programme that behaves like read speech: 1 s of room tone, then 'syllables' (a 140 Hz
    voice with harmonics, 4 Hz syllable envelope, pauses), then 2 s of room tone; room tone (white
    noise at ``floor_dbfs`` RMS) throughout."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE_HZ)) / RATE_HZ
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 8))
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2
    phrases = ((t % 3.0) < 2.2) & (t > 1.0) & (t < seconds - 2.0)
    signal = 0.25 * voice * syllables * phrases
    noise = rng.standard_normal(t.size) * 10 ** (floor_dbfs / 20)
    mono = (signal + noise).astype(np.float32)
    return Audio(np.stack([mono, mono], axis=1), RATE_HZ)


def _recipe(folder: Path, outputs: str, *, master: str = "", audio: Audio | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "read.wav").write_bytes(write_wav(audio if audio is not None else speech_like()))
    text = f"audioflow: 1\ntitle: Chapter One\nsteps:\n  read: {{file: read.wav}}\nmix:\n  - {{track: read}}\n{master}"
    path = folder / "recipe.yaml"
    path.write_text(text + outputs, encoding="utf-8")
    return path


def _run(path: Path, cache: Path):
    return open_project(path, cache_dir=cache).run(jobs=2)


def _lufs(path: Path) -> float:
    """Integrated loudness of the DECODED file, by pyloudnorm (an independent BS.1770 meter)."""
    audio = decode_file(path)
    return float(pyloudnorm.Meter(audio.sample_rate_hz).integrated_loudness(audio.samples.astype(np.float64)))


def _validate(manifest_path: Path) -> dict:
    data = json.loads(manifest_path.read_text())
    jsonschema_rs.validator_for(manifest_schema()).validate(data)
    return data


THREE = """\
outputs:
  - {path: out/ep.mp3, bitrate: 192k}
  - {path: out/ep.m4b, preset: speech-mono, bitrate: 64k}
  - {path: out/archive/ep.wav, bit_depth: 24, sample_rate_hz: 48000}
"""


def test_three_outputs_from_one_mix_each_mastered_tagged_and_checked(tmp_path: Path) -> None:
    path = _recipe(tmp_path, THREE, master="master: {preset: podcast}\n")
    report = _run(path, tmp_path / "cache")
    ids = [o.step.id for o in report.result.outcomes.values()]
    assert ids.count("mix") == 1 and [i for i in ids if "master" in i] == ["master", "master:ep.m4b", "master:ep.wav"]
    out = tmp_path / "out"
    assert [b.path for b in report.outputs] == [out / "ep.mp3", out / "ep.m4b", out / "archive" / "ep.wav"]
    # the outputs share a stem: their sidecars carry the whole name, so none collides
    assert sorted(p.name for p in out.glob("*.json")) == ["ep.m4b.manifest.json", "ep.mp3.manifest.json"]
    assert (out / "archive" / "ep.wav.manifest.json").is_file()
    mp3, m4b, wav = (_validate(b.manifest_path) for b in report.outputs)
    assert (mp3["step"], m4b["step"], wav["step"]) == ("master", "master:ep.m4b", "master:ep.wav")
    assert mp3["manifest_version"] == 1 and all(m["qc"]["pass"] for m in (mp3, m4b, wav))
    assert abs(_lufs(out / "ep.mp3") - -16.0) <= 0.2
    assert abs(_lufs(out / "ep.m4b") - -19.0) <= 0.2  # speech-mono: -19 LUFS, one channel
    assert mutagen.File(out / "ep.m4b").info.channels == 1 and m4b["qc"]["channels"] == 1
    assert m4b["qc"]["preset"] == "speech-mono" and m4b["qc"]["bitrate_kbps"] == 64
    info = soundfile.info(out / "archive" / "ep.wav")
    assert (info.subtype, info.samplerate, info.channels) == ("PCM_24", 48000, 2)
    assert wav["qc"]["bit_depth"] == 24 and wav["qc"]["bitrate_kbps"] is None
    assert str(mutagen.File(out / "ep.mp3").tags["TIT2"]) == "Chapter One"
    qc = mp3["qc"]
    assert qc["sha256"] == hashlib.sha256((out / "ep.mp3").read_bytes()).hexdigest()
    assert qc["size_bytes"] == (out / "ep.mp3").stat().st_size and qc["codec"].startswith("mp3")
    assert (
        qc["loudness_range_lu"] >= 0 and qc["true_peak_dbtp"] <= -1.0 and qc["sample_peak_dbfs"] <= qc["true_peak_dbtp"]
    )
    again = _run(path, tmp_path / "cache")
    assert again.result.count("rendered") == 0 and len(again.outputs) == 3


def test_the_first_output_keeps_the_single_outputs_digest(tmp_path: Path) -> None:
    single = load_recipe(_recipe(tmp_path / "a", "output: out/ep.mp3\n"))
    several = load_recipe(_recipe(tmp_path / "b", THREE))
    from audioflow.engine import open_recipe

    one = open_recipe(single, cache_dir=tmp_path / "c1").plan()
    three = open_recipe(several, cache_dir=tmp_path / "c2").plan()
    assert one.steps["master"].digest == three.steps["master"].digest
    assert one.steps["mix"].digest == three.steps["mix"].digest


def test_a_16_bit_flac_and_wav(tmp_path: Path) -> None:
    outputs = "outputs:\n  - {path: out/ep.flac, bit_depth: 16}\n  - {path: out/ep.wav, bit_depth: 16}\n"
    report = _run(_recipe(tmp_path, outputs), tmp_path / "cache")
    assert soundfile.info(tmp_path / "out" / "ep.flac").subtype == "PCM_16"
    assert soundfile.info(tmp_path / "out" / "ep.wav").subtype == "PCM_16"
    assert [b.qc.bit_depth for b in report.outputs] == [16, 16]
    assert all(abs(_lufs(b.path) - -16.0) <= 0.2 for b in report.outputs)


@pytest.mark.parametrize("fmt", ["mp3", "m4b"])
def test_the_audiobook_preset_meets_acx_on_the_decoded_file(tmp_path: Path, fmt: str) -> None:
    path = _recipe(tmp_path, f"outputs:\n  - {{path: out/ch1.{fmt}, preset: audiobook}}\n")
    report = _run(path, tmp_path / "cache")
    (bounced,) = report.outputs
    decoded = decode_file(bounced.path).samples.astype(np.float64)
    rms_dbfs = 10 * math.log10(np.mean(decoded**2))
    assert -23.0 <= rms_dbfs <= -18.0 and abs(rms_dbfs - -20.0) <= 0.5
    assert 20 * math.log10(np.max(np.abs(decoded))) <= -3.0
    data = _validate(bounced.manifest_path)
    qc = data["qc"]
    assert qc["pass"] and qc["preset"] == "audiobook" and qc["noise_floor_dbfs"] <= -60.0
    assert abs(qc["rms_dbfs"] - rms_dbfs) <= 0.05
    # 1 s of room tone before the first syllable; the last phrase ends 11.2 s in, 2.8 s before the end
    assert 950.0 <= qc["room_tone_head_ms"] <= 1000.0 and 2750.0 <= qc["room_tone_tail_ms"] <= 2900.0, qc
    assert data["loudness"]["target_lufs"] is None and data["loudness"]["target_rms_dbfs"] == -20.0
    if fmt == "mp3":
        info = mutagen.File(bounced.path).info
        assert (info.bitrate, info.sample_rate) == (192000, 44100)
        figures = {"rms", "sample_peak", "noise_floor", "room_tone_head", "room_tone_tail", "bitrate", "sample_rate"}
        assert {c["figure"] for c in qc["checks"]} == figures


def test_a_noisy_programme_fails_acx_and_the_run_exits_1_unless_allowed(tmp_path: Path) -> None:
    path = _recipe(tmp_path, "output: out/ch1.mp3\nmaster: {preset: audiobook}\n", audio=speech_like(floor_dbfs=-40))
    runner = CliRunner()
    args = ["run", str(path), "--cache-dir", str(tmp_path / "cache")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1, result.output
    (line,) = [x for x in result.stderr.splitlines() if "QC" in x]
    assert line.startswith("error: QC: ") and "ch1.mp3 fails audiobook: noise_floor" in line
    assert "is over ≤ -60 dBFS" in line
    manifest = json.loads((tmp_path / "out" / "ch1.manifest.json").read_text())
    assert manifest["qc"]["pass"] is False
    allowed = runner.invoke(cli, [*args, "--allow-qc-fail"])
    assert allowed.exit_code == 0, allowed.output
    assert any(x.startswith("warning: QC: ") for x in allowed.stderr.splitlines())
    assert "QC FAIL (audiobook)" in allowed.stdout


def test_acx_refuses_digital_silence_and_a_missing_room_tone_head_and_tail(tmp_path: Path) -> None:
    # no room tone at all: digital silence between the phrases, 1 s of it at the head, 2.8 s at the tail
    path = _recipe(
        tmp_path / "a", "output: out/ch1.mp3\nmaster: {preset: audiobook}\n", audio=speech_like(floor_dbfs=-math.inf)
    )
    result = CliRunner().invoke(cli, ["run", str(path), "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1, result.output
    (line,) = [x for x in result.stderr.splitlines() if "QC" in x]
    assert "noise_floor -inf dBFS is digital silence: ACX rejects it (keep room tone under the pauses)" in line
    assert "room_tone" not in line  # the head and tail are long enough
    qc = _validate(tmp_path / "a" / "out" / "ch1.manifest.json")["qc"]
    assert qc["noise_floor_dbfs"] is None and not qc["pass"]
    # room tone throughout (and in a 1 s pause), but the reading starts 0.2 s in and stops 0.5 s before the end
    rate, rng = RATE_HZ, np.random.default_rng(5)
    t = np.arange(round(6.7 * rate)) / rate
    voice = 0.25 * np.sin(2 * np.pi * 140 * t) * ((t > 0.2) & (t < 6.2)) * ((t < 3.0) | (t > 4.0))
    mono = (voice + rng.standard_normal(t.size) * 10 ** (-75 / 20)).astype(np.float32)
    path = _recipe(
        tmp_path / "b",
        "output: out/ch1.m4b\nmaster: {preset: audiobook}\n",
        audio=Audio(np.stack([mono, mono], axis=1), rate),
    )
    result = CliRunner().invoke(cli, ["run", str(path), "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1, result.output
    (line,) = [x for x in result.stderr.splitlines() if "QC" in x]
    assert "room_tone_head 0.20 s is under 0.5 … 1 s of room tone at the start" in line
    assert "room_tone_tail 0.50 s is under 1 … 5 s of room tone at the end" in line
    assert "noise_floor" not in line
    qc = _validate(tmp_path / "b" / "out" / "ch1.manifest.json")["qc"]
    assert qc["room_tone_head_ms"] == pytest.approx(200.0, abs=10.0) and qc["room_tone_tail_ms"] == pytest.approx(
        500.0, abs=10.0
    )


def test_noise_floor_rms_and_range_of_a_known_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    t = np.arange(3 * RATE_HZ) / RATE_HZ
    tone = 10 ** (-17 / 20) * math.sqrt(2) * np.sin(2 * np.pi * 1000 * t)  # -17 dBFS RMS
    noise = rng.standard_normal(RATE_HZ) * 10 ** (-70 / 20)  # 1 s at -70 dBFS RMS
    samples = np.concatenate([tone, noise]).astype(np.float32)[:, None]
    (tmp_path / "k.wav").write_bytes(write_wav(Audio(samples, RATE_HZ)))
    figures = measure_file(tmp_path / "k.wav")
    assert abs(figures.noise_floor_dbfs - -70.0) <= 0.3
    whole = 10 * math.log10((3 * 10 ** (-17 / 10) + 10 ** (-70 / 10)) / 4)
    assert abs(figures.rms_dbfs - whole) <= 0.05
    assert abs(figures.sample_peak_dbfs - -14.0) <= 0.05 and figures.true_peak_dbtp >= figures.sample_peak_dbfs
    assert figures.channels == 1 and figures.frames == 4 * RATE_HZ
    t = np.arange(10 * RATE_HZ) / RATE_HZ
    loud, soft = (10 ** (db / 20) * np.sin(2 * np.pi * 1000 * t) for db in (-20, -30))
    two_levels = np.concatenate([loud, soft]).astype(np.float32)[:, None]  # 10 s each: a 10 LU range
    (tmp_path / "r.wav").write_bytes(write_wav(Audio(two_levels, RATE_HZ)))
    assert 9.0 <= measure_file(tmp_path / "r.wav").loudness_range_lu <= 10.5


@pytest.mark.parametrize(
    ("recipe", "where", "message"),
    [
        (
            "output: out/a.mp3\noutputs:\n  - {path: out/b.mp3}\n",
            (7, 1),
            "a recipe has `output:` or `outputs:`, not both",
        ),
        ("outputs:\n  - {path: out/a.mp3, bit_depth: 16}\n", (8, 5), "bit_depth applies to wav and flac, not mp3"),
        ("outputs:\n  - {path: out/a.mp3}\n  - {path: b/a.mp3}\n", (9, 12), "two outputs are named 'a.mp3'"),
        (  # one file where names are case-insensitive (macOS, Windows), so their sidecars too
            "outputs:\n  - {path: out/a.mp3}\n  - {path: out/A.mp3}\n",
            (9, 12),
            "two outputs are named 'a.mp3' and 'A.mp3'",
        ),
        (
            "outputs:\n  - {path: out/a.mp3, preset: audiobook, bitrate: 128k}\n",
            (8, 5),
            "the audiobook preset (ACX) needs an mp3 of 192 kbps or more, not 128k",
        ),
        (
            "outputs:\n  - {path: out/a.m4a, preset: speech-mono, channels: 2}\n",
            (8, 5),
            "the speech-mono preset is 1-channel, not 2",
        ),
        ("outputs:\n  - {path: ../a.mp3}\n", (8, 12), "output '../a.mp3' is outside the recipe's folder"),
        (
            "outputs:\n  - {path: out/a.wav, format: mp3}\n",
            (8, 12),
            "output 'out/a.wav' does not end in .mp3, the extension of format mp3",
        ),
        (
            "outputs:\n  - {path: out/a.mp3, preset: loud}\n",
            (8, 31),
            "'loud' is not one of: podcast, streaming, ebu-r128, atsc-a85, speech-mono, audiobook",
        ),
    ],
)
def test_bad_output_entries_are_located(tmp_path: Path, recipe: str, where: tuple[int, int], message: str) -> None:
    path = _recipe(tmp_path, recipe)
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    error = caught.value
    text = str(error)
    assert message in text, text
    assert text.startswith(f"{path}:{where[0]}:"), text


LOSSY = """\
outputs:
  - {path: out/feed.mp3, preset: podcast, bitrate: 128k}
  - {path: out/apple.m4a, preset: streaming}
  - {path: out/web.opus, preset: ebu-r128, bitrate: 96k}
  - {path: out/tv.ogg, preset: atsc-a85}
  - {path: out/talk.mp3, preset: speech-mono, bitrate: 96k}
"""


def test_every_lossy_format_lands_within_0_2_lu_of_its_preset_on_the_decoded_file(tmp_path: Path) -> None:
    report = _run(_recipe(tmp_path, LOSSY), tmp_path / "cache")
    targets = {"feed.mp3": -16.0, "apple.m4a": -14.0, "web.opus": -23.0, "tv.ogg": -24.0, "talk.mp3": -19.0}
    ceilings = {"feed.mp3": -1.0, "apple.m4a": -1.0, "web.opus": -1.0, "tv.ogg": -2.0, "talk.mp3": -1.0}
    for bounced in report.outputs:
        name = bounced.path.name
        assert abs(_lufs(bounced.path) - targets[name]) <= 0.2, name
        qc = _validate(bounced.manifest_path)["qc"]
        assert qc["pass"] and qc["true_peak_dbtp"] <= ceilings[name], (name, qc)
        assert abs(qc["integrated_lufs"] - targets[name]) <= 0.2, name


def test_plan_and_run_print_every_output(tmp_path: Path) -> None:
    outputs = "outputs:\n  - {path: out/ep.mp3}\n  - {path: out/ep.m4b, preset: audiobook}\n"
    path, runner = _recipe(tmp_path, outputs), CliRunner()
    cache = ["--cache-dir", str(tmp_path / "cache")]
    planned = runner.invoke(cli, ["plan", str(path), *cache])
    assert planned.exit_code == 0, planned.output
    lines = [line for line in planned.stdout.splitlines() if line.startswith("output ")]
    assert [line.split(" ← ")[1].split(" (")[0] for line in lines] == ["master", "master:ep.m4b"]
    assert lines[1].endswith("(m4b 192k 44100 Hz stereo; audiobook -20 dB RMS, ≤ -3 dBTP)")
    ran = runner.invoke(cli, ["run", str(path), *cache])
    assert ran.exit_code == 0, ran.output
    wrote = [line for line in ran.stdout.splitlines() if line.startswith("wrote ")]
    assert len(wrote) == 2 and wrote[0].endswith("QC pass (podcast)") and wrote[1].endswith("QC pass (audiobook)")
    assert " dB RMS" in wrote[1] and " dB RMS" not in wrote[0]


def test_the_masters_figures_are_kept_with_its_record_and_read_back(tmp_path: Path) -> None:
    from audioflow.audio.qc import FileFigures
    from audioflow.cache.records import META_FIELDS
    from audioflow.engine.meta import StepMeta

    figures = FileFigures(44100, 2, 441000, -16.0, 3.2, -1.1, -1.3, -19.5, -math.inf)
    meta = StepMeta(10000.0, 44100, 2, qc_figures=figures)
    data = json.loads(json.dumps(meta.to_json()))
    assert data["qc_figures"]["noise_floor_dbfs"] is None
    assert META_FIELDS["qc_figures"][1](data["qc_figures"])
    assert not META_FIELDS["qc_figures"][1]({**data["qc_figures"], "rms_dbfs": "loud"})
    assert StepMeta.from_json(data).qc_figures == figures
    path = _recipe(tmp_path, "output: out/ep.mp3\n")
    first = _run(path, tmp_path / "cache").outputs[0].manifest.to_json()["qc"]
    again = _run(path, tmp_path / "cache")
    assert again.result.count("rendered") == 0 and again.outputs[0].manifest.to_json()["qc"] == first


def test_a_mono_preset_makes_a_mono_mix_where_pan_is_refused(tmp_path: Path) -> None:
    path = _recipe(tmp_path, "output: out/a.mp3\nmaster: {preset: speech-mono}\n")
    path.write_text(path.read_text().replace("  - {track: read}", "  - {track: read, effects: [{pan: 0.5}]}"))
    with pytest.raises(RecipeError, match="pan places a sound between two speakers, but the master is mono"):
        load_recipe(path)
    stereo = "outputs:\n  - {path: out/a.mp3, preset: speech-mono}\n  - {path: out/b.wav}\n"
    assert load_recipe(_recipe(tmp_path / "s", stereo)).outputs[0].master.channels == 1  # the mix stays stereo


def test_chapters_go_into_every_output_and_their_sidecars_per_output(tmp_path: Path) -> None:
    outputs = "chapters:\n  - {at: 0s, title: Opening}\n  - {at: 6s, title: Later}\n" + THREE
    report = _run(_recipe(tmp_path, outputs), tmp_path / "cache")
    for bounced in report.outputs:
        data = _validate(bounced.manifest_path)
        assert [c["title"] for c in data["chapters"]] == ["Opening", "Later"]
        document = json.loads((bounced.path.parent / data["chapters_file"]).read_text())
        assert data["chapters_file"] == f"{bounced.path.name}.chapters.json"
        assert [c["startTime"] for c in document["chapters"]] == [0, 6]
    chaps = mutagen.File(tmp_path / "out" / "ep.mp3").tags.getall("CHAP")
    assert sorted(c.start_time for c in chaps) == [0, 6000]
