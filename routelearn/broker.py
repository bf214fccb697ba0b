"""Broker settings shared by every process that talks to the broker, and a producer-only app."""

from __future__ import annotations

from typing import Any

from celery import Celery

from routelearn.settings import Settings


def transport_options(settings: Settings) -> dict[str, Any]:
    """Workers, beat, Flower and publishers must see one visibility timeout."""
    return {
        # A message unacked this long is redelivered; longer than any task's hard time limit.
        "visibility_timeout": settings.visibility_timeout,
        # Sweep for a dead worker's unacked messages often, and on every sweep (throttle 1), so
        # they return within visibility_timeout + unacked_restore_interval (50 s by default).
        "unacked_restore_interval": settings.unacked_restore_interval,
        "unacked_restore_throttle": 1,
        # Fail a publish on a dead connection instead of hanging forever.
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
    }


def producer_app(settings: Settings) -> Celery:
    """A Celery app that only sends (no tasks, no database): what instances embed."""
    app = Celery("routelearn-producer", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
    )
    return app
