"""The one error tree of audioflow.

Every error audioflow raises on purpose derives from :class:`AudioflowError`. Library code never
prints or exits; ``audioflow.cli`` turns these into output and exit codes (``exit_code`` on each class).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "AudioError",
    "AudioflowError",
    "CacheError",
    "ProviderError",
    "RecipeError",
    "RecipeErrors",
    "SourceLocation",
    "did_you_mean",
    "scrub",
]


def did_you_mean(name: str, choices: Iterable[object]) -> str | None:
    """``"did you mean 'x'?"`` for the closest of ``choices`` to ``name``, or None (the one
    suggestion helper: recipe errors and provider errors alike)."""
    close = difflib.get_close_matches(name, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


class AudioflowError(Exception):
    """Root of audioflow's errors. ``exit_code`` is what the CLI exits with (1: a run failed)."""

    exit_code = 1


@dataclass(frozen=True)
class SourceLocation:
    """A place in a recipe file: 1-based ``line`` and ``col`` as editors count them."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


class RecipeError(AudioflowError):
    """A recipe is invalid. Prints as ``path:line:col: message`` (plus ``hint`` when there is one).

    Exit code 2, like click's usage errors: the input is wrong, not the machine.
    """

    exit_code = 2

    def __init__(self, message: str, location: SourceLocation | None = None, hint: str | None = None):
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class RecipeErrors(RecipeError):
    """Several independent recipe errors found in one pass, ``errors`` in file order. Prints one
    ``path:line:col: message`` line each, at most ``shown`` of them and then how many more there are.
    Its own ``message``, ``location`` and ``hint`` are the first error's."""

    def __init__(self, errors: Iterable[RecipeError], shown: int = 20):
        self.errors = tuple(errors)
        self.shown = shown
        first = self.errors[0]
        super().__init__(first.message, first.location, first.hint)

    def __str__(self) -> str:
        lines = [RecipeError.__str__(e) for e in self.errors[: self.shown]]
        if len(self.errors) > self.shown:
            lines.append(f"... and {len(self.errors) - self.shown} more errors")
        return "\n".join(lines)


class CacheError(AudioflowError):
    """The artifact store cannot be read or written (permissions, disk full, corrupt record)."""


class AudioError(AudioflowError):
    """Audio could not be decoded, encoded or processed (ffmpeg failure, unsupported format)."""


class ProviderError(AudioflowError):
    """A provider failed to render a take.

    Carries the provider name, the HTTP status and request id when there is one, the vendor's
    message, and whether retrying may help. Never carries an API key. ``voice`` names the cast voice
    a refusal is about (the engine locates the recipe error there instead of at the step).
    """

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retryable: bool = False,
        voice: str | None = None,
    ):
        self.provider = provider
        self.voice = voice
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retryable = retryable
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [self.provider]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return f"{' '.join(parts)}: {self.message}"


def _forms(secret: str) -> set[str]:
    """The ways ``secret`` can appear in a message: as is, and escaped as Python's ``repr`` of the
    text or of its bytes, or JSON, would show it (``\\n``, ``\\x01``), or percent-encoded as a host
    echoing a URL or a form would show it (fal's ``key_id:secret`` as ``key_id%3Asecret``, in either case)."""
    from urllib.parse import quote, quote_plus  # here: importing the error tree stays cheap

    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], repr(secret.encode("utf-8", "replace"))[2:-1]}
    for encoded in (quote(secret, safe=""), quote_plus(secret, safe="")):
        forms |= {encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)}
    return {f for f in forms if len(f) >= 4}


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ``***`` (keys must not reach logs or errors), also
    where it appears escaped (a header value quoted in a transport error)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            for form in sorted(_forms(secret), key=len, reverse=True):
                text = text.replace(form, "***")
    return text
