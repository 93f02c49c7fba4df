"""Providers: one module per host, behind the small :class:`Provider` protocol.

``local`` renders offline and free; ``segmind``, ``fal`` and ``evolink`` are the hosted models
(Seed Audio 1.0 on all three; SAM-Audio and OpenVoice on Segmind). Remote modules are imported
when a recipe uses them, so the CLI starts fast.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ProviderError
from .base import Journal, PreparedRequest, Provider, ProviderSettings, Reference, RenderRequest, Take
from .local import LOCAL_VOICES, LocalProvider

__all__ = [
    "LOCAL_VOICES",
    "PROVIDERS",
    "Journal",
    "LocalProvider",
    "PreparedRequest",
    "Provider",
    "ProviderSettings",
    "Reference",
    "RenderRequest",
    "Take",
    "get_provider",
]


def _local(settings: ProviderSettings) -> Provider:
    return LocalProvider(settings.concurrency)


def _segmind(settings: ProviderSettings) -> Provider:
    from .segmind import SegmindProvider

    return SegmindProvider(settings)


def _fal(settings: ProviderSettings) -> Provider:
    from .fal import FalProvider

    return FalProvider(settings)


def _evolink(settings: ProviderSettings) -> Provider:
    from .evolink import EvolinkProvider

    return EvolinkProvider(settings)


#: Provider name → factory taking the provider's settings (the recipe's ``providers:`` block).
PROVIDERS: dict[str, Callable[[ProviderSettings], Provider]] = {
    "local": _local,
    "segmind": _segmind,
    "fal": _fal,
    "evolink": _evolink,
}


def get_provider(name: str, settings: ProviderSettings | None = None) -> Provider:
    """A new provider by name. Raises :class:`ProviderError` for an unknown name."""
    if name not in PROVIDERS:
        raise ProviderError(name, f"unknown provider; available: {', '.join(PROVIDERS)}")
    return PROVIDERS[name](settings or ProviderSettings())
