"""Plan and run with a fake provider: reasons, staleness, concurrency, failures, the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import BASIC_RECIPE, FakeProvider

from audioflow.audio import Audio
from audioflow.engine import open_project
from audioflow.errors import RecipeError
from audioflow.providers import RenderRequest

ALL = ["scene[1]", "scene[2]", "scene[3]", "scene", "rain", "mix", "master"]


def _project(path: Path, fake: FakeProvider, cache: Path, **kw):
    return open_project(path, providers={fake.name: fake}, cache_dir=cache, **kw)


def _plan(path: Path, fake: FakeProvider, cache: Path) -> dict[str, tuple[str, str]]:
    return {s: (p.status, p.reason) for s, p in _project(path, fake, cache).plan().steps.items()}


def test_first_plan_says_never_rendered_and_upstream_stale(write_recipe, tmp_path: Path) -> None:
    plan = _plan(write_recipe(BASIC_RECIPE), FakeProvider(), tmp_path / "c")
    assert plan == {
        "scene[1]": ("stale", "never rendered"),
        "scene[2]": ("stale", "never rendered"),
        "scene[3]": ("stale", "never rendered"),
        "scene": ("stale", "upstream stale: scene[1], scene[2], scene[3]"),
        "rain": ("stale", "never rendered"),
        "mix": ("stale", "upstream stale: scene, rain"),
        "master": ("stale", "upstream stale: mix"),
    }


def test_run_then_everything_is_cached_and_a_second_run_renders_nothing(write_recipe, tmp_path: Path) -> None:
    path, fake = write_recipe(BASIC_RECIPE), FakeProvider()
    report = _project(path, fake, tmp_path / "c").run(jobs=4)
    assert {s: o.status for s, o in report.result.outcomes.items()} == dict.fromkeys(ALL, "rendered")
    assert sorted(fake.rendered) == ["rain", "scene[1]", "scene[2]", "scene[3]"]
    assert _plan(path, fake, tmp_path / "c") == {
        **dict.fromkeys(ALL, ("up-to-date", "cached")),
        "rain": ("up-to-date", "cached (placeholder)"),
    }
    again = _project(path, fake, tmp_path / "c").run(jobs=4)
    assert again.result.count("rendered") == 0
    assert again.result.count("cached") == 7
    assert len(fake.rendered) == 4
    assert again.output == path.parent / "out" / "test.wav"


def test_editing_one_line_makes_exactly_it_and_what_depends_on_it_stale(write_recipe, tmp_path: Path) -> None:
    path, fake = write_recipe(BASIC_RECIPE), FakeProvider()
    _project(path, fake, tmp_path / "c").run()
    path.write_text(BASIC_RECIPE.replace("Hi, Mara.", "Hi, Mara!"))
    plan = _plan(path, fake, tmp_path / "c")
    assert {s for s, (status, _) in plan.items() if status == "stale"} == {"scene[2]", "scene", "mix", "master"}
    assert plan["scene[2]"] == ("stale", "changed: text")
    assert plan["scene"] == ("stale", "changed: lines[1].text; upstream stale: scene[2]")
    assert plan["mix"] == ("stale", "upstream stale: scene")
    fake.rendered.clear()
    report = _project(path, fake, tmp_path / "c").run()
    assert fake.rendered == ["scene[2]"]
    assert [s for s, o in report.result.outcomes.items() if o.status == "rendered"] == [
        "scene[2]",
        "scene",
        "mix",
        "master",
    ]


def test_a_retake_re_renders_only_that_line(write_recipe, tmp_path: Path) -> None:
    path, fake = write_recipe(BASIC_RECIPE), FakeProvider()
    _project(path, fake, tmp_path / "c").run()
    path.write_text(BASIC_RECIPE.replace("- mara: Bye.", "- {mara: Bye., take: 2}"))
    plan = _plan(path, fake, tmp_path / "c")
    assert plan["scene[3]"] == ("stale", "changed: take")
    assert plan["scene[1]"] == plan["scene[2]"] == ("up-to-date", "cached")
    fake.rendered.clear()
    _project(path, fake, tmp_path / "c").run()
    assert fake.rendered == ["scene[3]"]


def test_changing_the_model_or_provider_is_a_reason(write_recipe, tmp_path: Path) -> None:
    path = write_recipe(BASIC_RECIPE)
    _project(path, FakeProvider(), tmp_path / "c").run()
    plan = _plan(path, FakeProvider(model="fake-model-2"), tmp_path / "c")
    assert plan["scene[1]"] == ("stale", "changed: model")
    assert plan["rain"] == ("stale", "changed: model")


def test_plan_refuses_an_unknown_provider_before_rendering(write_recipe, tmp_path: Path) -> None:
    path = write_recipe(
        BASIC_RECIPE.replace(
            "{generate: steady rain, duration: 1s}", "{generate: steady rain, duration: 1s, provider: nowhere}"
        )
    )
    fake = FakeProvider()
    with pytest.raises(RecipeError) as info:
        _project(path, fake, tmp_path / "c").plan()
    assert str(info.value) == (f"{path}:12:57: unknown provider 'nowhere' (available: local, segmind, fal, evolink)")
    assert fake.rendered == []


@pytest.mark.parametrize(("limit", "jobs", "expected"), [(2, 8, 2), (8, 1, 1), (3, 8, 3)])
def test_concurrency_is_capped_by_provider_and_jobs(
    write_recipe, tmp_path: Path, limit: int, jobs: int, expected: int
) -> None:
    lines = "\n".join(f"      - {'mara' if i % 2 else 'ben'}: Line {i}." for i in range(6))
    text = BASIC_RECIPE.replace("      - mara: Hello there.\n      - ben: Hi, Mara.\n      - mara: Bye.", lines)
    fake = FakeProvider(max_concurrency=limit, delay_s=0.05)
    report = _project(write_recipe(text), fake, tmp_path / "c").run(jobs=jobs)
    assert report.result.ok
    assert len(fake.rendered) == 7
    assert fake.max_in_flight == expected


@pytest.mark.parametrize("keep_going", [True, False])
def test_a_failed_line_blocks_what_depends_on_it(write_recipe, tmp_path: Path, keep_going: bool) -> None:
    path = write_recipe(BASIC_RECIPE)
    fake = FakeProvider(fail={"scene[2]"}, delay_s=0.02)
    project = _project(path, fake, tmp_path / "c")
    failed_digest = project.plan().steps["scene[2]"].digest
    events: list[tuple[str, str]] = []
    report = project.run(jobs=1, keep_going=keep_going, on_event=lambda e: events.append((e.step_id, e.status)))
    statuses = {s: o.status for s, o in report.result.outcomes.items()}
    assert statuses["scene[2]"] == "failed"
    assert report.result.outcomes["scene[2]"].error == "local HTTP 500 request req-1: refused scene[2]"
    assert statuses["scene"] == statuses["mix"] == statuses["master"] == "blocked"
    assert report.result.outcomes["scene"].error == "upstream step scene[2] did not render"
    assert report.output is None and report.manifest is None
    assert not report.result.ok
    assert statuses["scene[1]"] == "rendered"  # it ran before the failure (jobs=1, recipe order)
    if keep_going:
        assert statuses["scene[3]"] == statuses["rain"] == "rendered"
    else:
        assert statuses["scene[3]"] == statuses["rain"] == "skipped"
    assert failed_digest is not None
    assert project.store.get_step(failed_digest) is None
    assert ("scene[2]", "failed") in events and ("master", "blocked") in events
    # no output, manifest or transcript: only the report page that says what failed
    assert [p.name for p in (path.parent / "out").iterdir()] == ["test.report.html"] == [report.report.name]


def test_the_manifest_lists_every_step(write_recipe, tmp_path: Path) -> None:
    path, fake = write_recipe(BASIC_RECIPE), FakeProvider()
    report = _project(path, fake, tmp_path / "c").run()
    manifest_path = path.parent / "out" / "test.manifest.json"
    assert report.manifest_path == manifest_path
    manifest = json.loads(manifest_path.read_text())
    assert manifest == report.manifest.to_json()
    assert [s["id"] for s in manifest["steps"]] == ALL
    for step in manifest["steps"]:
        assert set(step) == {
            "id",
            "kind",
            "provider",
            "model",
            "take",
            "input_digest",
            "artifact",
            "duration_ms",
            "cached",
            "placeholder",
            "approximate",
            "notes",
        }
        assert len(step["input_digest"]) == 64 and len(step["artifact"]) == 64
        assert step["cached"] is False
    by_id = {s["id"]: s for s in manifest["steps"]}
    assert by_id["scene[1]"]["provider"] == "local" and by_id["scene[1]"]["model"] == "fake-model-1"
    assert by_id["scene"]["provider"] is None
    assert by_id["scene[1]"]["duration_ms"] == 300.0
    assert by_id["rain"]["duration_ms"] == 1000.0
    assert by_id["rain"]["placeholder"] is True and by_id["scene[1]"]["placeholder"] is False
    assert by_id["scene"]["duration_ms"] == 3 * 300.0 + 2 * 350.0
    assert manifest["placeholders"] == ["rain"]
    assert manifest["format"] == "wav" and manifest["output"] == "test.wav"
    assert manifest["rendered"] == 7 and manifest["cached"] == 0
    loudness = manifest["loudness"]
    assert loudness["target_lufs"] == -16.0 and loudness["target_true_peak_dbtp"] == -1.0
    assert abs(loudness["measured_lufs"] - -16.0) <= 0.5
    assert loudness["measured_true_peak_dbtp"] <= -1.0
    assert manifest["duration_ms"] == 1600.0
    assert (path.parent / "out" / "test.wav").is_file()
    srt = (path.parent / "out" / "test.srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> 00:00:00,300\nmara: Hello there.\n")
    second = _project(path, fake, tmp_path / "c").run()
    assert all(s["cached"] for s in second.manifest.to_json()["steps"])


def test_provider_override_changes_the_provider_field(write_recipe, tmp_path: Path) -> None:
    path = write_recipe(BASIC_RECIPE)
    fake = FakeProvider(name="other")
    report = open_project(path, provider="other", providers={"other": fake}, cache_dir=tmp_path / "c").run()
    providers = {s["id"]: s["provider"] for s in report.manifest.to_json()["steps"]}
    assert providers == {
        "scene[1]": "other",
        "scene[2]": "other",
        "scene[3]": "other",
        "scene": None,
        "rain": "other",
        "mix": None,
        "master": None,
    }
    local = _project(path, FakeProvider(), tmp_path / "c").plan()
    assert local.steps["scene[1]"].status == "stale"


def test_a_repeated_line_renders_once_and_the_run_succeeds(write_recipe, tmp_path: Path) -> None:
    # Two steps with one input digest in one run (lane says "Yes, sir." twice in the demo) used to take
    # the same file lock twice from one thread: filelock raised a deadlock error and the run failed.
    text = BASIC_RECIPE.replace("- mara: Bye.", "- mara: Hello there.")
    fake = FakeProvider(max_concurrency=4)
    report = _project(write_recipe(text), fake, tmp_path / "c").run(jobs=4)
    statuses = {s: o.status for s, o in report.result.outcomes.items()}
    assert statuses == {**dict.fromkeys(ALL, "rendered"), "scene[3]": "cached"}
    assert report.result.outcomes["scene[3]"].digest == report.result.outcomes["scene[1]"].digest
    assert sorted(fake.rendered) == ["rain", "scene[1]", "scene[2]"]


def test_a_long_generate_with_extend_join_is_several_requests_crossfaded(write_recipe, tmp_path: Path) -> None:
    text = BASIC_RECIPE.replace(
        "  rain: {generate: steady rain, duration: 1s}\n",
        "  rain: {generate: steady rain, duration: 130s, extend: join}\n",
    ).replace("  - {track: rain, under: scene, gain_db: -20}\n", "  - {track: rain}\n")
    path, fake = write_recipe(text), _FixedLengthFake(30_000.0)  # a host returns what length it likes
    project = _project(path, fake, tmp_path / "c")
    parts = [s for s in project.graph.steps if s.startswith("rain[")]
    assert parts == ["rain[1]", "rain[2]"]
    assert project.graph.steps["rain"].kind == "join"
    assert {project.graph.steps[p].take for p in parts} == {1, 2}  # two different renderings
    assert all(project.graph.steps[p].params["duration_ms"] <= 120_000 for p in parts)
    report = project.run()
    assert report.result.ok
    rain = report.result.outcomes["rain"].record
    assert rain is not None and rain.meta["duration_ms"] == pytest.approx(130_000, abs=1)
    # each part came back 30 s long and was looped to its length
    assert all(any("looped" in n for n in report.result.outcomes[p].record.meta["notes"]) for p in parts)


def test_a_generated_take_longer_than_asked_is_cut_to_length(write_recipe, tmp_path: Path) -> None:
    text = BASIC_RECIPE.replace("duration: 1s}", "duration: 100ms}")
    path, fake = write_recipe(text), _FixedLengthFake(300.0)
    report = _project(path, fake, tmp_path / "c").run()
    assert report.result.outcomes["rain"].record.meta["duration_ms"] == pytest.approx(100, abs=0.1)


class _FixedLengthFake(FakeProvider):
    """A host whose generated sounds are always ``length_ms`` long, whatever was asked."""

    def __init__(self, length_ms: float):
        super().__init__()
        self.length_ms = length_ms

    def audio_for(self, request: RenderRequest) -> Audio:
        if request.kind != "generate":
            return super().audio_for(request)
        frames = int(22050 * self.length_ms / 1000)
        return Audio((0.1 * np.sin(np.arange(frames) * 0.05)).astype(np.float32), 22050)
