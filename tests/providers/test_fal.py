"""The fal provider against a fake fal speaking the real queue protocol (tests/fakes/fal.py), and
the official ``fal-client`` run against the same fake (so the fake is faithful to what fal serves)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fal_client
import fal_client.client
import httpx
import pytest
from fakes.base import Response, max_overlap, wav_bytes
from fakes.fal import (
    FAL_KEY,
    FIELDS,
    SUBMIT_PATH,
    FakeFal,
    fake_fal,  # noqa: F401  (a fixture)
)
from fakes.stand_ins import DictJournal, Sleeps
from payloads import estimate, make_request, model_id, render_request, request_key

from audioflow.audio import decode_bytes
from audioflow.errors import ProviderError
from audioflow.providers.base import Provider, ProviderSettings, Reference, RenderRequest, Take
from audioflow.providers.fal import FAL_VOICES, PRICE_PER_MINUTE_USD, FalProvider, error_message

FAST = ProviderSettings(poll_interval_s=0.001, timeout_s=30.0)
STATUS_PATH = r"/requests/[^/]+/status$"
CLIP_URL = "https://example.com/mara.mp3"


# -- helpers ---------------------------------------------------------------------------------------
def voice(name: str = "narrator", preset: str | None = "cedric_en_zh", **kw: Any) -> dict[str, Any]:
    base = {"name": name, "cast_index": 0, "preset": {"fal": preset} if preset else None, "speed": 1.0}
    return {**base, "volume": 1.0, "pitch_semitones": 0.0, "gain_db": -3.0, "clone": None, **kw}


def speak(text: str = "Hello there.", direction: str | None = None, v: dict | None = None, **kw: Any) -> RenderRequest:
    params = {"text": text, "direction": direction, "voice": v or voice(), "image": None}
    return make_request("line1", "speak", params, **kw)


def clip(tmp_path: Path, name: str = "mara", seconds: float = 3.0) -> Reference:
    path = tmp_path / f"{name}.wav"
    path.write_bytes(wav_bytes(seconds, 24000, freq_hz=220.0))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Reference(name, path=path, sha256=digest, duration_ms=seconds * 1000)


def render(provider: FalProvider, request: RenderRequest) -> Take:
    return asyncio.run(render_request(provider, request))


def fal(settings: ProviderSettings = FAST, sleep: Any = None) -> FalProvider:
    return FalProvider(settings, sleep=sleep or Sleeps())


@pytest.fixture
def fake(fake_fal: FakeFal) -> Iterator[FakeFal]:  # noqa: F811
    """The fake fal; afterwards, every body the host accepted uses only the page's fields."""
    yield fake_fal
    for submit in fake_fal.submits:
        assert set(submit.json) <= FIELDS and fake_fal.validate(submit.json) == []


# -- happy paths -----------------------------------------------------------------------------------
def test_is_a_provider_with_default_concurrency() -> None:
    provider = FalProvider()
    assert isinstance(provider, Provider)
    assert provider.name == "fal" and provider.max_concurrency == 4
    assert FalProvider(ProviderSettings(concurrency=2)).max_concurrency == 2
    assert model_id(provider, speak()) == "fal/bytedance/seed-audio-1.0"
    assert len(FAL_VOICES) == 20


def test_speak_sends_the_exact_body_and_downloads_at_once(fake: FakeFal) -> None:
    take = render(fal(), speak(direction="warmly"))
    [submit] = fake.submits
    assert submit.json == {
        "prompt": "(warmly) Hello there.",
        "voice": "cedric_en_zh",
        "output_format": "wav",
        "sample_rate": 48000,
    }
    assert set(submit.json) <= FIELDS
    assert submit.headers["authorization"] == f"Key {FAL_KEY}"
    order = [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests]
    rid = take.request_id
    assert order == [
        ("POST", "seed-audio-1.0"),
        ("GET", "status"),
        ("GET", "status"),
        ("GET", "status"),
        ("GET", rid),
    ]
    assert all(r.query.get("logs") == ["1"] for r in fake.calls("GET", STATUS_PATH))
    [download] = fake.cdn.calls("GET", r"^/files/")
    assert "authorization" not in download.headers  # the file host never sees the key
    assert download.t_start > fake.calls("GET", rid + "$")[0].t_start
    assert take.format == "wav" and take.notes == () and not take.placeholder
    audio = decode_bytes(take.data, "wav")
    assert audio.sample_rate_hz == 48000 and audio.duration_ms == pytest.approx(1000, abs=1)
    assert take.cost_usd == pytest.approx(1 / 60 * PRICE_PER_MINUTE_USD)


