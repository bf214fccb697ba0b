"""The service's Celery app: ``celery -A routelearn.service.worker worker|beat|flower``.

Built from the environment at import, as the Celery command line needs; the repository's
``workers/app.py`` re-exports it, so ``celery -A workers.app`` runs the same app.
"""

from __future__ import annotations

from routelearn.service.app import create_app

app = create_app()
