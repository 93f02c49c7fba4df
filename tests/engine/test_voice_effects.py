"""Effects on voices and tracks: part of the step digest of the artifact they change, never of a
paid take's request — changing an effect never pays again; a panned voice comes out stereo."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FakeProvider

from audioflow.audio import read_wav
from audioflow.engine import StepStatus, open_project
from audioflow.engine.facade import make_providers
from audioflow.engine.preflight import build_request, take_digest
from audioflow.errors import RecipeError
from audioflow.providers import PreparedRequest, RenderRequest
from audioflow.recipe import expand, load_recipe

RECIPE = """\
audioflow: 1
provider: paid
cast:
  ghost: {{effects: {voice_effects}}}
  mara: {{}}
steps:
  scene:
    dialogue:
      - ghost: Who walks there?
      - mara: Only the wind.
mix:
  - {{track: scene, effects: {track_effects}}}
"""


class PaidFake(FakeProvider):
    """A paid host at $0.01 a request."""

    def __init__(self) -> None:
        super().__init__(name="paid")
        self.local = False

    def prepare(self, request: RenderRequest) -> PreparedRequest:
        prepared = super().prepare(request)
        return PreparedRequest(request, prepared.model, prepared.key, 0.01)


def _recipe(write_recipe, voice_effects: str = "[]", track_effects: str = "[]") -> Path:
    return write_recipe(RECIPE.format(voice_effects=voice_effects, track_effects=track_effects))


def _run(recipe: Path, fake: PaidFake, cache: Path):
    report = open_project(recipe, providers={"paid": fake}, cache_dir=cache).run()
    assert report.result.ok, [o.error for o in report.result.outcomes.values() if o.error]
    return report


def test_changing_a_voice_effect_reshapes_its_lines_and_never_pays_again(write_recipe, tmp_path: Path) -> None:
    fake, cache = PaidFake(), tmp_path / "cache"
    _run(_recipe(write_recipe, "[{distance: far}]"), fake, cache)
    assert sorted(fake.rendered) == ["scene[1]", "scene[2]"]
    report = _run(_recipe(write_recipe, "[{room: hall}, {pan: -0.8}]"), fake, cache)
    assert sorted(fake.rendered) == ["scene[1]", "scene[2]"]  # no new request: the takes are stored
    assert report.result.budget.spent_usd == 0.0
    status = {s: o.status for s, o in report.result.outcomes.items()}
    assert status["scene[1]"] == StepStatus.RENDERED  # reshaped from its stored take
    assert status["scene[2]"] == StepStatus.CACHED  # mara has no effects: untouched
    ghost = report.result.outcomes["scene[1]"]
    assert ghost.meta is not None and ghost.meta.channels == 2  # panned: stereo
    audio = read_wav(ghost.record.artifact.path)
    left, right = (audio.samples[:, 0] ** 2).sum(), (audio.samples[:, 1] ** 2).sum()
    assert left > 10 * right  # placed well to the left
    assert ghost.meta.speech_ms[-1][1] < ghost.meta.duration_ms  # the hall's tail is not speech


def test_changing_a_track_effect_remixes_and_renders_no_line(write_recipe, tmp_path: Path) -> None:
    fake, cache = PaidFake(), tmp_path / "cache"
    _run(_recipe(write_recipe), fake, cache)
    report = _run(_recipe(write_recipe, track_effects="[telephone]"), fake, cache)
    rendered = {s for s, o in report.result.outcomes.items() if o.status == StepStatus.RENDERED}
    assert rendered == {"mix", "master"}
    assert len(fake.rendered) == 2


@pytest.mark.parametrize("provider", ["segmind", "fal", "evolink", "local"])
def test_effects_are_in_the_step_digest_and_never_in_a_paid_takes_key(write_recipe, provider: str) -> None:
    keys, params = [], []
    for effects in ("[]", "[{pan: 0.5}, telephone]", "[{distance: offstage}]"):
        text = RECIPE.format(voice_effects=effects, track_effects="[]").replace("provider: paid\n", "")
        graph = expand(load_recipe(write_recipe(text)), provider=provider)
        step = graph.steps["scene[1]"]
        prepared = make_providers(graph)[provider].prepare(build_request(step, {}))
        keys.append(take_digest(step, provider, prepared))
        params.append(step.params)
    assert keys[0] == keys[1] == keys[2]
    assert params[0] != params[1] != params[2] != params[0]
    assert "effects" not in params[0]["voice"]  # a voice with no effects keeps its canonical form


def test_a_scene_take_cannot_apply_one_voices_effects(write_recipe) -> None:
    text = RECIPE.format(voice_effects="[{room: small}]", track_effects="[]").replace(
        "  scene:\n", "  scene:\n    render: scene\n"
    )
    with pytest.raises(RecipeError) as info:
        expand(load_recipe(write_recipe(text)))
    assert ":4:11: voice 'ghost' has effects, which a whole-scene take (render: scene) cannot apply" in str(info.value)


@pytest.mark.parametrize(
    ("effects", "message"),
    [
        ("[{room: cathedral}]", "4:28: 'cathedral' is not a room (choose one of: small, medium, large, hall)"),
        ("[{distance: farr}]", "4:32: 'farr' is not a distance (did you mean 'far'?)"),
        ("[{highpass: 2 Hz}]", "4:32: '2 Hz' is out of range: must be 20 Hz to 20 kHz"),
        ("[{low_shelf: {gain_db: 40}}]", "4:43: 40 dB is out of range: a shelf is -24 to 24 dB"),
        ("[{pan: 2}]", "4:27: 2 is out of range: must be at most 1"),
        ("[telefone]", "4:21: 'telefone' is not a band-limited voice (a bare effect word) (did you mean 'telephone'?)"),
        (
            "[{pan: 1, lowpass: 3 kHz}]",
            "4:21: one effect per item: write `- pan: 1` and `- lowpass: 3 kHz` as items of their own",
        ),
    ],
)
def test_bad_effects_are_located(write_recipe, effects: str, message: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(_recipe(write_recipe, effects))
    assert message in str(info.value)


def test_pan_needs_a_stereo_master(write_recipe) -> None:
    path = write_recipe(RECIPE.format(voice_effects="[]", track_effects="[{pan: 0.3}]") + "master: {channels: 1}\n")
    with pytest.raises(RecipeError, match="pan places a sound between two speakers, but the master is mono"):
        load_recipe(path)
