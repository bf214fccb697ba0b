"""The HTTP API (seed 004's contract): FastAPI routes over the store and the domain, nothing more.

Served by ``routelearn serve`` (uvicorn). Every route but ``/health`` needs an API key.
"""
