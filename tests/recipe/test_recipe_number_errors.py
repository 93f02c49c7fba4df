"""Numbers and timeline caps: every number in a recipe (or an option) is finite and in its documented
range, and every position and length on the timeline is capped, each refused with a located error
at ``validate`` — whether the value came from YAML, a string with a unit, or straight through the API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from audioflow.cli import cli
from audioflow.errors import RecipeError, SourceLocation
from audioflow.recipe import build_recipe, expand, load_recipe, load_schema, parse_document
from audioflow.recipe.limits import NUMBER_RANGES

BASE = """\
audioflow: 1
cast:
  mara: {preset: {local: joe}, speed: 1.0, volume: 1.0, pitch_semitones: 0, gain_db: 0, speaker: 0}
  ben: {clone: {audio: scene, start: 0s}}
steps:
  scene:
    gap: 300ms
    dialogue:
      - mara: Hello there.
      - {voice: mara, text: Bye., gap: 100ms, take: 1}
  rain: {generate: steady rain, duration: 1s, take: 1}
  voice: {isolate: {audio: scene, describe: speech, candidates: 2}}
mix:
  - {track: scene, at: 0s, offset: 0s, fade_in: 0s, fade_out: 0s}
  - {track: rain, under: scene, gain_db: -20, duration: 1s, duck_db: -10, duck_attack: 80ms, duck_release: 400ms}
master: {sample_rate_hz: 44100, channels: 2, loudness_lufs: -16}
providers:
  segmind:
    {concurrency: 2, retries: 3, price_per_call_usd: 0.05, sample_rate_hz: 48000, poll_interval: 1s, timeout: 10min}
output: out/test.wav
"""

NOT_FINITE = "is not a finite number (numbers in a recipe are finite: no .nan or .inf)"
#: A non-finite YAML literal (`.nan`, `-.inf`, a number too large for a float) is refused where it is
#: written by the loader, before the model's own check (the second layer, tested by API_CASES).
LOADER_NOT_FINITE = "is not a finite number (every number in a recipe must be finite)"
_LITERAL = re.compile(r":\s*(-?\.(?:nan|NaN|NAN|inf|Inf|INF))\b")


def _expected(new: str, message: str) -> str:
    """The message the recipe gets: the loader's for a non-finite literal, else ``message``."""
    literal = _LITERAL.search(new)
    return f"{literal.group(1)} {LOADER_NOT_FINITE}" if literal else message


HUGE = "9" * 320  # more digits than a float holds: parses to infinity

