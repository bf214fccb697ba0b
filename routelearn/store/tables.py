"""The current database schema as SQLAlchemy Core metadata.

Migrations under ``routelearn/store/migrations`` build it; ``tests/integration/test_migrations.py``
checks that the migrated database and this metadata agree. Table and column names follow seed
001 so its dashboard SQL runs; the additions are marked.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Sequence,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from routelearn.domain import partitions
from routelearn.domain.latency import NUM_BUCKETS

metadata = MetaData()

# Names of the partitions of ``routing_records`` (created and dropped at run time by
# routelearn.store.partitions, so not declared here): migrations and the schema check skip them.
PARTITION_PREFIX = partitions.PREFIX
DEFAULT_PARTITION = "routing_records_default"


def is_partition(table_name: str) -> bool:
    return table_name.startswith(PARTITION_PREFIX) or table_name == DEFAULT_PARTITION


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name`` hook: compare everything but the run-time partitions."""
    return not (type_ == "table" and name is not None and is_partition(name))


# The audit trail: one row per distinct event, partitioned by day of ``timestamp``. A unique key
# of a partitioned table must hold the partition key, so an event is identified by
# (event_id, timestamp): a redelivery carries both unchanged. Counting never relied on this key
# alone (routing_decisions makes each decision and its first outcome count once).
routing_records = Table(
    "routing_records",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("timestamp", DateTime(timezone=True), primary_key=True),
    Column("instance_id", String, nullable=False),
    Column("complexity", String, nullable=False),
    Column("model", String, nullable=False),
    Column("provider", String, nullable=False),
    Column("score", Float, nullable=False),
    Column("outcome", String, nullable=False),
    # The seed's INTEGER, widened: producers report fractional milliseconds.
    Column("response_time_ms", Float),
    Column("capabilities_required", ARRAY(Text)),
    Column("preference", String),
    Column("created_at", DateTime(timezone=True), server_default=text("now()")),
    # Added: identities that make ingestion exact, and the field the seed's table dropped.
    Column("event_id", Text, nullable=False),
    Column("decision_id", Text),
    Column("decision_key", Text, nullable=False),
    Column("user_model_request", String),
    Column("exploratory", Boolean, nullable=False, server_default=text("false")),
    # Added (issue 11): cost and attribution, and the routing rule and split arm; optional.
    Column("workspace_id", Text),
    Column("agent_type", Text),
    Column("request_type", Text),
    Column("prompt_tokens", BigInteger),
    Column("completion_tokens", BigInteger),
    Column("cost_usd", Float),
    Column("rule_id", Text),
    Column("split_arm", Text),
    UniqueConstraint("event_id", "timestamp", name="uq_routing_records_event_id"),
    Index("idx_routing_records_model_complexity", "model", "complexity"),
    Index("idx_routing_records_timestamp", text("timestamp DESC")),
    Index("idx_routing_records_timestamp_instance", "timestamp", "instance_id"),
    Index("idx_routing_records_outcome", "outcome"),
    Index(
        "idx_routing_records_rule",
        "rule_id",
        "timestamp",
        postgresql_where=text("rule_id IS NOT NULL"),
    ),
    postgresql_partition_by="RANGE (timestamp)",
)

