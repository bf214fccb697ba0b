"""The seeds' dashboard queries, corrected, shipped as ``routelearn/stats/sql/dashboard/*.sql``.

Each file is plain SQL that also runs as is in ``psql``; its leading ``--`` comment block names
the query (first line), the seed it comes from and what was corrected. Queries are read-only
and take no parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from sqlalchemy import Engine

from routelearn.errors import UnknownQueryError

SUFFIX = ".sql"


def _folder() -> Traversable:
    return resources.files("routelearn.stats").joinpath("sql", "dashboard")


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    title: str
    sql: str


def names() -> list[str]:
    """The shipped queries' names (file names without ``.sql``), sorted."""
    return sorted(
        entry.name.removesuffix(SUFFIX)
        for entry in _folder().iterdir()
        if entry.is_file() and entry.name.endswith(SUFFIX)
    )


def title_of(sql: str) -> str:
    """The query's title: its first line, a ``--`` comment."""
    first = sql.lstrip().partition("\n")[0].strip()
    return first.removeprefix("--").strip() if first.startswith("--") else ""


def load(name: str) -> Query:
    """The shipped query called ``name``; UnknownQueryError names the known ones otherwise."""
    known = names()
    if name not in known:
        raise UnknownQueryError(
            f"no dashboard query named {name!r}; known queries: {', '.join(known)}"
        )
    sql = _folder().joinpath(name + SUFFIX).read_text(encoding="utf-8")
    return Query(name=name, title=title_of(sql), sql=sql)


def run(engine: Engine, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run query ``name`` in a read-only transaction: (column names, rows).

    The SQL goes to the driver unparsed and without parameters, so a ``%`` or ``:word`` in it
    (comments included) is not taken for a placeholder, just as in ``psql``.
    """
    query = load(name)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        cursor = conn.connection.cursor()
        try:
            cursor.execute(query.sql)
            columns = [str(column[0]) for column in cursor.description or ()]
            rows = [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()
        conn.rollback()
    return columns, rows
