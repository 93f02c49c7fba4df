"""Transcripts a player shows well: cues split to ≤ 42 characters × 2 lines and ≤ 7 s, never across
speakers, never inside a word; SRT and WebVTT read back with the ``srt`` and ``webvtt-py`` parsers; the
Podcasting 2.0 JSON transcript validated against its published shape; estimated cues counted."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import jsonschema
import pytest
import srt
import webvtt
from conftest import FakeProvider
from hypothesis import given, settings
from hypothesis import strategies as st

from audioflow.engine import open_project
from audioflow.engine.meta import Segment
from audioflow.engine.transcript import (
    ESTIMATED_NOTE,
    MAX_CUE_MS,
    MAX_LINE_CHARS,
    MAX_LINES,
    Cue,
    split_cues,
    to_json,
    to_srt,
    to_vtt,
)

#: The podcastindex JSON transcript (podcast-namespace/transcripts/transcripts.md) as a JSON Schema:
#: ``version`` and ``segments``; each segment's ``speaker`` (optional), ``startTime``, ``endTime`` (if
#: available) in seconds, and ``body``.
PODCAST_TRANSCRIPT_SCHEMA = {
    "type": "object",
    "required": ["version", "segments"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": "1.0.0"},
        "segments": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["startTime", "body"],
                "additionalProperties": False,
                "properties": {
                    "speaker": {"type": "string", "minLength": 1},
                    "startTime": {"type": "number", "minimum": 0},
                    "endTime": {"type": "number", "minimum": 0},
                    "body": {"type": "string", "minLength": 1},
                },
            },
        },
    },
}

LONG = (
    "In the beginning the sea took them all, one after another, and nobody in the village could say why. "
    "It was the wind, they said; it was the tide. But Maurya knew better, and she waited by the door "
    "through the long night until the grey morning came in over the water."
)
SEGMENTS = [
    Segment(0.0, 16_000.0, "Maurya", LONG),
    Segment(16_000.0, 17_000.0, "Nora", "Where is she?"),
    Segment(17_500.0, 18_500.0, "Nora", "Cathleen?"),
    Segment(19_000.0, 40_000.0, "Cathleen", LONG, estimated=True),
]


def _check_limits(cues: list[Cue], segments: list[Segment]) -> None:
    for cue in cues:
        assert 1 <= len(cue.lines) <= MAX_LINES
        assert len(cue.srt_prefix + cue.lines[0]) <= MAX_LINE_CHARS or " " not in cue.lines[0]
        assert all(len(line) <= MAX_LINE_CHARS or " " not in line for line in cue.lines)
        assert 0 <= cue.end_ms - cue.start_ms <= MAX_CUE_MS + 1e-6
    # every segment's words come back, in order, from the cues inside its span, all of one speaker
    for seg in segments:
        inside = [c for c in cues if seg.start_ms <= c.start_ms and c.end_ms <= seg.end_ms + 1e-6]
        assert " ".join(c.text for c in inside) == " ".join(seg.text.split())
        assert {c.speaker for c in inside} <= {seg.voice}


def test_long_lines_are_split_at_sentences_and_clauses_within_every_limit() -> None:
    cues = split_cues(SEGMENTS)
    _check_limits(cues, SEGMENTS)
    maurya = [c for c in cues if c.speaker == "Maurya"]
    assert len(maurya) >= 3 and maurya[0].start_ms == 0.0 and maurya[-1].end_ms == 16_000.0
    assert all(a.end_ms == pytest.approx(b.start_ms) for a, b in pairwise(maurya))
    assert any(c.text.endswith("say why.") for c in maurya)  # a sentence end closes a cue
    # times in proportion to characters: the first cue's share of the span is its share of the text
    text = " ".join(LONG.split())
    assert maurya[0].end_ms == pytest.approx(16_000.0 * (len(maurya[0].text) + 1) / len(text))


def test_srt_names_the_speaker_on_each_change_and_parses_back() -> None:
    cues = split_cues(SEGMENTS)
    subs = list(srt.parse(to_srt(cues)))
    assert [s.index for s in subs] == list(range(1, len(cues) + 1))
    named = [s.content.split(":")[0] for s in subs if ":" in s.content.split("\n")[0][:20]]
    assert named == ["Maurya", "Nora", "Cathleen (~)"]  # Nora's second line is no change of speaker
    for sub, cue in zip(subs, cues, strict=True):
        lines = sub.content.split("\n")
        assert len(lines) <= MAX_LINES and all(len(line) <= MAX_LINE_CHARS for line in lines)
        assert (sub.end - sub.start).total_seconds() <= MAX_CUE_MS / 1000
        assert sub.start.total_seconds() == pytest.approx(cue.start_ms / 1000, abs=0.001)


def test_webvtt_gives_every_cue_its_voice_and_marks_estimated_runs() -> None:
    cues = split_cues(SEGMENTS)
    text = to_vtt(cues)
    captions = list(webvtt.from_string(text))
    assert len(captions) == len(cues) and text.count(ESTIMATED_NOTE) == 1
    for caption, cue in zip(captions, cues, strict=True):
        assert caption.voice == cue.speaker
        assert len(caption.text.split("\n")) <= MAX_LINES
        assert all(len(line) <= MAX_LINE_CHARS for line in caption.text.split("\n"))
        assert caption.end_time.in_milliseconds() - caption.start_time.in_milliseconds() <= MAX_CUE_MS


def test_the_json_transcript_has_the_published_shape() -> None:
    cues = split_cues(SEGMENTS)
    data = json.loads(to_json(cues))
    jsonschema.validate(data, PODCAST_TRANSCRIPT_SCHEMA)
    assert [s["body"] for s in data["segments"]] == [c.text for c in cues]
    assert data["segments"][0] == {"speaker": "Maurya", "startTime": 0.0, "endTime": round(cues[0].end_ms / 1000, 3),
                                   "body": cues[0].text}  # fmt: skip


def test_a_word_is_never_split_and_a_long_word_stands_alone() -> None:
    url = "https://example.org/" + "a" * 50
    cues = split_cues([Segment(0.0, 3000.0, None, f"See {url} for more.")])
    assert [line for c in cues for line in c.lines if url in line] == [url]
    assert " ".join(c.text for c in cues) == f"See {url} for more."
    assert all(c.srt_prefix == "" for c in cues)  # no speaker, no prefix


def test_a_one_word_line_longer_than_seven_seconds_is_shown_for_seven() -> None:
    (cue,) = split_cues([Segment(1000.0, 12_000.0, "Luke", "Nooooo")])
    assert (cue.start_ms, cue.end_ms) == (1000.0, 1000.0 + MAX_CUE_MS)


WORDS = st.text(alphabet="abcdefghij", min_size=1, max_size=14)
PUNCT = st.sampled_from(["", "", "", ",", ".", "?", ";"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(WORDS, PUNCT).map("".join), min_size=1, max_size=80),
    st.floats(min_value=0.0, max_value=60_000.0),
)
def test_any_text_over_any_span_keeps_every_limit(words: list[str], span_ms: float) -> None:
    segments = [Segment(500.0, 500.0 + span_ms, "Ann", " ".join(words))]
    _check_limits(split_cues(segments), segments)


def test_a_run_writes_all_three_transcripts_and_counts_estimated_cues(write_recipe, tmp_path: Path) -> None:
    path = write_recipe(
        "audioflow: 1\ntitle: Sea\ncast:\n  maurya: {preset: {local: joe}, display_name: Old Maurya}\n"
        f"steps:\n  line: {{speak: {LONG!r}, voice: maurya}}\nmix:\n  - {{track: line}}\n"
        "master: {format: wav}\noutput: out/sea.wav\n"
    )
    fake = FakeProvider(duration_ms=20_000.0)
    report = open_project(path, providers={fake.name: fake}, cache_dir=tmp_path / "c").run()
    assert report.result.ok and report.manifest is not None
    out = path.parent / "out"
    manifest = report.manifest.to_json()
    assert manifest["transcripts"] == ["sea.srt", "sea.vtt", "sea.transcript.json"]
    assert "transcript_cues_estimated" not in manifest  # a spoken line's timing is measured
    subs = list(srt.parse((out / "sea.srt").read_text()))
    assert len(subs) >= 4 and subs[0].content.startswith("Old Maurya: In the beginning")
    assert all(len(line) <= MAX_LINE_CHARS for s in subs for line in s.content.split("\n"))
    assert all((s.end - s.start).total_seconds() <= 7.0 for s in subs)
    assert {c.voice for c in webvtt.read(str(out / "sea.vtt"))} == {"Old Maurya"}
    data = json.loads((out / "sea.transcript.json").read_text())
    jsonschema.validate(data, PODCAST_TRANSCRIPT_SCHEMA)
    assert data["segments"][-1]["endTime"] == pytest.approx(20.0, abs=0.01)
