"""Names other processes rely on: task names, queue names. Contracts; keep them as they are."""

from __future__ import annotations

INGEST_EVENTS_TASK = "routelearn.ingest_events"
INGEST_EVENT_TASK = "routelearn.ingest_event"
LEARN_SCORES_TASK = "routelearn.learn_scores"
FAN_OUT_SCORES_TASK = "routelearn.fan_out_scores"

# Queues by kind, so ingestion workers scale out without starving the periodic tasks.
INGEST_QUEUE = "routelearn.ingest"
LEARN_QUEUE = "routelearn.learn"
MAINTENANCE_QUEUE = "routelearn.maintenance"
ALL_QUEUES = (INGEST_QUEUE, LEARN_QUEUE, MAINTENANCE_QUEUE)
