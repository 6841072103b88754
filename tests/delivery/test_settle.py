"""``settle``: a pure decision from one request's outcome; it sends nothing and changes no item."""

from __future__ import annotations

from typing import Any

import pytest

from langfuse_async._delivery.inflight import Item
from langfuse_async._delivery.sender import Failure, Retry, SendOutcome
from langfuse_async._delivery.settle import NOT_ACCEPTED_MESSAGE, Settlement, settle
from tests.support import factories

BASE_URL = "https://langfuse.example"


def items(n: int, *, attempts: int = 0) -> list[Item]:
    out = []
    for seq in range(1, n + 1):
        item = Item(seq, factories.observation())
        item.attempts = attempts
        out.append(item)
    return out


def decide(out: SendOutcome, batch: list[Item], **options: Any) -> Settlement:
    args: dict[str, Any] = dict(max_retries=2, may_reroute=True, base_url=BASE_URL)
    args.update(options)
    return settle(out, batch, "ingestion", **args)


def test_delivered_events_are_delivered_and_nothing_else_happens() -> None:
    batch = items(3)
    s = decide(SendOutcome(delivered=batch, status=200), batch)
    assert list(s.delivered) == batch
    assert (s.failed, s.retry, s.resend, s.reroute, s.warnings) == ([], [], [], (), [])
    assert not s.pause and s.retry_after is None


def test_a_refused_event_is_reported_with_what_the_server_said() -> None:
    batch = items(2)
    detail = {"issues": ["name: required"]}
    out = SendOutcome(
        delivered=[batch[0]],
        failed=[Failure(batch[1], "rejected", 400, "Invalid request data", detail)],
        status=207,
    )
    s = decide(out, batch)
    assert list(s.delivered) == [batch[0]]
    ((item, error),) = s.failed
    assert item is batch[1]
    record = batch[1].record
    assert (error.event_id, error.body_id, error.trace_id) == (
        record.event_id,
        record.body_id,
        record.trace_id,
    )
    assert (error.reason, error.status, error.message, error.error) == (
        "rejected",
        400,
        "Invalid request data",
        detail,
    )


def test_a_retryable_failure_is_retried_with_the_backoff_attempt_and_retry_after() -> None:
    batch = items(2, attempts=1)
    out = SendOutcome(
        retry=[Retry(item, 503, "busy") for item in batch],
        whole_request=True,
        retry_after=7.0,
        status=503,
    )
    s = decide(out, batch)
    assert list(s.retry) == batch and s.failed == []
    assert (s.attempt, s.retry_after, s.pause) == (1, 7.0, True)


def test_a_per_event_retry_does_not_pause_everything() -> None:
    batch = items(1)
    s = decide(SendOutcome(retry=[Retry(batch[0], 500, "oops")], status=207), batch)
    assert list(s.retry) == batch and not s.pause and s.attempt == 0


def test_an_event_out_of_retries_is_reported_with_its_last_error() -> None:
    tired, fresh = Item(1, factories.observation()), Item(2, factories.observation())
    tired.attempts = 2  # the first attempt and two retries have failed before this one
    out = SendOutcome(
        retry=[Retry(tired, 429, "slow down", {"x": 1}), Retry(fresh, 429, "slow down")],
        whole_request=True,
        retry_after=3.0,
        status=429,
    )
    s = decide(out, [tired, fresh], max_retries=2)
    ((item, error),) = s.failed
    assert item is tired
    assert (error.reason, error.status, error.error) == ("retries_exhausted", 429, {"x": 1})
    assert error.message == "gave up after 3 attempts: slow down"
    assert list(s.retry) == [fresh]
    assert (s.attempt, s.retry_after, s.pause) == (0, 3.0, True)


def test_no_retries_allowed_gives_up_after_one_attempt() -> None:
    batch = items(1)
    out = SendOutcome(retry=[Retry(batch[0], None, "connection refused")], whole_request=True)
    s = decide(out, batch, max_retries=0)
    ((_, error),) = s.failed
    assert error.message == "gave up after 1 attempt: connection refused"
    assert error.status is None
    # Nothing left to retry: no pause, no Retry-After.
    assert s.retry == [] and not s.pause and s.retry_after is None


def test_a_413_returns_the_halves_to_send_instead_of_sending_them() -> None:
    batch = items(5)
    s = decide(SendOutcome(split=True, status=413), batch)
    assert [list(half) for half in s.resend] == [batch[:2], batch[2:]]
    assert (list(s.delivered), s.failed, s.retry) == ([], [], [])


def test_events_refused_by_type_are_rerouted_when_the_route_may_change() -> None:
    batch = items(2)
    out = SendOutcome(delivered=[batch[0]], not_accepted=[batch[1]], status=207)
    s = decide(out, batch, may_reroute=True)
    assert list(s.reroute) == [batch[1]] and s.failed == []


def test_events_refused_by_type_are_reported_on_a_fixed_route() -> None:
    batch = items(1)
    s = decide(SendOutcome(not_accepted=batch, status=207), batch, may_reroute=False)
    ((item, error),) = s.failed
    assert item is batch[0] and s.reroute == ()
    assert (error.reason, error.status, error.message) == ("rejected", 400, NOT_ACCEPTED_MESSAGE)


@pytest.mark.parametrize(
    ("out", "key", "words"),
    [
        (SendOutcome(unauthorized=True, status=401), "auth", ["LANGFUSE_PUBLIC_KEY", BASE_URL]),
        (
            SendOutcome(redirect="https://elsewhere/", status=302),
            "redirect",
            ["https://elsewhere/", BASE_URL],
        ),
        (SendOutcome(redirect="", status=301), "redirect", ["(no Location header)"]),
        (SendOutcome(not_found=404, status=404), "not_found", ["404", "ingestion route"]),
        (
            SendOutcome(suspended="Ingestion suspended: upgrade", status=403),
            "suspended",
            ["Ingestion suspended: upgrade", BASE_URL, "keys are accepted"],
        ),
    ],
)
def test_problems_of_the_setup_come_back_as_warnings(
    out: SendOutcome, key: str, words: list[str]
) -> None:
    ((found, message),) = decide(out, items(1)).warnings
    assert found == key
    assert all(word in message for word in words), message


def test_settle_changes_no_item() -> None:
    batch = items(4, attempts=1)
    records = [item.record for item in batch]
    out = SendOutcome(
        retry=[Retry(item, 503, "busy") for item in batch[:2]],
        failed=[Failure(batch[2], "rejected", 400, "bad")],
        not_accepted=[batch[3]],
        status=207,
    )
    decide(out, batch)
    assert [item.attempts for item in batch] == [1, 1, 1, 1]
    assert [item.record for item in batch] == records
    assert [item.not_before for item in batch] == [0.0] * 4
