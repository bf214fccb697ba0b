"""What happens to an alert notice after an attempt to deliver it: delivered, tried again
later (back-off), or given up (recorded as failed).

At least once: a notice stays pending until its webhook answered 2xx. A refusal that no retry
can change (another 4xx, a redirect) fails it at once, so that it does not hold back the later
notices of its anomaly; everything else (no answer, 5xx, 408, 425, 429) is tried again with
``backoff_delay`` (a 429's or 503's ``Retry-After`` is honoured up to the cap) until the notice
is older than ``max_age``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum

from routelearn.domain.backoff import backoff_delay

_RETRYABLE_4XX = frozenset({408, 425, 429})


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float  # first delay, seconds
    cap: float  # longest delay, seconds
    max_age: float  # a notice older than this (seconds) is given up

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise ValueError(f"retry base ({self.base}) must be > 0 and <= cap ({self.cap})")
        if not self.max_age > 0:
            raise ValueError(f"max_age must be > 0, got {self.max_age}")


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST came back with: an HTTP status, or ``error`` when nothing came back."""

    status: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, from a Retry-After header

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        if self.status is None:
            return True  # no answer: connection refused, timeout, reset
        return self.status >= 500 or self.status in _RETRYABLE_4XX

    def describe(self) -> str:
        if self.status is None:
            return self.error or "no answer"
        return f"HTTP {self.status}" + (f": {self.error}" if self.error else "")


@dataclass(frozen=True, slots=True)
class Verdict:
    status: DeliveryStatus
    next_attempt_at: datetime | None = None  # when PENDING
    error: str | None = None  # when not DELIVERED


def expired(created_at: datetime, now: datetime, policy: RetryPolicy) -> bool:
    return (now - created_at).total_seconds() > policy.max_age


def judge(
    attempt: Attempt,
    attempts: int,
    created_at: datetime,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random | None = None,
) -> Verdict:
    """The notice's state after its ``attempts``-th attempt (>= 1) ended with ``attempt``."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    if attempt.delivered:
        return Verdict(DeliveryStatus.DELIVERED)
    error = attempt.describe()
    if not attempt.retryable:
        return Verdict(DeliveryStatus.FAILED, error=f"refused, not retried: {error}")
    if expired(created_at, now, policy):
        return Verdict(DeliveryStatus.FAILED, error=give_up_reason(attempts, policy, error))
    delay = backoff_delay(attempts, policy.base, policy.cap, rng)
    if attempt.retry_after is not None:
        delay = max(delay, min(attempt.retry_after, policy.cap))
    return Verdict(DeliveryStatus.PENDING, now + timedelta(seconds=delay), error)


def give_up_reason(attempts: int, policy: RetryPolicy, last_error: str | None) -> str:
    last = f"; last: {last_error}" if last_error else ""
    return f"gave up after {attempts} attempts: older than {policy.max_age:g} s{last}"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from ``now``; None if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        return None
    return max(0.0, (at - now).total_seconds())
