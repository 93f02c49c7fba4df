"""The small seam between the engine and every provider: render a request, return a take.

A provider module holds everything vendor-specific. The engine hands it a :class:`RenderRequest`
(the step's canonical params plus its audio inputs) and gets back a :class:`Take` (encoded audio
plus labels). Before any request is rendered, :meth:`Provider.check` runs on all of them, so
everything that can fail before spending money fails first.

Paid submissions are journalled: the engine gives a remote render a :class:`Journal` keyed by the
request's digest, the provider saves the host's request id (and poll URLs) in it *before* polling,
and a rerun after a crash finds it there and resumes polling instead of paying again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "API_KEY_ENV",
    "Journal",
    "Provider",
    "ProviderSettings",
    "Reference",
    "RenderRequest",
    "Take",
    "params_request_key",
]

#: Provider name → the environment variable holding its API key (PROVIDERS.md "Settings every
#: provider has"). Keys are read from there only, when a render needs them; the CLI scrubs every one
#: of them from everything it prints.
API_KEY_ENV = {"segmind": "SEGMIND_API_KEY", "fal": "FAL_KEY", "evolink": "EVOLINK_API_KEY"}

#: Voice params the engine applies after the take (never sent to a provider, never in a take's key).
ENGINE_VOICE_KEYS = ("gain_db",)


@runtime_checkable
class Journal(Protocol):
    """Durable state of one paid request (the artifact store keeps it under the request digest).

    ``save`` is atomic and fsynced before it returns: after it, a crash cannot lose the request id.
    """

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when nothing was submitted (or it was cleared)."""
        ...

    def save(self, state: dict[str, Any]) -> None:
        """Replace the saved state (JSON-able; never a secret)."""
        ...

    def clear(self) -> None:
        """Forget the state (the result is stored, or the host no longer holds the request)."""
        ...


@dataclass(frozen=True)
class Reference:
    """An audio input of a request: a cast voice's reference clip (``speak``/``scene``/``generate``,
    in ``@Audio1..3`` order) or the source audio of an ``isolate`` step (``name`` = ``"audio"``).

    ``path`` is a local file (WAV, or anything ffmpeg decodes); ``url`` an http(s) URL the recipe
    gave; ``sha256`` the content digest of ``path``'s bytes; ``duration_ms`` its length when known.
    Neither ``path`` nor ``url`` marks the output of a step not rendered yet (``check`` and cost
    estimates see such references; ``render`` never does): a local file to come.
    """

    name: str
    path: Path | None = None
    url: str | None = None
    sha256: str | None = None
    duration_ms: float | None = None


@dataclass(frozen=True)
class RenderRequest:
    """What to render. ``kind`` is ``speak``, ``scene``, ``generate`` or ``isolate``; ``params`` are
    the step's canonical params (see ``recipe.graph``); ``files`` are other local inputs (a Piper
    voice model, a reference image); ``references`` the audio inputs; ``journal`` is given by the
    engine to remote renders (see :class:`Journal`)."""

    step_id: str
    kind: str
    params: dict[str, Any]
    take: int = 1
    files: dict[str, Path] = field(default_factory=dict)
    references: tuple[Reference, ...] = ()
    journal: Journal | None = None


@dataclass(frozen=True)
class Take:
    """One rendering: ``data`` encoded as ``format`` (``wav``, ``mp3``…).

    ``placeholder`` marks a stand-in (not the requested sound); ``approximate`` a rendering that
    only approximates the request; ``notes`` say how, for the run's output and manifest.
    ``request_id`` is the host's id of the paid request; ``cost_usd`` what it cost (or its
    estimate from the published price when the host does not say).
    """

    data: bytes
    format: str
    placeholder: bool = False
    approximate: bool = False
    notes: tuple[str, ...] = ()
    request_id: str | None = None
    cost_usd: float = 0.0


@dataclass(frozen=True)
class ProviderSettings:
    """Per-provider knobs, from the recipe's ``providers:`` block (defaults otherwise).

    ``concurrency`` caps requests in flight (None: the provider's default); ``poll_interval_s`` is
    the first wait between status polls (it backs off to 4× that); ``timeout_s`` bounds one
    request from submit to result; ``retries`` bounds the retries of one HTTP call on 429/5xx.
    """

    concurrency: int | None = None
    poll_interval_s: float = 1.0
    timeout_s: float = 900.0
    retries: int = 6
    format: str = "wav"
    sample_rate_hz: int = 48000
    price_per_call_usd: float | None = None


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

    def request_key(self, request: RenderRequest) -> dict[str, Any]:
        """Everything that decides this provider's output for ``request``, as canonical JSON data
        (for a remote host: the body it would send, with content digests for local files). Paid
        takes are cached under this key, so a change the host never sees (a mix gain, a trim)
        never pays again."""
        ...

    def estimate_cost_usd(self, request: RenderRequest, expected_duration_s: float) -> float | None:
        """The expected price of rendering ``request`` (from the vendor's published prices), for
        ``plan`` and ``run --budget``; None when the price is not known."""
        ...

    async def render(self, request: RenderRequest) -> Take:
        """Render one take. Raises :class:`~audioflow.errors.ProviderError`."""
        ...


def params_request_key(request: RenderRequest) -> dict[str, Any]:
    """A request key for providers that render from the canonical params themselves (``local``):
    the params without what the engine applies afterwards (a voice's ``gain_db``; a generated
    sound's ``duration_ms`` stays, as the local placeholder renders that length), plus the audio
    inputs by content digest or URL."""

    def strip(voice: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in voice.items() if k not in ENGINE_VOICE_KEYS}

    params = dict(request.params)
    if isinstance(params.get("voice"), dict):
        params["voice"] = strip(params["voice"])
    if isinstance(params.get("voices"), dict):
        params["voices"] = {name: strip(v) for name, v in params["voices"].items()}
    params["references"] = [[ref.name, ref.sha256 or ref.url] for ref in request.references]
    return {"kind": request.kind, "params": params}
