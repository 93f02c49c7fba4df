from __future__ import annotations

import subprocess
import sys
import types

import audioflow.audio as audio_pkg


def test_exports_match_all() -> None:
    # A lazy front door (PEP 562): its public names are those it imports on first use, and each resolves.
    assert set(audio_pkg.__all__) == set(audio_pkg._LAZY)
    assert all(not isinstance(getattr(audio_pkg, name), types.ModuleType) for name in audio_pkg.__all__)
    assert callable(audio_pkg.master)  # the function, not the submodule of the same name
    assert sorted(audio_pkg.__all__, key=str.lower) == sorted(set(audio_pkg.__all__), key=str.lower)


def test_import_has_no_side_effects() -> None:
    code = (
        "import subprocess, sys\n"
        "calls = []\n"
        "subprocess.Popen.__init__ = lambda *a, **k: calls.append(a)\n"
        "import audioflow.audio\n"
        "assert not calls, calls\n"
        "assert 'imageio_ffmpeg' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_master_is_the_function_whichever_is_imported_first() -> None:
    code = (
        "import audioflow.audio.master\n"  # the submodule first: the import system binds it to the package
        "import audioflow.audio as audio\n"
        "from audioflow.audio import master\n"
        "assert callable(audio.master) and audio.master is master, audio.master\n"
        "assert master.__module__ == 'audioflow.audio.master'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
