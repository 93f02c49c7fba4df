"""Canonical JSON and input digests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import BASIC_RECIPE, FakeProvider, write_recipe_file
from hypothesis import given, settings
from hypothesis import strategies as st

from audioflow.audio import Audio, write_wav
from audioflow.cache import FORMAT_VERSION, canonical_json, input_digest, sha256_hex
from audioflow.engine import open_project


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert (
        canonical_json({"b": 1, "a": [1.0, 2.5, None, True], "é": "ü"})
        == '{"a":[1,2.5,null,true],"b":1,"é":"ü"}'.encode()
    )
    assert canonical_json({"b": 1, "a": 2}) == canonical_json({"a": 2, "b": 1})
    assert canonical_json(1.0) == canonical_json(1) == b"1"
    assert canonical_json(-0.0) == b"0"
    assert canonical_json((1, 2)) == canonical_json([1, 2]) == b"[1,2]"
    assert canonical_json({1: "x"}) == b'{"1":"x"}'
    assert canonical_json(2.0**60) == b"1.152921504606847e+18"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), {"a": [float("nan")]}])
def test_canonical_json_refuses_non_finite_numbers(bad: object) -> None:
    with pytest.raises(ValueError, match="has no canonical JSON form"):
        canonical_json(bad)


@pytest.mark.parametrize("bad", [{1, 2}, object(), b"bytes", Path("/x")])
def test_canonical_json_refuses_other_types(bad: object) -> None:
    with pytest.raises(TypeError, match="has no canonical JSON form"):
        canonical_json(bad)


BASE = {
    "kind": "speak",
    "params": {"text": "hi", "voice": {"speed": 1.0, "preset": "joe"}},
    "provider": "local",
    "model": "m1",
    "upstream": ["a" * 64],
    "take": 1,
}


def test_input_digest_is_stable_and_documented() -> None:
    expected = sha256_hex(canonical_json({"format_version": FORMAT_VERSION, **BASE}))
    assert input_digest(**BASE) == expected
    assert input_digest(**{**BASE, "params": {"voice": {"preset": "joe", "speed": 1}, "text": "hi"}}) == expected
    for field, other in (
        ("kind", "generate"),
        ("provider", "segmind"),
        ("model", "m2"),
        ("upstream", ["b" * 64]),
        ("take", 2),
    ):
        assert input_digest(**{**BASE, field: other}) != expected, field
    assert input_digest(**{**BASE, "upstream": ["x", "y"]}) != input_digest(**{**BASE, "upstream": ["y", "x"]})


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
    max_leaves=12,
)


def _digest(params: dict) -> str:
    return input_digest(kind="speak", params=params, provider="local", model="m", upstream=[], take=1)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(params=st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=6), data=st.data())
def test_key_order_never_matters_and_any_value_change_does(params: dict, data: st.DataObject) -> None:
    reordered = dict(reversed(list(params.items())))
    assert _digest(reordered) == _digest(params)
    key = data.draw(st.sampled_from(sorted(params)))
    new_value = data.draw(json_values)
    if canonical_json(new_value) == canonical_json(params[key]):
        return  # the same canonical value (1 and 1.0, say): the same digest, as wanted
    assert _digest({**params, key: new_value}) != _digest(params)


def test_digests_hold_no_absolute_paths_so_a_moved_recipe_stays_cached(tmp_path: Path) -> None:
    text = BASIC_RECIPE.replace("{generate: steady rain, duration: 1s}", "{file: assets/a.wav}")
    first = write_recipe_file(tmp_path / "one", text)
    (tmp_path / "one" / "assets").mkdir()
    (tmp_path / "one" / "assets" / "a.wav").write_bytes(write_wav(Audio.silence(100.0, 8000)))  # checked at plan
    shutil.copytree(tmp_path / "one", tmp_path / "elsewhere" / "two")
    fake = FakeProvider()
    plans = [
        open_project(path, providers={"local": fake}, cache_dir=tmp_path / "cache").plan()
        for path in (first, tmp_path / "elsewhere" / "two" / "recipe.yaml")
    ]
    for step_id in ("rain", "scene[1]", "scene[2]", "scene[3]"):
        assert plans[0].steps[step_id].digest is not None
        assert plans[0].steps[step_id].digest == plans[1].steps[step_id].digest, step_id
        assert str(tmp_path) not in canonical_json(plans[0].steps[step_id].step.params).decode()