#: case -> (written in BASE, the value written instead of the value after its last key, message). The
#: error must point at the new value.
CASES = {
    "speed nan": ("speed: 1.0", ".nan", f"nan {NOT_FINITE}"),
    "speed NaN spelled otherwise": ("speed: 1.0", ".NaN", f"nan {NOT_FINITE}"),
    "volume infinity": ("volume: 1.0", ".inf", "inf is out of range: must be at most 2.0"),
    "volume minus infinity": ("volume: 1.0", "-.inf", "-inf is out of range: must be at least 0.5"),
    "pitch nan": ("pitch_semitones: 0", ".nan", f"nan {NOT_FINITE}"),
    "voice gain nan": ("gain_db: 0,", ".nan", f"nan {NOT_FINITE}"),
    "voice gain too loud": ("gain_db: 0,", "200", "200 is out of range: must be -120 to 40 dB"),
    "voice gain 'nan dB'": (
        "gain_db: 0,",
        '"nan dB"',
        "invalid value 'nan dB': a gain in decibels, -120 to 40: -20 or \"-20 dB\".",
    ),
    "speaker too large": ("speaker: 0", "10000", "10000 is out of range: must be at most 9999"),
    "track gain as a string far out": ("gain_db: -20", '"-500 dB"', "'-500 dB' is out of range: must be -120 to 40 dB"),
    "duck deeper than -120 dB": ("duck_db: -10", "-200", "-200 is out of range: must be -120 to 0 dB"),
    "duck nan": ("duck_db: -10", ".nan", f"nan {NOT_FINITE}"),
    "step take too large": ("take: 1}\n  voice", "10000", "10000 is out of range: must be at most 9999"),
    "line take nan": ("gap: 100ms, take: 1}", ".nan", "expected integer, got a number"),
    "candidates infinite": ("candidates: 2", ".inf", "expected integer, got a number"),
    "price nan": ("price_per_call_usd: 0.05", ".nan", f"nan {NOT_FINITE}"),
    "price infinite": ("price_per_call_usd: 0.05", ".inf", "inf is out of range: must be at most 100"),
    "price absurd": ("price_per_call_usd: 0.05", "1000000000", "1000000000 is out of range: must be at most 100"),
    "concurrency nan": ("concurrency: 2", ".nan", "expected integer, got a number"),
    "retries infinite": ("retries: 3", ".inf", "expected integer, got a number"),
    "provider sample rate nan": (
        "sample_rate_hz: 48000",
        ".nan",
        "nan is not one of: 8000, 16000, 24000, 32000, 44100, 48000",
    ),
    "master sample rate nan": ("sample_rate_hz: 44100", ".nan", "nan is not one of: 22050, 24000, 32000, 44100, 48000"),
    "channels infinite": ("channels: 2", ".inf", "inf is not one of: 1, 2"),
    "loudness nan": ("loudness_lufs: -16", ".nan", f"nan {NOT_FINITE}"),
    "position of more digits than a float holds": ("at: 0s", f"{HUGE}s", f"'{HUGE}s' is not a finite number"),
    # timeline caps
    "at beyond 24 h": ("at: 0s", "25h", "'25h' is out of range: must be at most 24 h"),
    "offset beyond 24 h": ("offset: 0s", "-25h", "'-25h' is out of range: must be between -24 h and 24 h"),
    "fade in beyond 24 h": ("fade_in: 0s", "1441min", "'1441min' is out of range: must be at most 24 h"),
    "fade out beyond 24 h": ("fade_out: 0s", "25h", "'25h' is out of range: must be at most 24 h"),
    "track duration beyond 24 h": ("duration: 1s, duck", "25h", "'25h' is out of range: must be at most 24 h"),
    "duck attack beyond 1 min": ("duck_attack: 80ms", "2min", "'2min' is out of range: must be at most 1 min"),
    "duck release beyond 1 min": ("duck_release: 400ms", "61s", "'61s' is out of range: must be at most 1 min"),
    "step gap beyond 1 h": ("gap: 300ms", "2h", "'2h' is out of range: must be between -1 h and 1 h"),
    "line gap beyond 1 h": ("gap: 100ms", "-61min", "'-61min' is out of range: must be between -1 h and 1 h"),
    "clone start beyond 24 h": ("start: 0s", "25h", "'25h' is out of range: must be at most 24 h"),
    "generate beyond 1 h": ("duration: 1s, take", "2h", "a generated sound lasts more than 0 s and at most 1 h"),
    "poll interval beyond 10 min": ("poll_interval: 1s", "11min", "'11min' is out of range: must be at most 10 min"),
    "timeout of 0": ("timeout: 10min", "0s", "'0s' is out of range: must be at least 1 s"),
    "timeout beyond 24 h": ("timeout: 10min", "25h", "'25h' is out of range: must be at most 24 h"),
}


def _written(old: str, value: str) -> str:
    """``old`` with the value after its last ``key: `` (up to a ``,``, a ``}`` or the line's end)
    replaced by ``value``."""
    head, _, tail = old.rpartition(": ")
    end = min((tail.index(stop) for stop in ",}\n" if stop in tail), default=len(tail))
    return f"{head}: {value}{tail[end:]}"


def _location(text: str, old: str, new: str) -> tuple[int, int]:
    """(line, col) of the value ``new`` writes: where ``new`` starts, past its (last) key."""
    start = text.index(new) + (new.rindex(": ") + 2 if ": " in new else 0)
    line = text.count("\n", 0, start) + 1
    return line, start - (text.rfind("\n", 0, start) + 1) + 1


def test_the_base_recipe_is_valid(write_recipe) -> None:
    graph = expand(load_recipe(write_recipe(BASE)))
    assert graph.recipe.cast["mara"].speed == 1.0 and graph.recipe.providers["segmind"]["timeout_s"] == 600.0


@pytest.mark.parametrize("case", list(CASES))
def test_bad_number_is_a_located_recipe_error(case: str, write_recipe) -> None:
    old, value, message = CASES[case]
    new = _written(old, value)
    assert BASE.count(old) == 1, old
    text = BASE.replace(old, new)
    path = write_recipe(text)
    with pytest.raises(RecipeError) as info:
        expand(load_recipe(path))
    line, col = _location(text, old, new)
    assert str(info.value) == f"{path}:{line}:{col}: {_expected(new, message)}"
    assert info.value.location == SourceLocation(str(path), line, col)
    assert info.value.exit_code == 2


