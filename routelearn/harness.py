"""Scratch resources and real service processes: what the tests, the simulator and the
benchmarks share.

- ``scratch()``: settings for a fresh, migrated database and an empty broker namespace of their
  own (a Redis db index, or a RabbitMQ virtual host), both removed at exit.
- ``worker()`` / ``workers()`` / ``beat()``: real ``celery`` processes of the service's app,
  each in a process group of its own, stopped warm at exit (SIGKILLed if they hang).

Nothing here depends on a checkout: processes run ``python -m celery -A
routelearn.service.worker`` from whatever directory the caller is in, so this works the same
from a clone and from an installed ``routelearn[service]``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import redis
from kombu.connection import Connection

from routelearn.constants import ALL_QUEUES
from routelearn.errors import RouteLearnError
from routelearn.settings import Settings, is_redis
from routelearn.store import migrate
from routelearn.store.engine import create_database_if_missing, drop_database

APP = "routelearn.service.worker"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
DEFAULT_REDIS = "redis://127.0.0.1:6379"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672"
# A claimed Redis db index holds this key (with the claimer's token) while in use.
CLAIM_KEY = "routelearn:scratch"
CLAIM_SECONDS = 6 * 3600

START_HINTS = {
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' "
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log",
    "rabbitmq": "rabbitmq-server -detached",
}


class ServiceDown(RouteLearnError):
    """A service the harness needs does not answer; the message says how to start it."""


# -- the broker namespace ----------------------------------------------------------------------


def claim_redis_db(base_url: str) -> int:
    """An empty Redis db index (1-15), marked as claimed so parallel runs do not collide."""
    token = uuid.uuid4().hex
    for index in range(1, 16):
        client = redis.Redis.from_url(f"{base_url}/{index}")
        try:
            if client.dbsize() == 0 and client.set(CLAIM_KEY, token, nx=True, ex=CLAIM_SECONDS):
                return index
        except redis.ConnectionError as exc:
            raise ServiceDown(
                f"Redis at {base_url} does not answer ({exc}); start it with: "
                f"{START_HINTS['redis']}"
            ) from exc
        finally:
            client.close()
    raise ServiceDown(f"no empty Redis db index in 1-15 at {base_url}: other runs hold them all")


def flush_redis_db(url: str, keep_claim: bool = False) -> None:
    """Empty one Redis db; ``keep_claim`` leaves it marked as still in use."""
    client = redis.Redis.from_url(url)
    try:
        token = client.get(CLAIM_KEY)
        client.flushdb()
        if keep_claim and token is not None:
            client.set(CLAIM_KEY, token, ex=CLAIM_SECONDS)
    finally:
        client.close()


def _rabbitmqctl(*args: str) -> str:
    try:
        out = subprocess.run(
            ["rabbitmqctl", "--quiet", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ServiceDown(
            "rabbitmqctl not found: a scratch RabbitMQ virtual host needs it (and rights to run "
            "it) on this machine"
        ) from exc
    if out.returncode != 0:
        raise ServiceDown(
            f"rabbitmqctl {' '.join(args)} failed ({out.stderr.strip() or out.stdout.strip()}); "
            f"is RabbitMQ running? start it with: {START_HINTS['rabbitmq']}"
        )
    return out.stdout


def create_vhost(base_url: str) -> str:
    """A new RabbitMQ virtual host on which ``base_url``'s user has every right: its name."""
    user = urlsplit(base_url).username or "guest"
    vhost = f"routelearn-scratch-{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    return vhost


def delete_vhost(vhost: str) -> None:
    _rabbitmqctl("delete_vhost", vhost)


@contextmanager
def scratch_broker(base_url: str) -> Iterator[str]:
    """A broker URL nobody else uses: a claimed Redis db index or a new RabbitMQ virtual host;
    emptied (Redis) or deleted (RabbitMQ) at exit."""
    base_url = base_url.rstrip("/")
    if not is_redis(base_url):
        vhost = create_vhost(base_url)
        try:
            yield f"{base_url}/{quote(vhost, safe='')}"
        finally:
            delete_vhost(vhost)
        return
    url = f"{base_url}/{claim_redis_db(base_url)}"
    try:
        yield url
    finally:
        flush_redis_db(url)


def empty_broker(url: str) -> None:
    """Remove every queue and message of a scratch broker namespace (between tests)."""
    if not is_redis(url):
        vhost = unquote(urlsplit(url).path.lstrip("/"))
        names = _rabbitmqctl("list_queues", "-p", vhost, "name", "--no-table-headers").split()
        with Connection(url) as connection:
            channel: Any = connection.default_channel
            for name in names:
                # The task queues are emptied, not deleted: a Celery app that declared them
                # once does not declare them again, and would publish into the void.
                if name in ALL_QUEUES:
                    channel.queue_purge(name)
                else:
                    channel.queue_delete(name)
    else:
        flush_redis_db(url, keep_claim=True)


