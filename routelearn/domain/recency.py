"""Recency-weighted outcomes: each outcome weighs ``0.5 ** (age / half_life)``.

The learner keeps them per (model, complexity) as running sums (successes, failures and the
latency histogram) together with the cumulative counters it saw when it last updated them. A
tick multiplies the sums by ``0.5 ** (elapsed / half_life)`` and adds what the counters gained
since: one row per (model, complexity) a tick. The decay is by the time that really passed (a
late tick decays more); an outcome is timed by the tick that first counts it, so its age is
known to within one tick. The earlier design kept a list of per-tick windows and read every
one of them each tick, 16 rows per (model, complexity), which at 3,000 rows took a tick well
past a second.

Outcomes counted before the learner first saw a row (its history, perhaps years of it) weigh at
most ``history_weight`` outcomes in all, then decay like any others: a model's long past must
not outweigh its last minutes.

``advance`` works on whole tables at once (numpy, imported inside the functions so that
ingestion workers, which import this package, never load it); `first` is the same start for one
row, in plain Python, for a policy handed totals without a recency state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    Vector = np.ndarray[Any, np.dtype[np.float64]]
    Matrix = np.ndarray[Any, np.dtype[np.float64]]
    Counts = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True, slots=True)
class Decay:
    """How fast outcomes lose weight, and how much a row's history may weigh at first sight."""

    half_life_seconds: float = 180.0
    history_weight: float = 100.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.half_life_seconds) and self.half_life_seconds > 0):
            raise ValueError(f"Decay.half_life_seconds must be > 0, got {self.half_life_seconds}")
        if not self.history_weight >= 0:
            raise ValueError(f"Decay.history_weight must be >= 0, got {self.history_weight}")

    def history_share(self, outcomes: float) -> float:
        """The weight of each of ``outcomes`` past outcomes at first sight."""
        return 1.0 if outcomes <= self.history_weight else self.history_weight / outcomes


@dataclass(frozen=True, slots=True)
class Recent:
    """One row's recency-weighted outcomes: what the calibrated policy weighs."""

    successes: float
    failures: float
    # latency.py's bucket layout, weighted like the outcomes; () means no response times.
    histogram: Sequence[float] = ()

    def __post_init__(self) -> None:
        if not (self.successes >= 0 and self.failures >= 0):  # also refuses NaN
            raise ValueError(
                f"Recent: successes and failures must be >= 0, "
                f"got {self.successes!r} and {self.failures!r}"
            )
        if not all(weight >= 0 for weight in self.histogram):  # also refuses NaN
            raise ValueError("Recent.histogram has a negative or NaN weight")

    @property
    def outcomes(self) -> float:
        return self.successes + self.failures


def first(successes: int, failures: int, histogram: Sequence[int], decay: Decay) -> Recent:
    """The recency state of a row first seen with these cumulative counters."""
    share = decay.history_share(successes + failures)
    return Recent(successes * share, failures * share, tuple(c * share for c in histogram))


@dataclass(frozen=True, slots=True)
class Rows:
    """Successes, failures and histograms of many rows: one entry (histogram row) per row."""

    successes: Vector
    failures: Vector
    histograms: Matrix

    def __post_init__(self) -> None:
        n = len(self.successes)
        if len(self.failures) != n or self.histograms.ndim != 2 or len(self.histograms) != n:
            raise ValueError(
                f"Rows: {n} successes, {len(self.failures)} failures and a histogram matrix of "
                f"shape {self.histograms.shape} do not describe the same rows"
            )


def advance(current: Rows, seen: Rows, recent: Rows, elapsed: Vector, decay: Decay) -> Rows:
    """Every row's recency state after one tick.

    ``current`` are the cumulative counters now, ``seen`` those of the last tick and ``recent``
    the weighted sums then, ``elapsed`` the seconds since; NaN in ``elapsed`` marks a row with
    no state yet, which starts from its history (`first`). A counter that went down (metrics
    reset by hand) means everything it holds now is new; a histogram bucket alone never does.
    """
    import numpy as np

    known = ~np.isnan(elapsed)
    factor = 0.5 ** (np.clip(np.nan_to_num(elapsed), 0.0, None) / decay.half_life_seconds)
    counted = (current.successes >= seen.successes) & (current.failures >= seen.failures)
    outcomes = current.successes + current.failures
    share = np.where(
        outcomes > decay.history_weight,
        decay.history_weight / np.maximum(outcomes, 1.0),
        1.0,
    )

    def column(now: Any, then: Any, weighted: Any) -> Any:
        rows = (slice(None),) + (None,) * (now.ndim - 1)  # per-row values against a matrix
        gained = np.where(counted[rows], np.clip(now - then, 0.0, None), now)
        return np.where(known[rows], weighted * factor[rows] + gained, now * share[rows])

    return Rows(
        column(current.successes, seen.successes, recent.successes),
        column(current.failures, seen.failures, recent.failures),
        column(current.histograms, seen.histograms, recent.histograms),
    )
