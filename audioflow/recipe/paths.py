"""Where a recipe may read and where a run may write: the one place local paths are decided.

A recipe is untrusted input (see ``docs/explanation/security.md``). Two rules hold for every recipe:

- **Inputs are confined.** Every local file a recipe names (``file:``, ``isolate.audio``, a clone's
  reference clip, ``image:``, a Piper ``model:`` and its ``.onnx.json``) is resolved with symlinks
  followed (``Path.resolve(strict=True)``) and must land inside the recipe's folder or a folder the
  user allowed (``--allow-dir DIR``, ``$AUDIOFLOW_ALLOW_DIRS``), be a regular file (not a folder, FIFO,
  socket or device) and lie outside ``/proc`` and ``/sys``. :meth:`Confinement.resolve`
  returns the *resolved* path, which is what later code hashes, decodes and uploads.
- **Outputs never replace user data.** The output and every sidecar a bounce writes
  (:func:`sidecar_paths`) must differ from the recipe file, from every input the confinement let
  through, from each other, and lie outside the cache folder (:func:`check_outputs`); the output's
  extension must suit the format (:func:`extension_matches`).

Every refusal is a :class:`RecipeError` located in the recipe, raised at ``validate`` time.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from ..errors import RecipeError, SourceLocation

if TYPE_CHECKING:
    from .model import Recipe

__all__ = [
    "ALLOW_DIRS_ENV",
    "CACHE_ENV",
    "FORMAT_EXTENSIONS",
    "SIDECAR_FOLDERS",
    "SYSTEM_FOLDERS",
    "Confinement",
    "allowed_folders",
    "cache_folder",
    "check_outputs",
    "extension_matches",
    "sidecar_paths",
]

#: Extra folders local inputs may be read from, separated by ``os.pathsep`` (``:`` on POSIX).
ALLOW_DIRS_ENV = "AUDIOFLOW_ALLOW_DIRS"
#: The artifact store when no ``--cache-dir`` is given (default: ``.audioflow/`` beside the recipe).
CACHE_ENV = "AUDIOFLOW_CACHE_DIR"
#: Pseudo-file systems never read as inputs, even inside an allowed folder (``/proc/self/environ``).
#: Their files look regular; devices (``/dev``) are refused by their file type wherever they are.
SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"))
#: The extensions an output may have for each ``master.format`` (ogg and opus are both Opus in Ogg).
FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "mp3": (".mp3",),
    "wav": (".wav",),
    "flac": (".flac",),
    "ogg": (".ogg", ".opus"),
    "opus": (".opus", ".ogg"),
    "m4a": (".m4a",),
    "m4b": (".m4b",),
}
_ALLOW_HINT = f"to read files from another folder, allow it: --allow-dir DIR or {ALLOW_DIRS_ENV}"
_SIDECAR_LABELS = {
    "srt": "the .srt transcript",
    "vtt": "the .vtt transcript",
    "transcript_json": "the JSON transcript",
    "manifest": "the manifest",
    "chapters": "the JSON chapters",
    "labels": "the label track",
    "stems": "the stems folder",
}
#: Sidecar roles that are folders (the bounce writes files inside them), not files.
SIDECAR_FOLDERS = ("stems",)
#: The longest file or folder name (bytes) that common file systems take (ext4, APFS, NTFS: 255).
NAME_MAX_BYTES = 255
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def allowed_folders(given: Iterable[Path | str] = (), environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The folders named by the user (``given``, then ``$AUDIOFLOW_ALLOW_DIRS``), resolved.

    Raises :class:`RecipeError` (exit 2) for one that is not an existing folder."""
    env = os.environ if environ is None else environ
    named = [(f"--allow-dir {g}", Path(g)) for g in given]
    named += [(f"{ALLOW_DIRS_ENV}: {e}", Path(e)) for e in env.get(ALLOW_DIRS_ENV, "").split(os.pathsep) if e]
    folders: list[Path] = []
    for source, folder in named:
        try:
            resolved = folder.resolve(strict=True)
            is_dir = resolved.is_dir()
        except (OSError, RuntimeError, ValueError):
            is_dir = False
        if not is_dir:
            raise RecipeError(f"{source}: not an existing folder")
        folders.append(resolved)
    return tuple(dict.fromkeys(folders))


