"""The run report: the gain curve is the mix's own, short-term loudness is EBU R128's, and a run
writes a page whose lanes, cues, beds and figures are where the programme puts them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import FakeProvider

from audioflow.audio import Audio, Clip, Duck, clip_gain_db, render_mix
from audioflow.audio.loudness import ShortTermMeter
from audioflow.cache import StepRecord
from audioflow.cache.maintenance import collect_garbage, verify_store
from audioflow.cli import cli
from audioflow.engine import open_text, report_previews
from audioflow.engine.report import PREVIEWS_MAX_BYTES, cached_result, write_report
from audioflow.providers import PROVIDERS

RECIPE = """\
audioflow: 1
title: Report test
cast:
  mara: {preset: {local: joe}, display_name: Mara Quinn}
  ben: {preset: {local: deep}, display_name: Ben Ode}
steps:
  bell: {generate: a bell, duration: 1s}
  rain: {generate: steady rain, duration: 1s}
  scene:
    dialogue:
      - mara: Hello there.
      - cue: bell
        offset: 100ms
      - ben: Hi, Mara.
      - mara: Bye.
mix:
  - {track: scene}
  - {track: rain, under: scene, gain_db: -20, loop: true, duck_db: -9}
output: out/test.wav
"""


def test_the_gain_curve_is_what_the_mix_applies() -> None:
    rate = 8000
    ones = Audio(np.ones((rate * 2, 1), dtype=np.float32), rate)
    duck = Duck(-12.0, ((500.0, 900.0), (1200.0, 1250.0)), attack_ms=80.0, release_ms=300.0)
    clip = Clip(ones, start_ms=250.0, gain_db=-6.0, fade_in_ms=100.0, fade_out_ms=200.0, length_ms=1500.0, duck=duck)
    mixed = render_mix([clip], sample_rate_hz=rate, channels=1, length_ms=2000.0)
    times = np.arange(0.0, 2000.0, 7.0)
    curve = clip_gain_db(clip, times, rate)
    frames = np.floor(times * rate / 1000.0 + 0.5).astype(int)
    samples = mixed.samples[frames, 0].astype(np.float64)
    heard = np.where(samples > 0, 20 * np.log10(np.maximum(samples, 1e-30)), -np.inf)
    assert np.isneginf(curve[times < 250.0]).all() and np.isneginf(curve[times >= 1750.0]).all()
    both = np.isfinite(curve)
    assert both.sum() > 150 and (np.isfinite(heard) == both).all()
    assert np.max(np.abs(curve[both] - heard[both])) < 1e-3  # float32 samples, dB
    assert curve[np.searchsorted(times, 700.0)] == pytest.approx(-18.0, abs=1e-6)  # gain + full duck


def test_short_term_loudness_is_the_3_s_ebu_measure_in_any_blocks() -> None:
    rate = 48000
    t = np.arange(rate * 6) / rate
    tone = (0.1 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
    stereo = np.stack([tone, tone], axis=1)
    whole = ShortTermMeter(rate, 2, hop_ms=500.0).add(stereo)
    meter = ShortTermMeter(rate, 2, hop_ms=500.0)
    pieces = [r for first in range(0, len(stereo), 7001) for r in meter.add(stereo[first : first + 7001])]
    assert [ms for ms, _ in whole] == [500.0 * k for k in range(1, 13)]
    assert np.allclose(np.array(pieces), np.array(whole), atol=1e-9, rtol=0)
    assert all(lufs == pytest.approx(-20.0, abs=0.02) for ms, lufs in whole if ms >= 3000)
    assert whole[0][1] < -25  # the window still holds 2.5 s of silence


def _run(tmp_path: Path) -> tuple[str, dict, object]:
    project = open_text(RECIPE, root=tmp_path, cache_dir=tmp_path / "cache", providers={"local": FakeProvider()})
    report = project.run()
    assert report.ok and report.report == tmp_path / "out" / "test.report.html"
    page = report.report.read_text(encoding="utf-8")
    seek = json.loads(re.search(r'<script type="application/json" id="seek-map">(.*?)</script>', page, re.S)[1])
    return page, seek, report


def test_a_run_writes_a_self_contained_report_beside_the_output(tmp_path: Path) -> None:
    page, seek, report = _run(tmp_path)
    assert '<audio id="programme" controls preload="metadata" src="test.wav">' in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched from a network
    assert "Mara Quinn" in page and "Ben Ode" in page  # speakers by display name
    # lanes: 2 tracks, 3 lines, 1 cue; each block seeks to where it plays
    master = report.audio("master")
    segments = report.result.outcomes["master"].meta.segments
    starts = sorted(start for start, _ in seek.values())
    assert len(seek) == 6
    for seg in segments:
        assert round(seg.start_ms / 1000.0, 3) in starts
    (bell,) = [gid for gid, (_, title) in seek.items() if title == "bell at the end of line 1 of scene"]
    assert re.search(rf'<g id="{bell}-label">\s*<g clip-path="url\(#\w+\)">\s*<text[^>]*>bell</text>', page)
    assert f'<g id="{bell}">' in page
    line_one_end = segments[0].end_ms
    assert seek[bell][0] == pytest.approx((line_one_end + 100.0) / 1000.0, abs=1e-3)
    assert "rain gain" in page and "target -16 LUFS" in page
    assert '<p class="pass" id="verdict">PASS</p>' in page
    assert page.count("data:audio/ogg;base64,") == 5  # bell, rain and three lines; not the mix or master
    assert master.duration_ms > 0 and len(page) < PREVIEWS_MAX_BYTES


def test_report_rebuilds_from_the_cache_and_refuses_an_unrendered_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(PROVIDERS, "local", lambda settings=None: FakeProvider())
    (tmp_path / "recipe.yaml").write_text(RECIPE, encoding="utf-8")
    runner = CliRunner()
    before = runner.invoke(cli, ["report", "recipe.yaml", "--cache-dir", "cache"])
    assert before.exit_code == 1
    assert before.stderr == (
        "error: recipe.yaml has not been rendered as it is now (8 step(s) stale): "
        "run `audioflow run recipe.yaml` first\n"
    )
    ran = runner.invoke(cli, ["run", "recipe.yaml", "--cache-dir", "cache"])
    assert ran.exit_code == 0 and "report: out/test.report.html" in ran.stdout.splitlines()
    first = (tmp_path / "out" / "test.report.html").read_text(encoding="utf-8")
    (tmp_path / "out" / "test.report.html").unlink()
    again = runner.invoke(cli, ["report", "recipe.yaml", "--cache-dir", "cache"])
    assert (again.exit_code, again.stdout, again.stderr) == (0, "wrote out/test.report.html\n", "")
    rebuilt = (tmp_path / "out" / "test.report.html").read_text(encoding="utf-8")
    assert rebuilt.count("<td>cached</td>") == 8 and first.count("<td>rendered</td>") == 8
    assert _without_statuses(rebuilt) == _without_statuses(first)  # the same page, drawn from the cache
    (tmp_path / "out" / "test.wav").unlink()
    orphan = runner.invoke(cli, ["report", "recipe.yaml", "--cache-dir", "cache"])
    assert (orphan.exit_code, orphan.stdout) == (0, "wrote out/test.report.html\n")
    assert orphan.stderr == ("warning: out/test.wav is missing: the report's player stays silent until it is bounced\n")


def _without_statuses(page: str) -> str:
    page = re.sub(r'<meta name="audioflow-report" content="[0-9a-f]{64}">', "", page)  # statuses are in it
    return page.replace("<td>cached</td>", "").replace("<td>rendered</td>", "")


def test_validate_refuses_a_report_that_would_replace_the_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ep.report.html").write_text(RECIPE.replace("output: out/test.wav", "output: ep.wav"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", "ep.report.html", "--cache-dir", "cache"])
    assert result.exit_code == 2
    assert "ep.report.html" in result.stderr and "report" in result.stderr


def test_the_report_lanes_follow_the_mix_layout(tmp_path: Path) -> None:
    """The rain bed lies under the scene: its lane block spans the scene's, as the mix placed it."""
    _, seek, report = _run(tmp_path)
    scene_ms = report.result.outcomes["scene"].meta.duration_ms
    blocks = {title.split(":")[0]: (start, title) for start, title in seek.values()}
    assert blocks["scene"][0] == 0.0 and blocks["rain"][0] == 0.0
    assert blocks["rain"][1] == f"rain: generate, placeholder, 0.0–{scene_ms / 1000:.1f} s"
    assert blocks["Ben Ode"][1] == "Ben Ode: Hi, Mara."


