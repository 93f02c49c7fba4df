"""A paid job at a host: submit once, journal, poll, resume — the protocol every remote host shares.

:func:`run_job` alone decides when a journal is cleared, by one rule for all hosts:

* the take arrives: the journal stays, and the engine clears it once the take is stored;
* the host gives its final answer on the request (failed, refused, blocked): :class:`JobFailed`
  clears it, so a rerun submits afresh instead of resuming the same failure;
* the host no longer holds the request (expired, cancelled): :class:`JobGone`. A request resumed
  from an earlier run is forgotten and submitted once more (a note says so); one submitted in this
  run fails with the host's error, and the journal stays (a rerun finds it gone and resubmits);
* the run is interrupted while polling: the host's ``cancel`` (when it has one) says whether
  anything can still bill; only when nothing can is the journal cleared;
* anything else (a timeout, a transport failure): the journal stays, so a rerun resumes.

:func:`poll` is the one poll loop (back-off and timeout) the hosts share.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import CacheError, ProviderError
from .base import Journal, ProviderSettings
from .http import HttpClient, Sleep

__all__ = ["JobFailed", "JobGone", "format_of", "poll", "poll_wait", "run_job"]

T = TypeVar("T")

#: Content types and file suffixes of the audio the hosts return → audioflow's format names.
_FORMATS_BY_TYPE = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/flac": "flac",
}
_FORMATS_BY_SUFFIX = {"mp3": "mp3", "wav": "wav", "ogg": "ogg", "opus": "ogg", "flac": "flac"}


class JobFailed(ProviderError):
    """The host's final answer on a request (FAILED, a content block): nothing to resume."""

    @classmethod
    def of(cls, error: ProviderError) -> JobFailed:
        return cls(error.provider, error.message, status=error.status, request_id=error.request_id)


class JobGone(Exception):
    """The host no longer holds a journalled request (404 after its retention period, cancelled).

    ``error`` is what to raise when the request was submitted in this run (nothing to resubmit)."""

    def __init__(self, detail: str, error: ProviderError):
        super().__init__(detail)
        self.error = error


async def run_job(
    journal: Journal | None,
    submit: Callable[[], Awaitable[dict[str, Any]]],
    finish: Callable[[dict[str, Any], bool], Awaitable[T]],
    *,
    cancel: Callable[[dict[str, Any]], Awaitable[bool]] | None = None,
) -> tuple[T, list[str]]:
    """Submit once, persist, then finish (poll, fetch, download), resuming a journalled request.

    ``submit()`` sends the paid request and returns the state to persist (at least ``request_id``,
    plus the poll URLs); it is saved in ``journal`` *before* ``finish(state, resumed)`` polls. If the
    journal already holds a state, nothing is sent: ``finish`` resumes it. ``cancel(state)`` is
    called when the run is interrupted while finishing and returns whether nothing can bill any
    more. The journal is cleared as the module docstring says. Returns (``finish``'s result, notes).
    """
    state = await asyncio.to_thread(journal.load) if journal is not None else None
    notes: list[str] = []
    if state is not None:
        try:
            result = await _finish(journal, finish, cancel, state, resumed=True)
            return result, [f"resumed request {state.get('request_id')} from an earlier run"]
        except JobGone as gone:
            await _clear(journal)
            notes.append(
                f"request {state.get('request_id')} from an earlier run had expired at the host ({gone}); "
                "submitted again"
            )
    state = await _submit_uncancelled(submit, journal)
    try:
        return await _finish(journal, finish, cancel, state, resumed=False), notes
    except JobGone as gone:
        raise gone.error from gone


