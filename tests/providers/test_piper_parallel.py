"""Piper lines render in parallel threads (one onnxruntime thread each, the GIL released while a
session runs) exactly as they render one at a time: the time is measured in
``benchmarks/bench_piper_parallel.py``; here, that parallel rendering changes no sample."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from audioflow.errors import ProviderError
from audioflow.providers.local import (
    _VOICES,
    LocalProvider,
    LocalVoice,
    _bundled_model,
    _Delivery,
    _load_voice,
    _Speaking,
    piper_threads,
)

TEXTS = [f"Line {n}: the bell rang twice in the back room, and nobody answered." for n in range(1, 7)]
#: Piper draws noise for every line (noise_scale, noise_w_scale), so two renderings of a line differ
#: even one at a time; without the noise it is a pure function of the text, which makes it testable.
NOISELESS = LocalVoice(pitch_semitones=2.0, low_shelf_db=3.0, noise_scale=0.0, noise_w_scale=0.0)


@pytest.mark.slow
def test_lines_rendered_in_parallel_threads_equal_lines_rendered_one_at_a_time() -> None:
    provider = LocalProvider()
    delivery = _Delivery(None, None, NOISELESS, NOISELESS.pitch_semitones, 1.0, 0.0)

    def say(text: str) -> np.ndarray:
        return provider._synthesize(text, delivery, speed=1.0, gain_db=-2.0).samples

    serial = [say(text) for text in TEXTS]
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = list(pool.map(say, TEXTS))
    assert [a.shape for a in serial] == [b.shape for b in parallel]
    for one, other in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(one, other)
    assert len({a.shape[0] for a in serial}) > 1  # different lines, not one line six times


def test_a_piper_session_computes_on_one_thread_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIOFLOW_PIPER_THREADS", raising=False)
    monkeypatch.setattr("audioflow.providers.local._usable_cores", lambda: 4)
    assert piper_threads() == 1 and provider_threads() == 1
    assert piper_threads(alone=True) == 4  # a line spoken alone: a thread per core
    assert piper_threads(alone=True, core_share=3) == 3  # a cluster worker's share of the machine
    assert piper_threads(alone=True, core_share=8) == 4 and piper_threads(alone=False, core_share=3) == 1
    monkeypatch.setenv("AUDIOFLOW_PIPER_THREADS", "0")
    assert piper_threads() == 0 == piper_threads(alone=True)  # onnxruntime's default: a thread per core
    monkeypatch.setenv("AUDIOFLOW_PIPER_THREADS", "1")
    assert piper_threads(alone=True) == 1  # told: every line on one thread
    monkeypatch.setenv("AUDIOFLOW_PIPER_THREADS", "many")
    with pytest.raises(ProviderError, match="AUDIOFLOW_PIPER_THREADS must be a whole number"):
        piper_threads()
    assert LocalProvider().max_concurrency >= 1


def provider_threads() -> int:
    """The intra-op threads of the loaded bundled voice's session."""
    voice = _VOICES.get(_bundled_model())
    return int(voice.session.get_session_options().intra_op_num_threads)


@pytest.mark.slow
def test_a_voice_loaded_without_graph_optimisation_speaks_as_an_optimised_one() -> None:
    """Loading skips onnxruntime's graph optimisation (0.35 s of every edit's critical path): the
    exported graph computes the same samples, noise aside (float rounding: 6e-5 at most, measured)."""
    import json

    import onnxruntime
    from piper import PiperConfig, PiperVoice, SynthesisConfig

    model = _bundled_model()
    plain = _load_voice(model, 1)
    level = plain.session.get_session_options().graph_optimization_level
    assert level == onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    config = PiperConfig.from_dict(json.loads(model.with_name(model.name + ".json").read_text(encoding="utf-8")))
    optimised = PiperVoice(config=config, session=session, espeak_data_dir=plain.espeak_data_dir)
    noiseless = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    for text in TEXTS[:2]:
        one = np.concatenate([c.audio_float_array for c in plain.synthesize(text, noiseless)])
        other = np.concatenate([c.audio_float_array for c in optimised.synthesize(text, noiseless)])
        assert one.shape == other.shape
        assert float(np.abs(one - other).max()) < 5e-4, float(np.abs(one - other).max())


class _HeldVoices:
    """A voice cache whose voices record the threads they were asked for and, for the text
    ``"hold"``, wait (inside the synthesis, as a long line would) until released."""

    def __init__(self) -> None:
        self.asked: dict[str, list[int]] = {}
        self.holding = threading.Event()
        self.release = threading.Event()

    def get(self, model: Path, threads: int = 1) -> Any:
        def synthesize(text: str, config: object) -> Any:
            self.asked.setdefault(text, []).append(threads)
            if text == "hold":
                self.holding.set()
                assert self.release.wait(10)
            yield SimpleNamespace(audio_float_array=np.full(2205, 0.1, np.float32))

        return SimpleNamespace(config=SimpleNamespace(sample_rate=22050), synthesize=synthesize)


def test_a_line_spoken_alone_gets_a_thread_per_core_and_a_line_beside_another_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A one-line edit speaks its line on every core (Piper 1.7x faster on 2 cores); lines spoken at
    once get one onnxruntime thread each (a line per core, no oversubscription)."""
    monkeypatch.delenv("AUDIOFLOW_PIPER_THREADS", raising=False)
    monkeypatch.setattr("audioflow.providers.local._usable_cores", lambda: 4)
    provider = LocalProvider()
    voices = _HeldVoices()
    provider._voices, provider._speaking = voices, _Speaking()  # type: ignore[assignment]
    delivery = _Delivery(None, None, NOISELESS, 0.0, 1.0, 0.0)

    provider._synthesize("alone", delivery, speed=1.0, gain_db=0.0)
    assert voices.asked == {"alone": [4]}

    held = threading.Thread(target=provider._synthesize, args=("hold", delivery), kwargs={"speed": 1.0, "gain_db": 0.0})
    held.start()
    assert voices.holding.wait(10)
    try:
        provider._synthesize("beside", delivery, speed=1.0, gain_db=0.0)
    finally:
        voices.release.set()
        held.join(10)
    assert voices.asked["hold"] == [4] and voices.asked["beside"] == [1]
    provider._synthesize("alone again", delivery, speed=1.0, gain_db=0.0)
    assert voices.asked["alone again"] == [4]  # the count went back down
    provider.core_share = 2  # a cluster worker with two of the machine's cores
    provider._synthesize("a worker's line", delivery, speed=1.0, gain_db=0.0)
    assert voices.asked["a worker's line"] == [2]


def test_a_voice_loaded_on_several_threads_sleeps_instead_of_spinning() -> None:
    """A lone line's session must not spin its threads: a line that starts beside it needs the core."""
    voice = _load_voice(_bundled_model(), 2)
    options = voice.session.get_session_options()
    assert options.intra_op_num_threads == 2
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert _load_voice(_bundled_model(), 1).session.get_session_options().intra_op_num_threads == 1
