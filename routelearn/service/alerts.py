"""One alert delivery run: every due anomaly notice to the webhook, at least once.

The notices are the anomaly sweep's outbox (``anomaly_events``); their delivery state is
``webhook_deliveries`` (``routelearn.store.alert_deliveries``); what an attempt's answer means
is ``routelearn.domain.alert_delivery``; the body is ``routelearn.domain.alert_bodies``. A run
never holds a transaction open across a POST: the state is written after each answer, so a run
killed between the POST and that write sends the notice again next time (at least once; the
``Idempotency-Key`` header lets a receiver drop the copy).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from routelearn.domain.alert_bodies import AlertNotice, build_body
from routelearn.domain.alert_delivery import (
    DeliveryStatus,
    RetryPolicy,
    expired,
    give_up_reason,
    judge,
)
from routelearn.logs import log_context
from routelearn.service.webhook import Webhook, WebhookClient
from routelearn.store.alert_deliveries import DueNotice, delivery_lock, due, enroll, record

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DeliveryReport:
    ran: bool = True  # False: another run held the lock
    enrolled: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    # True when the run stopped early (the webhook did not answer, or time ran out): what is
    # left is due at the next run.
    stopped: bool = False

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def idempotency_key(event_id: int) -> str:
    return f"routelearn-notice-{event_id}"


def deliver_pending(
    engine: Engine,
    webhook: Webhook,
    policy: RetryPolicy,
    *,
    deadline: float,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Deliver the due notices until none is left or ``deadline`` (``time.monotonic()``) would
    be passed by one more POST. The first notice is always tried."""
    with delivery_lock(engine) as held:
        if not held:
            return DeliveryReport(ran=False)
        report = DeliveryReport()
        with engine.begin() as conn:
            report.enrolled = enroll(conn, policy.max_age)
        seen: set[int] = set()
        with WebhookClient(webhook) as client:
            while True:
                with engine.begin() as conn:
                    batch = [n for n in due(conn, datetime.now(UTC)) if n.event_id not in seen]
                if not batch:
                    return report
                for notice in batch:
                    if seen and time.monotonic() + webhook.timeout > deadline:
                        report.stopped = True
                        return report
                    seen.add(notice.event_id)
                    with log_context(anomaly_id=notice.anomaly_id, notice_id=str(notice.event_id)):
                        if not _deliver(engine, client, notice, policy, report, rng):
                            report.stopped = True
                            return report


def _deliver(
    engine: Engine,
    client: WebhookClient,
    notice: DueNotice,
    policy: RetryPolicy,
    report: DeliveryReport,
    rng: random.Random | None,
) -> bool:
    """One notice; False when the webhook looks down (the run stops: one probe per run)."""
    what = f"alert notice {notice.event_id} ({notice.event} {notice.anomaly_id})"
    host = client.webhook.host
    now = datetime.now(UTC)
    if expired(notice.created_at, now, policy):
        reason = give_up_reason(notice.attempts, policy, notice.last_error)
        _record(engine, notice.event_id, DeliveryStatus.FAILED, attempted=False, error=reason)
        report.failed += 1
        log.error("%s not delivered to %s: %s", what, host, reason)
        return True
    try:
        body = build_body(
            client.webhook.format,
            AlertNotice.from_payload(notice.event_id, notice.anomaly_id, notice.payload),
        )
    except ValueError as exc:
        reason = f"malformed notice, not sent: {exc}"
        _record(engine, notice.event_id, DeliveryStatus.FAILED, attempted=False, error=reason)
        report.failed += 1
        log.error("%s: %s", what, reason)
        return True

    attempt = client.post(body, idempotency_key(notice.event_id))
    attempts = notice.attempts + 1
    verdict = judge(attempt, attempts, notice.created_at, datetime.now(UTC), policy, rng)
    _record(
        engine,
        notice.event_id,
        verdict.status,
        attempted=True,
        next_attempt_at=verdict.next_attempt_at,
        error=verdict.error,
    )
    if verdict.status is DeliveryStatus.DELIVERED:
        report.delivered += 1
        log.info("%s delivered to %s (attempt %d)", what, host, attempts)
        return True
    if verdict.status is DeliveryStatus.FAILED:
        report.failed += 1
        log.error("%s not delivered to %s: %s", what, host, verdict.error)
        return True
    report.retrying += 1
    wait = (verdict.next_attempt_at - now).total_seconds() if verdict.next_attempt_at else 0.0
    log.warning(
        "%s not delivered to %s (attempt %d): %s; next attempt in %.0f s",
        what,
        host,
        attempts,
        verdict.error,
        wait,
    )
    return False


def _record(
    engine: Engine,
    event_id: int,
    status: DeliveryStatus,
    *,
    attempted: bool,
    next_attempt_at: datetime | None = None,
    error: str | None = None,
) -> None:
    with engine.begin() as conn:
        record(
            conn,
            event_id,
            status,
            attempted=attempted,
            next_attempt_at=next_attempt_at,
            error=error,
        )
