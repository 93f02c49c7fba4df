"""units.py: durations, levels and bitrates written with units."""

from __future__ import annotations

import pytest

from audioflow.units import parse_bitrate_kbps, parse_db, parse_duration_ms, parse_level


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("350ms", 350.0),
        ("2s", 2000.0),
        (" 1.5 min ", 90_000.0),
        ("1.5m", 90_000.0),
        ("2sec", 2000.0),
        ("1h", 3_600_000.0),
        (".5s", 500.0),
        ("2S", 2000.0),
        ("1:30", 90_000.0),
        ("0:05.5", 5500.0),
        ("0", 0.0),
        ("0.0", 0.0),
        (0, 0.0),
        (0.0, 0.0),
        ("+3ms", 3.0),
    ],
)
def test_durations_parse_to_milliseconds(text: object, ms: float) -> None:
    assert parse_duration_ms(text) == ms


def test_negative_duration_needs_permission() -> None:
    assert parse_duration_ms("-200ms", allow_negative=True) == -200.0
    with pytest.raises(ValueError) as info:
        parse_duration_ms("-200ms")
    assert str(info.value) == "'-200ms' is negative; a duration here must be 0 or more"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("350", "'350' has no unit: write it like 350ms or 350s"),
        ("-2", "'-2' has no unit: write it like -2ms or -2s"),
        (350, "350 is not a duration: write it with a unit, like 350ms or 2s"),
        (1.5, "1.5 is not a duration: write it with a unit, like 350ms or 2s"),
        (True, "True is not a duration: write it with a unit, like 350ms or 2s"),
        (None, "None is not a duration: write it with a unit, like 350ms or 2s"),
        ("2 parsecs", "'2 parsecs' is not a duration: write it like 350ms, 2s or 1:30"),
        ("", "'' is not a duration: write it like 350ms, 2s or 1:30"),
        ("1:75", "'1:75' is not a duration: write it like 350ms, 2s or 1:30"),
    ],
)
def test_bad_durations_say_why(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration_ms(value)
    assert str(info.value) == message


def test_huge_duration_is_not_finite() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration_ms("1" + "0" * 400 + "s")
    assert str(info.value).endswith("is not a finite number")


@pytest.mark.parametrize(
    ("value", "level"),
    [
        (-16, -16.0),
        (-16.5, -16.5),
        ("-16 LUFS", -16.0),
        ("-16lufs", -16.0),
        ("-16", -16.0),
        ("+0", 0.0),
    ],
)
def test_levels(value: object, level: float) -> None:
    assert parse_level(value, "LUFS") == level


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-16 dB", "'-16 dB' is in dB, expected LUFS"),
        (True, "True is not a level in LUFS"),
        ([1], "[1] is not a level in LUFS"),
        ("loud", "'loud' is not a level: write it like -16 LUFS"),
        (float("nan"), "nan is not a finite number"),
        (float("-inf"), "-inf is not a finite number"),
    ],
)
def test_bad_levels(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_level(value, "LUFS")
    assert str(info.value) == message


def test_db() -> None:
    assert parse_db("-20 dB") == -20.0
    assert parse_db("+3dB") == 3.0
    assert parse_db(0) == 0.0
    with pytest.raises(ValueError, match=r"is in LUFS, expected dB"):
        parse_db("-3 LUFS")


@pytest.mark.parametrize(
    ("value", "kbps"), [("192k", 192), (" 128 kbps ", 128), ("64kb/s", 64), (320, 320), ("8", 8), (512, 512)]
)
def test_bitrates(value: object, kbps: int) -> None:
    assert parse_bitrate_kbps(value) == kbps


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("7k", "bitrate 7k is outside 8k..512k"),
        (0, "bitrate 0k is outside 8k..512k"),
        (-192, "bitrate -192k is outside 8k..512k"),
        ("513k", "bitrate 513k is outside 8k..512k"),
        ("192 mbps", "'192 mbps' is not a bitrate: write it like 192k"),
        (True, "True is not a bitrate: write it like 192k"),
        (192.0, "192.0 is not a bitrate: write it like 192k"),
    ],
)
def test_bad_bitrates(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_bitrate_kbps(value)
    assert str(info.value) == message