async def _submit_uncancelled(
    submit: Callable[[], Awaitable[dict[str, Any]]], journal: Journal | None
) -> dict[str, Any]:
    """Submit and journal, to the end even when the caller is cancelled: once sent, a submission is
    paid for, so a cancellation (a worker closing, Ctrl-C, SIGTERM) waits for the host's answer and
    its journal rather than lose the request id, then propagates. A bare ``asyncio.shield`` is not
    enough: the caller would end at once, and ``asyncio.run``, finding the shielded submission still
    pending as it closes, would cancel it mid-request (the host bills it; no journal remembers it)."""
    sending = asyncio.ensure_future(_submit_and_save(submit, journal))
    cancelled = False
    while True:
        try:
            state = await asyncio.shield(sending)
        except asyncio.CancelledError:
            if sending.done():
                raise
            cancelled = True
            continue
        if cancelled:
            raise asyncio.CancelledError
        return state


async def _submit_and_save(submit: Callable[[], Awaitable[dict[str, Any]]], journal: Journal | None) -> dict[str, Any]:
    state = await submit()
    if journal is not None:
        await asyncio.to_thread(journal.save, state)
    return state


async def _finish(
    journal: Journal | None,
    finish: Callable[[dict[str, Any], bool], Awaitable[T]],
    cancel: Callable[[dict[str, Any]], Awaitable[bool]] | None,
    state: dict[str, Any],
    *,
    resumed: bool,
) -> T:
    try:
        return await finish(state, resumed)
    except JobFailed as failed:
        try:
            await _clear(journal)
        except CacheError as exc:  # the host's answer stays the error; a rerun asks the host again
            failed.add_note(f"its journal stays ({exc}): a rerun finds the request failed and submits afresh")
        raise
    except asyncio.CancelledError:
        if cancel is not None and await cancel(state):
            await _clear(journal)
        raise


async def _clear(journal: Journal | None) -> None:
    """Clear ``journal``, durably (see :meth:`Journal.clear`), off the event loop: a bucket's delete
    is a round trip, and on a Dask worker the loop carries heartbeats and lease renewals."""
    if journal is not None:
        await asyncio.to_thread(journal.clear)


async def poll_wait(interval_s: float, polls: int, sleep: Sleep) -> float:
    """Wait before poll number ``polls`` (0-based): none before the first, then ``interval_s``
    growing 1.5× per poll up to 4×. Returns the seconds waited (a virtual clock for timeouts)."""
    wait_s = interval_s * min(4.0, 1.5 ** min(max(0, polls - 1), 8)) if polls else 0.0
    await sleep(wait_s)
    return wait_s


async def poll(
    status: Callable[[], Awaitable[T | None]],
    settings: ProviderSettings,
    sleep: Sleep,
    timed_out: tuple[HttpClient, str, Callable[[float], str]],
) -> T:
    """Call ``status()`` until it returns a result (not None), waiting per :func:`poll_wait` from
    ``settings.poll_interval_s``.

    The one timeout rule: once the time since the first poll — the longer of the real and the
    waited (virtual) clock — reaches ``settings.timeout_s``, raise the retryable error
    ``client.error(message(elapsed_s))`` of request ``request_id``, from ``timed_out = (client,
    request_id, message)`` (the journal stays: a rerun resumes). ``status`` raises for a failure
    (:class:`JobFailed`, :class:`JobGone`)."""
    start, waited_s, polls = time.monotonic(), 0.0, 0
    while True:
        waited_s += await poll_wait(settings.poll_interval_s, polls, sleep)
        polls += 1
        result = await status()
        if result is not None:
            return result
        elapsed_s = max(time.monotonic() - start, waited_s)
        if elapsed_s >= settings.timeout_s:
            client, request_id, message = timed_out
            raise client.error(message(elapsed_s), request_id=request_id, retryable=True)


def format_of(content_type: str, url: str, fallback: str) -> str:
    """An audio format name (``mp3``, ``wav``, ``ogg``, ``flac``) from a content type or URL suffix."""
    by_type = _FORMATS_BY_TYPE.get(content_type.split(";")[0].strip().lower())
    if by_type is not None:
        return by_type
    path = urlsplit(url).path
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return _FORMATS_BY_SUFFIX.get(suffix, fallback)