def test_prosody_and_host_defaults(fake: FakeFal) -> None:
    settings = ProviderSettings(poll_interval_s=0.001, format="mp3", sample_rate_hz=24000)
    v = voice(preset="sophie_en_zh", speed=1.25, volume=0.8, pitch_semitones=-3.0)
    take = render(fal(settings), speak(v=v))
    body = fake.submits[0].json
    # mp3 and 24000 Hz are fal's defaults: omitted; speed/volume floats, pitch an int
    assert body == {"prompt": "Hello there.", "voice": "sophie_en_zh", "speed": 1.25, "volume": 0.8, "pitch": -3}
    assert isinstance(body["pitch"], int)
    assert take.format == "mp3"
    assert decode_bytes(take.data, "mp3").duration_ms == pytest.approx(1000, abs=60)


def test_scene_uploads_a_local_clip_with_the_cdn_token(fake: FakeFal, tmp_path: Path) -> None:
    mara = clip(tmp_path)
    params = {
        "lines": [
            {"voice": "mara", "text": "Did you hear that?", "direction": "whispering", "gap_ms": 300},
            {"voice": "ben", "text": "Hear what?", "direction": None, "gap_ms": 300},
        ],
        "gap_ms": 300,
        "voices": {"mara": voice("mara", None, clone={"model": "seed-audio", "language": None}), "ben": voice("ben")},
        "image": None,
    }
    provider = fal()
    request = make_request("scene1", "scene", params, references=(mara,))
    take = render(provider, request)
    [token] = fake.calls("POST", "^/storage/auth/token$")
    assert token.query == {"storage_type": ["fal-cdn-v3"]} and token.json == {}
    assert token.headers["authorization"] == f"Key {FAL_KEY}"
    [upload] = fake.cdn.calls("POST", "^/files/upload$")
    assert upload.headers["authorization"].startswith("Bearer cdn-token-")  # the token, never the key
    assert FAL_KEY not in json.dumps(upload.headers)
    assert upload.body == mara.path.read_bytes() and upload.headers["content-type"] in ("audio/x-wav", "audio/wav")
    body = fake.submits[0].json
    assert body["prompt"] == "@Audio1 (whispering) Did you hear that?\nben: Hear what?"
    assert body["audio_urls"] == [f"{fake.cdn.url}/files/up1-mara.wav"]
    assert "voice" not in body and set(body) <= FIELDS
    assert any(note.startswith("warning: fal receives no voice for ben") for note in take.notes)
    key = request_key(provider, request)
    assert key["body"]["audio_urls"] == [{"sha256": mara.sha256}]
    assert str(tmp_path) not in json.dumps(key) and "files/up" not in json.dumps(key)


def test_generate_with_a_cited_url_clip_and_with_a_local_image(fake: FakeFal, tmp_path: Path) -> None:
    mara = Reference("mara", url=CLIP_URL, duration_ms=4000)
    cloned = voice("mara", None, clone={"model": "seed-audio", "language": None})
    params = {"prompt": "@mara laughs in a busy cafe", "voices": {"mara": cloned}, "image": None, "duration_ms": 5000}
    render(fal(), make_request("g1", "generate", params, references=(mara,)))
    assert fake.submits[0].json["audio_urls"] == [CLIP_URL]
    assert fake.count("POST", "/storage/") == 0  # URLs are sent as given: nothing to upload

    image = tmp_path / "shop.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    params = {"prompt": "the hum of a shop", "voices": {}, "image": {"sha256": digest, "name": "shop.png"}}
    request = make_request("g2", "generate", {**params, "duration_ms": 3000}, files={"image": image})
    render(fal(), request)
    body = fake.submits[1].json
    assert body["image_url"].startswith(fake.cdn.url) and "audio_urls" not in body
    assert fake.cdn.calls("POST", "/files/upload")[0].headers["content-type"] == "image/png"
    assert request_key(FalProvider(), request)["body"]["image_url"] == {"sha256": digest}


