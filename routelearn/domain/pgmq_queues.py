"""The pgmq queues seed 000's instances use, and the names of per-instance score queues.

Seed instances send each routing decision with ``pgmq.send('model_routing_decisions', event)``
and read ``model_score_updates``. A pgmq queue hands each message to one reader, so a fleet
whose every instance must see every update registers one queue per instance:
``model_score_updates_<instance>`` (created with ``pgmq.create``; the learner sends to each).
"""

from __future__ import annotations

import re

DECISIONS_QUEUE = "model_routing_decisions"
SCORE_UPDATES_QUEUE = "model_score_updates"
INSTANCE_QUEUE_PREFIX = f"{SCORE_UPDATES_QUEUE}_"
# pgmq refuses queue names over 47 characters (its tables are q_<name> and a_<name>, and an
# index name adds more within PostgreSQL's 63).
MAX_QUEUE_NAME = 47
MAX_INSTANCE_SUFFIX = MAX_QUEUE_NAME - len(INSTANCE_QUEUE_PREFIX)
# pgmq lower-cases table names, so "A" and "a" would share one table: only lower case here.
_SUFFIX = re.compile(r"[a-z0-9_]+")


def instance_queue(instance: str) -> str:
    """The score queue of ``instance``; ValueError naming the value when pgmq could not hold
    it as a queue of its own."""
    if not _SUFFIX.fullmatch(instance):
        raise ValueError(
            f"instance {instance!r}: a pgmq score queue needs lower-case letters, digits and "
            "underscores only"
        )
    if len(instance) > MAX_INSTANCE_SUFFIX:
        raise ValueError(
            f"instance {instance!r}: {len(instance)} characters, a pgmq score queue allows "
            f"{MAX_INSTANCE_SUFFIX} ({INSTANCE_QUEUE_PREFIX}<instance> within {MAX_QUEUE_NAME})"
        )
    return INSTANCE_QUEUE_PREFIX + instance


def is_instance_queue(queue: str) -> bool:
    """Whether ``queue`` is a per-instance score queue (the learner sends to every one)."""
    return queue.startswith(INSTANCE_QUEUE_PREFIX) and bool(
        _SUFFIX.fullmatch(queue[len(INSTANCE_QUEUE_PREFIX) :])
    )
