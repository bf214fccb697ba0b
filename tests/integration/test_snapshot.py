"""Start-up snapshot over the broker: an instance without database access asks the workers for
every current score and is current before it applies the first update."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from routelearn.domain.score_update import ScoreUpdate
from routelearn.instance.catalog import ModelCatalog
from routelearn.instance.subscriber import ScoreUpdateSubscriber
from routelearn.messaging.fanout import fan_out
from routelearn.settings import Settings
from tests.services import ROOT, settings_env

pytestmark = [pytest.mark.integration, pytest.mark.broker]


def central_scores(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO model_scores (model_name, complexity_level, score, version) VALUES"
                " ('gpt-4o', 'complex', 4.1, 7), ('gpt-4o', 'simple', 3.3, 2),"
                " ('fleet-only', 'medium', 1.5, 4)"
            )
        )


def local_catalog() -> ModelCatalog:
    return ModelCatalog.from_config(
        {
            "version": 1,
            "models": [{"name": "gpt-4o", "provider": "openai", "scores": {"complex": 4.8}}],
        }
    )


def gpt4o_complex(
    old: float, new: float, reason: str, confidence: float, samples: int, *, version: int
) -> ScoreUpdate:
    """A learned change of gpt-4o's complex score, as the fan-out carries it."""
    return ScoreUpdate(
        timestamp=datetime.now(UTC),
        model="gpt-4o",
        complexity="complex",
        old_score=old,
        new_score=new,
        reason=reason,
        confidence=confidence,
        based_on_samples=samples,
        version=version,
    )


def test_subscriber_asks_the_workers_for_a_snapshot(
    worker: Any, engine: Engine, settings: Settings
) -> None:
    central_scores(engine)
    # A round that waited in the queue, older than the snapshot for gpt-4o/complex.
    stale = gpt4o_complex(4.8, 4.6, "older round", 0.5, 100, version=5)
    fan_out(settings, ["starting"], [stale])
    catalog = local_catalog()
    applied: list[ScoreUpdate] = []
    subscriber = ScoreUpdateSubscriber(
        settings, "starting", catalog, request_snapshot=True, on_update=applied.append
    )
    assert not subscriber.wait_until_current(0)
    subscriber.start()
    try:
        assert subscriber.wait_until_current(20), "no snapshot arrived"
    finally:
        assert subscriber.stop(10)
    assert catalog.score("gpt-4o", "complex") == 4.1 and catalog.version("gpt-4o", "complex") == 7
    assert catalog.score("gpt-4o", "simple") == 3.3
    assert catalog.score("fleet-only", "medium") == 1.5  # kept, though the file lacks it
    entry = catalog.entry("fleet-only")
    assert entry is not None and not entry.enabled  # a model the operator never configured
    # The queued round came first (FIFO) and applied; the snapshot then brought version 7.
    assert [u.version for u in applied] == [5]
    assert subscriber.stats.snapshot_done


def test_subscribe_command_prints_the_snapshot_then_updates(
    worker: Any, engine: Engine, settings: Settings
) -> None:
    central_scores(engine)
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from routelearn.cli import main; main()",
                "subscribe",
                "--instance-id",
                "demo",
                "--duration",
                "6",
            ],
            cwd=ROOT,
            env=settings_env(settings),
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        # The live update only once the snapshot is printed: sent earlier, it could reach the
        # queue ahead of the snapshot (a cold start takes seconds).
        assert proc.stdout is not None
        printed: list[str] = []
        for line in proc.stdout:  # ends at the process's exit at the latest
            printed.append(line)
            if "current scores" in line:
                break
        fan_out(
            settings,
            ["demo"],
            [gpt4o_complex(4.1, 3.9, "Learned from 300 real uses", 0.9, 300, version=8)],
        )
        # The rest through the same file object: communicate() would read the pipe beneath it
        # and miss what the loop above buffered. stderr goes to a file, so it cannot fill a pipe.
        proc.wait(timeout=30)
        out = "".join(printed) + proc.stdout.read()
        errors.seek(0)
        err = errors.read()
        assert proc.returncode == 0, err
        assert "current scores" in out and "gpt-4o: 3.30 / 2.50 / 4.10" in out
        assert "fleet-only" in out
        assert "v8 gpt-4o/complex: 4.10 -> 3.90" in out
        assert "stopped: 1 updates applied" in out
