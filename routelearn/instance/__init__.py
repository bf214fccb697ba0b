"""The instance side: what an application embeds to route requests and share their outcomes.

Publisher (events out), subscriber (score updates in), catalog (the models it may use) and router
(which model serves a request). Nothing here needs Celery, PostgreSQL or the ``[service]`` extra::

    from routelearn.instance import EventPublisher, ModelCatalog, ModelRouter, ScoreUpdateSubscriber
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routelearn.instance.catalog import ModelCatalog
    from routelearn.instance.publisher import EventPublisher
    from routelearn.instance.router import ModelRouter
    from routelearn.instance.subscriber import ScoreUpdateSubscriber

__all__ = ["EventPublisher", "ModelCatalog", "ModelRouter", "ScoreUpdateSubscriber"]

# Loaded on first use: the router alone needs no broker library, and importing
# routelearn.instance.router must not pull kombu in through this package.
_HOMES = {
    "EventPublisher": "routelearn.instance.publisher",
    "ModelCatalog": "routelearn.instance.catalog",
    "ModelRouter": "routelearn.instance.router",
    "ScoreUpdateSubscriber": "routelearn.instance.subscriber",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
