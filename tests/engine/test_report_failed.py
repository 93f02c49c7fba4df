"""A run that writes no output still writes its report page, and the page says what failed: each
step's status and error, in a self-contained page that loads in Chromium without a console error.
The next good run replaces it with the full report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import FakeProvider
from test_report_browser import browser  # noqa: F401 (the module's Chromium fixture)

from audioflow.cli import cli
from audioflow.engine import open_text
from audioflow.providers import PROVIDERS

RECIPE = """\
audioflow: 1
title: A <failing> drama
cast:
  mara: {preset: {local: joe}}
steps:
  bell: {generate: a bell, duration: 1s}
  scene:
    dialogue:
      - mara: Hello there.
      - cue: bell
        offset: 100ms
      - mara: Bye.
mix:
  - {track: scene}
output: out/drama.wav
"""


def _failing(tmp_path: Path) -> tuple[Any, FakeProvider]:
    fake = FakeProvider(fail=["bell"])
    project = open_text(RECIPE, root=tmp_path, cache_dir=tmp_path / "cache", providers={"local": fake})
    return project, fake


def test_a_failed_run_writes_a_page_that_says_what_failed(tmp_path: Path) -> None:
    project, _ = _failing(tmp_path)
    run = project.run(keep_going=True)
    assert not run.ok and run.output is None
    assert run.report == tmp_path / "out" / "drama.report.html"
    page = run.report.read_text("utf-8")
    assert '<p class="fail" id="verdict">RUN FAILED: 1 step failed (bell), 3 not run; no output was written</p>' in page
    error = run.result.outcomes["bell"].error
    assert error and "<td>bell</td><td>generate</td><td>local</td><td>failed</td>" in page
    assert "<td>master</td><td>master</td><td>-</td><td>blocked</td>" in page
    assert "<code>drama.wav</code> was not written." in page
    assert "<h1>A &lt;failing&gt; drama</h1>" in page and "<script" not in page  # escaped; nothing to run

    good = open_text(RECIPE, root=tmp_path, cache_dir=tmp_path / "cache", providers={"local": FakeProvider()}).run()
    assert good.ok and good.report == run.report
    assert "RUN FAILED" not in good.report.read_text("utf-8")  # the full report replaced it
    again, _ = _failing(tmp_path)
    (tmp_path / "cache").rename(tmp_path / "cache-old")  # a fresh cache: the bell renders (and fails) again
    failed_again = again.run()
    assert failed_again.report is not None
    text = failed_again.report.read_text("utf-8")
    assert "<code>drama.wav</code> is from an earlier run; it was not replaced." in text


def test_the_cli_names_the_page_of_a_failed_run(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(PROVIDERS, "local", lambda settings: FakeProvider(fail=["bell"]))
    result = CliRunner().invoke(cli, ["run", "r.yaml", "--cache-dir", "cache"])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "report: out/drama.report.html"
    assert "RUN FAILED" in (tmp_path / "out" / "drama.report.html").read_text("utf-8")
    no_report = CliRunner().invoke(cli, ["run", "r.yaml", "--cache-dir", "cache2", "--no-report"])
    assert no_report.exit_code == 1 and "report:" not in no_report.stdout


#: RECIPE with two outputs (two report pages).
TWO_OUTPUTS = RECIPE.replace(
    "output: out/drama.wav\n", "outputs:\n  - {path: out/drama.wav}\n  - {path: out/drama.flac}\n"
)


def test_the_cli_names_every_outputs_page(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "r.yaml").write_text(TWO_OUTPUTS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(PROVIDERS, "local", lambda settings: FakeProvider())
    result = CliRunner().invoke(cli, ["run", "r.yaml", "--cache-dir", "cache"])
    assert result.exit_code == 0, result.output
    pages = [line for line in result.stdout.splitlines() if line.startswith("report: ")]
    assert pages == ["report: out/drama.wav.report.html", "report: out/drama.flac.report.html"]


def test_report_pages_lists_every_outputs_page_failed_or_full(tmp_path: Path) -> None:
    def project(fake: FakeProvider) -> Any:
        return open_text(TWO_OUTPUTS, root=tmp_path, cache_dir=tmp_path / "cache", providers={"local": fake})

    failed = project(FakeProvider(fail=["bell"])).run(keep_going=True)
    pages = (tmp_path / "out" / "drama.wav.report.html", tmp_path / "out" / "drama.flac.report.html")
    assert failed.report_pages == pages and failed.report == pages[0]
    assert all("RUN FAILED" in page.read_text("utf-8") for page in pages)
    good = project(FakeProvider()).run()
    assert good.ok and good.report_pages == pages
    assert not any("RUN FAILED" in page.read_text("utf-8") for page in pages)
    assert project(FakeProvider()).run(report=False).report_pages == ()


@pytest.fixture(scope="module")
def failed_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page of a failed run, written before the browser starts (Playwright's loop runs in this thread)."""
    project, _ = _failing(tmp_path_factory.mktemp("failed"))
    page = project.run().report
    assert page is not None
    return page


def test_the_page_of_a_failed_run_loads_in_chromium(failed_page: Path, browser: Any) -> None:  # noqa: F811
    page_path = failed_page
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.goto(page_path.as_uri(), wait_until="load")
    assert page.locator("#verdict").inner_text().startswith("RUN FAILED: 1 step failed (bell)")
    assert page.locator("#steps tbody tr").count() == 6
    assert problems == []
    page.close()
