"""Engines, database creation, and which database errors are worth retrying."""

from __future__ import annotations

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, exc
from sqlalchemy.engine import make_url

# SQLSTATE classes and codes that say "try again later", not "this input is wrong":
# 08 connection, 53 insufficient resources, 57P0x shutdown/cannot connect now,
# 40001 serialization failure, 40P01 deadlock, 55P03 lock not available, 55000 not allowing
# connections; and a schema that is not migrated yet (3D000 no database, 42P01 no table,
# 42703 no column): events wait in the broker until `routelearn db upgrade` has run.
_TRANSIENT_CLASSES = ("08", "53", "57")
_TRANSIENT_CODES = frozenset({"40001", "40P01", "55P03", "55000", "3D000", "42P01", "42703"})


def make_engine(url: str, pool_size: int = 2) -> Engine:
    """An engine for one process; create it after fork (worker_process_init), never before."""
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=2,
        pool_pre_ping=True,
        pool_recycle=3600,
        connect_args={"connect_timeout": 5},
    )


def is_transient(error: BaseException) -> bool:
    """True when the database was unavailable or a concurrency conflict aborted the transaction."""
    if isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)):
        return True
    cause: BaseException | None = error
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        cause = error.orig
    if isinstance(cause, (psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    code = getattr(cause, "sqlstate", None)
    return isinstance(code, str) and (code in _TRANSIENT_CODES or code[:2] in _TRANSIENT_CLASSES)


def libpq_dsn(url: str, database: str | None = None) -> str:
    """The libpq form of a SQLAlchemy URL, optionally naming another database."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def create_database_if_missing(url: str) -> bool:
    """Create the URL's database from the ``postgres`` maintenance database; True if created."""
    name = make_url(url).database
    if not name:
        raise ValueError(f"the database URL names no database: {url}")
    with psycopg.connect(libpq_dsn(url, "postgres"), autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(url: str) -> None:
    """Drop the URL's database, closing its other connections first (tests, benchmarks)."""
    name = make_url(url).database
    if not name:
        raise ValueError(f"the database URL names no database: {url}")
    with psycopg.connect(libpq_dsn(url, "postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
