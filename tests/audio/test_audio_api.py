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


def test_audio_imports_only_what_it_may() -> None:
    allowed = {
        "numpy",
        "scipy",
        "soxr",
        "pyebur128",
        "pydub",
        "pyloudnorm",
        "imageio_ffmpeg",
        "librosa",
        "noisereduce",
        "audioflow",
    }
    import ast
    from pathlib import Path

    for path in Path(audio_pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "audioflow":
                    assert name.split(".")[1] in {"audio", "errors", "units"}, (path.name, name)
                else:
                    assert top in allowed or top in sys.stdlib_module_names, (path.name, name)
