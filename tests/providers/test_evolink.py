"""The Evolink provider against a fake Evolink speaking the real task protocol (tests/fakes/evolink.py).

Evolink has no SDK: every body the provider sends is validated against the page's ``SeedAudioRequest``
schema (the OpenAPI document vendored beside the fake), and may use only the fields it lists.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.base import Response
from fakes.evolink import (
    API_KEY,
    EvolinkFake,
    evolink_fake,  # noqa: F401  (a fixture)
    request_fields,
    seed_audio_request_validator,
)
from fakes.stand_ins import DictJournal, Sleeps
from hypothesis import given, settings
from hypothesis import strategies as st
from payloads import estimate, make_request, model_id, render_request, request_key

from audioflow.audio import decode_bytes
from audioflow.errors import ProviderError
from audioflow.providers.base import Provider, ProviderSettings, Reference, RenderRequest
from audioflow.providers.evolink import PRICE_PER_S_USD, EvolinkProvider

PRESET = "zh_female_vv_uranus_bigtts"
CLIP_URL = "https://example.com/ref-voice.mp3"
IMAGE_URL = "https://example.com/scene.jpg"
SUBMIT = r"^/v1/audios/generations$"
TASKS = r"^/v1/tasks/"
FAST = ProviderSettings(poll_interval_s=0.001, timeout_s=30.0)
VALIDATOR = seed_audio_request_validator()
FIELDS = request_fields() - {"callback_url"}  # callback_url must be public HTTPS: never sent


# -- helpers ---------------------------------------------------------------------------------------
def voice(name: str, *, preset: str | None = None, clone: bool = False, index: int = 0, **prosody: float) -> dict:
    return {
        "name": name,
        "cast_index": index,
        "preset": {"evolink": preset} if preset else None,
        "speed": prosody.get("speed", 1.0),
        "volume": prosody.get("volume", 1.0),
        "pitch_semitones": prosody.get("pitch_semitones", 0.0),
        "gain_db": prosody.get("gain_db", 0.0),
        "clone": {"model": "seed-audio", "language": None} if clone else None,
    }


def speak(text: str = "Good evening, everyone, and welcome to the evening news.", **kw: Any) -> RenderRequest:
    refs = kw.pop("references", ())
    journal = kw.pop("journal", None)
    v = kw.pop("voice", None) or voice("anchor", preset=PRESET, **kw)
    params = {"text": text, "direction": None, "voice": v, "image": None}
    return make_request("news[1]", "speak", params, references=tuple(refs), journal=journal)


def scene(journal: DictJournal | None = None) -> RenderRequest:
    voices = {"anchor": voice("anchor", preset=PRESET), "mara": voice("mara", clone=True, index=1)}
    lines = [
        {"voice": "anchor", "text": "Hi there!", "direction": None, "gap_ms": 300.0},
        {"voice": "mara", "text": "How's your day going?", "direction": "warmly", "gap_ms": 300.0},
    ]
    params = {"lines": lines, "gap_ms": 300.0, "voices": voices, "image": None}
    refs = (Reference("mara", url=CLIP_URL, duration_ms=8000.0),)
    return make_request("scene1", "scene", params, references=refs, journal=journal)


def generate(prompt: str = "Synthesize a voiceover that matches the mood of the image.", **kw: Any) -> RenderRequest:
    params = {"prompt": prompt, "voices": kw.get("voices", {}), "image": kw.get("image"), "duration_ms": 5000.0}
    return make_request(
        "bed", "generate", params, references=tuple(kw.get("references", ())), files=kw.get("files", {})
    )


def provider(fake: EvolinkFake | None = None, sleeps: Sleeps | None = None, **settings_kw: Any) -> EvolinkProvider:
    base = {"poll_interval_s": 0.001, "timeout_s": 30.0, **settings_kw}
    return EvolinkProvider(ProviderSettings(**base), sleep=sleeps or Sleeps())


def render(p: EvolinkProvider, request: RenderRequest) -> Any:
    return asyncio.run(render_request(p, request))


def assert_valid_bodies(fake: EvolinkFake) -> None:
    """Every body sent is a valid ``SeedAudioRequest`` using only the page's fields."""
    bodies = fake.bodies()
    assert bodies, "nothing was sent"
    for body in bodies:
        errors = [f"{list(e.path)}: {e.message}" for e in VALIDATOR.iter_errors(body)]
        assert errors == [], body
        assert set(body) <= FIELDS, set(body) - FIELDS