def test_openvoice_clone_renders_with_seed_audio_and_says_so(fake: FakeFal, tmp_path: Path) -> None:
    mara = voice("mara", None, clone={"model": "openvoice", "language": "EN"})
    take = render(fal(), speak(v=mara, references=(clip(tmp_path),)))
    assert fake.submits[0].json["prompt"] == "@Audio1 Hello there."
    assert any("OpenVoice" in n and "Seed Audio" in n for n in take.notes)
    assert model_id(FalProvider(), speak(v=mara)) == "fal/bytedance/seed-audio-1.0"
    long_clip = Reference("mara", url=CLIP_URL, duration_ms=45_000)
    with pytest.raises(ProviderError, match=r"OpenVoice.*at most 30 s.*45\.0 s"):
        FalProvider().prepare(speak(v=mara, references=(long_clip,)))


# -- checks before money ---------------------------------------------------------------------------
def test_check_needs_no_key_and_refuses_what_fal_cannot_render(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FAL_KEY", raising=False)
    provider = FalProvider()
    provider.prepare(speak())
    isolate = make_request("iso", "isolate", {"describe": "a voice", "candidates": 2})
    with pytest.raises(ProviderError, match="fal does not host SAM-Audio: render isolate steps on segmind"):
        provider.prepare(isolate)
    with pytest.raises(ProviderError, match="did you mean 'cedric_en_zh'"):
        provider.prepare(speak(v=voice(preset="cedric_en")))
    with pytest.raises(ProviderError, match="unknown fal voice 'joe'"):
        provider.prepare(speak(v=voice(preset=None) | {"preset": "joe"}))
    for bad in (ProviderSettings(format="flac"), ProviderSettings(format="pcm")):
        with pytest.raises(ProviderError, match="wav, mp3 or ogg"):
            FalProvider(bad).prepare(speak())
    with pytest.raises(ProviderError, match="22050"):
        FalProvider(ProviderSettings(sample_rate_hz=22050)).prepare(speak())
    with pytest.raises(ProviderError, match="speed and volume"):
        provider.prepare(speak(v=voice(speed=3.0)))
    refs = tuple(Reference(n, url=f"https://x.test/{n}.wav") for n in "abcd")
    cloned = {n: voice(n, None, clone={"model": "seed-audio"}) for n in "abcd"}
    lines = [{"voice": n, "text": "hi", "direction": None, "gap_ms": 0} for n in "abcd"]
    scene = make_request("s", "scene", {"lines": lines, "gap_ms": 0, "voices": cloned, "image": None}, references=refs)
    with pytest.raises(ProviderError, match="at most 3"):
        provider.prepare(scene)
    missing = Reference("mara", path=tmp_path / "nope.wav")
    with pytest.raises(ProviderError, match="neither a URL nor an existing file"):
        provider.prepare(speak(v=voice("mara", None, clone={"model": "seed-audio"}), references=(missing,)))
    flac = tmp_path / "mara.flac"
    flac.write_bytes(b"fLaC")
    with pytest.raises(ProviderError, match="wav/mp3/pcm/ogg/opus"):
        provider.prepare(
            speak(v=voice("mara", None, clone={"model": "seed-audio"}), references=(Reference("mara", flac),))
        )
    with pytest.raises(ProviderError, match="no API key: set FAL_KEY"):
        provider.ready()


def test_request_key_is_stable_and_follows_what_fal_sees(tmp_path: Path) -> None:
    provider = FalProvider()
    key = request_key(provider, speak())
    assert key == {"model": "bytedance/seed-audio-1.0", "body": request_key(provider, speak())["body"]}
    assert key["body"]["voice"] == "cedric_en_zh"
    assert request_key(provider, speak(v=voice(gain_db=-12.0))) == key  # gain is applied by the engine
    assert request_key(provider, speak(v=voice(speed=1.1))) != key
    assert request_key(provider, speak("Other.")) != key


def test_estimate_cost_is_per_minute_of_output() -> None:
    assert estimate(FalProvider(), speak(), 120.0) == pytest.approx(0.15)
    assert estimate(FalProvider(ProviderSettings(price_per_call_usd=0.5)), speak(), 120.0) == 0.5


@pytest.mark.parametrize("declared", [0.0, 0.001])
def test_a_declared_price_never_lowers_the_published_one(declared: float) -> None:
    """A stranger's recipe cannot switch a budget off by declaring a price below fal's."""
    settings = ProviderSettings(price_per_call_usd=declared)
    assert estimate(FalProvider(settings), speak(), 120.0) == pytest.approx(0.15)


# -- the queue -------------------------------------------------------------------------------------
def test_queued_then_in_progress_then_completed(fake: FakeFal) -> None:
    fake.polls_queued, fake.polls_in_progress = 3, 2
    fake.audio_seconds = 30.0
    sleeps = Sleeps()
    take = render(fal(ProviderSettings(poll_interval_s=0.5), sleeps), speak())
    statuses = [r.status for r in fake.calls("GET", STATUS_PATH)]
    assert statuses == [202] * 5 + [200]
    assert sleeps.calls[0] == 0.0 and sleeps.calls[1] == 0.5 and max(sleeps.calls) <= 2.0  # poll_wait backs off
    assert take.cost_usd == pytest.approx(30 / 60 * 0.075)  # billed per output minute


def test_completed_with_error_is_a_failure_with_the_vendor_message(fake: FakeFal) -> None:
    fake.fail_jobs("Content blocked by the safety checker", "content_policy_violation")
    journal = DictJournal()
    with pytest.raises(ProviderError) as caught:
        render(fal(), speak(journal=journal))
    err = caught.value
    assert err.provider == "fal" and err.request_id == "req-0001"
    assert "Content blocked by the safety checker (content_policy_violation)" in str(err)
    assert err.status == 200 and "request req-0001" in str(err)
    assert journal.load() is None  # a final answer: a rerun submits afresh
    assert fake.count("GET", r"/requests/req-0001$") == 0


def test_timeout_names_the_request_and_keeps_the_journal(fake: FakeFal) -> None:
    fake.polls_queued = 10_000
    journal = DictJournal()
    with pytest.raises(ProviderError, match="rerun to resume") as caught:
        render(fal(ProviderSettings(poll_interval_s=0.001, timeout_s=0.0)), speak(journal=journal))
    assert caught.value.request_id == "req-0001"
    assert journal.load()["request_id"] == "req-0001"


def test_429_is_retried_after_the_asked_wait(fake: FakeFal) -> None:
    fake.retry_after_s = 7.0
    fake.fail_every(1, 429, paths=[SUBMIT_PATH], methods=["POST"], times=1)
    sleeps = Sleeps()
    render(fal(sleep=sleeps), speak())
    assert fake.count("POST", SUBMIT_PATH) == 2 and len(fake.submits) == 1
    assert sleeps.calls[0] == 7.0


def test_5xx_is_retried_on_submit_and_poll(fake: FakeFal) -> None:
    fake.fail_every(1, (503, 502), paths=[SUBMIT_PATH], methods=["POST"], times=2)
    fake.fail_every(2, 504, paths=[STATUS_PATH], times=1)
    take = render(fal(), speak())
    assert take.request_id == "req-0001" and len(fake.submits) == 1
    assert fake.count("POST", SUBMIT_PATH) == 3


def test_x_fal_retryable_false_stops_retries(fake: FakeFal) -> None:
    no_retry = Response.json({"detail": "Runner crashed", "error_type": "runner_crash"}, 503)
    no_retry.headers.update({"x-fal-retryable": "false", "x-fal-error-type": "runner_crash"})
    fake.fail_every(1, [no_retry], paths=[SUBMIT_PATH], times=1)
    with pytest.raises(ProviderError, match=r"HTTP 503.*Runner crashed \(runner_crash\)"):
        render(fal(), speak())
    assert fake.count("POST", SUBMIT_PATH) == 1


def test_submit_is_not_retried_after_a_transport_failure(fake: FakeFal) -> None:
    fake.fail_every(1, [Response.dropped()], paths=[SUBMIT_PATH], times=1)
    journal = DictJournal()
    with pytest.raises(ProviderError, match="not retried"):
        render(fal(), speak(journal=journal))
    assert fake.count("POST", SUBMIT_PATH) == 1 and journal.load() is None


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404])
def test_4xx_is_not_retried(fake: FakeFal, status: int) -> None:
    fake.fail_every(1, status, paths=[SUBMIT_PATH], times=1)
    with pytest.raises(ProviderError) as caught:
        render(fal(), speak())
    assert caught.value.status == status and not caught.value.retryable
    assert fake.count("POST", SUBMIT_PATH) == 1
    if status == 402:
        assert "Exhausted balance" in str(caught.value)


