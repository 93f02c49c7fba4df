"""YAML loading: locations, duplicate keys, refused tags, alias bombs, encodings."""

from __future__ import annotations

import pytest

from audioflow.errors import RecipeError, SourceLocation
from audioflow.recipe import load_document, parse_document

TEXT = """\
audioflow: 1
title: "Night"
steps:
  rain:   {generate: rain, duration: 2s}
  scene:
    dialogue:
      - mara: Hello.
"""


def test_values_and_keys_have_one_based_locations() -> None:
    doc = parse_document(TEXT, "r.yaml")
    assert doc.data["steps"]["rain"] == {"generate": "rain", "duration": "2s"}
    assert doc.locations[("audioflow",)] == (1, 12)
    assert doc.key_locations[("audioflow",)] == (1, 1)
    assert doc.locations[("title",)] == (2, 8)
    assert doc.key_locations[("steps", "rain")] == (4, 3)
    assert doc.locations[("steps", "rain")] == (4, 11)
    assert doc.key_locations[("steps", "rain", "duration")] == (4, 28)
    assert doc.locations[("steps", "rain", "duration")] == (4, 38)
    assert doc.locations[("steps", "scene", "dialogue", 0)] == (7, 9)
    assert doc.key_locations[("steps", "scene", "dialogue", 0, "mara")] == (7, 9)
    assert doc.locations[("steps", "scene", "dialogue", 0, "mara")] == (7, 15)


def test_locate_falls_back_to_the_nearest_enclosing_value() -> None:
    doc = parse_document(TEXT, "r.yaml")
    assert doc.locate(("steps", "rain", "nope", 3)) == SourceLocation("r.yaml", 4, 11)
    assert doc.locate(("steps", "rain", "duration"), key=True) == SourceLocation("r.yaml", 4, 28)
    assert doc.locate(("nothing",)) == SourceLocation("r.yaml", 1, 1)


def test_keys_that_are_not_strings_become_strings() -> None:
    doc = parse_document("1: a\ntrue: b\n2.5: c\n", "r.yaml")
    assert doc.data == {"1": "a", "true": "b", "2.5": "c"}


def test_timestamps_stay_as_written() -> None:
    assert parse_document("when: 2024-01-02\n").data == {"when": "2024-01-02"}


def _error(text: str) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        parse_document(text, "r.yaml")
    return info.value


def test_duplicate_key_is_refused_at_the_second_key() -> None:
    err = _error("audioflow: 1\ntitle: A\nsteps: {}\ntitle: B\n")
    assert err.message == "duplicate key 'title' (first defined at line 2)"
    assert err.location == SourceLocation("r.yaml", 4, 1)


def test_nested_duplicate_key_is_refused() -> None:
    err = _error("steps:\n  a: {speak: x, speak: y}\n")
    assert str(err) == "r.yaml:2:17: duplicate key 'speak' (first defined at line 2)"


@pytest.mark.parametrize(
    "tag", ["!!python/object/apply:os.system ['echo hi']", "!!python/name:os.system", "!custom x", "!!binary aGk="]
)
def test_non_core_tags_are_refused(tag: str) -> None:
    err = _error(f"audioflow: 1\ntitle: {tag}\n")
    assert err.message.startswith("the YAML tag ")
    assert err.message.endswith(" is not allowed in a recipe")
    assert err.location == SourceLocation("r.yaml", 2, 8)
    assert err.hint == "recipes use plain YAML: mappings, lists, strings, numbers, true/false"


def test_python_tag_on_a_mapping_is_refused() -> None:
    err = _error("a: !!python/object:os.Foo {x: 1}\n")
    assert err.message == "the YAML tag 'tag:yaml.org,2002:python/object:os.Foo' is not allowed in a recipe"
    assert err.location == SourceLocation("r.yaml", 1, 4)


def test_alias_bomb_is_refused() -> None:
    rows = ["audioflow: 1", "a: &a [x,x,x,x,x,x,x,x,x,x]"]
    for name, prev in zip("bcdefg", "abcdef", strict=True):
        rows.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    err = _error("\n".join(rows) + "\n")
    assert err.message == "the recipe expands to more than 100000 values"
    assert err.hint == "aliases that expand exponentially (an alias bomb) are refused"
    assert err.location is not None and 2 <= err.location.line <= 8


def test_small_aliases_are_allowed() -> None:
    doc = parse_document("base: &b {gain_db: -3}\nother: *b\n")
    assert doc.data == {"base": {"gain_db": -3}, "other": {"gain_db": -3}}


def test_recursive_alias_is_refused() -> None:
    err = _error("audioflow: 1\nsteps: &a\n  x: *a\n")
    assert err.message == "a recursive alias is not allowed"
    assert err.location == SourceLocation("r.yaml", 2, 8)  # the anchored node


def test_recursive_alias_in_a_list_is_refused() -> None:
    err = _error("a: &l [1, *l]\n")
    assert err.message == "a recursive alias is not allowed"


def test_merge_keys_are_refused() -> None:
    err = _error("base: &b {x: 1}\nother:\n  <<: *b\n")
    assert str(err) == "r.yaml:3:3: merge keys (<<) are not supported"


def test_syntax_error_is_located() -> None:
    err = _error("audioflow: 1\ntitle: [Test\nsteps: {}\n")
    assert str(err) == "r.yaml:3:6: YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence)"


def test_empty_and_multi_document_text_is_refused() -> None:
    assert str(_error("")) == "r.yaml:1:1: the recipe is empty (start with `audioflow: 1`)"
    assert str(_error("# only a comment\n")) == "r.yaml:1:1: the recipe is empty (start with `audioflow: 1`)"
    err = _error("a: 1\n---\nb: 2\n")
    assert err.message == "a recipe holds one YAML document, not several"
    assert err.location is not None and err.location == SourceLocation("r.yaml", 3, 1)  # the second document's content


def test_non_utf8_file_is_located_at_the_bad_byte(tmp_path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_bytes(b"audioflow: 1\ntitle: caf\xe9\n")
    with pytest.raises(RecipeError) as info:
        load_document(path)
    assert info.value.message == "the recipe is not valid UTF-8 text"
    assert info.value.location == SourceLocation(str(path), 2, 11)


def test_utf8_bom_is_accepted(tmp_path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_bytes("\ufeffaudioflow: 1\ntitle: café\n".encode())
    assert load_document(path).data == {"audioflow": 1, "title": "café"}


def test_missing_file_is_a_recipe_error(tmp_path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(RecipeError) as info:
        load_document(path)
    assert str(info.value) == f"{path}:1:1: cannot read the recipe: No such file or directory"
