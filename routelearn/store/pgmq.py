"""pgmq in our database: its install, and the few calls the bridge makes (`routelearn.domain.
pgmq_queues` names the queues).

pgmq comes as a PostgreSQL extension where the server has it, and otherwise as plain SQL (the
``pgmq`` package on PyPI ships it, at the version that package pins): same schema, same
functions, nothing to install on the server. The calls run in the caller's transaction, which
is the point: the bridge deletes the messages it read in the transaction that writes their
events, and the learner sends its updates in the one that changes the scores. The one
exception, `drop_superseded_updates`, runs after a tick, one short transaction per queue.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from routelearn.domain.pgmq_queues import (
    DECISIONS_QUEUE,
    SCORE_UPDATES_QUEUE,
    instance_queue,
    is_instance_queue,
)
from routelearn.domain.score_update import EVENT_TYPE as SCORE_UPDATE_TYPE
from routelearn.domain.score_update import ScoreUpdate
from routelearn.store.learner import LEARNER_LOCK

if TYPE_CHECKING:
    from routelearn.store.learner import ScoreChange

log = logging.getLogger(__name__)

Install = Literal["extension", "sql"]

# pg_advisory_xact_lock key: "pgmq" in ASCII. Two installs at once would race on the schema.
_INSTALL_LOCK = 0x70676D71


@dataclass(frozen=True, slots=True)
class Message:
    msg_id: int
    read_ct: int
    enqueued_at: datetime
    body: str | None  # the jsonb value as JSON text (None: SQL NULL), decoded by the caller


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    queue: str
    length: int  # messages in the queue, visible or not
    visible: int  # readable now (not held by a reader's visibility timeout)
    oldest_age_seconds: float | None  # None: empty
    total_sent: int  # ever


def _raw(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under ``conn``: for statements SQLAlchemy would rewrite (a
    composed identifier, a script with '%' signs)."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def _table(queue: str) -> sql.Identifier:
    """``queue``'s table, as pgmq names it (``pgmq.format_table_name``: lower case)."""
    return sql.Identifier("pgmq", f"q_{queue}".lower())


def installed(conn: Connection) -> Install | None:
    """How pgmq is installed in this database, or None."""
    extension = conn.exec_driver_sql(
        "SELECT 1 FROM pg_extension WHERE extname = 'pgmq'"
    ).scalar_one_or_none()
    if extension is not None:
        return "extension"
    if conn.exec_driver_sql("SELECT to_regclass('pgmq.meta')").scalar_one() is not None:
        return "sql"
    return None


def sql_version() -> str:
    """The pgmq version of the SQL the ``pgmq`` package ships."""
    from pgmq import get_embedded_sql_version

    return str(get_embedded_sql_version())


def install(conn: Connection) -> tuple[Install, bool]:
    """Install pgmq unless it is there (the extension when the server offers it, the
    package's SQL otherwise) and create the two queues seed instances use. Returns how pgmq is
    installed and whether this call installed it."""
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (_INSTALL_LOCK,))
    how = installed(conn)
    fresh = how is None
    if how is None:
        available = conn.exec_driver_sql(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pgmq'"
        ).scalar_one_or_none()
        if available is not None and _create_extension(conn):
            how = "extension"
        else:
            from pgmq import get_embedded_install_sql

            # Straight to psycopg without parameters: the script holds '%' signs, and a
            # parameterised execute would take them for placeholders. Same transaction.
            _raw(conn).execute(get_embedded_install_sql())
            how = "sql"
    for queue in (DECISIONS_QUEUE, SCORE_UPDATES_QUEUE):
        create_queue(conn, queue)
    return how, fresh


