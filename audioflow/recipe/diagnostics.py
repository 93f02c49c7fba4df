"""Every independent error of a recipe in one pass: a :class:`Collector` gathers the
:class:`~audioflow.errors.RecipeError` of each independent part (a cast voice, a step, a mix track,
the master…) and raises them together, in file order, as :class:`~audioflow.errors.RecipeErrors`
(one error alone is raised as itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import RecipeError, RecipeErrors

__all__ = ["MAX_SHOWN", "Collector"]

#: The most errors printed at once (``validate`` says how many more there are).
MAX_SHOWN = 20


def _position(error: RecipeError) -> tuple[int, int]:
    location = error.location
    return (location.line, location.col) if location is not None else (1 << 30, 0)


class Collector:
    """Gathers recipe errors from independent parts; :meth:`raise_any` raises them in file order."""

    def __init__(self) -> None:
        self.errors: list[RecipeError] = []

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Run one independent part: its recipe error(s) are kept, and the caller goes on."""
        try:
            yield
        except RecipeError as exc:
            self.add(exc)

    def add(self, error: RecipeError) -> None:
        self.errors.extend(error.errors if isinstance(error, RecipeErrors) else (error,))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_any(self) -> None:
        """Raise what was gathered (duplicates once, ordered by position). Raises :class:`RecipeError`."""
        unique = list({str(RecipeError.__str__(e)): e for e in self.errors}.values())
        if not unique:
            return
        unique.sort(key=_position)
        raise unique[0] if len(unique) == 1 else RecipeErrors(unique, MAX_SHOWN)
