"""Import the audio stack in a background thread while a run's first steps render.

A run that renders anything needs scipy.ndimage (the limiter), soxr (resampling, pitch, true
peak), pedalboard (a local voice's shelves), libebur128 (loudness) and, for the report, matplotlib:
about 1 s of imports on this machine, which the steps would otherwise pay one after another on the
critical path (a local voice's line first imports soxr, the master scipy.ndimage, the report
matplotlib). scipy.signal is not among them: no step of a local edit uses it (it alone cost 0.6 s;
``tests/test_startup.py`` keeps it out). Started as soon as the plan shows stale steps, the
imports overlap what does not hold the GIL: Piper speaking a line, ffmpeg, file I/O. A no-op run
starts nothing (it never loads the audio stack: ``tests/test_startup.py``).
"""

from __future__ import annotations

import contextlib
import importlib
import threading

__all__ = ["WARM_MODULES", "import_modules", "warm_imports"]

#: In the order the run first needs them; numpy first (every other one imports it).
WARM_MODULES = (
    "numpy",
    "soxr",
    "pedalboard",
    "pyebur128",
    "scipy.ndimage",
    "matplotlib.figure",
    "matplotlib.backends.backend_svg",
)


def import_modules(names: tuple[str, ...] = WARM_MODULES) -> None:
    """Import ``names`` in this thread, leaving a failure for the code that needs the module."""
    for name in names:
        with contextlib.suppress(Exception):  # an import that fails here fails again, reported, where it is used
            importlib.import_module(name)


def warm_imports(names: tuple[str, ...] = WARM_MODULES) -> threading.Thread:
    """Start importing ``names`` in a daemon thread (errors are left for the code that needs the
    module to meet and report); the thread, started."""
    thread = threading.Thread(target=import_modules, args=(names,), name="audioflow-warm", daemon=True)
    thread.start()
    return thread