def _create_extension(conn: Connection) -> bool:
    """CREATE EXTENSION pgmq, in a savepoint: a role without the privilege (common on managed
    servers) falls back on the SQL install, which needs none."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION pgmq")
    except DBAPIError as exc:
        log.warning("CREATE EXTENSION pgmq failed, installing pgmq's SQL instead: %s", exc.orig)
        return False
    return True


def create_queue(conn: Connection, queue: str) -> None:
    """Create ``queue`` (nothing when it exists)."""
    conn.exec_driver_sql("SELECT pgmq.create(%s)", (queue,))


def drop_queue(conn: Connection, queue: str) -> bool:
    return bool(conn.exec_driver_sql("SELECT pgmq.drop_queue(%s)", (queue,)).scalar_one())


def queues(conn: Connection) -> list[str]:
    return sorted(
        r[0] for r in conn.exec_driver_sql("SELECT queue_name FROM pgmq.list_queues()").fetchall()
    )


def instance_queues(conn: Connection) -> list[str]:
    """Every per-instance score queue (``model_score_updates_<instance>``)."""
    return [q for q in queues(conn) if is_instance_queue(q)]


def read(conn: Connection, queue: str, visibility_seconds: int, limit: int) -> list[Message]:
    """Up to ``limit`` messages, oldest first, hidden from other readers for
    ``visibility_seconds`` (or until this transaction ends without deleting them: pgmq's read
    locks them FOR UPDATE SKIP LOCKED, and a rollback makes them visible at once)."""
    # As text, for the caller to decode: msgspec is faster than psycopg's jsonb loader (a third
    # of a read), and jsonb holds values (nested thousands deep) no Python parser reads, which
    # must be refused one by one rather than fail the batch.
    rows = conn.exec_driver_sql(
        "SELECT msg_id, read_ct, enqueued_at, message::text FROM pgmq.read(%s, %s, %s)",
        (queue, visibility_seconds, limit),
    ).fetchall()
    return [Message(int(r[0]), int(r[1]), r[2], r[3]) for r in rows]


def delete(conn: Connection, queue: str, msg_ids: Sequence[int]) -> int:
    if not msg_ids:
        return 0
    deleted = conn.exec_driver_sql(
        "SELECT count(*) FROM pgmq.delete(%s, %s::bigint[])", (queue, list(msg_ids))
    ).scalar_one()
    return int(deleted)


def send_batch(conn: Connection, queue: str, messages: Sequence[object]) -> int:
    """Send each of ``messages`` (JSON-able) as one pgmq message."""
    if not messages:
        return 0
    sent = conn.exec_driver_sql(
        "SELECT count(*) FROM pgmq.send_batch(%s, %s::jsonb[])",
        (queue, [json.dumps(m) for m in messages]),
    ).scalar_one()
    return int(sent)


def drop_superseded(conn: Connection, queue: str) -> int:
    """Delete every message of the score queue ``queue`` that a newer one for the same model
    and complexity supersedes (an instance applies the newest anyway): a queue nobody reads
    stays as long as the score table, not as long as its history. Messages a reader holds
    are skipped (SKIP LOCKED), never waited for."""
    table = _table(queue)
    # Score updates only: anything else sent to the queue (by hand, by mistake) is left alone.
    statement = sql.SQL(
        "DELETE FROM {t} WHERE msg_id IN ("
        " SELECT msg_id FROM {t} WHERE msg_id IN ("
        "  SELECT msg_id FROM ("
        "   SELECT msg_id, row_number() OVER (PARTITION BY message->>'model',"
        "    message->>'complexity' ORDER BY msg_id DESC) AS newer FROM {t}"
        "   WHERE jsonb_typeof(message) = 'object'"
        "    AND message->>'event_type' = %s"
        "    AND message->>'model' IS NOT NULL AND message->>'complexity' IS NOT NULL"
        "  ) AS ranked WHERE newer > 1"
        " ) FOR UPDATE SKIP LOCKED)"
    ).format(t=table)
    with _raw(conn).cursor() as cursor:
        cursor.execute(statement, (SCORE_UPDATE_TYPE,))
        return int(cursor.rowcount)


def send_score_updates(conn: Connection, updates: Sequence[object]) -> list[str]:
    """``updates`` (seed 000's score update, `ScoreUpdate.to_message`) to the shared queue and
    to every per-instance queue; the queues sent to. Each queue in a savepoint: one dropped
    meanwhile (unregistered, or by hand) is skipped, logged, and fails nothing else."""
    sent = []
    for queue in [SCORE_UPDATES_QUEUE, *instance_queues(conn)]:
        try:
            with conn.begin_nested():
                send_batch(conn, queue, updates)
        except DBAPIError as exc:
            if not isinstance(exc.orig, psycopg.errors.UndefinedTable):
                raise  # anything else fails the tick: its changes are sent or not stored
            log.warning("score updates not sent to pgmq queue %s: it is gone", queue)
            continue
        sent.append(queue)
    return sent


def send_updates(conn: Connection, updates: Sequence[ScoreUpdate]) -> None:
    """Score changes stored in ``conn``'s transaction (a catalog or config import's), sent with
    them, as `send_score_changes` sends the learner's. Without pgmq installed: logged."""
    if installed(conn) is None:
        log.warning(
            "ROUTELEARN_PGMQ_ENABLED but pgmq is not installed (routelearn db upgrade "
            "--with-pgmq): %d score changes not sent to pgmq",
            len(updates),
        )
        return
    send_score_updates(conn, [u.to_message() for u in updates])


def send_score_changes(conn: Connection, changes: Sequence[ScoreChange], when: datetime) -> None:
    """`run_learner`'s ``with_changes`` for the bridge: each change as seed 000's score update,
    in the learner's transaction."""
    send_updates(conn, [c.to_update(when) for c in changes])


