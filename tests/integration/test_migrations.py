"""Migrations build exactly the schema ``routelearn/store/tables.py`` declares; the CLI sets up
a database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, pool, text

from routelearn.domain.latency import bucket_of
from routelearn.domain.partitions import partition_name
from routelearn.settings import Settings
from routelearn.store import migrate
from routelearn.store.engine import create_database_if_missing, drop_database
from routelearn.store.tables import include_name, metadata
from tests.services import run_cli, run_cli_process

pytestmark = pytest.mark.integration


def test_migrated_database_matches_declared_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"include_name": include_name}), metadata
        )
    assert diff == []


@pytest.fixture
def fresh(settings: Settings) -> Iterator[Settings]:
    url = settings.database_url.rsplit("/", 1)[0] + f"/routelearn_fresh_{uuid.uuid4().hex[:8]}"
    yield settings.model_copy(update={"database_url": url})
    drop_database(url)


def test_cli_creates_migrates_and_doctor_reports(fresh: Settings) -> None:
    before = run_cli_process(fresh, "doctor")
    assert before.returncode == 1
    assert "does not exist. Run: routelearn db upgrade" in before.stdout

    up = run_cli_process(fresh, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert "created" in up.stdout and f"revision {migrate.head_revision()}" in up.stdout

    after = run_cli(fresh, "doctor")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "[ok] broker" in after.stdout and "schema at head" in after.stdout


def test_doctor_names_an_outdated_schema(fresh: Settings) -> None:
    assert run_cli(fresh, "db", "upgrade").returncode == 0
    command.downgrade(migrate.alembic_config(fresh.database_url), "base")
    out = run_cli(fresh, "doctor")
    assert out.returncode == 1
    assert "schema at revision none" in out.stdout and "Run: routelearn db upgrade" in out.stdout


def test_doctor_names_a_broker_that_does_not_answer(settings: Settings) -> None:
    out = run_cli(settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"}), "doctor")
    assert out.returncode == 1
    assert "[FAIL] broker" in out.stdout and "ROUTELEARN_BROKER_URL" in out.stdout


def test_downgrade_then_upgrade_round_trips(fresh: Settings) -> None:
    create_database_if_missing(fresh.database_url)
    config = migrate.alembic_config(fresh.database_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    eng = create_engine(fresh.database_url, poolclass=pool.NullPool)
    with eng.connect() as conn:
        assert (
            compare_metadata(
                MigrationContext.configure(conn, opts={"include_name": include_name}), metadata
            )
            == []
        )
    eng.dispose()


def test_partitioning_keeps_every_audit_row_and_backfills_rollups(fresh: Settings) -> None:
    create_database_if_missing(fresh.database_url)
    config = migrate.alembic_config(fresh.database_url)
    command.upgrade(config, "0003")
    eng = create_engine(fresh.database_url, poolclass=pool.NullPool)
    recent = datetime.now(UTC).replace(minute=10, second=0, microsecond=0) - timedelta(hours=1)
    with eng.begin() as conn:
        for i, (at, outcome, ms) in enumerate(
            [(recent, "success", 250.0), (recent, "failure", None), (_ANCIENT, "success", 0.5)]
        ):
            conn.execute(
                text(
                    "INSERT INTO routing_records (timestamp, instance_id, complexity, model,"
                    " provider, score, outcome, response_time_ms, event_id, decision_key)"
                    " VALUES (:t, 'i', 'simple', 'm', 'p', 1, :o, :ms, :e, :e)"
                ),
                {"t": at, "o": outcome, "ms": ms, "e": f"e{i}"},
            )
            conn.execute(
                text(
                    "INSERT INTO routing_decisions (decision_key, model_name, complexity_level,"
                    " instance_id, first_seen_at, outcome, response_time_ms)"
                    " VALUES (:e, 'm', 'simple', 'i', :t, :o, :ms)"
                ),
                {"t": at, "o": outcome, "ms": ms, "e": f"e{i}"},
            )
    command.upgrade(config, "head")
    with eng.begin() as conn:
        placed: dict[str, str] = {
            row[0]: row[1]
            for row in conn.execute(
                text("SELECT event_id, tableoid::regclass::text FROM routing_records")
            )
        }
        assert placed == {
            "e0": partition_name(recent.date()),
            "e1": partition_name(recent.date()),
            "e2": "routing_records_default",
        }
        rollups = conn.execute(
            text(
                "SELECT hour, decisions, success_count, failure_count, response_time_count,"
                " response_time_histogram FROM routing_rollups_hourly ORDER BY hour"
            )
        ).all()
        # New rows still get ids after the copied ones.
        new_id = conn.execute(
            text(
                "INSERT INTO routing_records (timestamp, instance_id, complexity, model,"
                " provider, score, outcome, event_id, decision_key)"
                " VALUES (now(), 'i', 'simple', 'm', 'p', 1, 'routed', 'new', 'new') RETURNING id"
            )
        ).scalar_one()
    eng.dispose()
    assert new_id == 4
    ancient, hour = rollups
    assert ancient[1:5] == (1, 1, 0, 1) and ancient[5][bucket_of(0.5)] == 1
    assert hour[0] == recent.replace(minute=0)
    assert hour[1:5] == (2, 1, 1, 1)
    assert hour[5][bucket_of(250.0)] == 1 and sum(hour[5]) == 1


_ANCIENT = datetime(2020, 5, 5, 5, 5, tzinfo=UTC)