@pytest.fixture
def fake(evolink_fake: EvolinkFake) -> Iterator[EvolinkFake]:  # noqa: F811
    """The fake Evolink; at teardown, every body the provider sent must have been valid."""
    yield evolink_fake
    if evolink_fake.bodies():
        assert_valid_bodies(evolink_fake)


# -- bodies: exactly the page's fields, validated against its schema ---------------------------------
def test_provider_satisfies_the_protocol() -> None:
    p = EvolinkProvider()
    assert isinstance(p, Provider)
    assert p.name == "evolink" and p.max_concurrency == 4
    assert EvolinkProvider(ProviderSettings(concurrency=2)).max_concurrency == 2
    assert model_id(p, speak()) == "evolink/doubao-seed-audio-1-0"


def test_speak_with_a_preset_voice_sends_the_pages_with_voice_body(fake: EvolinkFake) -> None:
    take = render(provider(), speak(speed=1.25))
    assert fake.bodies() == [
        {
            "model": "doubao-seed-audio-1-0",
            "prompt": "Good evening, everyone, and welcome to the evening news.",
            "audio_references": [PRESET],  # a lone preset: no @audio marker (the page's with_voice example)
            "sample_rate": 48000,
            "speech_rate": 1.25,
        }
    ]
    post = fake.submits()[0]
    assert post.headers["authorization"] == f"Bearer {API_KEY}"
    assert post.headers["content-type"] == "application/json"
    task_id = fake.statuses_seen[0][0]
    assert fake.count("GET", rf"^/v1/tasks/{task_id}$") == 3
    assert take.format == "wav" and take.request_id == task_id and task_id.startswith("task-unified-")
    audio = decode_bytes(take.data, "wav")
    assert audio.sample_rate_hz == 48000 and audio.duration_ms == pytest.approx(1000.0, abs=1)
    assert take.cost_usd == pytest.approx(1.0 * PRICE_PER_S_USD)
    assert not take.placeholder and not take.approximate


def test_scene_mixes_a_preset_id_and_a_clip_url(fake: EvolinkFake) -> None:
    render(provider(), scene())
    (body,) = fake.bodies()
    assert body["prompt"] == "@audio1 Hi there!\n@audio2 (warmly) How's your day going?"
    assert body["audio_references"] == [PRESET, CLIP_URL]
    assert "image_urls" not in body and "speech_rate" not in body


def test_generate_with_a_reference_image_sends_image_urls(fake: EvolinkFake) -> None:
    render(provider(), generate(image={"url": IMAGE_URL}))
    assert fake.bodies() == [
        {
            "model": "doubao-seed-audio-1-0",
            "prompt": "Synthesize a voiceover that matches the mood of the image.",
            "image_urls": [IMAGE_URL],
            "sample_rate": 48000,
        }
    ]


def test_generate_cites_a_cloned_voice_as_audio1(fake: EvolinkFake) -> None:
    request = generate(
        "@mara laughs, then rain starts",
        voices={"mara": voice("mara", clone=True)},
        references=[Reference("mara", url=CLIP_URL)],
    )
    render(provider(), request)
    (body,) = fake.bodies()
    assert body["prompt"] == "@audio1 laughs, then rain starts"
    assert body["audio_references"] == [CLIP_URL]


def test_clone_speak_cites_the_clip_and_rounds_rates(fake: EvolinkFake) -> None:
    clone = voice("mara", clone=True, volume=0.853, pitch_semitones=-3.4, speed=1.0)
    render(provider(), speak("Hi there, nice to meet you.", voice=clone, references=[Reference("mara", url=CLIP_URL)]))
    (body,) = fake.bodies()
    assert body["prompt"] == "@audio1 Hi there, nice to meet you."
    assert body["audio_references"] == [CLIP_URL]
    assert body["loudness_rate"] == 0.85 and body["pitch_rate"] == -3 and isinstance(body["pitch_rate"], int)
    assert "speech_rate" not in body  # neutral: omitted


@pytest.mark.parametrize(
    ("fmt", "rate", "sent"),
    [
        ("wav", 24000, {}),  # both host defaults: omitted
        ("mp3", 44100, {"format": "mp3", "sample_rate": 44100}),
        ("ogg", 48000, {"format": "ogg_opus", "sample_rate": 48000}),
    ],
)
def test_format_and_sample_rate_map_to_the_pages_enums(fake: EvolinkFake, fmt: str, rate: int, sent: dict) -> None:
    render(provider(format=fmt, sample_rate_hz=rate), speak())
    (body,) = fake.bodies()
    assert {k: body[k] for k in ("format", "sample_rate") if k in body} == sent


