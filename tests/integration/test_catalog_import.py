"""``routelearn catalog import``: initial scores, versions and history; learned scores kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, text

from routelearn.instance.catalog import ModelCatalog, load_catalog, parse_catalog
from routelearn.instance.subscriber import ScoreUpdateSubscriber
from routelearn.settings import Settings
from routelearn.store import instances
from routelearn.store.scores import import_catalog
from tests.services import ROOT, run_cli, run_cli_process, wait_for

pytestmark = pytest.mark.integration

EXAMPLE = ROOT / "examples" / "catalog.yaml"


def scores(engine: Engine) -> dict[tuple[str, str], tuple[float, int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT model_name, complexity_level, score, version, source FROM model_scores")
        )
        return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def small(score: float) -> dict[str, object]:
    return {
        "version": 1,
        "default_score": 2.0,
        "models": [{"name": "m", "provider": "p", "scores": {"simple": score}}],
    }


def test_example_catalog_imports_every_model_and_complexity(
    engine: Engine, clean: None, settings: Settings
) -> None:
    out = run_cli_process(settings, "catalog", "import", str(EXAMPLE))
    assert out.returncode == 0, out.stderr
    catalog = load_catalog(EXAMPLE)
    got = scores(engine)
    assert len(got) == 3 * len(catalog.models)
    assert got[("gpt-4o", "complex")] == (4.8, 0, "catalog")
    assert f"{3 * len(catalog.models)} scores added" in out.stdout
    again = run_cli(settings, "catalog", "import", str(EXAMPLE))
    assert f"{3 * len(catalog.models)} unchanged" in again.stdout


def test_changed_file_bumps_version_and_keeps_learned_scores(engine: Engine, clean: None) -> None:
    report = import_catalog(engine, parse_catalog(small(3.0), "a"), "a")
    assert (report.inserted, report.updated) == (3, 0)
    assert scores(engine)[("m", "medium")] == (2.0, 0, "catalog")  # the default fills in

    report = import_catalog(engine, parse_catalog(small(3.5), "b"), "b")
    assert (report.updated, report.unchanged) == (1, 2)
    assert scores(engine)[("m", "simple")] == (3.5, 1, "catalog")

    with engine.begin() as conn:  # as the learner will: the fleet's evidence moved it
        conn.execute(
            text(
                "UPDATE model_scores SET score = 4.4, version = 2, source = 'learner' "
                "WHERE model_name = 'm' AND complexity_level = 'simple'"
            )
        )
    report = import_catalog(engine, parse_catalog(small(1.0), "c"), "c")
    assert report.kept_learned == 1
    assert scores(engine)[("m", "simple")] == (4.4, 2, "learner")
    report = import_catalog(engine, parse_catalog(small(1.0), "d"), "d", overwrite_learned=True)
    assert scores(engine)[("m", "simple")] == (1.0, 3, "catalog")

    with engine.connect() as conn:
        history = conn.execute(
            text(
                "SELECT version, old_score, new_score, reason FROM score_history "
                "WHERE model_name = 'm' AND complexity_level = 'simple' ORDER BY id"
            )
        ).fetchall()
    assert [tuple(h) for h in history] == [
        (0, None, 3.0, "imported from a"),
        (1, 3.0, 3.5, "imported from b"),
        (3, 4.4, 1.0, "imported from d"),
    ]


def test_bad_file_is_reported_with_model_and_field(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\nmodels:\n  - name: m\n    provider: p\n    scores: {complex: 7.0}\n"
    )
    out = run_cli(settings, "catalog", "import", str(bad))
    assert out.returncode == 2
    assert "models[0] (m).scores.complex" in out.stderr


@pytest.mark.broker
def test_a_changed_catalog_reaches_every_instance_at_once(
    engine: Engine, settings: Settings, worker: Any, tmp_path: Path
) -> None:
    """Not at the next learner tick: the import itself sends the changed scores out."""
    instances.register(engine, "app-1")
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(small(3.0)))
    assert run_cli(settings, "catalog", "import", str(path)).returncode == 0
    local = ModelCatalog.from_config(small(3.0))
    subscriber = ScoreUpdateSubscriber(settings, "app-1", local)
    path.write_text(yaml.safe_dump(small(1.25)))
    out = run_cli(settings, "catalog", "import", str(path))
    assert out.returncode == 0, out.stderr
    assert "1 changed scores sent to every instance" in out.stdout
    subscriber.start()
    try:
        wait_for(lambda: local.version("m", "simple") == 1, 15, message="the imported score")
    finally:
        assert subscriber.stop(10)
    assert local.score("m", "simple") == 1.25


def test_a_first_load_is_no_update_but_the_cursor_moves_past_it(
    engine: Engine, clean: None
) -> None:
    from routelearn.store.scores import history_cursor, updates_since

    import_catalog(engine, parse_catalog(small(3.0)), "first")  # version 0: 3 history rows
    found, cursor = updates_since(engine, 0)
    assert found == [] and cursor == history_cursor(engine) == 3
    import_catalog(engine, parse_catalog(small(4.0)), "second")
    found, cursor = updates_since(engine, cursor)
    assert [(u.model, u.complexity, u.new_score, u.version) for u in found] == [
        ("m", "simple", 4.0, 1)
    ]
    assert updates_since(engine, cursor) == ([], cursor)
