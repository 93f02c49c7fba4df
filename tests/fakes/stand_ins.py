"""What a provider takes by injection in its tests: a journal kept in memory and a sleep that never waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["DictJournal", "Sleeps"]


class _Counts(Protocol):
    def count(self, method: str | None = None, path: str | None = None) -> int: ...


class DictJournal:
    """A Journal in memory, JSON round-tripped as the artifact store keeps it on disk.

    ``saves`` lists every state saved; ``polls_at_save`` how many ``GET`` requests matching
    ``status_path`` the fake ``host`` had answered at each save (-1 without a host); ``cleared``
    counts clears."""

    def __init__(self, host: _Counts | None = None, status_path: str | None = None) -> None:
        self.state: dict[str, Any] | None = None
        self.host = host
        self.status_path = status_path
        self.saves: list[dict[str, Any]] = []
        self.polls_at_save: list[int] = []
        self.cleared = 0

    def load(self) -> dict[str, Any] | None:
        return json.loads(json.dumps(self.state)) if self.state is not None else None

    def save(self, state: dict[str, Any]) -> None:
        self.state = json.loads(json.dumps(state))  # JSON-able, as the store requires
        self.saves.append(json.loads(json.dumps(state)))
        self.polls_at_save.append(self.host.count("GET", self.status_path) if self.host is not None else -1)

    def clear(self) -> None:
        self.state = None
        self.cleared += 1


class Sleeps:
    """An injected sleep: records the seconds asked in ``calls``, runs ``hook(len(calls))`` if
    given, yields to the event loop once and never waits."""

    def __init__(self, hook: Callable[[int], object] | None = None) -> None:
        self.calls: list[float] = []
        self.hook = hook

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.hook is not None:
            self.hook(len(self.calls))
        await asyncio.sleep(0)