def test_a_free_voice_sends_no_references(fake: EvolinkFake) -> None:
    render(provider(), speak("Hello.", voice=voice("narrator")))
    assert fake.bodies() == [{"model": "doubao-seed-audio-1-0", "prompt": "Hello.", "sample_rate": 48000}]


@settings(max_examples=60, deadline=None)
@given(
    speed=st.floats(0.5, 2.0),
    volume=st.floats(0.5, 2.0),
    pitch=st.floats(-12.0, 12.0),
    rate=st.sampled_from([8000, 16000, 24000, 32000, 44100, 48000]),
)
def test_every_in_range_request_key_body_is_schema_valid(speed: float, volume: float, pitch: float, rate: int) -> None:
    p = EvolinkProvider(ProviderSettings(sample_rate_hz=rate))
    body = request_key(p, speak(speed=speed, volume=volume, pitch_semitones=pitch))["body"]
    assert list(VALIDATOR.iter_errors(body)) == []
    assert set(body) <= FIELDS


def test_the_validator_would_catch_what_the_page_forbids() -> None:
    good = {"model": "doubao-seed-audio-1-0", "prompt": "x"}
    assert list(VALIDATOR.iter_errors(good)) == []
    for bad in ({"speech_rate": 1.255}, {"pitch_rate": 1.5}, {"image_urls": ["scene.jpg"]}, {"sample_rate": 22050}):
        assert list(VALIDATOR.iter_errors({**good, **bad})), bad
    assert list(VALIDATOR.iter_errors({**good, "audio_references": ["a", "b", "c", "d"]}))


# -- check: everything that can fail before spending money ------------------------------------------
def test_check_refuses_a_local_clip_before_anything_is_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)  # check needs no key
    clip = tmp_path / "mara.wav"
    clip.write_bytes(b"RIFF")
    request = speak("Hi.", voice=voice("mara", clone=True), references=[Reference("mara", path=clip, sha256="ab")])
    with pytest.raises(ProviderError) as info:
        EvolinkProvider().prepare(request)
    message = str(info.value)
    assert "voice 'mara'" in message and "Evolink cannot take a local audio file" in message
    assert "(clone: https://…)" in message and "segmind or fal" in message


def test_check_refuses_another_steps_output_as_a_reference() -> None:
    isolated = Reference("mara", path=Path("/cache/artifacts/ab12.wav"), sha256="ab12", duration_ms=9000.0)
    request = scene()
    request = make_request(request.step_id, "scene", request.payload.canonical(), references=(isolated,))
    with pytest.raises(ProviderError, match="Evolink cannot take a local audio file"):
        EvolinkProvider().prepare(request)


def test_check_refuses_a_local_image(tmp_path: Path) -> None:
    image = tmp_path / "scene.png"
    image.write_bytes(b"\x89PNG")
    request = generate(image={"sha256": "cd", "name": "scene.png"}, files={"image": image})
    with pytest.raises(ProviderError, match="Evolink cannot take a local image"):
        EvolinkProvider().prepare(request)


@pytest.mark.parametrize(
    ("request_", "settings_", "match"),
    [
        (make_request("i", "isolate", {"describe": "a voice", "candidates": 2}), {}, "does not render isolate"),
        (speak("x" * 1501), {}, "1501 characters; evolink takes at most 1500"),
        (speak(), {"sample_rate_hz": 22050}, "22050 Hz"),
        (speak(), {"format": "flac"}, "format 'flac'"),
        (speak(speed=2.5), {}, "speed and volume"),
        (speak(voice=voice("m", clone=True) | {"clone": {"model": "openvoice"}}), {}, "openvoice clone model"),
        (
            speak(voice=voice("m", clone=True), references=[Reference("m", url=CLIP_URL, duration_ms=31_000)]),
            {},
            "at most 30 s",
        ),
    ],
)
def test_check_names_the_limit(request_: RenderRequest, settings_: dict, match: str) -> None:
    with pytest.raises(ProviderError, match=match):
        EvolinkProvider(ProviderSettings(**settings_)).prepare(request_)


def test_check_refuses_an_image_with_audio_references() -> None:
    request = generate(
        "@m speaks",
        image={"url": IMAGE_URL},
        voices={"m": voice("m", clone=True)},
        references=[Reference("m", url=CLIP_URL)],
    )
    with pytest.raises(ProviderError, match="reference image or reference audio, not both"):
        EvolinkProvider().prepare(request)


