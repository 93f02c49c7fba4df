"""The small seam between the engine and every provider: render a request, return a take.

A provider module holds everything vendor-specific. The engine hands it a :class:`RenderRequest`
(the step's canonical params) and gets back a :class:`Take` (encoded audio plus labels). Before any
request is rendered, :meth:`Provider.check` runs on all of them, so everything that can fail before
spending money fails first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["Provider", "RenderRequest", "Take"]


@dataclass(frozen=True)
class RenderRequest:
    """What to render. ``kind`` is ``speak`` or ``generate``; ``params`` are the step's canonical
    params (see ``recipe.graph``); ``files`` are local inputs (a voice model, a reference clip)."""

    step_id: str
    kind: str
    params: dict[str, Any]
    take: int = 1
    files: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Take:
    """One rendering: ``data`` encoded as ``format`` (``wav``, ``mp3``…).

    ``placeholder`` marks a stand-in (not the requested sound); ``approximate`` a rendering that
    only approximates the request; ``notes`` say how, for the run's output and manifest.
    """

    data: bytes
    format: str
    placeholder: bool = False
    approximate: bool = False
    notes: tuple[str, ...] = ()
    request_id: str | None = None
    cost_usd: float = 0.0


@runtime_checkable
class Provider(Protocol):
    """A host of audio models. ``max_concurrency`` caps its requests in flight."""

    name: str
    max_concurrency: int

    def model_id(self, request: RenderRequest) -> str:
        """The model (and version) that would render ``request``: part of the input digest."""
        ...

    def check(self, request: RenderRequest) -> None:
        """Raise :class:`~audioflow.errors.ProviderError` if ``request`` cannot be rendered (an
        unknown voice, a limit exceeded). Spends nothing."""
        ...

    async def render(self, request: RenderRequest) -> Take:
        """Render one take. Raises :class:`~audioflow.errors.ProviderError`."""
        ...
