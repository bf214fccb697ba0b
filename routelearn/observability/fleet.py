"""The fleet gauges: computed at scrape time from the database and the broker, by the readers
``routelearn stats health`` and ``/health/detailed`` use (``routelearn.stats.probe``).

Every host's ``routelearn metrics serve`` computes the same figures (they are the fleet's, not
the host's): aggregate them with ``max``, not ``sum``. A dependency that does not answer makes
its gauges absent, never zero (``routelearn_fleet_dependency_up`` says which).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from routelearn.constants import ALL_QUEUES
from routelearn.domain.anomaly import AnomalyKind, Severity
from routelearn.domain.anomaly.model import WorkspaceBudget
from routelearn.messaging.fanout import queue_name
from routelearn.settings import Settings
from routelearn.stats.health import HealthReport, age_s
from routelearn.stats.probe import health_report, oldest_message_ages, queue_depths
from routelearn.store import instances, usage

log = logging.getLogger(__name__)


class FleetCollector(Collector):
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self._settings = settings
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        report = health_report(self._engine, self._settings)
        yield from dependencies(report)
        yield task_queues(report)
        if report.database_error is not None:
            return
        yield open_anomalies(report)
        yield learner_age(report)
        if report.pgmq:
            yield from pgmq_queues(report)
        yield from self._budgets()
        if not any(q.error for q in report.queues):  # else each queue would wait for it again
            yield from self._instance_queues()

    def _instance_queues(self) -> Iterator[Metric]:
        try:
            ids = instances.active_ids(self._engine)
        except SQLAlchemyError as exc:
            log.warning("fleet gauges: the instances could not be read: %s", exc)
            return
        names = {queue_name(i): i for i in ids}
        depths = queue_depths(self._settings.broker_url, list(names))
        waiting = [d.queue for d in depths if d.messages]
        ages = oldest_message_ages(
            self._settings.broker_url, waiting, quorum_queues=self._settings.quorum_queues
        )
        depth = GaugeMetricFamily(
            "routelearn_instance_queue_depth",
            "Score-update messages waiting in each active instance's queue "
            "(model_score_updates.<instance>).",
            labels=["instance"],
        )
        oldest = GaugeMetricFamily(
            "routelearn_instance_queue_oldest_age_seconds",
            "Delivery lag of each active instance: seconds since the newest update in the oldest "
            "message waiting in its queue was made (0 when the queue is empty; absent when the "
            "head message has no timestamp, or on RabbitMQ quorum queues).",
            labels=["instance"],
        )
        for entry in depths:
            if entry.messages is None:
                continue  # the broker did not answer
            instance = names[entry.queue]
            depth.add_metric([instance], entry.messages)
            if entry.messages == 0:
                oldest.add_metric([instance], 0.0)
            elif entry.queue in ages:
                oldest.add_metric([instance], ages[entry.queue])
        yield depth
        yield oldest

    def _budgets(self) -> Iterator[Metric]:
        try:
            with self._engine.connect() as conn:
                found = usage.budgets(conn, datetime.now(UTC))
        except SQLAlchemyError as exc:
            log.warning("fleet gauges: the budgets could not be read: %s", exc)
            return
        yield budget_ratios(found)


def budget_ratios(budgets: Iterable[WorkspaceBudget]) -> Metric:
    """Spent over limit per budgeted workspace and period (routing policy; +Inf for a limit of
    0 with something spent). Bounded labels: only workspaces an operator gave a budget."""
    gauge = GaugeMetricFamily(
        "routelearn_workspace_budget_spent_ratio",
        "Share of each budgeted workspace's limit spent in the current period (daily, weekly, "
        "monthly, in the workspace's time zone), from the cost its events report.",
        labels=["workspace", "period"],
    )
    for budget in budgets:
        if budget.limit > 0:
            ratio = budget.spent / budget.limit
        else:
            ratio = math.inf if budget.spent > 0 else 0.0
        gauge.add_metric([budget.workspace_id, budget.period], ratio)
    return gauge


def dependencies(report: HealthReport) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "routelearn_fleet_dependency_up",
        "Whether the fleet gauges' sources answered this scrape (database, broker): 1 or 0.",
        labels=["dependency"],
    )
    up.add_metric(["database"], float(report.database_error is None))
    up.add_metric(["broker"], float(not any(q.error for q in report.queues)))
    yield up


def task_queues(report: HealthReport) -> Metric:
    gauge = GaugeMetricFamily(
        "routelearn_task_queue_depth",
        "Task messages waiting in each Celery queue (taken but unacknowledged ones excluded).",
        labels=["queue"],
    )
    for queue in report.queues:
        if queue.queue in ALL_QUEUES and queue.messages is not None:
            gauge.add_metric([queue.queue], queue.messages)
    return gauge


def open_anomalies(report: HealthReport) -> Metric:
    """Every kind and severity, 0 when none is open: a series that vanished when the last
    anomaly closed would leave an alert on it pending instead of resolved."""
    counts = {(a.kind, a.severity): a.count for a in report.anomaly_counts}
    gauge = GaugeMetricFamily(
        "routelearn_open_anomalies",
        "Anomalies open now, by kind and severity.",
        labels=["kind", "severity"],
    )
    known = [(kind.value, severity.value) for kind in AnomalyKind for severity in Severity]
    # A kind stored by a newer version still shows.
    for key in [*known, *(key for key in counts if key not in known)]:
        gauge.add_metric(list(key), counts.get(key, 0))
    return gauge


def pgmq_queues(report: HealthReport) -> Iterator[Metric]:
    """The pgmq bridge's queues (only where pgmq is installed): the decisions waiting, and the
    score queues' backlog of a seed instance that stopped reading."""
    depth = GaugeMetricFamily(
        "routelearn_pgmq_queue_depth",
        "Messages in each pgmq queue (model_routing_decisions, model_score_updates, "
        "model_score_updates_<instance>), readable or held by a reader.",
        labels=["queue"],
    )
    oldest = GaugeMetricFamily(
        "routelearn_pgmq_oldest_message_age_seconds",
        "Seconds since the oldest message still in each pgmq queue was sent (0 when empty).",
        labels=["queue"],
    )
    for queue in report.pgmq:
        depth.add_metric([queue.queue], queue.messages)
        oldest.add_metric([queue.queue], queue.oldest_age_s or 0.0)
    yield depth
    yield oldest


def learner_age(report: HealthReport) -> Metric:
    gauge = GaugeMetricFamily(
        "routelearn_learner_last_tick_age_seconds",
        "Seconds since the last learner tick finished, by the database's clock (+Inf: never).",
    )
    learner = report.learner
    gauge.add_metric(
        [], age_s(report.checked_at, learner.finished_at) if learner is not None else math.inf
    )
    return gauge
