"""Test-only helpers on top of ``routelearn.harness`` (which the simulator and the benchmarks
share): this run's service addresses, its settings, and the CLI run as operators run it.

Nothing here skips: a service that does not answer fails the run with the command to start it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from click.testing import CliRunner
from kombu.entity import Queue

from routelearn import harness
from routelearn.cli import main
from routelearn.harness import kill_group, settings_env
from routelearn.messaging.broker import connection
from routelearn.settings import Settings, get_settings, is_redis

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".pytest_cache"
PG_BASE = os.environ.get("ROUTELEARN_TEST_PG") or harness.DEFAULT_PG
# The broker the broker-facing tests run against: Redis by default; scripts/test runs them a
# second time with ROUTELEARN_TEST_BROKER=amqp://guest:guest@127.0.0.1:5672.
BROKER_BASE = os.environ.get("ROUTELEARN_TEST_BROKER") or harness.DEFAULT_REDIS
ON_AMQP = not is_redis(BROKER_BASE)

__all__ = [
    "BROKER_BASE",
    "LOGS",
    "ON_AMQP",
    "PG_BASE",
    "ROOT",
    "beat_process",
    "depth",
    "kill_group",
    "queue_types",
    "run_cli",
    "run_cli_process",
    "settings_env",
    "test_settings",
    "through_port",
    "unacked",
    "wait_for",
    "worker_process",
]


def test_settings(database_url: str, broker_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "broker_url": broker_url,
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


def run_cli(
    settings: Settings, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``routelearn ARGS`` in this process, through click's CliRunner (its isolated stdin,
    stdout, stderr and environment), configured by the environment as operators configure it."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ROUTELEARN_")}
    env |= settings.as_environ()
    get_settings.cache_clear()
    code = 0
    try:
        with CliRunner().isolation(input=stdin, env=env) as (out, err, _):
            try:
                main(list(args))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
            sys.stdout.flush()  # the isolated streams buffer; click's own invoke flushes too
            sys.stderr.flush()
            stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    finally:
        get_settings.cache_clear()
    return subprocess.CompletedProcess(["routelearn", *args], code, stdout, stderr)


def run_cli_process(
    settings: Settings, *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``routelearn ARGS`` in a separate process configured by the environment, as operators
    run it (through ``main()``, so the installed entry point is not needed): the one
    subprocess smoke test of each command group."""
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
    predicate: Callable[[], object],
    timeout: float = 30.0,
    interval: float = 0.05,
    message: str = "condition",
) -> None:
    try:
        harness.wait_until(predicate, timeout, message, interval)
    except TimeoutError as exc:
        raise AssertionError(str(exc)) from None


@contextmanager
def worker_process(
    settings: Settings,
    *,
    concurrency: int = 2,
    name: str = "w1",
    queues: str | None = None,
    extra: tuple[str, ...] = (),
) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery -A routelearn.service.worker worker`` process; stopped at exit."""
    with harness.worker(
        settings,
        LOGS / f"worker-{name}.log",
        queues=queues,
        concurrency=concurrency,
        name=name,
        extra=extra,
        stop_timeout=15.0,
    ) as proc:
        yield proc


@contextmanager
def beat_process(settings: Settings, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery beat`` (schedule and log in ``workdir``); stopped at exit."""
    with harness.beat(settings, workdir) as proc:
        yield proc


def depth(settings: Settings, queue: str) -> int:
    """Messages ready in a queue, on either broker (0 if it does not exist)."""
    with connection(settings) as conn:
        try:
            _, count, _ = Queue(queue).bind(conn.default_channel).queue_declare(passive=True)
        except conn.channel_errors:  # RabbitMQ: no such queue (and the channel is closed)
            return 0
        return int(count)


def through_port(url: str, port: int) -> str:
    """``url`` (Redis or AMQP) with its host and port replaced by 127.0.0.1:``port``: the way
    through a test's TCP proxy."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def unacked(settings: Settings) -> int:
    """Messages delivered but neither acked nor returned. Redis keeps them in kombu's
    ``unacked`` hash until the visibility timeout; RabbitMQ returns them to their queue as soon as
    the consumer's channel closes (``depth`` then counts them), so there it is always 0 once the
    consumer is gone."""
    if ON_AMQP:
        return 0
    import redis

    client = redis.Redis.from_url(settings.broker_url)
    try:
        return int(client.hlen("unacked"))
    finally:
        client.close()


def queue_types(broker_url: str) -> dict[str, str]:
    """RabbitMQ: each queue of the URL's virtual host and its type (classic, quorum)."""
    vhost = unquote(urlsplit(broker_url).path.lstrip("/"))
    out = subprocess.run(
        [
            "rabbitmqctl",
            "--quiet",
            "list_queues",
            "-p",
            vhost,
            "name",
            "type",
            "--no-table-headers",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())
