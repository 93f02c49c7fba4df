"""The report in a real browser: Debian's Chromium (apt: chromium), driven by Playwright, opens the
report of a small drama rendered offline with the local provider (Piper speech, placeholder sounds):
no console errors, the lanes and speakers are there, the programme plays, a click on a lane seeks,
and a step's take plays in the page.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (the README's test
command and ``.ci/run`` install it). The page is opened from ``file://``; nothing is fetched."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audioflow.engine import open_text

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]

DRAMA = """\
audioflow: 1
title: A small drama
provider: local
cast:
  mara: {preset: {local: joe}, display_name: Mara Quinn}
  ben: {preset: {local: deep}, display_name: Ben Ode}
steps:
  knock: {generate: a knock on a wooden door, duration: 1s}
  rain: {generate: steady rain on a window, duration: 4s, texture: noise}
  scene:
    dialogue:
      - mara: Who is there at this hour?
      - cue: knock
        offset: 200ms
      - ben: Only me. Let me in, the rain is coming down.
      - mara: Then come in and shut the door.
mix:
  - {track: scene}
  - {track: rain, under: scene, gain_db: -18, loop: true, duck_db: -9}
master: {preset: podcast, format: mp3, bitrate: 128k}
output: out/drama.mp3
"""


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("drama")
    run = open_text(DRAMA, root=folder, cache_dir=folder / "cache").run()
    assert run.ok and run.report is not None, run.warnings
    return run.report


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), "the browser test needs Debian's chromium: apt-get install -y chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def _wait_until(page: Any, expression: str, timeout_s: float = 15.0) -> None:
    """Poll ``expression`` in the page until it is true (``wait_for_function`` evaluates a string,
    which the report's Content-Security-Policy forbids; ``evaluate`` goes through the debugger)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        page.wait_for_timeout(50)


def test_the_report_loads_plays_and_seeks_in_chromium(report_page: Path, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report_page.as_uri(), wait_until="load")
    # where each seek of the programme landed, taken when it lands: polling the playing position
    # instead had to catch it inside a window of 1.5-2 s of playback, which a loaded machine can miss
    page.evaluate(
        "window.seeks = []; document.getElementById('programme')"
        ".addEventListener('seeked', e => window.seeks.push(e.target.currentTime))"
    )

    # lanes: two tracks, three lines on two speakers' lanes, one cue; speakers by display name
    assert page.locator("svg").count() == 1  # lanes, waveform, beds and loudness: one figure, one time axis
    assert page.locator('#timeline g[id^="seg-"]:not([id$="-label"])').count() == 6
    lane_text = page.locator("#timeline svg").text_content() or ""
    assert "Mara Quinn" in lane_text and "Ben Ode" in lane_text and "knock" in lane_text
    assert page.locator("#speakers").inner_text() == "Mara Quinn, Ben Ode"
    assert page.locator("#verdict").inner_text() == "PASS"

    # the programme (the mp3 beside the page) plays
    assert page.evaluate("document.getElementById('programme').play().then(() => true)") is True
    _wait_until(page, "document.getElementById('programme').currentTime > 0.3")
    duration = page.evaluate("document.getElementById('programme').duration")
    assert duration == pytest.approx(json.loads(page.locator("#axis").inner_text())["duration_s"], abs=0.1)

    # a click on the last line's block plays the programme from that line
    seek = json.loads(page.locator("#seek-map").inner_text())
    (last,) = [gid for gid, (_, title) in seek.items() if title.startswith("Mara Quinn: Then come in")]
    start_s = seek[last][0]
    assert start_s > 2.0
    page.evaluate("document.getElementById('programme').pause(); window.seeks = []")
    page.locator(f"#{last}").click()
    _wait_until(page, "!document.getElementById('programme').paused && window.seeks.length > 0")
    assert start_s - 0.05 <= page.evaluate("window.seeks[0]") < start_s + 2.0
    assert (page.locator(f"#{last} > title").text_content() or "").startswith("Mara Quinn: Then come in")
    assert (page.locator(f"#{last}-label > title").text_content() or "").startswith("Mara Quinn: Then come in")

    # a click anywhere else in the figure (here, low in the loudness panel) plays from that time
    page.evaluate("document.getElementById('programme').pause(); window.seeks = []")
    axis = json.loads(page.locator("#axis").inner_text())
    box = page.locator("#timeline").bounding_box()
    at_s = 0.6 * axis["duration_s"]
    x = box["width"] * (axis["left"] + (axis["right"] - axis["left"]) * 0.6)
    page.locator("#timeline").click(position={"x": x, "y": box["height"] * 0.88})  # scrolled into view
    _wait_until(page, "!document.getElementById('programme').paused && window.seeks.length > 0")
    assert at_s - 0.1 <= page.evaluate("window.seeks[0]") < at_s + 1.5

    # a step's take plays inside the page
    takes = page.locator("audio.take")
    assert takes.count() == 5  # knock, rain and three lines
    assert page.evaluate("document.querySelector('audio.take').play().then(() => true)") is True
    _wait_until(page, "document.querySelector('audio.take').currentTime > 0.1")
    assert problems == []
    # nothing but the page itself, the programme beside it and data: URIs (a seek may abort and
    # re-request the mp3: that is how media elements read files)
    assert {url.split(":", 1)[0] for url in requests} <= {"file", "data"}
    assert {url for url in requests if url.startswith("file:")} == {
        report_page.as_uri(),
        (report_page.parent / "drama.mp3").as_uri(),
    }
    page.close()
