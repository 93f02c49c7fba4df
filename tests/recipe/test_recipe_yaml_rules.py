"""How recipes are read, through the CLI: YAML 1.2 core rules, refused tags, numbers, depth, control
characters, unclosed brackets and quotes, size and value caps. Exact stderr line, exit code 2, nothing on
stdout; or exit 0 and what the recipe means."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BASIC_RECIPE

from audioflow.cli import cli
from audioflow.recipe import load_recipe, loader, parse_document

PLAIN = "recipes use plain YAML: mappings, lists, strings, numbers, true/false"
DEEP = (
    "the recipe nests lists and mappings deeper than 64 levels"
    " (a recipe needs a few levels; look for brackets that are never closed)"
)
FINITE = "every number in a recipe must be finite"
LARGE = "a recipe number stays within ±10^15, that is at most 15 digits"
CONTROL = "YAML text holds printable characters, tabs and line breaks only; delete it"


def validate(folder: Path, text: str, command: str = "validate") -> tuple[int, str, str]:
    (folder / "recipe.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, [command, "recipe.yaml"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def refused(folder: Path, text: str, command: str = "validate") -> str:
    code, stdout, stderr = validate(folder, text, command)
    assert (code, stdout) == (2, ""), stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1
    return stderr.removesuffix("\n")


# -- YAML 1.2 core: no sexagesimal numbers, only true/false -------------------------------------------
YAML_12 = (
    BASIC_RECIPE.replace("- ben: Hi, Mara.", "- francisco: No")
    .replace("ben:", "francisco:")
    .replace("{track: rain, under: scene, gain_db: -20}", "{track: rain, at: 1:05, gain_db: -20}")
)


def test_a_line_saying_no_and_an_unquoted_minutes_seconds_time_mean_what_they_say(in_tmp: Path) -> None:
    assert validate(in_tmp, YAML_12) == (0, "recipe.yaml: ok (7 steps)\n", "")
    recipe = load_recipe(in_tmp / "recipe.yaml")
    assert [(line.voice, line.text) for line in recipe.steps["scene"].lines][1] == ("francisco", "No")
    assert recipe.mix.tracks[1].spec.at_ms == 65_000.0


def test_yes_is_not_a_boolean(in_tmp: Path) -> None:
    text = BASIC_RECIPE.replace("gain_db: -20}", "gain_db: -20, loop: yes}")
    assert refused(in_tmp, text) == (
        "recipe.yaml:15:53: expected boolean, got a string (recipes use YAML 1.2: write true or false)"
    )


def test_true_in_any_core_case_is_a_boolean(in_tmp: Path) -> None:
    text = BASIC_RECIPE.replace("gain_db: -20}", "gain_db: -20, loop: TRUE}")
    assert validate(in_tmp, text)[0] == 0
    assert load_recipe(in_tmp / "recipe.yaml").mix.tracks[1].spec.loop is True


# -- tags ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('!!int "abc"', "'abc' is not a valid !!int value (drop the tag: plain YAML needs none)"),
        ("!!float x", "'x' is not a valid !!float value (drop the tag: plain YAML needs none)"),
        ("!!bool maybe", "'maybe' is not a valid !!bool value (drop the tag: plain YAML needs none)"),
        ("!!binary aGk=", f"the YAML tag !!binary is not allowed in a recipe ({PLAIN})"),
        (
            "!!python/object/apply:os.system ['echo hi']",
            f"the YAML tag !!python/object/apply:os.system is not allowed in a recipe ({PLAIN})",
        ),
        ("!!python/name:os.system ''", f"the YAML tag !!python/name:os.system is not allowed in a recipe ({PLAIN})"),
        ("!foo x", f"the YAML tag !foo is not allowed in a recipe ({PLAIN})"),
    ],
)
def test_explicit_tags_are_located_recipe_errors(in_tmp: Path, value: str, message: str) -> None:
    assert refused(in_tmp, BASIC_RECIPE.replace("title: Test", f"title: {value}")) == f"recipe.yaml:2:8: {message}"


def test_a_core_tag_that_fits_is_read(in_tmp: Path) -> None:
    assert validate(in_tmp, BASIC_RECIPE.replace("title: Test", "title: !!str 5"))[0] == 0
    assert load_recipe(in_tmp / "recipe.yaml").title == "5"


# -- numbers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("gain_db: -20", "gain_db: .nan", "15:42", f".nan is not a finite number ({FINITE})"),
        ("gain_db: -20", "gain_db: -.inf", "15:42", f"-.inf is not a finite number ({FINITE})"),
        (
            "{preset: {local: joe}}",
            "{preset: {local: joe}, speed: .NaN}",
            "4:39",
            f".NaN is not a finite number ({FINITE})",
        ),
        ("gain_db: -20", "gain_db: 1e999", "15:42", f"the number 1e999 is too large ({LARGE})"),
        (
            "gain_db: -20",
            "gain_db: -" + "9" * 400,
            "15:42",
            f"the number -9999999999999999999… (401 characters) is too large ({LARGE})",
        ),
    ],
)
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_numbers_are_finite_and_bounded(
    in_tmp: Path, command: str, old: str, new: str, where: str, message: str
) -> None:
    assert refused(in_tmp, BASIC_RECIPE.replace(old, new), command) == f"recipe.yaml:{where}: {message}"


def test_a_nan_price_cannot_switch_the_budget_off(in_tmp: Path) -> None:
    text = BASIC_RECIPE + "providers:\n  segmind: {price_per_call_usd: .nan}\n"
    assert refused(in_tmp, text) == f"recipe.yaml:18:33: .nan is not a finite number ({FINITE})"


# -- depth -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "col"),
    [("[" * 500 + "]" * 500, 71), ("[" * 500, 71), ("{a: " * 500 + "1" + "}" * 500, 260)],
)
def test_five_hundred_levels_are_a_located_error(in_tmp: Path, value: str, col: int) -> None:
    assert refused(in_tmp, BASIC_RECIPE.replace("title: Test", f"title: {value}")) == f"recipe.yaml:2:{col}: {DEEP}"


# -- characters ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new", "where", "code"),
    [
        ("Hello there.", "Hello\x00there.", "9:20", "U+0000"),
        ("Bye.", "Bye\x07.", "11:18", "U+0007"),
        ("steady rain", "steady\x1b[0m rain", "12:26", "U+001B"),
        ("out/test.wav", "out/test\x7f.wav", "16:17", "U+007F"),
        ("title: Test", "title: Te\x0bst", "2:10", "U+000B"),
    ],
)
def test_control_characters_are_reported_at_their_own_line_and_column(
    in_tmp: Path, old: str, new: str, where: str, code: str
) -> None:
    message = f"the control character {code} is not allowed in a recipe ({CONTROL})"
    assert refused(in_tmp, BASIC_RECIPE.replace(old, new)) == f"recipe.yaml:{where}: {message}"


def test_an_escape_that_makes_a_nul_is_refused_at_its_string(in_tmp: Path) -> None:
    assert refused(in_tmp, BASIC_RECIPE.replace("out/test.wav", '"out/a\\0.wav"')) == (
        "recipe.yaml:16:9: this string holds the control character U+0000"
        " (remove the escape that makes it: \\0, \\a, \\e, \\x1b…)"
    )


# -- unclosed brackets and quotes ------------------------------------------------------------------
PROBLEMS = {  # the parser's own words differ; the location and our words do not
    "_Yaml12CSafeLoader": ("did not find expected ',' or ']'", "did not find expected ',' or '}'"),
    "_Yaml12SafeLoader": ("expected ',' or ']', but got ':'", "expected ',' or '}', but got ':'"),
}


def test_an_unclosed_bracket_points_where_it_opened(in_tmp: Path) -> None:
    problem = PROBLEMS[loader._LOADER.__name__][0]
    assert refused(in_tmp, BASIC_RECIPE.replace("title: Test", "title: [Test")) == (
        f"recipe.yaml:2:8: YAML syntax error: the '[' opened here is not closed: {problem} at line 3, column 5"
        " (close it with ']', or quote the whole value if the '[' is part of the text)"
    )


def test_an_unclosed_brace_points_where_it_opened(in_tmp: Path) -> None:
    problem = PROBLEMS[loader._LOADER.__name__][1]
    text = BASIC_RECIPE.replace("{generate: steady rain, duration: 1s}", "{generate: steady rain, duration: 1s")
    assert refused(in_tmp, text) == (
        f"recipe.yaml:12:9: YAML syntax error: the '{{' opened here is not closed: {problem} at line 13, column 4"
        " (close it with '}', or quote the whole value if the '{' is part of the text)"
    )


@pytest.mark.parametrize(("quote", "doubled"), [('"', '\\"'), ("'", "''")])
def test_an_unclosed_quote_points_where_it_opened(in_tmp: Path, quote: str, doubled: str) -> None:
    text = BASIC_RECIPE.replace("output: out/test.wav", f"output: {quote}out/test.wav")
    assert refused(in_tmp, text) == (
        f"recipe.yaml:16:9: YAML syntax error: the quote {quote} opened here is not closed:"
        " found unexpected end of stream at line 17, column 1"
        f" (close it with {quote}; inside the quotes write {quote} as {doubled})"
    )


@pytest.mark.parametrize(("indent", "col"), [("\t", 1), ("  \t", 3)])
def test_a_tab_in_the_indentation_is_located_with_a_hint(in_tmp: Path, indent: str, col: int) -> None:
    text = BASIC_RECIPE.replace("\n  scene:", f"\n{indent}scene:")
    assert refused(in_tmp, text) == (
        f"recipe.yaml:7:{col}: YAML syntax error: found character that cannot start any token"
        " (while scanning for the next token) (YAML indents with spaces, never tabs: replace the tab with spaces)"
    )


# -- size and cost ---------------------------------------------------------------------------------
def test_a_file_over_four_mib_is_refused(in_tmp: Path) -> None:
    text = BASIC_RECIPE + "# " + "x" * (4 * 1024 * 1024) + "\n"
    assert refused(in_tmp, text) == (
        "recipe.yaml:1:1: the recipe is larger than 4 MiB (a recipe is a few KB of YAML; is this the right file?)"
    )


def test_a_dense_four_megabyte_recipe_is_refused_at_the_value_cap_not_called_an_alias_bomb(in_tmp: Path) -> None:
    text = "audioflow: 1\nsteps: [" + ",".join(["1"] * 1_900_000) + "]\n"
    assert refused(in_tmp, text) == (
        "recipe.yaml:2:500003: the recipe holds more than 250000 values (split the programme into several recipes)"
    )


def test_an_alias_bomb_is_refused(in_tmp: Path) -> None:
    rows = ["audioflow: 1", "a: &a [x,x,x,x,x,x,x,x,x,x]"]
    rows += [
        f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]"
        for name, prev in zip("bcdefghi", "abcdefgh", strict=True)
    ]
    assert refused(in_tmp, "\n".join(rows) + "\n") == (
        "recipe.yaml:7:11: the recipe holds more than 250000 values"
        " (an alias bomb: aliases that expand exponentially are refused)"
    )


def test_a_realistic_recipe_of_almost_four_megabytes_loads_with_every_location() -> None:
    lines = [f"      - mara: Line {n}, the night shift was quiet until a bell rang twice." for n in range(50_000)]
    text = "audioflow: 1\nsteps:\n  scene:\n    dialogue:\n" + "\n".join(lines) + "\n"
    assert len(text) > 3_500_000
    doc = parse_document(text)
    assert len(doc.data["steps"]["scene"]["dialogue"]) == 50_000
    assert doc.locations[("steps", "scene", "dialogue", 49_999, "mara")] == (50_004, 15)
