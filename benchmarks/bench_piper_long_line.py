"""Benchmark the memory local Piper takes to speak one long line without punctuation.

Each case runs in a fresh subprocess that loads the bundled voice and speaks a short warm-up line,
then speaks ``WORDS`` words of unpunctuated text either **split** (``LocalProvider``'s path:
``split_text`` pieces of at most 400 characters, one Piper call each) or **whole** (one
``PiperVoice.synthesize`` call, what audioflow did before). Reported: the growth of the process's
peak RSS over the warm-up's (``ru_maxrss``), the wall time and the length of the speech.

Usage: ``python benchmarks/bench_piper_long_line.py [--split 100 400 3000] [--whole 100 200 400]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "clerks", "count", "tins")


def _text(count: int) -> str:
    rng = np.random.default_rng(7)
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), count))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, words: int) -> dict[str, float]:
    from piper import SynthesisConfig

    from audioflow.audio import read_wav
    from audioflow.providers import RenderRequest
    from audioflow.providers.local import _VOICES, LocalProvider, _bundled_model

    provider = LocalProvider(max_concurrency=1)
    voice = {"cast_index": 0, "preset": {"local": "joe"}, "speed": 1.0, "pitch_semitones": 0.0, "gain_db": 0.0}

    def speak(text: str) -> float:
        take = asyncio.run(
            provider.render(RenderRequest("x", "speak", {"text": text, "direction": None, "voice": voice}))
        )
        return read_wav(take.data).duration_ms / 1000

    speak("Good morning.")
    base, text, began = _peak_mb(), _text(words), time.perf_counter()
    if mode == "split":
        seconds = speak(text)
    else:
        piper_voice = _VOICES.get(_bundled_model())
        chunks = [c.audio_float_array for c in piper_voice.synthesize(text, SynthesisConfig())]
        seconds = sum(len(c) for c in chunks) / piper_voice.config.sample_rate
    wall = time.perf_counter() - began
    return {"chars": len(text), "growth_mb": _peak_mb() - base, "wall_s": wall, "speech_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", type=int, nargs="*", default=[100, 400, 3000])
    parser.add_argument("--whole", type=int, nargs="*", default=[100, 200, 400])
    parser.add_argument("--child", nargs=2, metavar=("MODE", "WORDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return
    for mode, counts in (("whole", args.whole), ("split", args.split)):
        for words in counts:
            done = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(words)], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                print(f"{mode:<5} {words:>5} words: failed ({done.returncode}): {done.stderr.strip()[-200:]}")
                continue
            r = json.loads(done.stdout)
            print(
                f"{mode:<5} {words:>5} words ({r['chars']:>6.0f} chars): peak RSS +{r['growth_mb']:7.0f} MiB, "
                f"{r['wall_s']:6.1f} s wall, {r['speech_s']:7.1f} s of speech"
            )


if __name__ == "__main__":
    main()
