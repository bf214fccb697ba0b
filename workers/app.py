"""``celery -A workers.app``: the service's one Celery app (``routelearn.service.worker``).

Its configuration is ``routelearn.service.config``; the tasks it runs are listed in the
repository's ``tasks/`` and its periodic schedule in ``beat_schedule.py``.
"""

from __future__ import annotations

from routelearn.service.worker import app

__all__ = ["app"]
