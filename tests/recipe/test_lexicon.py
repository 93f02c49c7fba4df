"""The pronunciation lexicon: what each provider is sent, digests of exactly the changed lines,
per-voice and per-provider entries, warnings where a provider cannot honour an entry."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioflow.cli import cli
from audioflow.engine.facade import make_providers
from audioflow.engine.preflight import build_request
from audioflow.engine.staleness import resolve_digest
from audioflow.errors import RecipeError
from audioflow.recipe import expand, load_recipe
from audioflow.steps import LinesPayload

RECIPE = """\
audioflow: 1
cast:
  jack: {{}}
  algy: {{{algy}}}
steps:
  scene:
    dialogue:
      - jack: I have a friend called Bunbury.
      - algy: Is that so?
      - jack: Doctor Chasuble is coming to tea.
      - algy: And Algy is hungry.
      - jack: Nothing else to say.
mix:
  - {{track: scene}}
{lexicon}"""


def _graph(write_recipe, lexicon: str = "", algy: str = "", provider: str = "local"):
    return expand(load_recipe(write_recipe(RECIPE.format(lexicon=lexicon, algy=algy))), provider=provider)


def _said(graph) -> dict[str, tuple[str, str | None]]:
    out = {}
    for step_id, step in graph.steps.items():
        if isinstance(step.payload, LinesPayload):
            line = step.payload.lines[0]
            out[step_id] = (line.text, line.say)
    return out


def _digests(graph) -> dict[str, str]:
    """Step digests with stand-in upstream digests (nothing rendered)."""
    providers = make_providers(graph)
    out = {}
    for step_id, step in graph.steps.items():
        model = providers[step.provider].prepare(build_request(step, {})).model if step.provider else None
        upstream = [hashlib.sha256(d.encode()).hexdigest() for d in step.deps]
        out[step_id] = resolve_digest(step, model, upstream)
    return out


def test_a_respelling_is_sent_to_the_model_and_the_text_stays(write_recipe) -> None:
    graph = _graph(write_recipe, "lexicon:\n  Bunbury: BUN-bree\n  doctor chasuble: Doctor CHAZ-yoo-bul\n")
    said = _said(graph)
    assert said["scene[1]"] == ("I have a friend called Bunbury.", "I have a friend called BUN-bree.")
    assert said["scene[3]"] == ("Doctor Chasuble is coming to tea.", "Doctor CHAZ-yoo-bul is coming to tea.")
    assert said["scene[2]"] == ("Is that so?", None)
    assert graph.steps["scene[1]"].payload.lines[0].model_text == "I have a friend called BUN-bree."
    assert graph.warnings == ()


def test_whole_words_only_longest_phrase_first_and_never_twice(write_recipe) -> None:
    lexicon = "lexicon:\n  tea: TEE\n  coming to tea: KUM-ing to TEE\n  Bun: BUNN\n"
    said = _said(_graph(write_recipe, lexicon))
    assert said["scene[1]"] == ("I have a friend called Bunbury.", None)  # "Bun" is not a word of it
    assert said["scene[3]"][1] == "Doctor Chasuble is KUM-ing to TEE."


def test_the_lexicon_changes_the_digest_of_exactly_the_lines_it_changes(write_recipe) -> None:
    before = _digests(_graph(write_recipe))
    after = _digests(_graph(write_recipe, "lexicon:\n  Bunbury: BUN-bree\n  Zanzibar: ZAN-zi-bar\n"))
    changed = {step_id for step_id in before if before[step_id] != after[step_id]}
    # the line, and what sits above it (the dialogue joins its take; the mix and master hold it)
    assert {s for s in changed if s.startswith("scene[")} == {"scene[1]"}
    unused = _digests(_graph(write_recipe, "lexicon:\n  Zanzibar: ZAN-zi-bar\n"))
    assert unused == before  # an entry no line uses changes nothing


def test_a_voice_lexicon_wins_for_its_own_lines_only(write_recipe) -> None:
    graph = _graph(write_recipe, "lexicon:\n  Algy: AL-ghee\n", algy="lexicon: {Algy: AL-jee}")
    said = _said(graph)
    assert said["scene[4]"][1] == "And AL-jee is hungry."
    graph = _graph(write_recipe, "", algy="lexicon: {Bunbury: BUN-bree}")
    assert _said(graph)["scene[1]"][1] is None  # jack's line: algy's lexicon does not apply


def test_per_provider_entries_and_the_local_voice_ipa_form(write_recipe) -> None:
    lexicon = (
        "lexicon:\n  Bunbury: {say: BUN-bree, ipa: ˈbʌnbɹi}\n  Chasuble: {say: CHAZ-yoo-bul, providers: [segmind]}\n"
    )
    local = _said(_graph(write_recipe, lexicon))
    assert local["scene[1]"][1] == "I have a friend called [[ ˈbʌnbɹi ]]."
    assert local["scene[3]"][1] is None  # a segmind-only entry
    remote = _said(_graph(write_recipe, lexicon, provider="segmind"))
    assert remote["scene[1]"][1] == "I have a friend called BUN-bree."
    assert remote["scene[3]"][1] == "CHAZ-yoo-bul".join(["Doctor ", " is coming to tea."])


def test_a_host_that_cannot_honour_an_entry_is_warned_about(write_recipe) -> None:
    lexicon = "lexicon:\n  Bunbury: {ipa: ˈbʌnbɹi}\n"
    assert _graph(write_recipe, lexicon).warnings == ()
    graph = _graph(write_recipe, lexicon, provider="fal")
    assert _said(graph)["scene[1]"][1] is None  # sent as written
    (warning,) = graph.warnings
    assert warning.endswith(
        ":16:3: warning: lexicon entry 'Bunbury' has only an ipa form, which only the local voice can speak: "
        "fal is sent the word as written (scene[1]); add `say:` with a respelling"
    )
    result = CliRunner().invoke(cli, ["validate", "--provider", "fal", str(graph.recipe.path)])
    assert result.exit_code == 0 and warning in result.stderr


def test_a_scene_request_carries_the_respelling(write_recipe) -> None:
    text = RECIPE.format(lexicon="lexicon:\n  Bunbury: BUN-bree\n", algy="").replace(
        "  scene:\n", "  scene:\n    render: scene\n"
    )
    graph = expand(load_recipe(write_recipe(text)), provider="segmind")
    step = graph.steps["scene"]
    prepared = make_providers(graph)["segmind"].prepare(build_request(step, {}))
    assert "BUN-bree" in str(prepared.key) and "Bunbury" not in str(prepared.key)
    assert step.payload.lines[0].text == "I have a friend called Bunbury."


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("Bunbury: {providers: [local]}", ":16:3: lexicon entry 'Bunbury' needs `say:` (a respelling) or `ipa:`"),
        ("Bunbury: {ipa: 'ˈbʌn. bɹi'}", ":16:18: an ipa form holds phonemes only, not '.'"),
        ("'...': dots", ":16:3: lexicon entry '...' has no word to match"),
    ],
)
def test_bad_entries_are_located(write_recipe, entry: str, message: str) -> None:
    with pytest.raises(RecipeError) as info:
        _graph(write_recipe, f"lexicon:\n  {entry}\n")
    assert message in str(info.value)


def test_phonemes_the_local_voice_cannot_speak_are_refused_before_rendering(write_recipe) -> None:
    graph = _graph(write_recipe, "lexicon:\n  Bunbury: {ipa: ˈbʌn🙂bɹi}\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", str(graph.recipe.path)])
    assert result.exit_code == 2
    assert "holds '🙂', which Piper voice en_US-joe-medium cannot speak" in result.stderr


@pytest.mark.slow
def test_the_local_voice_speaks_the_phonemes_and_the_transcript_keeps_the_word(write_recipe, tmp_path: Path) -> None:
    from audioflow.engine import open_project

    recipe = write_recipe(
        "audioflow: 1\ncast: {jack: {display_name: Jack Worthing}}\n"
        "lexicon:\n  Bunbury: {say: BUN-bree, ipa: ˈbʌnbɹi}\n"
        "steps:\n  line: {speak: Bunbury is ill., voice: jack}\nmix:\n  - {track: line}\n"
    )
    report = open_project(recipe, cache_dir=tmp_path / "cache").run()
    assert report.result.ok
    transcript = (recipe.parent / "out" / "recipe.srt").read_text()
    assert "Jack Worthing: Bunbury is ill." in transcript and "bʌn" not in transcript
    vtt = (recipe.parent / "out" / "recipe.vtt").read_text()
    assert "<v Jack Worthing>Bunbury is ill." in vtt
    assert report.manifest is not None and report.manifest.to_json()["speakers"] == {"jack": "Jack Worthing"}
