"""The database for one CLI command: an engine made from the settings, disposed on the way out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from routelearn.settings import get_settings
from routelearn.store.engine import make_engine


@contextmanager
def database() -> Iterator[Engine]:
    engine = make_engine(get_settings().database_url)
    try:
        yield engine
    finally:
        engine.dispose()
