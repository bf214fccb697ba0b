"""The service side: the Celery app, its configuration, schedule and tasks (needs ``[service]``)."""