def test_prompt_of_exactly_1500_characters_passes() -> None:
    EvolinkProvider().prepare(speak("x" * 1500, voice=voice("narrator")))


def test_ready_needs_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    with pytest.raises(ProviderError, match="EVOLINK_API_KEY"):
        EvolinkProvider().ready()
    monkeypatch.setenv("EVOLINK_API_KEY", API_KEY)
    EvolinkProvider().ready()


def test_request_key_is_the_body_and_stable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVOLINK_API_KEY", API_KEY)
    p = EvolinkProvider()
    key = request_key(p, scene())
    assert key == request_key(p, scene())
    assert key["model"] == "doubao-seed-audio-1-0" and key["body"]["audio_references"] == [PRESET, CLIP_URL]
    assert request_key(p, speak(speed=1.1)) != request_key(p, speak(speed=1.2))
    assert request_key(p, speak(gain_db=-6.0)) == request_key(p, speak())  # gain is the engine's, never sent
    assert API_KEY not in json.dumps(key)
    local = speak(voice=voice("m", clone=True), references=[Reference("m", path=Path("/x/m.wav"), sha256="ab")])
    with pytest.raises(ProviderError, match="cannot take a local audio file"):  # no key, so never a path in one
        request_key(p, local)


def test_estimate_is_per_second_of_output() -> None:
    assert estimate(EvolinkProvider(), speak(), 10.0) == pytest.approx(0.012)
    assert estimate(EvolinkProvider(ProviderSettings(price_per_call_usd=0.05)), speak(), 10.0) == 0.05
    assert estimate(EvolinkProvider(ProviderSettings(price_per_call_usd=0.0)), speak(), 10.0) == pytest.approx(0.012)


# -- the task protocol ------------------------------------------------------------------------------
def test_pending_then_processing_then_completed(fake: EvolinkFake) -> None:
    fake.pending_polls, fake.processing_polls = 2, 3
    sleeps = Sleeps()
    render(provider(sleeps=sleeps), speak())
    assert [s for _, s in fake.statuses_seen] == ["pending"] * 2 + ["processing"] * 3 + ["completed"]
    assert sleeps.calls[0] == 0.0 and len(sleeps.calls) == 6  # one wait before each poll, backing off
    assert sleeps.calls[1:] == sorted(sleeps.calls[1:])


def test_result_data_audio_url_is_accepted(fake: EvolinkFake) -> None:
    fake.result_shape = "result_data"
    take = render(provider(), speak())
    assert decode_bytes(take.data, take.format).duration_ms == pytest.approx(1000.0, abs=1)


@pytest.mark.parametrize("shape", ["object", "string", "error_message"])
def test_a_failed_task_raises_with_the_vendors_code_and_message(fake: EvolinkFake, shape: str) -> None:
    fake.fail_when = lambda body: True
    fake.failure_shape = shape
    with pytest.raises(ProviderError) as info:
        render(provider(), speak())
    err = info.value
    task_id = fake.statuses_seen[-1][0]
    assert err.provider == "evolink" and err.request_id == task_id and not err.retryable
    assert "The prompt was flagged by the content filter" in err.message and "content_policy_violation" in err.message
    assert task_id in str(err) and fake.count("POST", SUBMIT) == 1


def test_a_failed_task_is_not_resumed_by_a_rerun(fake: EvolinkFake) -> None:
    fake.fail_when = lambda body: "flaky" in body["prompt"]
    journal = DictJournal(fake, TASKS)
    with pytest.raises(ProviderError, match="the task failed"):
        render(provider(), speak("a flaky line", journal=journal))
    assert journal.state is None and journal.cleared == 1  # nothing to resume: a rerun submits again
    fake.fail_when = lambda body: False
    take = render(provider(), speak("a flaky line", journal=journal))
    assert len(fake.submits()) == 2 and take.request_id == journal.state["request_id"]


def test_timeout_names_the_task_and_says_a_rerun_resumes(fake: EvolinkFake) -> None:
    fake.pending_polls = 10**6
    journal = DictJournal()
    with pytest.raises(ProviderError, match=r"a rerun resumes this task") as info:
        render(provider(timeout_s=0.0), speak(journal=journal))
    assert info.value.request_id == journal.state["request_id"]


