"""``uvicorn routelearn.api.asgi:app``: the app built from the environment (ROUTELEARN_*)."""

from __future__ import annotations

from routelearn.api.app import create_app

app = create_app()
