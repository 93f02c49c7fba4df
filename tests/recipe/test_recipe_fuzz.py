"""Fuzzing the CLI: ``audioflow validate`` on a generated recipe exits 0, or exits 2 with one line
``recipe.yaml:line:col: message`` whose line and column are inside the file. Never another exit code, an
"internal error" or a traceback.

At least 5,000 different recipes per run (:data:`EXAMPLES`, :data:`DISTINCT`), from a seeded, bounded Hypothesis profile
(``derandomize=True``: the same recipes every run, no example database, no deadline): mutations of a
valid recipe, hostile values (explicit tags, huge numbers, NaN and infinities, YAML 1.1 words, escapes)
and hostile text (control characters, deep nesting, unclosed brackets and quotes, truncation, aliases).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from audioflow.cli import cli
from audioflow.errors import RecipeError
from audioflow.recipe import load_schema, parse_document
from audioflow.recipe.schema import _fast_validator

VALID = """\
audioflow: 1
title: The Night Shift
provider: local
cast:
  narrator: {preset: {local: joe}, speed: 1.1}
  mara: {preset: bright, gain_db: -2 dB, pitch_semitones: 1}
  ben:
    description: a tired clerk
steps:
  intro:
    speak: (softly) It was two in the morning.
    voice: narrator
  rain: {generate: steady rain on a window, duration: 20s, texture: noise}
  hum: {generate: fridge hum, duration: "1:30", take: 2}
  scene1:
    gap: 350ms
    dialogue:
      - mara: (whispering) Did you hear that?
      - {voice: ben, text: "Hear what?", gap: -100ms, take: 2}
      - narrator: Nobody answered.
  bed: {mix: [{track: rain}, {track: hum, with: rain, gain_db: -6}]}
mix:
  - {track: intro, at: 0s}
  - {track: scene1, after: intro, offset: 500ms}
  - {track: bed, under: scene1, gain_db: -20, loop: true, duck_db: -10, fade_out: 2s}
