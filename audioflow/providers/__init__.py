"""Providers: one module per host, behind the small :class:`Provider` protocol."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ProviderError
from .base import Provider, RenderRequest, Take
from .local import LOCAL_VOICES, LocalProvider

__all__ = ["LOCAL_VOICES", "PROVIDERS", "LocalProvider", "Provider", "RenderRequest", "Take", "get_provider"]

#: Provider name → factory. Remote hosts (segmind, fal, evolink) are added with their adapters.
PROVIDERS: dict[str, Callable[[], Provider]] = {"local": LocalProvider}


def get_provider(name: str) -> Provider:
    """A new provider by name. Raises :class:`ProviderError` for an unknown name."""
    if name not in PROVIDERS:
        raise ProviderError(name, f"unknown provider; available: {', '.join(PROVIDERS)}")
    return PROVIDERS[name]()
