"""Migrations build exactly the schema ``schema/tables.py`` declares; the CLI sets up a database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, pool

from routelearn.settings import Settings
from routelearn.store import migrate
from routelearn.store.engine import create_database_if_missing, drop_database
from schema.tables import metadata
from tests.services import run_cli


def test_migrated_database_matches_declared_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


@pytest.fixture
def fresh(settings: Settings) -> Iterator[Settings]:
    url = settings.database_url.rsplit("/", 1)[0] + f"/routelearn_fresh_{uuid.uuid4().hex[:8]}"
    yield settings.model_copy(update={"database_url": url})
    drop_database(url)


def test_cli_creates_migrates_and_doctor_reports(fresh: Settings) -> None:
    before = run_cli(fresh, "doctor")
    assert before.returncode == 1
    assert "does not exist. Run: routelearn db upgrade" in before.stdout

    up = run_cli(fresh, "db", "upgrade")
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
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    eng.dispose()
