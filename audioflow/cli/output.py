"""Everything the CLI prints goes through here: keys scrubbed, results on stdout, the rest on stderr,
and audioflow's errors turned into exit codes in one place."""

from __future__ import annotations

import os
import sys
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


def _echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print ``text`` with every API key in the environment scrubbed: the last line of defence
    behind the providers' own scrubbing, so no output path of the CLI can show a key."""
    click.echo(scrub(text, _key_values()), err=err, nl=nl)


def _err(text: str) -> None:
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
        _err("interrupted")
        sys.exit(130)


def _report_damage(store: Any) -> None:
    """Damaged cache files the store set aside (or could not) while planning or running, on stderr."""
    for finding in store.findings:
        _err(str(finding))


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
