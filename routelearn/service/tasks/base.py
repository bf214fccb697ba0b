"""The base task: what every task does on a transient error, and its logging, in one place.

Delivery guarantees (acks late, requeue on a lost worker) are Celery settings, in
``routelearn.service.config``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from celery import Task
from celery.exceptions import Reject, SoftTimeLimitExceeded

from routelearn.errors import TransientError
from routelearn.store.engine import is_transient

if TYPE_CHECKING:
    from routelearn.service.app import RouteLearnCelery

log = logging.getLogger(__name__)


def is_transient_error(error: BaseException) -> bool:
    """The database or the broker did not answer, or the task ran out of time: trying the
    same work again later may succeed."""
    return isinstance(error, (TransientError, SoftTimeLimitExceeded)) or is_transient(error)


class RouteLearnTask(Task):  # type: ignore[misc]
    """Every routelearn task. Each must be idempotent: a message can be delivered twice."""

    typing = False  # a malformed call is the task's to dead-letter, not Celery's to drop
    # On a transient error, "requeue" hands the message back to the broker unacknowledged (work
    # that must not be lost: ingestion, fan-out, a snapshot asked for); "skip" ends this run,
    # logged, for periodic work that the next beat tick does anyway (a retry would only pile
    # up behind it). Set per task: ``@shared_task(..., on_transient="requeue")``.
    on_transient: ClassVar[Literal["requeue", "skip"]] = "skip"
    # The main process leaves a message's body for the pool process to decode.
    Strategy = "routelearn.service.strategy:decode_once"

    @property
    def rl_app(self) -> RouteLearnCelery:
        return self.app  # type: ignore[no-any-return]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if not is_transient_error(exc):
                raise
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if self.on_transient == "requeue":
                log.warning("%s handed back to the broker: %s", self.name, reason)
                raise Reject(reason, requeue=True) from exc
            log.warning("%s skipped until its next run: %s", self.name, reason)
            return {"ran": False, "error": reason}

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        log.error("task %s[%s] failed: %s", self.name, task_id, exc)
