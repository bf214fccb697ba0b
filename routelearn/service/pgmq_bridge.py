"""The pgmq bridge, inbound: seed instances' decisions from ``model_routing_decisions`` into
the same ingestion as every other source, exactly once.

One batch is one transaction: ``pgmq.read`` (which locks the messages it hands out, FOR UPDATE
SKIP LOCKED, so consumers running at once get disjoint batches), the events written by
`Ingestor.ingest_within`, and ``pgmq.delete`` of the messages. A consumer killed anywhere in
between leaves nothing written and the messages readable again at once; one that commits has
written the events and removed the messages together. A malformed message is dead-lettered in
that transaction, and removed like the others.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from routelearn.domain.pgmq_queues import DECISIONS_QUEUE
from routelearn.domain.validation import Rejection, decode_payload
from routelearn.messaging.task_message import SOURCE_PGMQ
from routelearn.service.ingestion import Ingestor
from routelearn.store import pgmq
from routelearn.store.ingest import BatchCounts

# What dead letters record as the source of a message that failed.
DEAD_LETTER_SOURCE = f"pgmq:{DECISIONS_QUEUE}"


@dataclass(frozen=True, slots=True)
class Drained:
    batches: int = 0
    messages: int = 0
    counts: BatchCounts = field(default_factory=BatchCounts)


def consume_batch(
    ingestor: Ingestor, *, batch_size: int, visibility_timeout: int
) -> tuple[int, BatchCounts] | None:
    """One batch, read, ingested and deleted in one transaction: the number of messages and
    the counts; None when the queue had nothing to read."""
    with ingestor.engine.begin() as conn:
        messages = pgmq.read(conn, DECISIONS_QUEUE, visibility_timeout, batch_size)
        if not messages:
            return None
        # One message, one event, as seed instances send them (an array is refused whole).
        payloads: list[Any] = []
        unreadable: list[Rejection] = []
        for m in messages:
            value = None if m.body is None else decode_payload(m.body)  # None: refused too
            if isinstance(value, Rejection):
                unreadable.append(value)
            else:
                payloads.append(value)
        pending = ingestor.ingest_within(
            conn, payloads, DEAD_LETTER_SOURCE, via=SOURCE_PGMQ, rejected=unreadable
        )
        pgmq.delete(conn, DECISIONS_QUEUE, [m.msg_id for m in messages])
    pending.committed()
    return len(messages), pending.counts


def drain(
    ingestor: Ingestor, *, batch_size: int, visibility_timeout: int, budget_seconds: float
) -> Drained:
    """Batches until the queue has no more to give (a batch short of ``batch_size``) or
    ``budget_seconds`` have passed."""
    ends = time.monotonic() + budget_seconds
    total = Drained()
    while True:
        taken = consume_batch(
            ingestor, batch_size=batch_size, visibility_timeout=visibility_timeout
        )
        if taken is None:
            return total
        read, counts = taken
        total = Drained(total.batches + 1, total.messages + read, total.counts + counts)
        if read < batch_size or time.monotonic() >= ends:
            return total
