"""``audioflow init [NAME]``: a commented starter recipe that validates and renders offline."""

from __future__ import annotations

from pathlib import Path

import click

from .output import _echo, _errors_to_exit_codes, _note

#: The schema file the starter recipe's editor modeline points at, written beside it.
SCHEMA_FILE = "recipe.schema.json"

STARTER = """\
# yaml-language-server: $schema=./{schema}
# A starter recipe from `audioflow init`. Check it, render it, then make it yours:
#   audioflow validate {file}      # checks everything, renders nothing
#   audioflow run {file}           # renders offline (local voices; the bed is a placeholder)
#   audioflow watch {file}         # re-renders what went stale on every save
# The reference: docs/reference/recipe.md. The line above lets editors with the YAML language
# server check this file against the recipe schema as you type.
audioflow: 1
title: {title}
provider: local          # drafts offline for free; `--provider segmind` (or fal, evolink) renders it remotely

cast:                    # named voices; `audioflow voices` lists the local ones
  host:  {{preset: {{local: warm}}, description: "the host"}}
  guest: {{preset: {{local: bright}}, description: "the guest"}}

steps:
  intro:                 # one line, one voice
    speak: Welcome to {title}. Today we have a guest.
    voice: host

  talk:                  # a dialogue: each line is `voice: text`
    gap: 300ms           # silence between lines
    dialogue:
      - host: Thanks for coming in.
      - guest: Happy to be here.
      - host: Let's get started.

  bed:                   # a generated sound; offline it is a placeholder until a remote provider renders it
    generate: soft ambient music, warm pads, no drums
    duration: 10s
    texture: tone        # what the offline placeholder sounds like: tone (music) or noise (ambience)

mix:                     # tracks placed in time; `under` plays a track beneath another
  - {{track: intro}}
  - {{track: talk, after: intro, offset: 500ms}}
  - {{track: bed, under: talk, gain_db: -20, loop: true, duck_db: -8, fade_in: 1s, fade_out: 2s}}

master: {{preset: podcast, format: mp3, bitrate: 192k}}   # -16 LUFS, -1 dBTP
output: out/{stem}.mp3
"""


def starter_recipe(stem: str) -> str:
    """The starter recipe's text for a recipe file named ``<stem>.yaml``."""
    title = stem.replace("-", " ").replace("_", " ").strip().title() or "My Show"
    return STARTER.format(schema=SCHEMA_FILE, file=f"{stem}.yaml", title=title, stem=stem)


@click.command()
@click.argument("name", default="episode", type=click.Path(path_type=Path, dir_okay=False))
def init(name: Path) -> None:
    """Write a commented starter recipe NAME.yaml (default episode.yaml) that validates and renders
    offline, and the recipe schema beside it for editors (recipe.schema.json, unless it exists).
    Refuses to overwrite an existing recipe (exit 1)."""
    from ..errors import AudioflowError
    from ..recipe import schema_text

    if not name.name:
        raise click.BadParameter(f"{str(name)!r} names no file (write a name like episode)", param_hint="NAME")
    with _errors_to_exit_codes():
        path = name if name.suffix in (".yaml", ".yml") else name.with_name(name.name + ".yaml")
        if path.exists() or path.is_symlink():
            raise AudioflowError(f"{path} already exists: not overwritten (choose another NAME)")
        schema = path.parent / SCHEMA_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as out:  # "x": never replace a file created meanwhile
                out.write(starter_recipe(path.stem))
            if schema.exists():
                _note(f"{schema} exists: left as it is (`audioflow schema > {schema}` refreshes it)")
            else:
                schema.write_text(schema_text(), encoding="utf-8")
        except OSError as exc:
            where = f"{path}" if exc.filename in (None, str(path)) else f"{path} ({exc.filename})"
            raise AudioflowError(f"cannot write {where}: {exc.strerror or exc}") from exc
        _echo(f"wrote {path}")
        _note(f"next: audioflow validate {path}; audioflow run {path}; audioflow watch {path}")
