"""The Celery app: ``celery -A workers.app worker|beat|flower``.

Building the app reads and validates the environment but connects to nothing; the database
engine is made lazily in each worker process, after fork.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from sqlalchemy import Engine

from routelearn.ingestion import Ingestor
from routelearn.settings import Settings, get_settings
from routelearn.store.engine import make_engine
from workers.config import celery_config

TASK_MODULES = (
    "tasks.ingest",
    "tasks.learn",
    "tasks.fanout",
    "tasks.sweep",
    "tasks.snapshot",
    "tasks.maintenance",
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


def create_app(settings: Settings | None = None) -> RouteLearnCelery:
    settings = settings or get_settings()
    celery_app = RouteLearnCelery(settings)
    celery_app.config_from_object(celery_config(settings))
    celery_app.conf.include = list(TASK_MODULES)
    celery_app.loader.import_default_modules()
    worker_process_init.connect(
        lambda **_: celery_app.reset_process_state(), weak=False, dispatch_uid=id(celery_app)
    )
    return celery_app


app = create_app()
