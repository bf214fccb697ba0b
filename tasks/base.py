"""The base task: cross-cutting behaviour (delivery guarantees, logging) in one place."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import Task

if TYPE_CHECKING:
    from workers.app import RouteLearnCelery

log = logging.getLogger(__name__)


class RouteLearnTask(Task):  # type: ignore[misc]
    """At-least-once: ack only after success, requeue if the process dies or times out.

    Every task built on it must be idempotent, since a message can be delivered twice.
    """

    acks_late = True
    reject_on_worker_lost = True
    acks_on_failure = False
    acks_on_timeout = False
    ignore_result = True
    typing = False  # a malformed call is the task's to dead-letter, not Celery's to drop

    @property
    def rl_app(self) -> RouteLearnCelery:
        return self.app  # type: ignore[no-any-return]

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        log.error("task %s[%s] failed: %s", self.name, task_id, exc)
