"""The ``calibrated`` policy: a target set by the evidence, approached in bounded steps."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import numpy as np
import pytest

from routelearn.domain import latency
from routelearn.domain.policy import (
    DEFAULT_POLICY,
    CalibratedParams,
    CalibratedPolicy,
    ClassicParams,
    ClassicPolicy,
    Evidence,
    EvidenceBatch,
    Policy,
    make_policy,
)
from routelearn.domain.policy.calibrated import assess, decide, state_after
from routelearn.domain.policy.classic import SEED_000
from routelearn.domain.policy.classic import decide as classic_decide
from routelearn.domain.recency import Decay, Recent, Rows, advance

FAST = {300.0: 0.95, 450.0: 0.05}  # p95 about 450 ms at most
SLOW = {1500.0: 0.5, 3000.0: 0.5}  # p50 1.5 s, p95 3 s


@dataclass(frozen=True)
class Window:
    """Outcomes counted during one learner tick (a minute unless told otherwise)."""

    successes: int
    failures: int
    histogram: tuple[int, ...] = ()


def histogram(n: int, shape: dict[float, float]) -> tuple[int, ...]:
    counts = latency.empty()
    left = n
    for ms, share in shape.items():
        k = min(left, round(n * share))
        counts[latency.bucket_of(ms)] += k
        left -= k
    counts[latency.bucket_of(max(shape))] += left
    return tuple(counts)


def window(n: int, rate: float, shape: dict[float, float] = FAST) -> Window:
    successes = round(n * rate)
    return Window(successes, n - successes, histogram(n, shape))


def _row(w: Window) -> Rows:
    h = list(w.histogram) or [0] * latency.NUM_BUCKETS
    return Rows(np.array([w.successes], float), np.array([w.failures], float), np.array([h], float))


def add(a: Window, b: Window) -> Window:
    ha, hb = a.histogram or tuple(latency.empty()), b.histogram or tuple(latency.empty())
    return Window(
        a.successes + b.successes,
        a.failures + b.failures,
        tuple(x + y for x, y in zip(ha, hb, strict=True)),
    )


def weigh(windows: list[Window], old: Window | None, decay: Decay, window_seconds: float) -> Recent:
    """What the learner's recency state holds after seeing ``old`` at its first tick, then one
    tick per window (recency.advance, as the learner calls it)."""
    total = old or Window(0, 0)
    state = advance(_row(total), _row(total), _row(total), np.array([np.nan]), decay)
    for w in windows:
        grown = add(total, w)
        state = advance(_row(grown), _row(total), state, np.array([window_seconds]), decay)
        total = grown
    return Recent(float(state.successes[0]), float(state.failures[0]), state.histograms[0].tolist())


def build(
    windows: list[Window],
    score: float = 2.5,
    old: Window | None = None,
    *,
    decay: Decay | None = None,
    window_seconds: float = 60.0,
) -> Evidence:
    """Totals = older outcomes (``old``) plus the windows, as the learner's counters hold them;
    ``recent`` as the learner weighs them, ``old`` first seen, then a window a tick."""
    parts = [*windows, *([old] if old else [])]
    return Evidence(
        model="gpt-4o",
        complexity="complex",
        current_score=score,
        successes=sum(w.successes for w in parts),
        failures=sum(w.failures for w in parts),
        histogram=tuple(
            sum(w.histogram[b] for w in parts if w.histogram) for b in range(latency.NUM_BUCKETS)
        ),
        recent=weigh(windows, old, decay or CalibratedParams().decay, window_seconds),
    )


def steady(rate: float, per_minute: int = 100, shape: dict[float, float] = FAST) -> Evidence:
    """An hour at a constant rate: 15 recent one-minute windows and 45 minutes before them."""
    return build([window(per_minute, rate, shape)] * 15, old=window(45 * per_minute, rate, shape))


def settle_on(ev: Evidence, ticks: int = 30) -> tuple[float, list[bool]]:
    """Run the learner ``ticks`` times on unchanged evidence; the final score and what changed."""
    changes = []
    for _ in range(ticks):
        d = decide(ev)
        changes.append(d.changed)
        ev = replace(ev, current_score=d.new_score)
    return ev.current_score, changes


@pytest.mark.parametrize("start", [0.0, 2.5, 5.0])
def test_unchanged_evidence_reaches_a_fixed_point_and_stays(start: float) -> None:
    ev = replace(steady(0.97), current_score=start)
    target = assess(ev).target
    final, changes = settle_on(ev)
    assert abs(final - target) <= 0.1
    assert not any(changes[12:])  # moved for a few ticks (at most 0.5 each), then stopped
    again = decide(replace(ev, current_score=final))
    assert not again.changed
    assert again.new_score == final


def test_contrast_with_the_seed_rules_that_drift() -> None:
    # The same 97% / 300 ms model, 30 ticks with nothing new: the seed's rules walk it to the
    # bound (and would keep pushing), calibrated settles where the evidence puts it.
    ev = replace(steady(0.97), current_score=2.0, mean_response_ms=300.0)
    seed_score = ev.current_score
    for _ in range(30):
        seed_score = classic_decide(replace(ev, current_score=seed_score), SEED_000).new_score
    assert seed_score == 5.0
    final, _ = settle_on(ev)
    assert 4.5 <= final <= 4.8


def test_a_good_model_scores_high_and_a_poor_one_clearly_lower() -> None:
    good, _ = settle_on(steady(0.98))
    poor, _ = settle_on(steady(0.80))
    assert good >= 4.5
    assert good - poor > 1.0
    assert poor < 3.5


def test_the_prior_ranks_3_of_3_below_970_of_1000() -> None:
    few_evidence = build([Window(3, 0, histogram(3, FAST))])
    few = assess(few_evidence)
    many = assess(build([], old=window(1000, 0.97)))
    # Two pseudo-outcomes at the rate the current score stands for: (3 + 2 * r0) / (3 + 2).
    r0 = 0.5 + 0.5 * few_evidence.current_score / 5
    assert few.success_rate == pytest.approx((3 + 2 * r0) / 5)
    plain = assess(few_evidence, CalibratedParams(prior_from_score=False))
    assert plain.success_rate == pytest.approx(0.8)  # Beta(1, 1): (3 + 1) / (3 + 2)
    assert many.success_rate > 0.95  # history counts as at most 100 outcomes
    assert few.target < many.target
    assert few.confidence < many.confidence
    # And 3 outcomes are too few to move a score at all.
    assert not decide(build([Window(3, 0, histogram(3, FAST))])).changed
    assert decide(build([], old=window(1000, 0.97))).changed


def test_a_rarely_used_model_keeps_its_score_where_its_evidence_puts_it() -> None:
    # 12 outcomes a tick at a true 0.93 (a runner-up seen only through exploration): the
    # Beta(1, 1) prior reads it low and walks its score down; the score-centred prior does not.
    sparse = [Window(11, 1, histogram(12, FAST)) for _ in range(15)]

    def settle(params: CalibratedParams) -> float:
        score = 4.3
        for _ in range(30):
            d = decide(build(sparse, score=score), params)
            score = d.new_score
        return score

    assert settle(CalibratedParams()) > 4.1  # 11/12 = 0.917 stands for 4.17
    assert settle(CalibratedParams(prior_from_score=False)) < settle(CalibratedParams())


def test_worse_latency_lowers_the_score() -> None:
    fast, slow = assess(steady(0.98)), assess(steady(0.98, shape=SLOW))
    assert fast.p95_ms is not None and fast.p95_ms <= 450
    assert slow.p95_ms is not None and slow.p95_ms > 2500
    assert fast.success_rate == slow.success_rate
    assert slow.latency_factor < fast.latency_factor == 1.0
    assert slow.target < fast.target - 0.5
    assert settle_on(steady(0.98, shape=SLOW))[0] < settle_on(steady(0.98))[0]


def test_degradation_costs_more_than_a_point_within_three_ticks() -> None:
    windows = [window(100, 0.98)] * 15
    old = window(4500, 0.98)
    start, _ = settle_on(build(windows, old=old))
    score = start
    for _ in range(3):  # one tick a minute; each minute brings a window at 60% success
        oldest, windows = windows[0], [*windows[1:], window(100, 0.60)]
        old = add(old, oldest)
        decision = decide(build(windows, score, old))
        assert decision.changed
        score = decision.new_score
    assert start - score > 1.0


def test_outcomes_weigh_by_their_age() -> None:
    # The older window is one half-life old: its 10 failures count as 5.
    ev = build([Window(0, 10), Window(10, 0)], window_seconds=180.0)
    a = assess(ev)
    assert a.successes == 10.0
    assert a.failures == 5.0


def test_a_quiet_model_keeps_its_score() -> None:
    # No outcome in the last 15 minutes: the history counts for little (100 outcomes at most at
    # first sight, decayed by 15 minutes at a 3-minute half-life), and the
    # score stays where it is, high or low: an idle model neither drifts nor falls to a prior.
    quiet = build([Window(0, 0)] * 15, old=window(6000, 0.98))
    assert assess(quiet).effective_samples == pytest.approx(100.0 * 0.5**5)
    for score in (4.7, 2.5, 1.0):
        assert not decide(replace(quiet, current_score=score)).changed


def test_a_model_that_turned_bad_is_not_carried_back_up_by_its_past() -> None:
    # 6,000 good outcomes long ago, then 15 windows of sparse, poor ones (what exploration sees
    # of a model that lost its traffic): the score follows the recent outcomes down.
    turned = build([Window(2, 2)] * 15, old=window(6000, 0.98), score=3.0)
    assert assess(turned).target < 2.0
    assert decide(turned).new_score < 3.0


def test_a_new_models_first_few_dozen_successes_lift_it_in_one_tick() -> None:
    # 30 outcomes, all successes, over two 5 s ticks, at the default score: the band (target
    # within 2 spreads) rules 2.5 out, so the score goes to the target at once. With the
    # bounded step alone (band_z=0) it would climb 0.5 * confidence a tick.
    decay = Decay(15.0, 100.0)
    ev = build([Window(15, 0, histogram(15, FAST))] * 2, 2.5, decay=decay, window_seconds=5.0)
    a = assess(ev)
    assert a.target > 4.5
    assert a.target - 2 * a.spread > 2.5
    jumped = decide(ev)
    assert jumped.new_score == pytest.approx(a.target, abs=1e-6)
    assert "outside the band" in jumped.reason
    bounded = decide(ev, CalibratedParams(band_z=0.0))
    assert bounded.new_score == pytest.approx(2.5 + 0.5 * a.confidence, abs=1e-6)


def test_the_spread_narrows_with_evidence() -> None:
    spreads = [assess(build([], old=window(n, 0.95))).spread for n in (0, 5, 20, 100, 1000)]
    assert spreads == sorted(spreads, reverse=True)
    assert spreads[0] > 1.0  # no evidence: the prior alone, wide
    assert spreads[-1] < 0.3


def test_weak_evidence_still_moves_by_bounded_steps() -> None:
    # Three recent successes of a model at 1.0 (lots of history long ago): the target is far
    # above, but three outcomes do not rule 1.0 out: the step stays bounded.
    ev = build([Window(1, 0)] * 3, 1.0, old=window(40, 0.6), window_seconds=60.0)
    a = assess(ev)
    assert abs(a.target - 1.0) <= 2 * a.spread
    d = decide(ev)
    assert d.new_score - d.old_score <= 0.5 * a.confidence + 1e-9


def then_window(older: Window, score: float, successes: int, failures: int) -> Evidence:
    """``older`` outcomes (a tick a minute ago), then the change window's: in the totals and the
    recency sums at full weight, and as ``window``, as the learner hands them over."""
    ev = build([older], score, window_seconds=60.0)
    assert ev.recent is not None
    r = ev.recent
    return replace(
        ev,
        successes=ev.successes + successes,
        failures=ev.failures + failures,
        recent=Recent(r.successes + successes, r.failures + failures, r.histogram),
        window=(successes, failures),
    )


def test_a_recovery_is_judged_on_the_change_window() -> None:
    # 40 weighted outcomes at 60% (a degraded spell), then the last three ticks: 25 of 25.
    # Against the older 15 of 35, the window says the model changed: it is judged on the window
    # alone, and the band sends the score up at once.
    recovered = then_window(Window(15, 20), 1.5, 25, 0)
    a = assess(recovered)
    assert a.shifted
    assert (a.successes, a.failures) == (25, 0)
    assert a.target > 4.5
    d = decide(recovered)
    assert d.new_score == pytest.approx(a.target, abs=1e-6)
    assert "outcomes of the change window" in d.reason
    # Without the window (or with detection off) the old spell still weighs: a target near 3.
    for unchanged in (replace(recovered, window=None), recovered):
        params = CalibratedParams() if unchanged.window is None else CalibratedParams(shift_g=0)
        b = assess(unchanged, params)
        assert not b.shifted
        assert b.target < 3.5


def test_rise_g_is_the_threshold_for_a_change_for_the_better_alone() -> None:
    # 15 of 15 after 20 of 25, and 10 of 15 after 24 of 25: each a G between 3.84 (p = 0.05)
    # and the default 6.63 (p = 0.01). With rise_g at 3.84 the rise is a change, the fall not.
    rose = then_window(Window(20, 5), 3.0, 15, 0)
    fell = then_window(Window(24, 1), 4.6, 10, 5)
    lax = CalibratedParams(rise_g=3.84)
    assert not assess(rose).shifted and not assess(fell).shifted
    assert assess(rose, lax).shifted
    assert (assess(rose, lax).successes, assess(rose, lax).failures) == (15, 0)
    assert not assess(fell, lax).shifted
    assert assess(fell, CalibratedParams(shift_g=3.84)).shifted
    assert not assess(rose, CalibratedParams(shift_g=0.0, rise_g=3.84)).shifted  # all off


def test_each_comparison_passes_its_own_threshold_then_the_largest_statistic_wins() -> None:
    # A flapping row: the window (24 of 30) is better than the six ticks before it (10 of 20),
    # G 4.94 (above a rise_g of 3.84), but its last tick (1 of 6) is worse than everything before
    # it, G 7.79 (above shift_g, 6.63). The fall is the clearer change: judged on the last
    # tick, though the rise is further above its own threshold in units of it (1.29 to 1.17).
    lax = CalibratedParams(rise_g=3.84)
    flapping = replace(then_window(Window(48, 12), 3.5, 24, 6), before=(10, 10))
    assert assess(flapping, lax).judged_on == 1  # the rise alone: judged on the window
    a = assess(replace(flapping, short=((1, 5), None)), lax)
    assert a.judged_on == 2, a
    assert (a.successes, a.failures) == (1, 5)


def test_a_recovery_after_a_good_past_is_found_against_the_bad_spell_before_it() -> None:
    # A long good record (300 of 315) and a bad spell (25 of 40): weighted together, 325 of
    # 355 (0.92). Then 12 of 12 in the change window: against all the older evidence too few
    # to tell, against the spell just before the window a clear change back.
    recovered = then_window(Window(325, 30), 2.0, 12, 0)
    assert not assess(recovered).shifted
    back = replace(recovered, before=(25, 15))
    a = assess(back)
    assert a.shifted
    assert (a.successes, a.failures) == (12, 0)
    assert a.target > 4.5 > assess(recovered).target  # 4.57 (12 outcomes, prior on 2.0), 4.17
    assert decide(back).new_score == pytest.approx(a.target, abs=1e-6)
    # A segment before that agrees with the window, or holds too few outcomes, changes nothing.
    for before in ((38, 2), (2, 2)):
        assert not assess(replace(recovered, before=before)).shifted
    assert not assess(back, CalibratedParams(shift_g=0)).shifted


def test_a_change_one_tick_old_is_found_in_the_last_tick() -> None:
    # A bad spell (older evidence 40 of 75; the six ticks before the window 15 of 30), then the
    # window: its first two ticks 7 of 14, its last tick 7 of 7 (recovered). The window as a
    # whole (14 of 21) is mostly the spell and tells nothing clearly; the last tick alone,
    # against the eight ticks before it (22 of 44), does.
    recovered = replace(then_window(Window(40, 35), 1.0, 14, 7), before=(15, 15))
    assert not assess(recovered).shifted
    one_tick = replace(recovered, short=((7, 0), (10, 4)))
    a = assess(one_tick)
    assert a.judged_on == 2
    assert (a.successes, a.failures) == (7, 0)
    assert a.target > assess(recovered).target + 1.0
    assert "over 7.0 outcomes of the last tick" in decide(one_tick).reason
    # A last tick that agrees with the ticks before it, or holds too few outcomes, changes
    # nothing; nor does an unknown one.
    for short in (((3, 3), (6, 8)), ((3, 0), (6, 4)), (None, None)):
        assert not assess(replace(recovered, short=short)).shifted
    assert not assess(one_tick, CalibratedParams(shift_g=0)).shifted


def test_a_row_judged_on_a_change_restarts_its_weighted_sums_from_it() -> None:
    changed = replace(then_window(Window(40, 35), 1.0, 14, 7), before=(15, 15))
    changed = replace(changed, short=((7, 0), (10, 4)))
    steady_row = replace(changed, short=((3, 3), (6, 8)))  # nothing changed
    batch = batch_of([changed, steady_row])
    state = state_after(batch)
    assert (state.successes.tolist(), state.failures.tolist()) == (
        [7.0, batch.recent.successes[1]],
        [0.0, batch.recent.failures[1]],
    )
    assert (state.histograms == batch.recent.histograms).all()
    assert make_policy("classic").state_after(batch) is None


def test_the_likeliest_change_point_is_the_one_judged_on() -> None:
    # Recovered two ticks ago: the last two ticks 14 of 14, the window's first tick 3 of 7, the
    # six ticks before 10 of 30. The window (G 12.0 against the ticks before it), the last
    # tick (9.9) and the last two (22.6) all disagree with what came before them; the last two
    # most clearly, so the row is judged on them.
    recovered = replace(
        then_window(Window(40, 35), 1.0, 17, 4), before=(10, 20), short=((7, 0), (14, 0))
    )
    for short in (((7, 0), None), (None, None)):  # without the last two: the window wins
        assert assess(replace(recovered, short=short)).judged_on == 1
    a = assess(recovered)
    assert a.judged_on == 3
    assert (a.successes, a.failures) == (14, 0)
    d = decide(recovered)
    assert d.new_score == pytest.approx(a.target, abs=1e-6)
    assert "over 14.0 outcomes of the last 2 ticks" in d.reason


@pytest.mark.parametrize(
    ("window_counts", "older"),
    [
        ((9, 1), (90, 10)),  # the same rate: no change
        ((3, 0), (15, 20)),  # too few outcomes in the window to tell
        ((30, 0), (2, 2)),  # too little older evidence to disagree with
    ],
)
def test_no_change_without_clear_evidence_of_one(
    window_counts: tuple[int, int], older: tuple[int, int]
) -> None:
    assert not assess(then_window(Window(*older), 3.0, *window_counts)).shifted


def test_the_policy_estimates_what_it_assesses() -> None:
    rows = [steady(0.98), steady(0.7, per_minute=5), build([], 3.0)]
    evidence = [replace(ev, model=f"m{i}") for i, ev in enumerate(rows)]
    batch = batch_of(evidence)
    means, spreads = CalibratedPolicy().estimate_all(batch)
    for i, ev in enumerate(evidence):
        a = assess(ev)
        assert means[i] == pytest.approx(a.target)
        assert spreads[i] == pytest.approx(a.spread)
    assert ClassicPolicy().estimate_all(batch) is None


def test_a_model_better_in_its_last_ticks_is_estimated_by_them() -> None:
    # A weak record (30 weighted outcomes at 70%), then 5 successes in the change window: too
    # few for the change test (even at a rise_g of 3.84), but exploration should ask whether
    # it is the best now.
    better = then_window(Window(21, 9), 2.5, 5, 0)
    worse = then_window(Window(21, 9), 2.5, 4, 4)
    assert not assess(better).shifted
    means, spreads = CalibratedPolicy().estimate_all(batch_of([better, worse]))
    whole = assess(better)
    assert means[0] > whole.target + 1.0
    assert spreads[0] == pytest.approx(assess(replace(better, recent=Recent(5, 0, []))).spread)
    # The window pointing lower changes nothing: the whole evidence stands.
    assert means[1] == pytest.approx(assess(worse).target)


def test_confidence_grows_with_the_samples() -> None:
    confidences = [assess(build([], old=window(n, 0.9))).confidence for n in (0, 1, 5, 20, 50)]
    assert confidences == sorted(confidences)
    assert confidences[0] == 0.0
    assert confidences[3] == pytest.approx(0.5)  # n = k = 20
    recent = [assess(build([window(n, 0.9)] * 5)).confidence for n in (1, 10, 100, 1000)]
    assert recent == sorted(recent)
    assert all(0.0 <= c < 1.0 for c in confidences + recent)


def test_scores_are_clamped_to_the_range() -> None:
    perfect = replace(build([], old=Window(10_000, 0, histogram(10_000, FAST))), current_score=4.99)
    top = decide(perfect)
    assert top.new_score <= 5.0
    awful = build([window(1000, 0.1, {20_000.0: 1.0})], score=0.05)
    assert assess(awful).target == 0.0
    assert decide(awful).new_score == 0.05  # a move of 0.05 is not published
    assert decide(replace(awful, current_score=0.3)).new_score == 0.0


def test_changes_up_to_the_threshold_are_not_published() -> None:
    ev = steady(0.98)
    target = assess(ev).target
    small = decide(replace(ev, current_score=round(target - 0.08, 3)))
    assert not small.changed
    assert small.new_score == small.old_score
    assert "not above 0.1" in small.reason
    below = replace(ev, current_score=round(target - 0.15, 3))
    larger = decide(below)
    assert larger.changed
    # The target moves a hair with the score the prior is centred on.
    assert larger.new_score == pytest.approx(assess(below).target, abs=1e-6)
    assert abs(larger.new_score - target) < 0.01


def test_random_evidence_keeps_scores_in_range_and_settles() -> None:
    rng = random.Random(20240611)
    for _ in range(500):
        windows = []
        for _ in range(rng.randrange(0, 20)):
            n = rng.choice([0, 1, 10, 200])
            shape = {rng.uniform(0.0, 200_000.0): 1.0}
            windows.append(window(n, rng.random(), shape) if n else Window(0, 0))
        older = window(rng.choice([0, 3, 500, 100_000]), rng.random(), {rng.uniform(1, 9000): 1.0})
        params = CalibratedParams(
            half_life_seconds=rng.uniform(10, 3600), max_step=rng.uniform(0.0, 6.0)
        )
        ev = build(windows, rng.uniform(0.0, 5.0), older, decay=params.decay)
        for _ in range(100):
            d = decide(ev, params)
            assert 0.0 <= d.new_score <= 5.0
            assert 0.0 <= d.confidence <= 1.0
            assert d.changed == (d.new_score != d.old_score)
            if abs(d.new_score - d.old_score) > params.max_step + 1e-6:
                # Only evidence that rules the score out moves it further: onto the target.
                a = assess(ev, params)
                assert abs(a.target - d.old_score) > params.band_z * a.spread
                assert d.new_score == pytest.approx(min(max(a.target, 0.0), 5.0), abs=1e-5)
            if not d.changed:
                break
            ev = replace(ev, current_score=d.new_score)
        assert not decide(ev, params).changed  # it converged: no drift


def test_policies_by_name() -> None:
    assert DEFAULT_POLICY == "calibrated"
    assert isinstance(make_policy("calibrated"), CalibratedPolicy)
    custom = make_policy("classic", ClassicParams(min_samples=10))
    assert isinstance(custom, ClassicPolicy)
    assert custom.name == "classic"
    assert make_policy(DEFAULT_POLICY).decide(steady(0.98)).policy == "calibrated"
    with pytest.raises(ValueError, match="unknown score policy 'bandit'"):
        make_policy("bandit")
    with pytest.raises(ValueError, match="does not take ClassicParams"):
        make_policy("calibrated", ClassicParams())


def test_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match=r"CalibratedParams\.half_life_seconds"):
        CalibratedParams(half_life_seconds=0)
    with pytest.raises(ValueError, match="half_life_seconds must be > 0, got inf"):
        CalibratedParams(half_life_seconds=float("inf"))
    with pytest.raises(ValueError, match="history_weight must be >= 0, got nan"):
        CalibratedParams(history_weight=float("nan"))
    with pytest.raises(ValueError, match="p95_good_ms < p95_bad_ms"):
        CalibratedParams(p95_good_ms=6000)
    with pytest.raises(ValueError, match="success_floor < success_full"):
        CalibratedParams(success_floor=1.0)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=r"CalibratedParams\.rise_g must be"):
            CalibratedParams(rise_g=bad)


def batch_of(rows: list[Evidence]) -> EvidenceBatch:
    """The learner's columns for these rows."""
    recents = [r.recent or Recent(0.0, 0.0) for r in rows]
    return EvidenceBatch(
        keys=[(f"m{i}", r.complexity) for i, r in enumerate(rows)],
        current_scores=np.array([r.current_score for r in rows]),
        successes=[r.successes for r in rows],
        failures=[r.failures for r in rows],
        histograms=np.array([r.histogram or latency.empty() for r in rows], dtype=np.int64),
        mean_response_ms=[r.mean_response_ms for r in rows],
        recent=Rows(
            np.array([x.successes for x in recents]),
            np.array([x.failures for x in recents]),
            np.array([list(x.histogram) or [0.0] * latency.NUM_BUCKETS for x in recents]),
        ),
        outcomes_at_last_adjustment=[r.outcomes_at_last_adjustment for r in rows],
        window_successes=np.array([np.nan if r.window is None else r.window[0] for r in rows]),
        window_failures=np.array([np.nan if r.window is None else r.window[1] for r in rows]),
        before_successes=np.array([np.nan if r.before is None else r.before[0] for r in rows]),
        before_failures=np.array([np.nan if r.before is None else r.before[1] for r in rows]),
        short=tuple(
            (
                np.array([np.nan if c is None else c[0] for c in column]),
                np.array([np.nan if c is None else c[1] for c in column]),
            )
            for column in zip(*(r.short for r in rows), strict=True)
        ),
    )


