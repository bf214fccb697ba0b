"""``routelearn.consume_pgmq``: beat sends it every ``ROUTELEARN_PGMQ_POLL_INTERVAL`` seconds
while ``ROUTELEARN_PGMQ_ENABLED``; an ingestion worker drains ``model_routing_decisions``."""

from __future__ import annotations

from celery import shared_task

from routelearn.constants import CONSUME_PGMQ_TASK
from routelearn.service.pgmq_bridge import drain
from routelearn.service.tasks.base import RouteLearnTask

# Of the soft time limit, what one run may spend draining: it ends between batches, well
# before the limit, and the next beat message carries on.
_BUDGET_FRACTION = 0.5


@shared_task(name=CONSUME_PGMQ_TASK, bind=True, base=RouteLearnTask)
def consume_pgmq(self: RouteLearnTask) -> dict[str, int]:
    # A database that does not answer: this run is skipped (its batch, uncommitted, is
    # readable again at once), and the next beat message tries again.
    settings = self.rl_app.settings
    drained = drain(
        self.rl_app.ingestor,
        batch_size=settings.pgmq_batch_size,
        visibility_timeout=settings.pgmq_visibility_timeout,
        budget_seconds=settings.ingest_soft_time_limit * _BUDGET_FRACTION,
    )
    counts = drained.counts
    return {
        "batches": drained.batches,
        "messages": drained.messages,
        "inserted": counts.inserted,
        "duplicates": counts.duplicates,
        "rejected": counts.rejected,
    }
