"""The pgmq bridge with a seed instance played by nothing but SQL: ``pgmq.send`` in, a
consumer SIGKILLed mid-batch, exact counts, and the learner's updates read back with
``pgmq.read``."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from routelearn.constants import CONSUME_PGMQ_TASK, LEARN_SCORES_TASK
from routelearn.domain.pgmq_queues import DECISIONS_QUEUE, SCORE_UPDATES_QUEUE
from routelearn.service.app import RouteLearnCelery
from routelearn.service.ingestion import Ingestor
from routelearn.service.pgmq_bridge import consume_batch, drain
from routelearn.settings import Settings
from routelearn.store import pgmq
from tests.conftest import count, metrics
from tests.factories import make_event
from tests.integration.test_worker_faults import _blocked_backends, stream
from tests.services import kill_group, wait_for, worker_process

pytestmark = pytest.mark.integration

# One of each kind of bad input a seed instance could send.
MALFORMED: list[Any] = [
    "not an event",
    42,
    {"timestamp": "yesterday", "instance_id": "seed-1", "routing_decision": {}},
    {"instance_id": "seed-1"},
    make_event("success", complexity="impossible"),
]


def dsn(settings: Settings) -> str:
    return (
        make_url(settings.database_url)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


@pytest.fixture
def queues(engine: Engine, clean: None) -> Iterator[None]:
    """pgmq installed (once; the SQL install), its queues empty, no instance queue left."""
    with engine.begin() as conn:
        pgmq.install(conn)
        for queue in pgmq.queues(conn):
            if queue in (DECISIONS_QUEUE, SCORE_UPDATES_QUEUE):
                conn.exec_driver_sql("SELECT pgmq.purge_queue(%s)", (queue,))
            else:
                pgmq.drop_queue(conn, queue)
    yield


def seed_send(settings: Settings, messages: list[Any]) -> None:
    """What a seed instance does: ``pgmq.send`` each event, plain SQL, its own connection."""
    with psycopg.connect(dsn(settings)) as conn:
        for message in messages:
            conn.execute(
                "SELECT pgmq.send('model_routing_decisions', %s::jsonb)", (json.dumps(message),)
            )


def depth(engine: Engine, queue: str = DECISIONS_QUEUE) -> int:
    with engine.connect() as conn:
        return next(m.length for m in pgmq.metrics(conn) if m.queue == queue)


def test_install_is_idempotent_and_reports_how(engine: Engine, queues: None) -> None:
    with engine.begin() as conn:
        assert pgmq.install(conn) == ("sql", False)  # the fixture installed it
        assert pgmq.installed(conn) == "sql"
        assert {DECISIONS_QUEUE, SCORE_UPDATES_QUEUE} <= set(pgmq.queues(conn))


def test_a_batch_is_ingested_and_deleted_in_one_transaction(
    settings: Settings, engine: Engine, queues: None
) -> None:
    events, want, distinct = stream(random.Random(3), 300)
    seed_send(settings, events + MALFORMED)
    with psycopg.connect(dsn(settings), autocommit=True) as instance:  # SQL NULL, no JSON at all
        instance.execute("SELECT pgmq.send('model_routing_decisions', NULL::jsonb)")
    ingestor = Ingestor(engine)
    drained = drain(ingestor, batch_size=100, visibility_timeout=30, budget_seconds=60)
    assert drained.messages == len(events) + len(MALFORMED) + 1
    assert drained.counts.inserted == distinct
    assert depth(engine) == 0
    assert count(engine, "routing_records") == distinct
    assert metrics(engine) == want
    with engine.connect() as conn:
        letters = conn.execute(
            text("SELECT count(*), min(source), max(source) FROM dead_letters")
        ).one()
    assert letters == (
        len(MALFORMED) + 1,
        "pgmq:model_routing_decisions",
        "pgmq:model_routing_decisions",
    )
    assert consume_batch(ingestor, batch_size=100, visibility_timeout=30) is None


def test_a_batch_whose_transaction_fails_is_readable_again_at_once(
    settings: Settings, engine: Engine, queues: None
) -> None:
    seed_send(settings, [make_event("success", event_id=f"e{i}") for i in range(10)])
    with pytest.raises(RuntimeError), engine.begin() as conn:
        assert len(pgmq.read(conn, DECISIONS_QUEUE, 300, 100)) == 10
        raise RuntimeError("the consumer dies before its commit")
    taken = consume_batch(Ingestor(engine), batch_size=100, visibility_timeout=300)
    assert taken is not None and taken[0] == 10 and taken[1].inserted == 10


def test_consumers_at_once_take_disjoint_batches(
    settings: Settings, engine: Engine, queues: None
) -> None:
    events, want, distinct = stream(random.Random(8), 600)
    seed_send(settings, events)
    results: list[Any] = []

    def consume() -> None:
        results.append(
            drain(Ingestor(engine), batch_size=50, visibility_timeout=30, budget_seconds=60)
        )

    threads = [threading.Thread(target=consume) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.messages for r in results) == len(events)  # no message read twice
    assert sum(1 for r in results if r.messages) >= 2  # they really ran side by side
    assert metrics(engine) == want
    assert count(engine, "routing_records") == distinct


@pytest.mark.timeout(180)
def test_a_seed_instance_through_sql_alone_with_a_consumer_killed_mid_batch(
    settings: Settings, engine: Engine, queues: None, celery_app: RouteLearnCelery
) -> None:
    """The issue's proof: a corpus with duplicates, outcomes before their decisions and
    malformed events, sent with pgmq.send; the first consumer is SIGKILLed in the middle of a
    batch's transaction; a second one finishes; the counts are exact; the learner's updates
    reach the shared queue and a queue the instance registered with plain SQL."""
    events, want, distinct = stream(random.Random(21), 1500, models=("held", "m2"))
    # The first batch will stop mid-transaction on this row's lock (held below): written its
    # audit rows, not committed.
    Ingestor(engine).ingest(
        [make_event("routed", model="held", complexity="simple", event_id="seed")], source="test"
    )
    u, s, f = want.get(("held", "simple"), (0, 0, 0))
    want[("held", "simple")] = (u + 1, s, f)
    distinct += 1
    seed_send(settings, events + MALFORMED)
    with psycopg.connect(dsn(settings), autocommit=True) as instance:
        instance.execute("SELECT pgmq.create('model_score_updates_seed_a')")  # registering

    bridge = settings.model_copy(update={"pgmq_enabled": True, "pgmq_batch_size": 200})
    holder = engine.connect()
    tx = holder.begin()
    holder.execute(text("SELECT 1 FROM model_routing_metrics WHERE model_name = 'held' FOR UPDATE"))
    try:
        with worker_process(bridge, name="pgmq-crash", concurrency=1) as proc:
            celery_app.send_task(CONSUME_PGMQ_TASK)
            wait_for(
                lambda: _blocked_backends(engine) >= 1,
                timeout=30,
                message="a pgmq batch blocked mid-transaction",
            )
            kill_group(proc)
        tx.rollback()
        time.sleep(0.5)
        # Killed before its commit: nothing of it was written, and its messages are all back.
        assert depth(engine) == len(events) + len(MALFORMED)
        assert count(engine, "routing_records") == 1
        with worker_process(bridge, name="pgmq-restarted", concurrency=2):

            def drained() -> bool:
                if depth(engine):
                    celery_app.send_task(CONSUME_PGMQ_TASK)  # what beat would send
                    time.sleep(0.5)
                    return False
                return True

            wait_for(drained, timeout=90, interval=0.2, message="the queue drained")
            assert count(engine, "routing_records") == distinct
            assert metrics(engine) == want
            assert count(engine, "dead_letters") == len(MALFORMED)

            celery_app.send_task(LEARN_SCORES_TASK)
            wait_for(
                lambda: depth(engine, SCORE_UPDATES_QUEUE) > 0,
                timeout=30,
                message="score updates in pgmq",
            )
    finally:
        if tx.is_active:
            tx.rollback()
        holder.close()

    with engine.connect() as conn:
        scores = {
            (r[0], r[1]): (r[2], r[3])
            for r in conn.execute(
                text(
                    "SELECT model_name, complexity_level, score, version FROM model_scores"
                    " WHERE version > 0"
                )
            )
        }
    assert scores
    with psycopg.connect(dsn(settings), autocommit=True) as instance:
        for queue in (SCORE_UPDATES_QUEUE, "model_score_updates_seed_a"):
            rows = instance.execute(
                "SELECT msg_id, message FROM pgmq.read(%s, 30, 1000)", (queue,)
            ).fetchall()
            updates = [m for _, m in rows]
            assert {
                (u["model"], u["complexity"]): (u["new_score"], u["version"]) for u in updates
            } == scores
            for u in updates:  # seed 000's fields
                assert {
                    "timestamp",
                    "model",
                    "complexity",
                    "old_score",
                    "new_score",
                    "reason",
                    "confidence",
                    "based_on_samples",
                    "event_type",
                } <= set(u)
                assert u["event_type"] == "model_score_update"
            instance.execute("SELECT pgmq.delete(%s, %s::bigint[])", (queue, [m for m, _ in rows]))


def test_doctor_and_health_see_the_queues_and_a_stuck_decision(
    settings: Settings, engine: Engine, queues: None
) -> None:
    from routelearn.stats.checks import check_pgmq
    from routelearn.stats.probe import health_report

    assert [c.ok for c in check_pgmq(settings)] == [True, True, True]
    seed_send(settings, [make_event("success", event_id=f"s{i}") for i in range(3)])
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE pgmq.q_model_routing_decisions SET enqueued_at = now() - interval '10 minutes'"
        )
    with engine.connect() as conn:
        ids = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT msg_id FROM pgmq.q_model_routing_decisions ORDER BY msg_id"
            )
        ]
    *_, backlog = check_pgmq(settings)
    assert not backlog.ok
    assert f"msg_id {', '.join(map(str, ids))})" in backlog.detail
    assert "ROUTELEARN_PGMQ_ENABLED" in backlog.detail  # the bridge is off in these settings
    report = health_report(engine, settings)
    depths = {q.queue: q for q in report.pgmq}
    decisions = depths[DECISIONS_QUEUE]
    assert (decisions.messages, decisions.visible) == (3, 3)
    assert decisions.oldest_age_s is not None and decisions.oldest_age_s >= 599
    assert any("pgmq model_routing_decisions: 3 decisions waiting" in p for p in report.problems)
    assert depths[SCORE_UPDATES_QUEUE].messages == 0