@pytest.mark.parametrize("policy", [make_policy("calibrated"), make_policy("classic")])
def test_a_whole_tick_decides_exactly_as_row_by_row(policy: Policy) -> None:
    rng = random.Random(11)
    rows = []
    for i in range(400):
        shape = {rng.uniform(1.0, 9000.0): 0.7, rng.uniform(1.0, 60_000.0): 0.3}
        windows = [window(rng.choice([0, 2, 30, 300]), rng.random(), shape) for _ in range(5)]
        older = window(rng.choice([0, 5, 200, 50_000]), rng.random(), shape)
        ev = build(windows, round(rng.uniform(0.0, 5.0), 3), older)
        if i % 7 == 0:  # no response times recorded at all
            assert ev.recent is not None
            ev = replace(ev, histogram=(), recent=replace(ev.recent, histogram=()))
        last_two = add(windows[3], windows[4])
        if i % 3:  # the last three windows as the change window, one in three unknown
            change_window = add(windows[2], last_two)
            ev = replace(
                ev,
                window=(change_window.successes, change_window.failures),
                # and the two before as the segment before it, one in five unknown
                before=None
                if i % 5 == 0
                else (
                    add(windows[0], windows[1]).successes,
                    add(windows[0], windows[1]).failures,
                ),
                # and the last one and the last two as the short windows, the last tick one in
                # eleven unknown
                short=(
                    None if i % 11 == 0 else (windows[4].successes, windows[4].failures),
                    (last_two.successes, last_two.failures),
                ),
            )
        else:
            ev = replace(ev, short=(None, None))
        rows.append(replace(ev, model=f"m{i}", mean_response_ms=rng.uniform(50, 4000)))
    one_by_one = {i: d for i, r in enumerate(rows) if (d := policy.decide(r)).changed}
    assert 50 < len(one_by_one) < 390  # the sample holds both kinds
    assert dict(policy.decide_all(batch_of(rows))) == one_by_one