# -- the database ------------------------------------------------------------------------------


@contextmanager
def scratch_database(pg_base: str, keep: bool = False) -> Iterator[str]:
    """A new database, migrated to head; dropped at exit unless ``keep``. Yields its
    SQLAlchemy URL."""
    url = f"{pg_base.rstrip('/')}/routelearn_scratch_{uuid.uuid4().hex[:10]}"
    try:
        create_database_if_missing(url)
    except Exception as exc:
        raise ServiceDown(
            f"PostgreSQL at {pg_base} does not answer ({exc}); start it with: "
            f"{START_HINTS['postgres']}"
        ) from exc
    try:
        migrate.upgrade(url)
        yield url
    finally:
        if not keep:
            drop_database(url)


@contextmanager
def scratch(
    pg_base: str,
    broker_base: str,
    overrides: dict[str, Any] | None = None,
    keep_database: bool = False,
) -> Iterator[Settings]:
    """Settings for a fresh, migrated database and an empty broker namespace; both removed at
    exit (the database kept if ``keep_database``)."""
    with (
        scratch_broker(broker_base) as broker_url,
        scratch_database(pg_base, keep_database) as database_url,
    ):
        yield Settings(database_url=database_url, broker_url=broker_url, **(overrides or {}))


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process (worker, beat, CLI) see ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTELEARN_")}
    return env | settings.as_environ()


# -- processes ---------------------------------------------------------------------------------


def _celery(
    settings: Settings, args: Sequence[str], log_path: Path, app: str
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", app, *args],
            env=settings_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own group: a stop reaches the worker and its pool children, nothing else.
            start_new_session=True,
        )


def worker_args(
    queues: str | None, concurrency: int, name: str, loglevel: str, extra: Sequence[str] = ()
) -> list[str]:
    args = [
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency}",
        f"--hostname={name}-{uuid.uuid4().hex[:6]}@%h",
        "--without-gossip",
        "--without-mingle",
        *extra,
    ]
    if queues:
        args.append(f"--queues={queues}")
    return args


@contextmanager
def worker(
    settings: Settings,
    log_path: Path,
    *,
    queues: str | None = None,
    concurrency: int = 2,
    name: str = "w",
    loglevel: str = "INFO",
    extra: Sequence[str] = (),
    app: str = APP,
    stop_timeout: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """One real ``celery worker``; warm-stopped at exit."""
    proc = _celery(settings, worker_args(queues, concurrency, name, loglevel, extra), log_path, app)
    try:
        yield proc
    finally:
        stop_groups([proc], stop_timeout)


@contextmanager
def workers(
    settings: Settings,
    queues: str,
    count: int,
    concurrency: int,
    log_dir: Path,
    *,
    app: str = APP,
    loglevel: str = "WARNING",
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` real ``celery worker`` processes; warm-stopped at exit."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(count):
            args = worker_args(queues, concurrency, f"bench{n}", loglevel, ["--without-heartbeat"])
            procs.append(_celery(settings, args, log_dir / f"worker-{n}.log", app))
        yield procs
    finally:
        stop_groups(procs, timeout=30)


@contextmanager
def beat(settings: Settings, log_dir: Path, app: str = APP) -> Iterator[subprocess.Popen[bytes]]:
    """One real ``celery beat`` (its schedule file in ``log_dir``); stopped at exit."""
    args = ["beat", "--loglevel=INFO", f"--schedule={log_dir / 'celerybeat-schedule'}"]
    proc = _celery(settings, args, log_dir / "beat.log", app)
    try:
        yield proc
    finally:
        stop_groups([proc], timeout=15)


def stop_groups(procs: Sequence[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM each leader (Celery's warm shutdown: the worker finishes its tasks and stops its
    pool), then SIGKILL the group of any leader not gone within ``timeout`` seconds."""
    for proc in procs:
        if proc.poll() is None:
            with suppress(ProcessLookupError):
                proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and its children (a prefork pool), as a crash would."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


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


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll ``predicate`` until it is true; TimeoutError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def wait_for_workers(settings: Settings, expected: int) -> None:
    """Until ``expected`` workers on this broker answer a ping."""
    from routelearn.service.app import producer_app  # Celery: only where workers are awaited

    app = producer_app(settings)
    try:
        wait_until(
            lambda: len(app.control.ping(timeout=0.5)) >= expected, 60, "workers to answer ping"
        )
    finally:
        app.close()
