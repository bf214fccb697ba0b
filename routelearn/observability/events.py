"""Events taken in, by how they came (label ``source``: ``broker`` for a task message from
EventPublisher or ``routelearn publish``, ``http`` for POST /api/events; see
``routelearn.messaging.task_message.SOURCE_HEADER``).

Counted where they are judged: an ingest worker counts every event of a batch it committed; the
API counts the events POST /api/events refuses itself, which never reach a worker. Every counter
is labelled, so a process that takes no events exports no sample of them.
"""

from __future__ import annotations

from prometheus_client import Counter

from routelearn.messaging.task_message import EVENT_SOURCES

EVENTS_ACCEPTED = Counter(
    "routelearn_events_accepted",
    "Events stored for the first time (a batch committed), by source.",
    ["source"],
)
EVENTS_REJECTED = Counter(
    "routelearn_events_rejected",
    "Events refused: dead-lettered by a worker (invalid, or refused by the database), or "
    "answered with their errors by POST /api/events. By source.",
    ["source"],
)
EVENTS_DUPLICATE = Counter(
    "routelearn_events_duplicate",
    "Valid events already stored (a redelivery or a resend), not counted again, by source.",
    ["source"],
)


def source_label(value: object) -> str:
    """``value`` if it is a known source, else ``other``: a label takes a bounded set of values,
    whatever a producer writes into its header."""
    return value if isinstance(value, str) and value in EVENT_SOURCES else "other"
