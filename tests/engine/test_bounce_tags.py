"""The recipe's ``meta:`` block: tags and artwork in the bounced file, checked at validate, in no digest."""

from __future__ import annotations

import mutagen
import pytest
from click.testing import CliRunner
from conftest import BASIC_RECIPE, FakeProvider
from mutagen.id3 import ID3
from PIL import Image

from audioflow.cli import cli
from audioflow.engine import open_project
from audioflow.errors import RecipeError
from audioflow.recipe import load_recipe

META = """\
meta:
  title: The Door
  show: Night Shift
  author: Ana Ruiz
  episode: 12
  season: 2
  date: 2025-03-14
  description: Mara hears something at the door.
  language: en
  copyright: © 2025 Ana Ruiz
  explicit: false
  cover: art/cover.png
"""


def _recipe(tmp_path, meta: str = META, output: str = "out/test.mp3"):
    (tmp_path / "art").mkdir(exist_ok=True)
    Image.new("RGB", (1400, 1400), (30, 60, 90)).save(tmp_path / "art" / "cover.png")
    text = BASIC_RECIPE.replace("output: out/test.wav", f"output: {output}") + meta
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "output", ["out/test.mp3", "out/test.flac", "out/test.opus", "out/test.wav", "out/test.m4a", "out/test.m4b"]
)
def test_the_output_carries_the_meta_and_the_cover(tmp_path, output: str) -> None:
    path = _recipe(tmp_path, output=output)
    report = open_project(path, providers={"local": FakeProvider()}, cache_dir=tmp_path / "c").run(jobs=4)
    assert report.output == tmp_path / output
    tagged = mutagen.File(report.output)
    cover = (tmp_path / "art" / "cover.png").read_bytes()
    if output.endswith((".mp3", ".wav")):
        tags = tagged.tags
        assert str(tags["TIT2"]) == "The Door" and str(tags["TALB"]) == "Night Shift"
        assert str(tags["TRCK"]) == "12" and str(tags["TDRC"]) == "2025-03-14"
        assert tags.getall("APIC")[0].data == cover
    elif output.endswith((".m4a", ".m4b")):
        assert tagged.info.codec == "mp4a.40.2"  # AAC-LC
        assert tagged.tags["\xa9nam"] == ["The Door"] and tagged.tags["trkn"] == [(12, 0)]
        assert bytes(tagged.tags["covr"][0]) == cover
    else:
        assert tagged.tags["TITLE"] == ["The Door"] and tagged.tags["ARTIST"] == ["Ana Ruiz"]
        assert tagged.tags["DATE"] == ["2025-03-14"]
        assert "METADATA_BLOCK_PICTURE" in tagged.tags or tagged.pictures[0].data == cover


def test_the_recipe_title_is_the_default_title_and_no_meta_still_tags_it(tmp_path) -> None:
    path = _recipe(tmp_path, meta="")
    report = open_project(path, providers={"local": FakeProvider()}, cache_dir=tmp_path / "c").run(jobs=4)
    tags = mutagen.File(report.output).tags
    assert str(tags["TIT2"]) == "Test" and "APIC:" not in tags


def test_changing_the_meta_renders_nothing_again_and_retags(tmp_path) -> None:
    path, fake = _recipe(tmp_path), FakeProvider()
    open_project(path, providers={"local": fake}, cache_dir=tmp_path / "c").run(jobs=4)
    path.write_text(path.read_text().replace("title: The Door", "title: The Other Door"), encoding="utf-8")
    again = open_project(path, providers={"local": fake}, cache_dir=tmp_path / "c").run(jobs=4)
    assert again.result.count("rendered") == 0
    assert str(mutagen.File(again.output).tags["TIT2"]) == "The Other Door"


def test_id3_2_3_is_chosen_in_meta_and_only_retags(tmp_path) -> None:
    path, fake = _recipe(tmp_path), FakeProvider()
    first = open_project(path, providers={"local": fake}, cache_dir=tmp_path / "c").run(jobs=4)
    assert mutagen.File(first.output).tags.version == (2, 4, 0)
    path.write_text(path.read_text() + '  id3: "2.3"\n', encoding="utf-8")
    again = open_project(path, providers={"local": fake}, cache_dir=tmp_path / "c").run(jobs=4)
    tags = ID3(again.output, translate=False)  # as written, not upgraded to v2.4 in memory
    assert again.result.count("rendered") == 0 and tags.version == (2, 3, 0)
    assert str(tags["TIT2"]) == "The Door" and str(tags["TYER"]) == "2025" and tags.getall("APIC")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("episode: 12", "episode: -1", "-1 is out of range: must be at least 0"),
        ("season: 2", "season: 1.5", "expected integer, got a number"),
        ("date: 2025-03-14", "date: 14/03/2025", "invalid value '14/03/2025': an ISO 8601 date: 2025, 2025-03"),
        ("date: 2025-03-14", "date: 2025-02-30", "'2025-02-30' is not a date"),
        ("language: en", "language: english_uk", "invalid value 'english_uk': a BCP 47 language tag: en, en-GB or eng"),
        ("cover: art/cover.png", "cover: ../cover.png", "cover image '../cover.png' is outside the recipe's folder"),
        ("cover: art/cover.png", "cover: art/none.png", "cover image 'art/none.png' not found"),
        ("explicit: false", "id3: 2.2", "2.2 is not one of"),
    ],
)
def test_a_bad_meta_value_is_a_located_error(tmp_path, old: str, new: str, message: str) -> None:
    path = _recipe(tmp_path, META.replace(old, new))
    (tmp_path.parent / "cover.png").write_bytes(b"")
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    line = path.read_text().splitlines().index(f"  {new}") + 1
    assert caught.value.location is not None and caught.value.location.line == line
    assert message in str(caught.value)


def test_validate_refuses_a_cover_hosts_would_refuse_at_its_line(tmp_path, monkeypatch) -> None:
    path = _recipe(tmp_path)
    Image.new("RGB", (1000, 1000)).save(tmp_path / "art" / "cover.png")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", "recipe.yaml"])
    line = path.read_text().splitlines().index("  cover: art/cover.png") + 1
    assert result.exit_code == 2
    assert result.stderr == f"recipe.yaml:{line}:10: cover image is 1000×1000 px: hosts take 1400–3000 px a side\n"


def test_an_output_may_not_replace_the_cover(tmp_path, monkeypatch) -> None:
    path = _recipe(tmp_path, META.replace("art/cover.png", "out/test.srt"))
    (tmp_path / "out").mkdir()
    Image.new("RGB", (1400, 1400)).save(tmp_path / "out" / "test.srt", "PNG")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", path.name])
    assert result.exit_code == 2
    assert "the .srt transcript 'out/test.srt' would replace cover image 'out/test.srt'" in result.stderr
