"""The score learner on the real database: changes, versions, history, the lock, the task."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, text

from routelearn.constants import LEARN_SCORES_TASK
from routelearn.domain.policy import make_policy
from routelearn.service.app import RouteLearnCelery
from routelearn.service.ingestion import Ingestor
from routelearn.store.learner import LEARNER_LOCK, run_learner, snapshot_windows
from tests.conftest import count
from tests.factories import decision_pair
from tests.services import wait_for

pytestmark = pytest.mark.integration


def ingest_model(engine: Engine, model: str, success_rate: float, n: int, ms: float) -> None:
    rng = random.Random(model)
    events = []
    for _ in range(n):
        outcome = "success" if rng.random() < success_rate else "failure"
        events += decision_pair(outcome, model=model, response_time_ms=ms)
    Ingestor(engine).ingest(events, "test")


def run(engine: Engine, policy: str = "calibrated") -> Any:
    return run_learner(engine, make_policy(policy), default_score=2.5, keep_snapshots_seconds=600)


def scores(engine: Engine) -> dict[str, tuple[float, int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT model_name, score, version, source FROM model_scores"))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_learner_moves_scores_by_the_evidence_and_records_history(
    engine: Engine, clean: None
) -> None:
    ingest_model(engine, "good", 0.98, 300, 300.0)
    ingest_model(engine, "bad", 0.5, 300, 3000.0)
    result = run(engine)
    assert result.ran and result.considered == 2
    got = scores(engine)
    assert got["good"][0] > 2.5 and got["bad"][0] < 2.5
    assert got["good"][1:] == (1, "learner") and got["bad"][1:] == (1, "learner")
    assert {c.model for c in result.changes} == {"good", "bad"}
    with engine.connect() as conn:
        history = conn.execute(
            text("SELECT model_name, version, old_score, policy FROM score_history ORDER BY 1")
        ).fetchall()
    assert [tuple(h) for h in history] == [
        ("bad", 1, 2.5, "calibrated"),
        ("good", 1, 2.5, "calibrated"),
    ]
    assert count(engine, "metric_snapshots") == 2 and count(engine, "learner_runs") == 1


def test_calibrated_reaches_a_fixed_point_on_unchanged_evidence(
    engine: Engine, clean: None
) -> None:
    ingest_model(engine, "good", 0.98, 300, 300.0)
    trail = []
    for _ in range(12):
        run(engine)
        trail.append(scores(engine)["good"][0])
    assert trail == sorted(trail)  # only up, toward the target
    assert trail[-1] == trail[-2] == trail[-3]  # then it stays: no drift
    assert trail[-1] > 4.0


def test_a_second_learner_waits_its_turn(engine: Engine, clean: None) -> None:
    ingest_model(engine, "good", 0.98, 50, 300.0)
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LEARNER_LOCK})
        try:
            assert run(engine).ran is False
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEARNER_LOCK})
    assert run(engine).ran is True


def test_learner_task_runs_on_a_real_worker(
    worker: Any, celery_app: RouteLearnCelery, engine: Engine
) -> None:
    ingest_model(engine, "good", 0.98, 50, 300.0)
    celery_app.send_task(LEARN_SCORES_TASK)
    wait_for(lambda: count(engine, "learner_runs") == 1, message="a learner run")
    assert scores(engine)["good"][1] == 1


def test_snapshots_are_kept_as_long_as_the_anomaly_sweep_needs_them(
    engine: Engine, clean: None
) -> None:
    ingest_model(engine, "m", 0.9, 10, 100.0)

    def tick(keep: float) -> None:
        run_learner(
            engine, make_policy("calibrated"), default_score=2.5, keep_snapshots_seconds=keep
        )

    tick(600.0)
    tick(600.0)
    tick(600.0)
    assert count(engine, "metric_snapshots") == 3  # kept for the sweep's 10 minutes
    tick(0.0)
    assert count(engine, "metric_snapshots") == 1  # only the one just taken


def state(engine: Engine) -> dict[str, tuple[int, int, float, float, list[float]]]:
    """recent_outcomes by model: seen counts, weighted counts, weighted histogram."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT model_name, seen_success_count, seen_failure_count, weighted_successes,"
                " weighted_failures, weighted_histogram FROM recent_outcomes"
            )
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3], r[4], np.frombuffer(r[5], dtype="<f8").tolist()) for r in rows}


