"""Day partitions of the audit table: created ahead, stray rows moved in, expired ones dropped,
decisions and rollups pruned; on a database of its own (these tests move the clock)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from routelearn.domain.partitions import partition_name
from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings
from routelearn.store import migrate
from routelearn.store.engine import create_database_if_missing, drop_database, make_engine
from routelearn.store.retention import (
    MAINTENANCE_LOCK,
    MaintenanceResult,
    existing_partitions,
    maintain,
)
from tests.factories import decision_pair
from tests.services import run_cli

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


@pytest.fixture
def own(settings: Settings) -> Iterator[tuple[Settings, Engine]]:
    url = settings.database_url.rsplit("/", 1)[0] + f"/routelearn_ret_{uuid.uuid4().hex[:8]}"
    create_database_if_missing(url)
    migrate.upgrade(url)
    eng = make_engine(url)
    yield settings.model_copy(update={"database_url": url}), eng
    eng.dispose()
    drop_database(url)


def days(engine: Engine) -> list[date]:
    with engine.connect() as conn:
        return existing_partitions(conn)


def run(engine: Engine, now: datetime, ahead: int = 7, retention: int = 90) -> MaintenanceResult:
    return maintain(
        engine, days_ahead=ahead, retention_days=retention, rollup_retention_days=400, now=now
    )


def insert_raw(engine: Engine, at: datetime, event_id: str) -> None:
    """An audit row as ingestion writes it, at any time (validation would refuse the future)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO routing_records (timestamp, instance_id, complexity, model, provider,"
                " score, outcome, event_id, decision_key) VALUES"
                " (:t, 'i', 'simple', 'm', 'p', 1, 'routed', :e, :e)"
            ),
            {"t": at, "e": event_id},
        )


def test_the_migration_creates_today_and_a_week_ahead(own: tuple[Settings, Engine]) -> None:
    assert {TODAY + timedelta(days=n) for n in range(8)} <= set(days(own[1]))


def test_maintenance_creates_ahead_and_moves_stray_rows_out_of_the_default(
    own: tuple[Settings, Engine],
) -> None:
    _, engine = own
    far = TODAY + timedelta(days=20)
    insert_raw(engine, datetime(far.year, far.month, far.day, 12, tzinfo=UTC), "stray")
    now = datetime.combine(TODAY + timedelta(days=15), datetime.min.time(), tzinfo=UTC)
    result = run(engine, now)
    assert partition_name(far) in result.created
    assert result.moved_from_default == 1
    with engine.connect() as conn:
        where = conn.execute(text("SELECT tableoid::regclass::text FROM routing_records")).one()
    assert where[0] == partition_name(far)
    assert set(days(engine)) >= {TODAY + timedelta(days=n) for n in range(15, 23)}
    assert run(engine, now).created == ()  # idempotent


def test_retention_drops_old_days_and_prunes_decisions_and_the_default(
    own: tuple[Settings, Engine],
) -> None:
    _, engine = own
    Ingestor(engine).ingest(decision_pair("success"), "test")  # today
    insert_raw(engine, datetime(2021, 1, 1, tzinfo=UTC), "ancient")  # default partition
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO routing_decisions (decision_key, model_name, complexity_level,"
                " instance_id, first_seen_at) VALUES ('old', 'm', 'simple', 'i', '2021-01-01')"
            )
        )
    later = datetime.combine(TODAY + timedelta(days=3), datetime.min.time(), tzinfo=UTC)
    result = run(engine, later, ahead=0, retention=2)
    assert partition_name(TODAY) in result.dropped
    assert partition_name(TODAY + timedelta(days=1)) not in result.dropped
    assert result.pruned["routing_records_default"] == 1
    # Today's decision is within 3 days of `later` but past a 2-day retention: pruned too.
    assert result.pruned["routing_decisions"] == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM routing_records")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM routing_rollups_hourly")).scalar_one() == 1


def test_a_second_run_at_the_same_time_does_nothing(own: tuple[Settings, Engine]) -> None:
    _, engine = own
    with engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MAINTENANCE_LOCK})
        assert not run(engine, datetime.now(UTC)).ran
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MAINTENANCE_LOCK})
    assert run(engine, datetime.now(UTC)).ran


def test_cli_lists_partitions_and_maintains(own: tuple[Settings, Engine]) -> None:
    settings, _ = own
    listed = run_cli(settings, "db", "partitions")
    assert listed.returncode == 0, listed.stderr
    assert partition_name(TODAY) in listed.stdout and "routing_records_default" not in listed.stdout
    done = run_cli(settings, "db", "maintain")
    assert done.returncode == 0, done.stderr
    assert "created: none" in done.stdout and "pruned routing_decisions: 0 rows" in done.stdout