# Added: one row per decision, so a decision counts once and its first outcome once.
routing_decisions = Table(
    "routing_decisions",
    metadata,
    Column("decision_key", Text, primary_key=True),
    Column("model_name", String, nullable=False),
    Column("complexity_level", String, nullable=False),
    Column("instance_id", String, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("outcome", String),
    Column("response_time_ms", Float),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    # Retention deletes decisions with their audit rows.
    Index("idx_routing_decisions_first_seen", "first_seen_at"),
)

# Aggregates per (model, complexity). The seed's unbounded ``response_times`` array is replaced by
# count, sum and a fixed log-bucket histogram (routelearn.domain.latency).
model_routing_metrics = Table(
    "model_routing_metrics",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("model_name", String, nullable=False),
    Column("complexity_level", String, nullable=False),
    Column("usage_count", BigInteger, nullable=False, server_default=text("0")),
    Column("success_count", BigInteger, nullable=False, server_default=text("0")),
    Column("avg_response_time", Float),
    Column("response_time_count", BigInteger, nullable=False, server_default=text("0")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("failure_count", BigInteger, nullable=False, server_default=text("0")),
    Column("response_time_sum", Float, nullable=False, server_default=text("0")),
    Column(
        "response_time_histogram",
        ARRAY(BigInteger),
        nullable=False,
        server_default=text(f"array_fill(0::bigint, ARRAY[{NUM_BUCKETS}])"),
    ),
    UniqueConstraint("model_name", "complexity_level", name="uq_model_routing_metrics_key"),
)

# Payloads that failed validation (or hit an internal error), kept with the reason for replay.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("payload_key", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("errors", JSONB, nullable=False),
    Column("source", String, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    UniqueConstraint("payload_key", name="uq_dead_letters_payload_key"),
)

# Per worker process: what it ingested and the errors it met (seed 000's consumer state).
consumer_stats = Table(
    "consumer_stats",
    metadata,
    Column("worker", Text, primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("batches", BigInteger, nullable=False, server_default=text("0")),
    Column("processed", BigInteger, nullable=False, server_default=text("0")),
    Column("duplicates", BigInteger, nullable=False, server_default=text("0")),
    Column("dead_lettered", BigInteger, nullable=False, server_default=text("0")),
    Column("errors", BigInteger, nullable=False, server_default=text("0")),
    Column("consecutive_errors", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text),
    Column("last_error_at", DateTime(timezone=True)),
)

# Application instances: registered by their first event (or by an operator), retired by an
# operator. Fan-out delivers score updates to every active instance's own queue.
instances = Table(
    "instances",
    metadata,
    Column("instance_id", String, primary_key=True),
    Column("first_seen_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("last_seen_at", DateTime(timezone=True)),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("registered_by", String, nullable=False, server_default=text("'events'")),
    Column("retired_at", DateTime(timezone=True)),
)

# The learned score per (model, complexity); ``version`` grows by one with every change, so an
# instance can ignore an update older than what it holds.
model_scores = Table(
    "model_scores",
    metadata,
    Column("model_name", String, primary_key=True),
    Column("complexity_level", String, primary_key=True),
    Column("score", Float, nullable=False),
    Column("version", BigInteger, nullable=False, server_default=text("0")),
    Column("policy", String),
    Column("confidence", Float),
    Column("based_on_samples", BigInteger, nullable=False, server_default=text("0")),
    Column("source", String, nullable=False, server_default=text("'catalog'")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    # Outcomes counted when the score last changed: ``classic`` waits for enough new ones.
    Column("outcomes_at_adjustment", BigInteger, nullable=False, server_default=text("0")),
    CheckConstraint("score >= 0 AND score <= 5", name="ck_model_scores_range"),
)

# Every score change: old, new, why, on what evidence, by which policy, when.
score_history = Table(
    "score_history",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("model_name", String, nullable=False),
    Column("complexity_level", String, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("old_score", Float),
    Column("new_score", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("based_on_samples", BigInteger, nullable=False, server_default=text("0")),
    Column("confidence", Float),
    Column("policy", String, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Index("idx_score_history_model_time", "model_name", "complexity_level", "changed_at"),
)

# The outcome counters as each learner tick read them, kept for the anomaly sweep: its window is
# the difference between the counters now and a snapshot from a window ago.
metric_snapshots = Table(
    "metric_snapshots",
    metadata,
    Column("taken_at", DateTime(timezone=True), primary_key=True),
    Column("model_name", String, primary_key=True),
    Column("complexity_level", String, primary_key=True),
    Column("success_count", BigInteger, nullable=False),
    Column("failure_count", BigInteger, nullable=False),
    Column("response_time_histogram", ARRAY(BigInteger), nullable=False),
)

# The learner's recency-weighted outcomes per (model, complexity) (routelearn.domain.recency):
# weighted successes, failures and latency histogram as of its last tick, and the cumulative
# counters it had seen then, so the next tick adds only what they gained. One row per pair: a
# tick reads 3,000 rows, not a window per tick for each. Written whole by every tick.
recent_outcomes = Table(
    "recent_outcomes",
    metadata,
    Column("model_name", String, primary_key=True),
    Column("complexity_level", String, primary_key=True),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("seen_success_count", BigInteger, nullable=False),
    Column("seen_failure_count", BigInteger, nullable=False),
    # Raw little-endian vectors of NUM_BUCKETS values (int64, float64), not arrays: converting
    # 6,000 arrays to and from their binary form cost a tenth of a second a tick.
    Column("seen_histogram", LargeBinary, nullable=False),
    Column("weighted_successes", Float, nullable=False),
    Column("weighted_failures", Float, nullable=False),
    Column("weighted_histogram", LargeBinary, nullable=False),
    CheckConstraint(
        f"octet_length(seen_histogram) = {8 * NUM_BUCKETS}"
        f" AND octet_length(weighted_histogram) = {8 * NUM_BUCKETS}",
        name="ck_recent_outcomes_histograms",
    ),
)

# One row per learner tick that ran (a tick that found the lock held does not run).
learner_runs = Table(
    "learner_runs",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("policy", String, nullable=False),
    Column("rows_considered", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("duration_ms", Float, nullable=False),
)

# Counts per hour and (model, complexity, instance), written in the ingestion transaction, so
# dashboards, ``routelearn stats`` and the sweeps never scan the audit table. A decision counts
# in the hour of its first event, an outcome in the hour of its own event; the counting rules are
# those of model_routing_metrics, so the rollups of all hours add up to it exactly.
routing_rollups_hourly = Table(
    "routing_rollups_hourly",
    metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("model_name", String, primary_key=True),
    Column("complexity_level", String, primary_key=True),
    Column("instance_id", String, primary_key=True),
    Column("decisions", BigInteger, nullable=False, server_default=text("0")),
    Column("success_count", BigInteger, nullable=False, server_default=text("0")),
    Column("failure_count", BigInteger, nullable=False, server_default=text("0")),
    Column("response_time_count", BigInteger, nullable=False, server_default=text("0")),
    Column("response_time_sum", Float, nullable=False, server_default=text("0")),
    Column(
        "response_time_histogram",
        ARRAY(BigInteger),
        nullable=False,
        server_default=text(f"array_fill(0::bigint, ARRAY[{NUM_BUCKETS}])"),
    ),
    Index("idx_routing_rollups_hourly_instance", "instance_id", "hour"),
    # Per-model reads over a time range (stats latency/top, the sweep's baselines).
    Index("idx_routing_rollups_hourly_pair", "model_name", "complexity_level", "hour"),
)

# Anomalies the sweep found: at most one open row per (kind, subject); closed rows stay as
# history until retention removes them.
anomalies = Table(
    "anomalies",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("anomaly_id", Text, nullable=False),
    Column("kind", String, nullable=False),
    Column("subject_key", Text, nullable=False),
    Column("subject", JSONB, nullable=False),
    Column("severity", String, nullable=False),
    Column("value", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("clear_sweeps", Integer, nullable=False, server_default=text("0")),
    Column("closed_at", DateTime(timezone=True)),
    Column("close_reason", String),
    UniqueConstraint("anomaly_id", name="uq_anomalies_anomaly_id"),
    Index(
        "uq_anomalies_open",
        "kind",
        "subject_key",
        unique=True,
        postgresql_where=text("closed_at IS NULL"),
    ),
)

# An outbox: each opened/updated/closed notice is written in the sweep's transaction and
# published to the ``model_anomalies`` queue after it commits, so a notice is never lost with a
# broker outage nor sent for a sweep that rolled back.
anomaly_events = Table(
    "anomaly_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("anomaly_id", Text, nullable=False),
    Column("event", String, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("published_at", DateTime(timezone=True)),
    Index("idx_anomaly_events_unpublished", "id", postgresql_where=text("published_at IS NULL")),
)

# Added: the HTTP API's keys (routelearn.domain.api_keys): the secret's SHA-256, never the secret.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("key_id", String(12), nullable=False, unique=True),
    Column("name", String, nullable=False, unique=True),
    Column("role", String, nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    CheckConstraint("role IN ('reader', 'instance', 'operator', 'admin')", name="ck_api_keys_role"),
)

# Added: the central model registry (routelearn.domain.registry). ``record`` is the whole
# document as registered; the columns beside it are what the list filters on. ``version`` comes
# from registry_version_seq, shared by every model, so a re-registered model's changes are newer
# than its removal's.
registry_version_seq = Sequence("registry_version_seq", metadata=metadata)

models = Table(
    "models",
    metadata,
    Column("model_id", String, primary_key=True),
    Column("provider", String, nullable=False),
    Column("model_type", String, nullable=False),
    Column("status", String, nullable=False),
    Column("tags", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    Column("record", JSONB, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint(
        "status IN ('active', 'inactive', 'deprecated', 'maintenance')", name="ck_models_status"
    ),
)

model_endpoints = Table(
    "model_endpoints",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("model_id", String, ForeignKey("models.model_id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("type", String, nullable=False),
    Column("weight", Float, nullable=False),
    Column("health_check_url", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    UniqueConstraint("model_id", "url", name="uq_model_endpoints_url"),
)

model_health_reports = Table(
    "model_health_reports",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("model_id", String, ForeignKey("models.model_id", ondelete="CASCADE"), nullable=False),
    Column("status", String, nullable=False),
    Column("response_time_ms", Float),
    Column("error_rate", Float),
    Column("availability", Float),
    Column("reported_by", String),
    Column("reported_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Index("idx_model_health_reports_model_time", "model_id", "reported_at"),
)

# An outbox, as anomaly_events: a registry change is written in the transaction that makes it
# and fanned out to the instances after it commits (routelearn.fan_out_registry).
registry_changes = Table(
    "registry_changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("model_id", String, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("sent_at", DateTime(timezone=True)),
    Index("idx_registry_changes_unsent", "id", postgresql_where=text("sent_at IS NULL")),
)

# Added (issue 11): the routing policy an operator sets (routelearn.domain.routing_policy): one
# row per rule (key: its id), agent's preferences (key: agentType) and workspace's config (key:
# workspaceId); ``document`` is the piece as validated, camelCase. ``version`` comes from
# policy_version_seq, and each change goes to the policy_changes outbox in the same transaction,
# fanned out with the registry's (routelearn.fan_out_registry).
policy_version_seq = Sequence("policy_version_seq", metadata=metadata)

routing_policy = Table(
    "routing_policy",
    metadata,
    Column("kind", String, primary_key=True),
    Column("key", String, primary_key=True),
    Column("document", JSONB, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint("kind IN ('rule', 'agent', 'workspace')", name="ck_routing_policy_kind"),
)

policy_changes = Table(
    "policy_changes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("kind", String, nullable=False),
    Column("key", String, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("sent_at", DateTime(timezone=True)),
    Index("idx_policy_changes_unsent", "id", postgresql_where=text("sent_at IS NULL")),
)

# Added (issue 11): requests, outcomes, latency, tokens and cost per hour, model, workspace,
# agent type and instance ('' for events that name no workspace or agent type), from the events
# that carry attribution or usage (routelearn.domain.usage), which the analytics read; and each
# workspace's spend per quarter hour, which budgets read: a calendar period in any time zone is
# a whole number of quarter hours.
usage_rollups_hourly = Table(
    "usage_rollups_hourly",
    metadata,
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("model_name", Text, primary_key=True),
    Column("workspace_id", Text, primary_key=True),
    Column("agent_type", Text, primary_key=True),
    Column("instance_id", Text, primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("requests", BigInteger, nullable=False),
    Column("success_count", BigInteger, nullable=False),
    Column("failure_count", BigInteger, nullable=False),
    Column("response_time_count", BigInteger, nullable=False),
    Column("response_time_sum", Float, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("cost_usd", Float, nullable=False),
    # Covering: a workspace's top models and a model's tokens and cost read the index alone.
    Index(
        "idx_usage_rollups_hourly_workspace",
        "workspace_id",
        "hour",
        postgresql_include=["model_name", "requests", "cost_usd"],
    ),
    Index(
        "idx_usage_rollups_hourly_model",
        "model_name",
        "hour",
        postgresql_include=["prompt_tokens", "completion_tokens", "cost_usd"],
    ),
)

# One row per workspace and hour, with its latency histogram: a workspace's analytics read a
# few hundred of these instead of unnesting a histogram per (model, agent, instance) row.
workspace_rollups_hourly = Table(
    "workspace_rollups_hourly",
    metadata,
    Column("workspace_id", Text, primary_key=True),
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("success_count", BigInteger, nullable=False),
    Column("failure_count", BigInteger, nullable=False),
    Column("response_time_count", BigInteger, nullable=False),
    Column("response_time_sum", Float, nullable=False),
    Column("response_time_histogram", ARRAY(BigInteger), nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("cost_usd", Float, nullable=False),
)

# The fleet's recent success rate and latency per (model, complexity), as the routing policy's
# quality floors judge them (routelearn.domain.routing_policy.quality): written by
# routelearn.fan_out_policy_inputs, read by the API, sent to the instances.
model_quality = Table(
    "model_quality",
    metadata,
    Column("model_name", Text, primary_key=True),
    Column("complexity_level", Text, primary_key=True),
    Column("success_rate", Float),
    Column("latency_ms", Float),
    Column("samples", BigInteger, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
)

# The learner's latest estimate report (routelearn.domain.estimates), for the API's central
# router, which gets no fan-out: one row, rewritten by every tick.
learner_estimates = Table(
    "learner_estimates",
    metadata,
    Column("id", SmallInteger, primary_key=True, server_default="1"),
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("report", JSONB, nullable=False),
    CheckConstraint("id = 1", name="learner_estimates_one_row"),
)

workspace_spend = Table(
    "workspace_spend",
    metadata,
    Column("workspace_id", Text, primary_key=True),
    Column("quarter", DateTime(timezone=True), primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("cost_usd", Float, nullable=False),
)

# Added (issue 12): each anomaly notice's delivery to the alert webhook (routelearn.deliver_alerts,
# routelearn.store.alert_deliveries): pending until the webhook answered 2xx (delivered), or
# refused it for good or it grew older than ROUTELEARN_ALERT_MAX_AGE (failed). Separate from
# the outbox row, which the broker publisher locks on its own schedule.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column(
        "event_id",
        BigInteger,
        ForeignKey("anomaly_events.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("anomaly_id", Text, nullable=False),
    Column("status", String, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("delivered_at", DateTime(timezone=True)),
    Column("failed_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    CheckConstraint(
        "status IN ('pending', 'delivered', 'failed')", name="ck_webhook_deliveries_status"
    ),
    # The due ones in order, and "is an earlier notice of this anomaly still pending?".
    Index(
        "idx_webhook_deliveries_pending",
        "event_id",
        postgresql_where=text("status = 'pending'"),
    ),
    Index(
        "idx_webhook_deliveries_pending_anomaly",
        "anomaly_id",
        "event_id",
        postgresql_where=text("status = 'pending'"),
    ),
)