def cache_folder(recipe_root: Path, given: Path | str | None = None) -> Path | str:
    """The artifact store of a recipe in ``recipe_root``: ``given`` (``--cache-dir``), else
    ``$AUDIOFLOW_CACHE_DIR``, else ``.audioflow/`` beside the recipe. The one place this is decided.
    A bucket URL (``s3://bucket/prefix``) is returned as the string it is; a folder as a Path."""
    chosen = given if given is not None else os.environ.get(CACHE_ENV) or None
    if chosen is None:
        return recipe_root / ".audioflow"
    if str(chosen).startswith("s3://"):
        return str(chosen)
    if other := cache_url_scheme(str(chosen)):
        source = "--cache-dir" if given is not None else CACHE_ENV
        raise RecipeError(
            f"{source} {chosen}: a cache is a folder or s3://bucket/prefix, not a {other}:// URL",
            hint="write a folder as a plain path: /srv/cache, not file:///srv/cache",
        )
    return Path(chosen)


def cache_url_scheme(text: str) -> str | None:
    """The scheme of ``text`` when it is a URL (``file://…``, ``http://…``) other than ``s3://``:
    a cache location of that form would otherwise be read as a folder named ``file:``."""
    found = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    return found.group(1) if found and found.group(1) != "s3" else None


@dataclass
class Confinement:
    """The folders a recipe's local inputs may come from, and every input resolved so far.

    ``root`` is the recipe's folder as written (for messages); ``folders`` are the resolved folders
    (the recipe's first); ``inputs`` maps each accepted resolved path to what it is and its line,
    so :func:`check_outputs` can protect it."""

    root: Path
    folders: tuple[Path, ...]
    inputs: dict[Path, str] = field(default_factory=dict)

    @classmethod
    def for_recipe(cls, recipe_path: Path, allow_dirs: Iterable[Path | str] = ()) -> Confinement:
        """The confinement of the recipe at ``recipe_path``: its folder plus :func:`allowed_folders`."""
        root = recipe_path.parent
        return cls(root, tuple(dict.fromkeys((root.resolve(), *allowed_folders(allow_dirs)))))

    def resolve(
        self,
        written: str | PurePath,
        location: SourceLocation,
        what: str,
        *,
        missing: tuple[str, str | None] | None = None,
    ) -> Path:
        """The resolved path of local input ``written`` (relative to the recipe's folder), e.g.
        ``what="audio file"``. ``missing`` replaces the (message, hint) of a file that does not exist.

        Raises :class:`RecipeError` at ``location`` unless it is a readable regular file inside an
        allowed folder."""
        shown = f"{what} {str(written)!r}"
        lexical = Path(os.path.normpath(self.folders[0] / written))
        try:
            resolved = (self.folders[0] / written).resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise self._missing(shown, location, missing) from exc
        except RuntimeError as exc:  # Python 3.11 reports a symlink loop this way
            raise RecipeError(f"{shown} is a symlink loop", location) from exc
        except ValueError as exc:  # an embedded NUL byte
            raise RecipeError(f"{shown} is not a usable path: {exc}", location) from exc
        except OSError as exc:  # a name too long, a loop (3.13), no permission on a folder
            if exc.errno == errno.ENAMETOOLONG:
                raise self._missing(shown, location, missing) from exc
            raise RecipeError(f"{shown} cannot be read: {exc.strerror or exc}", location) from exc
        self._check_inside(shown, resolved, lexical, location)
        self._check_regular(shown, resolved, location)
        self.inputs.setdefault(resolved, f"{shown} (line {location.line})")
        return resolved

    def _missing(self, shown: str, location: SourceLocation, missing: tuple[str, str | None] | None) -> RecipeError:
        message, hint = missing or (
            f"{shown} not found",
            f"paths are relative to the recipe's folder {_folder_name(self.root)}",
        )
        return RecipeError(message, location, hint)

    def _check_inside(self, shown: str, resolved: Path, lexical: Path, location: SourceLocation) -> None:
        if _is_system(resolved):
            raise RecipeError(
                f"{shown} is a system file ({resolved}), not a regular file",
                location,
                f"files under {' and '.join(map(str, SYSTEM_FOLDERS))} are never read",
            )
        if any(resolved.is_relative_to(folder) for folder in self.folders):
            return
        where = "the recipe's folder" + (" and the allowed folders" if len(self.folders) > 1 else "")
        if resolved != lexical and any(lexical.is_relative_to(folder) for folder in self.folders):
            raise RecipeError(f"{shown} is a link to {resolved}, outside {where}", location, _ALLOW_HINT)
        raise RecipeError(f"{shown} is outside {where}", location, _ALLOW_HINT)

    @staticmethod
    def _check_regular(shown: str, resolved: Path, location: SourceLocation) -> None:
        try:
            mode = resolved.stat().st_mode
        except OSError as exc:
            raise RecipeError(f"{shown} cannot be read: {exc.strerror or exc}", location) from exc
        kind = next((name for test, name in _KINDS if test(mode)), None)
        if kind is not None or not stat.S_ISREG(mode):
            raise RecipeError(f"{shown} is {kind or 'not a regular file'}", location, "inputs are regular files")
        if not os.access(resolved, os.R_OK):
            raise RecipeError(f"{shown} cannot be read: permission denied", location)


