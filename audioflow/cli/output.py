"""Everything the CLI prints goes through here: keys scrubbed, results on stdout, the rest on stderr,
and audioflow's errors turned into exit codes in one place.

Verbosity (``-q`` / ``-v``, kept in the click context's ``meta``): quiet prints results and errors
only; normal adds warnings, notes and the progress display; verbose adds a line per step. Colour
only on a terminal, never with ``NO_COLOR`` set (https://no-color.org)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ..errors import AudioflowError, RecipeError, scrub

#: Other secrets in the environment the CLI never shows: the shared cache's S3 credentials.
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def _key_values() -> list[str]:
    """The API keys and secrets in this process's environment, as set and stripped (what a provider sends)."""
    from ..providers.base import API_KEY_ENV

    names = [*API_KEY_ENV.values(), *SECRET_ENV]
    values = [os.environ.get(name, "") for name in names]
    return [v for value in values for v in (value, value.strip()) if v]


def _scrubbed(text: str) -> str:
    """``text`` with every API key and secret in the environment replaced."""
    return scrub(text, _key_values())


QUIET, NORMAL, VERBOSE = -1, 0, 1
_VERBOSITY_KEY = "audioflow.verbosity"


def _verbosity() -> int:
    """QUIET, NORMAL or VERBOSE, as ``-q`` / ``-v`` set it for the running command (NORMAL outside one)."""
    ctx = click.get_current_context(silent=True)
    return int(ctx.meta.get(_VERBOSITY_KEY, NORMAL)) if ctx is not None else NORMAL


def _set_verbosity(ctx: click.Context, level: int) -> None:
    """Record ``-q`` (QUIET) or ``-v`` (VERBOSE); both at once is a usage error."""
    before = ctx.meta.get(_VERBOSITY_KEY, NORMAL)
    if before not in (NORMAL, level):
        raise click.UsageError("-q/--quiet and -v/--verbose cannot be used together", ctx)
    ctx.meta[_VERBOSITY_KEY] = level


def _no_color() -> bool:
    """``NO_COLOR`` is set to a non-empty value (https://no-color.org)."""
    return bool(os.environ.get("NO_COLOR"))


def _echo(text: str, *, err: bool = False, nl: bool = True, fg: str | None = None) -> None:
    """Print ``text`` with every API key in the environment scrubbed: the last line of defence
    behind the providers' own scrubbing, so no output path of the CLI can show a key. ``fg``
    colours it, on a terminal only and never with ``NO_COLOR``."""
    text = _scrubbed(text)
    if fg is not None and not _no_color():
        text = click.style(text, fg=fg)
    click.echo(text, err=err, nl=nl, color=False if _no_color() else None)


def _err(text: str) -> None:
    """An error, on stderr (shown even with ``-q``)."""
    _echo(text, err=True, fg="red")


def _warn(text: str) -> None:
    """A warning, on stderr (hidden by ``-q``)."""
    if _verbosity() > QUIET:
        _echo(text, err=True, fg="yellow")


def _note(text: str) -> None:
    """A note about the result (a placeholder, an approximation), on stderr (hidden by ``-q``)."""
    if _verbosity() > QUIET:
        _echo(text, err=True)


def _info(text: str) -> None:
    """A detail shown with ``-v`` only, on stderr."""
    if _verbosity() >= VERBOSE:
        _echo(text, err=True)


@contextmanager
def _errors_to_exit_codes() -> Iterator[None]:
    """The one place that turns audioflow's errors into output and exit codes."""
    try:
        yield
    except RecipeError as exc:
        _err(str(exc))
        sys.exit(exc.exit_code)
    except AudioflowError as exc:
        _err(f"error: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("terminated" if _TERMINATED.is_set() else "interrupted")
        sys.exit(_interrupted_exit_code())


#: Set when SIGTERM arrived: the command unwinds as after Ctrl-C and exits 143 (128 + 15) instead of 130.
_TERMINATED = threading.Event()


def _interrupted_exit_code() -> int:
    """The exit code of a command stopped by a signal: 143 after SIGTERM, 130 after Ctrl-C."""
    return 128 + signal.SIGTERM if _TERMINATED.is_set() else 130


def _stop_on_sigterm() -> None:
    """Make SIGTERM stop the command the way Ctrl-C does (requests in flight cancelled, journals kept,
    partial temp files and locks removed) instead of killing the process where it stands. Call from
    the main thread."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: Any) -> None:
    """Hand SIGTERM to the SIGINT handler in force: ``asyncio.run``'s cancels the main task so the
    run unwinds through its cleanup. Otherwise (Python's own handler, or SIGINT ignored, as in a
    background job of a shell) raise KeyboardInterrupt: from the running event loop's next callback
    (outside any task, so ``asyncio.run`` cancels every task and lets it clean up), else here."""
    _TERMINATED.set()
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)
        return
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise KeyboardInterrupt from None
    loop.call_soon_threadsafe(_interrupt)


def _interrupt() -> None:
    raise KeyboardInterrupt


def _report_damage(store: Any) -> None:
    """Damaged cache files the store set aside (or could not) while planning or running, on stderr."""
    for finding in store.findings:
        _warn(str(finding))


def _usd(value: float | None) -> str:
    return "price unknown" if value is None else f"~${value:.4f}"


def _cost_json(costs: dict[str, tuple[float, int, int]]) -> dict[str, Any]:
    return {name: {"usd": usd, "requests": n, "unknown_price": u} for name, (usd, n, u) in costs.items()}


def _cost_lines(costs: dict[str, tuple[float, int, int]]) -> list[str]:
    lines = []
    for name, (usd, n, unknown) in costs.items():
        extra = f" + {unknown} of unknown price" if unknown else ""
        lines.append(f"estimated cost on {name}: ~${usd:.4f} for {n} paid requests{extra}")
    return lines or ["estimated cost: $0 (nothing to pay for)"]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _size(n_bytes: int) -> str:
    """``n_bytes`` for people: 512 B, 1.5 KB, 12.3 MB, 2.0 GB (powers of 1000)."""
    if n_bytes < 1000:
        return f"{n_bytes} B"
    value, unit = n_bytes / 1000, "KB"
    for bigger in ("MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}"
