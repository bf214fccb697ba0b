"""The Celery app (``celery -A workers.app``), its configuration and worker bootstrap."""