def _is_system(path: Path) -> bool:
    return any(path.is_relative_to(folder) for folder in SYSTEM_FOLDERS)


def extension_matches(output: PurePath, fmt: str) -> bool:
    """Whether ``output``'s extension suits ``master.format`` ``fmt`` (see :data:`FORMAT_EXTENSIONS`)."""
    return output.suffix.lower() in FORMAT_EXTENSIONS.get(fmt, (f".{fmt}",))


def sidecar_paths(output: Path, stem: str | None = None) -> dict[str, Path]:
    """Every file a bounce may write beside ``output``, by role: ``srt``, ``vtt`` and
    ``transcript_json`` (Podcasting 2.0) transcripts (written when the programme has speech), the
    ``manifest``, the Podcasting 2.0 JSON ``chapters`` (written when the recipe declares chapters),
    the ``report`` (HTML), and with ``stems:`` the Audacity ``labels`` and the ``stems`` folder (which
    holds the stems and the Reaper project; see :data:`SIDECAR_FOLDERS`; written beside the first
    output), each named ``stem`` (default: the output's stem; a recipe's outputs that share a stem
    pass their whole name, see ``Output.sidecar_stem``) + its suffix. The bounce (and the report
    writer) write these paths and
    :func:`check_outputs` checks them: a new sidecar is added here, once."""
    stem = output.stem if stem is None else stem
    return {
        "srt": output.with_name(stem + ".srt"),
        "vtt": output.with_name(stem + ".vtt"),
        "transcript_json": output.with_name(stem + ".transcript.json"),
        "manifest": output.with_name(stem + ".manifest.json"),
        "chapters": output.with_name(stem + ".chapters.json"),
        "report": output.with_name(stem + ".report.html"),
        "labels": output.with_name(stem + ".labels.txt"),
        "stems": output.with_name(stem + ".stems"),
    }


def _folder_name(folder: Path) -> str:
    """``folder`` as a message names it: ``.`` (a recipe in the current folder) reads as words."""
    return "(the current folder)" if str(folder) in ("", ".") else str(folder)


