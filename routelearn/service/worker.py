"""The service's Celery app: ``celery -A routelearn.service.worker worker|beat|flower``.

Built from the environment at import, as the Celery command line needs; the repository's
``workers/app.py`` re-exports it, so ``celery -A workers.app`` runs the same app. Logging
(``ROUTELEARN_LOG_FORMAT``) is wired here, for the processes the command line starts.
"""

from __future__ import annotations

from routelearn.service import logs
from routelearn.service.app import create_app

app = create_app()
logs.install(app.settings)
