"""``routelearn metrics serve``: a worker host's one scrape target.

It answers ``GET /metrics`` with the host's worker processes added up (the multiprocess
directory, ``routelearn.observability.registry``) and the fleet gauges
(``routelearn.observability.fleet``). Beyond loopback it wants an API key of a role that may
read (``Authorization: Bearer <key>``, as the API's own ``/metrics``), unless
``ROUTELEARN_METRICS_PUBLIC`` is set.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from routelearn.domain.api_keys import Permission, allows, bearer_token
from routelearn.domain.exposure import is_loopback
from routelearn.store import api_keys

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# The Authorization header's value (None: absent) -> whether it may read; raises when it
# cannot tell (the database does not answer).
Authorizer = Callable[[str | None], bool]

_PATHS = ("/metrics", "/metrics/")


def needs_key(host: str, public: bool) -> bool:
    """Every surface beyond loopback is authenticated, unless the operator says otherwise."""
    return not public and not is_loopback(host)


def reader_key(engine: Engine) -> Authorizer:
    """Accepts ``Bearer <key>`` of an active API key whose role may read."""

    def authorize(header: str | None) -> bool:
        token = bearer_token(header)
        if token is None:
            return False
        key = api_keys.authenticate(engine, token)
        return key is not None and allows(key.role, Permission.READ)

    return authorize


def _answer(start_response: StartResponse, status: str, text: str, **headers: str) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), *headers.items()])
    return [text.encode()]


def metrics_app(registry: CollectorRegistry, authorize: Authorizer | None) -> WsgiApp:
    """The WSGI app: ``/metrics`` from ``registry``, behind ``authorize`` when given."""
    exposition = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") not in _PATHS:
            return _answer(start_response, "404 Not Found", "not found: try /metrics\n")
        if authorize is not None:
            try:
                allowed = authorize(environ.get("HTTP_AUTHORIZATION"))
            except SQLAlchemyError as exc:
                log.warning("the key could not be checked: %s", str(exc).splitlines()[0])
                return _answer(
                    start_response, "503 Service Unavailable", "the key cannot be checked now\n"
                )
            if not allowed:
                return _answer(
                    start_response,
                    "401 Unauthorized",
                    "a key of a role that may read is required: Authorization: Bearer <key>\n",
                    **{"WWW-Authenticate": "Bearer"},
                )
        answer: Iterable[bytes] = exposition(environ, start_response)
        return answer

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress does not hold up the process's exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per scrape."""


def make_metrics_server(host: str, port: int, app: WsgiApp) -> WSGIServer:
    server_class: type[WSGIServer] = _Server
    if ":" in host:  # an IPv6 address
        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
    return make_server(host, port, app, server_class, handler_class=_QuietHandler)
