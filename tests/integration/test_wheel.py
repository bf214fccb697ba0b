"""The wheel, as users install it: one top-level package; the instance side working in a fresh
virtualenv without the service extra; then, with ``[service]`` added, the migrations shipped
inside it, run from a directory that is not this checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import uuid
import zipfile
from pathlib import Path

import pytest

from routelearn import harness
from routelearn.constants import INGEST_EVENTS_TASK, INGEST_QUEUE
from routelearn.messaging.broker import connection, task_queue
from routelearn.messaging.fanout import fan_out
from routelearn.settings import Settings
from routelearn.store import migrate
from routelearn.store.engine import drop_database
from tests.factories import score_update
from tests.services import PG_BASE, ROOT, settings_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

_NOT_SOURCE = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".run")

SMOKE = """
import importlib.util, json
from routelearn.instance.catalog import ModelCatalog
from routelearn.instance.publisher import EventPublisher
from routelearn.instance.subscriber import ScoreUpdateSubscriber
from routelearn.settings import get_settings

missing = [m for m in ("celery", "sqlalchemy", "psycopg", "numpy", "flower")
           if importlib.util.find_spec(m) is not None]
assert not missing, f"the base install pulled in {missing}"
settings = get_settings()
with EventPublisher(settings, linger_ms=60_000) as publisher:  # close() sends them
    for n in range(3):
        publisher.publish({"n": n})
catalog = ModelCatalog.from_config({"version": 1, "models": [
    {"name": "m", "provider": "p", "scores": {"complex": 4.0}}]})
handled = ScoreUpdateSubscriber(settings, "wheel-smoke", catalog).drain(timeout=10)
print(json.dumps({"sent": publisher.stats.sent, "handled": handled,
                  "score": catalog.score("m", "complex")}))
"""


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_wheel_installs_one_package_and_each_side_works_from_it(
    settings: Settings, clean: None, tmp_path: Path
) -> None:
    # From a copy: setuptools leaves a build/ folder in the source tree, and a later build would
    # pick stale files out of it.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(source)], source)
    (wheel,) = tmp_path.glob("routelearn-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (top_level,) = [n for n in archive.namelist() if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["routelearn"]
        names = archive.namelist()
    assert "routelearn/store/migrations/versions/0001_ingestion.py" in names
    assert "routelearn/stats/sql/dashboard/success_rates.sql" in names

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", str(wheel)], tmp_path)

    update = score_update(3, 1.5, model="m", old_score=4.0)
    fan_out(settings, ["wheel-smoke"], [update])
    away = tmp_path / "elsewhere"  # not the checkout: nothing importable from there
    away.mkdir()
    env = {k: v for k, v in settings_env(settings).items() if k != "PYTHONPATH"}
    out = run([python, "-c", textwrap.dedent(SMOKE)], away, env)
    assert json.loads(out.splitlines()[-1]) == {"sent": 3, "handled": 1, "score": 1.5}
    sent: list[object] = []
    with connection(settings) as conn:
        queue = task_queue(INGEST_QUEUE, settings)(conn.default_channel)
        while (message := queue.get(no_ack=True, accept=["application/json"])) is not None:
            assert message.headers["task"] == INGEST_EVENTS_TASK
            (batch,) = message.decode()[0]
            sent += batch
    assert sent == [{"n": 0}, {"n": 1}, {"n": 2}]

    # A service command without the extra: a clear error naming it, not a traceback.
    routelearn = str(venv / "bin" / "routelearn")
    refused = subprocess.run(
        [routelearn, "db", "upgrade"], cwd=away, env=env, capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert "pip install 'routelearn[service]'" in refused.stderr

    # With the extra: the migrations ship inside the package and run from anywhere.
    run([python, "-m", "pip", "install", "--quiet", f"{wheel}[service]"], tmp_path)
    # The benchmarks start real worker processes (the service's app and the naive baseline's)
    # from the installed package, in a directory that is not the checkout.
    out = run(
        [routelearn, "bench", "ingest", "--events", "3000", "--naive-events", "200",
         "--latency-events", "500", "--latency-rate", "500", "--batch-size", "500",
         "--workers", "1", "--runs", "1", "--pg", PG_BASE, "--broker", harness.DEFAULT_REDIS,
         "--out", str(away / "bench")],
        away,
        env,
    )  # fmt: skip
    assert "of raw COPY" in out and "end to end, 1 worker(s)" in out, out
    assert list((away / "bench").glob("ingest-*.json"))

    fresh = f"{PG_BASE}/routelearn_wheel_{uuid.uuid4().hex[:10]}"
    try:
        run([routelearn, "db", "upgrade"], away, env | {"ROUTELEARN_DATABASE_URL": fresh})
        assert migrate.current_revision(fresh) == migrate.head_revision()
    finally:
        drop_database(fresh)
