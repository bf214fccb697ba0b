"""The periodic tasks celery-beat sends, as data: ``routelearn.service.schedule``.

Every interval is a setting (``ROUTELEARN_LEARNER_INTERVAL``, ``ROUTELEARN_ANOMALY_INTERVAL``,
``ROUTELEARN_MAINTENANCE_INTERVAL``); the app's configuration reads the schedule from there.
"""

from __future__ import annotations

from routelearn.service.schedule import schedule

__all__ = ["schedule"]
