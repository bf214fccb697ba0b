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
    """pgmq installed (the SQL install) for this test, and removed after it: the other tests
    see a database without it, as a fresh one is."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS pgmq CASCADE")
        assert pgmq.install(conn) == ("sql", True)
    yield
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA pgmq CASCADE")


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

            # An update of every row waits in the instance's queue already (its version 0):
            # each one the tick supersedes is dropped after the tick, the others stay.
            stale = [
                {
                    "event_type": "model_score_update",
                    "model": m,
                    "complexity": c,
                    "new_score": 2.5,
                    "version": 0,
                }
                for m, c in want
            ]
            with engine.begin() as conn:
                pgmq.send_batch(conn, "model_score_updates_seed_a", stale)
            celery_app.send_task(LEARN_SCORES_TASK)

            def one_per_row() -> bool:
                with engine.connect() as conn:
                    rows = conn.exec_driver_sql(
                        "SELECT message->>'model', message->>'complexity'"
                        " FROM pgmq.q_model_score_updates_seed_a"
                    ).fetchall()
                return depth(engine, SCORE_UPDATES_QUEUE) > 0 and len(rows) == len(set(rows))

            wait_for(one_per_row, timeout=30, message="score updates in pgmq, superseded dropped")
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
            updates = [m for _, m in rows if m["version"] > 0]
            assert len(updates) == len(scores)
            assert {
                (u["model"], u["complexity"]): (u["new_score"], u["version"]) for u in updates
            } == scores
            left = {(m["model"], m["complexity"]) for _, m in rows if m["version"] == 0}
            if queue != SCORE_UPDATES_QUEUE:  # the stale ones of the rows the tick left alone
                assert left == set(want) - set(scores)
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


def test_a_message_no_parser_reads_is_dead_lettered_and_the_queue_moves_on(
    settings: Settings, engine: Engine, queues: None
) -> None:
    """jsonb holds values nested deeper than Python's parsers go: such a message must be
    refused alone, not fail its batch again and again at the head of the queue."""
    with psycopg.connect(dsn(settings), autocommit=True) as instance:
        instance.execute(
            "SELECT pgmq.send('model_routing_decisions',"
            " (repeat('[', 5000) || repeat(']', 5000))::jsonb)"
        )
    seed_send(settings, [make_event("success", event_id="after-the-deep-one")])
    drained = drain(Ingestor(engine), batch_size=10, visibility_timeout=30, budget_seconds=30)
    assert (drained.messages, drained.counts.inserted, drained.counts.rejected) == (2, 1, 1)
    assert depth(engine) == 0
    with engine.connect() as conn:
        reason = conn.execute(text("SELECT reason FROM dead_letters")).scalar_one()
    assert "nests deeper than 64 levels" in reason


def test_register_and_unregister_an_instance_queue(
    settings: Settings, engine: Engine, queues: None
) -> None:
    from tests.services import run_cli

    with engine.begin() as conn:  # two learned scores
        conn.exec_driver_sql(
            "INSERT INTO model_scores (model_name, complexity_level, score, version, source)"
            " VALUES ('m1', 'simple', 4.2, 3, 'learner'), ('m2', 'complex', 3.1, 1, 'learner')"
        )
    done = run_cli(settings, "pgmq", "register", "seed_b")
    assert done.returncode == 0, done.stderr
    assert "model_score_updates_seed_b: created, 2 current scores sent" in done.stdout
    with psycopg.connect(dsn(settings), autocommit=True) as instance:
        got = [
            m
            for (m,) in instance.execute(
                "SELECT message FROM pgmq.read('model_score_updates_seed_b', 30, 10)"
            )
        ]
    assert {(u["model"], u["complexity"], u["new_score"], u["version"]) for u in got} == {
        ("m1", "simple", 4.2, 3),
        ("m2", "complex", 3.1, 1),
    }
    refused = run_cli(settings, "pgmq", "register", "Seed-B")
    assert refused.returncode == 2
    assert "lower-case letters, digits and underscores only" in refused.stderr
    done = run_cli(settings, "pgmq", "unregister", "seed_b")
    assert "model_score_updates_seed_b: dropped" in done.stdout
    with engine.connect() as conn:
        assert "model_score_updates_seed_b" not in pgmq.queues(conn)


def test_superseded_updates_are_dropped_after_a_tick_and_a_held_one_is_skipped(
    settings: Settings, engine: Engine, queues: None
) -> None:
    def update(model: str, version: int) -> dict[str, Any]:
        return {
            "event_type": "model_score_update",
            "model": model,
            "complexity": "simple",
            "new_score": 1.0 + version,
            "version": version,
        }

    with engine.begin() as conn:
        pgmq.create_queue(conn, "model_score_updates_seed_c")
        pgmq.send_batch(
            conn,
            "model_score_updates_seed_c",
            [update("a", 1), update("b", 1), update("a", 2), update("a", 3)],
        )
        # Not score updates: left alone, however many.
        pgmq.send_batch(conn, "model_score_updates_seed_c", ["junk", 42, {"foo": 1}, None])
    # An instance holds a(1) in an open transaction while the trim runs: skipped, not waited
    # for; the other superseded one, a(2), goes.
    with psycopg.connect(dsn(settings)) as reader:
        (held,) = reader.execute(
            "SELECT msg_id FROM pgmq.read('model_score_updates_seed_c', 30, 1)"
        ).fetchone() or (None,)
        assert pgmq.drop_superseded_updates(engine) == 1
        reader.rollback()

    def left() -> list[tuple[str, int]]:
        with psycopg.connect(dsn(settings), autocommit=True) as conn:
            rows = [
                m for (m,) in conn.execute("SELECT message FROM pgmq.q_model_score_updates_seed_c")
            ]
        assert sum(1 for m in rows if not isinstance(m, dict) or "model" not in m) == 4
        return sorted(
            (m["model"], m["version"]) for m in rows if isinstance(m, dict) and "model" in m
        )

    assert held is not None
    assert left() == [("a", 1), ("a", 3), ("b", 1)]
    assert pgmq.drop_superseded_updates(engine) == 1  # free now
    assert left() == [("a", 3), ("b", 1)]


def test_doctor_names_a_queue_the_learner_passes_by(
    settings: Settings, engine: Engine, queues: None
) -> None:
    from routelearn.stats.checks import check_pgmq

    with engine.begin() as conn:
        pgmq.create_queue(conn, "model_score_updates_Seed-D")
    misnamed = [c for c in check_pgmq(settings) if c.name == "pgmq instance queues"]
    assert len(misnamed) == 1 and not misnamed[0].ok
    assert "model_score_updates_seed-d" in misnamed[0].detail.lower()


def test_score_changes_are_sent_if_and_only_if_stored(engine: Engine, queues: None) -> None:
    """The send runs in the tick's transaction: a send that fails takes the changes with it."""
    from routelearn.domain.policy import make_policy
    from routelearn.store.learner import run_learner

    Ingestor(engine).ingest(
        [
            make_event("success", event_id=f"ok{i}", model="m", complexity="simple")
            for i in range(40)
        ],
        source="test",
    )

    def failing(*args: Any) -> None:
        pgmq.send_score_changes(*args)
        raise RuntimeError("the broker of a later step fails")

    with pytest.raises(RuntimeError):
        run_learner(
            engine,
            make_policy("calibrated"),
            default_score=2.5,
            keep_snapshots_seconds=600,
            with_changes=failing,
        )
    assert depth(engine, SCORE_UPDATES_QUEUE) == 0
    with engine.connect() as conn:
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM model_scores WHERE version > 0").scalar_one()
            == 0
        )
    result = run_learner(
        engine,
        make_policy("calibrated"),
        default_score=2.5,
        keep_snapshots_seconds=600,
        with_changes=pgmq.send_score_changes,
    )
    assert result.changes
    assert depth(engine, SCORE_UPDATES_QUEUE) == len(result.changes)


