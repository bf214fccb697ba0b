"""The Celery app factory. The app itself is built by ``routelearn.service.worker`` (and
re-exported by the repository's ``workers/app.py``, for ``celery -A workers.app``).

Building the app reads and validates the environment but connects to nothing; the database
engine is made lazily in each worker process, after fork.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_process_shutdown
from sqlalchemy import Engine

from routelearn.messaging.broker import TASK_ROUTES, task_queues, transport_options
from routelearn.observability import metrics
from routelearn.service import serialization
from routelearn.service.config import celery_config
from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings, get_settings
from routelearn.store.engine import make_engine

TASK_MODULES = (
    "routelearn.service.tasks.ingest",
    "routelearn.service.tasks.learn",
    "routelearn.service.tasks.fanout",
    "routelearn.service.tasks.sweep",
    "routelearn.service.tasks.alerts",
    "routelearn.service.tasks.snapshot",
    "routelearn.service.tasks.maintenance",
    "routelearn.service.tasks.pgmq",
)


class RouteLearnCelery(Celery):  # type: ignore[misc]
    """A Celery app that also owns its process's database engine and ingestion service."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__("routelearn", **kwargs)
        self.settings = settings
        self._engine: Engine | None = None
        self._ingestor: Ingestor | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url, self.settings.db_pool_size)
        return self._engine

    @property
    def ingestor(self) -> Ingestor:
        if self._ingestor is None:
            self._ingestor = Ingestor(
                self.engine,
                retry_base=self.settings.db_retry_base,
                retry_cap=self.settings.db_retry_cap,
            )
        return self._ingestor

    def reset_process_state(self) -> None:
        """Forget connections inherited over fork; each child opens its own."""
        if self._engine is not None:
            self._engine.dispose(close=False)
        self._engine = None
        self._ingestor = None


def producer_app(settings: Settings) -> Celery:
    """A Celery app that only sends (no tasks, no database): benchmarks and tests that speak
    Celery's own API. Instances use ``routelearn.messaging.task_message`` instead."""
    app = Celery("routelearn-producer", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=transport_options(settings),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_queues=task_queues(settings),
        task_routes=TASK_ROUTES,
    )
    return app


def create_app(settings: Settings | None = None) -> RouteLearnCelery:
    settings = settings or get_settings()
    serialization.install()
    celery_app = RouteLearnCelery(settings)
    celery_app.config_from_object(celery_config(settings))
    celery_app.conf.include = list(TASK_MODULES)
    celery_app.loader.import_default_modules()
    worker_process_init.connect(
        lambda **_: celery_app.reset_process_state(), weak=False, dispatch_uid=id(celery_app)
    )
    # Metrics (docs/metrics.md): label values at 0 in a worker only (not in Flower or beat); a
    # pool process that ends (crash, --max-tasks-per-child) leaves its metrics files behind.
    worker_init.connect(
        lambda **_: metrics.initialize(), weak=False, dispatch_uid="routelearn-metrics-init"
    )
    worker_process_shutdown.connect(
        lambda pid, **_: metrics.process_exited(pid), weak=False, dispatch_uid="routelearn-metrics"
    )
    return celery_app
