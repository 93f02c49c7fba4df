"""YAML loading: locations, duplicate keys, refused tags, alias bombs, encodings.

Every test here runs on both parsers, libyaml's (when PyYAML has it) and the pure-Python fallback: the
data and every line:col must be the same. (The CLI tests in test_recipe_yaml_rules.py give exact texts.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from audioflow.errors import RecipeError, SourceLocation
from audioflow.recipe import load_document, loader, parse_document


@pytest.fixture(autouse=True, params=loader._LOADERS, ids=lambda cls: cls.__name__.strip("_"))
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[type]:
    """Run the test with each YAML parser PyYAML offers here."""
    monkeypatch.setattr(loader, "_LOADER", request.param)
    yield request.param


def test_libyaml_is_used_when_pyyaml_has_it() -> None:
    import yaml

    assert loader._LOADERS[0].__name__ == ("_Yaml12CSafeLoader" if yaml.__with_libyaml__ else "_Yaml12SafeLoader")
    assert issubclass(loader._LOADERS[-1], yaml.SafeLoader)
    assert yaml.SafeLoader.yaml_implicit_resolvers is not loader._LOADERS[-1].yaml_implicit_resolvers
    assert yaml.safe_load("a: yes") == {"a": True}  # PyYAML's own loaders are left alone


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


PLAIN = "recipes use plain YAML: mappings, lists, strings, numbers, true/false"


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
    assert err.message == "the YAML tag !!python/object:os.Foo is not allowed in a recipe"
    assert err.location == SourceLocation("r.yaml", 1, 4)


def test_alias_bomb_is_refused() -> None:
    rows = ["audioflow: 1", "a: &a [x,x,x,x,x,x,x,x,x,x]"]
    for name, prev in zip("bcdefg", "abcdef", strict=True):
        rows.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    err = _error("\n".join(rows) + "\n")
    assert err.message == "the recipe holds more than 250000 values"
    assert err.hint == "an alias bomb: aliases that expand exponentially are refused"
    assert err.location == SourceLocation("r.yaml", 7, 11)  # the second *e of f: the one that passes the cap


def test_small_aliases_are_allowed() -> None:
    doc = parse_document("base: &b {gain_db: -3}\nother: *b\n")
    assert doc.data == {"base": {"gain_db": -3}, "other": {"gain_db": -3}}
    assert doc.data["other"] is not doc.data["base"]  # a copy: changing one never changes the other


def test_an_alias_is_located_where_it_is_written_and_its_contents_where_they_are_defined() -> None:
    doc = parse_document("base: &b {gain_db: -3, fx: [a]}\nlist:\n  - x\n  - *b\n")
    assert doc.locations[("list", 1)] == (4, 5)
    assert doc.locations[("list", 1, "gain_db")] == (1, 20)
    assert doc.key_locations[("list", 1, "fx")] == (1, 24)
    assert doc.locations[("list", 1, "fx", 0)] == (1, 29)


def test_aliases_count_towards_the_value_cap_and_the_depth_cap() -> None:
    nested = "[" * 40 + "1" + "]" * 40
    err = _error(f"a: &a {nested}\nb: [[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]\n")
    assert str(err) == (
        "r.yaml:2:29: the recipe nests lists and mappings deeper than 64 levels"
        " (a recipe needs a few levels; look for brackets that are never closed)"
    )


def test_recursive_alias_is_refused() -> None:
    err = _error("audioflow: 1\nsteps: &a\n  x: *a\n")
    assert err.message == "a recursive alias is not allowed"
    assert err.location == SourceLocation("r.yaml", 2, 8)  # the anchored node


def test_recursive_alias_in_a_list_is_refused() -> None:
    err = _error("a: &l [1, *l]\n")
    assert str(err) == "r.yaml:1:4: a recursive alias is not allowed"


def test_undefined_and_redefined_anchors_are_refused() -> None:
    assert str(_error("a: *x\n")) == "r.yaml:1:4: the alias *x names no anchor (&x) defined before it"
    assert str(_error("a: &x 1\nb: &x [2]\n")) == (
        "r.yaml:2:4: the anchor &x is defined twice (first at line 1) (give each anchor its own name)"
    )


def test_an_alias_or_a_collection_cannot_be_a_key() -> None:
    assert str(_error("a: &k x\n*k : y\n")) == "r.yaml:2:1: a mapping key must be a plain name, not an alias"
    assert str(_error("? [a, b]\n: c\n")) == "r.yaml:1:3: a mapping key must be a plain name"


def test_merge_keys_are_refused() -> None:
    err = _error("base: &b {x: 1}\nother:\n  <<: *b\n")
    assert str(err) == "r.yaml:3:3: merge keys (<<) are not supported (write the keys out, or use an alias)"
    assert parse_document('"<<": 1\n').data == {"<<": 1}  # a quoted << is only a name


def test_syntax_error_is_located_where_the_parser_stopped() -> None:
    err = _error("audioflow: 1\ntitle: x\nsteps\ncast: {}\n")
    assert str(err) == "r.yaml:4:1: YAML syntax error: could not find expected ':' (while scanning a simple key)"


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


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path) -> None:
    path = tmp_path / "recipe.yaml"
    os.mkfifo(path)  # no writer: reading it would block for ever
    with pytest.raises(RecipeError) as info:
        load_document(path)
    assert str(info.value) == (
        f"{path}:1:1: cannot read the recipe: it is a FIFO, device or socket, not a regular file"
        " (give the path of the recipe's .yaml file)"
    )


def test_an_endless_device_is_refused_not_read_into_memory() -> None:
    with pytest.raises(RecipeError) as info:
        load_document(Path("/dev/zero"))
    assert str(info.value) == (
        "/dev/zero:1:1: cannot read the recipe: it is a FIFO, device or socket, not a regular file"
        " (give the path of the recipe's .yaml file)"
    )


def test_a_folder_is_refused_as_a_recipe(tmp_path) -> None:
    with pytest.raises(RecipeError) as info:
        load_document(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}:1:1: cannot read the recipe: it is a folder, not a regular file"
        " (give the path of the recipe's .yaml file)"
    )


def test_missing_file_is_a_recipe_error(tmp_path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(RecipeError) as info:
        load_document(path)
    assert str(info.value) == f"{path}:1:1: cannot read the recipe: No such file or directory"


# -- YAML 1.2 core schema --------------------------------------------------------------------------
CORE_VALUES = {
    "1:05": "1:05",  # no sexagesimal numbers: units.py reads it as 65 s
    "1:30:00": "1:30:00",
    "190:20:30": "190:20:30",
    "No": "No",
    "no": "no",
    "Yes": "Yes",
    "yes": "yes",
    "On": "On",
    "off": "off",
    "y": "y",
    "n": "n",
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
    "tRue": "tRue",
    "~": None,
    "null": None,
    "Null": None,
    "NULL": None,
    "nULL": "nULL",
    "0o17": 15,
    "0x1F": 31,
    "0x1f": 31,
    "017": 17,  # not octal in YAML 1.2
    "-17": -17,
    "+5": 5,
    "0b101": "0b101",
    "1_000": "1_000",
    "1.5": 1.5,
    ".5": 0.5,
    "5.": 5.0,
    "-1.5e3": -1500.0,
    "1E-3": 0.001,
    "2024-01-02": "2024-01-02",  # no timestamps
    "999999999999999": 999_999_999_999_999,
    "-999999999999999": -999_999_999_999_999,
    "0000000000000000000000000000000000000000001": 1,
    "'1:05'": "1:05",
    '"true"': "true",
    "'17'": "17",
    "!!str 5": "5",
    "!!int '12'": 12,
    "!!float 1": 1.0,
    "!!bool 'True'": True,
    "!!null ''": None,
    "! 5": "5",  # the non-specific tag makes a string
}


@pytest.mark.parametrize("written", list(CORE_VALUES))
def test_scalars_follow_the_yaml_1_2_core_schema(written: str) -> None:
    assert parse_document(f"a: {written}\n").data == {"a": CORE_VALUES[written]}
    assert parse_document(f"a: [{written}]\n").data == {"a": [CORE_VALUES[written]]}


def test_a_yaml_1_1_directive_does_not_bring_back_yaml_1_1_booleans() -> None:
    assert parse_document("%YAML 1.1\n---\na: yes\nb: 1:05\n").data == {"a": "yes", "b": "1:05"}


def test_a_dialogue_line_saying_no_stays_a_line() -> None:
    doc = parse_document("dialogue:\n  - francisco: No\n  - bernardo: Yes\n  - francisco: on\n")
    assert doc.data == {"dialogue": [{"francisco": "No"}, {"bernardo": "Yes"}, {"francisco": "on"}]}


def test_keys_stay_as_written() -> None:
    doc = parse_document("No: a\n0x1F: b\n1e999: c\n~: d\n017: e\n")
    assert list(doc.data) == ["No", "0x1F", "1e999", "~", "017"]


# -- numbers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("written", [".nan", ".NaN", ".NAN", ".inf", ".Inf", "-.inf", "+.INF"])
def test_non_finite_numbers_are_refused_where_they_are(written: str) -> None:
    err = _error(f"audioflow: 1\nspeed:   {written}\n")
    assert str(err) == f"r.yaml:2:10: {written} is not a finite number (every number in a recipe must be finite)"


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("1" * 300, "11111111111111111111… (300 characters)"),
        ("-" + "9" * 500, "-9999999999999999999… (501 characters)"),
        ("1000000000000000", "1000000000000000"),
        ("-1000000000000000", "-1000000000000000"),
        ("0x" + "F" * 400, "0xFFFFFFFFFFFFFFFFFF… (402 characters)"),
        ("0o77777777777777777", "0o77777777777777777"),
        ("1e15", "1e15"),
        ("2.5e300", "2.5e300"),
        ("1e999", "1e999"),
        ("-1E400", "-1E400"),
        ("1" * 400 + ".5", "11111111111111111111… (402 characters)"),
    ],
)
def test_numbers_beyond_ten_to_the_fifteen_are_refused(written: str, shown: str) -> None:
    err = _error(f"take: {written}\n")
    assert str(err) == (
        f"r.yaml:1:7: the number {shown} is too large (a recipe number stays within ±10^15, that is at most 15 digits)"
    )


def test_an_integer_of_thousands_of_digits_is_refused_without_converting_it() -> None:
    err = _error("take: " + "7" * 100_000 + "\n")  # int() would raise past sys.get_int_max_str_digits()
    assert err.message == "the number 77777777777777777777… (100000 characters) is too large"


# -- tags ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!int 'abc'", "'abc' is not a valid !!int value (drop the tag: plain YAML needs none)"),
        ("!!int 1.5", "'1.5' is not a valid !!int value (drop the tag: plain YAML needs none)"),
        ("!!float x", "'x' is not a valid !!float value (drop the tag: plain YAML needs none)"),
        ("!!bool maybe", "'maybe' is not a valid !!bool value (drop the tag: plain YAML needs none)"),
        ("!!bool yes", "'yes' is not a valid !!bool value (drop the tag: plain YAML needs none)"),
        ("!!null x", "'x' is not a valid !!null value (drop the tag: plain YAML needs none)"),
        ("!!float .nan", ".nan is not a finite number (every number in a recipe must be finite)"),
        ("!!binary aGk=", "the YAML tag !!binary is not allowed in a recipe (" + PLAIN + ")"),
        ("!!timestamp 2024-01-02", "the YAML tag !!timestamp is not allowed in a recipe (" + PLAIN + ")"),
        ("!!set {a: null}", "the YAML tag !!set is not allowed in a recipe (" + PLAIN + ")"),
        ("!!python/none ''", "the YAML tag !!python/none is not allowed in a recipe (" + PLAIN + ")"),
        ("!local x", "the YAML tag !local is not allowed in a recipe (" + PLAIN + ")"),
        (
            "!<tag:example.com,2000:x> 1",
            "the YAML tag tag:example.com,2000:x is not allowed in a recipe (" + PLAIN + ")",
        ),
        ("!!map [1]", "the YAML tag !!map does not fit a list (" + PLAIN + ")"),
        ("!!seq {a: 1}", "the YAML tag !!seq does not fit a mapping (" + PLAIN + ")"),
        ("!!seq x", "the YAML tag !!seq is not allowed in a recipe (" + PLAIN + ")"),
    ],
)
def test_explicit_tags_are_refused_unless_they_fit_the_core_schema(value: str, message: str) -> None:
    assert str(_error(f"audioflow: 1\ntitle: {value}\n")) == f"r.yaml:2:8: {message}"


def test_a_tag_on_a_key_is_checked_too() -> None:
    assert (
        str(_error("!!binary aGk=: 1\n")) == f"r.yaml:1:1: the YAML tag !!binary is not allowed in a recipe ({PLAIN})"
    )
    assert parse_document("!!str 5: a\n").data == {"5": "a"}


# -- depth -----------------------------------------------------------------------------------------
DEEP = (
    "the recipe nests lists and mappings deeper than 64 levels"
    " (a recipe needs a few levels; look for brackets that are never closed)"
)


def test_sixty_four_levels_are_allowed() -> None:
    doc = parse_document("[" * 64 + "]" * 64)
    depth, value = 0, doc.data
    while isinstance(value, list):
        depth, value = depth + 1, value[0] if value else None
    assert depth == 64


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: " + "[" * 500 + "]" * 500 + "\n", "1:67"),  # the 64th '[', at level 65 below the top mapping
        ("a: " + "[" * 500 + "\n", "1:67"),
        ("a: " + "{b: " * 500 + "1" + "}" * 500 + "\n", "1:256"),
        ("- " * 500 + "x\n", "1:129"),
        ("".join("  " * i + f"k{i}:\n" for i in range(500)) + "  " * 500 + "x\n", "65:129"),
    ],
)
def test_deep_nesting_is_a_located_error_not_a_recursion_error(text: str, where: str) -> None:
    assert str(_error(text)) == f"r.yaml:{where}: {DEEP}"


def test_nesting_past_libyamls_own_cap_is_the_same_error() -> None:
    err = _error("a: " + "[" * 5000 + "\n")
    assert err.message == DEEP.split(" (")[0]
    assert err.location is not None and err.location.line == 1 and 67 <= err.location.col <= 1004


# -- characters ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "where", "code"),
    [
        ("audioflow: 1\ntitle: Night\x00Shift\n", "2:13", "control character U+0000"),
        ("audioflow: 1\ncast:\n  mara: {preset: x\x07}\n", "3:19", "control character U+0007"),
        ("a: 1\r\nb: 2\r\nc: '\x1b[31m'\r\n", "3:5", "control character U+001B"),
        ("a: 1\rb: \x7f\r", "2:4", "control character U+007F"),
        ("a: [1,\n  2,\n  \x9b]\n", "3:3", "control character U+009B"),
        ("a: x\ufffe\n", "1:5", "character U+FFFE"),
        ("a: é😀\x01\n", "1:6", "control character U+0001"),
    ],
)
def test_control_characters_are_reported_where_they_are(text: str, where: str, code: str) -> None:
    assert str(_error(text)) == (
        f"r.yaml:{where}: the {code} is not allowed in a recipe"
        " (YAML text holds printable characters, tabs and line breaks only; delete it)"
    )


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029"])
def test_unicode_line_breaks_are_refused_so_line_numbers_stay_right(char: str) -> None:
    err = _error(f"a: 1\nb: one{char}two\n")
    assert str(err) == (
        f"r.yaml:2:7: the Unicode line break U+{ord(char):04X} is not allowed in a recipe"
        " (replace it with a plain line break or a space)"
    )


@pytest.mark.parametrize(
    ("escape", "code"), [("\\0", 0), ("\\a", 7), ("\\e", 0x1B), ("\\x07", 7), ("\\u0000", 0), ("\\x7f", 0x7F)]
)
def test_escapes_that_make_control_characters_are_refused(escape: str, code: int) -> None:
    err = _error(f'a: 1\nb:  "x{escape}y"\n')
    assert str(err) == (
        f"r.yaml:2:5: this string holds the control character U+{code:04X}"
        " (remove the escape that makes it: \\0, \\a, \\e, \\x1b…)"
    )


def test_tabs_and_line_break_escapes_are_kept() -> None:
    assert parse_document("a: \"x\\ty\\nz\\r\"\nb: 'c\td'\n").data == {"a": "x\ty\nz\r", "b": "c\td"}


def test_locations_count_characters_not_bytes() -> None:
    doc = parse_document("a: [é, 😀, 日本, x]\nb: 'ü'\n")
    assert doc.locations[("a", 3)] == (1, 15)
    assert doc.locations[("b",)] == (2, 4)


# -- unclosed brackets and quotes ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "where", "opener", "hint"),
    [
        ("audioflow: 1\ntitle: [Test\nsteps: {}\n", "2:8", "the '['", "close it with ']', or quote the whole value"),
        ("a: [1, 2\n", "1:4", "the '['", "close it with ']'"),
        ("a: {x: 1\nb: 2\n", "1:4", "the '{'", "close it with '}', or quote the whole value"),
        ("a: [1, {b: 2]\n", "1:8", "the '{'", "close it with '}'"),
        ('audioflow: 1\ntitle: "Night\nsteps: {}\n', "2:8", 'the quote "', 'close it with "; inside the quotes'),
        ("a: 1\nb: 'it\nc: 2\n", "2:4", "the quote '", "close it with '; inside the quotes write ' as ''"),
    ],
)
def test_an_unclosed_bracket_or_quote_points_where_it_opened(text: str, where: str, opener: str, hint: str) -> None:
    err = _error(text)
    assert str(err.location) == f"r.yaml:{where}"
    assert err.message.startswith(f"YAML syntax error: {opener} opened here is not closed: ")
    assert err.hint is not None and err.hint.startswith(hint)
