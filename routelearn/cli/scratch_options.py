"""The ``--pg`` and ``--broker`` options of the commands that make scratch databases of their own
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
broker_option = click.option(
    "--broker",
    "--redis",
    "broker_base",
    default="redis://127.0.0.1:6379",
    show_default=True,
    help="Broker server: Redis (an empty db index is used and flushed after) or RabbitMQ, "
    "amqp://... (a scratch virtual host is made and deleted after; needs rabbitmqctl).",
)
