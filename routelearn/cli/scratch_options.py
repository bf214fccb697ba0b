"""The ``--pg`` and ``--redis`` options of the commands that make scratch databases of their own
(``routelearn bench ...``, ``routelearn simulate``)."""

from __future__ import annotations

import click

pg_option = click.option(
    "--pg",
    "pg_base",
    default="postgresql+psycopg://postgres@127.0.0.1:5432",
    show_default=True,
    help="PostgreSQL server (a scratch database is made on it and dropped after).",
)
redis_option = click.option(
    "--redis",
    "redis_base",
    default="redis://127.0.0.1:6379",
    show_default=True,
    help="Redis server (an empty db index is used and flushed after).",
)
