"""Configuration from ``ROUTELEARN_*`` environment variables, validated once at start."""

from __future__ import annotations

import dataclasses
import json
import re
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from routelearn.domain.policy import (
    CalibratedParams,
    ClassicParams,
    Policy,
    make_policy,
)
from routelearn.errors import ConfigError

# An HTTP header name (RFC 9110 token).
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def is_redis(url: str) -> bool:
    """A Redis broker URL (else RabbitMQ: what differs between them keys on this)."""
    return url.split("://", 1)[0] in ("redis", "rediss")


class Settings(BaseSettings):
    """Every tunable of routelearn; README's configuration table documents each one."""

    model_config = SettingsConfigDict(env_prefix="ROUTELEARN_", frozen=True, extra="ignore")

    broker_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/routelearn"

    # Broker redelivery: a message unacked for this long is handed to another worker, so it must
    # exceed every task's hard time limit; it also bounds how long a killed worker's messages wait.
    visibility_timeout: float = Field(default=45.0, gt=0)
    unacked_restore_interval: float = Field(default=5.0, gt=0)
    ingest_soft_time_limit: float = Field(default=20.0, gt=0)
    ingest_time_limit: float = Field(default=25.0, gt=0)
    worker_prefetch_multiplier: int = Field(default=1, ge=1, le=64)

    # Producer side (EventPublisher): a batch leaves at this many events or after this many ms.
    publish_batch_size: int = Field(default=1000, ge=1, le=10_000)
    publish_linger_ms: float = Field(default=50.0, ge=0)
    publish_buffer_size: int = Field(default=100_000, ge=1)
    # Event batches are compressed on the way (a tenth of the bytes: less for the broker to
    # carry and for Redis' JSON envelope to escape). Workers must know the codec: upgrade them
    # before the instances, or set "none".
    publish_compression: Literal["zstd", "none"] = "zstd"

    # Back-off of a worker that keeps hitting database errors: base and cap, in seconds.
    db_retry_base: float = Field(default=0.2, gt=0)
    db_retry_cap: float = Field(default=5.0, gt=0)

    db_pool_size: int = Field(default=2, ge=1, le=100)

    # The score learner (beat-driven): its policy, period, the score of a model first seen in
    # events, and its own time limits (below the visibility timeout).
    score_policy: Literal["calibrated", "classic"] = "calibrated"
    # Thresholds of the chosen policy, as JSON: '{"min_samples": 50, "half_life_seconds": 60}'
    # (names as in ClassicParams / CalibratedParams, docs/score-policies.md); unset ones keep
    # their defaults.
    score_policy_params: dict[str, bool | int | float] = Field(default_factory=dict)
    learner_interval: float = Field(default=60.0, gt=0)
    default_score: float = Field(default=2.5, ge=0.0, le=5.0)
    learner_soft_time_limit: float = Field(default=30.0, gt=0)
    learner_time_limit: float = Field(default=40.0, gt=0)
    # Rounds an instance's queue keeps while nobody consumes it (1,440 = a day of 60 s ticks);
    # past it the oldest rounds are dropped, and a returning instance catches up by snapshot.
    instance_queue_max: int = Field(default=1440, ge=1)
    # Notices the model_anomalies queue keeps while nobody reads it (the table keeps them all).
    anomaly_queue_max: int = Field(default=100_000, ge=1)
    # RabbitMQ only: declare routelearn's queues as quorum queues (replicated across a cluster).
    # Every process must agree (RabbitMQ refuses to redeclare a queue with another type), and
    # existing classic queues must be deleted first.
    quorum_queues: bool = False

    # Anomaly sweeps (beat-driven): period, the window judged (seconds) against the baseline
    # before it (hours, from the hourly rollups), and the sweep's own time limits.
    anomaly_interval: float = Field(default=60.0, gt=0)
    anomaly_window: float = Field(default=300.0, gt=0)
    anomaly_baseline_hours: int = Field(default=24, ge=1, le=24 * 31)

    # Retention (the hourly maintenance task): audit rows and decisions older than this many
    # days are dropped, a day partition at a time; partitions are created this many days ahead.
    retention_days: int = Field(default=90, ge=1)
    partition_days_ahead: int = Field(default=7, ge=1, le=366)
    rollup_retention_days: int = Field(default=400, ge=1)
    maintenance_interval: float = Field(default=3600.0, gt=0)
    # Registry changes are fanned out as soon as they are made; this periodic run sends any
    # the immediate one missed (broker down when the change was made).
    registry_fanout_interval: float = Field(default=30.0, gt=0)
    # Every workspace's spend against its budget reaches the instances this often (only while
    # some workspace has a budget limit): how stale an instance's view of the spend may be.
    policy_inputs_interval: float = Field(default=10.0, gt=0)

    # The pgmq bridge (docs/pgmq.md): seed instances' pgmq.send('model_routing_decisions', ...)
    # in, every learned score change out to model_score_updates (and per-instance queues).
    pgmq_enabled: bool = False
    pgmq_batch_size: int = Field(default=1000, ge=1, le=10_000)
    # pgmq.read's visibility timeout. The bridge deletes what it reads in the same transaction
    # (a batch rolled back is visible again at once), so this bounds only a reader that
    # commits its reads without deleting them.
    pgmq_visibility_timeout: int = Field(default=30, ge=1, le=3600)
    pgmq_poll_interval: float = Field(default=1.0, gt=0, le=600)

    # The HTTP API (`routelearn serve`): where it listens (loopback unless configured), and the
    # bounds of one POST /api/events body (checked before it is parsed).
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=3003, ge=1, le=65535)
    api_max_events: int = Field(default=10_000, ge=1)
    api_max_body_bytes: int = Field(default=10_000_000, ge=1024)
    # Requests per key per window, shared by every API process through Redis; per-role
    # overrides as JSON ('{"instance": 20000}'). 0 turns the limit off.
    api_rate_limit: int = Field(default=6000, ge=0)
    api_rate_window: int = Field(default=60, ge=1)
    api_rate_limits: dict[str, int] = Field(default_factory=dict)
    # The Redis the rate limits count in: by default the broker's, when the broker is Redis.
    redis_url: str | None = None
    # Seconds an API process remembers a key it found valid (a revoked key works that long
    # more at most); 0 looks every request's key up in the database.
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # POST /api/route: how often each API process re-reads the registry and the scores it
    # routes from (a cheap query when nothing changed), and the share of decisions that
    # explore an uncertain or stale model instead of the best (as the instance-side router).
    api_route_refresh_ms: float = Field(default=1000.0, ge=10, le=600_000)
    api_route_explore_share: float = Field(default=0.05, ge=0.0, le=1.0)
    # Which model an exploring decision takes (routelearn.instance.router.exploration.Strategy).
    api_route_explore_strategy: Literal["thompson", "ucb", "uniform"] = "thompson"
    # One log line per request (never a key: keys travel in a header). Off, uvicorn spends a
    # tenth less per request.
    api_access_log: bool = True

    # -- Observability (issue 12): alert delivery, log format, Flower's address. -------------
    # Every anomaly notice is POSTed to this webhook (unset: no delivery) as a Slack,
    # Alertmanager or plain JSON body, at least once, retried with back-off (base, cap) until
    # it is alert_max_age seconds old, by routelearn.deliver_alerts (beat, every
    # alert_interval seconds, and after each sweep that wrote notices). docs/alerts.md.
    # The URL (a Slack webhook's path is its key), the bearer token and the extra headers (JSON
    # object) are secrets: never logged, never shown in an error.
    alert_webhook_url: SecretStr | None = None
    alert_webhook_format: Literal["slack", "alertmanager", "json"] = "json"
    alert_webhook_token: SecretStr | None = None
    alert_webhook_headers: SecretStr | None = None
    alert_webhook_timeout: float = Field(default=10.0, gt=0, le=60)
    alert_retry_base: float = Field(default=10.0, gt=0)
    alert_retry_cap: float = Field(default=600.0, gt=0)
    alert_max_age: float = Field(default=86_400.0, gt=0)
    alert_interval: float = Field(default=15.0, gt=0)
    # Log lines as text or as one JSON object a line (workers, beat, the API, the CLI).
    log_format: Literal["text", "json"] = "text"
    # `routelearn flower`: beyond loopback it refuses to start without FLOWER_BASIC_AUTH.
    flower_address: str = "127.0.0.1"
    flower_port: int = Field(default=5555, ge=1, le=65535)

    @field_validator(
        "alert_webhook_url", "alert_webhook_token", "alert_webhook_headers", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    def alert_webhook_header_map(self) -> dict[str, str]:
        """The extra headers of ROUTELEARN_ALERT_WEBHOOK_HEADERS (checked at start)."""
        if self.alert_webhook_headers is None:
            return {}
        parsed: dict[str, str] = json.loads(self.alert_webhook_headers.get_secret_value())
        return parsed

    @model_validator(mode="after")
    def _alert_webhook_valid(self) -> Settings:
        # Messages name the variable, never its value: each may hold a secret.
        if self.alert_webhook_url is not None:
            url = urlsplit(self.alert_webhook_url.get_secret_value())
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError(
                    "ROUTELEARN_ALERT_WEBHOOK_URL must be an http:// or https:// URL with a host "
                    f"(scheme {url.scheme!r})"
                )
        if self.alert_webhook_headers is not None:
            try:
                headers = json.loads(self.alert_webhook_headers.get_secret_value())
            except ValueError:
                headers = None
            if not isinstance(headers, dict) or not all(
                isinstance(k, str)
                and _HEADER_NAME.fullmatch(k)
                and isinstance(v, str)
                and "\r" not in v
                and "\n" not in v
                for k, v in headers.items()
            ):
                raise ValueError(
                    "ROUTELEARN_ALERT_WEBHOOK_HEADERS must be a JSON object of header names to "
                    'string values, e.g. {"X-Api-Key": "..."} (value not shown: it is a secret)'
                )
        if self.alert_retry_base > self.alert_retry_cap:
            raise ValueError(
                f"ROUTELEARN_ALERT_RETRY_BASE ({self.alert_retry_base}) must not exceed "
                f"ROUTELEARN_ALERT_RETRY_CAP ({self.alert_retry_cap})"
            )
        return self

    # Metrics (issue 12, docs/metrics.md): where `routelearn metrics serve` listens (a worker
    # host's one scrape target). Both it (when not on loopback) and the API's GET /metrics want
    # a reader key; METRICS_PUBLIC=true drops that, for a scraper on a network of its own.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9808, ge=1, le=65535)
    metrics_public: bool = False

    def rate_limit_redis(self) -> str | None:
        if self.redis_url:
            return self.redis_url
        return self.broker_url if is_redis(self.broker_url) else None

    def as_environ(self) -> dict[str, str]:
        """These settings as ``ROUTELEARN_*`` variables, for a child process to read back."""
        return {
            f"ROUTELEARN_{name.upper()}": _environ_value(v)
            for name, v in self.model_dump().items()
            if v is not None
        }

    def policy(self) -> Policy:
        """The configured score policy with its parameters."""
        params_type = CalibratedParams if self.score_policy == "calibrated" else ClassicParams
        return make_policy(self.score_policy, params_type(**self.score_policy_params))  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _policy_params_exist(self) -> Settings:
        params_type = CalibratedParams if self.score_policy == "calibrated" else ClassicParams
        known = {f.name for f in dataclasses.fields(params_type)}
        unknown = sorted(set(self.score_policy_params) - known)
        if unknown:
            raise ValueError(
                f"ROUTELEARN_SCORE_POLICY_PARAMS: {', '.join(map(repr, unknown))} not a "
                f"parameter of {self.score_policy!r}; known: {', '.join(sorted(known))}"
            )
        try:
            self.policy()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"ROUTELEARN_SCORE_POLICY_PARAMS: {exc}") from None
        return self

    @model_validator(mode="after")
    def _limits_fit_visibility(self) -> Settings:
        if self.ingest_soft_time_limit >= self.ingest_time_limit:
            raise ValueError(
                f"ROUTELEARN_INGEST_SOFT_TIME_LIMIT ({self.ingest_soft_time_limit}) must be below "
                f"ROUTELEARN_INGEST_TIME_LIMIT ({self.ingest_time_limit})"
            )
        if self.ingest_time_limit >= self.visibility_timeout:
            raise ValueError(
                f"ROUTELEARN_INGEST_TIME_LIMIT ({self.ingest_time_limit}) must be below "
                f"ROUTELEARN_VISIBILITY_TIMEOUT ({self.visibility_timeout}), or a running task "
                "would be redelivered to another worker"
            )
        if not self.learner_soft_time_limit < self.learner_time_limit < self.visibility_timeout:
            raise ValueError(
                "ROUTELEARN_LEARNER_SOFT_TIME_LIMIT "
                f"({self.learner_soft_time_limit}) < ROUTELEARN_LEARNER_TIME_LIMIT "
                f"({self.learner_time_limit}) < ROUTELEARN_VISIBILITY_TIMEOUT "
                f"({self.visibility_timeout}) must hold"
            )
        if self.db_retry_base > self.db_retry_cap:
            raise ValueError(
                f"ROUTELEARN_DB_RETRY_BASE ({self.db_retry_base}) must not exceed "
                f"ROUTELEARN_DB_RETRY_CAP ({self.db_retry_cap})"
            )
        return self


def _environ_value(value: object) -> str:
    if isinstance(value, SecretStr):  # a child process needs the secret itself
        return value.get_secret_value()
    return json.dumps(value) if isinstance(value, dict) else str(value)


def load_settings() -> Settings:
    """Read and validate the environment; a bad value raises ConfigError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if err["loc"]:
                name = "ROUTELEARN_" + "_".join(str(p) for p in err["loc"]).upper()
                problems.append(f"{name}={err.get('input')!r}: {err['msg']}")
            else:
                problems.append(err["msg"].removeprefix("Value error, "))
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated on first use."""
    return load_settings()
