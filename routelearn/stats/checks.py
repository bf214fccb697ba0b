"""Does each dependency answer: the broker, the database, its schema. One set of checks for
``routelearn doctor`` and the API's ``/health/ready`` and ``/health/detailed``.

``detail`` is for an operator (the address, password hidden, and what to do); ``summary`` says
only how it went, for answers given without a key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from routelearn.messaging.broker import connection
from routelearn.settings import Settings
from routelearn.store import migrate


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    summary: str
    latency_ms: float = 0.0


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _timed(check: Callable[[], Check]) -> Check:
    started = time.perf_counter()
    result = check()
    latency = round((time.perf_counter() - started) * 1000, 2)
    return Check(result.name, result.ok, result.detail, result.summary, latency)


def check_broker(settings: Settings) -> Check:
    def run() -> Check:
        try:
            with connection(settings) as conn:
                conn.ensure_connection(max_retries=1, timeout=3)
        except Exception as exc:
            return Check(
                "broker",
                False,
                f"{_safe(settings.broker_url)} does not answer ({exc}). Start the broker, or "
                "set ROUTELEARN_BROKER_URL to one that runs.",
                type(exc).__name__,
            )
        return Check("broker", True, f"{_safe(settings.broker_url)} answers", "answers")

    return _timed(run)


def check_database(settings: Settings) -> tuple[Check, Check]:
    """The database answers; its schema is at head (read in the same visit)."""
    url = settings.database_url
    started = time.perf_counter()
    try:
        current = migrate.current_revision(url)
    except Exception as exc:
        text = str(exc).splitlines()[0]
        if "does not exist" in text:
            detail = f"{text}. Run: routelearn db upgrade"
        else:
            detail = (
                f"{_safe(url)} does not answer ({text}). Start PostgreSQL, or set "
                "ROUTELEARN_DATABASE_URL to one that runs."
            )
        latency = round((time.perf_counter() - started) * 1000, 2)
        failed = Check("database", False, detail, type(exc).__name__, latency)
        return failed, Check("schema", False, "the database does not answer", "unknown")
    latency = round((time.perf_counter() - started) * 1000, 2)
    database = Check("database", True, f"{_safe(url)} answers", "answers", latency)
    head = migrate.head_revision()
    if current != head:
        schema = Check(
            "schema",
            False,
            f"schema at revision {current or 'none'}, code expects {head}. "
            "Run: routelearn db upgrade",
            "SchemaBehind",
        )
    else:
        schema = Check("schema", True, f"schema at head ({head})", f"at head ({head})")
    return database, schema


def check_pgmq(settings: Settings) -> list[Check]:
    """The pgmq bridge (docs/pgmq.md), where pgmq is installed or the bridge is on: pgmq is
    there, both queues exist, no decision waits longer than `HealthThresholds.pgmq_stuck_s`
    (seed 000's troubleshooting: "queue exists", "stuck messages"). Nothing where neither."""
    from routelearn.domain.pgmq_queues import (
        DECISIONS_QUEUE,
        INSTANCE_QUEUE_PREFIX,
        SCORE_UPDATES_QUEUE,
        is_instance_queue,
    )
    from routelearn.stats.health import HealthThresholds
    from routelearn.store import pgmq
    from routelearn.store.engine import make_engine

    limit = HealthThresholds().pgmq_stuck_s
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            how = pgmq.installed(conn)
            if how is None:
                if not settings.pgmq_enabled:
                    return []
                return [
                    Check(
                        "pgmq",
                        False,
                        "ROUTELEARN_PGMQ_ENABLED is set but pgmq is not installed. Run: "
                        "routelearn db upgrade --with-pgmq",
                        "not installed",
                    )
                ]
            found = [Check("pgmq", True, f"installed ({how})", f"installed ({how})")]
            present = pgmq.queues(conn)
            missing = [q for q in (DECISIONS_QUEUE, SCORE_UPDATES_QUEUE) if q not in present]
            if missing:
                found.append(
                    Check(
                        "pgmq queues",
                        False,
                        f"missing: {', '.join(missing)}. Run: routelearn pgmq install",
                        "missing",
                    )
                )
                return found
            found.append(
                Check("pgmq queues", True, f"{DECISIONS_QUEUE}, {SCORE_UPDATES_QUEUE}", "exist")
            )
            misnamed = [
                q
                for q in present
                if q.startswith(INSTANCE_QUEUE_PREFIX) and not is_instance_queue(q)
            ]
            if misnamed:
                found.append(
                    Check(
                        "pgmq instance queues",
                        False,
                        f"{', '.join(misnamed)}: not an instance score queue (lower-case letters, "
                        "digits and underscores after the prefix), so no update is sent to it. "
                        "Register with: routelearn pgmq register INSTANCE",
                        "misnamed",
                    )
                )
            stuck = pgmq.stuck(conn, DECISIONS_QUEUE, limit)
    finally:
        engine.dispose()
    if not stuck:
        found.append(Check("pgmq backlog", True, f"no decision waits over {limit:.0f} s", "none"))
        return found
    ids = ", ".join(str(m.msg_id) for m in stuck[:5])
    why = (
        "is a worker consuming routelearn.ingest, and beat running?"
        if settings.pgmq_enabled
        else "the bridge is off: set ROUTELEARN_PGMQ_ENABLED=true for the workers and beat"
    )
    found.append(
        Check(
            "pgmq backlog",
            False,
            f"decisions waiting over {limit:.0f} s in {DECISIONS_QUEUE} (msg_id "
            f"{ids}{', ...' if len(stuck) > 5 else ''}): {why}",
            "stuck",
        )
    )
    return found


def check_all(settings: Settings) -> list[Check]:
    return [*check_database(settings), check_broker(settings)]