def test_chapters_have_a_lane_where_the_bounce_put_them(tmp_path: Path) -> None:
    text = RECIPE.replace("  - {track: scene}", "  - {track: scene, chapter: Opening}").replace(
        "      - ben: Hi, Mara.", "      - ben: Hi, Mara.\n        chapter: Ben answers"
    )
    project = open_text(text, root=tmp_path, cache_dir=tmp_path / "cache", providers={"local": FakeProvider()})
    run = project.run()
    assert run.ok and run.report is not None and run.manifest is not None
    page = run.report.read_text(encoding="utf-8")
    seek = json.loads(re.search(r'<script type="application/json" id="seek-map">(.*?)</script>', page, re.S)[1])
    marks = sorted((start, title) for start, title in seek.values() if title.startswith("chapter: "))
    expected = [(round(c.start_ms / 1000.0, 3), f"chapter: {c.title}") for c in run.manifest.chapters]
    assert marks == expected and [t for _, t in marks] == ["chapter: Opening", "chapter: Ben answers"]
    assert marks[1][0] > 0.0
    assert ">chapters</text>" in page  # the lane's name on the time axis


def test_every_output_gets_its_own_report(tmp_path: Path) -> None:
    text = RECIPE.replace(
        "output: out/test.wav", "outputs:\n  - {path: out/ep.mp3, bitrate: 128k}\n  - {path: out/ep.wav}"
    )
    project = open_text(text, root=tmp_path, cache_dir=tmp_path / "cache", providers={"local": FakeProvider()})
    run = project.run()
    assert run.ok and run.report == tmp_path / "out" / "ep.mp3.report.html", run.warnings
    wav_page = (tmp_path / "out" / "ep.wav.report.html").read_text(encoding="utf-8")
    assert 'src="ep.wav"' in wav_page and 'src="ep.mp3"' in run.report.read_text(encoding="utf-8")


