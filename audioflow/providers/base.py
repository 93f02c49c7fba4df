"""The small seam between the engine and every provider: prepare a request once, render it.

A provider module holds everything vendor-specific. The engine hands it a :class:`RenderRequest`
(the step's typed payload plus its audio inputs) and :meth:`Provider.prepare` turns it, once, into a
:class:`PreparedRequest`: the model id, the request key (what the host is sent, for the paid-take
cache), the cost estimate, notes and the host call itself. ``prepare`` raises every limit the host
has (a :class:`~audioflow.errors.ProviderError`, with ``voice`` set when a cast voice is at fault), so
plan, budget and render all use that one result and everything that can fail before spending money
fails first. :meth:`Provider.render` sends a prepared request and returns a :class:`Take`.

Paid submissions are journalled: the engine gives a remote render a :class:`Journal` keyed by the
request's digest, the provider saves the host's request id (and poll URLs) in it *before* polling,
and a rerun after a crash finds it there and resumes polling instead of paying again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..steps import GeneratePayload, IsolatePayload, LinesPayload, StepKind, file_sha256

__all__ = [
    "API_KEY_ENV",
    "Journal",
    "PreparedRequest",
    "Provider",
    "ProviderSettings",
    "Reference",
    "RenderRequest",
    "Take",
    "local_request_key",
]

#: Provider name → the environment variable holding its API key (PROVIDERS.md "Settings every
#: provider has"). Keys are read from there only, when a render needs them; the CLI scrubs every one
#: of them from everything it prints.
API_KEY_ENV = {"segmind": "SEGMIND_API_KEY", "fal": "FAL_KEY", "evolink": "EVOLINK_API_KEY"}


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
        """Forget the state (the result is stored, or the host no longer holds the request); durable
        when it returns. A shared journal forgets only the state this holder loaded or saved."""
        ...


@dataclass(frozen=True)
class Reference:
    """An audio input of a request: a cast voice's reference clip (``speak``/``scene``/``generate``,
    in ``@Audio1..3`` order) or the source audio of an ``isolate`` step (``name`` = ``"audio"``).

    ``path`` is a local file (WAV, or anything ffmpeg decodes); ``url`` an http(s) URL the recipe
    gave; ``sha256`` the content digest of ``path``'s bytes; ``duration_ms`` its length when known.
    None of ``path``, ``url`` and ``sha256`` marks the output of a step not rendered yet
    (:attr:`pending`): ``prepare`` sees such references at plan time; ``render`` never does.
    """

    name: str
    path: Path | None = None
    url: str | None = None
    sha256: str | None = None
    duration_ms: float | None = None

    @property
    def pending(self) -> bool:
        return self.path is None and self.url is None and self.sha256 is None

    def digest(self) -> str | None:
        """The content digest of the local file (hashed once if not given), None for a URL."""
        if self.sha256 is not None or self.path is None:
            return self.sha256
        return file_sha256(self.path)


@dataclass(frozen=True)
class RenderRequest:
    """What to render: a step's typed ``payload`` (``speak``/``scene`` lines, ``generate`` or
    ``isolate``), its ``take``, local ``files`` (a Piper voice model, a reference image), the audio
    ``references`` and the output length the engine expects to be billed (for estimates)."""

    step_id: str
    payload: LinesPayload | GeneratePayload | IsolatePayload
    take: int = 1
    files: dict[str, Path] = field(default_factory=dict)
    references: tuple[Reference, ...] = ()
    expected_duration_s: float = 0.0

    @property
    def kind(self) -> StepKind:
        return self.payload.kind

    @property
    def pending(self) -> bool:
        """Whether an audio input is still to be rendered (the request key cannot be known yet)."""
        return any(ref.pending for ref in self.references)

    def reference(self, name: str) -> Reference | None:
        """The reference called ``name`` (a cast voice's clip, or ``audio``), or None."""
        return next((ref for ref in self.references if ref.name == name), None)


@dataclass(frozen=True)
class PreparedRequest:
    """A request made ready once (:meth:`Provider.prepare`): ``model`` (part of the input digest),
    ``key`` (everything that decides the host's output, as canonical JSON data: the paid take is
    cached under it; None while :attr:`RenderRequest.pending`), ``cost_usd`` (the estimate from the
    vendor's published price; None when unknown), ``notes`` for the run's output, and ``body``:
    the host call as the provider built it (opaque to the engine)."""

    request: RenderRequest
    model: str
    key: dict[str, Any] | None
    cost_usd: float | None
    notes: tuple[str, ...] = ()
    body: Any = None


@dataclass(frozen=True)
class Take:
    """One rendering: ``data`` encoded as ``format`` (``wav``, ``mp3``…).

    ``placeholder`` marks a stand-in (not the requested sound); ``approximate`` a rendering that
    only approximates the request; ``notes`` say how, for the run's output and manifest.
    ``request_id`` is the host's id of the paid request; ``cost_usd`` what it cost (or its
    estimate from the published price when the host does not say). ``line_spans_ms`` are the
    (start, end) of each line of a ``speak``/``scene`` take, ms, when the provider knows them (the
    local provider speaks line by line); empty when it does not (a remote host returns one file).
    """

    data: bytes
    format: str
    placeholder: bool = False
    approximate: bool = False
    notes: tuple[str, ...] = ()
    request_id: str | None = None
    cost_usd: float = 0.0
    line_spans_ms: tuple[tuple[float, float], ...] = ()


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
    """A host of audio models: everything the engine relies on.

    ``max_concurrency`` caps its requests in flight. ``local`` is True for a provider that renders on
    this machine's cores, for free (the engine's ``-j`` limit applies; no budget, no journal); a
    remote provider is paid."""

    name: str
    max_concurrency: int
    local: bool

    def ready(self) -> None:
        """Raise :class:`~audioflow.errors.ProviderError` if nothing can be rendered now (a missing
        API key). Called before the first paid submission; spends nothing."""
        ...

    def prepare(self, request: RenderRequest) -> PreparedRequest:
        """Build the host request once: model, key, cost, notes, body. Raises
        :class:`~audioflow.errors.ProviderError` for everything the host would refuse (an unknown
        voice, a limit exceeded). Reads no key; stats local files only; spends nothing."""
        ...

    async def render(self, prepared: PreparedRequest, journal: Journal | None = None) -> Take:
        """Render one take of a prepared (never pending) request. Raises :class:`~audioflow.errors.ProviderError`."""
        ...


def local_request_key(request: RenderRequest) -> dict[str, Any]:
    """A request key for providers that render from the payload themselves (``local``): its
    canonical data without what the engine applies afterwards (a voice's ``gain_db``; a generated
    sound's ``duration_ms`` stays, as the local placeholder renders that length), plus the audio
    inputs by content digest or URL."""
    params = request.payload.canonical(for_host=True)
    params["references"] = [[ref.name, ref.sha256 or ref.url] for ref in request.references]
    return {"kind": request.kind, "params": params}