master: {preset: podcast, loudness_lufs: -16 LUFS, true_peak_dbtp: -1, format: mp3, bitrate: 192k}
output: out/night-shift.mp3
"""

KEYS = [
    "audioflow",
    "title",
    "provider",
    "cast",
    "steps",
    "mix",
    "master",
    "output",
    "speak",
    "voice",
    "dialogue",
    "gap",
    "generate",
    "duration",
    "texture",
    "take",
    "file",
    "track",
    "at",
    "after",
    "with",
    "under",
    "offset",
    "gain_db",
    "fade_in",
    "fade_out",
    "loop",
    "duck_db",
    "preset",
    "speed",
    "model",
    "speaker",
    "text",
    "direction",
    "format",
    "bitrate",
    "loudness_lufs",
    "true_peak_dbtp",
    "sample_rate_hz",
    "channels",
    "mara",
    "ben",
    "narrator",
    "rain",
    "scene1",
    "bed",
    "intro",
    "local",
    "gian_db",
    "<<",
]
VALUES = [
    "",
    "~",
    "null",
    "0",
    "-1",
    "1",
    "2",
    "1.5",
    "1e999",
    "-.inf",
    ".nan",
    "[]",
    "{}",
    "[a, b]",
    "{a: 1}",
    "yes",
    "true",
    "'350'",
    "350",
    "-2s",
    "0s",
    "1:30",
    "9999h",
    "350ms",
    "-16 LUFS",
    "-16 dB",
    "192k",
    "mp4",
    "wav",
    "out/x.wav",
    "../x.mp3",
    "/abs/x.mp3",
    "x.onnx",
    "voices/v.onnx",
    "assets/none.wav",
    "mara",
    "ben",
    "rain",
    "scene1",
    "bed",
    "mix",
    "master",
    "intro",
    "(sigh)",
    "(a) b",
    "!!python/none ''",
    "!!str 5",
    "!!binary aGk=",
    "&x a",
    "*x",
    "*nope",
    '"\\0"',
    '"a\\x00b"',
    "'ü'",
    "|\n    text",
    ">-\n    folded",
    "2024-01-02",
    "0x1F",
    "0o17",
    "+5",
    "- a",
    "{track: rain}",
    "[{track: nope}]",
    "{speak: hi, voice: mara}",
    "{mix: [{track: scene1}]}",
    "{generate: x}",
    "{file: x.wav}",
    "out/" + "a" * 300 + ".wav",
    "a" * 300 + ".wav",
    '"out/\\0.mp3"',
]
CHARS = "{}[]:,-&*!#|>'\"\t \n\\%@`?aZ0_."


PLAIN_VALUES = st.sampled_from(VALUES)


@st.composite
def mutated_recipes(draw: st.DrawFn, values: st.SearchStrategy[str] = PLAIN_VALUES) -> str:
    """VALID with 1-4 edits: characters, lines, indentation, keys, and values drawn from ``values``."""
    lines = VALID.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            lines = [""]
        op = draw(st.sampled_from(OPS))
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        j = draw(st.integers(0, len(line))) if line else 0
        if op == "del_char" and line:
            lines[i] = line[:j] + line[j + 1 :]
        elif op == "dup_char" and line:
            lines[i] = line[:j] + line[j : j + 1] * 2 + line[j + 1 :]
        elif op == "set_char":
            lines[i] = line[:j] + draw(st.sampled_from(CHARS)) + line[j + 1 :]
        elif op == "del_line":
            del lines[i]
        elif op == "dup_line":
            lines.insert(i, line)
        elif op == "swap_lines":
            k = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[k] = lines[k], lines[i]
        elif op == "set_value" and ":" in line:
            cut = draw(st.sampled_from([n for n, c in enumerate(line) if c == ":"]))
            lines[i] = line[: cut + 1] + " " + draw(values)
        elif op == "add_key":
            indent = " " * draw(st.sampled_from([0, 2, 4, 6, 8]))
            lines.insert(i, f"{indent}{draw(st.sampled_from(KEYS))}: {draw(values)}")
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 3)) + line.lstrip() if draw(st.booleans()) else "  " + line
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


OPS = ["del_char", "dup_char", "set_char", "del_line", "dup_line", "swap_lines", "set_value", "add_key", "indent"]

# -- hostile values ---------------------------------------------------------------------------------
TAGGED = [
    '!!int "abc"',
    "!!int '12'",
    "!!int 1.5",
    "!!float x",
    "!!float 1",
    "!!float .nan",
    "!!bool maybe",
    "!!bool yes",
    "!!bool True",
    "!!str 5",
    "!!str",
    "!!null ''",
    "!!null x",
    "!!binary aGk=",
    "!!python/object/apply:os.system ['echo hi']",
    "!!python/name:os.system ''",
    "!!python/none ''",
    "!!python/object:os.Foo {x: 1}",
    "!foo x",
    "!foo {a: 1}",
    "!!map [1]",
    "!!seq {a: 1}",
    "!!seq x",
    "!!set {a: null}",
    "!!omap [a: 1]",
    "!!timestamp 2024-01-02",
    "!!merge x",
    "!<tag:yaml.org,2002:int> 7",
    "!<tag:example.com,2000:x> 1",
    "!e!x 1",
    "! 5",
    "!",
]
NON_FINITE = [".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "-.inf", "+.inf", "-.Inf", "1e999", "-1E999"]
NON_FINITE += ["nan", "inf", "NaN", "-Infinity", "'.nan'", '".inf"', ".nan s", "nan ms", "-inf dB", "inf LUFS"]
NON_FINITE += ["1e999s", "1e400 ms", "[.nan]", "{a: .inf}", "0.0e99999"]
WORDS = ["No", "no", "NO", "Yes", "yes", "On", "on", "Off", "OFF", "y", "Y", "n", "N", "true", "True", "TRUE"]
WORDS += ["tRue", "false", "False", "FALSE", "~", "null", "Null", "1:05", "1:30", "0:05", "1:05:30", "190:20:30"]
WORDS += ["-1:30", "1:60", "12:30:45.5", "2024-01-02", "0o17", "0x1F", "017", "0b101", "+5", ".5", "5.", "1_000"]
ESCAPES = ['"\\0"', '"a\\x00b"', '"\\a"', '"\\e[31m"', '"\\u0000"', '"\\x7f"', '"\\t"', '"\\N"', '"\\L"']
ESCAPES += ['"\\P"', '"\\_"', '"\\q"', '"\\x"', '"\\U0010FFFF"', '"\\uD800"', '"out/\\0.mp3"', '"x\\\ny"']
NUMERIC_KEYS = ["speed", "gain_db", "take", "duck_db", "loudness_lufs", "true_peak_dbtp", "sample_rate_hz"]
NUMERIC_KEYS += ["channels", "duration", "at", "offset", "gap", "fade_in", "fade_out", "bitrate", "pitch_semitones"]


@st.composite
def huge_numbers(draw: st.DrawFn) -> str:
    digits = draw(st.integers(14, 700))
    form = draw(st.sampled_from(["int", "signed", "hex", "octal", "float", "exponent", "zeros", "unit"]))
    body = draw(st.sampled_from("123456789")) + "0" * (digits - 1)
    if form == "signed":
        return draw(st.sampled_from("-+")) + body
    if form == "hex":
        return "0x" + "F" * (digits // 2)
    if form == "octal":
        return "0o" + "7" * digits
    if form == "float":
        return body + "." + "5" * draw(st.integers(0, 20))
    if form == "exponent":
        return f"{draw(st.sampled_from(['1', '-1', '2.5']))}e{draw(st.integers(14, 400))}"
    if form == "zeros":
        return "0" * digits + "7"
    if form == "unit":
        return body + draw(st.sampled_from(["ms", "s", " dB", " LUFS", "k", "min"]))
    return body


HOSTILE = st.one_of(
    st.sampled_from(TAGGED),
    st.sampled_from(NON_FINITE),
    st.sampled_from(WORDS),
    st.sampled_from(ESCAPES),
    huge_numbers(),
    st.builds("{{segmind: {{price_per_call_usd: {}}}}}".format, st.sampled_from(NON_FINITE + WORDS)),
    st.builds("{{{}: {}}}".format, st.sampled_from(NUMERIC_KEYS), st.sampled_from(NON_FINITE + TAGGED)),
)


@st.composite
def hostile_values(draw: st.DrawFn) -> str:
    """VALID with hostile values at existing keys, at numeric keys and in places a value may go."""
    text = draw(mutated_recipes(values=st.one_of(HOSTILE, PLAIN_VALUES)))
    if draw(st.booleans()):
        key = draw(st.sampled_from(NUMERIC_KEYS))
        text = text.replace("narrator: {preset: {local: joe}, speed: 1.1}", f"narrator: {{{key}: {draw(HOSTILE)}}}")
    return text


# -- hostile text -----------------------------------------------------------------------------------
CONTROL = [chr(c) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)] + ["\x7f", "\x80", "\x9b", "\x85"]
CONTROL += ["\u2028", "\u2029", "\ufffe", "\uffff", "\ufeff", "\t", "\r", "\r\n", "\u00a0", "\U0001f600"]
OPENERS = ["[", "{", '"', "'", "[[", "{a: [", "[{", "'a", '"a\\', "|", ">", "&", "*", "!", "? ", "%", "@", "`"]


@st.composite
def deep_values(draw: st.DrawFn) -> str:
    depth = draw(st.integers(1, 600))
    style = draw(st.sampled_from(["list", "map", "mixed", "block"]))
    closed = draw(st.booleans())
    if style == "list":
        return "[" * depth + "x" + ("]" * depth if closed else "")
    if style == "map":
        return "{a: " * depth + "1" + ("}" * depth if closed else "")
    if style == "mixed":
        return "[{a: " * depth + "1" + ("}]" * depth if closed else "")
    return "\n" + "".join("  " * (n + 1) + f"k{n}:\n" for n in range(depth)) + "  " * (depth + 1) + "x"


def alias_chain(levels: int, width: int) -> list[str]:
    rows = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    rows += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * width)}]" for n in range(1, levels)]
    return rows


@st.composite
def hostile_texts(draw: st.DrawFn) -> str:
    """VALID (perhaps mutated) with control characters, deep nesting, unclosed brackets or quotes,
    alias chains, or cut short."""
    text = draw(st.one_of(st.just(VALID), mutated_recipes()))
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["control", "deep", "open", "cut", "aliases"]))
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines[i])))
        if op == "control":
            lines[i] = lines[i][:j] + draw(st.sampled_from(CONTROL)) + lines[i][j:]
        elif op == "open":
            lines[i] = lines[i][:j] + draw(st.sampled_from(OPENERS)) + lines[i][j:]
        elif op == "deep":
            cut = lines[i].find(": ")
            where = cut + 2 if cut >= 0 and draw(st.booleans()) else j
            lines[i] = lines[i][:where] + draw(deep_values()) + lines[i][where:]
        elif op == "aliases":
            levels, width = draw(st.integers(1, 7)), draw(st.integers(1, 6))  # 6**7 values passes the cap
            lines[i:i] = alias_chain(levels, width)
        elif op == "cut":
            lines[i] = lines[i][:j]
            del lines[i + 1 :]
    return "\n".join(lines)


# -- the property ------------------------------------------------------------------------------------
EXAMPLES = {"mutations": 2400, "values": 2000, "texts": 1900}
DISTINCT = {"mutations": 1900, "values": 1550, "texts": 1550}  # at least 5,000 different recipes in all
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
LOCATED = re.compile(r"recipe\.yaml:(\d+):(\d+): (.+)\n")
MORE = re.compile(r"\.\.\. and \d+ more errors\n")
YAML_LINES = re.compile(r"\r\n|\n|\r")
RUNNER = CliRunner()


def check_validate(text: str) -> int:
    """Run ``audioflow validate recipe.yaml`` on ``text`` in the current folder; return the exit code."""
    Path("recipe.yaml").write_text(text, encoding="utf-8", newline="")
    result = RUNNER.invoke(cli, ["validate", "recipe.yaml"])
    assert result.exception is None or isinstance(result.exception, SystemExit), (text, result.exception)
    output = result.stdout + result.stderr
    assert "internal error" not in output and "Traceback" not in output, (text, output)
    if result.exit_code == 0:
        assert re.fullmatch(r"recipe\.yaml: ok \(\d+ steps\)\n", result.stdout), result.stdout
        return 0
    assert result.exit_code == 2, (text, result.exit_code, output)
    assert result.stdout == ""
    reported = result.stderr.splitlines(keepends=True)
    if len(reported) > 1 and MORE.fullmatch(reported[-1]):  # validate caps what it prints
        reported = reported[:-1]
    assert 1 <= len(reported) <= 20, (text, result.stderr)
    positions = []
    for printed in reported:  # every independent error, one located line each, in file order
        located = LOCATED.fullmatch(printed)
        assert located is not None, (text, result.stderr)
        line, col = int(located.group(1)), int(located.group(2))
        lines = YAML_LINES.split(text)
        assert 1 <= line <= len(lines), (text, result.stderr)
        assert 1 <= col <= len(lines[line - 1]) + 1, (text, result.stderr)
        positions.append((line, col))
    assert positions == sorted(positions), (text, result.stderr)
    return 2


def run_fuzz(strategy: st.SearchStrategy[str], examples: int) -> tuple[dict[int, int], int]:
    """Check ``examples`` recipes drawn from ``strategy``: their count by exit code, and how many differ."""
    codes: dict[int, int] = {0: 0, 2: 0}
    seen: set[str] = set()

    @settings(FUZZ, max_examples=examples)
    @given(text=strategy)
    def fuzz(text: str) -> None:
        codes[check_validate(text)] += 1
        seen.add(text)

    fuzz()
    assert sum(codes.values()) >= examples
    return codes, len(seen)


def test_the_unmutated_recipe_is_valid(in_tmp: Path) -> None:
    assert check_validate(VALID) == 0


FUZZERS: dict[str, Callable[[], st.SearchStrategy[str]]] = {
    "mutations": mutated_recipes,
    "values": hostile_values,
    "texts": hostile_texts,
}


@pytest.mark.parametrize("kind", list(FUZZERS))
def test_generated_recipes_exit_0_or_2_with_a_located_line(in_tmp: Path, kind: str) -> None:
    codes, distinct = run_fuzz(FUZZERS[kind](), EXAMPLES[kind])
    assert distinct >= DISTINCT[kind]
    assert codes[2] > EXAMPLES[kind] // 2 and codes[0] > 0  # both the error paths and valid recipes are reached


@settings(FUZZ, max_examples=1500)
@given(text=st.one_of(mutated_recipes(), hostile_values()))
def test_the_fast_schema_check_accepts_only_what_jsonschema_accepts(text: str) -> None:
    """recipe/schema.py trusts jsonschema-rs when it says "valid"; jsonschema must agree every time."""
    try:
        doc = parse_document(text, "recipe.yaml")
    except RecipeError:
        return
    if _fast_validator().is_valid(doc.data):
        assert list(Draft202012Validator(load_schema()).iter_errors(doc.data)) == [], text