def _count_encodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    made: list[Path] = []
    encode = report_previews.encode_preview

    def counted(path: Path) -> bytes:
        made.append(path)
        return encode(path)

    monkeypatch.setattr(report_previews, "encode_preview", counted)
    return made


def test_previews_are_made_once_and_an_unchanged_page_is_not_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _count_encodes(monkeypatch)
    text = RECIPE.replace(
        "output: out/test.wav", "outputs:\n  - {path: out/ep.mp3, bitrate: 128k}\n  - {path: out/ep.wav}"
    )
    project = open_text(text, root=tmp_path, cache_dir=tmp_path / "cache", providers={"local": FakeProvider()})
    assert project.run().ok
    assert len(made) == 5  # bell, rain, three lines: once for both outputs' pages
    kept = sorted(p.name for p in (tmp_path / "cache" / "previews").glob("*/*.ogg"))
    assert len(kept) == 5
    assert project.run().ok  # cached: the statuses changed, so each page is written again
    pages = [tmp_path / "out" / "ep.mp3.report.html", tmp_path / "out" / "ep.wav.report.html"]
    before = [(p.stat().st_ino, p.stat().st_mtime_ns) for p in pages]
    digest = re.search(r'<meta name="audioflow-report" content="([0-9a-f]{64})">', pages[0].read_text("utf-8"))
    assert digest is not None
    assert project.run().ok  # the same cached run again: nothing the pages show changed
    assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in pages] == before
    assert len(made) == 5  # no preview encoded again
    pages[0].unlink()
    assert project.run().ok and pages[0].is_file()  # a missing page is written, from the kept previews
    assert len(made) == 5 and digest[1] in pages[0].read_text("utf-8")


