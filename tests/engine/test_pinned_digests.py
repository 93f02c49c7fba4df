"""The input digests and paid-take keys of the demo recipes, pinned: refactors must not change them.

For every step of ``recipes/earnest.yaml`` and ``recipes/night-shift.yaml`` the step digest is
computed with fixed stand-in upstream artifact digests (``sha256("upstream:" + dep)``), so the pin
covers kind, canonical payload, provider, model and take without rendering anything. For
night-shift rendered on segmind, fal and evolink the take digest (the host request key) of every
provider step is pinned too, with fixed stand-in upstream clips; ``None`` pins "the provider
refuses this step" (fal has no isolate, Evolink takes no local clips...).

If a change to rendering really must change a digest, bump that kind's ``KIND_VERSIONS`` entry
(``FORMAT_VERSION`` only if every kind's artifacts are wrong: it re-pays every take), name the fix in
CHANGELOG.md and regenerate the pins (``PIN_UPDATE=1 pytest tests/engine/test_pinned_digests.py``
prints them).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from audioflow.cache import Artifact, StepRecord
from audioflow.engine.facade import make_providers
from audioflow.engine.preflight import build_request, take_digest
from audioflow.engine.staleness import resolve_digest
from audioflow.errors import AudioflowError
from audioflow.recipe import expand, load_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _stand_in(dep: str) -> str:
    return hashlib.sha256(f"upstream:{dep}".encode()).hexdigest()


def _step_digests(name: str, provider: str | None) -> dict[str, str | None]:
    """Step digests; None for a step the provider refuses (it has no model: plan stops there)."""
    graph = expand(load_recipe(RECIPES / name), provider=provider)
    providers = make_providers(graph)
    out: dict[str, str | None] = {}
    for step_id, step in graph.steps.items():
        try:
            prepared = providers[step.provider].prepare(build_request(step, {})) if step.provider else None
        except AudioflowError:
            out[step_id] = None
            continue
        model = prepared.model if prepared is not None else None
        # A provider step's raw take is its last input (when no clip it cites is still to be rendered).
        take = take_digest(step, step.provider, prepared) if prepared and prepared.key and step.provider else None
        out[step_id] = resolve_digest(step, model, [_stand_in(d) for d in step.deps], take)
    return out


def _take_digests(name: str, provider: str, clip: Path) -> dict[str, str | None]:
    graph = expand(load_recipe(RECIPES / name), provider=provider)
    providers = make_providers(graph)
    records = {
        step_id: StepRecord(
            _stand_in(step_id), Artifact(_stand_in(step_id), clip, clip.stat().st_size), {"duration_ms": 10_000.0}
        )
        for step_id in graph.steps
    }
    out: dict[str, str | None] = {}
    for step_id, step in graph.steps.items():
        if step.provider is None:
            continue
        try:
            prepared = providers[step.provider].prepare(build_request(step, records))
            out[step_id] = take_digest(step, step.provider, prepared)
        except AudioflowError:
            out[step_id] = None
    return out


def _compute(clip: Path) -> dict[str, dict[str, str | None]]:
    pins: dict[str, dict[str, str | None]] = {
        "earnest.yaml": dict(_step_digests("earnest.yaml", None)),
        "night-shift.yaml": dict(_step_digests("night-shift.yaml", None)),
    }
    for provider in ("local", "segmind", "fal", "evolink"):
        pins[f"night-shift.yaml take@{provider}"] = _take_digests("night-shift.yaml", provider, clip)
        if provider != "local":
            pins[f"night-shift.yaml @{provider}"] = dict(_step_digests("night-shift.yaml", provider))
    return pins


PINS_FILE = Path(__file__).with_name("pinned_digests.json")


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.wav"
    path.write_bytes(b"RIFF stand-in clip")
    return path


def test_demo_recipe_digests_are_pinned(clip: Path) -> None:
    computed = _compute(clip)
    if os.environ.get("PIN_UPDATE"):
        PINS_FILE.write_text(json.dumps(computed, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(PINS_FILE.read_text())
    assert set(computed) == set(pinned)
    for key, steps in pinned.items():
        now = computed[key]
        assert set(now) == set(steps), key
        for step_id, digest in steps.items():
            # A step its provider refuses cannot be planned: its digest was never reachable (pinned by
            # the take pins below as None); every other digest is as pinned.
            if now[step_id] is None and key.startswith("night-shift.yaml @"):
                assert pinned[key.replace("@", "take@")][step_id] is None, (key, step_id)
                continue
            assert now[step_id] == digest, (key, step_id)