# -- retries ----------------------------------------------------------------------------------------
def test_429_waits_what_retry_after_asks(fake: EvolinkFake) -> None:
    fake.retry_after_s = 7.0
    fake.fail_every(1, 429, paths=[SUBMIT], times=2)
    sleeps = Sleeps()
    p = provider(sleeps=sleeps)
    render(p, speak())
    assert [r.status for r in fake.calls("POST", SUBMIT)] == [429, 429, 200]
    assert sum(1 for w in sleeps.calls if w >= 7.0) == 2 and len(fake.submits()) == 1


def test_429_without_retry_after_backs_off(fake: EvolinkFake) -> None:
    fake.retry_after_s = None
    fake.fail_every(1, 429, paths=[SUBMIT], times=1)
    sleeps = Sleeps()
    render(provider(sleeps=sleeps), speak())
    assert "retry-after" not in fake.calls("POST", SUBMIT)[0].headers
    assert [r.status for r in fake.calls("POST", SUBMIT)] == [429, 200]
    assert max(sleeps.calls) <= 0.5  # the first backoff step: full jitter under 0.5 s


def test_5xx_is_retried_on_submit_and_poll(fake: EvolinkFake) -> None:
    fake.fail_every(1, 500, paths=[SUBMIT], times=1)
    fake.fail_every(2, 503, paths=[r"^/v1/tasks/"], times=1)
    render(provider(), speak())
    assert [r.status for r in fake.calls("POST", SUBMIT)] == [500, 200]
    assert 503 in [r.status for r in fake.calls("GET", r"^/v1/tasks/")]


def test_submit_is_not_retried_after_the_request_was_sent(fake: EvolinkFake) -> None:
    fake.fail_every(1, [Response.dropped()], paths=[SUBMIT], times=1)
    with pytest.raises(ProviderError, match="not retried"):
        render(provider(), speak())
    assert fake.count("POST", SUBMIT) == 1


@pytest.mark.parametrize(("status", "code"), [(400, "invalid_request"), (402, "insufficient_quota"), (403, "denied")])
def test_4xx_is_not_retried(fake: EvolinkFake, status: int, code: str) -> None:
    fake.fail_every(1, status, paths=[SUBMIT])
    with pytest.raises(ProviderError) as info:
        render(provider(), speak())
    assert info.value.status == status and code in info.value.message and not info.value.retryable
    assert fake.count("POST", SUBMIT) == 1


def test_quota_exhausted_is_402_and_not_retried(fake: EvolinkFake) -> None:
    fake.quota_exhausted = True
    with pytest.raises(ProviderError, match=r"HTTP 402.*Insufficient quota.*\(insufficient_quota\)"):
        render(provider(), speak())
    assert fake.count("POST", SUBMIT) == 1


