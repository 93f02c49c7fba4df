"""Recipe texts that the engine tests and the benchmarks render against the fake hosts."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PRESETS", "dialogue_recipe"]

#: Each host's preset voices for ``mara`` and ``ben``.
PRESETS = {
    "segmind": ("en_female_nadia_uranus_bigtts", "en_male_bruce_uranus_bigtts"),
    "fal": ("nadia_en_zh", "cedric_en_zh"),
}


def dialogue_recipe(
    lines: Iterable[str],
    *,
    title: str,
    output: str,
    provider: str = "segmind",
    concurrency: int = 4,
    poll_interval: str = "10ms",
    retries: int = 3,
) -> str:
    """A recipe of one dialogue, ``scene``, whose ``lines`` ben (even) and mara (odd) speak in turn
    on ``provider``'s preset voices (:data:`PRESETS`), the provider's ``concurrency``,
    ``poll_interval`` and ``retries`` set; mixed alone and written as a wav to ``output``."""
    mara, ben = PRESETS[provider]
    rows = "\n".join(f"      - {'mara' if i % 2 else 'ben'}: {text}" for i, text in enumerate(lines))
    return f"""\
audioflow: 1
title: {title}
provider: {provider}
providers:
  {provider}: {{concurrency: {concurrency}, poll_interval: {poll_interval}, retries: {retries}}}
cast:
  mara: {{preset: {{{provider}: {mara}}}}}
  ben: {{preset: {{{provider}: {ben}}}}}
steps:
  scene:
    dialogue:
{rows}
mix:
  - {{track: scene}}
master: {{format: wav}}
output: {output}
"""