def import_sender(enabled: bool) -> Callable[[Connection, Sequence[ScoreUpdate]], None] | None:
    """What a catalog or config import passes as ``with_updates``: `send_updates` while the
    bridge is on (``ROUTELEARN_PGMQ_ENABLED``)."""
    return send_updates if enabled else None


def drop_superseded_updates(engine: Engine) -> int:
    """`drop_superseded` on every score queue, each in its own short transaction: after a
    learner tick, never inside it (a reader holding a message would fail or block the tick)."""
    dropped = 0
    with engine.connect() as conn:
        if installed(conn) is None:
            return 0
        targets = [SCORE_UPDATES_QUEUE, *instance_queues(conn)]
    for queue in targets:
        try:
            with engine.begin() as conn:
                dropped += drop_superseded(conn, queue)
        except DBAPIError as exc:  # dropped meanwhile: nothing to trim
            log.warning("pgmq queue %s not trimmed: %s", queue, exc.orig)
    return dropped


def register(conn: Connection, instance: str) -> tuple[str, int]:
    """Create ``instance``'s score queue and send it every current score (old_score =
    new_score: where the learner stands, for an instance that starts from its own catalog);
    the queue and the number of scores sent. Registering again sends them again (an update
    whose version the instance holds is one it may skip). Waits for a learner tick running:
    a change it makes reaches the queue either in the snapshot or after it."""
    queue = instance_queue(instance)
    # Holding the learner's lock, wait for no table lock for long (a reader's open transaction
    # on the queue): every tick meanwhile would be skipped.
    conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (LEARNER_LOCK,))
    create_queue(conn, queue)
    rows = conn.exec_driver_sql(
        "SELECT model_name, complexity_level, score, version, confidence,"
        " coalesce(based_on_samples, 0), now() FROM model_scores"
        " ORDER BY model_name, complexity_level"
    ).fetchall()
    snapshot = [
        ScoreUpdate(
            timestamp=r[6],
            model=r[0],
            complexity=r[1],
            old_score=r[2],
            new_score=r[2],
            reason=f"current score at registration of {queue}",
            confidence=r[4],
            based_on_samples=int(r[5]),
            version=int(r[3]),
        ).to_message()
        for r in rows
    ]
    send_batch(conn, queue, snapshot)
    return queue, len(snapshot)


def unregister(conn: Connection, instance: str) -> tuple[str, bool]:
    """Drop ``instance``'s score queue; the queue, and whether it existed. A tick sending to it
    at that moment finishes first (the drop waits for its lock) or passes it by."""
    queue = instance_queue(instance)
    return queue, drop_queue(conn, queue)


_METRICS = (
    "SELECT queue_name, queue_length, queue_visible_length, oldest_msg_age_sec, total_messages"
)


def metrics(conn: Connection) -> list[QueueMetrics]:
    """Every queue's figures: ``pgmq.metrics_all()``, or, when that fails (a queue's table
    dropped by hand while pgmq still lists it), queue by queue, leaving out what fails."""
    try:
        with conn.begin_nested():
            rows = conn.exec_driver_sql(
                f"{_METRICS} FROM pgmq.metrics_all() ORDER BY queue_name"
            ).fetchall()
    except DBAPIError as exc:
        log.warning("pgmq.metrics_all() failed, reading queue by queue: %s", exc.orig)
        rows = []
        for queue in queues(conn):
            try:
                with conn.begin_nested():
                    rows += conn.exec_driver_sql(
                        f"{_METRICS} FROM pgmq.metrics(%s)", (queue,)
                    ).fetchall()
            except DBAPIError as failed:
                log.warning("pgmq queue %s unreadable: %s", queue, failed.orig)
    return [
        QueueMetrics(
            queue=r[0],
            length=int(r[1]),
            visible=int(r[2]),
            oldest_age_seconds=None if r[3] is None else float(r[3]),
            total_sent=int(r[4]),
        )
        for r in rows
    ]


def stuck(conn: Connection, queue: str, older_than_seconds: float) -> list[Message]:
    """The oldest messages (up to 20; their first 200 characters) of ``queue`` enqueued over
    ``older_than_seconds`` ago and still there: no consumer has taken them (seed 000's "stuck
    messages" check). The bridge reads and deletes in one transaction, so a batch it failed
    on is visible again at once with its read count unchanged; a count above 0 means a reader
    that commits its reads without deleting."""
    table = _table(queue)
    statement = sql.SQL(
        "SELECT msg_id, read_ct, enqueued_at, left(message::text, 200) FROM {t}"
        " WHERE enqueued_at < now() - make_interval(secs => %s) ORDER BY msg_id LIMIT 20"
    ).format(t=table)
    with _raw(conn).cursor() as cursor:
        cursor.execute(statement, (older_than_seconds,))
        return [Message(int(r[0]), int(r[1]), r[2], r[3]) for r in cursor.fetchall()]
