"""What the monitoring queries answer: immutable rows, no database needed to build or print them.

Success rate is successes / (successes + failures): decisions whose outcome never arrived are
neither (README, "Counting").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


def success_rate(successes: int, failures: int) -> float | None:
    outcomes = successes + failures
    return successes / outcomes if outcomes else None


@dataclass(frozen=True, slots=True)
class InstanceUsage:
    """One model's decisions on one instance (seed 001: "models used per instance")."""

    instance_id: str
    model: str
    decisions: int
    successes: int
    failures: int
    success_rate: float | None


@dataclass(frozen=True, slots=True)
class SuccessRate:
    model: str
    complexity: str
    decisions: int
    successes: int
    failures: int
    success_rate: float | None


@dataclass(frozen=True, slots=True)
class LatencyStats:
    model: str
    complexity: str
    samples: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True, slots=True)
class ModelLatency:
    """One model's response times with every complexity together (their histograms summed), and
    each complexity's own, busiest first."""

    model: str
    samples: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    complexities: tuple[LatencyStats, ...]


@dataclass(frozen=True, slots=True)
class Performer:
    """A pair in the top or bottom list; ``bound`` is the Wilson bound it was ranked by."""

    rank: int
    model: str
    complexity: str
    outcomes: int
    successes: int
    success_rate: float
    bound: float
    score: float | None  # current learned score (model_scores), None if it has none yet
    p95_ms: float | None


@dataclass(frozen=True, slots=True)
class ScoreHistoryEntry:
    changed_at: datetime
    model: str
    complexity: str
    version: int
    old_score: float | None
    new_score: float
    policy: str
    based_on_samples: int
    confidence: float | None
    reason: str