def test_verify_does_not_count_previews_and_gc_removes_those_of_removed_artifacts(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    project = open_text(RECIPE, root=tmp_path, cache_dir=cache, providers={"local": FakeProvider()})
    first = project.run()
    assert first.ok
    bell = first.result.outcomes["bell"].record.artifact.digest
    (bell_preview,) = (cache / "previews").glob(f"*/{bell}.*.ogg")
    objects = len(list((cache / "objects").glob("*/*")))
    checked = verify_store(project.store)
    assert (checked.objects, checked.findings) == (objects, [])
    changed = RECIPE.replace("generate: a bell, duration: 1s", "generate: a bell, duration: 2s")
    again = open_text(changed, root=tmp_path, cache_dir=cache, providers={"local": FakeProvider()})
    assert again.run().ok  # the state now names the new bell; the old one is garbage
    assert len(list((cache / "previews").glob("*/*.ogg"))) == 6
    dry = collect_garbage(again.store, dry_run=True)
    assert bell_preview.is_file() and any(key.endswith(bell_preview.name) for key, _ in dry.removed)
    gone = collect_garbage(again.store)
    removed = [key for key, _ in gone.removed if key.startswith("previews/")]
    assert removed == [bell_preview.relative_to(cache).as_posix()]
    assert not bell_preview.exists() and len(list((cache / "previews").glob("*/*.ogg"))) == 5


def test_the_verdict_is_the_outputs_qc_report(tmp_path: Path) -> None:
    project = open_text(RECIPE, root=tmp_path, cache_dir=tmp_path / "cache", providers={"local": FakeProvider()})
    run = project.run()
    assert run.ok and run.manifest is not None and run.report is not None
    page = run.report.read_text("utf-8")
    checks = run.manifest.qc.checks
    assert '<p class="pass" id="verdict">PASS</p>' in page
    assert all(check.reason in page for check in checks)
    manifest = run.manifest.to_json()
    manifest["qc"]["pass"] = False
    manifest["qc"]["checks"][0] |= {"pass": False, "reason": "integrated_lufs -30.00 LUFS is under -16 ±1 LU"}
    plan = project.plan()
    path, written = write_report(plan, cached_result(plan), project.store, run.output, manifest=manifest)
    assert written and path == run.report
    failed = path.read_text("utf-8")
    assert '<p class="fail" id="verdict">FAIL: integrated_lufs -30.00 LUFS is under -16 ±1 LU</p>' in failed


def test_the_page_draws_the_overview_the_master_measured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audioflow.engine import report as report_module

    decoded: list[Path] = []
    measure = report_module.overview

    def counted(path: Path, **options: Any) -> Any:
        decoded.append(path)
        return measure(path, **options)

    monkeypatch.setattr(report_module, "overview", counted)
    _, _, run = _run(tmp_path)
    seen = run.result.outcomes["master"].meta.overview
    assert decoded == [] and seen is not None and len(seen.low) > 100  # the page decoded nothing
    # a master whose meta has no overview (an older record): the page decodes the output instead
    project = open_text(RECIPE, root=tmp_path, cache_dir=tmp_path / "cache", providers={"local": FakeProvider()})
    plan = project.plan()
    result = cached_result(plan)
    master = result.outcomes["master"]
    assert master.record is not None
    meta = {k: v for k, v in master.record.meta.items() if k != "overview"}
    master.record = StepRecord(master.record.input_digest, master.record.artifact, meta)
    data = report_module.collect(plan, result, project.store, run.output)
    assert decoded == [master.record.artifact.path]
    assert data.overview.times_ms == seen.times_ms
    np.testing.assert_allclose(data.overview.high, seen.high, rtol=0, atol=5e-5)  # the meta keeps 1e-4


def _drawn_on_a_new_figure(data: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """``data``'s figure drawn on a new figure (nothing drawn on it before), kept for the next page."""
    from audioflow.engine import report_figures

    monkeypatch.setattr(report_figures, "_CANVAS", None)
    return report_figures.draw(data).svg


def test_the_figure_is_the_same_whatever_was_drawn_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's figure is refilled page after page and text extents are remembered across pages:
    a page's SVG is still exactly what a fresh figure, with nothing remembered, draws for it."""
    from audioflow.engine import report_figures
    from audioflow.engine.report import collect

    chaptered = RECIPE.replace("  - {track: scene}", "  - {track: scene, chapter: Opening}").replace(
        "      - mara: Bye.", "      - mara: Bye.\n      - ben: One more line, on a lane of its own length."
    )
    datas = []
    for n, text in enumerate((RECIPE, chaptered)):
        folder = tmp_path / str(n)
        project = open_text(text, root=folder, cache_dir=folder / "cache", providers={"local": FakeProvider()})
        run = project.run()
        assert run.ok and run.output is not None
        plan = project.plan()
        datas.append(collect(plan, cached_result(plan), project.store, run.output))
    first, second = datas
    report_figures._text_metrics.cache_clear()
    fresh = _drawn_on_a_new_figure(first, monkeypatch)
    assert report_figures._text_metrics.cache_info().currsize > 10  # extents remembered...
    assert _drawn_on_a_new_figure(second, monkeypatch) != fresh
    after_other = report_figures.draw(first).svg  # on the figure that drew the second page
    assert after_other == fresh  # ...and the same bytes as measured afresh, on a used figure
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:  # pages drawn from several threads at once (a batch's bounces)
        drawn = list(pool.map(lambda data: report_figures.draw(data).svg, [first, second] * 4))
    assert drawn[::2] == [fresh] * 4 and len(set(drawn[1::2])) == 1
    assert fresh.count('id="seg-') == 2 * 6 and after_other.count("Opening") == 0
    assert all(title in fresh for title in ("Timeline", "Waveform", "Beds and their ducking", "Short-term loudness"))


def test_the_figure_is_what_matplotlibs_own_svg_canvas_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib import rc_context
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    from audioflow.engine import report_figures
    from audioflow.engine.report import collect

    project = open_text(RECIPE, root=tmp_path, cache_dir=tmp_path / "cache", providers={"local": FakeProvider()})
    run = project.run()
    assert run.ok and run.output is not None
    plan = project.plan()
    data = collect(plan, cached_result(plan), project.store, run.output)

    ours = report_figures.draw(data).svg
    monkeypatch.setattr(report_figures, "_CANVAS", None)  # a new figure, thrown away after the test
    with rc_context(report_figures._RC):  # as draw makes it
        FigureCanvasSVG(report_figures._canvas().fig)  # matplotlib's SVG canvas: each text measured by its renderer
    theirs = report_figures.draw(data).svg
    assert ours == theirs and "<svg" in ours
