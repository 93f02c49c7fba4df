"""The paid-job protocol every host shares: one rule for when a journal is cleared, one poll loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from audioflow.errors import CacheError, ProviderError
from audioflow.providers import ProviderSettings
from audioflow.providers.http import HttpClient
from audioflow.providers.jobs import JobFailed, JobGone, poll, run_job


class Journal:
    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.state, self.cleared = state, 0

    def load(self) -> dict[str, Any] | None:
        return self.state

    def save(self, state: dict[str, Any]) -> None:
        self.state = dict(state)

    def clear(self) -> None:
        self.state, self.cleared = None, self.cleared + 1


def _job(finish_raises: list[BaseException | None]):  # type: ignore[no-untyped-def]
    submitted: list[str] = []

    async def submit() -> dict[str, Any]:
        submitted.append(f"r{len(submitted) + 1}")
        return {"request_id": submitted[-1]}

    async def finish(state: dict[str, Any], resumed: bool) -> str:
        error = finish_raises.pop(0) if finish_raises else None
        if error is not None:
            raise error
        return f"{state['request_id']}:{'resumed' if resumed else 'fresh'}"

    return submitted, submit, finish


def _gone() -> JobGone:
    return JobGone("404", ProviderError("host", "gone", status=404))


def test_a_take_leaves_the_journal_for_the_engine_to_clear() -> None:
    journal = Journal()
    _, submit, finish = _job([])
    assert asyncio.run(run_job(journal, submit, finish)) == ("r1:fresh", [])
    assert journal.state == {"request_id": "r1"} and journal.cleared == 0


def test_a_journalled_request_is_resumed_not_resubmitted() -> None:
    journal = Journal({"request_id": "r0"})
    submitted, submit, finish = _job([])
    result, notes = asyncio.run(run_job(journal, submit, finish))
    assert result == "r0:resumed" and submitted == [] and "resumed request r0" in notes[0]


def test_the_hosts_final_failure_clears_the_journal() -> None:
    journal = Journal()
    _, submit, finish = _job([JobFailed("host", "FAILED")])
    with pytest.raises(JobFailed):
        asyncio.run(run_job(journal, submit, finish))
    assert journal.state is None and journal.cleared == 1


def test_a_journal_that_cannot_be_cleared_keeps_the_hosts_failure_as_the_error() -> None:
    loop_threads: list[int] = []

    class Unreachable(Journal):
        def clear(self) -> None:
            loop_threads.append(threading.get_ident())
            raise CacheError("cannot remove s3://bucket/jobs/x.json: connection refused")

    journal = Unreachable()
    _, submit, finish = _job([JobFailed("host", "FAILED: content refused")])

    async def main() -> None:
        loop_threads.append(threading.get_ident())
        await run_job(journal, submit, finish)

    with pytest.raises(JobFailed, match="content refused") as caught:
        asyncio.run(main())
    assert any("its journal stays" in note for note in caught.value.__notes__)
    assert loop_threads[0] != loop_threads[1]  # the clear ran off the event loop (a bucket's round trip)


def test_a_resumed_request_that_is_gone_is_submitted_once_more() -> None:
    journal = Journal({"request_id": "r0"})
    submitted, submit, finish = _job([_gone()])
    result, notes = asyncio.run(run_job(journal, submit, finish))
    assert result == "r1:fresh" and submitted == ["r1"] and "had expired" in notes[0]
    assert journal.state == {"request_id": "r1"}


def test_a_fresh_request_that_is_gone_fails_and_keeps_its_journal() -> None:
    journal = Journal()
    submitted, submit, finish = _job([_gone()])
    with pytest.raises(ProviderError, match="gone"):
        asyncio.run(run_job(journal, submit, finish))
    assert submitted == ["r1"] and journal.state == {"request_id": "r1"}


def test_other_failures_keep_the_journal() -> None:
    journal = Journal()
    _, submit, finish = _job([ProviderError("host", "timeout", retryable=True)])
    with pytest.raises(ProviderError, match="timeout"):
        asyncio.run(run_job(journal, submit, finish))
    assert journal.state == {"request_id": "r1"} and journal.cleared == 0


@pytest.mark.parametrize("nothing_left_to_bill", [True, False])
def test_an_interrupted_job_is_forgotten_only_when_cancel_says_nothing_can_bill(nothing_left_to_bill: bool) -> None:
    journal = Journal()
    _, submit, finish = _job([asyncio.CancelledError()])
    asked: list[str] = []

    async def cancel(state: dict[str, Any]) -> bool:
        asked.append(state["request_id"])
        return nothing_left_to_bill

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run_job(journal, submit, finish, cancel=cancel))
    assert asked == ["r1"] and (journal.state is None) == nothing_left_to_bill


def test_the_poll_loop_times_out_on_the_waited_clock() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def never() -> None:
        return None

    with pytest.raises(ProviderError, match="timed out after 12 s") as caught:
        asyncio.run(
            poll(
                never,
                ProviderSettings(poll_interval_s=1.0, timeout_s=10.0),
                sleep,
                (
                    HttpClient("host", auth_headers={}, auth_hosts=(), secrets=()),
                    "r1",
                    lambda s: f"timed out after {s:.0f} s",
                ),
            )
        )
    assert waits == [0.0, 1.0, 1.5, 2.25, 3.375, 4.0]  # backs off to 4×; stops once 10 s are waited
    assert caught.value.request_id == "r1" and caught.value.retryable


def test_a_run_cancelled_while_submitting_still_journals_the_request() -> None:
    journal = Journal()
    sent = asyncio.Event()

    async def submit() -> dict[str, Any]:
        sent.set()
        await asyncio.sleep(0.2)  # the host has the request; its answer is on the way
        return {"request_id": "r1"}

    async def finish(state: dict[str, Any], resumed: bool) -> str:
        raise AssertionError("never reached: the run was cancelled")

    async def main() -> None:
        task = asyncio.create_task(run_job(journal, submit, finish))
        # wait for the submission itself, not a fixed 50 ms: run_job first reads the journal in a
        # thread, and on a loaded machine that read outlasted a 50 ms sleep, so the cancellation
        # came before anything was sent and nothing was journalled
        await asyncio.wait_for(sent.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)  # asyncio.run also lets the shielded submission finish

    asyncio.run(main())
    assert journal.state == {"request_id": "r1"}