def test_the_fleet_gauges_show_each_pgmq_queue(
    settings: Settings, engine: Engine, queues: None
) -> None:
    from routelearn.observability.fleet import FleetCollector

    seed_send(settings, [make_event("success", event_id=f"g{i}") for i in range(4)])
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE pgmq.q_model_routing_decisions SET enqueued_at = now() - interval '90 seconds'"
        )
    found = {
        (family.name, sample.labels.get("queue")): sample.value
        for family in FleetCollector(settings, engine).collect()
        if family.name.startswith("routelearn_pgmq_")
        for sample in family.samples
    }
    assert found[("routelearn_pgmq_queue_depth", DECISIONS_QUEUE)] == 4
    assert found[("routelearn_pgmq_queue_depth", SCORE_UPDATES_QUEUE)] == 0
    assert 89 <= found[("routelearn_pgmq_oldest_message_age_seconds", DECISIONS_QUEUE)] < 120
    assert found[("routelearn_pgmq_oldest_message_age_seconds", SCORE_UPDATES_QUEUE)] == 0


def test_a_catalog_or_config_import_sends_its_changed_scores_to_pgmq_too(
    settings: Settings, engine: Engine, queues: None, tmp_path: Any
) -> None:
    """Not only the learner changes scores: an operator's import does, and seed instances
    must see it too, in the import's transaction."""
    import yaml

    from routelearn.domain.config_document import ConfigDocument
    from routelearn.store import config
    from tests.services import run_cli

    def catalog(score: float) -> Any:
        path = tmp_path / f"catalog-{score}.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "default_score": 2.0,
                    "models": [{"name": "m", "provider": "p", "scores": {"simple": score}}],
                }
            )
        )
        return path

    bridge = settings.model_copy(update={"pgmq_enabled": True})
    assert run_cli(bridge, "catalog", "import", str(catalog(3.0))).returncode == 0
    assert depth(engine, SCORE_UPDATES_QUEUE) == 0  # a first load changes nothing
    done = run_cli(bridge, "catalog", "import", str(catalog(3.5)))
    assert done.returncode == 0, done.stderr
    assert run_cli(settings, "catalog", "import", str(catalog(3.7))).returncode == 0  # bridge off
    document = ConfigDocument.model_validate({"scores": {"m": {"simple": 4.1}}})
    config.apply(engine, document, with_updates=pgmq.send_updates)
    config.apply(  # a dry run sends nothing
        engine,
        ConfigDocument.model_validate({"scores": {"m": {"simple": 1.0}}}),
        dry_run=True,
        with_updates=pgmq.send_updates,
    )
    with psycopg.connect(dsn(settings), autocommit=True) as instance:
        got = [
            (m["model"], m["complexity"], m["old_score"], m["new_score"], m["version"])
            for (m,) in instance.execute(
                "SELECT message FROM pgmq.q_model_score_updates ORDER BY msg_id"
            )
        ]
    assert got == [("m", "simple", 3.0, 3.5, 1), ("m", "simple", 3.7, 4.1, 3)]