def test_the_learner_keeps_recency_weighted_outcomes_decayed_by_real_time(
    engine: Engine, clean: None
) -> None:
    ingest_model(engine, "busy", 1.0, 400, 300.0)  # more than the 100 history may weigh
    ingest_model(engine, "quiet", 1.0, 30, 300.0)
    run(engine)
    first = state(engine)
    assert first["busy"][:4] == pytest.approx((400, 0, 100.0, 0.0))  # history capped
    assert first["quiet"][:4] == pytest.approx((30, 0, 30.0, 0.0))
    assert sum(first["busy"][4]) == pytest.approx(100.0)  # latencies weighted alike
    # One half-life (180 s, calibrated's default) passes; busy gets 50 new outcomes.
    with engine.begin() as conn:
        conn.execute(text("UPDATE recent_outcomes SET as_of = as_of - interval '180 seconds'"))
    events = []
    for _ in range(50):
        events += decision_pair("failure", model="busy", response_time_ms=300.0)
    Ingestor(engine).ingest(events, "test")
    run(engine)
    second = state(engine)
    assert second["busy"][:4] == pytest.approx((400, 50, 50.0, 50.0), rel=1e-3)
    assert second["quiet"][2] == pytest.approx(15.0, rel=1e-3)
    with engine.begin() as conn:  # a pair whose metrics are gone leaves the state with them
        conn.execute(text("DELETE FROM model_routing_metrics WHERE model_name = 'quiet'"))
    run(engine)
    assert set(state(engine)) == {"busy"}


def test_a_prompt_tick_barely_decays_a_late_one_decays_by_the_time_that_passed(
    engine: Engine, clean: None
) -> None:
    ingest_model(engine, "m", 0.9, 60, 300.0)
    run(engine)
    seen, _, successes, _, _ = state(engine)["m"]
    assert successes == pytest.approx(seen)  # 60 outcomes: under the history cap, whole
    run(engine)  # a moment later: almost no decay
    assert state(engine)["m"][2] == pytest.approx(successes, rel=1e-3)
    with engine.begin() as conn:
        conn.execute(text("UPDATE recent_outcomes SET as_of = as_of - interval '360 seconds'"))
    run(engine)  # two half-lives
    assert state(engine)["m"][2] == pytest.approx(successes / 4, rel=1e-3)


def test_each_tick_estimates_every_row_for_the_routers(engine: Engine, clean: None) -> None:
    from routelearn.store import estimates

    ingest_model(engine, "good", 0.98, 300, 300.0)
    ingest_model(engine, "thin", 0.9, 25, 300.0)
    result = run(engine)
    assert result.estimates is not None and result.estimates.policy == "calibrated"
    good = result.estimates.of("good", "complex")
    thin = result.estimates.of("thin", "complex")
    assert good is not None and thin is not None
    assert good.mean > 4.0 and thin.mean < good.mean
    assert thin.spread > 2 * good.spread  # 25 outcomes say less than 300
    # classic has no posterior: an empty report, stored too, replaces the calibrated one.
    empty = run(engine, "classic").estimates
    assert empty is not None and empty.policy == "classic" and not empty.estimates
    with engine.connect() as conn:
        assert estimates.read(conn) == empty


def outcomes(engine: Engine, successes: int, failures: int, model: str = "m") -> None:
    """``successes`` then ``failures`` outcomes of ``model`` (300 ms each), ingested."""
    events = []
    for outcome in ["success"] * successes + ["failure"] * failures:
        events += decision_pair(outcome, model=model, response_time_ms=300.0)
    Ingestor(engine).ingest(events, "test")


def age_snapshots(engine: Engine, seconds: float) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE metric_snapshots SET taken_at = taken_at - make_interval(secs => :s)"),
            {"s": seconds},
        )


def windowed_tick(
    engine: Engine, before_window: float | None = None, short: tuple[float, ...] = ()
) -> Any:
    """A tick with a 30 s change window (and ``before_window``'s segment before it, and
    ``short`` windows)."""
    return run_learner(
        engine,
        make_policy("calibrated"),
        default_score=2.5,
        keep_snapshots_seconds=600,
        change_window_seconds=30,
        before_window_seconds=before_window,
        short_window_seconds=short,
    )


def test_a_recovery_is_judged_on_the_outcomes_since_the_change_window(
    engine: Engine, clean: None
) -> None:
    """A bad spell, then a snapshot older than the change window, then a run of successes: the
    tick compares the outcomes since that snapshot with the older ones and follows them."""
    ingest_model(engine, "m", 0.5, 60, 300.0)
    windowed_tick(engine)
    low = scores(engine)["m"][0]
    assert low < 1.5
    age_snapshots(engine, 40)  # that tick's snapshot is now older than the window
    outcomes(engine, 30, 0)
    result = windowed_tick(engine)
    (change,) = [c for c in result.changes if c.model == "m"]
    assert "outcomes of the change window" in change.decision.reason
    assert change.decision.new_score > 4.0