def _loose(path: Path) -> Path:
    """``path`` resolved as far as it exists (symlinks followed), without requiring it to exist."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def check_outputs(recipe: Recipe, cache_dir: Path | str) -> None:
    """Refuse (:class:`RecipeError` at the output's ``output:`` or ``outputs:`` entry) an output or
    sidecar (of any of the recipe's outputs) that would replace the recipe, an input
    :attr:`Recipe.confinement` let through (so call it after ``expand``), another output or
    sidecar, or an existing folder, FIFO or device, or that lies inside ``cache_dir`` (a local one:
    a bucket URL holds no local file)."""
    cache = _loose(cache_dir) if isinstance(cache_dir, Path) else None
    protected = {_loose(recipe.path): "the recipe itself"}
    protected.update(recipe.confinement.inputs)
    identities = {_identity(path): shown for path, shown in protected.items()}
    identities.pop(None, None)
    taken: dict[Path, str] = {}
    for output in recipe.outputs:
        written = {"output": output.path, **sidecar_paths(output.path, output.sidecar_stem)}
        _check_written(recipe, written, output.location, cache, cache_dir, protected, identities, taken)


def _check_written(
    recipe: Recipe,
    written: dict[str, Path],
    location: SourceLocation,
    cache: Path | None,
    cache_dir: Path | str,
    protected: dict[Path, str],
    identities: dict[tuple[int, int] | None, str],
    taken: dict[Path, str],
) -> None:
    """Check one output and its sidecars (``written``, by role) against what is protected and
    what the outputs checked before it (``taken``, which it extends)."""
    for role, path in written.items():
        shown = str(path.relative_to(recipe.root)) if path.is_relative_to(recipe.root) else str(path)
        label = f"output {shown!r}" if role == "output" else f"{_SIDECAR_LABELS.get(role, role)} {shown!r}"
        if (size := max(len(part.encode("utf-8", "surrogateescape")) for part in path.parts)) > NAME_MAX_BYTES:
            raise RecipeError(
                f"{label} has a name of {size} bytes: file systems take at most {NAME_MAX_BYTES}",
                location,
                "shorten the output's name: its sidecars add up to 16 characters to it",
            )
        entry = _loose(path.parent) / path.name  # what a rename replaces
        for target in dict.fromkeys((entry, _loose(entry))):
            if cache is not None and target.is_relative_to(cache):
                raise RecipeError(
                    f"{label} is inside the cache folder {cache_dir}",
                    location,
                    "write outputs outside the cache, or choose another --cache-dir",
                )
            replaced = protected.get(target) or identities.get(_identity(target))
            if replaced is not None:
                raise RecipeError(f"{label} would replace {replaced}, which the recipe reads", location, _RENAME)
            if target in taken:
                raise RecipeError(f"{label} is the same file as {taken[target]}", location, _RENAME)
            taken[target] = label
            if role in SIDECAR_FOLDERS:  # nothing the recipe reads may lie inside it
                inside = next((shown for path, shown in protected.items() if path.is_relative_to(target)), None)
                if inside is not None:
                    raise RecipeError(f"{label} holds {inside}, which the recipe reads", location, _RENAME)
        _check_replaceable(label, entry, folder=role in SIDECAR_FOLDERS, location=location)
        if role == "output":
            _check_folders(label, path, recipe.root, location)


_RENAME = "choose another output name; the transcripts and the manifest are written beside it"


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino)


def _check_folders(label: str, path: Path, root: Path, location: SourceLocation) -> None:
    """Refuse an output whose folder cannot be made: a part of its path (below the recipe's folder)
    that exists and is not a folder (``out`` a file, for ``out/ep.mp3``)."""
    for parent in path.parents:
        if parent == root or not parent.is_relative_to(root):
            return
        try:
            mode = parent.stat().st_mode
        except (OSError, ValueError):
            continue  # not there yet: the run makes it
        if not stat.S_ISDIR(mode):
            raise RecipeError(
                f"{label} cannot be written: {parent.relative_to(root).as_posix()!r} exists and is not a folder",
                location,
                "move that file away, or choose another folder for the output",
            )
        return  # a folder: the folders above it are folders too


def _check_replaceable(label: str, entry: Path, *, folder: bool, location: SourceLocation) -> None:
    try:
        mode = entry.stat().st_mode
    except (OSError, ValueError):
        return  # nothing there yet (or a dangling link a rename replaces)
    if folder:  # a folder sidecar is written into: it may exist, as a folder only
        if not stat.S_ISDIR(mode):
            raise RecipeError(f"{label} exists and is not a folder", location, _RENAME)
        return
    kind = next((name for test, name in _KINDS if test(mode)), None)
    if kind is not None:
        raise RecipeError(f"{label} exists and is {kind}", location, _RENAME)
