"""Recency-weighted outcomes: the running, decayed sums the learner keeps per row."""

from __future__ import annotations

import math

import numpy as np
import pytest

from routelearn.domain import latency
from routelearn.domain.recency import Decay, Recent, Rows, advance, first

B = latency.NUM_BUCKETS
DECAY = Decay(half_life_seconds=60.0, history_weight=100.0)


def rows(*entries: tuple[float, float, list[float]]) -> Rows:
    """Rows from (successes, failures, histogram head) entries."""
    return Rows(
        np.array([e[0] for e in entries], dtype=float),
        np.array([e[1] for e in entries], dtype=float),
        np.array([e[2] + [0.0] * (B - len(e[2])) for e in entries], dtype=float),
    )


def one(current: tuple[float, float, list[float]], seen: tuple[float, float, list[float]],
        recent: tuple[float, float, list[float]], elapsed: float) -> Rows:  # fmt: skip
    return advance(rows(current), rows(seen), rows(recent), np.array([elapsed]), DECAY)


def test_a_tick_decays_the_sums_by_the_time_that_passed_and_adds_the_new_outcomes() -> None:
    # One half-life later: the old weighted 40/10 count 20/5, plus 7/3 new outcomes.
    after = one((107, 23, [5, 9]), (100, 20, [4, 6]), (40, 10, [2, 8]), 60.0)
    assert after.successes[0] == pytest.approx(20 + 7)
    assert after.failures[0] == pytest.approx(5 + 3)
    assert after.histograms[0][:3].tolist() == pytest.approx([1 + 1, 4 + 3, 0])


def test_ticks_at_any_spacing_give_the_same_weights() -> None:
    # Outcomes gained at t=0 and t=20 s, read at t=60 s, whether in one late tick or three.
    start = rows((10, 0, [10]))
    after_20 = advance(rows((15, 0, [15])), start, start, np.array([20.0]), DECAY)
    step = advance(rows((15, 0, [15])), rows((15, 0, [15])), after_20, np.array([40.0]), DECAY)
    expected = 10 * 0.5 ** (60 / 60) + 5 * 0.5 ** (40 / 60)
    assert step.successes[0] == pytest.approx(expected)
    assert step.histograms[0][0] == pytest.approx(expected)


def test_a_row_seen_for_the_first_time_starts_from_its_history_capped() -> None:
    busy = rows((9000, 1000, [10_000]))
    small = rows((30, 10, [40]))
    both = Rows(
        np.concatenate([busy.successes, small.successes]),
        np.concatenate([busy.failures, small.failures]),
        np.concatenate([busy.histograms, small.histograms]),
    )
    zeros = rows((0, 0, []), (0, 0, []))
    started = advance(both, zeros, zeros, np.array([math.nan, math.nan]), DECAY)
    # 10,000 outcomes weigh 100 in all, at their own rate; 40 weigh 40.
    assert started.successes.tolist() == pytest.approx([90.0, 30.0])
    assert started.failures.tolist() == pytest.approx([10.0, 10.0])
    assert started.histograms[:, 0].tolist() == pytest.approx([100.0, 40.0])
    # The same start as `first`, the form a policy uses for evidence without a state.
    for i, (s, f, h) in enumerate([(9000, 1000, 10_000), (30, 10, 40)]):
        one_row = first(s, f, [h] + [0] * (B - 1), DECAY)
        assert (one_row.successes, one_row.failures) == pytest.approx(
            (started.successes[i], started.failures[i])
        )
        assert list(one_row.histogram) == pytest.approx(started.histograms[i].tolist())


def test_counters_reset_by_hand_count_what_they_hold_as_new() -> None:
    after = one((5, 1, [6]), (100, 20, [120]), (40, 10, [50]), 60.0)
    assert after.successes[0] == pytest.approx(20 + 5)
    assert after.failures[0] == pytest.approx(5 + 1)
    assert after.histograms[0][0] == pytest.approx(25 + 6)


def test_a_histogram_bucket_never_adds_a_negative_gain() -> None:
    after = one((101, 20, [3, 9]), (100, 20, [4, 8]), (0, 0, [0, 0]), 0.0)
    assert after.histograms[0][:2].tolist() == [0.0, 1.0]


def test_a_clock_that_went_back_does_not_inflate_the_sums() -> None:
    after = one((100, 20, []), (100, 20, []), (40, 10, []), -30.0)
    assert (after.successes[0], after.failures[0]) == (40.0, 10.0)


def test_with_no_new_outcomes_the_sums_only_decay_toward_zero() -> None:
    after = one((100, 20, [120]), (100, 20, [120]), (40, 10, [50]), 600.0)
    assert after.successes[0] == pytest.approx(40 / 1024)
    assert after.histograms[0][0] == pytest.approx(50 / 1024)


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="half_life_seconds must be > 0"):
        Decay(half_life_seconds=0)
    with pytest.raises(ValueError, match="history_weight must be >= 0"):
        Decay(history_weight=-1)
    with pytest.raises(ValueError, match="successes and failures must be >= 0"):
        Recent(-1.0, 0.0)
    with pytest.raises(ValueError, match="successes and failures must be >= 0"):
        Recent(math.nan, 0.0)
    with pytest.raises(ValueError, match="negative or NaN"):
        Recent(1.0, 0.0, [1.0, -0.5])
    with pytest.raises(ValueError, match="do not describe the same rows"):
        Rows(np.zeros(2), np.zeros(3), np.zeros((2, B)))
