"""recipe.paths: local inputs confined to the recipe's folder (or allowed folders), regular files
only; outputs and their sidecars never replace the recipe, an input, the cache or each other."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeProvider

from audioflow.audio import Audio, write_wav
from audioflow.engine import open_project
from audioflow.errors import RecipeError, SourceLocation
from audioflow.recipe import expand, load_recipe
from audioflow.recipe.paths import ALLOW_DIRS_ENV, CACHE_ENV, cache_folder, check_outputs, sidecar_paths

ALLOW = "to read files from another folder, allow it: --allow-dir DIR or AUDIOFLOW_ALLOW_DIRS"
RENAME = "choose another output name; the transcripts and the manifest are written beside it"
WAV = write_wav(Audio((0.1 * np.sin(np.arange(4800) * 2 * np.pi * 440 / 24000)).astype(np.float32), 24000))


def file_recipe(written: str, output: str = "out/ep.wav") -> str:
    """A recipe whose one step imports ``written``: the step's key is at 3:3, ``output:`` at 6:9."""
    return f"audioflow: 1\nsteps:\n  door: {{file: '{written}'}}\nmix:\n  - {{track: door}}\noutput: {output}\n"


@pytest.fixture
def show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``show/`` (the recipe's folder, with a.wav) beside ``lib/`` (outside it, with a.wav)."""
    for name in (ALLOW_DIRS_ENV, CACHE_ENV):
        monkeypatch.delenv(name, raising=False)
    for folder in ("show", "lib"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.wav").write_bytes(WAV)
    return tmp_path / "show"


def refused(recipe: Path, **kw: object) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        expand(load_recipe(recipe, **kw))  # type: ignore[arg-type]
    assert info.value.exit_code == 2
    return info.value


def write(show: Path, text: str) -> Path:
    (show / "r.yaml").write_text(text)
    return show / "r.yaml"


# -- inputs: the attacks --------------------------------------------------------------------------


def test_an_absolute_path_outside_the_folder_is_refused(show: Path) -> None:
    outside = show.parent / "lib" / "a.wav"
    err = refused(write(show, file_recipe(str(outside))))
    assert str(err) == f"{show}/r.yaml:3:3: audio file '{outside}' is outside the recipe's folder ({ALLOW})"


def test_dot_dot_out_of_the_folder_is_refused(show: Path) -> None:
    err = refused(write(show, file_recipe("../lib/a.wav")))
    assert (err.message, err.hint) == ("audio file '../lib/a.wav' is outside the recipe's folder", ALLOW)
    assert err.location == SourceLocation(f"{show}/r.yaml", 3, 3)


def test_a_symlink_inside_the_folder_leading_outside_is_refused(show: Path) -> None:
    (show / "sfx").mkdir()
    (show / "sfx" / "door.wav").symlink_to(show.parent / "lib" / "a.wav")
    err = refused(write(show, file_recipe("sfx/door.wav")))
    target = (show.parent / "lib" / "a.wav").resolve()
    assert err.message == f"audio file 'sfx/door.wav' is a link to {target}, outside the recipe's folder"
    assert err.hint == ALLOW


def test_a_symlinked_folder_leading_outside_is_refused(show: Path) -> None:
    (show / "sfx").symlink_to(show.parent / "lib")
    err = refused(write(show, file_recipe("sfx/a.wav")))
    assert err.message.startswith("audio file 'sfx/a.wav' is a link to ")


@pytest.mark.parametrize("allow", [[], ["/"], ["/proc"]])
def test_proc_self_environ_is_refused_even_inside_an_allowed_folder(show: Path, allow: list[str]) -> None:
    text = "audioflow: 1\nsteps:\n  x: {isolate: {audio: /proc/self/environ, describe: speech}}\nmix:\n  - {track: x}\n"
    err = refused(write(show, text), allow_dirs=allow)
    assert str(err) == (
        f"{show}/r.yaml:3:24: audio to isolate from '/proc/self/environ' is a system file "
        f"(/proc/{os.getpid()}/environ), not a regular file (files under /proc and /sys are never read)"
    )


def test_a_fifo_is_refused_without_blocking(show: Path) -> None:
    os.mkfifo(show / "pipe.wav")
    err = refused(write(show, file_recipe("pipe.wav")))
    assert (err.message, err.hint) == ("audio file 'pipe.wav' is a FIFO (named pipe)", "inputs are regular files")


def test_a_device_is_refused_inside_an_allowed_folder(show: Path) -> None:
    err = refused(write(show, file_recipe("/dev/null")), allow_dirs=["/"])
    assert (err.message, err.hint) == ("audio file '/dev/null' is a character device", "inputs are regular files")


def test_a_directory_is_refused(show: Path) -> None:
    (show / "takes.wav").mkdir()
    err = refused(write(show, file_recipe("takes.wav")))
    assert (err.message, err.hint) == ("audio file 'takes.wav' is a folder", "inputs are regular files")


def test_a_symlink_loop_is_refused(show: Path) -> None:
    (show / "loop.wav").symlink_to(show / "loop.wav")
    assert refused(write(show, file_recipe("loop.wav"))).message == "audio file 'loop.wav' is a symlink loop"


@pytest.mark.parametrize(
    ("cast", "path", "what"),
    [
        ("{clone: ../lib/a.wav}", ("cast", "v"), "reference clip '../lib/a.wav'"),
        ("{clone: {audio: ../lib/a.wav}}", ("cast", "v", "clone", "audio"), "reference clip '../lib/a.wav'"),
        ("{model: ../lib/v.onnx}", ("cast", "v"), "voice model '../lib/v.onnx'"),
    ],
)
def test_voice_inputs_are_confined(show: Path, cast: str, path: tuple[str, ...], what: str) -> None:
    for name in ("v.onnx", "v.onnx.json"):
        (show.parent / "lib" / name).write_text("{}")
    text = f"audioflow: 1\ncast:\n  v: {cast}\nsteps:\n  hi: {{speak: Hello., voice: v}}\nmix:\n  - {{track: hi}}\n"
    err = refused(write(show, text))
    assert err.message == f"{what} is outside the recipe's folder"
    assert err.location.line == 3  # type: ignore[union-attr]


def test_an_image_outside_the_folder_is_refused(show: Path) -> None:
    (show.parent / "lib" / "mood.png").write_bytes(b"png")
    text = (
        "audioflow: 1\nsteps:\n  bed: {generate: rain, duration: 2s, image: ../lib/mood.png}\nmix:\n  - {track: bed}\n"
    )
    err = refused(write(show, text))
    assert str(err) == f"{show}/r.yaml:3:46: reference image '../lib/mood.png' is outside the recipe's folder ({ALLOW})"


def test_a_piper_config_linked_outside_is_refused(show: Path) -> None:
    (show / "v.onnx").write_text("model")
    (show.parent / "lib" / "v.onnx.json").write_text("{}")
    (show / "v.onnx.json").symlink_to(show.parent / "lib" / "v.onnx.json")
    text = "audioflow: 1\ncast:\n  v: {model: v.onnx}\nsteps:\n  hi: {speak: Hello., voice: v}\nmix:\n  - {track: hi}\n"
    err = refused(write(show, text))
    assert err.message.startswith(f"voice model config '{show.resolve()}/v.onnx.json' is a link to ")


# -- inputs: what is allowed ----------------------------------------------------------------------


def test_dot_dot_that_stays_inside_is_accepted_and_the_resolved_path_is_kept(show: Path) -> None:
    (show / "sfx").mkdir()
    graph = expand(load_recipe(write(show, file_recipe("sfx/../a.wav"))))
    assert graph.steps["door"].files == {"source": (show / "a.wav").resolve()}


def test_an_allowed_folder_by_option_or_environment(show: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = show.parent / "lib"
    recipe = write(show, file_recipe("../lib/a.wav"))
    assert expand(load_recipe(recipe, allow_dirs=[lib])).steps["door"].files["source"] == (lib / "a.wav").resolve()
    monkeypatch.setenv(ALLOW_DIRS_ENV, f"{show.parent / 'nowhere-else'}{os.pathsep}")
    err = refused(recipe)
    assert err.message == f"{ALLOW_DIRS_ENV}: {show.parent / 'nowhere-else'}: not an existing folder"
    (show.parent / "nowhere-else").mkdir()
    monkeypatch.setenv(ALLOW_DIRS_ENV, f"{show.parent / 'nowhere-else'}{os.pathsep}{lib}")
    assert expand(load_recipe(recipe)).steps["door"].files["source"] == (lib / "a.wav").resolve()
    monkeypatch.setenv(ALLOW_DIRS_ENV, str(show.parent / "nowhere-else"))
    err = refused(recipe)
    assert err.message == "audio file '../lib/a.wav' is outside the recipe's folder and the allowed folders"


def test_a_link_into_an_allowed_folder_is_read_by_its_resolved_path(show: Path) -> None:
    """The graph keeps the resolved target: swapping the link after validation changes nothing read."""
    lib = show.parent / "lib"
    (show / "door.wav").symlink_to(lib / "a.wav")
    graph = expand(load_recipe(write(show, file_recipe("door.wav")), allow_dirs=[lib]))
    source = graph.steps["door"].files["source"]
    assert source == (lib / "a.wav").resolve() and not source.is_symlink()
    (show / "door.wav").unlink()
    (show / "door.wav").symlink_to("/proc/self/environ")
    assert graph.steps["door"].files["source"] == source


def test_a_piper_model_linked_into_an_allowed_folder_uses_the_config_beside_its_target(show: Path) -> None:
    lib = show.parent / "lib"
    (lib / "v.onnx").write_text("model")
    (lib / "v.onnx.json").write_text("{}")
    (show / "v.onnx").symlink_to(lib / "v.onnx")
    text = "audioflow: 1\ncast:\n  v: {model: v.onnx}\nsteps:\n  hi: {speak: Hello., voice: v}\nmix:\n  - {track: hi}\n"
    recipe = load_recipe(write(show, text), allow_dirs=[lib])
    assert expand(recipe).steps["hi"].files == {"model": (lib / "v.onnx").resolve()}
    assert set(recipe.confinement.inputs) == {(lib / "v.onnx").resolve(), (lib / "v.onnx.json").resolve()}


# -- outputs --------------------------------------------------------------------------------------


def test_the_extension_must_match_the_format(show: Path) -> None:
    err = refused(write(show, file_recipe("a.wav") + "master: {format: mp3}\n"))
    assert str(err) == (
        f"{show}/r.yaml:6:9: output 'out/ep.wav' does not end in .mp3, the extension of master.format mp3 "
        "(name it ep.mp3, or change master.format)"
    )
    err = refused(write(show, file_recipe("a.wav", "out/y.srt") + "master: {format: mp3}\n"))
    assert err.message == "output 'out/y.srt' does not end in .mp3, the extension of master.format mp3"
    err = refused(write(show, file_recipe("a.wav", "out/y.ogg") + "master: {format: flac}\n"))
    assert err.message == "output 'out/y.ogg' does not end in .flac, the extension of master.format flac"
    assert load_recipe(write(show, file_recipe("a.wav", "out/y.ogg") + "master: {format: opus}\n"))


def checked(recipe_path: Path, cache_dir: Path | None = None) -> RecipeError:
    recipe = load_recipe(recipe_path)
    expand(recipe)
    with pytest.raises(RecipeError) as info:
        check_outputs(recipe, cache_folder(recipe.root, cache_dir))
    assert info.value.location == SourceLocation(str(recipe_path), 6, 9) or "output:" not in recipe_path.read_text()
    return info.value


def test_the_output_may_not_replace_an_input(show: Path) -> None:
    (show / "out").mkdir()
    (show / "out" / "ep.wav").write_bytes(WAV)  # last week's episode, imported into this one
    err = checked(write(show, file_recipe("out/ep.wav")))
    assert (err.message, err.hint) == (
        "output 'out/ep.wav' would replace audio file 'out/ep.wav' (line 3), which the recipe reads",
        RENAME,
    )


def test_a_sidecar_may_not_replace_an_input(show: Path) -> None:
    (show / "out").mkdir()
    (show / "out" / "ep.srt").write_bytes(WAV)
    err = checked(write(show, file_recipe("out/ep.srt")))
    assert err.message == (
        "the .srt transcript 'out/ep.srt' would replace audio file 'out/ep.srt' (line 3), which the recipe reads"
    )


def test_the_output_may_not_replace_the_recipe_through_a_link(show: Path) -> None:
    (show / "out").mkdir()
    (show / "out" / "ep.wav").symlink_to(show / "r.yaml")
    err = checked(write(show, file_recipe("a.wav")))
    assert err.message == "output 'out/ep.wav' would replace the recipe itself, which the recipe reads"


def test_outputs_may_not_be_the_same_file(show: Path) -> None:
    (show / "out").mkdir()
    (show / "out" / "ep.srt").write_text("old subtitles")
    (show / "out" / "ep.wav").symlink_to("ep.srt")
    err = checked(write(show, file_recipe("a.wav")))
    assert err.message == "the .srt transcript 'out/ep.srt' is the same file as output 'out/ep.wav'"


def test_an_output_that_is_a_folder_is_refused(show: Path) -> None:
    (show / "out" / "ep.manifest.json").mkdir(parents=True)
    err = checked(write(show, file_recipe("a.wav")))
    assert err.message == "the manifest 'out/ep.manifest.json' exists and is a folder"


def test_an_output_whose_folder_is_a_file_is_refused_before_rendering(show: Path) -> None:
    (show / "out").write_text("a note, not a folder")
    err = checked(write(show, file_recipe("a.wav")))
    assert (err.message, err.hint) == (
        "output 'out/ep.wav' cannot be written: 'out' exists and is not a folder",
        "move that file away, or choose another folder for the output",
    )
    assert (show / "out").read_text() == "a note, not a folder"


def test_outputs_whose_stems_differ_only_in_case_get_whole_name_sidecars(show: Path) -> None:
    (show / "r.yaml").write_text(
        "audioflow: 1\nsteps:\n  door: {file: a.wav}\nmix:\n  - {track: door}\n"
        "outputs:\n  - {path: out/Ep.mp3}\n  - {path: out/ep.wav}\n"
    )
    recipe = load_recipe(show / "r.yaml")
    assert [o.sidecar_stem for o in recipe.outputs] == ["Ep.mp3", "ep.wav"]  # not Ep.* and ep.*: one file on macOS


def test_an_output_or_sidecar_name_too_long_for_a_file_system_is_refused_before_rendering(show: Path) -> None:
    stem = "e" * 245  # ep.wav fits (249 bytes); its .transcript.json sidecar (261) does not
    err = checked(write(show, file_recipe("a.wav", f"out/{stem}.wav")))
    assert (err.message, err.hint) == (
        f"the JSON transcript 'out/{stem}.transcript.json' has a name of 261 bytes: file systems take at most 255",
        "shorten the output's name: its sidecars add up to 16 characters to it",
    )


def test_outputs_may_not_go_inside_the_cache(show: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = write(show, file_recipe("a.wav", ".audioflow/objects/ep.wav"))
    err = checked(recipe)
    assert (err.message, err.hint) == (
        f"output '.audioflow/objects/ep.wav' is inside the cache folder {show}/.audioflow",
        "write outputs outside the cache, or choose another --cache-dir",
    )
    recipe = write(show, file_recipe("a.wav"))
    assert checked(recipe, show / "out").message == f"output 'out/ep.wav' is inside the cache folder {show}/out"
    monkeypatch.setenv(CACHE_ENV, str(show))
    assert checked(recipe).message == f"output 'out/ep.wav' is inside the cache folder {show}"
    write(show, "audioflow: 1\nsteps:\n  door: {file: a.wav}\nmix:\n  - {track: door}\n")  # the default output
    assert checked(recipe).message == f"output 'out/r.mp3' is inside the cache folder {show}"


def test_open_project_checks_outputs_before_touching_the_cache(show: Path) -> None:
    with pytest.raises(RecipeError, match="inside the cache folder"):
        open_project(write(show, file_recipe("a.wav")), cache_dir=show / "out" / "cache" / "..")
    assert not (show / "out").exists()


def test_a_run_writes_exactly_the_output_and_the_sidecars_it_checked(show: Path) -> None:
    text = (
        "audioflow: 1\ncast:\n  v: {preset: joe}\nsteps:\n  hi: {speak: Hello there., voice: v}\n"
        "mix:\n  - {track: hi, chapter: Hello}\noutput: out/ep.wav\n"  # a chapter: the JSON chapters too
        "stems: groups\n"  # stems: the stems folder and the labels too
    )
    report = open_project(
        write(show, text), providers={"local": FakeProvider(duration_ms=1000)}, cache_dir=show / "cache"
    ).run()
    assert report.result.ok and report.output is not None
    assert set((show / "out").iterdir()) == {report.output, *sidecar_paths(report.output).values()}