@pytest.mark.parametrize("before_window", [None, 90.0])
def test_a_recovery_after_a_good_past_is_found_against_the_segment_before_the_window(
    engine: Engine, clean: None, before_window: float | None
) -> None:
    """A good record, a bad spell, then a short run of successes: against the whole older
    evidence the run is too short to tell, against the bad spell (the counters between the
    snapshot older than the segment before the window and the one older than the window) it is
    a change back. The spell's tick runs without change tests, so the spell stays mixed into
    the weighted sums, as one that came in too slowly for any window would (a spell a window
    finds restarts the sums from it, and the whole older evidence is then the spell)."""

    def tick() -> Any:
        return windowed_tick(engine, before_window)

    ingest_model(engine, "m", 0.97, 300, 300.0)
    tick()
    age_snapshots(engine, 100)  # older than the segment before the window
    outcomes(engine, 25, 15)  # a spell
    run(engine)  # no change window: nothing restarts the sums
    age_snapshots(engine, 40)  # that tick's snapshot: older than the window, not than before
    outcomes(engine, 12, 0)
    changed = [c for c in tick().changes if c.model == "m"]
    if before_window is None:  # judged on its weighted sums: a change, if any, by them
        assert all("outcomes of the change window" not in c.decision.reason for c in changed)
    else:
        (change,) = changed
        assert "success 0.9" in change.decision.reason
        assert "outcomes of the change window" in change.decision.reason


@pytest.mark.parametrize("short", [(), (10.0, 20.0)])
def test_a_recovery_one_tick_old_is_found_in_the_last_tick(
    engine: Engine, clean: None, short: tuple[float, ...]
) -> None:
    """A good record, a bad spell over several ticks, then one tick of successes: the change
    window is still mostly the spell, the last tick alone (since the snapshot older than the
    short window) disagrees with everything before it, and the row is judged on it."""

    def tick() -> Any:
        return windowed_tick(engine, 90.0, short)

    ingest_model(engine, "m", 0.97, 300, 300.0)
    tick()
    age_snapshots(engine, 100)  # older than the segment before the window
    outcomes(engine, 25, 15)
    tick()
    age_snapshots(engine, 40)  # older than the window
    outcomes(engine, 7, 7)
    tick()
    age_snapshots(engine, 12)  # older than the short window only
    outcomes(engine, 12, 0)
    (change,) = [c for c in tick().changes if c.model == "m"]
    if short:
        assert "over 12.0 outcomes of the last tick" in change.decision.reason
        assert change.decision.new_score > 4.0
    else:  # judged on its weighted sums, the spell still in them
        assert "weighted outcomes" in change.decision.reason
        assert change.decision.new_score < 4.0


def test_a_detected_change_restarts_the_weighted_sums(engine: Engine, clean: None) -> None:
    """A busy good model degrades: the tick that finds it judges the row on the window and
    keeps only the window's outcomes as its weighted sums. Then it loses its traffic (two
    outcomes a tick, too few for any change test): it stays judged on its spell, not carried
    back up by its good past."""
    ingest_model(engine, "m", 0.97, 300, 300.0)
    windowed_tick(engine, 90.0)
    age_snapshots(engine, 40)
    outcomes(engine, 12, 18)  # a spell
    (cut,) = [c for c in windowed_tick(engine, 90.0).changes if c.model == "m"]
    assert "over 30.0 outcomes of the change window" in cut.decision.reason
    kept = state(engine)["m"][2:4]  # the weighted successes and failures
    assert kept == (12.0, 18.0)  # the window's counts, not the good past's ~100
    for _ in range(3):
        age_snapshots(engine, 40)
        outcomes(engine, 1, 1)
        windowed_tick(engine, 90.0)
        assert scores(engine)["m"][0] < cut.decision.new_score + 0.5


def test_the_task_asks_for_the_last_tick_and_the_last_two() -> None:
    windows = snapshot_windows(60.0, 600.0)
    assert windows["short_window_seconds"] == (30.0, 90.0)
    assert windows["change_window_seconds"] == 150.0
    assert windows["before_window_seconds"] == 510.0


def test_the_api_router_explores_by_the_estimates_the_learner_stored(
    engine: Engine, clean: None, settings: Any
) -> None:
    """The central router behind POST /api/route gets no fan-out: it reads the learner's latest
    report from learner_estimates on its refresh; a stored report that does not validate is
    skipped (logged), not a failed refresh."""
    from routelearn.api.central import CentralRouter
    from routelearn.store import estimates

    ingest_model(engine, "good", 0.98, 300, 300.0)
    result = run(engine)
    with engine.connect() as conn:
        stored = estimates.read(conn)
    assert stored is not None and stored == result.estimates

    class Sink:
        def publish(self, event: dict[str, Any]) -> bool:
            return True

    central = CentralRouter(settings, engine, Sink())
    central.refresh()
    assert central.catalog.estimates.report == stored
    run(engine)  # a newer report replaces the one held at the next refresh
    central.refresh()
    newer = central.catalog.estimates.report
    assert newer is not None and newer.as_of > stored.as_of
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE learner_estimates SET as_of = as_of + interval '1 minute',"
                " report = jsonb_set(report, '{models}', '{\"m\": {\"complex\": [9, 0]}}')"
            )
        )
    assert central.refresh() is False  # no registry or score change; the refresh still ran
    assert central.catalog.estimates.report == newer
