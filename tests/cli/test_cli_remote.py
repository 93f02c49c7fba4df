"""Recipe errors the remote providers raise before anything is sent: exact lines, exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

from audioflow.audio import Audio, write_wav


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("SEGMIND_API_KEY", "FAL_KEY", "EVOLINK_API_KEY", "AUDIOFLOW_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    tone = Audio((0.1 * np.sin(np.arange(24000 * 8) * 2 * np.pi * 150 / 24000)).astype(np.float32)[:, None], 24000)
    for name in ("a", "b", "c", "d"):
        (tmp_path / f"{name}.wav").write_bytes(write_wav(tone))
    return tmp_path


SCENE = """\
audioflow: 1
provider: segmind
cast:
  ann: {clone: a.wav}
  bob: {clone: b.wav}
  cy: {clone: c.wav}
  dee: {clone: d.wav}
steps:
  talk:
    render: scene
    dialogue:
      - ann: One.
      - bob: Two.
      - cy: Three.
      - dee: Four.
mix:
  - {track: talk}
"""


def test_a_scene_citing_four_cloned_voices_is_split_and_plan_shows_the_parts(folder: Path) -> None:
    (folder / "r.yaml").write_text(SCENE)
    assert invoke("validate", "r.yaml").exit_code == 0
    result = invoke("plan", "r.yaml")
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("stale")}
    assert "scene     segmind  lines 1–3 · upstream stale: cast.ann, cast.bob, cast.cy" in rows["talk#1"]
    assert "scene     segmind  lines 4–4 · upstream stale: cast.dee" in rows["talk#2"]
    assert "dialogue  -        upstream stale: talk#1, talk#2" in rows["talk"]
    parts = json.loads(invoke("plan", "r.yaml", "--json").stdout)["steps"]
    assert [(p["id"], p.get("lines")) for p in parts if p["id"].startswith("talk")] == [
        ("talk#1", [1, 3]),
        ("talk#2", [4, 4]),
        ("talk", None),
    ]
    generate = SCENE.replace("  talk:\n    render: scene\n", "  talk:\n    generate: '@ann @bob @cy @dee sing'\n")
    generate = generate.replace("    dialogue:\n      - ann: One.\n      - bob: Two.\n", "    duration: 5s\n")
    (folder / "r.yaml").write_text(generate.replace("      - cy: Three.\n      - dee: Four.\n", ""))
    result = invoke("validate", "r.yaml")
    assert result.exit_code == 2  # a generate prompt is one request: four references stay an error
    assert "step talk: segmind: 4 voices are referenced in one request" in result.stderr
    # the hint fits a prompt (the old one said to split the scene or render it line by line)
    assert "cite at most 3 voices with a reference clip in one prompt or line" in result.stderr


def test_a_reference_image_with_reference_audio_is_a_recipe_error(folder: Path) -> None:
    (folder / "r.yaml").write_text(
        SCENE.replace("    render: scene\n", "    render: scene\n    image: https://example.com/mood.png\n").replace(
            "      - cy: Three.\n      - dee: Four.\n", ""
        )
    )
    result = invoke("validate", "r.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith("r.yaml:9:3: step talk: segmind: Seed Audio takes a reference image or")


def test_a_prompt_over_the_hosts_limit_is_a_recipe_error(folder: Path) -> None:
    long = "word " * 350  # 1750 characters: over Evolink's 1500, under Segmind's 2048
    text = (
        "audioflow: 1\nprovider: evolink\nsteps:\n"
        f"  bed: {{generate: {long.strip()}, duration: 10s}}\nmix:\n  - {{track: bed}}\n"
    )
    (folder / "r.yaml").write_text(text)
    result = invoke("validate", "r.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "r.yaml:4:3: step bed: evolink: the prompt is 1749 characters; evolink takes at most 1500"
    )
    assert invoke("validate", "r.yaml", "--provider", "segmind").exit_code == 0


def test_evolink_refuses_a_local_reference_clip_before_sending(folder: Path) -> None:
    two = SCENE.replace("      - cy: Three.\n      - dee: Four.\n", "")
    (folder / "r.yaml").write_text(two.replace("provider: segmind", "provider: evolink"))
    result = invoke("validate", "r.yaml")
    assert result.exit_code == 2
    assert "Evolink cannot take a local audio file" in result.stderr
    result = invoke("run", "r.yaml")
    assert result.exit_code == 2  # refused before any key is needed or anything is sent


def test_offline_isolate_outside_its_vocabulary_is_a_recipe_error(folder: Path) -> None:
    text = "audioflow: 1\nsteps:\n  dog: {isolate: {audio: a.wav, describe: a dog barking}}\nmix:\n  - {track: dog}\n"
    (folder / "r.yaml").write_text(text)
    result = invoke("validate", "r.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith("r.yaml:3:3: step dog: local: ")
    assert "--provider segmind" in result.stderr
    assert invoke("validate", "r.yaml", "--provider", "segmind").exit_code == 0


def test_an_openvoice_reference_shorter_than_5_s_is_refused_before_spending(folder: Path) -> None:
    short = Audio(np.zeros((24000 * 3, 1), np.float32) + 0.01, 24000)
    (folder / "short.wav").write_bytes(write_wav(short))
    text = (
        "audioflow: 1\nprovider: segmind\ncast:\n  ann: {clone: {audio: short.wav, model: openvoice}}\n"
        "steps:\n  hi: {speak: Hello., voice: ann}\nmix:\n  - {track: hi}\n"
    )
    (folder / "r.yaml").write_text(text)
    result = invoke("plan", "r.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith("r.yaml:4:24: reference clip short.wav gives 3.0 s of audio; the cloning model")


def test_an_unknown_citation_in_a_prompt_is_located(folder: Path) -> None:
    text = (
        "audioflow: 1\ncast:\n  mara: {clone: a.wav}\n"
        "steps:\n  sting: {generate: '@mrra gasps', duration: 2s}\nmix:\n  - {track: sting}\n"
    )
    (folder / "r.yaml").write_text(text)
    result = invoke("validate", "r.yaml")
    assert result.exit_code == 2
    assert result.stderr == "r.yaml:5:21: @mrra cites no cast voice (did you mean 'mara'?)\n"


def test_plan_shows_the_estimated_cost_and_budget_refuses_unknown_prices(folder: Path) -> None:
    (folder / "r.yaml").write_text(SCENE.replace("      - cy: Three.\n      - dee: Four.\n", ""))
    result = invoke("plan", "r.yaml")
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout.splitlines()[-1] == "estimated cost on segmind: ~$0.0000 for 1 paid requests + 1 of unknown price"
    )
    result = invoke("run", "r.yaml", "--budget", "5")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot hold to a budget: segmind publishes no price")
    priced = SCENE.replace("provider: segmind", "provider: fal").replace("      - cy: Three.\n      - dee: Four.\n", "")
    (folder / "r.yaml").write_text(priced)
    result = invoke("plan", "r.yaml")
    assert result.stdout.splitlines()[-1].startswith("estimated cost on fal: ~$0.00")


NO_VOICE = """\
audioflow: 1
cast:
  n: {preset: {segmind: en_male_bruce_uranus_bigtts}}
  m: {preset: {local: deep}}
