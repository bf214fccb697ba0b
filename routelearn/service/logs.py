"""Logging of the Celery processes (workers and beat), from ``ROUTELEARN_LOG_FORMAT``.

- ``json``: routelearn configures the root logger itself (Celery's ``setup_logging`` signal: with
  a receiver, Celery leaves logging alone), one JSON object a line with the current task's id
  and name; the worker's start-up banner (printed, not logged) is turned off.
- ``text``: Celery's own format, as before, with the redacting filter on its handlers.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals
from celery._state import get_current_task

from routelearn import logs
from routelearn.constants import INGEST_EVENT_TASK, INGEST_EVENTS_TASK, SEND_SNAPSHOT_TASK
from routelearn.settings import Settings

# One ingest message is one batch: its task id names the batch.
_BATCH_TASKS = frozenset({INGEST_EVENTS_TASK, INGEST_EVENT_TASK})


def task_context() -> dict[str, str]:
    task = get_current_task()
    request = getattr(task, "request", None)
    task_id = getattr(request, "id", None)
    if task is None or not task_id:
        return {}
    context = {"task_id": str(task_id), "task_name": str(task.name)}
    if task.name in _BATCH_TASKS:
        context["batch_id"] = str(task_id)
    elif task.name == SEND_SNAPSHOT_TASK:
        # Its one argument names the instance (checked by the task; bounded here).
        args = getattr(request, "args", None) or ()
        if args and isinstance(args[0], str) and 0 < len(args[0]) <= 128:
            context["instance_id"] = args[0]
    return context


def install(settings: Settings) -> None:
    """Connect the signal receivers for this process (idempotent)."""
    secrets = logs.secret_values(settings)
    logs.add_context_provider(task_context)

    if settings.log_format == "json":
        # JSON from the start: what Celery says before it sets logging up (a warning about
        # running as root, say) must be a JSON line too.
        logging.captureWarnings(True)
        logs.configure("WARNING", "json", secrets, force=True)

        def setup(loglevel: Any = None, logfile: Any = None, **_: Any) -> None:
            logs.configure(
                loglevel or "WARNING", "json", secrets, logfile=logfile or None, force=True
            )

        def quiet_banner(instance: Any = None, **_: Any) -> None:
            # Sent just before the worker prints its banner: a JSON log has no room for it.
            if instance is not None and hasattr(instance, "quiet"):
                instance.quiet = True

        signals.setup_logging.connect(setup, weak=False, dispatch_uid="routelearn.logs.setup")
        signals.celeryd_after_setup.connect(
            quiet_banner, weak=False, dispatch_uid="routelearn.logs.banner"
        )
        return

    def redacting(logger: Any = None, **_: Any) -> None:
        for handler in getattr(logger, "handlers", ()):
            if not any(isinstance(f, logs.RedactingFilter) for f in handler.filters):
                handler.addFilter(logs.RedactingFilter(secrets))

    signals.after_setup_logger.connect(redacting, weak=False, dispatch_uid="routelearn.logs.redact")
    signals.after_setup_task_logger.connect(
        redacting, weak=False, dispatch_uid="routelearn.logs.redact_task"
    )
