"""The deployable's Celery entry point: ``celery -A workers.app worker|beat|flower``.

The repository root is the deployable and is not installed (as in cookiecutter-django): these
folders name what a Celery user looks for, and hold no logic of their own. The app, its
settings, tasks and schedule live in the installed package (``routelearn.service``), so that
``pip install "routelearn[service]"`` runs the same workers without this checkout.
"""
