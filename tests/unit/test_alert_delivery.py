"""What an attempt's answer does to a notice: delivered, retried with back-off, or given up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from routelearn.domain.alert_delivery import (
    Attempt,
    DeliveryStatus,
    RetryPolicy,
    judge,
    parse_retry_after,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(base=10.0, cap=600.0, max_age=3600.0)
FRESH = NOW - timedelta(seconds=30)


def test_a_2xx_delivers() -> None:
    for status in (200, 202, 204):
        assert judge(Attempt(status), 1, FRESH, NOW, POLICY).status is DeliveryStatus.DELIVERED


@pytest.mark.parametrize("status", [500, 502, 503, 408, 425, 429])
def test_a_server_error_or_throttle_is_retried_with_back_off(status: int) -> None:
    verdict = judge(Attempt(status), 1, FRESH, NOW, POLICY, random.Random(1))
    assert verdict.status is DeliveryStatus.PENDING
    assert verdict.next_attempt_at is not None
    assert NOW + timedelta(seconds=5) <= verdict.next_attempt_at <= NOW + timedelta(seconds=10)
    assert verdict.error == f"HTTP {status}"


def test_no_answer_is_retried_and_the_delay_grows_to_the_cap() -> None:
    attempt = Attempt(error="ConnectError: [Errno 111] Connection refused")
    delays = []
    for n in (1, 2, 3, 10):
        verdict = judge(attempt, n, FRESH, NOW, POLICY, random.Random(n))
        assert verdict.status is DeliveryStatus.PENDING
        assert verdict.error == "ConnectError: [Errno 111] Connection refused"
        assert verdict.next_attempt_at is not None
        delays.append((verdict.next_attempt_at - NOW).total_seconds())
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20 and 20 <= delays[2] <= 40
    assert 300 <= delays[3] <= 600


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    slow = judge(Attempt(429, retry_after=120.0), 1, FRESH, NOW, POLICY, random.Random(1))
    assert slow.next_attempt_at == NOW + timedelta(seconds=120)
    huge = judge(Attempt(503, retry_after=86_400.0), 1, FRESH, NOW, POLICY, random.Random(1))
    assert huge.next_attempt_at == NOW + timedelta(seconds=600)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 301])
def test_a_refusal_no_retry_can_change_fails_at_once(status: int) -> None:
    verdict = judge(Attempt(status, error="invalid_payload"), 1, FRESH, NOW, POLICY)
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.error == f"refused, not retried: HTTP {status}: invalid_payload"
    assert verdict.next_attempt_at is None


def test_a_notice_older_than_the_max_age_is_given_up_after_a_failure() -> None:
    old = NOW - timedelta(seconds=3601)
    verdict = judge(Attempt(503), 12, old, NOW, POLICY)
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.error == "gave up after 12 attempts: older than 3600 s; last: HTTP 503"
    # ... while it is still delivered if the webhook takes it.
    assert judge(Attempt(200), 12, old, NOW, POLICY).status is DeliveryStatus.DELIVERED


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="attempts must be >= 1, got 0"):
        judge(Attempt(200), 0, FRESH, NOW, POLICY)
    with pytest.raises(ValueError, match=r"retry base \(5.0\) must be > 0 and <= cap \(1.0\)"):
        RetryPolicy(base=5.0, cap=1.0, max_age=10.0)
    with pytest.raises(ValueError, match="max_age must be > 0, got 0"):
        RetryPolicy(base=1.0, cap=1.0, max_age=0)


def test_retry_after_header_as_seconds_or_date() -> None:
    assert parse_retry_after("30", NOW) == 30.0
    assert parse_retry_after("Wed, 02 Dec 2026 12:01:00 GMT", NOW) == 60.0
    assert parse_retry_after("Wed, 02 Dec 2026 11:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None
