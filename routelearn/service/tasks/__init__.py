"""Celery task modules: thin wrappers that decode a message and call routelearn's services."""