steps:
  talk:
    dialogue:
      - n: Hello.
      - m: Hi.
mix:
  - {track: talk}
"""


def test_validate_and_plan_warn_before_paying_where_a_host_would_receive_no_voice(folder: Path) -> None:
    (folder / "r.yaml").write_text(NO_VOICE)
    want = [
        "r.yaml:8:9: warning: fal receives no voice for 'n' (its preset is for segmind): no reference clip and no "
        "fal preset, so the model picks a voice — add preset: {fal: ID}",
        "r.yaml:9:9: warning: fal receives no voice for 'm' (its preset is for local): no reference clip and no "
        "fal preset, so the model picks a voice — add preset: {fal: ID}",
    ]
    checked = invoke("validate", "r.yaml", "--provider", "fal")
    assert checked.exit_code == 0 and checked.stderr.splitlines() == want  # was: said only after paying
    assert json.loads(invoke("validate", "r.yaml", "--provider", "fal", "--json").stdout)["warnings"] == want
    planned = invoke("plan", "r.yaml", "--provider", "fal")
    assert planned.exit_code == 0 and planned.stderr.splitlines() == want
    assert invoke("validate", "r.yaml", "--provider", "evolink").stderr.splitlines() == [
        "r.yaml:9:9: warning: evolink receives no voice for 'm' (its preset is for local): no reference clip and "
        "no evolink preset, so the model picks a voice — add preset: {evolink: ID}"
    ]  # n's segmind preset id is carried to Evolink
