"""What every benchmark needs: a throwaway database and broker db, worker processes it starts
and stops itself, and their peak memory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from routelearn.settings import Settings
from routelearn.store import migrate
from routelearn.store.engine import create_database_if_missing, drop_database

ROOT = Path(__file__).resolve().parent.parent


def free_redis_db(base_url: str) -> int:
    """An empty Redis db index, counting down from 15 (tests count up from 1)."""
    for index in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base_url}/{index}")
        try:
            if client.dbsize() == 0 and client.set("routelearn:bench", "1", nx=True, ex=3600):
                return index
        finally:
            client.close()
    raise RuntimeError("no empty Redis db index in 1-15")


@contextmanager
def scratch(pg_base: str, redis_base: str, **overrides: Any) -> Iterator[Settings]:
    """Settings for a fresh, migrated database and an empty Redis db; both removed at exit."""
    database = f"routelearn_bench_{uuid.uuid4().hex[:8]}"
    index = free_redis_db(redis_base)
    settings = Settings(
        database_url=f"{pg_base}/{database}", broker_url=f"{redis_base}/{index}", **overrides
    )
    create_database_if_missing(settings.database_url)
    try:
        migrate.upgrade(settings.database_url)
        yield settings
    finally:
        drop_database(settings.database_url)
        redis.Redis.from_url(settings.broker_url).flushdb()


def env_for(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTELEARN_")}
    return env | settings.as_environ()


@contextmanager
def workers(
    settings: Settings, app: str, queue: str, count: int, concurrency: int, log_dir: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` real ``celery worker`` processes; warm-stopped at exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for n in range(count):
        log = open(log_dir / f"worker-{n}.log", "wb")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    app,
                    "worker",
                    "--loglevel=WARNING",
                    f"--queues={queue}",
                    f"--concurrency={concurrency}",
                    f"--hostname=bench{n}-{uuid.uuid4().hex[:6]}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=env_for(settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        yield procs
    finally:
        stop_groups(procs, timeout=30)


def stop_groups(procs: Sequence[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM each process's group (a worker and its pool), then SIGKILL any group whose
    leader has not exited within ``timeout`` seconds."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def process_tree(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    children = [int(p) for p in out.stdout.split()]
    return [pid] + [c for child in children for c in process_tree(child)]


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of one process, in MB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def wait_until(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def beat(settings: Settings, log_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One real ``celery beat`` (its schedule file in ``log_dir``); stopped at exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / "beat.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "beat",
            "--loglevel=INFO",
            f"--schedule={log_dir / 'celerybeat-schedule'}",
        ],
        cwd=ROOT,
        env=env_for(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        stop_groups([proc], timeout=15)
        log.close()
