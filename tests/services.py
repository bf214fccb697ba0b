"""Test-run resources on the real services: a throwaway database and a Redis db index.

Nothing here skips: a service that does not answer fails the run with the command to start it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import redis

from routelearn.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = os.environ.get("ROUTELEARN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_BASE = os.environ.get("ROUTELEARN_TEST_REDIS", "redis://127.0.0.1:6379")
_CLAIM_KEY = "routelearn:test-run"

START_HINTS = {
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' "
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
}


class ServiceDown(RuntimeError):
    pass


def claim_redis_db() -> int:
    """An empty Redis db index (1-15) marked as this run's, so parallel runs do not collide."""
    token = uuid.uuid4().hex
    for index in range(1, 16):
        client = redis.Redis.from_url(f"{REDIS_BASE}/{index}")
        try:
            if client.dbsize() == 0 and client.set(_CLAIM_KEY, token, nx=True, ex=6 * 3600):
                return index
        except redis.ConnectionError as exc:
            raise ServiceDown(
                f"Redis at {REDIS_BASE} does not answer ({exc}); start it with: "
                f"{START_HINTS['redis']}"
            ) from exc
        finally:
            client.close()
    raise ServiceDown("no empty Redis db index in 1-15: another test run holds them all")


def test_settings(database: str, redis_db: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"{PG_BASE}/{database}",
        "broker_url": f"{REDIS_BASE}/{redis_db}",
        # Short redelivery so crash tests see a dead worker's messages return in seconds.
        "visibility_timeout": 8.0,
        "unacked_restore_interval": 1.0,
        "ingest_soft_time_limit": 5.0,
        "ingest_time_limit": 6.0,
        "learner_soft_time_limit": 5.0,
        "learner_time_limit": 6.0,
        "db_retry_base": 0.05,
        "db_retry_cap": 0.5,
        "publish_linger_ms": 20.0,
        # The anomaly window: the newest learner snapshot at least this old (tests take one,
        # wait a second, then add the window's events).
        "anomaly_window": 1.0,
    }
    values.update(overrides)
    return Settings(**values)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a subprocess (worker, CLI) see ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTELEARN_")}
    return env | settings.as_environ()


def run_cli(
    settings: Settings, *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``routelearn ARGS`` in a separate process configured by the environment, as operators
    run it (through ``main()``, so the installed entry point is not needed)."""
    return subprocess.run(
        [sys.executable, "-c", "from routelearn.cli import main; main()", *args],
        cwd=ROOT,
        env=settings_env(settings),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(
    predicate: Callable[[], bool],
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@contextmanager
def worker_process(
    settings: Settings,
    *,
    concurrency: int = 2,
    name: str = "w1",
    queues: str | None = None,
    extra: tuple[str, ...] = (),
) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery -A workers.app worker`` process, as users start it; stopped at exit."""
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        f"--hostname={name}-{uuid.uuid4().hex[:6]}@%h",
        "--without-gossip",
        "--without-mingle",
        *extra,
    ]
    if queues:
        cmd.append(f"--queues={queues}")
    log = open(ROOT / ".pytest_cache" / f"worker-{name}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=settings_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        stop_process(proc)
        log.close()


@contextmanager
def beat_process(settings: Settings, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery -A workers.app beat`` (schedule and log in ``workdir``); stopped at exit."""
    from bench.harness import beat

    with beat(settings, workdir) as proc:
        yield proc


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and its children (prefork pool), as a crash would."""
    import signal

    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
