from __future__ import annotations

import subprocess
import sys
import types

import audioflow.audio as audio_pkg


def test_exports_match_all() -> None:
    public = {
        name
        for name, value in vars(audio_pkg).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert set(audio_pkg.__all__) == public
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