def test_a_wrong_key_gets_401_and_the_key_never_shows(fake: FakeFal, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "wrong-key-abcdef123456"
    monkeypatch.setenv("FAL_KEY", wrong)
    with pytest.raises(ProviderError, match=r"HTTP 401.*Invalid Key authorization header") as caught:
        render(fal(), speak())
    assert wrong not in str(caught.value)


def test_validation_errors_join_loc_and_msg(fake: FakeFal, monkeypatch: pytest.MonkeyPatch) -> None:
    problem = {"loc": ["body", "voice"], "msg": "value is not a valid enumeration member", "type": "type_error.enum"}
    monkeypatch.setattr(fake, "validate", lambda body: [problem])
    with pytest.raises(ProviderError, match="HTTP 422: voice: value is not a valid enumeration member"):
        render(fal(), speak())


def test_error_message_shapes() -> None:
    validation = httpx.Response(422, json={"detail": [{"loc": ["body", "audio_urls", 0], "msg": "bad url"}]})
    assert error_message(validation) == "audio_urls.0: bad url"
    infra = httpx.Response(
        503, json={"detail": "No runner", "error_type": "runner_unavailable"}, headers={"x-fal-error-type": "x"}
    )
    assert error_message(infra) == "No runner (runner_unavailable)"
    header_only = httpx.Response(504, json={"detail": "Timed out"}, headers={"x-fal-error-type": "request_timeout"})
    assert error_message(header_only) == "Timed out (request_timeout)"
    assert error_message(httpx.Response(502, text="<html>nginx</html>")) == "<html>nginx</html>"


def test_a_fresh_request_that_vanishes_is_an_error_not_a_resubmit(fake: FakeFal) -> None:
    fake.polls_queued = 3

    def forget(calls: int) -> None:
        if calls == 2:
            fake.forget()

    with pytest.raises(ProviderError, match=r"HTTP 404.*Request not found"):
        render(fal(sleep=Sleeps(forget)), speak(journal=DictJournal()))
    assert len(fake.submits) == 1


# -- journal ---------------------------------------------------------------------------------------
def test_the_request_id_is_saved_before_the_first_poll(fake: FakeFal) -> None:
    journal = DictJournal()
    seen: list[tuple[int, Any]] = []
    sleeps = Sleeps(lambda n: seen.append((fake.count("GET", STATUS_PATH), journal.load())))
    take = render(fal(sleep=sleeps), speak(journal=journal))
    polls_then, state_then = seen[0]
    assert polls_then == 0 and state_then["request_id"] == take.request_id
    assert set(state_then) == {"request_id", "status_url", "response_url", "cancel_url"}
    assert all(
        state_then[k].startswith(fake.url + "/bytedance/seed-audio-1.0/requests/")
        for k in state_then
        if k != "request_id"
    )


class Killed(Exception):
    """The process dies mid-poll (no cleanup runs)."""


def die_at(sleep_number: int) -> Sleeps:
    """A sleep that kills the render at its ``sleep_number``-th call (1-based)."""

    def hook(calls: int) -> None:
        if calls == sleep_number:
            raise Killed

    return Sleeps(hook)


def test_killed_mid_poll_then_resumed_by_a_new_instance_pays_once(fake: FakeFal) -> None:
    fake.polls_queued = 2
    journal = DictJournal()
    with pytest.raises(Killed):
        render(fal(sleep=die_at(3)), speak(journal=journal))
    assert len(fake.submits) == 1 and fake.count("PUT") == 0
    take = render(fal(), speak(journal=journal))
    assert len(fake.submits) == 1  # 0 new submits
    assert take.request_id == "req-0001"
    assert take.notes == ("resumed request req-0001 from an earlier run",)


def test_an_expired_request_is_submitted_once_more_with_a_note(fake: FakeFal) -> None:
    journal = DictJournal()
    with pytest.raises(Killed):
        render(fal(sleep=die_at(2)), speak(journal=journal))
    fake.forget()  # fal's retention is over
    take = render(fal(), speak(journal=journal))
    assert len(fake.submits) == 2 and take.request_id == "req-0002"
    assert any("req-0001" in n and "expired" in n for n in take.notes)


def test_twelve_concurrent_renders_with_a_third_of_submits_failing(fake: FakeFal) -> None:
    plan = fake.fail_every(3, (429, 503), paths=[SUBMIT_PATH], methods=["POST"])
    fake.slow(0.02, paths=[SUBMIT_PATH])  # a slow host: the submits overlap
    fake.retry_after_s = 0.0
    provider = fal(dataclasses.replace(FAST, retries=20))  # a submit can meet several faults in a row

    async def all_of_them() -> list[Take]:
        requests = [speak(f"Line {i}.", journal=DictJournal()) for i in range(12)]
        return await asyncio.gather(*(render_request(provider, r) for r in requests))

    takes = asyncio.run(all_of_them())
    assert len(takes) == 12 and len({t.request_id for t in takes}) == 12
    assert len(fake.submits) == 12
    assert plan.fired >= 4 and max_overlap(fake.calls("POST", SUBMIT_PATH)) > 1
    assert sorted(r.json["prompt"] for r in fake.submits) == sorted(f"Line {i}." for i in range(12))


# -- Ctrl-C ----------------------------------------------------------------------------------------
async def _interrupt(provider: FalProvider, request: RenderRequest, fake: FakeFal, polls: int = 2) -> None:
    task = asyncio.create_task(render_request(provider, request))
    while fake.count("GET", STATUS_PATH) < polls:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_ctrl_c_while_queued_cancels_and_forgets(fake: FakeFal) -> None:
    fake.polls_queued = 10_000
    journal = DictJournal()
    asyncio.run(_interrupt(fal(ProviderSettings(poll_interval_s=0.01)), speak(journal=journal), fake))
    [put] = fake.calls("PUT")
    assert put.path == "/bytedance/seed-audio-1.0/requests/req-0001/cancel" and put.status == 202
    assert put.headers["authorization"] == f"Key {FAL_KEY}"
    assert fake.jobs["req-0001"].cancelled and journal.load() is None


def test_ctrl_c_while_in_progress_keeps_the_journal_and_a_rerun_resubmits(fake: FakeFal) -> None:
    fake.polls_queued, fake.polls_in_progress = 0, 10_000
    journal = DictJournal()
    asyncio.run(_interrupt(fal(ProviderSettings(poll_interval_s=0.01)), speak(journal=journal), fake))
    assert fake.count("PUT") == 1
    assert journal.load()["request_id"] == "req-0001"  # the runner may still finish (and bill)
    # it was cancelled after all: the rerun sees that and submits once more
    fake.polls_in_progress = 1
    take = render(fal(), speak(journal=journal))
    assert take.request_id == "req-0002" and len(fake.submits) == 2
    assert any("req-0001" in n and "cancelled" in n for n in take.notes)


def test_ctrl_c_when_already_completed_keeps_the_paid_result(fake: FakeFal) -> None:
    fake.polls_queued = 10_000
    fake.fail_every(1, [Response.json({"status": "ALREADY_COMPLETED"}, 400)], methods=["PUT"])
    journal = DictJournal()
    asyncio.run(_interrupt(fal(ProviderSettings(poll_interval_s=0.01)), speak(journal=journal), fake))
    assert fake.count("PUT") == 1 and journal.load()["request_id"] == "req-0001"


def test_the_key_never_leaks(fake: FakeFal, tmp_path: Path) -> None:
    journal = DictJournal()
    mara = voice("mara", None, clone={"model": "seed-audio"})
    request = speak(v=mara, references=(clip(tmp_path),), journal=journal)
    take = render(fal(), request)
    fake.fail_jobs("failed for " + FAL_KEY)  # even a host echoing the key is scrubbed
    with pytest.raises(ProviderError) as caught:
        render(fal(), speak("x", journal=DictJournal()))
    texts = [str(caught.value), *take.notes, json.dumps(request_key(FalProvider(), request)), json.dumps(journal.saves)]
    assert all(FAL_KEY not in t for t in texts)
    for req in fake.cdn.requests:
        assert FAL_KEY not in json.dumps(req.headers) and FAL_KEY.encode() not in req.body


# -- the official SDK against the fake --------------------------------------------------------------
@pytest.fixture
def sdk(fake: FakeFal, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    """fal-client pointed at the fake (its module-level client's cached auth/clients reset)."""

    def reset() -> None:
        for name in ("_auth", "_client", "_token_manager"):
            fal_client.sync_client.__dict__.pop(name, None)

    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"{fake.url}/")
    monkeypatch.setattr(fal_client.client, "REST_URL", fake.url)
    monkeypatch.setattr(fal_client.client, "CDN_URL", fake.cdn.url)
    reset()
    yield fake
    reset()


def test_fal_client_subscribe_gets_the_result(sdk: FakeFal) -> None:
    sdk.polls_queued, sdk.polls_in_progress = 2, 1
    updates: list[Any] = []
    result = fal_client.subscribe(
        "bytedance/seed-audio-1.0",
        arguments={"prompt": "A short suspense radio drama.", "voice": "cedric_en_zh", "output_format": "wav"},
        with_logs=True,
        on_queue_update=updates.append,
    )
    kinds = [type(u).__name__ for u in updates]
    assert kinds[:2] == ["Queued", "Queued"] and "InProgress" in kinds and kinds[-1] == "Completed"
    assert isinstance(updates[-1].logs, list) and updates[-1].error is None
    audio = result["audio"]
    assert audio["content_type"] == "audio/wav" and audio["file_size"] > 0
    data = httpx.get(audio["url"]).content
    assert decode_bytes(data, "wav").duration_ms == pytest.approx(1000, abs=1)
    assert sdk.submits[0].headers["authorization"] == f"Key {FAL_KEY}"


def test_fal_client_submit_then_cancel(sdk: FakeFal) -> None:
    sdk.polls_queued = 10_000
    handle = fal_client.submit("bytedance/seed-audio-1.0", arguments={"prompt": "rain"})
    assert isinstance(handle.status(), fal_client.Queued)
    handle.cancel()
    assert sdk.jobs[handle.request_id].cancelled
    status = handle.status(with_logs=True)
    assert isinstance(status, fal_client.Completed) and status.error_type == "request_cancelled"


def test_fal_client_upload_uses_the_same_storage_protocol(sdk: FakeFal) -> None:
    data = wav_bytes(0.5)
    url = fal_client.upload(data, "audio/wav", file_name="ref.wav")
    assert url.startswith(sdk.cdn.url) and httpx.get(url).content == data
    [token] = sdk.calls("POST", "^/storage/auth/token$")
    assert token.query == {"storage_type": ["fal-cdn-v3"]}
    [upload] = sdk.cdn.calls("POST", "^/files/upload$")
    assert upload.headers["authorization"].startswith("Bearer ")
