"""The instance registry: registered by events or by hand, retired by hand, listed."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings
from routelearn.store import instances as store
from tests.factories import make_event
from tests.services import run_cli, run_cli_process

pytestmark = pytest.mark.integration


def test_register_retire_and_reactivate(engine: Engine, clean: None) -> None:
    assert store.register(engine, "pre-registered") is True
    assert store.register(engine, "pre-registered") is False
    Ingestor(engine).ingest([make_event(event_id="e", instance_id="from-events")], "test")
    assert store.active_ids(engine) == ["from-events", "pre-registered"]

    assert store.retire(engine, "from-events") is True
    assert store.retire(engine, "nobody") is False
    assert store.active_ids(engine) == ["pre-registered"]
    retired = {i.instance_id: i for i in store.list_instances(engine, include_retired=True)}
    assert retired["from-events"].retired_at is not None
    assert retired["pre-registered"].registered_by == "operator"

    store.register(engine, "from-events")
    again = {i.instance_id: i for i in store.list_instances(engine)}
    assert again["from-events"].active and again["from-events"].retired_at is None


def test_instances_cli(settings: Settings, clean: None) -> None:
    registered = run_cli(settings, "instances", "register", "app-7")
    assert registered.returncode == 0 and "registered" in registered.stdout
    listed = run_cli_process(settings, "instances", "list")
    assert "app-7" in listed.stdout and "operator" in listed.stdout
    retired = run_cli(settings, "instances", "retire", "app-7")
    assert retired.returncode == 0, retired.stderr
    assert "app-7" not in run_cli(settings, "instances", "list").stdout
    assert "app-7" in run_cli(settings, "instances", "list", "--all").stdout
    unknown = run_cli(settings, "instances", "retire", "ghost")
    assert unknown.returncode != 0 and "'ghost' is not registered" in unknown.stderr
    too_long = run_cli(settings, "instances", "register", "x" * 200)
    assert too_long.returncode != 0 and "at most 128 characters" in too_long.stderr