def test_a_tick_near_the_threshold_decides_as_row_by_row() -> None:
    # Unrounded scores whose move is within a millionth of the 0.1 threshold: rounding to six
    # decimals decides these, so the vectorised pre-filter must pass every one to `settle`.
    ev = steady(0.98)
    edge = 2.5  # the score 0.1 below its own target (the prior moves the target a little)
    for _ in range(20):
        edge = assess(replace(ev, current_score=edge)).target - 0.1
    rows = [
        replace(ev, model=f"m{i}", current_score=edge + offset)
        for i, offset in enumerate(np.linspace(-2e-6, 2e-6, 401).tolist())
    ]
    one_by_one = {i: d for i, r in enumerate(rows) if (d := decide(r)).changed}
    assert 0 < len(one_by_one) < len(rows)  # the threshold runs through the sample
    assert dict(CalibratedPolicy().decide_all(batch_of(rows))) == one_by_one


def test_evidence_without_a_recency_state_is_taken_as_first_seen() -> None:
    bare = replace(build([], old=window(5000, 0.9)), recent=None)
    a = assess(bare)
    # 5,000 outcomes of history weigh 100 in all, at their own rate.
    assert (a.successes, a.failures) == pytest.approx((90.0, 10.0))


def test_a_batch_refuses_what_evidence_refuses() -> None:
    good = build([window(100, 0.9)])
    broken = batch_of([good, replace(good, current_score=4.0)])
    with pytest.raises(ValueError, match=r"current_score must be within \[0.0, 5.0\], got 7.5"):
        replace(broken, current_scores=np.array([2.0, 7.5]))
    with pytest.raises(ValueError, match="columns of different lengths"):
        replace(broken, successes=[1])
    # Refused whether or not the row would change, as `decide` would refuse it.
    with pytest.raises(ValueError, match=r"successes, failures .* must be >= 0 for m0/complex"):
        replace(broken, failures=[-1, 0])
    with pytest.raises(ValueError, match="mean_response_ms must be >= 0, got nan for m1"):
        replace(broken, mean_response_ms=[None, float("nan")])
    nan_recent = Rows(np.array([1.0, np.nan]), broken.recent.failures, broken.recent.histograms)
    with pytest.raises(ValueError, match="recent has a negative or NaN weight for m1/complex"):
        replace(broken, recent=nan_recent)
    with pytest.raises(ValueError, match=r"recent\.histogram has 3 buckets"):
        replace(good, recent=Recent(1.0, 0.0, [1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"before counts must be whole numbers >= 0 .* for m1"):
        replace(broken, before_successes=np.array([1.0, -2.0]), before_failures=np.zeros(2))
    with pytest.raises(ValueError, match="before_successes and before_failures go together"):
        replace(broken, before_successes=np.zeros(2), before_failures=None)
    with pytest.raises(ValueError, match=r"Evidence\.before counts must be >= 0, got \(1, -1\)"):
        replace(good, before=(1, -1))
    with pytest.raises(ValueError, match=r"Evidence\.short counts must be >= 0, got \(2, -1\)"):
        replace(good, short=((1, 0), (2, -1)))
    last_tick = (np.array([1.0, 2.0]), np.zeros(2))
    with pytest.raises(ValueError, match=r"short\[1\] counts must be whole numbers >= 0 .* for m0"):
        replace(broken, short=(last_tick, (np.array([0.5, 2.0]), np.zeros(2))))
    with pytest.raises(ValueError, match=r"short\[0\]: successes and failures go together"):
        replace(broken, short=((np.zeros(2), None),))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="columns of different lengths"):
        replace(broken, short=((np.zeros(3), np.zeros(3)),))
