"""Names other processes rely on: task names, queue names. Contracts; keep them as they are."""

from __future__ import annotations

INGEST_EVENTS_TASK = "routelearn.ingest_events"
INGEST_EVENT_TASK = "routelearn.ingest_event"
LEARN_SCORES_TASK = "routelearn.learn_scores"
FAN_OUT_SCORES_TASK = "routelearn.fan_out_scores"
FAN_OUT_REGISTRY_TASK = "routelearn.fan_out_registry"
FAN_OUT_POLICY_INPUTS_TASK = "routelearn.fan_out_policy_inputs"
SWEEP_ANOMALIES_TASK = "routelearn.sweep_anomalies"
SEND_SNAPSHOT_TASK = "routelearn.send_snapshot"
MAINTAIN_PARTITIONS_TASK = "routelearn.maintain_partitions"
DELIVER_ALERTS_TASK = "routelearn.deliver_alerts"
CONSUME_PGMQ_TASK = "routelearn.consume_pgmq"

# Queues by kind, so ingestion workers scale out without starving the periodic tasks.
INGEST_QUEUE = "routelearn.ingest"
LEARN_QUEUE = "routelearn.learn"
MAINTENANCE_QUEUE = "routelearn.maintenance"
ALL_QUEUES = (INGEST_QUEUE, LEARN_QUEUE, MAINTENANCE_QUEUE)

# Where the anomaly sweep publishes each opened/updated/closed notice (a durable list on the
# broker, read by whoever alerts on them: `routelearn anomalies watch`, a pager bridge, ...).
ANOMALY_QUEUE = "model_anomalies"