#: Values that reach the model without the schema (a Document built in code): the model checks them too.
API_CASES = {
    "speed nan": (("cast", "mara", "speed"), float("nan"), "nan is not a finite number"),
    "speed out of range": (("cast", "mara", "speed"), 5.0, "5.0 is out of range: must be 0.5 to 2"),
    "speed as text": (("cast", "mara", "speed"), "fast", "expected a number, got 'fast'"),
    "speed as a bool": (("cast", "mara", "speed"), True, "expected a number, got True"),
    "concurrency of 1000": (("providers", "segmind", "concurrency"), 1000, "1000 is out of range: must be 1 to 64"),
    "retries not whole": (("providers", "segmind", "retries"), 2.5, "2.5 is not a whole number"),
    "price negative": (("providers", "segmind", "price_per_call_usd"), -1, "-1 is out of range: must be 0 to 100"),
    "take of 600 digits": (
        ("steps", "rain", "take"),
        10**600,
        "1000000000000000000000000000000000000... is out of range",
    ),
    "candidates 0": (("steps", "voice", "isolate", "candidates"), 0, "0 is out of range: must be 1 to 8"),
    "master rate": (("master", "sample_rate_hz"), 12345, "12345 is not one of: 22050, 24000, 32000, 44100, 48000"),
    "channels 6": (("master", "channels"), 6, "6 is not one of: 1, 2"),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_values_that_bypass_the_schema_are_still_checked(case: str) -> None:
    path, value, message = API_CASES[case]
    doc = parse_document(BASE, "api.yaml")
    target = doc.data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(RecipeError) as info:
        build_recipe(doc, Path("/tmp/api.yaml"))
    assert info.value.message.startswith(message)
    line, col = doc.locations[path]
    assert info.value.location == SourceLocation("api.yaml", line, col)


def test_non_finite_numbers_are_refused_anywhere_even_where_the_schema_ignores_them() -> None:
    doc = parse_document(BASE, "api.yaml")
    doc.data["mix"][0]["gain_db"] = float("-inf")
    with pytest.raises(RecipeError) as info:
        build_recipe(doc, Path("/tmp/api.yaml"))
    assert info.value.message == "-inf is not a finite number"
    line, col = doc.locations[("mix", 0)]
    assert info.value.location == SourceLocation("api.yaml", line, col)


def _schema_bounds(node: object, name: str) -> list[tuple[float | None, float | None]]:
    found = []
    if isinstance(node, dict):
        properties = node.get("properties", {})
        if name in properties and ("minimum" in properties[name] or "maximum" in properties[name]):
            found.append((properties[name].get("minimum"), properties[name].get("maximum")))
        for child in node.values():
            found += _schema_bounds(child, name)
    elif isinstance(node, list):
        for child in node:
            found += _schema_bounds(child, name)
    return found


def test_the_schema_states_the_models_ranges() -> None:
    schema = load_schema()
    checked = 0
    for name, (low, high, _) in NUMBER_RANGES.items():
        for minimum, maximum in _schema_bounds(schema, name):
            assert (minimum, maximum) == (low, high), name
            checked += 1
    assert checked >= 9  # speed, volume, pitch, speaker, 2 takes, candidates, concurrency, retries, price
    assert "-120 to 40" in json.dumps(schema["$defs"]["gainDb"])


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_speed_nan_is_a_located_usage_error_for_every_command(command: str, in_tmp: Path) -> None:
    text = BASE.replace("speed: 1.0", "speed: .nan")
    (in_tmp / "recipe.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, [command, "recipe.yaml"])
    line, col = _location(text, "speed: 1.0", "speed: .nan")
    assert result.exit_code == 2
    assert result.stderr == f"recipe.yaml:{line}:{col}: .nan {LOADER_NOT_FINITE}\n"
    assert result.stdout == ""
    assert not (in_tmp / ".audioflow").exists() and not (in_tmp / "out").exists()


@pytest.mark.parametrize(
    ("given", "shown"), [("nan", "'nan'"), ("NaN", "'NaN'"), ("inf", "'inf'"), ("1e999", "'1e999'")]
)
def test_budget_must_be_finite(given: str, shown: str, in_tmp: Path) -> None:
    (in_tmp / "recipe.yaml").write_text(BASE, encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", "recipe.yaml", "--budget", given])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for '--budget': {shown} is not a finite number."
    assert not (in_tmp / ".audioflow").exists()


def test_budget_below_zero_is_still_refused(in_tmp: Path) -> None:
    result = CliRunner().invoke(cli, ["run", "recipe.yaml", "--budget", "-inf"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: Invalid value for '--budget': -inf is not in the range x>=0."
