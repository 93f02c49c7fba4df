"""The Segmind provider against a fake Segmind speaking the v2 protocol (tests/fakes/segmind.py),
plus the official ``segmind`` SDK run against the same fake (so the fake is what the SDK expects)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import segmind
from fakes.base import RecordedRequest, Response, wav_bytes
from fakes.segmind import FIELDS, KEY, SegmindHosts, segmind_in_env
from fakes.stand_ins import DictJournal, Sleeps
from payloads import estimate, make_request, model_id, render_request, request_key
from segmind.files import Files
from segmind.v2 import InferenceFailed

from audioflow.errors import ProviderError
from audioflow.providers.base import Provider, ProviderSettings, Reference, RenderRequest
from audioflow.providers.segmind import SAM_PRICE_USD, SegmindProvider, find_audio_url, rate_of

SUBMIT = r"^/v2/[^/]+$"
STATUS = r"^/v2/requests/[^/]+/status$"
RESULT = r"^/v2/requests/[^/]+$"
NADIA = "en_female_nadia_uranus_bigtts"
CLIP_URL = "https://cdn.example.com/mara.mp3"


# -- helpers ---------------------------------------------------------------------------------------
@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[SegmindHosts]:
    with segmind_in_env(monkeypatch) as started:
        yield started


def provider(sleep: Any = None, **settings: Any) -> SegmindProvider:
    merged = {"poll_interval_s": 0.01, "timeout_s": 30.0, **settings}
    return SegmindProvider(ProviderSettings(**merged), sleep=sleep or Sleeps())


def voice(name: str = "mara", **kw: Any) -> dict[str, Any]:
    base = {"name": name, "cast_index": 0, "preset": {"segmind": NADIA}, "speed": 1.0, "volume": 1.0}
    return {**base, "pitch_semitones": 0.0, "gain_db": 0.0, "clone": None, **kw}


def clip(tmp_path: Path, name: str, seconds: float = 3.0, suffix: str = ".wav") -> Reference:
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(wav_bytes(seconds, 16000, freq_hz=220 + len(name)))
    return Reference(name, path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), duration_ms=seconds * 1000)


def speak(text: str = "Hello.", *, direction: str | None = None, v: dict[str, Any] | None = None, **kw: Any):
    params = {"text": text, "direction": direction, "voice": v or voice(), "image": None}
    return make_request("line1", "speak", params, **kw)


def isolate(source: Reference, candidates: int = 4) -> RenderRequest:
    return make_request(
        "iso", "isolate", {"describe": "a man speaking", "candidates": candidates}, references=(source,)
    )


def render(p: SegmindProvider, request: RenderRequest):
    return asyncio.run(render_request(p, request))


def data_url_bytes(url: str) -> bytes:
    return base64.b64decode(url.split(",", 1)[1])


# -- happy paths -----------------------------------------------------------------------------------
def test_speak_with_a_preset_sends_the_exact_body_and_walks_queued_processing_completed(hosts: SegmindHosts) -> None:
    v = voice(speed=1.2, volume=0.7, pitch_semitones=2.0)
    take = render(provider(), speak("Hello there.", direction="warmly", v=v))

    (submit,) = hosts.api.calls("POST", SUBMIT)
    assert submit.path == "/v2/seed-audio-1.0"
    assert submit.json == {
        "text_prompt": "(warmly) Hello there.",
        "format": "wav",
        "sample_rate": 48000,
        "speaker": NADIA,
        "speech_rate": 20,
        "loudness_rate": -30,
        "pitch_rate": 2,
    }
    assert set(submit.json) <= FIELDS["seed-audio-1.0"]
    assert submit.headers["x-api-key"] == KEY and "authorization" not in submit.headers
    assert hosts.api.count("GET", STATUS) == 3  # QUEUED, PROCESSING, COMPLETED
    assert [job.state for job in hosts.api.jobs.values()] == ["COMPLETED"]
    assert hosts.api.count("GET", RESULT) == 1
    (download,) = hosts.files.calls("GET")
    assert "x-api-key" not in download.headers
    assert take.format == "wav" and take.request_id and take.request_id.startswith("req-")
    assert take.cost_usd == 0.0  # no published price, no price in metrics
    assert take.data == hosts.files.files[download.path][0]


def test_neutral_prosody_and_the_host_default_rate_are_omitted(hosts: SegmindHosts) -> None:
    render(provider(sample_rate_hz=44100, format="mp3"), speak(v=voice(preset=None)))
    assert hosts.api.calls("POST", SUBMIT)[0].json == {"text_prompt": "Hello.", "format": "mp3"}


def test_speak_with_a_seed_audio_clone_uploads_the_clip_and_cites_it(hosts: SegmindHosts, tmp_path: Path) -> None:
    ref = clip(tmp_path, "mara")
    request = speak(v=voice(clone={"model": "seed-audio", "language": None}), references=(ref,))
    render(provider(), request)

    (upload,) = hosts.storage.calls("POST", "^/upload-asset$")
    assert upload.headers["x-api-key"] == KEY
    (data_url,) = upload.json["data_urls"]
    assert data_url.startswith("data:audio/wav;base64,") and data_url_bytes(data_url) == ref.path.read_bytes()
    body = hosts.api.calls("POST", SUBMIT)[0].json
    assert body["text_prompt"] == "@Audio1 Hello."
    assert "speaker" not in body
    (url,) = body["reference_audio_urls"]
    assert url.startswith(hosts.files.url + "/assets/")
    key = request_key(provider(), request)
    assert key["body"]["reference_audio_urls"] == [{"sha256": ref.sha256}]
    assert str(tmp_path) not in json.dumps(key) and hosts.files.url not in json.dumps(key)


def test_scene_numbers_clips_in_order_and_labels_preset_voices(hosts: SegmindHosts, tmp_path: Path) -> None:
    mara, ben = clip(tmp_path, "mara"), clip(tmp_path, "ben")
    voices = {
        "mara": voice("mara", clone={"model": "seed-audio"}),
        "ben": voice("ben", clone={"model": "openvoice"}),
        "nar": voice("nar"),
    }
    lines = [
        {"voice": "ben", "text": "Hi.", "direction": None, "gap_ms": 300},
        {"voice": "mara", "text": "Hey.", "direction": "softly", "gap_ms": 300},
        {"voice": "nar", "text": "They met.", "direction": None, "gap_ms": 300},
    ]
    request = make_request("s", "scene", {"lines": lines, "gap_ms": 300, "voices": voices, "image": None})
    request = make_request("s", "scene", request.payload.canonical(), references=(mara, ben))
    take = render(provider(), request)
    body = hosts.api.calls("POST", SUBMIT)[0].json
    assert body["text_prompt"] == "@Audio1 Hi.\n@Audio2 (softly) Hey.\nnar: They met."
    uploaded = [data_url_bytes(u) for u in hosts.storage.calls("POST")[0].json["data_urls"]]
    assert uploaded == [ben.path.read_bytes(), mara.path.read_bytes()]
    assert len(body["reference_audio_urls"]) == 2 and "speaker" not in body
    assert any("labelled by name" in n for n in take.notes)
    assert any("'ben' (an openvoice clone) is rendered by seed-audio-1.0" in n for n in take.notes)


def test_generate_with_a_local_image_uploads_it_as_image_url(hosts: SegmindHosts, tmp_path: Path) -> None:
    image = tmp_path / "shop.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    params = {"prompt": "rain on a window", "voices": {}, "image": {"sha256": "ab" * 32, "name": "shop.png"}}
    request = make_request("g", "generate", {**params, "duration_ms": 4000.0}, files={"image": image})
    render(provider(), request)
    (data_url,) = hosts.storage.calls("POST")[0].json["data_urls"]
    assert data_url.startswith("data:image/png;base64,")
    body = hosts.api.calls("POST", SUBMIT)[0].json
    assert body["image_url"].startswith(hosts.files.url) and body["text_prompt"] == "rain on a window"
    assert request_key(provider(), request)["body"]["image_url"] == {"sha256": "ab" * 32}


def test_openvoice_speak_sends_its_four_fields_and_notes_the_direction(hosts: SegmindHosts) -> None:
    ref = Reference("mara", url=CLIP_URL, duration_ms=12_000)
    v = voice(clone={"model": "openvoice", "language": "fr"}, speed=1.25, volume=1.5)
    request = speak("Bonjour.", direction="whispering", v=v, references=(ref,))
    p = provider()
    assert model_id(p, request) == "segmind/openvoice"
    take = render(p, request)
    (submit,) = hosts.api.calls("POST", SUBMIT)
    assert submit.path == "/v2/openvoice"
    assert submit.json == {"input_audio": CLIP_URL, "text": "Bonjour.", "speed": 1.25, "language": "FR"}
    assert hosts.storage.requests == []  # a URL is sent as given
    assert any("direction" in n for n in take.notes) and any("volume" in n for n in take.notes)


def test_isolate_uploads_the_source_and_costs_the_published_price(hosts: SegmindHosts, tmp_path: Path) -> None:
    source = clip(tmp_path, "interview", seconds=1.0)
    p = provider()
    request = isolate(source)
    assert model_id(p, request) == "segmind/sam-audio-large"
    assert estimate(p, request, 10.0) == SAM_PRICE_USD
    take = render(p, request)
    body = hosts.api.calls("POST", SUBMIT)[0].json
    assert hosts.api.calls("POST", SUBMIT)[0].path == "/v2/sam-audio-large"
    assert body == {
        "audio": body["audio"],
        "description": "a man speaking",
        "output_format": "wav",
        "reranking_candidates": 4,
    }
    assert body["audio"].startswith(hosts.files.url + "/assets/")
    assert take.cost_usd == pytest.approx(SAM_PRICE_USD)
    assert estimate(provider(price_per_call_usd=0.0), request, 10.0) == SAM_PRICE_USD  # never below the published
    assert estimate(provider(price_per_call_usd=0.5), request, 10.0) == 0.5


def test_a_cost_in_the_metrics_is_reported_as_the_take_cost(hosts: SegmindHosts, tmp_path: Path) -> None:
    hosts.api.opt.metrics_cost = 0.0511
    assert render(provider(), isolate(clip(tmp_path, "a"))).cost_usd == pytest.approx(0.0511)


def test_price_per_call_setting_is_the_estimate_for_seed_audio(hosts: SegmindHosts) -> None:
    assert estimate(provider(), speak(), 5.0) is None
    p = provider(price_per_call_usd=0.03)
    assert estimate(p, speak(), 5.0) == 0.03
    assert render(p, speak()).cost_usd == 0.03


@pytest.mark.parametrize("key", ["urls", "file_urls"])
def test_upload_answer_under_either_key(hosts: SegmindHosts, tmp_path: Path, key: str) -> None:
    hosts.storage.upload_key = key
    render(provider(), isolate(clip(tmp_path, "src")))
    assert hosts.api.calls("POST", SUBMIT)[0].json["audio"].startswith(hosts.files.url)


@pytest.mark.parametrize(
    "shape",
    [
        lambda job, url: {"status": "COMPLETED", "metrics": {}, "output": url},
        lambda job, url: {"status": "COMPLETED", "metrics": {}, "output": None, "audio": {"url": url}},
        lambda job, url: {"status": "COMPLETED", "output": {"files": [{"audio_url": url}]}},
    ],
    ids=["output", "nested-audio", "nested-list"],
)
def test_result_url_is_found_in_tolerated_shapes(hosts: SegmindHosts, shape: Any) -> None:
    hosts.api.opt.result_body = shape
    assert render(provider(), speak()).format == "wav"


def test_find_audio_url_prefers_output_and_rate_of_maps_multipliers() -> None:
    assert find_audio_url({"a": "http://x/1.wav", "output": "https://y/2.wav"}) == "https://y/2.wav"
    assert find_audio_url({"output": "data:abc", "b": ["no", {"c": "https://z/3"}]}) == "https://z/3"
    assert find_audio_url({"output": None}) is None
    assert [rate_of(m) for m in (0.5, 1.0, 1.234, 2.0, 3.0, 0.1)] == [-50, 0, 23, 100, 100, -50]


# -- checks before spending ------------------------------------------------------------------------
def long_text() -> str:
    return "word " * 500


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda t: make_request("x", "clone", {}), "does not render clone"),
        (lambda t: speak(v=voice(preset={"segmind": "cedric_en_zh"})), "_bigtts"),
        (lambda t: speak(long_text()), "2048"),
        (lambda t: speak(v=voice(clone={"model": "openvoice"}), references=(clip(t, "m", 3.0),)), "5–120 s"),
        (lambda t: speak(v=voice(clone={"model": "openvoice"}), references=(clip(t, "m", 121.0),)), "5–120 s"),
        (
            lambda t: speak(v=voice(clone={"model": "openvoice", "language": "de"}), references=(clip(t, "m", 9.0),)),
            "EN_AU",
        ),
        (lambda t: speak(v=voice(clone={"model": "openvoice"})), "no reference clip"),
        (lambda t: isolate(clip(t, "s"), candidates=9), "1…8"),
        (lambda t: isolate(Reference("audio", path=t / "missing.wav")), "file not found"),
        (lambda t: make_request("i", "isolate", {"describe": " ", "candidates": 1}), "description"),
    ],
    ids=[
        "kind",
        "speaker",
        "prompt",
        "ov-short",
        "ov-long",
        "ov-language",
        "ov-noclip",
        "candidates",
        "missing",
        "describe",
    ],
)
def test_check_refuses_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make: Any, words: str
) -> None:
    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)  # check needs no key
    with pytest.raises(ProviderError, match=words) as caught:
        provider().prepare(make(tmp_path))
    assert caught.value.provider == "segmind"


def test_an_openvoice_clip_over_30_s_cannot_go_through_seed_audio_in_a_scene(tmp_path: Path) -> None:
    ben = clip(tmp_path, "ben", 45.0)
    voices = {"ben": voice("ben", clone={"model": "openvoice"})}
    lines = [{"voice": "ben", "text": "Hi.", "direction": None, "gap_ms": 0}]
    request = make_request(
        "s", "scene", {"lines": lines, "gap_ms": 0, "voices": voices, "image": None}, references=(ben,)
    )
    with pytest.raises(ProviderError, match=r"seed-audio-1\.0, which takes clips of at most 30 s"):
        provider().prepare(request)


@pytest.mark.parametrize(
    ("setting", "words"), [({"format": "pcm"}, "wav, mp3 or ogg"), ({"sample_rate_hz": 22050}, "22050")]
)
def test_check_refuses_formats_and_rates_seed_audio_does_not_give(setting: dict[str, Any], words: str) -> None:
    with pytest.raises(ProviderError, match=words):
        provider(**setting).prepare(speak())


def test_ready_names_the_missing_key_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGMIND_API_KEY", raising=False)
    with pytest.raises(ProviderError, match="SEGMIND_API_KEY"):
        provider().ready()
    monkeypatch.setenv("SEGMIND_API_KEY", "k" * 8)
    provider().ready()


def test_request_key_is_stable_and_follows_what_is_sent(tmp_path: Path) -> None:
    p = provider()
    assert request_key(p, speak()) == request_key(p, speak())
    assert request_key(p, speak()) != request_key(p, speak("Other."))
    assert request_key(p, speak()) == request_key(p, speak(v=voice(gain_db=-6.0)))  # gain is the engine's
    assert request_key(p, speak())["model"] == "seed-audio-1.0"
    assert isinstance(p, Provider) and p.max_concurrency == 4 and provider(concurrency=2).max_concurrency == 2


# -- failures and retries --------------------------------------------------------------------------
def test_failed_is_terminal_with_the_vendor_message_status_and_request_id(hosts: SegmindHosts) -> None:
    hosts.api.opt.fail_when = lambda slug, body: "Content blocked by safety filter"
    journal = DictJournal(hosts.api, STATUS)
    with pytest.raises(ProviderError) as caught:
        render(provider(), speak(journal=journal))
    err = caught.value
    assert err.status == 422 and "Content blocked by safety filter" in err.message
    assert err.request_id and err.request_id in hosts.api.jobs
    assert journal.state is None  # the host's final answer: the journal is cleared, a rerun submits afresh
    assert hosts.api.count("POST", SUBMIT) == 1 and hosts.api.count("GET", RESULT) == 0


def test_429_waits_until_the_reset_time_the_host_gives(hosts: SegmindHosts) -> None:
    hosts.api.opt.reset_in_s = 2.0
    hosts.api.fail_every(1, 429, paths=[SUBMIT], times=1)
    sleeps = Sleeps()
    render(provider(sleeps), speak())
    assert hosts.api.count("POST", SUBMIT, status=429) == 1 and hosts.api.count("POST", SUBMIT, status=200) == 1
    assert 1.5 < max(sleeps.calls) <= 2.1


def test_5xx_is_retried_on_submit_and_poll(hosts: SegmindHosts) -> None:
    hosts.api.fail_every(1, (502, 503), paths=[SUBMIT], times=2)
    hosts.api.fail_every(1, 500, paths=[STATUS], times=1)
    take = render(provider(), speak())
    assert take.request_id and hosts.api.count("POST", SUBMIT) == 3 and hosts.api.count("POST", SUBMIT, status=200) == 1


def test_submit_is_not_retried_after_the_connection_drops_once_sent(hosts: SegmindHosts) -> None:
    hosts.api.fail_every(1, [Response.dropped()], paths=[SUBMIT], times=1)
    with pytest.raises(ProviderError, match="not retried"):
        render(provider(), speak())
    assert hosts.api.count("POST", SUBMIT) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 406])
def test_4xx_is_not_retried(hosts: SegmindHosts, status: int) -> None:
    hosts.api.fail_every(1, [Response.json({"error": f"nope {status}"}, status)], paths=[SUBMIT])
    with pytest.raises(ProviderError, match=f"nope {status}") as caught:
        render(provider(), speak())
    assert caught.value.status == status and hosts.api.count("POST", SUBMIT) == 1


def test_insufficient_credits_is_a_clear_406(hosts: SegmindHosts) -> None:
    hosts.api.opt.credits = 0
    with pytest.raises(ProviderError, match=r"(?i)insufficient credits") as caught:
        render(provider(), speak())
    assert caught.value.status == 406 and not caught.value.retryable


def test_the_fake_answers_a_bearer_token_401_as_segmind_does(hosts: SegmindHosts) -> None:
    bearer = {"authorization": f"Bearer {KEY}"}
    response = httpx.post(f"{hosts.api.url}/v2/seed-audio-1.0", json={"text_prompt": "x"}, headers=bearer)
    assert response.status_code == 401 and "error" in response.json()


def test_a_404_while_polling_a_fresh_request_is_an_error_not_a_resubmit(hosts: SegmindHosts) -> None:
    def forget_on_poll(req: RecordedRequest) -> None:
        if req.method == "GET":
            hosts.api.forget()

    hosts.api.add_fault(forget_on_poll)
    with pytest.raises(ProviderError, match="no longer knows") as caught:
        render(provider(), speak())
    assert caught.value.status == 404 and hosts.api.count("POST", SUBMIT) == 1


def test_timeout_names_the_request_and_keeps_the_journal(hosts: SegmindHosts) -> None:
    hosts.api.opt.queued_polls = 10_000
    journal = DictJournal(hosts.api, STATUS)
    with pytest.raises(ProviderError, match="rerun to resume") as caught:
        render(provider(poll_interval_s=1.0, timeout_s=5.0), speak(journal=journal))
    assert caught.value.request_id == journal.state["request_id"] and caught.value.retryable
    assert journal.cleared == 0


# -- journal ---------------------------------------------------------------------------------------
def test_request_id_is_saved_before_the_first_poll_and_a_new_instance_resumes(hosts: SegmindHosts) -> None:
    journal = DictJournal(hosts.api, STATUS)
    first = render(provider(), speak(journal=journal))
    assert journal.polls_at_save == [0]
    assert set(journal.state) >= {"request_id", "status_url", "response_url"}
    assert journal.state["status_url"].startswith(hosts.api.url)
    second = render(provider(), speak(journal=journal))  # e.g. the engine had not stored the take yet
    assert hosts.api.count("POST", SUBMIT) == 1
    assert second.request_id == first.request_id and any("resumed" in n for n in second.notes)


def test_a_404_on_resume_resubmits_once_with_a_note(hosts: SegmindHosts) -> None:
    journal = DictJournal(hosts.api, STATUS)
    render(provider(), speak(journal=journal))
    hosts.api.forget()  # the host's hour of retention is over
    take = render(provider(), speak(journal=journal))
    assert hosts.api.count("POST", SUBMIT) == 2 and journal.cleared == 1
    assert any("expired" in n and "submitted again" in n for n in take.notes)


def test_kill_mid_poll_then_rerun_resumes_without_a_new_post(hosts: SegmindHosts) -> None:
    hosts.api.opt.queued_polls = 10_000
    journal = DictJournal(hosts.api, STATUS)

    async def start_then_kill() -> None:
        task = asyncio.create_task(render_request(provider(sleep=asyncio.sleep), speak(journal=journal)))
        while journal.state is None or hosts.api.count("GET", STATUS) < 2:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(start_then_kill())
    posts_before = hosts.api.count("POST", SUBMIT)
    hosts.api.opt.queued_polls = 0
    hosts.api.opt.processing_polls = 0
    for job in hosts.api.jobs.values():
        job.polls = 0
    take = render(provider(), speak(journal=journal))
    assert posts_before == 1 and hosts.api.count("POST", SUBMIT) == 1
    assert take.request_id == journal.state["request_id"] and take.data


# -- concurrency with injected faults --------------------------------------------------------------
def test_twelve_concurrent_speaks_with_429_and_503_on_a_third_of_calls(hosts: SegmindHosts) -> None:
    hosts.api.fail_every(3, (429, 503), paths=[r"^/v2/"])
    hosts.api.slow(0.02, paths=[SUBMIT])  # slow submits: the renders overlap at the host
    sleeps = Sleeps()
    p = provider(sleeps, retries=20)  # a call can meet several faults in a row when calls interleave
    requests = [speak(f"Line {i}.", journal=DictJournal(hosts.api, STATUS)) for i in range(12)]

    async def all_of_them() -> list[Any]:
        return await asyncio.gather(*(render_request(p, r) for r in requests))

    takes = asyncio.run(all_of_them())
    assert len({t.request_id for t in takes}) == 12
    assert hosts.api.count("POST", SUBMIT, status=200) == 12  # exactly one paid submission each
    prompts = sorted(r.json["text_prompt"] for r in hosts.api.calls("POST", SUBMIT, status=200))
    assert prompts == sorted(f"Line {i}." for i in range(12))
    faulted = [r for r in hosts.api.requests if r.fault]
    assert {r.status for r in faulted} == {429, 503}
    assert {r.method for r in faulted} == {"POST", "GET"}
    assert hosts.api.max_in_flight > 1


# -- secrets ---------------------------------------------------------------------------------------
def test_the_key_never_leaks(hosts: SegmindHosts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = DictJournal(hosts.api, STATUS)
    request = speak(v=voice(clone={"model": "seed-audio"}), references=(clip(tmp_path, "m"),), journal=journal)
    p = provider()
    take = render(p, request)
    leaked = json.dumps([journal.state, request_key(p, request), take.notes])
    assert KEY not in leaked
    assert hosts.files.requests and all(KEY not in json.dumps(r.headers) for r in hosts.files.requests)

    secret = "sk-live-SECRET-0123456789"
    monkeypatch.setenv("SEGMIND_API_KEY", secret)
    hosts.api.opt.echo_key = True  # the fake puts the presented key in its 401 body
    with pytest.raises(ProviderError) as caught:
        render(provider(), speak())
    assert caught.value.status == 401 and "***" in str(caught.value) and secret not in str(caught.value)


# -- the official SDK against the fake -------------------------------------------------------------
def test_sdk_submit_async_and_wait_against_the_fake(hosts: SegmindHosts) -> None:
    client = segmind.SegmindClient(api_key=KEY, base_url=f"http://127.0.0.1:{hosts.api.port}/v1")
    job = client.submit_async("seed-audio-1.0", text_prompt="hi", format="wav")
    result = job.wait(timeout=10, interval=0.01)
    assert result["status"] == "COMPLETED" and result["output"].startswith(hosts.files.url)
    assert hosts.api.calls("POST", SUBMIT)[0].json == {"text_prompt": "hi", "format": "wav"}


def test_sdk_sees_failed_as_inference_failed(hosts: SegmindHosts) -> None:
    hosts.api.opt.fail_when = lambda slug, body: "NSFW content detected"
    client = segmind.SegmindClient(api_key=KEY, base_url=f"http://127.0.0.1:{hosts.api.port}/v1")
    with pytest.raises(InferenceFailed) as caught:
        client.submit_async("seed-audio-1.0", text_prompt="hi").wait(timeout=10, interval=0.01)
    assert caught.value.detail == "NSFW content detected"


def test_sdk_files_upload_against_the_fake_storage(
    hosts: SegmindHosts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Files, "STORAGE_BASE_URL", hosts.storage.url)
    hosts.storage.upload_key = "file_urls"
    path = tmp_path / "ref.mp3"  # the SDK's type table has mp3, not wav
    path.write_bytes(b"ID3fake-mp3")
    client = segmind.SegmindClient(api_key=KEY, base_url=f"{hosts.api.url}/v1")
    (url,) = client.files.upload(path)["file_urls"]
    assert hosts.storage.uploads == [("audio/mpeg", b"ID3fake-mp3")]
    assert client._client.get(url).content == b"ID3fake-mp3"