def test_wrong_key_is_401_and_never_echoed(fake: EvolinkFake, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "sk-wrong-key-that-must-not-leak"
    monkeypatch.setenv("EVOLINK_API_KEY", wrong)
    with pytest.raises(ProviderError, match=r"HTTP 401.*Invalid or expired token") as info:
        render(provider(), speak())
    assert wrong not in str(info.value) and fake.count("POST", SUBMIT) == 1


def test_the_fake_wants_the_bearer_scheme(fake: EvolinkFake) -> None:
    body = {"model": "doubao-seed-audio-1-0", "prompt": "x"}
    for auth in (f"Key {API_KEY}", API_KEY, f"bearer{API_KEY}"):
        answer = httpx.post(f"{fake.url}/v1/audios/generations", json=body, headers={"Authorization": auth})
        assert answer.status_code == 401 and answer.json()["error"]["type"] == "authentication_error"
    assert fake.tasks == {}


def test_twelve_concurrent_renders_with_every_third_call_failing(fake: EvolinkFake) -> None:
    submit_faults = fake.fail_every(3, (429, 500), paths=[SUBMIT])
    poll_faults = fake.fail_every(3, (500, 429), paths=[r"^/v1/tasks/"])
    fake.slow(0.005, paths=[SUBMIT])
    p = provider(retries=20)  # a call can meet several faults in a row when calls interleave
    requests = [speak(f"Line number {i}.") for i in range(12)]

    async def all_of_them() -> list[Any]:
        return await asyncio.gather(*(render_request(p, r) for r in requests))

    takes = asyncio.run(all_of_them())
    assert len(takes) == 12 and len({t.request_id for t in takes}) == 12
    assert len(fake.submits()) == 12 and len(fake.tasks) == 12
    posts = fake.count("POST", SUBMIT)  # 12 that created a task + every 3rd refused (429/500) and retried
    assert posts == 12 + submit_faults.fired and submit_faults.fired == posts // 3 >= 5
    assert poll_faults.fired >= 1
    assert sorted(json.loads(r.body)["prompt"] for r in fake.submits()) == sorted(
        r.payload.canonical()["text"] for r in requests
    )
    assert fake.max_in_flight <= p.max_concurrency


# -- journal: never pay twice ----------------------------------------------------------------------
def test_the_task_id_is_journalled_before_the_first_poll(fake: EvolinkFake) -> None:
    journal = DictJournal(fake, TASKS)
    take = render(provider(), speak(journal=journal))
    (state,) = journal.saves
    assert journal.polls_at_save == [0]
    assert state == {"request_id": take.request_id, "status_url": f"{fake.url}/v1/tasks/{take.request_id}"}
    assert API_KEY not in json.dumps(state)


def test_a_killed_render_resumes_without_posting_again(fake: EvolinkFake) -> None:
    fake.pending_polls = 10**6  # stuck until released
    journal = DictJournal(fake, TASKS)

    async def kill_mid_poll() -> None:
        killed = EvolinkProvider(ProviderSettings(poll_interval_s=0.001))  # real (tiny) sleeps
        task = asyncio.create_task(render_request(killed, speak(journal=journal)))
        while fake.count("GET", r"^/v1/tasks/") < 3:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(kill_mid_poll())
    assert journal.state is not None and len(fake.submits()) == 1
    posts_before = fake.count("POST", SUBMIT)
    fake.pending_polls = 0
    fake.processing_polls = 0
    take = render(provider(), speak(journal=journal))  # a new provider instance, the same journal
    assert fake.count("POST", SUBMIT) == posts_before == 1
    assert take.request_id == journal.state["request_id"]
    assert any("resumed request" in n and take.request_id in n for n in take.notes)


def test_an_expired_task_on_resume_is_submitted_once_more_with_a_note(fake: EvolinkFake) -> None:
    journal = DictJournal(fake, TASKS)
    first = render(provider(), speak(journal=journal))
    fake.forget(first.request_id)  # the host's retention ran out before the take was stored
    second = render(provider(), speak(journal=journal))
    assert len(fake.submits()) == 2 and second.request_id != first.request_id
    assert journal.cleared == 1 and journal.state["request_id"] == second.request_id
    assert any("had expired at the host" in n and first.request_id in n for n in second.notes)


def test_an_expired_result_link_on_resume_is_submitted_once_more(fake: EvolinkFake) -> None:
    journal = DictJournal(fake, TASKS)
    first = render(provider(), speak(journal=journal))
    fake.expire_files()
    second = render(provider(), speak(journal=journal))
    assert len(fake.submits()) == 2 and second.request_id != first.request_id
    assert any("links last 24 h" in n for n in second.notes)


def test_a_task_lost_in_the_same_run_is_a_provider_error(fake: EvolinkFake) -> None:
    def forget_on_first_poll(req: Any) -> None:
        fake.forget_all()

    fake.add_fault(forget_on_first_poll)
    with pytest.raises(ProviderError, match=r"HTTP 404") as info:
        render(provider(), speak())
    (task_id,) = fake.tasks
    assert info.value.provider == "evolink" and info.value.status == 404 and info.value.request_id == task_id
    assert len(fake.submits()) == 1


# -- secrets ---------------------------------------------------------------------------------------
def test_the_key_reaches_only_the_api_host(fake: EvolinkFake) -> None:
    journal = DictJournal(fake, TASKS)
    take = render(provider(), scene(journal=journal))
    file_requests = fake.files.calls("GET")
    assert len(file_requests) == 1 and "authorization" not in file_requests[0].headers
    assert all(API_KEY not in json.dumps(r.headers) for r in file_requests)
    assert all(r.headers["authorization"] == f"Bearer {API_KEY}" for r in fake.calls())
    assert API_KEY not in " ".join(take.notes) and API_KEY not in json.dumps(journal.state)
    assert API_KEY not in json.dumps(request_key(provider(), scene()))


def test_a_vendor_message_echoing_the_key_is_scrubbed(fake: EvolinkFake) -> None:
    leaky = Response.json({"error": {"code": "bad", "message": f"token {API_KEY} rejected", "type": "x"}}, 400)
    fake.fail_every(1, [leaky], paths=[SUBMIT])
    with pytest.raises(ProviderError) as info:
        render(provider(), speak())
    assert API_KEY not in str(info.value) and "***" in str(info.value)
