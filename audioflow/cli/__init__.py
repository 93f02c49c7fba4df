"""The command line: the only place that prints or picks an exit code.

Exit codes: 0 success; 1 a render failed (or another runtime error); 2 an invalid recipe or usage.
Recipe errors print as ``path:line:col: message`` on stderr, never with a traceback
(set ``AUDIOFLOW_DEBUG=1`` to see one for an internal error and for each failed step).

The commands live in modules by job: ``describe`` (validate, schema, voices), ``init``, ``render`` (plan, run,
graph), ``report`` (report), ``watch``, ``cache`` (cache verify, gc, info); ``output`` prints, ``options`` holds the
shared options.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback

import click

from .. import __version__
from . import cache as _cache
from . import describe as _describe
from . import init as _init
from . import render as _render
from . import report as _report
from . import watch as _watch
from .options import _add_verbosity, _verbosity_options
from .output import _TERMINATED, _err, _interrupted_exit_code, _stop_on_sigterm

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audioflow")
def cli() -> None:
    """audioflow: a YAML recipe in, a mastered episode out.

    Results go to stdout; warnings, notes, progress and errors to stderr. -q/--quiet and
    -v/--verbose work here and on every command."""


for _command in (
    _describe.validate,
    _render.plan,
    _render.run,
    _cache.cache,
    _render.graph,
    _report.report,
    _describe.schema,
    _describe.voices,
    _init.init,
    _watch.watch,
):
    _add_verbosity(_command)
    cli.add_command(_command)
cli.params.extend(_verbosity_options())


def main() -> None:
    """Console entry point. A finished command exits at once (:func:`_exit_now`). SIGTERM stops a
    command as Ctrl-C does, with exit code 143."""
    _stop_on_sigterm()
    try:
        cli.main(prog_name="audioflow")
    except SystemExit as done:
        if _TERMINATED.is_set():  # stopped where click (not audioflow) turned the interrupt into "Aborted!"
            done.code = _interrupted_exit_code()
        if done.code is None or isinstance(done.code, int):
            _exit_now(done.code or 0)
        raise
    except Exception as exc:  # never a traceback for users, unless they ask
        if os.environ.get("AUDIOFLOW_DEBUG"):
            _err(traceback.format_exc().rstrip())
        _err(f"internal error: {type(exc).__name__}: {exc} (set AUDIOFLOW_DEBUG=1 for a traceback; please report it)")
        sys.exit(1)


def _exit_now(code: int) -> None:
    """Flush stdout and stderr and end the process with ``code`` without the interpreter's teardown,
    when nothing is left running: no other thread but daemons, no child process. A run that
    rendered has loaded numpy, scipy, onnxruntime and matplotlib (~1,300 modules), and tearing
    them down took 0.3-1 s after the last line was printed (every file is already written, fsynced
    and renamed). Otherwise (a thread or child still at work) this returns and Python exits as usual."""
    if any(not thread.daemon for thread in threading.enumerate() if thread is not threading.main_thread()):
        return
    processes = sys.modules.get("multiprocessing")
    if processes is not None and processes.active_children():
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken pipe: let Python report it as it would
        return
    os._exit(code)
