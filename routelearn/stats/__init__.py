"""Monitoring: seed 001's dashboard questions as a Python API (and ``routelearn stats``).

Pure modules: ``window`` (the time window), ``ranking`` (Wilson bounds), ``percentiles``
(histogram summaries), ``health`` (the report and its rules), ``model`` (result rows),
``render`` (tables and JSON). Database and broker: ``queries`` and ``probe``. docs/stats.md
defines every figure.
"""

from __future__ import annotations

from routelearn.stats.health import HealthReport, HealthThresholds
from routelearn.stats.model import (
    InstanceUsage,
    LatencyStats,
    ModelLatency,
    Performer,
    ScoreHistoryEntry,
    SuccessRate,
)
from routelearn.stats.probe import health_report, queue_depths
from routelearn.stats.queries import (
    known_models,
    latency_by_model,
    latency_stats,
    models_by_instance,
    performers,
    score_history,
    success_rates,
)
from routelearn.stats.window import Window

__all__ = [
    "HealthReport",
    "HealthThresholds",
    "InstanceUsage",
    "LatencyStats",
    "ModelLatency",
    "Performer",
    "ScoreHistoryEntry",
    "SuccessRate",
    "Window",
    "health_report",
    "known_models",
    "latency_by_model",
    "latency_stats",
    "models_by_instance",
    "performers",
    "queue_depths",
    "score_history",
    "success_rates",
]
